/* SPDX-License-Identifier: MIT */
/*
 * A clone: a writable device presenting the source, hydrating onto the
 * destination in the background.
 *
 * Reads of hydrated regions go to the destination, of unhydrated ones to the
 * source; writes always land on the destination (a write covering part of an
 * unhydrated region copies the region first). Hydration workers copy the rest
 * in batches of contiguous regions. Once every region is hydrated and that is
 * durable, the source is closed and I/O goes straight to the destination.
 *
 * All I/O calls are synchronous, thread-safe and may block: a caller that
 * wants asynchrony (the tcmu-runner handler) runs them on its own threads.
 * No global state: any number of clones may live in one process.
 */
#ifndef LUNCLONE_CLONE_H
#define LUNCLONE_CLONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lc_backend;
struct lc_err;
struct lc_meta;
struct lc_clone;

/*
 * Hydration's view of the source changed (see lc_clone_config): reachable
 * false when a read failed because the source could not be reached (err is
 * that -errno: -ETIMEDOUT, -ENOTCONN, ...) and hydration now waits for it;
 * true (err 0) when it answers again and hydration resumed. Called once per
 * change, in order, from a hydration thread, with src open until it returns
 * (an iscsi source can say why with lc_backend_iscsi_get_stats()). It may
 * call lc_clone_get_status(); it must not call lc_clone_close() nor block
 * for long.
 */
typedef void lc_clone_source_fn(void *opaque, struct lc_backend *src, bool reachable, int err);

struct lc_clone_config {
	unsigned nr_workers;            /* hydration threads; 0 = no hydration */
	uint32_t batch_regions;         /* contiguous regions per copy */
	uint32_t max_inflight_regions;  /* cap over all workers */
	uint64_t rate_limit_bytes;      /* per second; 0 = unlimited */
	uint64_t min_rate_bytes;        /* per second kept while yielding to user I/O */
	bool yield_to_user_io;
	unsigned yield_window_ms;       /* yield lasts this long after the last user I/O */
	bool copy_on_read;              /* a user read of an unhydrated region hydrates it */
	bool start_paused;
	unsigned commit_interval_ms;    /* periodic commit; 0 = only on flush/close */
	unsigned source_retries;        /* read attempts after the first, then quarantine */
	unsigned retry_delay_ms;        /* also the first wait for an unreachable source */
	/* Nice value of the hydration threads, 0 to 19: above 0, threads
	 * serving user I/O (and the rest of the host) get the CPU first. */
	unsigned worker_nice;
	lc_clone_source_fn *on_source_change; /* may be NULL */
	void *on_source_change_opaque;
};

/* Defaults a storage admin would expect (1 s commits like dm-clone, ...). */
void lc_clone_config_default(struct lc_clone_config *ret_cfg);

/*
 * Takes ownership of src, dst and meta (all freed by lc_clone_close, also
 * when this fails). meta must have been opened on dst. Starts the workers
 * unless cfg->start_paused. Blocks briefly.
 */
int lc_clone_open(struct lc_backend *src, struct lc_backend *dst, struct lc_meta *meta,
		  const struct lc_clone_config *cfg, struct lc_clone **ret_clone,
		  struct lc_err *err);

/* Stops the workers, commits, closes everything. Returns the first error of
 * the final commit/close. Accepts NULL. */
int lc_clone_close(struct lc_clone *clone);

/* The clone's size (the source's) and the granularity its I/O must respect. */
uint64_t lc_clone_size(const struct lc_clone *clone);
uint32_t lc_clone_block_size(const struct lc_clone *clone);

enum lc_io_flags {
	LC_IO_FUA = 1u << 0, /* durable (data and bitmap) when the call returns */
};

/* 0 or -errno; a failed read never returns substitute data. */
int lc_clone_read(struct lc_clone *clone, void *buf, size_t len, uint64_t offset_bytes);
int lc_clone_write(struct lc_clone *clone, const void *buf, size_t len, uint64_t offset_bytes,
		   unsigned io_flags);
/* Whole unhydrated regions are marked hydrated without copying and the
 * discard is passed down. When lc_clone_discard_zeroes() is true the whole
 * range reads back as zeros afterwards (parts of unhydrated regions are
 * written with zeros); otherwise its content is undefined. */
int lc_clone_discard(struct lc_clone *clone, uint64_t offset_bytes, uint64_t len_bytes);
/* Whether a discarded range reads back as zeros (SCSI LBPRZ). */
bool lc_clone_discard_zeroes(const struct lc_clone *clone);
/* SYNCHRONIZE CACHE: destination flushed, then bitmap committed. */
int lc_clone_flush(struct lc_clone *clone);

/* Calls fn(src, opaque) with the clone's source while the clone keeps it open
 * (it closes the source once hydration is complete and committed) and
 * returns fn's result, or -ENODEV when the source is closed already. The
 * source stays open until fn returns; fn must not block for long. */
int lc_clone_with_source(struct lc_clone *clone, int (*fn)(struct lc_backend *src, void *opaque),
			 void *opaque);

enum lc_clone_state {
	LC_CLONE_HYDRATING,
	LC_CLONE_PAUSED,
	LC_CLONE_DEGRADED,   /* only quarantined regions left */
	LC_CLONE_COMPLETE,   /* all hydrated and committed; source closed */
	LC_CLONE_READ_ONLY,  /* metadata failed; reads only */
	/* The source cannot be reached (connection lost, target gone):
	 * hydration waits, retries with backoff, and resumes by itself;
	 * nothing is quarantined for it. last_error says why. */
	LC_CLONE_WAITING_SOURCE,
};

#define LC_CLONE_QUARANTINE_REPORT 16

struct lc_clone_status {
	enum lc_clone_state state;
	uint64_t nr_regions;
	uint64_t nr_hydrated;
	uint64_t nr_quarantined;
	uint64_t quarantined[LC_CLONE_QUARANTINE_REPORT]; /* first ones, region numbers */
	uint32_t region_size_bytes;
	uint64_t bytes_hydrated;       /* by the workers since open */
	uint64_t rate_bytes;           /* per second, recent average */
	uint64_t eta_seconds;          /* UINT64_MAX when unknown */
	uint64_t rate_limit_bytes;
	uint64_t user_reads, user_writes;
	uint64_t commits;
	int last_error;                /* -errno of the last failure, 0 if none */
};

void lc_clone_get_status(struct lc_clone *clone, struct lc_clone_status *ret_status);
const char *lc_clone_state_name(enum lc_clone_state state);

/* Hydration control; none of these block on I/O. */
void lc_clone_pause(struct lc_clone *clone);
/* Also gives quarantined regions another chance, and an unreachable source
 * a new try at once. */
void lc_clone_resume(struct lc_clone *clone);
void lc_clone_set_rate_limit(struct lc_clone *clone, uint64_t bytes_per_second);

/* Waits until hydration is complete/degraded/read-only, or timeout_ms passed
 * (0 = forever); waiting for an unreachable source is no end, it goes on.
 * Returns 0, -ETIMEDOUT, or the error that stopped it. */
int lc_clone_wait(struct lc_clone *clone, unsigned timeout_ms);

#endif
