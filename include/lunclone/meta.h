/* SPDX-License-Identifier: MIT */
/*
 * The metadata store: which regions of the destination hold valid data.
 *
 * It lives on its own file or device and knows the on-disk format and its
 * transactions; nothing else writes metadata blocks. The I/O path marks
 * regions hydrated in core (lock-free) once their data write has completed on
 * the destination; lc_meta_commit() makes those marks durable following the
 * rule from dm-clone ("Flush destination device before committing metadata"):
 *
 *     flush destination -> write changed bitmap blocks -> make metadata durable
 *
 * so no region is ever marked valid on disk before its data is durable.
 *
 * Failure modes, as dm-clone: a failed commit (destination flush or metadata
 * write/flush) switches the store to read-only: marks are refused (-EROFS),
 * lookups keep working; it never leaves that mode silently.
 */
#ifndef LUNCLONE_META_H
#define LUNCLONE_META_H

#include <stdbool.h>
#include <stdint.h>

struct lc_backend;
struct lc_bitmap;
struct lc_err;
struct lc_meta;

#define LC_META_BLOCK_SIZE 4096u
#define LC_META_SOURCE_ID_MAX 256u
#define LC_REGION_SIZE_MIN 512u
#define LC_REGION_SIZE_MAX (1u << 30)
#define LC_REGION_SIZE_DEFAULT (64u * 1024)

struct lc_meta_params {
	/* Power of two in [LC_REGION_SIZE_MIN, LC_REGION_SIZE_MAX]. */
	uint32_t region_size_bytes;
	uint64_t source_size_bytes; /* the clone's size; regions cover it */
	uint64_t dest_size_bytes;   /* >= source_size_bytes */
	uint8_t uuid[16];           /* all zero: format generates one */
	/* Identity of the source at format time (e.g. SCSI VPD 0x83 designator). */
	uint8_t source_id[LC_META_SOURCE_ID_MAX];
	uint16_t source_id_len;
};

struct lc_meta_info {
	uint32_t version;
	uint8_t uuid[16];
	uint32_t region_size_bytes;
	uint64_t source_size_bytes;
	uint64_t dest_size_bytes;
	uint64_t nr_regions;
	uint64_t nr_hydrated;
	uint64_t generation;       /* of the last durable commit */
	bool clean;                /* last writer closed it cleanly (as found at open) */
	uint8_t source_id[LC_META_SOURCE_ID_MAX];
	uint16_t source_id_len;
};

enum lc_meta_mode {
	LC_META_MODE_WRITE,
	LC_META_MODE_READ_ONLY, /* a commit failed, or opened read-only */
};

enum lc_meta_open_flags {
	LC_META_OPEN_RDONLY = 1u << 0,
};

/* Bytes the store needs on its device for these parameters. */
uint64_t lc_meta_required_size(uint32_t region_size_bytes, uint64_t source_size_bytes);

/* Checks params (message names the field) and writes a fresh, durable store
 * with no region hydrated. Blocks. */
int lc_meta_format(struct lc_backend *mdev, const struct lc_meta_params *params,
		   struct lc_err *err);

/*
 * Opens the store on mdev. dest is the device whose data the bitmap vouches
 * for: it is flushed before every commit (NULL only with LC_META_OPEN_RDONLY).
 * When expect is not NULL, its non-zero region_size_bytes, source_size_bytes
 * and dest_size_bytes must match the superblock (dest: the store's dest size
 * must equal the device's), else -EINVAL naming the field; so must its
 * source_id when both it and the store have one (source_id_len != 0). Checksum failures
 * name the structure that failed. A writable open marks the store dirty
 * (a commit). The caller closes *ret_meta with lc_meta_close(). Blocks.
 */
int lc_meta_open(struct lc_backend *mdev, struct lc_backend *dest,
		 const struct lc_meta_params *expect, unsigned flags, struct lc_meta **ret_meta,
		 struct lc_err *err);

/* Writable: final commit marking the store clean. Always frees; returns the
 * commit's error. Accepts NULL. Blocks. */
int lc_meta_close(struct lc_meta *meta);

/* Never block; safe from any thread. */
uint64_t lc_meta_nr_regions(const struct lc_meta *meta);
uint32_t lc_meta_region_size(const struct lc_meta *meta);
unsigned lc_meta_region_shift(const struct lc_meta *meta);
bool lc_meta_is_hydrated(const struct lc_meta *meta, uint64_t region_nr);
uint64_t lc_meta_nr_hydrated(const struct lc_meta *meta);
/* First unhydrated region at or after from; nr_regions when none. */
uint64_t lc_meta_next_unhydrated(const struct lc_meta *meta, uint64_t from);
/* The in-core bitmap, read-only view (for dump/verify). */
const struct lc_bitmap *lc_meta_bitmap(const struct lc_meta *meta);
void lc_meta_get_info(const struct lc_meta *meta, struct lc_meta_info *ret_info);
enum lc_meta_mode lc_meta_mode(const struct lc_meta *meta);

/* The device whose failure made a commit fail and the store read-only. */
enum lc_meta_device {
	LC_META_DEV_NONE,  /* no commit failed (also: opened read-only) */
	LC_META_DEV_DEST,  /* the destination's flush (step 2 of a commit) */
	LC_META_DEV_STORE, /* a write or flush of the store itself */
};
/* Which device turned the store read-only; NONE while no commit failed. */
enum lc_meta_device lc_meta_failed_device(const struct lc_meta *meta);
/* "none", "destination", "metadata": the names status shows. */
const char *lc_meta_device_name(enum lc_meta_device dev);

/*
 * Marks [first, first + nr) hydrated in core. The caller guarantees their
 * data writes have completed on the destination. Returns how many were newly
 * marked, or -EROFS in read-only mode. Never blocks.
 */
int64_t lc_meta_set_hydrated(struct lc_meta *meta, uint64_t first_region, uint64_t nr);

/*
 * Makes every mark made before the call durable, destination data first.
 * Group commit: returns once a commit that started after the call has
 * finished, so concurrent callers share one sequence. Even with nothing to
 * mark, the destination is flushed (a SCSI flush relies on that). On failure
 * the store turns read-only and the error is returned. Blocks.
 */
int lc_meta_commit(struct lc_meta *meta);

#endif
