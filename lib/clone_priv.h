/* SPDX-License-Identifier: MIT */
/*
 * The clone object, shared by clone.c (lifecycle, control, commits),
 * iomap.c (user I/O) and hydrate.c (background copy). Nothing outside lib/
 * sees it.
 *
 * Locks, in the order they may nest (outer first):
 *   notify_lock -> state_lock -> claim_lock -> region stripe locks -> bufpool lock.
 * No lock here is held across I/O, except that region holds (not mutexes)
 * are kept while a region is being copied.
 */
#ifndef LC_CLONE_PRIV_H
#define LC_CLONE_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <lunclone/backend.h>
#include <lunclone/bitmap.h>
#include <lunclone/clone.h>
#include <lunclone/meta.h>

#include "bufpool.h"
#include "region_lock.h"

/* A batch a hydration worker claimed: read into buf, then written. */
struct lc_hydrate_batch {
	void *buf;                     /* batch_regions * region_size, aligned */
	struct lc_region_hold *holds;  /* batch_regions of them */
	uint64_t first;                /* regions [first, first + nr) */
	uint32_t nr;
	struct lc_hydrate_batch *next; /* on the free list or the write queue */
};

/*
 * A hydration worker is two threads and two batches, so that its next
 * source read overlaps its destination write (hydrate.c): the reader claims
 * and reads a batch and queues it; the writer writes, marks and releases it
 * and gives it back.
 */
struct lc_hydrate_worker {
	struct lc_clone *clone;
	pthread_t reader, writer;
	bool reader_started, writer_started, sync_ready;
	pthread_mutex_t lock;
	pthread_cond_t cond;                      /* any change below */
	struct lc_hydrate_batch batches[2];
	struct lc_hydrate_batch *free_batches;    /* Protected by lock */
	struct lc_hydrate_batch *queue, *queue_tail; /* Protected by lock: FIFO */
	bool reader_done;                         /* Protected by lock */
};

struct lc_clone {
	/* Immutable after open. */
	struct lc_backend *dst;
	struct lc_meta *meta;
	struct lc_clone_config cfg;
	uint64_t size_bytes;  /* the source's, i.e. the clone's */
	uint64_t nr_regions;
	uint32_t region_size;
	unsigned region_shift;
	uint32_t block_size;

	/*
	 * The source is closed once every region is hydrated and committed.
	 * Readers announce themselves in src_users before checking complete;
	 * the closer sets complete before waiting for src_users to drain
	 * (both seq_cst), so no reader can use a closed source.
	 */
	struct lc_backend *src;
	atomic_uint src_users;
	atomic_bool complete;

	struct lc_region_locks locks;
	struct lc_bufpool pool;        /* region-sized buffers for user copies */

	/* User I/O accounting, for yield and status. */
	atomic_uint user_inflight;
	atomic_uint_fast64_t last_user_io_ns;
	atomic_uint_fast64_t user_reads;
	atomic_uint_fast64_t user_writes;

	atomic_uint_fast64_t marks_since_commit;
	atomic_uint_fast64_t commits;
	atomic_int last_error;
	atomic_uint_fast64_t bytes_hydrated;

	/* Hydration claims. */
	pthread_mutex_t claim_lock;
	uint64_t cursor;                /* Protected by claim_lock */
	uint32_t inflight_regions;      /* Protected by claim_lock */
	struct lc_bitmap quarantine;    /* Protected by claim_lock; allocated on first use */
	atomic_uint_fast64_t nr_quarantined;

	/* Control. */
	pthread_mutex_t state_lock;
	pthread_cond_t state_cond;      /* MONOTONIC clock; any change below */
	bool paused;                    /* Protected by state_lock */
	bool stopping;                  /* Protected by state_lock */
	uint64_t rate_limit_bytes;      /* Protected by state_lock */
	uint64_t throttle_clock_ns;     /* Protected by state_lock: token bucket */
	uint64_t rate_bytes;            /* Protected by state_lock: recent average */

	/*
	 * The source could not be reached: hydration waits (hydrate.c). One
	 * worker at a time probes it, at src_probe_at_ns, with one region.
	 * src_waiting is written under state_lock and read without it on the
	 * fast path (a successful read that finds it false).
	 */
	atomic_bool src_waiting;
	uint64_t src_wait_since_ns; /* Protected by state_lock */
	uint64_t src_back_since_ns; /* Protected by state_lock: the wait's end */
	uint64_t src_probe_at_ns;   /* Protected by state_lock */
	unsigned src_backoff_ms;    /* Protected by state_lock */
	bool src_probing;	    /* Protected by state_lock */
	/* Mutex serialising source changes and their on_source_change calls,
	 * so that they arrive once each and in order. Never held across I/O
	 * except what the callback does. */
	pthread_mutex_t notify_lock;

	/*
	 * The destination refused a hydration write (-EIO, -ENOSPC...): no
	 * worker claims regions before dst_retry_at_ns. Each failure of a
	 * write that began after the last wait ended doubles the wait, up to
	 * the same bound as the source's; a successful write ends it.
	 * dst_backoff_ms is written under state_lock and read without it on
	 * the fast path (a write that succeeded).
	 */
	uint64_t dst_retry_at_ns; /* Protected by state_lock */
	atomic_uint dst_backoff_ms;

	struct lc_hydrate_worker *workers;
	unsigned nr_workers_started;
	pthread_t housekeeper;
	bool housekeeper_started;
};

static inline uint64_t lc_clone_region_of(const struct lc_clone *c, uint64_t offset_bytes)
{
	return offset_bytes >> c->region_shift;
}

static inline uint64_t lc_clone_region_start(const struct lc_clone *c, uint64_t region_nr)
{
	return region_nr << c->region_shift;
}

/* Bytes of region_nr inside the clone (the last region may be short). */
static inline uint64_t lc_clone_region_len(const struct lc_clone *c, uint64_t region_nr)
{
	uint64_t start = lc_clone_region_start(c, region_nr);
	uint64_t end = start + c->region_size;

	return (end > c->size_bytes ? c->size_bytes : end) - start;
}

/* The source, or NULL once hydration is complete; pair with src_put. */
struct lc_backend *lc_clone_src_get(struct lc_clone *c);
void lc_clone_src_put(struct lc_clone *c);

/* Records a new mark for the periodic commit. */
void lc_clone_note_marked(struct lc_clone *c, int64_t nr_marked);
void lc_clone_set_error(struct lc_clone *c, int err);
/* Wakes the housekeeper and lc_clone_wait() callers. */
void lc_clone_kick(struct lc_clone *c);

/* iomap.c */
int lc_iomap_read(struct lc_clone *c, void *buf, size_t len, uint64_t offset_bytes);
int lc_iomap_write(struct lc_clone *c, const void *buf, size_t len, uint64_t offset_bytes);
int lc_iomap_discard(struct lc_clone *c, uint64_t offset_bytes, uint64_t len_bytes);

/* hydrate.c */
int lc_hydrate_start(struct lc_clone *c);
/* Caller has set stopping and broadcast state_cond. */
void lc_hydrate_join(struct lc_clone *c);
bool lc_hydrate_is_quarantined(struct lc_clone *c, uint64_t region_nr);
/* Forgets the quarantine (resume gives those regions another chance). */
void lc_hydrate_clear_quarantine(struct lc_clone *c);
/* Up to max quarantined region numbers into ret, returns how many. */
unsigned lc_hydrate_list_quarantine(struct lc_clone *c, uint64_t *ret, unsigned max);

#endif
