/* SPDX-License-Identifier: MIT */
/*
 * "volcache": an in-memory device with a volatile write cache, for tests.
 *
 * State:
 *   durable  - the medium, size_bytes long: what survives any power cut.
 *   pending  - the cache: writes and discards accepted since the last flush,
 *              in issue order. Each entry owns a copy of its data; a discard
 *              is an entry without data that reads as zeros.
 *
 * Operations:
 *   read       durable, then every overlapping pending entry applied oldest
 *              first (O(nr_pending) per read: only overlapping entries copy).
 *   write      appends an entry (the data is copied before the lock is taken).
 *   discard    appends a zero entry.
 *   flush      applies every entry to durable in order, empties the cache.
 *   power_cut  applies, in issue order, each 512-byte sector of each entry
 *              for which keep(opaque, idx, sector_nr) says so; then empties
 *              the cache. A sector only partly covered by an entry is kept or
 *              dropped as a unit, for the bytes that entry covers.
 *
 * Faults: one slot per operation kind (read, write, flush, discard); a new
 * lc_volcache_inject() for a kind replaces its slot. An operation that hits a
 * fault fails before touching any state and is not recorded. A flush covers
 * the whole device, so a flush fault matches whatever its range.
 *
 * Locking: one mutex per device protects everything in struct volcache below
 * it, including the recorder and the faults. The recorder and the keep
 * callback run under it; lock order is device lock, then whatever lock the
 * recorder takes (a recorder shared by several devices serialises them).
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <lunclone/backend.h>

#define NR_OPS (LC_VC_DISCARD + 1)

struct vc_entry {
	uint64_t offset_bytes;
	uint64_t len_bytes;
	uint8_t *data; /* len_bytes long, owned; NULL for a discard (zeros) */
};

struct vc_fault {
	uint64_t offset_bytes;
	uint64_t len_bytes; /* 0 = any range */
	int err;	    /* positive errno */
	int count;	    /* > 0 remaining, < 0 forever, 0 off */
};

struct volcache {
	struct lc_backend be; /* first: close() frees the whole object */

	/* Protects every field below. */
	pthread_mutex_t lock;
	uint8_t *durable;	  /* be.size_bytes long */
	struct vc_entry *pending; /* issue order, oldest first */
	size_t nr_pending;
	size_t cap_pending;
	lc_volcache_record_fn record;
	void *record_opaque;
	struct vc_fault faults[NR_OPS];
};

static const struct lc_backend_ops volcache_ops;

static struct volcache *to_vc(struct lc_backend *be)
{
	assert(be && be->ops == &volcache_ops);
	return (struct volcache *)be;
}

static bool overlaps(uint64_t a_off, uint64_t a_len, uint64_t b_off, uint64_t b_len)
{
	return a_off < b_off + b_len && b_off < a_off + a_len;
}

static int check_range(const struct volcache *vc, uint64_t offset_bytes, uint64_t len)
{
	if (offset_bytes > vc->be.size_bytes || len > vc->be.size_bytes - offset_bytes)
		return -EINVAL;
	return 0;
}

/* Returns -err and consumes one count when a fault for op covers the range. */
static int fault_hit_locked(struct volcache *vc, enum lc_volcache_op op, uint64_t offset_bytes,
			    uint64_t len)
{
	struct vc_fault *f = &vc->faults[op];

	if (f->count == 0)
		return 0;
	if (op != LC_VC_FLUSH && f->len_bytes != 0 &&
	    !overlaps(offset_bytes, len, f->offset_bytes, f->len_bytes))
		return 0;
	if (f->count > 0)
		f->count--;
	return -f->err;
}

/* Copies the part of e inside [lo, hi) of the device into dst (device offset lo). */
static void apply_clipped(uint8_t *dst, uint64_t lo, uint64_t hi, const struct vc_entry *e)
{
	uint64_t s = e->offset_bytes > lo ? e->offset_bytes : lo;
	uint64_t t = e->offset_bytes + e->len_bytes < hi ? e->offset_bytes + e->len_bytes : hi;

	if (s >= t)
		return;
	if (e->data)
		memcpy(dst + (s - lo), e->data + (s - e->offset_bytes), t - s);
	else
		memset(dst + (s - lo), 0, t - s);
}

static void free_pending_locked(struct volcache *vc)
{
	size_t i;

	for (i = 0; i < vc->nr_pending; i++)
		free(vc->pending[i].data);
	vc->nr_pending = 0;
}

static int append_locked(struct volcache *vc, uint64_t offset_bytes, uint64_t len, uint8_t *data)
{
	if (vc->nr_pending == vc->cap_pending) {
		size_t cap = vc->cap_pending ? vc->cap_pending * 2 : 64;
		struct vc_entry *p;

		if (cap > SIZE_MAX / sizeof(*p))
			return -ENOMEM;
		p = realloc(vc->pending, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		vc->pending = p;
		vc->cap_pending = cap;
	}
	vc->pending[vc->nr_pending++] = (struct vc_entry){
	    .offset_bytes = offset_bytes,
	    .len_bytes = len,
	    .data = data,
	};
	return 0;
}

static int vc_pread(struct lc_backend *be, void *buf, size_t len, uint64_t offset_bytes)
{
	struct volcache *vc = to_vc(be);
	size_t i;
	int r;

	r = check_range(vc, offset_bytes, len);
	if (r < 0 || len == 0)
		return r;
	pthread_mutex_lock(&vc->lock);
	r = fault_hit_locked(vc, LC_VC_READ, offset_bytes, len);
	if (r == 0) {
		memcpy(buf, vc->durable + offset_bytes, len);
		for (i = 0; i < vc->nr_pending; i++)
			apply_clipped(buf, offset_bytes, offset_bytes + len, &vc->pending[i]);
	}
	pthread_mutex_unlock(&vc->lock);
	return r;
}

/* data NULL: a discard. Takes ownership of copy (NULL for a discard). */
static int vc_queue(struct volcache *vc, enum lc_volcache_op op, uint64_t offset_bytes,
		    uint64_t len, uint8_t *copy, const void *data)
{
	int r;

	pthread_mutex_lock(&vc->lock);
	r = fault_hit_locked(vc, op, offset_bytes, len);
	if (r < 0)
		goto out_unlock;
	r = append_locked(vc, offset_bytes, len, copy);
	if (r < 0)
		goto out_unlock;
	copy = NULL; /* owned by the cache now */
	if (vc->record)
		vc->record(vc->record_opaque, &vc->be, op, offset_bytes, data, len);
out_unlock:
	pthread_mutex_unlock(&vc->lock);
	free(copy);
	return r;
}

static int vc_pwrite(struct lc_backend *be, const void *buf, size_t len, uint64_t offset_bytes)
{
	struct volcache *vc = to_vc(be);
	uint8_t *copy;
	int r;

	r = check_range(vc, offset_bytes, len);
	if (r < 0 || len == 0)
		return r;
	/* Copied outside the lock: readers need not wait for a memcpy. */
	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, len);
	return vc_queue(vc, LC_VC_WRITE, offset_bytes, len, copy, buf);
}

static int vc_discard(struct lc_backend *be, uint64_t offset_bytes, uint64_t len_bytes)
{
	struct volcache *vc = to_vc(be);
	int r;

	r = check_range(vc, offset_bytes, len_bytes);
	if (r < 0 || len_bytes == 0)
		return r;
	return vc_queue(vc, LC_VC_DISCARD, offset_bytes, len_bytes, NULL, NULL);
}

static int vc_flush(struct lc_backend *be)
{
	struct volcache *vc = to_vc(be);
	size_t i;
	int r;

	pthread_mutex_lock(&vc->lock);
	r = fault_hit_locked(vc, LC_VC_FLUSH, 0, vc->be.size_bytes);
	if (r == 0) {
		for (i = 0; i < vc->nr_pending; i++)
			apply_clipped(vc->durable, 0, vc->be.size_bytes, &vc->pending[i]);
		free_pending_locked(vc);
		if (vc->record)
			vc->record(vc->record_opaque, &vc->be, LC_VC_FLUSH, 0, NULL, 0);
	}
	pthread_mutex_unlock(&vc->lock);
	return r;
}

static void vc_close(struct lc_backend *be)
{
	struct volcache *vc;

	if (!be)
		return;
	vc = to_vc(be);
	free_pending_locked(vc); /* last reference: nobody else holds the lock */
	free(vc->pending);
	free(vc->durable);
	(void)pthread_mutex_destroy(&vc->lock);
	free(vc->be.uri);
	free(vc);
}

static const struct lc_backend_ops volcache_ops = {
    .name = "volcache",
    .pread = vc_pread,
    .pwrite = vc_pwrite,
    .flush = vc_flush,
    .discard = vc_discard,
    .close = vc_close,
};

/* A device with a zeroed, unlocked state; durable not yet allocated. */
static int vc_alloc(const char *name, uint64_t size_bytes, struct volcache **ret_vc)
{
	struct volcache *vc;
	int r;

	vc = calloc(1, sizeof(*vc));
	if (!vc)
		return -ENOMEM;
	vc->be.uri = strdup(name ? name : "volcache");
	if (!vc->be.uri) {
		r = -ENOMEM;
		goto out_free_vc;
	}
	r = -pthread_mutex_init(&vc->lock, NULL);
	if (r < 0)
		goto out_free_uri;
	vc->be.ops = &volcache_ops;
	vc->be.size_bytes = size_bytes;
	vc->be.logical_block_size = LC_SECTOR_SIZE;
	vc->be.read_only = false;
	vc->be.discard_zeroes = true;
	*ret_vc = vc;
	return 0;

out_free_uri:
	free(vc->be.uri);
out_free_vc:
	free(vc);
	return r;
}

int lc_volcache_new(const char *name, uint64_t size_bytes, const void *initial,
		    struct lc_backend **ret_be)
{
	struct volcache *vc;
	int r;

	if (size_bytes % LC_SECTOR_SIZE != 0)
		return -EINVAL;
	if (size_bytes > SIZE_MAX)
		return -ENOMEM;
	r = vc_alloc(name, size_bytes, &vc);
	if (r < 0)
		return r;
	/* calloc: a large zero device costs only the pages written. */
	vc->durable =
	    initial ? malloc(size_bytes ? size_bytes : 1) : calloc(size_bytes ? size_bytes : 1, 1);
	if (!vc->durable) {
		vc_close(&vc->be);
		return -ENOMEM;
	}
	if (initial)
		memcpy(vc->durable, initial, size_bytes);
	*ret_be = &vc->be;
	return 0;
}

int lc_volcache_clone(struct lc_backend *be, struct lc_backend **ret_be)
{
	struct volcache *src = to_vc(be);
	struct volcache *vc;
	size_t i;
	int r;

	r = vc_alloc(src->be.uri, src->be.size_bytes, &vc);
	if (r < 0)
		return r;
	pthread_mutex_lock(&src->lock);
	vc->durable = malloc(src->be.size_bytes ? src->be.size_bytes : 1);
	if (!vc->durable) {
		r = -ENOMEM;
		goto out_unlock;
	}
	memcpy(vc->durable, src->durable, src->be.size_bytes);
	for (i = 0; i < src->nr_pending; i++) {
		const struct vc_entry *e = &src->pending[i];
		uint8_t *copy = NULL;

		if (e->data) {
			copy = malloc(e->len_bytes);
			if (!copy) {
				r = -ENOMEM;
				goto out_unlock;
			}
			memcpy(copy, e->data, e->len_bytes);
		}
		r = append_locked(vc, e->offset_bytes, e->len_bytes, copy);
		if (r < 0) {
			free(copy);
			goto out_unlock;
		}
	}
	pthread_mutex_unlock(&src->lock);
	*ret_be = &vc->be;
	return 0;

out_unlock:
	pthread_mutex_unlock(&src->lock);
	vc_close(&vc->be);
	return r;
}

void lc_volcache_set_recorder(struct lc_backend *be, lc_volcache_record_fn fn, void *opaque)
{
	struct volcache *vc = to_vc(be);

	pthread_mutex_lock(&vc->lock);
	vc->record = fn;
	vc->record_opaque = opaque;
	pthread_mutex_unlock(&vc->lock);
}

void lc_volcache_power_cut(struct lc_backend *be, lc_volcache_keep_fn fn, void *opaque)
{
	struct volcache *vc = to_vc(be);
	size_t i;

	pthread_mutex_lock(&vc->lock);
	for (i = 0; fn && i < vc->nr_pending; i++) {
		const struct vc_entry *e = &vc->pending[i];
		uint64_t end = e->offset_bytes + e->len_bytes;
		uint64_t s;

		for (s = e->offset_bytes / LC_SECTOR_SIZE; s * LC_SECTOR_SIZE < end; s++) {
			uint64_t lo = s * LC_SECTOR_SIZE;

			if (fn(opaque, i, s))
				apply_clipped(vc->durable + lo, lo, lo + LC_SECTOR_SIZE, e);
		}
	}
	free_pending_locked(vc);
	pthread_mutex_unlock(&vc->lock);
}

size_t lc_volcache_nr_pending(struct lc_backend *be)
{
	struct volcache *vc = to_vc(be);
	size_t n;

	pthread_mutex_lock(&vc->lock);
	n = vc->nr_pending;
	pthread_mutex_unlock(&vc->lock);
	return n;
}

const uint8_t *lc_volcache_durable(struct lc_backend *be)
{
	/* The pointer never changes; the caller owns the timing of its use. */
	return to_vc(be)->durable;
}

void lc_volcache_inject(struct lc_backend *be, enum lc_volcache_op op, uint64_t offset_bytes,
			uint64_t len_bytes, int err, int count)
{
	struct volcache *vc = to_vc(be);

	assert((unsigned)op < NR_OPS);
	/* err is a positive errno; a negative one is taken to mean the same. */
	assert(count == 0 || err != 0);
	pthread_mutex_lock(&vc->lock);
	vc->faults[op] = (struct vc_fault){
	    .offset_bytes = offset_bytes,
	    .len_bytes = len_bytes,
	    .err = err < 0 ? -err : err,
	    .count = count,
	};
	pthread_mutex_unlock(&vc->lock);
}
