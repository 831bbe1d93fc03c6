/* SPDX-License-Identifier: MIT */
/*
 * The I/O map: where each user request goes.
 *
 * A request is cut at region boundaries into runs of regions in the same
 * state. Runs of hydrated regions go to the destination in one call. For
 * unhydrated regions:
 *   read     -> the source (or, with copy-on-read, the region is copied to the
 *               destination first when nobody else holds it);
 *   write    -> region held; if it covers the whole region it is written as is,
 *               else the region is read from the source, overlaid and written
 *               whole; then marked hydrated (in core; a commit makes it durable);
 *   discard  -> passed down where hydrated; whole unhydrated regions are
 *               marked hydrated without copying and discarded; parts of
 *               unhydrated regions are written with zeros (the region copied
 *               first) when the destination's discards read back as zeros,
 *               so the whole range does, else left alone.
 * A region is marked only after its data write completed, so a commit, which
 * flushes the destination before writing the bitmap, never vouches for data
 * that is not durable. Hydrated regions never go back, so I/O to them takes
 * no hold at all. Once hydration is complete the bitmap is not consulted:
 * a request costs one atomic load and the destination call, nothing else.
 *
 * User I/O during hydration is counted (user_inflight, last_user_io_ns) so
 * hydration can yield.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clone_priv.h"
#include "util/clock.h"

/* Largest zero buffer a discard allocates to write zeros. */
#define ZERO_CHUNK_BYTES (1u << 20)

/*
 * Hydration yields while user I/O is in flight or ended less than a window
 * ago: the count covers the first, the time of the last end the second, so
 * the clock is read once per request (a system call where there is no vDSO,
 * as in User-Mode-Linux guests).
 */
static void user_io_begin(struct lc_clone *c)
{
	atomic_fetch_add(&c->user_inflight, 1);
}

static void user_io_end(struct lc_clone *c)
{
	atomic_store(&c->last_user_io_ns, lc_now_ns());
	atomic_fetch_sub(&c->user_inflight, 1);
}

/* Status counters only: nothing is ordered by them. */
static void count_io(atomic_uint_fast64_t *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

static bool is_complete(struct lc_clone *c)
{
	return atomic_load(&c->complete);
}

/* Last region of the run of regions in the same state as first, within
 * [first, last_region]. */
static uint64_t run_end(struct lc_clone *c, uint64_t first, uint64_t last_region, bool hydrated)
{
	uint64_t r = first;

	while (r < last_region && lc_meta_is_hydrated(c->meta, r + 1) == hydrated)
		r++;
	return r;
}

static int mark_hydrated(struct lc_clone *c, uint64_t region_nr)
{
	int64_t n = lc_meta_set_hydrated(c->meta, region_nr, 1);

	if (n < 0)
		return (int)n;
	lc_clone_note_marked(c, n);
	return 0;
}

/* Reads [off, off + len) of unhydrated regions from the source. */
static int read_source(struct lc_clone *c, void *buf, size_t len, uint64_t off)
{
	struct lc_backend *src = lc_clone_src_get(c);
	int r;

	if (!src) /* completed meanwhile: everything is on the destination */
		return lc_backend_pread(c->dst, buf, len, off);
	r = lc_backend_pread(src, buf, len, off);
	lc_clone_src_put(c);
	return r;
}

/*
 * Copy-on-read of one region, serving [off, off + len) from the copy. Returns
 * 1 when it did not copy (held elsewhere, no buffer free, already hydrated):
 * the caller then reads as usual.
 */
static int copy_on_read(struct lc_clone *c, uint64_t region_nr, void *buf, size_t len,
			uint64_t off)
{
	struct lc_region_hold hold;
	uint64_t start = lc_clone_region_start(c, region_nr);
	uint64_t rlen = lc_clone_region_len(c, region_nr);
	void *copy;
	int r;

	if (lc_meta_mode(c->meta) != LC_META_MODE_WRITE)
		return 1;
	if (!lc_region_trylock(&c->locks, &hold, region_nr))
		return 1;
	copy = lc_bufpool_tryget(&c->pool);
	if (!copy || lc_meta_is_hydrated(c->meta, region_nr)) {
		r = 1;
		goto out_unlock;
	}
	r = read_source(c, copy, rlen, start);
	if (r < 0)
		goto out_unlock;
	memcpy(buf, (char *)copy + (off - start), len);
	/* The user has the data; failing to keep a copy only costs a retry. */
	if (lc_backend_pwrite(c->dst, copy, rlen, start) == 0)
		(void)mark_hydrated(c, region_nr);
out_unlock:
	if (copy)
		lc_bufpool_put(&c->pool, copy);
	lc_region_unlock(&c->locks, &hold);
	return r;
}

static int read_unhydrated(struct lc_clone *c, char *buf, uint64_t first, uint64_t last,
			   uint64_t off, uint64_t end)
{
	if (!c->cfg.copy_on_read)
		return read_source(c, buf, end - off, off);
	for (uint64_t rn = first; rn <= last; rn++) {
		uint64_t seg_end = lc_clone_region_start(c, rn) + lc_clone_region_len(c, rn);
		int r;

		if (seg_end > end)
			seg_end = end;
		r = copy_on_read(c, rn, buf, seg_end - off, off);
		if (r == 1)
			r = read_source(c, buf, seg_end - off, off);
		if (r < 0)
			return r;
		buf += seg_end - off;
		off = seg_end;
	}
	return 0;
}

int lc_iomap_read(struct lc_clone *c, void *buf, size_t len, uint64_t offset_bytes)
{
	uint64_t off = offset_bytes, end = offset_bytes + len;
	char *p = buf;
	int r = 0;

	if (len == 0)
		return 0;
	if (end < off || end > c->size_bytes)
		return -EINVAL;
	count_io(&c->user_reads);
	/* Nothing to hydrate, so nothing to yield to: pass-through. */
	if (is_complete(c))
		return lc_backend_pread(c->dst, buf, len, offset_bytes);
	user_io_begin(c);
	while (off < end) {
		uint64_t first = lc_clone_region_of(c, off);
		uint64_t last_region = lc_clone_region_of(c, end - 1);
		bool hydrated = lc_meta_is_hydrated(c->meta, first);
		uint64_t last = run_end(c, first, last_region, hydrated);
		uint64_t seg_end = lc_clone_region_start(c, last) + lc_clone_region_len(c, last);

		if (seg_end > end)
			seg_end = end;
		if (hydrated)
			r = lc_backend_pread(c->dst, p, seg_end - off, off);
		else
			r = read_unhydrated(c, p, first, last, off, seg_end);
		if (r < 0)
			break;
		p += seg_end - off;
		off = seg_end;
	}
	user_io_end(c);
	return r;
}

/* Writes [off, off + len) inside unhydrated region region_nr. */
static int write_unhydrated(struct lc_clone *c, uint64_t region_nr, const void *buf, size_t len,
			    uint64_t off)
{
	struct lc_region_hold hold;
	uint64_t start = lc_clone_region_start(c, region_nr);
	uint64_t rlen = lc_clone_region_len(c, region_nr);
	void *copy;
	int r;

	/* Writing the destination of a region we cannot mark would be lost. */
	if (lc_meta_mode(c->meta) != LC_META_MODE_WRITE)
		return -EROFS;
	lc_region_lock(&c->locks, &hold, region_nr);
	if (lc_meta_is_hydrated(c->meta, region_nr)) {
		/* Hydrated while we waited: an ordinary write now. */
		r = lc_backend_pwrite(c->dst, buf, len, off);
		goto out_unlock;
	}
	if (off == start && len == rlen) {
		r = lc_backend_pwrite(c->dst, buf, len, off);
	} else {
		copy = lc_bufpool_get(&c->pool);
		r = read_source(c, copy, rlen, start);
		if (r == 0) {
			memcpy((char *)copy + (off - start), buf, len);
			r = lc_backend_pwrite(c->dst, copy, rlen, start);
		}
		lc_bufpool_put(&c->pool, copy);
	}
	if (r == 0)
		r = mark_hydrated(c, region_nr);
out_unlock:
	lc_region_unlock(&c->locks, &hold);
	return r;
}

int lc_iomap_write(struct lc_clone *c, const void *buf, size_t len, uint64_t offset_bytes)
{
	uint64_t off = offset_bytes, end = offset_bytes + len;
	const char *p = buf;
	int r = 0;

	if (len == 0)
		return 0;
	if (end < off || end > c->size_bytes)
		return -EINVAL;
	count_io(&c->user_writes);
	if (is_complete(c))
		return lc_backend_pwrite(c->dst, buf, len, offset_bytes);
	user_io_begin(c);
	while (off < end) {
		uint64_t first = lc_clone_region_of(c, off);
		uint64_t last_region = lc_clone_region_of(c, end - 1);
		uint64_t last, seg_end;

		if (lc_meta_is_hydrated(c->meta, first)) {
			last = run_end(c, first, last_region, true);
			seg_end = lc_clone_region_start(c, last) + lc_clone_region_len(c, last);
			if (seg_end > end)
				seg_end = end;
			r = lc_backend_pwrite(c->dst, p, seg_end - off, off);
		} else {
			/* One region at a time: a held region is never waited for
			 * while another is held, so holds cannot deadlock. */
			seg_end = lc_clone_region_start(c, first) + lc_clone_region_len(c, first);
			if (seg_end > end)
				seg_end = end;
			r = write_unhydrated(c, first, p, seg_end - off, off);
		}
		if (r < 0)
			break;
		p += seg_end - off;
		off = seg_end;
	}
	user_io_end(c);
	return r;
}

/* Writes zeros over [off, off + len) of the destination, a MiB at a time. */
static int write_zeroes_dst(struct lc_clone *c, uint64_t off, uint64_t len)
{
	size_t chunk = len < ZERO_CHUNK_BYTES ? (size_t)len : ZERO_CHUNK_BYTES;
	void *zero;
	int r = 0;

	/* Aligned: the destination may be open with O_DIRECT. */
	if (posix_memalign(&zero, 4096, chunk) != 0)
		return -ENOMEM;
	memset(zero, 0, chunk);
	while (len > 0 && r == 0) {
		size_t n = len < chunk ? (size_t)len : chunk;

		r = lc_backend_pwrite(c->dst, zero, n, off);
		off += n;
		len -= n;
	}
	free(zero);
	return r;
}

/*
 * Discards [off, off + len) of the destination. A destination that promises
 * zeros after a discard (discard_zeroes) but turns out not to support it gets
 * zeros written instead, so the promise we pass on to initiators (LBPRZ)
 * holds; for the others a discard they do not support is simply not done.
 */
static int discard_dst(struct lc_clone *c, uint64_t off, uint64_t len)
{
	int r = lc_backend_discard(c->dst, off, len);

	if (r != -EOPNOTSUPP)
		return r;
	return c->dst->discard_zeroes ? write_zeroes_dst(c, off, len) : 0;
}

/* A whole unhydrated region: marked hydrated without copying. */
static int discard_unhydrated_region(struct lc_clone *c, uint64_t region_nr)
{
	struct lc_region_hold hold;
	int r;

	lc_region_lock(&c->locks, &hold, region_nr);
	r = discard_dst(c, lc_clone_region_start(c, region_nr), lc_clone_region_len(c, region_nr));
	if (r == 0 && !lc_meta_is_hydrated(c->meta, region_nr))
		r = mark_hydrated(c, region_nr);
	lc_region_unlock(&c->locks, &hold);
	return r;
}

/* Part of an unhydrated region: where discards read back as zeros, the part
 * is written with zeros (copying the region), so that it reads back as zeros
 * like every other discarded range; elsewhere it is left as it is. */
static int discard_unhydrated_part(struct lc_clone *c, uint64_t region_nr, uint64_t off,
				   uint64_t len)
{
	void *zero;
	int r;

	if (!c->dst->discard_zeroes)
		return 0;
	zero = calloc(1, len);
	if (!zero)
		return -ENOMEM;
	r = write_unhydrated(c, region_nr, zero, len, off);
	free(zero);
	return r;
}

int lc_iomap_discard(struct lc_clone *c, uint64_t offset_bytes, uint64_t len_bytes)
{
	uint64_t off = offset_bytes, end = offset_bytes + len_bytes;
	int r = 0;

	if (len_bytes == 0)
		return 0;
	if (end < offset_bytes || end > c->size_bytes)
		return -EINVAL;
	if (is_complete(c))
		return discard_dst(c, offset_bytes, len_bytes);
	user_io_begin(c);
	while (off < end && r == 0) {
		uint64_t first = lc_clone_region_of(c, off);
		uint64_t start = lc_clone_region_start(c, first);
		uint64_t seg_end = start + lc_clone_region_len(c, first);

		if (lc_meta_is_hydrated(c->meta, first)) {
			uint64_t last = run_end(c, first, lc_clone_region_of(c, end - 1), true);

			seg_end = lc_clone_region_start(c, last) + lc_clone_region_len(c, last);
			if (seg_end > end)
				seg_end = end;
			r = discard_dst(c, off, seg_end - off);
		} else if (lc_meta_mode(c->meta) != LC_META_MODE_WRITE) {
			r = -EROFS;
		} else if (off == start && seg_end <= end) {
			r = discard_unhydrated_region(c, first);
		} else {
			if (seg_end > end)
				seg_end = end;
			r = discard_unhydrated_part(c, first, off, seg_end - off);
		}
		off = seg_end;
	}
	user_io_end(c);
	return r;
}
