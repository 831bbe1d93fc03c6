/* SPDX-License-Identifier: MIT */
/*
 * Hydration: worker threads copy unhydrated regions from source to
 * destination in the background.
 *
 * A worker claims a batch: starting at a shared cursor, the next unhydrated
 * region that is not quarantined and not held, extended with following
 * regions in the same state, up to batch_regions and the in-flight cap
 * (max_inflight_regions over all workers). Claims only trylock regions, so a
 * worker never waits for user I/O while holding others. The batch is read
 * from the source in one request and written in runs: regions that are all
 * zeros are discarded instead when the destination reads back zeros there.
 * Then the batch is marked hydrated in core; a later commit makes it durable.
 *
 * Each worker is a pipeline of two threads over two batch buffers: its
 * reader claims and reads a batch, queues it and goes on to claim and read
 * the next, while its writer writes, marks and releases the one before. A
 * worker that read and wrote in turn would leave the source idle during
 * every write: with an iscsi:// source and an O_DIRECT destination, whose
 * writes take as long as the reads, that was a third of the throughput
 * (bench/iscsi-source). Batches read region by region after a source error
 * (below) are written by the reader itself: that path is not about speed.
 *
 * Pacing, per clone, is a virtual clock (a token bucket with no burst): a
 * worker waits until the clock is not ahead of now, then reserves its batch
 * by pushing the clock forward by batch/rate before claiming (so workers
 * cannot all start at once, and no region is held while waiting); what it
 * did not claim is refunded. The rate is the admin's limit, or, while user
 * I/O is pending or recent (yield), the minimum rate, and batches shrink to
 * one region, so hydration backs off but always finishes.
 *
 * Source errors come in two kinds (backend.h). The source answered that it
 * cannot read a range (-EIO: a MEDIUM ERROR...): the batch is read again
 * region by region, each retried source_retries times; a region that still
 * fails is quarantined (skipped, reported in status) and hydration goes on.
 * The source could not be reached at all (-ETIMEDOUT, -ENOTCONN...: the
 * connection is lost, the target gone; the backend has already retried its
 * connection up to its own timeout): the data is not at fault, so nothing is
 * quarantined and nothing is marked. Hydration waits instead:
 *
 *     reachable --read unreachable--> waiting --probe answers--> reachable
 *                                     |    ^
 *                                     +----+ probe unreachable: backoff x 2
 *
 * While waiting (state WAITING_SOURCE), workers claim nothing, except one
 * at a time, the prober, which at src_probe_at_ns copies a batch of one
 * region: its read is the probe. The wait starts at retry_delay_ms and
 * doubles up to SOURCE_BACKOFF_MAX_MS; resume probes at once. Any read that
 * began after the wait began and got an answer (data, or a medium error)
 * ends the wait. Each change calls cfg.on_source_change once, in order, so
 * the caller logs it once (the library does not log). User reads are not
 * affected: they go to the source with the backend's own timeout and fail
 * with its error, never with zeros. A source that answers as another device
 * (-ESTALE: an iscsi LUN swapped behind the URL) is an answer, not an outage:
 * its regions are quarantined and the clone ends degraded, with that error.
 *
 * Destination errors (a write or discard refused: -EIO, -ENOSPC...) leave
 * the regions unmarked, and no worker claims more until a wait has passed:
 * retry_delay_ms, doubling with each failure of a write that began after
 * the last wait ended, up to BACKOFF_MAX_MS; a write that succeeds ends the
 * doubling, resume ends the wait. So a full destination costs a few
 * attempts a minute, not a busy loop, and hydration goes on by itself once
 * space is freed. User writes are not held back: they fail on their own.
 *
 * Workers run at a lower CPU priority (cfg.worker_nice, 10 by default) than
 * the threads that serve user I/O: a copy that is CPU-bound (a sparse
 * source: reads of zeros, discards) must not starve them or anything else
 * on the host. `lunclone hydrate`, which serves no I/O, runs them at 0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clone_priv.h"
#include "util/clock.h"

/* How long an idle worker sleeps before looking for work again. */
#define IDLE_WAIT_NS (20 * LC_NSEC_PER_MSEC)
/* The longest wait between probes of an unreachable source, and between
 * attempts on a failing destination. */
#define BACKOFF_MAX_MS 5000u

/*
 * Whether a source read failed because the source could not be reached (the
 * transport), not because it answered that the range cannot be read.
 */
static bool is_unreachable(int r)
{
	switch (r) {
	case -ETIMEDOUT:
	case -ENOTCONN:
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -ECONNABORTED:
	case -EHOSTUNREACH:
	case -EHOSTDOWN:
	case -ENETUNREACH:
	case -ENETDOWN:
	case -EPIPE:
		return true;
	default:
		return false;
	}
}

static bool user_io_recent(struct lc_clone *c, uint64_t now)
{
	uint64_t last = atomic_load(&c->last_user_io_ns);

	/* A queue-depth-1 initiator leaves gaps between requests: the window
	 * bridges them, so such a workload counts as busy. The last I/O may
	 * be later than now (taken before it): that is recent too, not an
	 * unsigned wrap to "long ago". */
	return atomic_load(&c->user_inflight) > 0 || last >= now ||
	       now - last < (uint64_t)c->cfg.yield_window_ms * LC_NSEC_PER_MSEC;
}

/* The rate to pace at now, 0 = unlimited. */
static uint64_t effective_rate_locked(struct lc_clone *c, uint64_t now)
{
	uint64_t rate = c->rate_limit_bytes;

	if (c->cfg.yield_to_user_io && user_io_recent(c, now)) {
		if (rate == 0 || c->cfg.min_rate_bytes < rate)
			rate = c->cfg.min_rate_bytes;
	}
	return rate;
}

static bool should_idle_locked(struct lc_clone *c)
{
	return c->paused || atomic_load(&c->complete) ||
	       lc_meta_mode(c->meta) != LC_META_MODE_WRITE;
}

/* Sleeps on state_cond until when_ns (or a change); state_lock held. */
static void wait_until_locked(struct lc_clone *c, uint64_t when_ns)
{
	struct timespec ts = lc_deadline_ns(when_ns);

	(void)pthread_cond_timedwait(&c->state_cond, &c->state_lock, &ts);
}

/* Regions to plan for: the batch, one while yielding, and at low rates no
 * more than a tenth of a second's worth, so pacing stays smooth. */
static uint32_t plan_batch_locked(struct lc_clone *c, uint64_t now, uint64_t rate)
{
	uint64_t limit = c->cfg.batch_regions;

	if (c->cfg.yield_to_user_io && user_io_recent(c, now))
		limit = 1;
	if (rate && rate / 10 / c->region_size < limit)
		limit = rate / 10 / c->region_size;
	return limit ? (uint32_t)limit : 1;
}

/*
 * Waits for the worker's turn, then plans its batch (*ret_limit regions) and
 * reserves their bytes of the rate: the clock moves forward by their
 * duration before the copy starts, so several workers cannot all start at
 * once. The plan is made after the wait, never before it: a worker that
 * waited through a pause or for its turn must see the user I/O that began
 * meanwhile. Returns false when the worker must stop; *ret_rate is the rate
 * reserved at (0: unlimited), for refund(). While the source is unreachable,
 * waits for the next probe; *ret_probe says this worker makes it (one
 * region, outside the rate) and must end it with source_unreachable(),
 * source_answered() or probe_skipped().
 */
static bool reserve(struct lc_clone *c, uint32_t *ret_limit, uint64_t *ret_rate, bool *ret_probe)
{
	bool go = false;

	*ret_probe = false;
	pthread_mutex_lock(&c->state_lock);
	while (!c->stopping) {
		uint64_t now = lc_now_ns();
		uint64_t rate;
		uint32_t limit;

		if (atomic_load(&c->complete)) {
			/* For good: only close (stopping) wakes us, so a
			 * hydrated clone's process sleeps between its I/O. */
			(void)pthread_cond_wait(&c->state_cond, &c->state_lock);
			continue;
		}
		if (should_idle_locked(c)) {
			wait_until_locked(c, now + IDLE_WAIT_NS * 10);
			continue;
		}
		if (atomic_load(&c->src_waiting)) {
			uint64_t wake = now + IDLE_WAIT_NS * 10;

			if (c->src_probing || now < c->src_probe_at_ns) {
				if (!c->src_probing && c->src_probe_at_ns < wake)
					wake = c->src_probe_at_ns;
				wait_until_locked(c, wake);
				continue;
			}
			c->src_probing = true;
			*ret_limit = 1;
			*ret_rate = 0;
			*ret_probe = true;
			go = true;
			break;
		}
		if (now < c->dst_retry_at_ns) {
			wait_until_locked(c, c->dst_retry_at_ns < now + IDLE_WAIT_NS * 10
						     ? c->dst_retry_at_ns
						     : now + IDLE_WAIT_NS * 10);
			continue;
		}
		rate = effective_rate_locked(c, now);
		if (rate && c->throttle_clock_ns > now) {
			/* Re-check often: yield may end, the limit may change. */
			wait_until_locked(c, c->throttle_clock_ns < now + IDLE_WAIT_NS ?
						     c->throttle_clock_ns : now + IDLE_WAIT_NS);
			continue;
		}
		limit = plan_batch_locked(c, now, rate);
		if (rate)
			c->throttle_clock_ns = now + (uint64_t)((double)limit * c->region_size *
								LC_NSEC_PER_SEC / (double)rate);
		*ret_limit = limit;
		*ret_rate = rate;
		go = true;
		break;
	}
	pthread_mutex_unlock(&c->state_lock);
	return go;
}

/* Gives back the part of a reservation that was not copied. */
static void refund(struct lc_clone *c, uint64_t rate, uint64_t unused_bytes)
{
	uint64_t ns;

	if (!rate || !unused_bytes)
		return;
	ns = (uint64_t)((double)unused_bytes * LC_NSEC_PER_SEC / (double)rate);
	pthread_mutex_lock(&c->state_lock);
	c->throttle_clock_ns = c->throttle_clock_ns > ns ? c->throttle_clock_ns - ns : 0;
	pthread_mutex_unlock(&c->state_lock);
}

/* Sleeps ms unless the clone is stopping. */
static void backoff(struct lc_clone *c, unsigned ms)
{
	pthread_mutex_lock(&c->state_lock);
	if (!c->stopping)
		wait_until_locked(c, lc_now_ns() + (uint64_t)ms * LC_NSEC_PER_MSEC);
	pthread_mutex_unlock(&c->state_lock);
}

static unsigned backoff_max_ms(const struct lc_clone *c)
{
	return c->cfg.retry_delay_ms > BACKOFF_MAX_MS ? c->cfg.retry_delay_ms : BACKOFF_MAX_MS;
}

/*
 * A hydration write that began at start_ns failed with err: no worker
 * claims regions for a while. Only a write that began after the last wait
 * ended doubles it: the other workers' writes that fail in the same moment
 * are the same news.
 */
static void destination_failed(struct lc_clone *c, int err, uint64_t start_ns)
{
	unsigned ms;
	uint64_t now;

	lc_clone_set_error(c, err);
	pthread_mutex_lock(&c->state_lock);
	now = lc_now_ns();
	if (start_ns >= c->dst_retry_at_ns) {
		ms = atomic_load(&c->dst_backoff_ms);
		if (ms == 0)
			ms = c->cfg.retry_delay_ms ? c->cfg.retry_delay_ms : 1;
		else
			ms = ms * 2 > backoff_max_ms(c) ? backoff_max_ms(c) : ms * 2;
		atomic_store(&c->dst_backoff_ms, ms);
		c->dst_retry_at_ns = now + (uint64_t)ms * LC_NSEC_PER_MSEC;
	}
	pthread_mutex_unlock(&c->state_lock);
}

/* A hydration write succeeded: the next failure starts at the first wait. */
static void destination_ok(struct lc_clone *c)
{
	if (atomic_load(&c->dst_backoff_ms) == 0)
		return; /* the usual case: no lock */
	pthread_mutex_lock(&c->state_lock);
	atomic_store(&c->dst_backoff_ms, 0);
	pthread_mutex_unlock(&c->state_lock);
}

bool lc_hydrate_is_quarantined(struct lc_clone *c, uint64_t region_nr)
{
	bool q;

	if (atomic_load(&c->nr_quarantined) == 0)
		return false;
	pthread_mutex_lock(&c->claim_lock);
	q = c->quarantine.words && lc_bitmap_test(&c->quarantine, region_nr);
	pthread_mutex_unlock(&c->claim_lock);
	return q;
}

/*
 * A source read that began at start_ns found the source unreachable (err):
 * hydration waits for it. The first such failure starts the wait and tells
 * on_source_change; a failed probe doubles the wait before the next one. A
 * read that began before the source was last back is old news: it starts
 * no new wait (a worker stuck in a long read must not undo a recovery).
 */
static void source_unreachable(struct lc_clone *c, struct lc_backend *src, int err, bool probe,
			       uint64_t start_ns)
{
	unsigned max_ms = backoff_max_ms(c);
	bool changed;
	uint64_t now;

	lc_clone_set_error(c, err);
	pthread_mutex_lock(&c->notify_lock);
	pthread_mutex_lock(&c->state_lock);
	now = lc_now_ns();
	changed = !atomic_load(&c->src_waiting) && start_ns >= c->src_back_since_ns;
	if (changed) {
		atomic_store(&c->src_waiting, true);
		c->src_wait_since_ns = now;
		c->src_backoff_ms = c->cfg.retry_delay_ms ? c->cfg.retry_delay_ms : 1;
		c->src_probe_at_ns = now + (uint64_t)c->src_backoff_ms * LC_NSEC_PER_MSEC;
	} else if (probe) {
		c->src_backoff_ms = c->src_backoff_ms * 2 > max_ms ? max_ms : c->src_backoff_ms * 2;
		c->src_probe_at_ns = now + (uint64_t)c->src_backoff_ms * LC_NSEC_PER_MSEC;
	}
	if (probe)
		c->src_probing = false;
	pthread_cond_broadcast(&c->state_cond);
	pthread_mutex_unlock(&c->state_lock);
	if (changed && c->cfg.on_source_change)
		c->cfg.on_source_change(c->cfg.on_source_change_opaque, src, false, err);
	pthread_mutex_unlock(&c->notify_lock);
}

/*
 * A source read that began at start_ns got an answer (data or a medium
 * error): if hydration was waiting since before that read began, the source
 * is back and the wait ends. A read older than the wait proves nothing.
 */
static void source_answered(struct lc_clone *c, struct lc_backend *src, uint64_t start_ns,
			    bool probe)
{
	bool changed = false;

	if (!probe && !atomic_load(&c->src_waiting))
		return; /* the usual case: no lock */
	pthread_mutex_lock(&c->notify_lock);
	pthread_mutex_lock(&c->state_lock);
	if (probe)
		c->src_probing = false;
	if (atomic_load(&c->src_waiting) && start_ns >= c->src_wait_since_ns) {
		atomic_store(&c->src_waiting, false);
		c->src_back_since_ns = lc_now_ns();
		changed = true;
	}
	pthread_cond_broadcast(&c->state_cond);
	pthread_mutex_unlock(&c->state_lock);
	if (changed && c->cfg.on_source_change)
		c->cfg.on_source_change(c->cfg.on_source_change_opaque, src, true, 0);
	pthread_mutex_unlock(&c->notify_lock);
}

/* The prober found no region to read: another worker probes a bit later. */
static void probe_skipped(struct lc_clone *c)
{
	pthread_mutex_lock(&c->state_lock);
	c->src_probing = false;
	c->src_probe_at_ns = lc_now_ns() + IDLE_WAIT_NS;
	pthread_mutex_unlock(&c->state_lock);
}

static bool is_quarantined_locked(struct lc_clone *c, uint64_t region_nr)
{
	return c->quarantine.words && lc_bitmap_test(&c->quarantine, region_nr);
}

static void quarantine(struct lc_clone *c, uint64_t region_nr, int err)
{
	pthread_mutex_lock(&c->claim_lock);
	/* Allocated on the first error only: healthy clones pay nothing. If
	 * that fails, the region just stays unhydrated and is retried. */
	if (!c->quarantine.words && lc_bitmap_init(&c->quarantine, c->nr_regions) < 0) {
		pthread_mutex_unlock(&c->claim_lock);
		return;
	}
	if (lc_bitmap_set(&c->quarantine, region_nr))
		atomic_fetch_add(&c->nr_quarantined, 1);
	pthread_mutex_unlock(&c->claim_lock);
	lc_clone_set_error(c, err);
	lc_clone_kick(c);
}

void lc_hydrate_clear_quarantine(struct lc_clone *c)
{
	pthread_mutex_lock(&c->claim_lock);
	lc_bitmap_destroy(&c->quarantine);
	atomic_store(&c->nr_quarantined, 0);
	pthread_mutex_unlock(&c->claim_lock);
}

unsigned lc_hydrate_list_quarantine(struct lc_clone *c, uint64_t *ret, unsigned max)
{
	unsigned n = 0;

	pthread_mutex_lock(&c->claim_lock);
	if (c->quarantine.words) {
		uint64_t r = lc_bitmap_find_next_set(&c->quarantine, 0);

		for (; r < c->nr_regions && n < max;
		     r = lc_bitmap_find_next_set(&c->quarantine, r + 1))
			ret[n++] = r;
	}
	pthread_mutex_unlock(&c->claim_lock);
	return n;
}

/* Claims up to limit regions into holds; returns how many (0: none claimable now). */
static uint32_t claim_batch(struct lc_clone *c, struct lc_region_hold *holds, uint32_t limit,
			    uint64_t *ret_first)
{
	uint64_t pos, start;
	bool wrapped = false;
	uint32_t nr = 0;

	pthread_mutex_lock(&c->claim_lock);
	if (c->inflight_regions >= c->cfg.max_inflight_regions)
		goto out;
	if (limit > c->cfg.max_inflight_regions - c->inflight_regions)
		limit = c->cfg.max_inflight_regions - c->inflight_regions;
	start = pos = c->cursor;
	for (;;) {
		uint64_t r = lc_meta_next_unhydrated(c->meta, pos);

		if (wrapped && r >= start)
			goto out; /* a full circle found nothing */
		if (r >= c->nr_regions) {
			if (wrapped || start == 0)
				goto out;
			wrapped = true;
			pos = 0;
			continue;
		}
		if (is_quarantined_locked(c, r) || !lc_region_trylock(&c->locks, &holds[0], r)) {
			pos = r + 1;
			continue;
		}
		/* Re-check under the hold: a user write may have just finished. */
		if (lc_meta_is_hydrated(c->meta, r)) {
			lc_region_unlock(&c->locks, &holds[0]);
			pos = r + 1;
			continue;
		}
		*ret_first = r;
		nr = 1;
		while (nr < limit && r + nr < c->nr_regions &&
		       !lc_meta_is_hydrated(c->meta, r + nr) && !is_quarantined_locked(c, r + nr) &&
		       lc_region_trylock(&c->locks, &holds[nr], r + nr)) {
			if (lc_meta_is_hydrated(c->meta, r + nr)) {
				lc_region_unlock(&c->locks, &holds[nr]);
				break;
			}
			nr++;
		}
		c->cursor = r + nr >= c->nr_regions ? 0 : r + nr;
		c->inflight_regions += nr;
		break;
	}
out:
	pthread_mutex_unlock(&c->claim_lock);
	return nr;
}

static void release_batch(struct lc_clone *c, struct lc_hydrate_batch *b)
{
	for (uint32_t i = 0; i < b->nr; i++)
		lc_region_unlock(&c->locks, &b->holds[i]);
	pthread_mutex_lock(&c->claim_lock);
	c->inflight_regions -= b->nr;
	pthread_mutex_unlock(&c->claim_lock);
}

static bool stopping(struct lc_clone *c)
{
	bool s;

	pthread_mutex_lock(&c->state_lock);
	s = c->stopping;
	pthread_mutex_unlock(&c->state_lock);
	return s;
}

static int read_with_retry(struct lc_clone *c, struct lc_backend *src, void *buf, uint64_t len,
			   uint64_t off)
{
	int r = lc_backend_pread(src, buf, len, off);

	/* An unreachable source was retried by its backend already. */
	for (unsigned i = 0;
	     r < 0 && !is_unreachable(r) && i < c->cfg.source_retries && !stopping(c); i++) {
		backoff(c, c->cfg.retry_delay_ms);
		r = lc_backend_pread(src, buf, len, off);
	}
	return r;
}

static bool all_zero(const void *buf, uint64_t len)
{
	const unsigned char *p = buf;

	/* Compare the buffer with itself shifted by one byte: zero iff the
	 * first byte is zero and all bytes are equal. */
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* Writes regions [first, first + nr) from buf (holding region first's data). */
static int write_regions(struct lc_clone *c, const char *buf, uint64_t first, uint32_t nr)
{
	uint32_t i = 0;

	while (i < nr) {
		uint64_t rlen = lc_clone_region_len(c, first + i);
		bool zero = c->dst->discard_zeroes && all_zero(buf, rlen);
		uint32_t j = i + 1;
		uint64_t len = rlen, off = lc_clone_region_start(c, first + i);
		int r;

		/* Extend the run with regions of the same kind. */
		while (j < nr) {
			uint64_t l = lc_clone_region_len(c, first + j);

			if ((c->dst->discard_zeroes && all_zero(buf + len, l)) != zero)
				break;
			len += l;
			j++;
		}
		r = zero ? lc_backend_discard(c->dst, off, len) : -EOPNOTSUPP;
		if (r == -EOPNOTSUPP)
			r = lc_backend_pwrite(c->dst, buf, len, off);
		if (r < 0)
			return r;
		buf += len;
		i = j;
	}
	return 0;
}

static void mark_batch(struct lc_clone *c, uint64_t first, uint32_t nr, uint64_t bytes)
{
	int64_t n = lc_meta_set_hydrated(c->meta, first, nr);

	if (n < 0) {
		lc_clone_set_error(c, (int)n);
		return;
	}
	lc_clone_note_marked(c, n);
	atomic_fetch_add(&c->bytes_hydrated, bytes);
	if (lc_meta_nr_hydrated(c->meta) == c->nr_regions)
		lc_clone_kick(c);
}

/* One region at a time after a batch read failed: find the bad ones. */
static void copy_regions_singly(struct lc_clone *c, struct lc_hydrate_batch *b,
				struct lc_backend *src)
{
	uint64_t first = b->first;
	uint32_t nr = b->nr;

	for (uint32_t i = 0; i < nr && !stopping(c); i++) {
		uint64_t rn = first + i, len = lc_clone_region_len(c, rn);
		uint64_t off = lc_clone_region_start(c, rn);
		uint64_t start_ns = lc_now_ns();
		int r = read_with_retry(c, src, b->buf, len, off);

		if (is_unreachable(r)) {
			/* Not this region's fault: leave it and the rest. */
			source_unreachable(c, src, r, false, start_ns);
			break;
		}
		if (r < 0) {
			quarantine(c, rn, r);
			continue;
		}
		start_ns = lc_now_ns();
		r = write_regions(c, b->buf, rn, 1);
		if (r < 0) {
			/* Leave it and the rest for after the wait. */
			destination_failed(c, r, start_ns);
			break;
		}
		destination_ok(c);
		mark_batch(c, rn, 1, len);
	}
}

/* Bytes of regions [b->first, b->first + b->nr). */
static uint64_t batch_bytes(struct lc_clone *c, const struct lc_hydrate_batch *b)
{
	uint64_t last = b->first + b->nr - 1;

	return lc_clone_region_start(c, last) + lc_clone_region_len(c, last) -
	       lc_clone_region_start(c, b->first);
}

/*
 * Reads batch b from the source. Returns true when it is ready to be
 * written; false when it is done with (nothing read: the source is
 * unreachable; or copied region by region here after an error).
 */
static bool read_batch(struct lc_clone *c, struct lc_hydrate_batch *b, bool probe)
{
	struct lc_backend *src = lc_clone_src_get(c);
	uint64_t start_ns = lc_now_ns();
	bool ready = false;
	int r;

	if (!src) { /* cannot happen while regions are unhydrated; be safe */
		if (probe)
			probe_skipped(c);
		return false;
	}
	r = lc_backend_pread(src, b->buf, batch_bytes(c, b), lc_clone_region_start(c, b->first));
	if (is_unreachable(r)) {
		/* The regions stay as they are: unhydrated, not quarantined. */
		source_unreachable(c, src, r, probe, start_ns);
		goto out;
	}
	source_answered(c, src, start_ns, probe);
	if (r < 0) {
		copy_regions_singly(c, b, src);
		goto out;
	}
	ready = true;
out:
	lc_clone_src_put(c);
	return ready;
}

static void write_batch(struct lc_clone *c, struct lc_hydrate_batch *b)
{
	uint64_t start_ns = lc_now_ns();
	int r = write_regions(c, b->buf, b->first, b->nr);

	if (r < 0) {
		/* Destination trouble: leave them unmarked, try again later. */
		destination_failed(c, r, start_ns);
		return;
	}
	destination_ok(c);
	mark_batch(c, b->first, b->nr, batch_bytes(c, b));
}

/* ---- a worker's two threads and their hand-over ---- */

/* A batch buffer the writer is done with (waits for one). */
static struct lc_hydrate_batch *take_free_batch(struct lc_hydrate_worker *w)
{
	struct lc_hydrate_batch *b;

	pthread_mutex_lock(&w->lock);
	while (!w->free_batches)
		pthread_cond_wait(&w->cond, &w->lock);
	b = w->free_batches;
	w->free_batches = b->next;
	pthread_mutex_unlock(&w->lock);
	return b;
}

static void give_free_batch(struct lc_hydrate_worker *w, struct lc_hydrate_batch *b)
{
	pthread_mutex_lock(&w->lock);
	b->next = w->free_batches;
	w->free_batches = b;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void queue_for_writer(struct lc_hydrate_worker *w, struct lc_hydrate_batch *b)
{
	pthread_mutex_lock(&w->lock);
	b->next = NULL;
	if (w->queue_tail)
		w->queue_tail->next = b;
	else
		w->queue = b;
	w->queue_tail = b;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* The next batch to write; NULL once the reader has stopped and none is left. */
static struct lc_hydrate_batch *next_to_write(struct lc_hydrate_worker *w)
{
	struct lc_hydrate_batch *b;

	pthread_mutex_lock(&w->lock);
	while (!w->queue && !w->reader_done)
		pthread_cond_wait(&w->cond, &w->lock);
	b = w->queue;
	if (b) {
		w->queue = b->next;
		if (!w->queue)
			w->queue_tail = NULL;
	}
	pthread_mutex_unlock(&w->lock);
	return b;
}

static void lower_priority(const struct lc_clone *c)
{
	/* A thread's own nice value, on Linux. Best effort: a worker at the
	 * normal priority still copies. */
	if (c->cfg.worker_nice)
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(), (int)c->cfg.worker_nice);
}

static void *writer_main(void *opaque)
{
	struct lc_hydrate_worker *w = opaque;
	struct lc_hydrate_batch *b;

	lower_priority(w->clone);
	while ((b = next_to_write(w))) {
		write_batch(w->clone, b);
		release_batch(w->clone, b);
		give_free_batch(w, b);
	}
	return NULL;
}

static void *reader_main(void *opaque)
{
	struct lc_hydrate_worker *w = opaque;
	struct lc_clone *c = w->clone;

	lower_priority(c);
	for (;;) {
		/* A buffer first, then the reservation: waiting for the
		 * writer must not eat into the rate. */
		struct lc_hydrate_batch *b = take_free_batch(w);
		uint64_t planned, rate = 0, copied;
		uint32_t limit = 1;
		bool probe;

		if (!reserve(c, &limit, &rate, &probe)) {
			give_free_batch(w, b);
			break;
		}
		planned = (uint64_t)limit * c->region_size;
		b->nr = claim_batch(c, b->holds, limit, &b->first);
		if (b->nr == 0) {
			give_free_batch(w, b);
			if (probe)
				probe_skipped(c);
			refund(c, rate, planned);
			/* Nothing claimable: all done, held by others, or
			 * quarantined. Let status and waiters notice. */
			lc_clone_kick(c);
			backoff(c, IDLE_WAIT_NS / LC_NSEC_PER_MSEC);
			continue;
		}
		copied = batch_bytes(c, b);
		refund(c, rate, planned > copied ? planned - copied : 0);
		if (read_batch(c, b, probe)) {
			queue_for_writer(w, b);
			continue;
		}
		release_batch(c, b);
		give_free_batch(w, b);
	}
	pthread_mutex_lock(&w->lock);
	w->reader_done = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static int worker_init(struct lc_clone *c, struct lc_hydrate_worker *w)
{
	size_t buf_size = (size_t)c->cfg.batch_regions * c->region_size;
	int r;

	w->clone = c;
	r = -pthread_mutex_init(&w->lock, NULL);
	if (r < 0)
		return r;
	r = -pthread_cond_init(&w->cond, NULL);
	if (r < 0) {
		(void)pthread_mutex_destroy(&w->lock);
		return r;
	}
	w->sync_ready = true;
	for (unsigned i = 0; i < 2; i++) {
		struct lc_hydrate_batch *b = &w->batches[i];

		b->holds = calloc(c->cfg.batch_regions, sizeof(*b->holds));
		if (!b->holds)
			return -ENOMEM;
		r = -posix_memalign(&b->buf, 4096, buf_size);
		if (r < 0) {
			b->buf = NULL;
			return r;
		}
		b->next = w->free_batches;
		w->free_batches = b;
	}
	return 0;
}

int lc_hydrate_start(struct lc_clone *c)
{
	int r;

	if (c->cfg.nr_workers == 0)
		return 0;
	c->workers = calloc(c->cfg.nr_workers, sizeof(*c->workers));
	if (!c->workers)
		return -ENOMEM;
	/* Each started worker counts, so that join() stops and frees it
	 * whatever failed after. */
	for (unsigned i = 0; i < c->cfg.nr_workers; i++) {
		struct lc_hydrate_worker *w = &c->workers[i];

		c->nr_workers_started++;
		r = worker_init(c, w);
		if (r < 0)
			return r;
		r = -pthread_create(&w->writer, NULL, writer_main, w);
		if (r < 0)
			return r;
		w->writer_started = true;
		r = -pthread_create(&w->reader, NULL, reader_main, w);
		if (r < 0)
			return r;
		w->reader_started = true;
	}
	return 0;
}

void lc_hydrate_join(struct lc_clone *c)
{
	if (!c->workers)
		return;
	for (unsigned i = 0; i < c->nr_workers_started; i++) {
		struct lc_hydrate_worker *w = &c->workers[i];

		if (w->reader_started) {
			(void)pthread_join(w->reader, NULL);
		} else if (w->sync_ready) {
			/* No reader: tell the writer there is nothing to come. */
			pthread_mutex_lock(&w->lock);
			w->reader_done = true;
			pthread_cond_broadcast(&w->cond);
			pthread_mutex_unlock(&w->lock);
		}
		if (w->writer_started)
			(void)pthread_join(w->writer, NULL);
		for (unsigned j = 0; j < 2; j++) {
			free(w->batches[j].buf);
			free(w->batches[j].holds);
		}
		if (w->sync_ready) {
			(void)pthread_cond_destroy(&w->cond);
			(void)pthread_mutex_destroy(&w->lock);
		}
	}
	free(c->workers);
	c->workers = NULL;
	c->nr_workers_started = 0;
}
