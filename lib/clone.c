/* SPDX-License-Identifier: MIT */
/*
 * Clone lifecycle and control: open/close, flush and FUA, periodic commits,
 * completion, status, pause/resume/throttle.
 *
 * States: HYDRATING <-> PAUSED; WAITING_SOURCE while the source cannot be
 * reached (hydrate.c waits for it and comes back by itself); DEGRADED when
 * only quarantined regions are left; COMPLETE once every region is hydrated
 * AND that is committed (then the source is closed and I/O bypasses the
 * bitmap); READ_ONLY when the metadata failed (or was opened read-only):
 * reads work, writes that need a new mark and flushes fail.
 *
 * A housekeeper thread commits every commit_interval_ms when something was
 * marked since the last commit (dm-clone commits every second), samples the
 * hydration rate, and finishes the clone when the last region is marked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lunclone/err.h>

#include "clone_priv.h"
#include "util/clock.h"

/* The housekeeper wakes at least this often (rate sampling, completion). */
#define HOUSEKEEPING_NS (100 * LC_NSEC_PER_MSEC)
/* Buffers for user copies: enough for concurrent initiators, bounded in bytes. */
#define USER_COPY_BUFS_MAX 16u
#define USER_COPY_BYTES_MAX (64u << 20)

void lc_clone_config_default(struct lc_clone_config *ret_cfg)
{
	*ret_cfg = (struct lc_clone_config){
		.nr_workers = 2,
		.batch_regions = 16,
		.max_inflight_regions = 64,
		.rate_limit_bytes = 0,
		.min_rate_bytes = 4u << 20,
		.yield_to_user_io = true,
		.yield_window_ms = 20,
		.copy_on_read = false,
		.start_paused = false,
		.commit_interval_ms = 1000,
		.source_retries = 3,
		.retry_delay_ms = 100,
		.worker_nice = 10,
	};
}

const char *lc_clone_state_name(enum lc_clone_state state)
{
	switch (state) {
	case LC_CLONE_HYDRATING:
		return "hydrating";
	case LC_CLONE_PAUSED:
		return "paused";
	case LC_CLONE_DEGRADED:
		return "degraded";
	case LC_CLONE_COMPLETE:
		return "complete";
	case LC_CLONE_READ_ONLY:
		return "read-only";
	case LC_CLONE_WAITING_SOURCE:
		return "waiting-for-source";
	}
	return "unknown";
}

struct lc_backend *lc_clone_src_get(struct lc_clone *c)
{
	atomic_fetch_add(&c->src_users, 1);
	if (atomic_load(&c->complete)) {
		atomic_fetch_sub(&c->src_users, 1);
		return NULL;
	}
	return c->src;
}

void lc_clone_src_put(struct lc_clone *c)
{
	atomic_fetch_sub(&c->src_users, 1);
}

void lc_clone_note_marked(struct lc_clone *c, int64_t nr_marked)
{
	if (nr_marked > 0)
		atomic_fetch_add(&c->marks_since_commit, (uint64_t)nr_marked);
}

void lc_clone_set_error(struct lc_clone *c, int err)
{
	atomic_store(&c->last_error, err);
}

void lc_clone_kick(struct lc_clone *c)
{
	pthread_mutex_lock(&c->state_lock);
	pthread_cond_broadcast(&c->state_cond);
	pthread_mutex_unlock(&c->state_lock);
}

static int commit(struct lc_clone *c)
{
	/* Take the count first: marks after this point may miss this commit
	 * and must trigger the next one. */
	uint64_t marks = atomic_exchange(&c->marks_since_commit, 0);
	int r = lc_meta_commit(c->meta);

	if (r < 0) {
		atomic_fetch_add(&c->marks_since_commit, marks);
		lc_clone_set_error(c, r);
		lc_clone_kick(c);
		return r;
	}
	atomic_fetch_add(&c->commits, 1);
	return 0;
}

/* Every region is marked; once that is durable, drop the source. */
static void finish_if_done(struct lc_clone *c)
{
	struct lc_backend *src;

	if (atomic_load(&c->complete) || lc_meta_nr_hydrated(c->meta) != c->nr_regions)
		return;
	if (lc_meta_mode(c->meta) == LC_META_MODE_WRITE && commit(c) < 0)
		return;
	atomic_store(&c->complete, true);
	/* Readers that got the source before complete was set finish first. */
	while (atomic_load(&c->src_users) > 0)
		(void)nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
	src = c->src;
	c->src = NULL;
	lc_backend_close(src);
	lc_clone_kick(c);
}

static void sample_rate(struct lc_clone *c, uint64_t now, uint64_t *last_ns, uint64_t *last_bytes)
{
	uint64_t bytes = atomic_load(&c->bytes_hydrated);
	uint64_t dt = now - *last_ns;

	if (dt < LC_NSEC_PER_SEC / 2)
		return;
	pthread_mutex_lock(&c->state_lock);
	/* Exponential average over a few seconds: steady, yet follows changes. */
	double inst = (double)(bytes - *last_bytes) * LC_NSEC_PER_SEC / (double)dt;
	c->rate_bytes = c->rate_bytes == 0 ? (uint64_t)inst
					   : (uint64_t)(0.7 * (double)c->rate_bytes + 0.3 * inst);
	pthread_mutex_unlock(&c->state_lock);
	*last_ns = now;
	*last_bytes = bytes;
}

static void *housekeeper_main(void *opaque)
{
	struct lc_clone *c = opaque;
	uint64_t interval_ns = (uint64_t)c->cfg.commit_interval_ms * LC_NSEC_PER_MSEC;
	uint64_t last_commit = lc_now_ns(), last_sample = last_commit, last_bytes = 0;

	pthread_mutex_lock(&c->state_lock);
	while (!c->stopping) {
		uint64_t now = lc_now_ns();
		uint64_t wake = now + HOUSEKEEPING_NS;
		struct timespec ts;

		if (interval_ns && last_commit + interval_ns < wake)
			wake = last_commit + interval_ns;
		ts = lc_deadline_ns(wake);
		/* Complete: nothing is marked, copied or finished any more, so
		 * nothing wakes a hydrated clone's process but its I/O (and
		 * close, which broadcasts). */
		if (atomic_load(&c->complete))
			(void)pthread_cond_wait(&c->state_cond, &c->state_lock);
		else
			(void)pthread_cond_timedwait(&c->state_cond, &c->state_lock, &ts);
		if (c->stopping)
			break;
		pthread_mutex_unlock(&c->state_lock);

		now = lc_now_ns();
		if (interval_ns && now >= last_commit + interval_ns) {
			if (atomic_load(&c->marks_since_commit) > 0 &&
			    lc_meta_mode(c->meta) == LC_META_MODE_WRITE)
				(void)commit(c); /* errors land in status */
			last_commit = now;
		}
		sample_rate(c, now, &last_sample, &last_bytes);
		finish_if_done(c);

		pthread_mutex_lock(&c->state_lock);
	}
	pthread_mutex_unlock(&c->state_lock);
	return NULL;
}

static int check_config(const struct lc_clone_config *cfg, uint32_t region_size,
			struct lc_err *err)
{
	if (cfg->worker_nice > 19)
		return lc_err_set(err, -EINVAL, "worker nice value: %u is above 19", cfg->worker_nice);
	if (cfg->nr_workers > 256)
		return lc_err_set(err, -EINVAL, "workers: %u is more than 256", cfg->nr_workers);
	if (cfg->nr_workers && cfg->batch_regions == 0)
		return lc_err_set(err, -EINVAL, "batch_regions: must be at least 1");
	if (cfg->nr_workers && cfg->max_inflight_regions == 0)
		return lc_err_set(err, -EINVAL, "max_inflight_regions: must be at least 1");
	if ((uint64_t)cfg->batch_regions * region_size > (256u << 20))
		return lc_err_set(err, -EINVAL,
				  "batch_regions: %u regions of %u bytes exceed 256 MiB per worker",
				  cfg->batch_regions, region_size);
	if (cfg->yield_to_user_io && cfg->min_rate_bytes == 0)
		return lc_err_set(err, -EINVAL,
				  "min_rate: must be above 0 with yield, or hydration may never finish");
	return 0;
}

static int init_sync(struct lc_clone *c)
{
	pthread_condattr_t attr;
	int r;

	r = -pthread_mutex_init(&c->state_lock, NULL);
	if (r < 0)
		return r;
	r = -pthread_mutex_init(&c->claim_lock, NULL);
	if (r < 0)
		goto out_state_lock;
	r = -pthread_mutex_init(&c->notify_lock, NULL);
	if (r < 0)
		goto out_claim_lock;
	r = -pthread_condattr_init(&attr);
	if (r < 0)
		goto out_notify_lock;
	(void)pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	r = -pthread_cond_init(&c->state_cond, &attr);
	(void)pthread_condattr_destroy(&attr);
	if (r < 0)
		goto out_notify_lock;
	r = lc_region_locks_init(&c->locks);
	if (r < 0)
		goto out_cond;
	return 0;

out_cond:
	(void)pthread_cond_destroy(&c->state_cond);
out_notify_lock:
	(void)pthread_mutex_destroy(&c->notify_lock);
out_claim_lock:
	(void)pthread_mutex_destroy(&c->claim_lock);
out_state_lock:
	(void)pthread_mutex_destroy(&c->state_lock);
	return r;
}

static void stop_threads(struct lc_clone *c)
{
	pthread_mutex_lock(&c->state_lock);
	c->stopping = true;
	pthread_cond_broadcast(&c->state_cond);
	pthread_mutex_unlock(&c->state_lock);
	lc_hydrate_join(c);
	if (c->housekeeper_started) {
		(void)pthread_join(c->housekeeper, NULL);
		c->housekeeper_started = false;
	}
}

/* Frees a clone whose threads are stopped; returns the final commit's error. */
static int destroy(struct lc_clone *c, bool sync_inited)
{
	int r = lc_meta_close(c->meta);

	lc_backend_close(c->dst);
	lc_backend_close(c->src);
	lc_bufpool_destroy(&c->pool);
	lc_bitmap_destroy(&c->quarantine);
	if (sync_inited) {
		lc_region_locks_destroy(&c->locks);
		(void)pthread_cond_destroy(&c->state_cond);
		(void)pthread_mutex_destroy(&c->notify_lock);
		(void)pthread_mutex_destroy(&c->claim_lock);
		(void)pthread_mutex_destroy(&c->state_lock);
	}
	free(c);
	return r;
}

int lc_clone_open(struct lc_backend *src, struct lc_backend *dst, struct lc_meta *meta,
		  const struct lc_clone_config *cfg, struct lc_clone **ret_clone,
		  struct lc_err *err)
{
	struct lc_meta_info info;
	struct lc_clone *c;
	unsigned nr_bufs;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c) {
		lc_meta_close(meta);
		lc_backend_close(dst);
		lc_backend_close(src);
		return lc_err_set(err, -ENOMEM, "out of memory");
	}
	c->src = src;
	c->dst = dst;
	c->meta = meta;
	c->cfg = *cfg;
	lc_meta_get_info(meta, &info);
	c->size_bytes = info.source_size_bytes;
	c->nr_regions = info.nr_regions;
	c->region_size = info.region_size_bytes;
	c->region_shift = lc_meta_region_shift(meta);
	c->block_size = src->logical_block_size > dst->logical_block_size ?
				src->logical_block_size : dst->logical_block_size;
	if (c->block_size < LC_SECTOR_SIZE)
		c->block_size = LC_SECTOR_SIZE;

	r = check_config(cfg, c->region_size, err);
	if (r < 0)
		goto out_destroy_nosync;
	if (src->size_bytes != c->size_bytes) {
		r = lc_err_set(err, -EINVAL,
			       "source '%s': size is %llu bytes, the metadata says %llu", src->uri,
			       (unsigned long long)src->size_bytes,
			       (unsigned long long)c->size_bytes);
		goto out_destroy_nosync;
	}
	if (dst->size_bytes < c->size_bytes) {
		r = lc_err_set(err, -EINVAL,
			       "destination '%s': %llu bytes is smaller than the source (%llu)",
			       dst->uri, (unsigned long long)dst->size_bytes,
			       (unsigned long long)c->size_bytes);
		goto out_destroy_nosync;
	}
	nr_bufs = USER_COPY_BYTES_MAX / c->region_size;
	if (nr_bufs > USER_COPY_BUFS_MAX)
		nr_bufs = USER_COPY_BUFS_MAX;
	if (nr_bufs < 2)
		nr_bufs = 2;
	r = lc_bufpool_init(&c->pool, nr_bufs, c->region_size, 4096);
	if (r < 0) {
		lc_err_set(err, r, "cannot allocate %u copy buffers of %u bytes", nr_bufs,
			   c->region_size);
		goto out_destroy_nosync;
	}
	r = init_sync(c);
	if (r < 0) {
		lc_err_set(err, r, "cannot initialise locks");
		goto out_destroy_nosync;
	}
	c->rate_limit_bytes = cfg->rate_limit_bytes;
	c->paused = cfg->start_paused;

	/* Reopened after completion: nothing left to copy. */
	if (lc_meta_nr_hydrated(meta) == c->nr_regions) {
		atomic_store(&c->complete, true);
		lc_backend_close(c->src);
		c->src = NULL;
	}

	r = -pthread_create(&c->housekeeper, NULL, housekeeper_main, c);
	if (r < 0) {
		lc_err_set(err, r, "cannot start the housekeeping thread");
		goto out_destroy;
	}
	c->housekeeper_started = true;
	r = lc_hydrate_start(c);
	if (r < 0) {
		lc_err_set(err, r, "cannot start %u hydration workers", cfg->nr_workers);
		goto out_stop;
	}
	*ret_clone = c;
	return 0;

out_stop:
	stop_threads(c);
out_destroy:
	(void)destroy(c, true);
	return r;
out_destroy_nosync:
	(void)destroy(c, false);
	return r;
}

int lc_clone_close(struct lc_clone *c)
{
	if (!c)
		return 0;
	stop_threads(c);
	return destroy(c, true);
}

uint64_t lc_clone_size(const struct lc_clone *c)
{
	return c->size_bytes;
}

uint32_t lc_clone_block_size(const struct lc_clone *c)
{
	return c->block_size;
}

/* A failed user request shows in status too, not only at the initiator.
 * Not an out-of-range request (the caller's mistake, not the devices'), nor
 * a refusal of a read-only clone, whose cause is the error already there. */
static int note_user_error(struct lc_clone *c, int r)
{
	if (r < 0 && r != -EINVAL && r != -EROFS)
		lc_clone_set_error(c, r);
	return r;
}

int lc_clone_read(struct lc_clone *c, void *buf, size_t len, uint64_t offset_bytes)
{
	return note_user_error(c, lc_iomap_read(c, buf, len, offset_bytes));
}

int lc_clone_write(struct lc_clone *c, const void *buf, size_t len, uint64_t offset_bytes,
		   unsigned io_flags)
{
	int r = lc_iomap_write(c, buf, len, offset_bytes);

	if (r == 0 && (io_flags & LC_IO_FUA))
		r = lc_clone_flush(c);
	return note_user_error(c, r);
}

int lc_clone_discard(struct lc_clone *c, uint64_t offset_bytes, uint64_t len_bytes)
{
	return note_user_error(c, lc_iomap_discard(c, offset_bytes, len_bytes));
}

int lc_clone_with_source(struct lc_clone *c, int (*fn)(struct lc_backend *src, void *opaque),
			 void *opaque)
{
	struct lc_backend *src = lc_clone_src_get(c);
	int r;

	if (!src)
		return -ENODEV;
	r = fn(src, opaque);
	lc_clone_src_put(c);
	return r;
}

bool lc_clone_discard_zeroes(const struct lc_clone *c)
{
	return c->dst->discard_zeroes;
}

int lc_clone_flush(struct lc_clone *c)
{
	/* A failed store cannot vouch for anything: the flush fails too. */
	if (lc_meta_mode(c->meta) != LC_META_MODE_WRITE) {
		int e = atomic_load(&c->last_error);

		return e ? e : -EROFS;
	}
	return commit(c);
}

static enum lc_clone_state state_of(struct lc_clone *c, uint64_t nr_hydrated, uint64_t nr_q)
{
	if (lc_meta_mode(c->meta) != LC_META_MODE_WRITE)
		return atomic_load(&c->complete) && atomic_load(&c->last_error) == 0 ?
			       LC_CLONE_COMPLETE :
			       LC_CLONE_READ_ONLY;
	if (atomic_load(&c->complete))
		return LC_CLONE_COMPLETE;
	if (nr_q > 0 && nr_hydrated + nr_q >= c->nr_regions)
		return LC_CLONE_DEGRADED;
	if (c->paused)
		return LC_CLONE_PAUSED;
	if (atomic_load(&c->src_waiting))
		return LC_CLONE_WAITING_SOURCE;
	return LC_CLONE_HYDRATING;
}

void lc_clone_get_status(struct lc_clone *c, struct lc_clone_status *ret_status)
{
	struct lc_clone_status st = { 0 };
	uint64_t remaining;

	st.nr_regions = c->nr_regions;
	st.nr_hydrated = lc_meta_nr_hydrated(c->meta);
	st.nr_quarantined = atomic_load(&c->nr_quarantined);
	(void)lc_hydrate_list_quarantine(c, st.quarantined, LC_CLONE_QUARANTINE_REPORT);
	st.region_size_bytes = c->region_size;
	st.bytes_hydrated = atomic_load(&c->bytes_hydrated);
	st.user_reads = atomic_load(&c->user_reads);
	st.user_writes = atomic_load(&c->user_writes);
	st.commits = atomic_load(&c->commits);
	st.last_error = atomic_load(&c->last_error);

	pthread_mutex_lock(&c->state_lock);
	st.state = state_of(c, st.nr_hydrated, st.nr_quarantined);
	st.rate_bytes = c->rate_bytes;
	st.rate_limit_bytes = c->rate_limit_bytes;
	pthread_mutex_unlock(&c->state_lock);

	remaining = (c->nr_regions - st.nr_hydrated) * (uint64_t)c->region_size;
	if (st.state == LC_CLONE_COMPLETE)
		st.eta_seconds = 0;
	else if (st.rate_bytes > 0 && st.state == LC_CLONE_HYDRATING)
		st.eta_seconds = (remaining + st.rate_bytes - 1) / st.rate_bytes;
	else
		st.eta_seconds = UINT64_MAX;
	*ret_status = st;
}

void lc_clone_pause(struct lc_clone *c)
{
	pthread_mutex_lock(&c->state_lock);
	c->paused = true;
	pthread_cond_broadcast(&c->state_cond);
	pthread_mutex_unlock(&c->state_lock);
}

void lc_clone_resume(struct lc_clone *c)
{
	lc_hydrate_clear_quarantine(c);
	pthread_mutex_lock(&c->state_lock);
	c->paused = false;
	c->src_probe_at_ns = 0; /* an unreachable source: try it now */
	c->dst_retry_at_ns = 0; /* a failing destination too */
	pthread_cond_broadcast(&c->state_cond);
	pthread_mutex_unlock(&c->state_lock);
}

void lc_clone_set_rate_limit(struct lc_clone *c, uint64_t bytes_per_second)
{
	pthread_mutex_lock(&c->state_lock);
	c->rate_limit_bytes = bytes_per_second;
	/* A lower limit must not wait out debt run up at the old one. */
	c->throttle_clock_ns = lc_now_ns();
	pthread_cond_broadcast(&c->state_cond);
	pthread_mutex_unlock(&c->state_lock);
}

int lc_clone_wait(struct lc_clone *c, unsigned timeout_ms)
{
	uint64_t deadline = lc_now_ns() + (uint64_t)timeout_ms * LC_NSEC_PER_MSEC;
	int r = -ETIMEDOUT;

	pthread_mutex_lock(&c->state_lock);
	for (;;) {
		uint64_t nr_q = atomic_load(&c->nr_quarantined);
		enum lc_clone_state s = state_of(c, lc_meta_nr_hydrated(c->meta), nr_q);
		uint64_t wake = lc_now_ns() + HOUSEKEEPING_NS;
		struct timespec ts;

		if (s == LC_CLONE_COMPLETE) {
			r = 0;
			break;
		}
		if (s == LC_CLONE_DEGRADED) {
			r = -EIO;
			break;
		}
		if (s == LC_CLONE_READ_ONLY) {
			int e = atomic_load(&c->last_error);

			r = e ? e : -EROFS;
			break;
		}
		if (timeout_ms && lc_now_ns() >= deadline)
			break;
		if (timeout_ms && deadline < wake)
			wake = deadline;
		ts = lc_deadline_ns(wake);
		(void)pthread_cond_timedwait(&c->state_cond, &c->state_lock, &ts);
	}
	pthread_mutex_unlock(&c->state_lock);
	return r;
}
