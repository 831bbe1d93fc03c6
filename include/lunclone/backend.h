/* SPDX-License-Identifier: MIT */
/*
 * Block backends: the devices a clone reads from and writes to.
 *
 * A backend is one file exporting one table of callbacks (nbdkit style). Every
 * callback returns 0 or -errno, transfers exactly the length asked or fails,
 * may block, and may be called concurrently from several threads. Offsets and
 * lengths are bytes, 64-bit throughout.
 *
 * Two kinds of read failure are told apart by their errno. The device could
 * not be reached at all (a network source: connection lost, target gone,
 * after the backend's own reconnect attempts): -ETIMEDOUT, -ENOTCONN,
 * -ECONNREFUSED, -ECONNRESET, -ECONNABORTED, -EHOSTUNREACH, -EHOSTDOWN,
 * -ENETUNREACH, -ENETDOWN or -EPIPE; nothing is known about the data, and
 * hydration waits for the device instead of giving up on regions. Any other
 * error is the device's answer about that range (-EIO: a medium error...).
 *
 * Implementations embed struct lc_backend as their first member; close()
 * frees the whole object. The same interface serves a local file, a block
 * device, the volatile-cache test model and an iscsi:// source.
 */
#ifndef LUNCLONE_BACKEND_H
#define LUNCLONE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LC_SECTOR_SIZE 512u
/* Room for a device's identity (same as the metadata's LC_META_SOURCE_ID_MAX). */
#define LC_BACKEND_IDENT_MAX 256u

struct lc_backend;

struct lc_backend_ops {
	const char *name; /* "file", "bdev", "volcache", ... */
	int (*pread)(struct lc_backend *be, void *buf, size_t len, uint64_t offset_bytes);
	int (*pwrite)(struct lc_backend *be, const void *buf, size_t len, uint64_t offset_bytes);
	/* Makes every write that completed before the call durable. */
	int (*flush)(struct lc_backend *be);
	/* May be NULL: discard is then -EOPNOTSUPP. */
	int (*discard)(struct lc_backend *be, uint64_t offset_bytes, uint64_t len_bytes);
	/* Releases everything, including be itself. */
	void (*close)(struct lc_backend *be);
};

struct lc_backend {
	const struct lc_backend_ops *ops;
	char *uri;                   /* as opened, for messages; owned, freed by close */
	uint64_t size_bytes;
	uint32_t logical_block_size; /* bytes; queried, never assumed */
	bool read_only;
	bool discard_zeroes;         /* a discarded range reads back as zeros */
	/*
	 * What the device says it is, when it can say (ident_len 0: it cannot,
	 * e.g. a file). iscsi: the SCSI INQUIRY VPD page 0x83 designation
	 * descriptor of the logical unit (4-byte header + designator, as in
	 * SPC-4 7.8.6.1), chosen by type NAA > EUI-64 > SCSI name > T10 vendor.
	 * Set at open, immutable.
	 */
	uint8_t ident[LC_BACKEND_IDENT_MAX];
	uint16_t ident_len;
};

enum lc_backend_open_flags {
	LC_BACKEND_RDONLY = 1u << 0,
	LC_BACKEND_DIRECT = 1u << 1, /* O_DIRECT where the backend supports it */
};

/*
 * Opens uri, choosing the backend by what it names: iscsi://... -> iscsi (read
 * only), a block device -> bdev, anything else -> file (which must exist).
 * Returns 0 and *ret_be, or -errno with a message in err. The caller frees
 * *ret_be with lc_backend_close().
 */
struct lc_err;
int lc_backend_open(const char *uri, unsigned flags, struct lc_backend **ret_be,
		    struct lc_err *err);
int lc_backend_file_open(const char *path, unsigned flags, struct lc_backend **ret_be,
			 struct lc_err *err);
int lc_backend_bdev_open(const char *path, unsigned flags, struct lc_backend **ret_be,
			 struct lc_err *err);

/*
 * iscsi:// source through libiscsi (lib/backend_iscsi.c; URI and options in
 * lib/util/iscsi_url.h and lunclone(8)). Read only by design: flags must
 * include LC_BACKEND_RDONLY (-EROFS otherwise); LC_BACKEND_DIRECT means
 * nothing here. Logs in once at open (no retry: a wrong password or address
 * fails at once, with libiscsi's reason in err). Later, reads reconnect
 * with backoff on their own and fail after the URI's timeout.
 * Blocks (network).
 */
int lc_backend_iscsi_open(const char *uri, unsigned flags, struct lc_backend **ret_be,
			  struct lc_err *err);

/* Fault counters of an iscsi backend, for status and tests. */
struct lc_backend_iscsi_stats {
	uint64_t nr_connects; /* successful logins, the one at open included */
	uint64_t nr_connect_failures;
	uint64_t nr_retries;  /* read commands issued again after a failure */
	uint64_t nr_timeouts; /* reads that gave up (-ETIMEDOUT) */
	bool wrong_lun;	      /* size or identity changed: every read fails */
	char last_error[160]; /* last connection or command failure, "" if none */
};

/* -EINVAL when be is not an iscsi backend. Never blocks on I/O. */
int lc_backend_iscsi_get_stats(struct lc_backend *be, struct lc_backend_iscsi_stats *ret_stats);

/*
 * Checked entry points: reject ranges beyond size_bytes (-EINVAL), writes and
 * discards on a read-only backend (-EROFS), then call the ops. Use these, not
 * the ops directly.
 */
int lc_backend_pread(struct lc_backend *be, void *buf, size_t len, uint64_t offset_bytes);
int lc_backend_pwrite(struct lc_backend *be, const void *buf, size_t len, uint64_t offset_bytes);
int lc_backend_flush(struct lc_backend *be);
int lc_backend_discard(struct lc_backend *be, uint64_t offset_bytes, uint64_t len_bytes);
/* Accepts NULL. */
void lc_backend_close(struct lc_backend *be);

/*
 * The volatile-cache model ("volcache"): an in-memory device whose writes land
 * in a cache and become durable only at flush, like a disk with a volatile
 * write cache. Tests use it to simulate power cuts and to inject errors.
 *
 * Reads see the cache (durable image with the pending writes applied in
 * order). lc_volcache_power_cut() keeps any subset of the pending writes,
 * decided per 512-byte sector, applied in issue order, then empties the cache:
 * afterwards reads return only what "survived".
 */
enum lc_volcache_op {
	LC_VC_READ,
	LC_VC_WRITE,
	LC_VC_FLUSH,
	LC_VC_DISCARD,
};

/* Creates a device of size_bytes (multiple of 512) whose durable image is a
 * copy of initial (size_bytes long), or zeros when initial is NULL. */
int lc_volcache_new(const char *name, uint64_t size_bytes, const void *initial,
		    struct lc_backend **ret_be);

/* Copy of durable image and pending writes; recorder and faults not copied. */
int lc_volcache_clone(struct lc_backend *be, struct lc_backend **ret_be);

/*
 * Called after each write, flush or discard reached the cache (for a discard,
 * data is NULL), under the device's lock: keep it short and do not call back
 * into the same device. One recorder may watch several devices to get one
 * total order of their operations.
 */
typedef void (*lc_volcache_record_fn)(void *opaque, struct lc_backend *be,
				      enum lc_volcache_op op, uint64_t offset_bytes,
				      const void *data, uint64_t len_bytes);
void lc_volcache_set_recorder(struct lc_backend *be, lc_volcache_record_fn fn, void *opaque);

/* Decides whether sector sector_nr (device-absolute) of the pending write
 * number write_idx (0 = oldest pending) reaches the medium. */
typedef bool (*lc_volcache_keep_fn)(void *opaque, uint64_t write_idx, uint64_t sector_nr);
/* fn NULL keeps nothing. */
void lc_volcache_power_cut(struct lc_backend *be, lc_volcache_keep_fn fn, void *opaque);

size_t lc_volcache_nr_pending(struct lc_backend *be);
/* The durable image (size_bytes long); valid until the next call on be. */
const uint8_t *lc_volcache_durable(struct lc_backend *be);

/*
 * Fault injection: the next `count` operations of kind op that touch
 * [offset_bytes, offset_bytes + len_bytes) fail with -err (len_bytes 0 = any
 * range; count < 0 = until cleared with count 0). A failed write changes
 * nothing.
 */
void lc_volcache_inject(struct lc_backend *be, enum lc_volcache_op op, uint64_t offset_bytes,
			uint64_t len_bytes, int err, int count);

#endif
