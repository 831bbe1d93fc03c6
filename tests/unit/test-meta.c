/* SPDX-License-Identifier: MIT */
/*
 * The metadata store: format, open, commit order, crash consistency, checks
 * of every superblock defect, failure modes, group commit.
 *
 * Devices are volcache models (lc_volcache_new). A crash is a copy of the
 * metadata device (lc_volcache_clone) power-cut with a chosen subset of its
 * pending sectors, opened read-only. The commit order is observed through
 * one recorder shared by the metadata and destination devices.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <lunclone/backend.h>
#include <lunclone/bitmap.h>
#include <lunclone/err.h>
#include <lunclone/meta.h>

#include "meta_format.h"
#include "util/crc32c.h"

#define BS LC_META_BLOCK_SIZE
#define BITS_PER_BLOCK LC_META_BITS_PER_BLOCK

/* --- devices --- */

struct store {
	struct lc_backend *mdev;
	struct lc_backend *dest;
	struct lc_meta_params params;
};

/* Formats a store; the destination device is tiny: the store only flushes it. */
static void store_setup(struct store *st, uint32_t region_size, uint64_t source_size)
{
	struct lc_err err = {{0}};

	memset(st, 0, sizeof(*st));
	st->params.region_size_bytes = region_size;
	st->params.source_size_bytes = source_size;
	st->params.dest_size_bytes = source_size + 8192;
	memcpy(st->params.source_id, "naa.6001405abcdef", 17);
	st->params.source_id_len = 17;
	assert_int_equal(lc_volcache_new("meta", lc_meta_required_size(region_size, source_size),
					 NULL, &st->mdev),
			 0);
	assert_int_equal(lc_volcache_new("dest", 4096, NULL, &st->dest), 0);
	assert_int_equal(lc_meta_format(st->mdev, &st->params, &err), 0);
}

static void store_teardown(struct store *st)
{
	lc_backend_close(st->mdev);
	lc_backend_close(st->dest);
}

static struct lc_meta *open_rw(struct store *st)
{
	struct lc_err err = {{0}};
	struct lc_meta *m = NULL;
	int r = lc_meta_open(st->mdev, st->dest, &st->params, 0, &m, &err);

	if (r < 0)
		fail_msg("open: %s", err.msg);
	return m;
}

/* A read-only open of be; NULL (and the message in err) on failure. */
static struct lc_meta *open_ro(struct lc_backend *be, struct lc_err *err, int *ret_r)
{
	struct lc_meta *m = NULL;
	int r = lc_meta_open(be, NULL, NULL, LC_META_OPEN_RDONLY, &m, err);

	if (ret_r)
		*ret_r = r;
	return r < 0 ? NULL : m;
}

/* What survives a power cut now, keeping nothing of the cache. */
static struct lc_backend *crash_copy(struct lc_backend *mdev)
{
	struct lc_backend *copy = NULL;

	assert_int_equal(lc_volcache_clone(mdev, &copy), 0);
	lc_volcache_power_cut(copy, NULL, NULL);
	return copy;
}

static void read_block(struct lc_backend *be, uint64_t blk, uint8_t *buf)
{
	assert_int_equal(lc_backend_pread(be, buf, BS, blk * BS), 0);
}

static void write_block(struct lc_backend *be, uint64_t blk, const uint8_t *buf)
{
	assert_int_equal(lc_backend_pwrite(be, buf, BS, blk * BS), 0);
	assert_int_equal(lc_backend_flush(be), 0);
}

/* Rewrites slot's superblock after edit(), with a correct checksum. */
static void sb_fix_crc(uint8_t *blk)
{
	uint32_t crc = 0;

	memcpy(blk + offsetof(struct lc_meta_sb_disk, sb_crc), &crc, 4);
	crc = htole32(lc_crc32c(0, blk, BS));
	memcpy(blk + offsetof(struct lc_meta_sb_disk, sb_crc), &crc, 4);
}

static uint64_t sb_generation(const uint8_t *blk)
{
	uint64_t g;

	memcpy(&g, blk + offsetof(struct lc_meta_sb_disk, generation), 8);
	return le64toh(g);
}

/* Slot holding the newest generation on disk. */
static unsigned newest_slot(struct lc_backend *mdev)
{
	uint8_t b0[BS], b1[BS];

	read_block(mdev, 0, b0);
	read_block(mdev, 1, b1);
	return sb_generation(b1) > sb_generation(b0) ? 1 : 0;
}

/* Recomputes bitmap_crc of the copy slot uses (after editing the copy). */
static void refresh_bitmap_crc(struct lc_backend *mdev, unsigned slot)
{
	uint8_t sb[BS], blk[BS];
	struct lc_meta_sb_disk d;
	uint32_t crc = 0, le;

	read_block(mdev, slot, sb);
	memcpy(&d, sb, sizeof(d));
	for (uint64_t i = 0; i < le64toh(d.bitmap_blocks); i++) {
		read_block(mdev, le64toh(d.bitmap_start) + i, blk);
		le = htole32(lc_crc32c(0, blk, BS));
		crc = lc_crc32c(crc, &le, 4);
	}
	d.bitmap_crc = htole32(crc);
	memcpy(sb, &d, sizeof(d));
	sb_fix_crc(sb);
	write_block(mdev, slot, sb);
}

/* --- recorder: one log for both devices --- */

struct rec_entry {
	struct lc_backend *be;
	enum lc_volcache_op op;
	uint64_t offset;
	uint64_t len;
	uint8_t *data;
};

struct recorder {
	pthread_mutex_t lock;
	struct rec_entry *e;
	size_t n, cap;
	/* Hook: at the next dest flush, mark this region (a set racing the flush). */
	struct lc_meta *meta;
	struct lc_backend *dest;
	uint64_t set_on_flush;
	bool armed;
};

static void record(void *opaque, struct lc_backend *be, enum lc_volcache_op op, uint64_t off,
		   const void *data, uint64_t len)
{
	struct recorder *rec = opaque;

	pthread_mutex_lock(&rec->lock);
	if (rec->n == rec->cap) {
		rec->cap = rec->cap ? 2 * rec->cap : 64;
		rec->e = realloc(rec->e, rec->cap * sizeof(*rec->e));
		assert_non_null(rec->e);
	}
	rec->e[rec->n] = (struct rec_entry){.be = be, .op = op, .offset = off, .len = len};
	if (data) {
		rec->e[rec->n].data = malloc(len);
		assert_non_null(rec->e[rec->n].data);
		memcpy(rec->e[rec->n].data, data, len);
	}
	rec->n++;
	if (rec->armed && be == rec->dest && op == LC_VC_FLUSH) {
		rec->armed = false;
		assert_int_equal(lc_meta_set_hydrated(rec->meta, rec->set_on_flush, 1), 1);
	}
	pthread_mutex_unlock(&rec->lock);
}

static void rec_clear(struct recorder *rec)
{
	pthread_mutex_lock(&rec->lock);
	for (size_t i = 0; i < rec->n; i++)
		free(rec->e[i].data);
	rec->n = 0;
	pthread_mutex_unlock(&rec->lock);
}

static void rec_init(struct recorder *rec, struct store *st)
{
	memset(rec, 0, sizeof(*rec));
	assert_int_equal(pthread_mutex_init(&rec->lock, NULL), 0);
	rec->dest = st->dest;
	lc_volcache_set_recorder(st->mdev, record, rec);
	lc_volcache_set_recorder(st->dest, record, rec);
}

static void rec_destroy(struct recorder *rec, struct store *st)
{
	lc_volcache_set_recorder(st->mdev, NULL, NULL);
	lc_volcache_set_recorder(st->dest, NULL, NULL);
	rec_clear(rec);
	free(rec->e);
	(void)pthread_mutex_destroy(&rec->lock);
}

/* --- format and open --- */

static void test_format_open_roundtrip(void **state)
{
	struct lc_err err = {{0}};
	struct lc_meta_info info;
	struct lc_backend *crashed;
	struct lc_meta *m;
	struct store st;
	uint8_t zero[16] = {0}, uuid1[16];

	store_setup(&st, 65536, 100ull << 20);
	m = open_ro(st.mdev, &err, NULL);
	assert_non_null(m);
	lc_meta_get_info(m, &info);
	assert_int_equal(info.version, 1);
	assert_int_equal(info.region_size_bytes, 65536);
	assert_int_equal(info.source_size_bytes, 100ull << 20);
	assert_int_equal(info.dest_size_bytes, (100ull << 20) + 8192);
	assert_int_equal(info.nr_regions, 1600);
	assert_int_equal(info.nr_hydrated, 0);
	assert_int_equal(info.generation, 1);
	assert_true(info.clean);
	assert_int_equal(info.source_id_len, 17);
	assert_memory_equal(info.source_id, "naa.6001405abcdef", 17);
	assert_memory_not_equal(info.uuid, zero, 16);
	assert_int_equal(info.uuid[6] >> 4, 4); /* version 4 uuid */
	memcpy(uuid1, info.uuid, 16);
	assert_int_equal(lc_meta_nr_regions(m), 1600);
	assert_int_equal(lc_meta_region_size(m), 65536);
	assert_int_equal(lc_meta_region_shift(m), 16);
	assert_int_equal(lc_meta_mode(m), LC_META_MODE_READ_ONLY);
	assert_int_equal(lc_meta_next_unhydrated(m, 0), 0);
	assert_int_equal(lc_meta_bitmap(m)->nr_bits, 1600);
	assert_int_equal(lc_meta_close(m), 0);

	/* Writable: found clean, the open commit makes it dirty on disk. */
	m = open_rw(&st);
	lc_meta_get_info(m, &info);
	assert_true(info.clean);
	assert_int_equal(info.generation, 2);
	assert_int_equal(lc_meta_mode(m), LC_META_MODE_WRITE);
	crashed = crash_copy(st.mdev);
	assert_int_equal(lc_meta_close(m), 0);

	/* The copy taken while in use says dirty; after close, clean again. */
	m = open_ro(crashed, &err, NULL);
	assert_non_null(m);
	lc_meta_get_info(m, &info);
	assert_false(info.clean);
	assert_int_equal(info.generation, 2);
	lc_meta_close(m);
	lc_backend_close(crashed);
	m = open_ro(st.mdev, &err, NULL);
	lc_meta_get_info(m, &info);
	assert_true(info.clean);
	assert_int_equal(info.generation, 3);
	lc_meta_close(m);

	/* A new format generates a new uuid; a given one is kept. */
	assert_int_equal(lc_meta_format(st.mdev, &st.params, &err), 0);
	m = open_ro(st.mdev, &err, NULL);
	lc_meta_get_info(m, &info);
	assert_memory_not_equal(info.uuid, uuid1, 16);
	lc_meta_close(m);
	memset(st.params.uuid, 0xab, 16);
	assert_int_equal(lc_meta_format(st.mdev, &st.params, &err), 0);
	m = open_ro(st.mdev, &err, NULL);
	lc_meta_get_info(m, &info);
	assert_memory_equal(info.uuid, st.params.uuid, 16);
	lc_meta_close(m);
	store_teardown(&st);
}

static void test_set_commit_reopen(void **state)
{
	struct lc_err err = {{0}};
	struct lc_backend *crashed;
	struct lc_meta *m, *m2;
	struct store st;

	store_setup(&st, 4096, 4096ull * 100000); /* 4 bitmap blocks */
	m = open_rw(&st);
	assert_int_equal(lc_meta_set_hydrated(m, 10, 5), 5);
	assert_int_equal(lc_meta_set_hydrated(m, 12, 5), 2);
	assert_int_equal(lc_meta_set_hydrated(m, 70000, 1), 1);
	assert_int_equal(lc_meta_set_hydrated(m, 99999, 1), 1);
	assert_int_equal(lc_meta_set_hydrated(m, 0, 0), 0);
	assert_int_equal(lc_meta_set_hydrated(m, 99999, 2), -EINVAL);
	assert_int_equal(lc_meta_nr_hydrated(m), 9);
	assert_true(lc_meta_is_hydrated(m, 16));
	assert_false(lc_meta_is_hydrated(m, 17));
	assert_false(lc_meta_is_hydrated(m, 100000));
	assert_int_equal(lc_meta_next_unhydrated(m, 10), 17);

	/* Not committed yet: a crash loses the marks. */
	crashed = crash_copy(st.mdev);
	m2 = open_ro(crashed, &err, NULL);
	assert_non_null(m2);
	assert_int_equal(lc_meta_nr_hydrated(m2), 0);
	lc_meta_close(m2);
	lc_backend_close(crashed);

	assert_int_equal(lc_meta_commit(m), 0);
	crashed = crash_copy(st.mdev);
	m2 = open_ro(crashed, &err, NULL);
	assert_non_null(m2);
	assert_int_equal(lc_meta_nr_hydrated(m2), 9);
	for (uint64_t r = 10; r < 17; r++)
		assert_true(lc_meta_is_hydrated(m2, r));
	assert_true(lc_meta_is_hydrated(m2, 70000));
	assert_true(lc_meta_is_hydrated(m2, 99999));
	assert_false(lc_meta_is_hydrated(m2, 9));
	lc_meta_close(m2);
	lc_backend_close(crashed);

	/* A second commit into the other copy keeps everything too. */
	assert_int_equal(lc_meta_set_hydrated(m, 40000, 3), 3);
	assert_int_equal(lc_meta_commit(m), 0);
	assert_int_equal(lc_meta_close(m), 0);
	m = open_rw(&st);
	assert_int_equal(lc_meta_nr_hydrated(m), 12);
	assert_true(lc_meta_is_hydrated(m, 40002));
	assert_true(lc_meta_is_hydrated(m, 99999));
	assert_int_equal(lc_meta_close(m), 0);
	store_teardown(&st);
}

static void test_partial_last_region(void **state)
{
	struct lc_err err = {{0}};
	struct lc_meta *m;
	struct store st;

	store_setup(&st, 4096, 10 * 4096 + 1024);
	m = open_rw(&st);
	assert_int_equal(lc_meta_nr_regions(m), 11);
	assert_int_equal(lc_meta_set_hydrated(m, 10, 2), -EINVAL);
	assert_int_equal(lc_meta_set_hydrated(m, 10, 1), 1);
	assert_int_equal(lc_meta_set_hydrated(m, 0, 10), 10);
	assert_int_equal(lc_meta_next_unhydrated(m, 0), 11);
	assert_int_equal(lc_meta_close(m), 0);
	m = open_ro(st.mdev, &err, NULL);
	assert_non_null(m);
	assert_int_equal(lc_meta_nr_hydrated(m), 11);
	assert_true(lc_meta_is_hydrated(m, 10));
	assert_int_equal(lc_meta_next_unhydrated(m, 0), 11);
	lc_meta_close(m);
	store_teardown(&st);
}

static void test_required_size(void **state)
{
	/* Source 0 needs only the superblocks; region 0 is nonsense. */
	assert_int_equal(lc_meta_required_size(4096, 0), 2 * BS);
	assert_int_equal(lc_meta_required_size(0, 4096), 0);
	assert_int_equal(lc_meta_required_size(4096, 4096), 4 * BS);
	assert_int_equal(lc_meta_required_size(4096, 4096ull * BITS_PER_BLOCK), 4 * BS);
	assert_int_equal(lc_meta_required_size(4096, 4096ull * BITS_PER_BLOCK + 512), 6 * BS);
	/* 1 PiB in 64 KiB regions: 2^34 regions (> 2^32), 2^19 blocks per copy. */
	assert_int_equal(lc_meta_required_size(65536, 1ull << 50), (2 + (2ull << 19)) * BS);
	/* 2^63 bytes in 512-byte regions: 2^54 regions, 2^39 blocks per copy. */
	assert_int_equal(lc_meta_required_size(512, 1ull << 63), (2 + (2ull << 39)) * BS);
	/* The largest source, rounded up: 2^34 regions of 1 GiB. */
	assert_int_equal(lc_meta_required_size(LC_REGION_SIZE_MAX, UINT64_MAX - 511),
			 (2 + (2ull << 19)) * BS);
	/* One region past a 2^32 boundary. */
	assert_int_equal(lc_meta_required_size(512, ((1ull << 32) + 1) * 512),
			 (2 + 2 * ((1ull << 32) / BITS_PER_BLOCK + 1)) * BS);
}

static void test_format_param_errors(void **state)
{
	struct lc_meta_params p = {
	    .region_size_bytes = 4096,
	    .source_size_bytes = 1 << 20,
	    .dest_size_bytes = 1 << 20,
	};
	struct lc_err err = {{0}};
	struct lc_meta_params q;
	struct lc_backend *mdev, *small;

	assert_int_equal(lc_volcache_new("meta", 1 << 20, NULL, &mdev), 0);
	assert_int_equal(lc_volcache_new("small", 3 * BS, NULL, &small), 0);

	q = p;
	q.region_size_bytes = 3000;
	assert_int_equal(lc_meta_format(mdev, &q, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "region_size: 3000 is not a power of two"));
	q.region_size_bytes = 256;
	assert_int_equal(lc_meta_format(mdev, &q, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "region_size: 256 is out of range"));
	q.region_size_bytes = 1u << 31;
	assert_int_equal(lc_meta_format(mdev, &q, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "region_size"));
	q = p;
	q.source_size_bytes = 0;
	assert_int_equal(lc_meta_format(mdev, &q, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "source_size: must not be 0"));
	q.source_size_bytes = 1000;
	q.dest_size_bytes = 1000;
	assert_int_equal(lc_meta_format(mdev, &q, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "source_size: 1000 is not a multiple of 512"));
	q = p;
	q.dest_size_bytes = p.source_size_bytes - 512;
	assert_int_equal(lc_meta_format(mdev, &q, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "destination is smaller than source"));
	q = p;
	q.source_id_len = LC_META_SOURCE_ID_MAX + 1;
	assert_int_equal(lc_meta_format(mdev, &q, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "source_id_len"));
	assert_int_equal(lc_meta_format(small, &p, &err), -EINVAL);
	assert_string_equal(err.msg, "metadata device: needs 16384 bytes, has 12288");
	/* Nothing written by the refusals. */
	assert_int_equal(lc_volcache_nr_pending(mdev), 0);
	for (size_t i = 0; i < 1 << 20; i++)
		if (lc_volcache_durable(mdev)[i])
			fail_msg("byte %zu written", i);
	/* And a metadata device too small for its superblock refuses to open. */
	{
		struct lc_meta *m = NULL;
		struct lc_backend *tiny;

		assert_int_equal(lc_volcache_new("tiny", 4096, NULL, &tiny), 0);
		assert_int_equal(lc_meta_open(tiny, NULL, NULL, LC_META_OPEN_RDONLY, &m, &err),
				 -EINVAL);
		assert_non_null(strstr(err.msg, "metadata device: needs at least 8192"));
		assert_null(m);
		lc_backend_close(tiny);
	}
	lc_backend_close(mdev);
	lc_backend_close(small);
}

/* --- the commit order --- */

static bool is_op(const struct rec_entry *e, struct lc_backend *be, enum lc_volcache_op op)
{
	return e->be == be && e->op == op;
}

static void test_commit_order(void **state)
{
	struct recorder rec;
	struct lc_meta *m;
	struct store st;
	uint64_t nr_blocks = 4, copy_start, g;
	struct lc_meta_info info;

	store_setup(&st, 4096, 4096ull * 100000); /* 4 bitmap blocks */
	rec_init(&rec, &st);
	m = open_rw(&st);
	/* The open commit already flushed dest before writing metadata. */
	assert_true(rec.n >= 5);
	assert_true(is_op(&rec.e[0], st.dest, LC_VC_FLUSH));

	for (int round = 0; round < 3; round++) {
		lc_meta_get_info(m, &info);
		g = info.generation + 1;
		copy_start = LC_META_BITMAP_FIRST_BLOCK + (g % 2) * nr_blocks;
		rec_clear(&rec);
		/* Blocks 0 and 2: two runs, two bitmap writes. */
		assert_true(lc_meta_set_hydrated(m, 5 + round, 1) == 1);
		assert_true(lc_meta_set_hydrated(m, 2 * BITS_PER_BLOCK + round, 1) == 1);
		assert_int_equal(lc_meta_commit(m), 0);

		assert_int_equal(rec.n, 6);
		assert_true(is_op(&rec.e[0], st.dest, LC_VC_FLUSH));
		assert_true(is_op(&rec.e[1], st.mdev, LC_VC_WRITE));
		assert_int_equal(rec.e[1].offset, copy_start * BS);
		assert_int_equal(rec.e[1].len, BS);
		assert_true(is_op(&rec.e[2], st.mdev, LC_VC_WRITE));
		assert_int_equal(rec.e[2].offset, (copy_start + 2) * BS);
		assert_true(is_op(&rec.e[3], st.mdev, LC_VC_FLUSH));
		assert_true(is_op(&rec.e[4], st.mdev, LC_VC_WRITE));
		assert_int_equal(rec.e[4].offset, (g % 2) * BS);
		assert_int_equal(rec.e[4].len, BS);
		assert_true(is_op(&rec.e[5], st.mdev, LC_VC_FLUSH));
		lc_meta_get_info(m, &info);
		assert_int_equal(info.generation, g);
	}

	/* Close: the clean flag alone still goes through dest flush first. */
	rec_clear(&rec);
	assert_int_equal(lc_meta_close(m), 0);
	assert_true(rec.n >= 3);
	assert_true(is_op(&rec.e[0], st.dest, LC_VC_FLUSH));
	for (size_t i = 1; i < rec.n; i++)
		assert_ptr_equal(rec.e[i].be, st.mdev);
	assert_true(is_op(&rec.e[rec.n - 1], st.mdev, LC_VC_FLUSH));
	rec_destroy(&rec, &st);
	store_teardown(&st);
}

static void test_commit_nothing_dirty_flushes_dest(void **state)
{
	struct lc_meta_info info;
	struct recorder rec;
	struct lc_meta *m;
	struct store st;

	store_setup(&st, 4096, 4096ull * 1000);
	rec_init(&rec, &st);
	m = open_rw(&st);
	assert_int_equal(lc_meta_set_hydrated(m, 1, 1), 1);
	assert_int_equal(lc_meta_commit(m), 0);
	lc_meta_get_info(m, &info);
	for (int i = 0; i < 3; i++) {
		struct lc_meta_info now;

		rec_clear(&rec);
		assert_int_equal(lc_meta_commit(m), 0);
		assert_int_equal(rec.n, 1);
		assert_true(is_op(&rec.e[0], st.dest, LC_VC_FLUSH));
		lc_meta_get_info(m, &now);
		assert_int_equal(now.generation, info.generation);
	}
	/* Re-marking a hydrated region changes nothing new but still commits
	 * safely (the marks are conservative). */
	rec_clear(&rec);
	assert_int_equal(lc_meta_set_hydrated(m, 1, 1), 0);
	assert_int_equal(lc_meta_commit(m), 0);
	assert_true(is_op(&rec.e[0], st.dest, LC_VC_FLUSH));
	assert_int_equal(lc_meta_close(m), 0);
	rec_destroy(&rec, &st);
	store_teardown(&st);
}

/*
 * A mark that lands while the destination flush runs (its data may have
 * completed after the flush started) must not reach this commit's bitmap: the
 * snapshot is taken before the flush. The next commit carries it.
 */
static void test_mark_during_dest_flush_waits_for_next_commit(void **state)
{
	struct lc_err err = {{0}};
	struct lc_backend *crashed;
	struct recorder rec;
	struct lc_meta *m, *m2;
	struct store st;

	store_setup(&st, 4096, 4096ull * 1000);
	rec_init(&rec, &st);
	m = open_rw(&st);
	assert_int_equal(lc_meta_set_hydrated(m, 3, 1), 1);
	pthread_mutex_lock(&rec.lock);
	rec.meta = m;
	rec.set_on_flush = 4; /* same bitmap block, same word as region 3 */
	rec.armed = true;
	pthread_mutex_unlock(&rec.lock);
	assert_int_equal(lc_meta_commit(m), 0);
	assert_false(rec.armed);
	assert_true(lc_meta_is_hydrated(m, 4));

	crashed = crash_copy(st.mdev);
	m2 = open_ro(crashed, &err, NULL);
	assert_non_null(m2);
	assert_true(lc_meta_is_hydrated(m2, 3));
	assert_false(lc_meta_is_hydrated(m2, 4));
	lc_meta_close(m2);
	lc_backend_close(crashed);

	assert_int_equal(lc_meta_commit(m), 0);
	crashed = crash_copy(st.mdev);
	m2 = open_ro(crashed, &err, NULL);
	assert_true(lc_meta_is_hydrated(m2, 4));
	lc_meta_close(m2);
	lc_backend_close(crashed);
	assert_int_equal(lc_meta_close(m), 0);
	rec_destroy(&rec, &st);
	store_teardown(&st);
}

/*
 * More dirty blocks than the I/O buffer holds: chunks. A chunk snapshotted
 * after a mark that began since the last destination flush gets another
 * destination flush first; without such a mark, one flush is enough.
 */
static void test_chunked_commit_reflushes_dest(void **state)
{
	const uint64_t nr_blocks = 70;
	struct lc_err err = {{0}};
	struct lc_backend *crashed;
	struct recorder rec;
	struct lc_meta *m, *m2;
	struct store st;
	size_t dest_flushes;

	store_setup(&st, 512, 512ull * BITS_PER_BLOCK * nr_blocks);
	rec_init(&rec, &st);
	m = open_rw(&st);

	for (int with_race = 0; with_race < 2; with_race++) {
		for (uint64_t b = 0; b < nr_blocks; b++)
			assert_int_equal(
			    lc_meta_set_hydrated(m, b * BITS_PER_BLOCK + 10 + with_race, 1), 1);
		rec_clear(&rec);
		pthread_mutex_lock(&rec.lock);
		rec.meta = m;
		rec.set_on_flush = (nr_blocks - 1) * BITS_PER_BLOCK + 100 + with_race;
		rec.armed = with_race;
		pthread_mutex_unlock(&rec.lock);
		assert_int_equal(lc_meta_commit(m), 0);

		dest_flushes = 0;
		for (size_t i = 0; i < rec.n; i++) {
			if (is_op(&rec.e[i], st.dest, LC_VC_FLUSH)) {
				dest_flushes++;
				continue;
			}
			/* Every metadata op comes after the first dest flush. */
			assert_true(dest_flushes > 0);
		}
		assert_int_equal(dest_flushes, with_race ? 2 : 1);
		assert_true(is_op(&rec.e[0], st.dest, LC_VC_FLUSH));
		crashed = crash_copy(st.mdev);
		m2 = open_ro(crashed, &err, NULL);
		assert_non_null(m2);
		for (uint64_t b = 0; b < nr_blocks; b++)
			assert_true(lc_meta_is_hydrated(m2, b * BITS_PER_BLOCK + 10 + with_race));
		/* The racing mark was flushed for before its chunk: durable. */
		if (with_race)
			assert_true(lc_meta_is_hydrated(m2, rec.set_on_flush));
		lc_meta_close(m2);
		lc_backend_close(crashed);
	}
	assert_int_equal(lc_meta_close(m), 0);
	rec_destroy(&rec, &st);
	store_teardown(&st);
}

/* --- crashes --- */

struct keep_spec {
	const char *name;
	int kind; /* 0 none, 1 all, 2 even, 3 odd, 4 random, 5 oldest writes, 6 sector 0 of block */
	uint64_t seed;
	uint64_t limit;
};

static bool keep_fn(void *opaque, uint64_t write_idx, uint64_t sector_nr)
{
	struct keep_spec *k = opaque;

	switch (k->kind) {
	case 1:
		return true;
	case 2:
		return sector_nr % 2 == 0;
	case 3:
		return sector_nr % 2 == 1;
	case 4:
		k->seed ^= k->seed << 13;
		k->seed ^= k->seed >> 7;
		k->seed ^= k->seed << 17;
		return k->seed & 1;
	case 5:
		return write_idx < k->limit;
	case 6:
		return sector_nr % (BS / LC_SECTOR_SIZE) == 0;
	default:
		return false;
	}
}

static const struct keep_spec keep_variants[] = {
    {"none", 0, 0, 0},
    {"all", 1, 0, 0},
    {"even", 2, 0, 0},
    {"odd", 3, 0, 0},
    {"random1", 4, 0x9e3779b97f4a7c15ull, 0},
    {"random2", 4, 12345, 0},
    {"random3", 4, 0xdeadbeef, 0},
    {"oldest1", 5, 0, 1},
    {"oldest2", 5, 0, 2},
    {"sector0", 6, 0, 0},
};

/* Replays entries [0, k) of the metadata ops onto a copy of base, power-cuts. */
static struct lc_backend *crash_at(struct lc_backend *base, const struct recorder *rec,
				   struct lc_backend *mdev, size_t k, const struct keep_spec *spec)
{
	struct keep_spec ks = *spec;
	struct lc_backend *copy = NULL;

	assert_int_equal(lc_volcache_clone(base, &copy), 0);
	for (size_t i = 0; i < k; i++) {
		const struct rec_entry *e = &rec->e[i];

		if (e->be != mdev)
			continue;
		if (e->op == LC_VC_WRITE)
			assert_int_equal(lc_backend_pwrite(copy, e->data, e->len, e->offset), 0);
		else if (e->op == LC_VC_FLUSH)
			assert_int_equal(lc_backend_flush(copy), 0);
	}
	lc_volcache_power_cut(copy, ks.kind ? keep_fn : NULL, &ks);
	return copy;
}

/*
 * Every crash point of every metadata op of a commit: the store opens, holds
 * every region durable before the commit and none that was not being
 * committed. Also reopens some writable (recovery) and checks a commit and
 * close from there keep exactly what was found.
 */
static size_t check_crash_points(struct lc_backend *base, const struct recorder *rec,
				 struct lc_backend *mdev, const bool *before, const bool *after,
				 uint64_t nr_regions, uint64_t gen_before)
{
	size_t points = 0;

	for (size_t k = 0; k <= rec->n; k++) {
		for (size_t v = 0; v < sizeof(keep_variants) / sizeof(keep_variants[0]); v++) {
			struct lc_err err = {{0}};
			struct lc_meta_info info;
			struct lc_backend *copy = crash_at(base, rec, mdev, k, &keep_variants[v]);
			struct lc_meta *m;
			int r;

			m = open_ro(copy, &err, &r);
			if (!m)
				fail_msg("crash at op %zu/%zu (%s): open: %s", k, rec->n,
					 keep_variants[v].name, err.msg);
			lc_meta_get_info(m, &info);
			assert_true(info.generation == gen_before ||
				    info.generation == gen_before + 1);
			if (k == rec->n)
				assert_int_equal(info.generation, gen_before + 1);
			for (uint64_t i = 0; i < nr_regions; i++) {
				bool h = lc_meta_is_hydrated(m, i);

				if (before[i] && !h)
					fail_msg("crash at op %zu (%s): region %" PRIu64 " lost", k,
						 keep_variants[v].name, i);
				if (h && !after[i])
					fail_msg("crash at op %zu (%s): region %" PRIu64
						 " marked, never committed",
						 k, keep_variants[v].name, i);
			}
			if (v % 3 == 0) {
				/* Recovery: a writable open rewrites the stale copy. */
				uint64_t found = lc_meta_nr_hydrated(m);
				struct lc_backend *dest = NULL;
				struct lc_meta *w = NULL;

				lc_meta_close(m);
				assert_int_equal(lc_volcache_new("d", 4096, NULL, &dest), 0);
				assert_int_equal(lc_meta_open(copy, dest, NULL, 0, &w, &err), 0);
				assert_int_equal(lc_meta_commit(w), 0);
				assert_int_equal(lc_meta_close(w), 0);
				m = open_ro(copy, &err, NULL);
				assert_non_null(m);
				assert_int_equal(lc_meta_nr_hydrated(m), found);
				for (uint64_t i = 0; i < nr_regions; i++)
					if (before[i])
						assert_true(lc_meta_is_hydrated(m, i));
				lc_backend_close(dest);
			}
			lc_meta_close(m);
			lc_backend_close(copy);
			points++;
		}
	}
	return points;
}

static void test_exhaustive_crash_points(void **state)
{
	const uint64_t nr_regions = 4 * BITS_PER_BLOCK - 100; /* 4 blocks, partial last */
	bool *before = calloc(nr_regions, 1), *after = calloc(nr_regions, 1);
	struct lc_meta_info info;
	struct lc_backend *base;
	struct recorder rec;
	struct lc_meta *m;
	struct store st;
	size_t points = 0;
	/* Per round: regions to mark (first, nr). */
	static const uint64_t marks[][3][2] = {
	    {{0, 1}, {2 * BITS_PER_BLOCK + 5, 70}, {0, 0}},
	    {{100, 1}, {BITS_PER_BLOCK - 3, 10}, {3 * BITS_PER_BLOCK, 64}},
	    {{7, 1}, {0, 0}, {0, 0}},
	    {{0, 2 * BITS_PER_BLOCK}, {4 * BITS_PER_BLOCK - 101, 1}, {0, 0}},
	};

	assert_non_null(before);
	assert_non_null(after);
	store_setup(&st, 512, 512 * nr_regions);
	rec_init(&rec, &st);

	/* The open commit: rewrites the whole stale copy, marks in use. */
	base = crash_copy(st.mdev);
	m = open_rw(&st);
	points += check_crash_points(base, &rec, st.mdev, before, after, nr_regions, 1);
	lc_backend_close(base);

	for (size_t round = 0; round <= sizeof(marks) / sizeof(marks[0]); round++) {
		bool closing = round == sizeof(marks) / sizeof(marks[0]);

		assert_int_equal(lc_volcache_nr_pending(st.mdev), 0);
		base = crash_copy(st.mdev);
		lc_meta_get_info(m, &info);
		if (!closing) {
			for (int j = 0; j < 3; j++) {
				uint64_t f = marks[round][j][0], n = marks[round][j][1];

				assert_true(lc_meta_set_hydrated(m, f, n) >= 0);
				for (uint64_t i = f; i < f + n; i++)
					after[i] = true;
			}
		}
		rec_clear(&rec);
		if (closing) {
			assert_int_equal(lc_meta_close(m), 0);
			m = NULL;
		} else {
			assert_int_equal(lc_meta_commit(m), 0);
		}
		points += check_crash_points(base, &rec, st.mdev, before, after, nr_regions,
					     info.generation);
		memcpy(before, after, nr_regions);
		lc_backend_close(base);
	}
	print_message("crash points checked: %zu\n", points);
	assert_true(points >= 300);
	rec_destroy(&rec, &st);
	store_teardown(&st);
	free(before);
	free(after);
}

/* A superblock write torn across its sectors, before the final flush. */
static void test_torn_superblock(void **state)
{
	struct lc_err err = {{0}};
	struct lc_meta_info info, now;
	struct lc_backend *base, *copy;
	struct recorder rec;
	struct lc_meta *m, *m2;
	struct store st;
	size_t sb_write;

	store_setup(&st, 4096, 4096ull * 1000);
	rec_init(&rec, &st);
	m = open_rw(&st);
	assert_int_equal(lc_meta_set_hydrated(m, 1, 1), 1);
	assert_int_equal(lc_meta_commit(m), 0);
	lc_meta_get_info(m, &info);
	base = crash_copy(st.mdev);
	assert_int_equal(lc_meta_set_hydrated(m, 2, 1), 1);
	rec_clear(&rec);
	assert_int_equal(lc_meta_commit(m), 0);
	/* dest flush, bitmap write, flush, superblock write, flush */
	assert_int_equal(rec.n, 5);
	sb_write = 3;
	assert_true(is_op(&rec.e[sb_write], st.mdev, LC_VC_WRITE));

	/* Only sectors 1..7 of the superblock: the old one's tail (zeros) and
	 * the old head: the previous generation, without region 2. */
	{
		struct keep_spec odd = {"odd", 3, 0, 0};

		copy = crash_at(base, &rec, st.mdev, sb_write + 1, &odd);
		m2 = open_ro(copy, &err, NULL);
		assert_non_null(m2);
		lc_meta_get_info(m2, &now);
		assert_int_equal(now.generation, info.generation);
		assert_true(lc_meta_is_hydrated(m2, 1));
		assert_false(lc_meta_is_hydrated(m2, 2));
		lc_meta_close(m2);
		lc_backend_close(copy);
	}
	/* Sector 0 alone carries the whole new superblock: the bitmap it
	 * points to was flushed before, so the new generation is complete. */
	{
		struct keep_spec s0 = {"sector0", 6, 0, 0};

		copy = crash_at(base, &rec, st.mdev, sb_write + 1, &s0);
		m2 = open_ro(copy, &err, NULL);
		assert_non_null(m2);
		lc_meta_get_info(m2, &now);
		assert_int_equal(now.generation, info.generation + 1);
		assert_true(lc_meta_is_hydrated(m2, 2));
		lc_meta_close(m2);
		lc_backend_close(copy);
	}
	lc_backend_close(base);

	/* The metadata flush after the bitmap write fails, so the superblock
	 * is never written: whatever survives of the cache, the old
	 * generation opens, without the new mark. */
	for (int v = 0; v < 4; v++) {
		struct keep_spec ks = keep_variants[v];

		assert_int_equal(lc_meta_set_hydrated(m, 10 + v, 1), 1);
		lc_meta_get_info(m, &info);
		lc_volcache_inject(st.mdev, LC_VC_FLUSH, 0, 0, EIO, 1);
		assert_int_equal(lc_meta_commit(m), -EIO);
		assert_int_equal(lc_meta_mode(m), LC_META_MODE_READ_ONLY);
		assert_int_equal(lc_meta_failed_device(m), LC_META_DEV_STORE);
		copy = NULL;
		assert_int_equal(lc_volcache_clone(st.mdev, &copy), 0);
		lc_volcache_power_cut(copy, ks.kind ? keep_fn : NULL, &ks);
		m2 = open_ro(copy, &err, NULL);
		assert_non_null(m2);
		lc_meta_get_info(m2, &now);
		assert_int_equal(now.generation, info.generation);
		assert_false(lc_meta_is_hydrated(m2, 10 + v));
		lc_meta_close(m2);
		lc_backend_close(copy);
		assert_int_equal(lc_meta_close(m), -EIO);
		lc_volcache_power_cut(st.mdev, ks.kind ? keep_fn : NULL, &ks);
		m = open_rw(&st);
	}
	assert_int_equal(lc_meta_close(m), 0);
	rec_destroy(&rec, &st);
	store_teardown(&st);
}

/* --- superblock checks --- */

enum corruption {
	C_MAGIC,
	C_CRC,
	C_VERSION,
	C_LOCATION,
	C_REGION_SIZE,
	C_NR_REGIONS,
	C_BITMAP_START,
	C_DEST_SMALLER,
	C_FLAGS,
	C_RESERVED,
	C_BITMAP,
};

static const char *const corruption_msg[] = {
    [C_MAGIC] = "bad magic",
    [C_CRC] = "checksum mismatch",
    [C_VERSION] = "unsupported version 2",
    [C_LOCATION] = "location",
    [C_REGION_SIZE] = "region_size 3000 is not a power of two",
    [C_NR_REGIONS] = "nr_regions",
    [C_BITMAP_START] = "bitmap_start",
    [C_DEST_SMALLER] = "dest_size: destination is smaller than source",
    [C_FLAGS] = "unknown flags",
    [C_RESERVED] = "reserved bytes not zero",
    [C_BITMAP] = "checksum mismatch",
};

static void corrupt(struct lc_backend *mdev, unsigned slot, enum corruption c)
{
	uint8_t blk[BS];
	struct lc_meta_sb_disk d;

	read_block(mdev, slot, blk);
	memcpy(&d, blk, sizeof(d));
	switch (c) {
	case C_MAGIC:
		d.magic[0] ^= 0xff;
		break;
	case C_CRC:
		d.source_id[200] ^= 1;
		break;
	case C_VERSION:
		d.version = htole32(2);
		break;
	case C_LOCATION:
		d.location = htole64(7);
		break;
	case C_REGION_SIZE:
		d.region_size = htole32(3000);
		break;
	case C_NR_REGIONS:
		d.nr_regions = htole64(le64toh(d.nr_regions) + 1);
		break;
	case C_BITMAP_START:
		d.bitmap_start = htole64(le64toh(d.bitmap_start) + 1);
		break;
	case C_DEST_SMALLER:
		d.dest_size = htole64(le64toh(d.source_size) - 512);
		break;
	case C_FLAGS:
		d.flags = htole32(le32toh(d.flags) | 0x80);
		break;
	case C_RESERVED:
		blk[BS - 1] = 1;
		break;
	case C_BITMAP: {
		uint8_t b[BS];

		read_block(mdev, le64toh(d.bitmap_start), b);
		b[17] ^= 0x10;
		write_block(mdev, le64toh(d.bitmap_start), b);
		return;
	}
	}
	memcpy(blk, &d, sizeof(d));
	if (c != C_CRC && c != C_MAGIC)
		sb_fix_crc(blk);
	write_block(mdev, slot, blk);
}

/* Format, use, commit, close: generations 3 (slot 1) and 4 (slot 0) on
 * disk, both with regions 5 and 6. */
static void used_store(struct store *st)
{
	struct lc_meta *m;

	store_setup(st, 4096, 4096ull * 1000);
	m = open_rw(st);
	assert_int_equal(lc_meta_set_hydrated(m, 5, 2), 2);
	assert_int_equal(lc_meta_commit(m), 0);
	assert_int_equal(lc_meta_close(m), 0);
}

static void test_corrupt_one_slot_falls_back(void **state)
{
	for (int c = C_MAGIC; c <= C_BITMAP; c++) {
		for (int newest = 0; newest < 2; newest++) {
			struct lc_err err = {{0}};
			struct lc_meta_info info;
			struct lc_meta *m;
			struct store st;
			unsigned slot;

			used_store(&st);
			slot = newest ? newest_slot(st.mdev) : 1 - newest_slot(st.mdev);
			corrupt(st.mdev, slot, (enum corruption)c);
			m = open_ro(st.mdev, &err, NULL);
			if (!m)
				fail_msg("corruption %d: %s", c, err.msg);
			lc_meta_get_info(m, &info);
			assert_int_equal(info.generation, newest ? 3 : 4);
			assert_true(lc_meta_is_hydrated(m, 5));
			assert_true(lc_meta_is_hydrated(m, 6));
			lc_meta_close(m);
			/* A writable open recovers: both slots valid again. */
			m = open_rw(&st);
			assert_int_equal(lc_meta_close(m), 0);
			corrupt(st.mdev, newest_slot(st.mdev), C_CRC);
			m = open_ro(st.mdev, &err, NULL);
			assert_non_null(m);
			assert_true(lc_meta_is_hydrated(m, 6));
			lc_meta_close(m);
			store_teardown(&st);
		}
	}
}

static void test_both_slots_corrupt(void **state)
{
	struct lc_err err = {{0}};
	struct lc_meta *m = NULL;
	struct store st;
	char want[160];

	used_store(&st);
	corrupt(st.mdev, 0, C_MAGIC);
	corrupt(st.mdev, 1, C_MAGIC);
	assert_int_equal(lc_meta_open(st.mdev, NULL, NULL, LC_META_OPEN_RDONLY, &m, &err), -EINVAL);
	assert_null(m);
	assert_string_equal(err.msg, "not a lunclone metadata store (bad magic)");
	store_teardown(&st);

	/* Each pair of defects: the message names both, slot by slot. */
	for (int c0 = C_MAGIC; c0 <= C_BITMAP; c0++) {
		for (int c1 = C_CRC; c1 <= C_BITMAP; c1 += 3) {
			used_store(&st);
			corrupt(st.mdev, 0, (enum corruption)c0);
			corrupt(st.mdev, 1, (enum corruption)c1);
			assert_int_equal(
			    lc_meta_open(st.mdev, st.dest, NULL, LC_META_OPEN_RDONLY, &m, &err),
			    -EINVAL);
			assert_null(m);
			snprintf(want, sizeof(want), "superblock 0: %s", corruption_msg[c0]);
			if (c0 == C_BITMAP)
				snprintf(want, sizeof(want), "bitmap copy 0 checksum mismatch");
			if (!strstr(err.msg, want))
				fail_msg("got '%s', want '%s'", err.msg, want);
			snprintf(want, sizeof(want), "superblock 1: %s", corruption_msg[c1]);
			if (c1 == C_BITMAP)
				snprintf(want, sizeof(want),
					 "superblock 1: bitmap copy 1 checksum mismatch");
			if (!strstr(err.msg, want))
				fail_msg("got '%s', want '%s'", err.msg, want);
			/* A writable open refuses too and writes nothing. */
			assert_int_equal(lc_meta_open(st.mdev, st.dest, NULL, 0, &m, &err),
					 -EINVAL);
			assert_int_equal(lc_volcache_nr_pending(st.mdev), 0);
			store_teardown(&st);
		}
	}

	/* The example of the design: crc on one side, bitmap on the other. */
	used_store(&st);
	corrupt(st.mdev, 0, C_CRC);
	corrupt(st.mdev, 1, C_BITMAP);
	assert_int_equal(lc_meta_open(st.mdev, NULL, NULL, LC_META_OPEN_RDONLY, &m, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "superblock 0: checksum mismatch; superblock 1: bitmap copy 1 checksum "
			    "mismatch");
	store_teardown(&st);

	/* A metadata device shrunk under the store. */
	used_store(&st);
	{
		struct lc_backend *small = NULL;
		uint8_t *img = malloc(3 * BS);

		assert_non_null(img);
		assert_int_equal(lc_backend_pread(st.mdev, img, 3 * BS, 0), 0);
		assert_int_equal(lc_volcache_new("small", 3 * BS, img, &small), 0);
		assert_int_equal(lc_meta_open(small, NULL, NULL, LC_META_OPEN_RDONLY, &m, &err),
				 -EINVAL);
		assert_non_null(strstr(err.msg, "metadata device: needs 16384 bytes, has 12288"));
		lc_backend_close(small);
		free(img);
	}
	store_teardown(&st);
}

static void test_bits_past_end(void **state)
{
	struct lc_err err = {{0}};
	struct lc_meta_info info;
	struct lc_meta *m = NULL;
	struct store st;
	uint8_t blk[BS], sb[BS];
	struct lc_meta_sb_disk d;

	for (int both = 0; both < 2; both++) {
		store_setup(&st, 4096, 4096ull * 100); /* regions 0..99 */
		m = open_rw(&st);
		assert_int_equal(lc_meta_set_hydrated(m, 99, 1), 1);
		assert_int_equal(lc_meta_commit(m), 0); /* generation 3 */
		assert_int_equal(lc_meta_close(m), 0);	/* generation 4 */
		for (unsigned slot = 0; slot < 2; slot++) {
			if (!both && slot != newest_slot(st.mdev))
				continue;
			read_block(st.mdev, slot, sb);
			memcpy(&d, sb, sizeof(d));
			read_block(st.mdev, le64toh(d.bitmap_start), blk);
			assert_int_equal(blk[12] & 0x08, 0x08); /* region 99 */
			blk[12] |= 0x10;			/* region 100: past the end */
			write_block(st.mdev, le64toh(d.bitmap_start), blk);
			refresh_bitmap_crc(st.mdev, slot);
		}
		m = NULL;
		if (both) {
			assert_int_equal(
			    lc_meta_open(st.mdev, NULL, NULL, LC_META_OPEN_RDONLY, &m, &err),
			    -EINVAL);
			assert_non_null(strstr(err.msg, "bitmap: bits set past the last region"));
			assert_non_null(strstr(err.msg, "superblock 0: "));
			assert_non_null(strstr(err.msg, "superblock 1: "));
		} else {
			m = open_ro(st.mdev, &err, NULL);
			assert_non_null(m);
			lc_meta_get_info(m, &info);
			assert_int_equal(info.generation, 3);
			assert_int_equal(lc_meta_nr_hydrated(m), 1);
			lc_meta_close(m);
		}
		store_teardown(&st);
	}
}

static void test_expect_mismatch(void **state)
{
	struct lc_err err = {{0}};
	struct lc_meta_params e;
	struct lc_meta *m = NULL;
	struct store st;

	store_setup(&st, 65536, 1 << 20);
	e = (struct lc_meta_params){.region_size_bytes = 4096};
	assert_int_equal(lc_meta_open(st.mdev, st.dest, &e, 0, &m, &err), -EINVAL);
	assert_string_equal(err.msg, "region_size: store has 65536, device expects 4096");
	e = (struct lc_meta_params){.source_size_bytes = 2 << 20};
	assert_int_equal(lc_meta_open(st.mdev, st.dest, &e, LC_META_OPEN_RDONLY, &m, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "source_size: store has 1048576, device expects 2097152");
	e = (struct lc_meta_params){.dest_size_bytes = 1 << 20};
	assert_int_equal(lc_meta_open(st.mdev, st.dest, &e, 0, &m, &err), -EINVAL);
	assert_string_equal(err.msg, "dest_size: store has 1056768, device expects 1048576");
	assert_null(m);
	/* Nothing written by the refusals. */
	assert_int_equal(lc_volcache_nr_pending(st.mdev), 0);
	/* All fields right, or zero (not checked). */
	e = st.params;
	assert_int_equal(lc_meta_open(st.mdev, st.dest, &e, 0, &m, &err), 0);
	assert_int_equal(lc_meta_close(m), 0);
	e = (struct lc_meta_params){0};
	assert_int_equal(lc_meta_open(st.mdev, st.dest, &e, 0, &m, &err), 0);
	assert_int_equal(lc_meta_close(m), 0);
	/* Unknown flags, and a writable open without its destination. */
	assert_int_equal(lc_meta_open(st.mdev, st.dest, NULL, 0x100, &m, &err), -EINVAL);
	assert_int_equal(lc_meta_open(st.mdev, NULL, NULL, 0, &m, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "destination"));
	store_teardown(&st);
}

/* The source identity: compared when both the store and the caller have one. */
static void test_expect_source_id(void **state)
{
	struct lc_err err = {{0}};
	struct lc_meta_params e;
	struct lc_meta *m = NULL;
	struct store st;

	(void)state;
	store_setup(&st, 65536, 1 << 20); /* id "naa.6001405abcdef" */
	e = st.params;
	e.source_id[16] = 'e'; /* same length, last byte differs */
	assert_int_equal(lc_meta_open(st.mdev, st.dest, &e, 0, &m, &err), -EINVAL);
	assert_string_equal(err.msg, "source_id: store was formatted for source "
				     "6e61612e363030313430356162636465..., this source is "
				     "6e61612e363030313430356162636465... (wrong LUN?)");
	e = st.params;
	e.source_id_len = 16; /* a prefix is not the same identity */
	assert_int_equal(lc_meta_open(st.mdev, st.dest, &e, LC_META_OPEN_RDONLY, &m, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "wrong LUN?"));
	assert_null(m);
	assert_int_equal(lc_volcache_nr_pending(st.mdev), 0);
	/* A caller whose source cannot tell (a file) is not refused. */
	e = st.params;
	e.source_id_len = 0;
	assert_int_equal(lc_meta_open(st.mdev, st.dest, &e, 0, &m, &err), 0);
	assert_int_equal(lc_meta_close(m), 0);
	store_teardown(&st);

	/* Nor is a store formatted without one (before identities, or from a
	 * file): there is nothing to compare. */
	memset(&st, 0, sizeof(st));
	st.params.region_size_bytes = 65536;
	st.params.source_size_bytes = 1 << 20;
	st.params.dest_size_bytes = 1 << 20;
	assert_int_equal(
	    lc_volcache_new("meta", lc_meta_required_size(65536, 1 << 20), NULL, &st.mdev), 0);
	assert_int_equal(lc_volcache_new("dest", 4096, NULL, &st.dest), 0);
	assert_int_equal(lc_meta_format(st.mdev, &st.params, &err), 0);
	e = st.params;
	memcpy(e.source_id, "\x01\x03\x00\x08\x60\x01\x40\x50\x00\x00\x00\x01", 12);
	e.source_id_len = 12;
	assert_int_equal(lc_meta_open(st.mdev, st.dest, &e, 0, &m, &err), 0);
	assert_int_equal(lc_meta_close(m), 0);
	store_teardown(&st);
}

/* --- failure modes --- */

static void test_dest_flush_failure(void **state)
{
	struct lc_err err = {{0}};
	struct lc_meta_info info, now;
	struct lc_meta *m, *m2;
	struct store st;
	uint64_t size;
	uint8_t *before;

	store_setup(&st, 4096, 4096ull * 1000);
	size = st.mdev->size_bytes;
	m = open_rw(&st);
	assert_int_equal(lc_meta_set_hydrated(m, 1, 1), 1);
	assert_int_equal(lc_meta_commit(m), 0);
	lc_meta_get_info(m, &info);
	assert_int_equal(lc_meta_set_hydrated(m, 2, 1), 1);
	before = malloc(size);
	assert_non_null(before);
	memcpy(before, lc_volcache_durable(st.mdev), size);

	assert_int_equal(lc_meta_failed_device(m), LC_META_DEV_NONE);
	lc_volcache_inject(st.dest, LC_VC_FLUSH, 0, 0, EIO, 1);
	assert_int_equal(lc_meta_commit(m), -EIO);
	assert_int_equal(lc_meta_mode(m), LC_META_MODE_READ_ONLY);
	/* Status names the device that failed. */
	assert_int_equal(lc_meta_failed_device(m), LC_META_DEV_DEST);
	assert_string_equal(lc_meta_device_name(lc_meta_failed_device(m)), "destination");
	/* Nothing reached the metadata device, not even its cache. */
	assert_int_equal(lc_volcache_nr_pending(st.mdev), 0);
	assert_memory_equal(lc_volcache_durable(st.mdev), before, size);
	/* Marks refused, lookups still work, no way back. */
	assert_int_equal(lc_meta_set_hydrated(m, 3, 1), -EROFS);
	assert_true(lc_meta_is_hydrated(m, 2));
	assert_false(lc_meta_is_hydrated(m, 3));
	assert_int_equal(lc_meta_commit(m), -EROFS);
	assert_int_equal(lc_meta_mode(m), LC_META_MODE_READ_ONLY);
	lc_meta_get_info(m, &now);
	assert_int_equal(now.generation, info.generation);
	/* Close does not commit; it returns the failure. */
	assert_int_equal(lc_meta_close(m), -EIO);
	assert_int_equal(lc_volcache_nr_pending(st.mdev), 0);
	assert_memory_equal(lc_volcache_durable(st.mdev), before, size);
	m2 = open_ro(st.mdev, &err, NULL);
	assert_non_null(m2);
	assert_true(lc_meta_is_hydrated(m2, 1));
	assert_false(lc_meta_is_hydrated(m2, 2));
	lc_meta_close(m2);
	free(before);
	store_teardown(&st);
}

static void test_meta_write_failure(void **state)
{
	struct lc_err err = {{0}};
	struct lc_meta *m, *m2;
	struct store st;

	store_setup(&st, 4096, 4096ull * 1000);
	m = open_rw(&st);
	assert_int_equal(lc_meta_set_hydrated(m, 1, 1), 1);
	lc_volcache_inject(st.mdev, LC_VC_WRITE, 0, 0, EIO, 1);
	assert_int_equal(lc_meta_commit(m), -EIO);
	assert_int_equal(lc_meta_mode(m), LC_META_MODE_READ_ONLY);
	assert_int_equal(lc_meta_failed_device(m), LC_META_DEV_STORE);
	assert_string_equal(lc_meta_device_name(lc_meta_failed_device(m)), "metadata");
	assert_int_equal(lc_meta_set_hydrated(m, 2, 1), -EROFS);
	assert_int_equal(lc_meta_commit(m), -EROFS);
	/* Later refusals do not change who failed. */
	assert_int_equal(lc_meta_failed_device(m), LC_META_DEV_STORE);
	assert_int_equal(lc_meta_close(m), -EIO);
	lc_volcache_power_cut(st.mdev, NULL, NULL);
	m2 = open_ro(st.mdev, &err, NULL);
	assert_non_null(m2);
	assert_false(lc_meta_is_hydrated(m2, 1));
	lc_meta_close(m2);

	/* The superblock write fails (the bitmap write went through). */
	m = open_rw(&st);
	assert_int_equal(lc_meta_set_hydrated(m, 1, 1), 1);
	lc_volcache_inject(st.mdev, LC_VC_WRITE, 0, 2 * BS, ENOSPC, 1);
	assert_int_equal(lc_meta_commit(m), -ENOSPC);
	assert_int_equal(lc_meta_close(m), -ENOSPC);

	/* A writable open whose commit fails returns the error, no store. */
	m = NULL;
	lc_volcache_inject(st.dest, LC_VC_FLUSH, 0, 0, EIO, 1);
	assert_int_equal(lc_meta_open(st.mdev, st.dest, NULL, 0, &m, &err), -EIO);
	assert_null(m);
	assert_non_null(strstr(err.msg, "commit"));
	store_teardown(&st);
}

static void test_rdonly_writes_nothing(void **state)
{
	struct lc_err err = {{0}};
	struct lc_meta_info info;
	struct recorder rec;
	struct lc_meta *m;
	struct store st;

	used_store(&st);
	rec_init(&rec, &st);
	assert_int_equal(lc_meta_open(st.mdev, NULL, &st.params, LC_META_OPEN_RDONLY, &m, &err), 0);
	assert_int_equal(lc_meta_mode(m), LC_META_MODE_READ_ONLY);
	assert_true(lc_meta_is_hydrated(m, 5));
	assert_int_equal(lc_meta_next_unhydrated(m, 5), 7);
	lc_meta_get_info(m, &info);
	assert_int_equal(info.nr_hydrated, 2);
	assert_int_equal(lc_meta_set_hydrated(m, 9, 1), -EROFS);
	assert_int_equal(lc_meta_commit(m), -EROFS);
	assert_int_equal(lc_meta_close(m), 0);
	assert_int_equal(rec.n, 0);
	/* Also on a read-only device. */
	st.mdev->read_only = true;
	assert_int_equal(lc_meta_open(st.mdev, NULL, NULL, LC_META_OPEN_RDONLY, &m, &err), 0);
	assert_int_equal(lc_meta_close(m), 0);
	/* Writable on a read-only device: refused, nothing written. */
	assert_int_equal(lc_meta_open(st.mdev, st.dest, NULL, 0, &m, &err), -EROFS);
	st.mdev->read_only = false;
	for (size_t i = 0; i < rec.n; i++)
		assert_false(rec.e[i].be == st.mdev && rec.e[i].op != LC_VC_READ);
	rec_destroy(&rec, &st);
	store_teardown(&st);
}

/* --- concurrency --- */

#define NR_THREADS 6
#define PER_THREAD 40

struct worker {
	struct store *st;
	struct lc_meta *m;
	unsigned idx;
};

static void *group_worker(void *opaque)
{
	struct worker *w = opaque;

	for (unsigned i = 0; i < PER_THREAD; i++) {
		uint64_t region = (uint64_t)w->idx * 5000 + i * 97;

		if (lc_meta_set_hydrated(w->m, region, 1) != 1)
			return "set failed";
		if (lc_meta_commit(w->m) != 0)
			return "commit failed";
		if (i % 8 == 0) {
			/* Durable now: a power cut right after keeps it. */
			struct lc_backend *copy = NULL;
			struct lc_err err;
			struct lc_meta *m2;
			bool ok;

			if (lc_volcache_clone(w->st->mdev, &copy) < 0)
				return "clone failed";
			lc_volcache_power_cut(copy, NULL, NULL);
			if (lc_meta_open(copy, NULL, NULL, LC_META_OPEN_RDONLY, &m2, &err) < 0) {
				lc_backend_close(copy);
				return "reopen failed";
			}
			ok = lc_meta_is_hydrated(m2, region);
			lc_meta_close(m2);
			lc_backend_close(copy);
			if (!ok)
				return "committed region not durable";
		}
	}
	return NULL;
}

static void test_group_commit_threads(void **state)
{
	struct worker w[NR_THREADS];
	pthread_t th[NR_THREADS];
	struct lc_meta_info before, after;
	struct lc_err err = {{0}};
	struct lc_meta *m;
	struct store st;

	store_setup(&st, 4096, 4096ull * 5000 * NR_THREADS);
	m = open_rw(&st);
	lc_meta_get_info(m, &before);
	for (unsigned i = 0; i < NR_THREADS; i++) {
		w[i] = (struct worker){.st = &st, .m = m, .idx = i};
		assert_int_equal(pthread_create(&th[i], NULL, group_worker, &w[i]), 0);
	}
	for (unsigned i = 0; i < NR_THREADS; i++) {
		void *res;

		assert_int_equal(pthread_join(th[i], &res), 0);
		if (res)
			fail_msg("thread %u: %s", i, (const char *)res);
	}
	lc_meta_get_info(m, &after);
	/* Shared commits: never more generations than calls. */
	assert_true(after.generation - before.generation <= NR_THREADS * PER_THREAD);
	assert_int_equal(after.nr_hydrated, NR_THREADS * PER_THREAD);
	assert_int_equal(lc_meta_close(m), 0);
	m = open_ro(st.mdev, &err, NULL);
	assert_non_null(m);
	assert_int_equal(lc_meta_nr_hydrated(m), NR_THREADS * PER_THREAD);
	lc_meta_close(m);
	store_teardown(&st);
}

struct racer {
	struct lc_meta *m;
	uint64_t nr_regions;
	uint64_t *order;       /* regions in the order their set returned */
	_Atomic uint64_t done; /* order[0, done) are set */
	_Atomic bool stop;
};

static void *setter(void *opaque)
{
	struct racer *rc = opaque;
	uint64_t x = 88172645463325252ull, n = 0;

	while (!atomic_load(&rc->stop) && n < rc->nr_regions) {
		uint64_t region;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		region = x % rc->nr_regions;
		if (lc_meta_set_hydrated(rc->m, region, 1) < 0)
			return "set failed";
		rc->order[n] = region;
		atomic_store(&rc->done, ++n);
		if (n % 256 == 0)
			(void)nanosleep(&(struct timespec){.tv_nsec = 20000}, NULL);
	}
	return NULL;
}

/* Marks racing commits: whatever was set before a commit call is durable
 * after it returns, however the exchange and the snapshot interleave. */
static void test_marks_race_commits(void **state)
{
	const uint64_t nr_regions = 3 * BITS_PER_BLOCK;
	struct racer rc = {.nr_regions = nr_regions};
	struct lc_err err = {{0}};
	struct store st;
	pthread_t th;
	void *res;

	store_setup(&st, 512, 512 * nr_regions);
	rc.m = open_rw(&st);
	rc.order = calloc(nr_regions, sizeof(uint64_t));
	assert_non_null(rc.order);
	assert_int_equal(pthread_create(&th, NULL, setter, &rc), 0);
	for (int round = 0; round < 30; round++) {
		uint64_t n = atomic_load(&rc.done);
		struct lc_backend *copy;
		struct lc_meta *m2;

		assert_int_equal(lc_meta_commit(rc.m), 0);
		copy = crash_copy(st.mdev);
		m2 = open_ro(copy, &err, NULL);
		assert_non_null(m2);
		for (uint64_t i = 0; i < n; i++)
			if (!lc_meta_is_hydrated(m2, rc.order[i]))
				fail_msg("round %d: region %" PRIu64 " set before the commit, lost",
					 round, rc.order[i]);
		lc_meta_close(m2);
		lc_backend_close(copy);
	}
	atomic_store(&rc.stop, true);
	assert_int_equal(pthread_join(th, &res), 0);
	assert_null(res);
	assert_int_equal(lc_meta_close(rc.m), 0);
	free(rc.order);
	store_teardown(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_open_roundtrip),
	    cmocka_unit_test(test_set_commit_reopen),
	    cmocka_unit_test(test_partial_last_region),
	    cmocka_unit_test(test_required_size),
	    cmocka_unit_test(test_format_param_errors),
	    cmocka_unit_test(test_commit_order),
	    cmocka_unit_test(test_commit_nothing_dirty_flushes_dest),
	    cmocka_unit_test(test_mark_during_dest_flush_waits_for_next_commit),
	    cmocka_unit_test(test_chunked_commit_reflushes_dest),
	    cmocka_unit_test(test_exhaustive_crash_points),
	    cmocka_unit_test(test_torn_superblock),
	    cmocka_unit_test(test_corrupt_one_slot_falls_back),
	    cmocka_unit_test(test_both_slots_corrupt),
	    cmocka_unit_test(test_bits_past_end),
	    cmocka_unit_test(test_expect_mismatch),
	    cmocka_unit_test(test_expect_source_id),
	    cmocka_unit_test(test_dest_flush_failure),
	    cmocka_unit_test(test_meta_write_failure),
	    cmocka_unit_test(test_rdonly_writes_nothing),
	    cmocka_unit_test(test_group_commit_threads),
	    cmocka_unit_test(test_marks_race_commits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
