/* SPDX-License-Identifier: MIT */
/*
 * Unit test of lib/backend_volcache.c, the volatile-write-cache model the
 * crash tests stand on: reads see the cache, flush makes it durable, power
 * cuts keep exactly the sectors chosen (torn at 512 bytes, in issue order),
 * overlapping writes and discards resolve in order (checked against a plain
 * byte array over thousands of random operations), clones are independent,
 * the recorder sees accepted operations in one total order, and injected
 * faults leave the device exactly as it was.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <lunclone/backend.h>

#define DEV_SIZE (64 * 1024)

static uint32_t rng_state;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static uint8_t *pattern(size_t len, uint8_t seed)
{
	uint8_t *p = malloc(len);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed + i / 512);
	return p;
}

static struct lc_backend *new_dev(const uint8_t *initial)
{
	struct lc_backend *be = NULL;

	assert_int_equal(lc_volcache_new("vc-test", DEV_SIZE, initial, &be), 0);
	assert_non_null(be);
	return be;
}

/* Asserts that reading all of be gives want. */
static void assert_reads(struct lc_backend *be, const uint8_t *want)
{
	uint8_t *buf = malloc(be->size_bytes);

	assert_non_null(buf);
	assert_int_equal(lc_backend_pread(be, buf, be->size_bytes, 0), 0);
	assert_memory_equal(buf, want, be->size_bytes);
	free(buf);
}

static void test_new(void **state)
{
	uint8_t *init = pattern(DEV_SIZE, 1);
	uint8_t *zero = calloc(1, DEV_SIZE);
	struct lc_backend *be, *bz;

	(void)state;
	assert_non_null(zero);
	be = new_dev(init);
	assert_string_equal(be->ops->name, "volcache");
	assert_string_equal(be->uri, "vc-test");
	assert_int_equal(be->size_bytes, DEV_SIZE);
	assert_int_equal(be->logical_block_size, 512);
	assert_true(be->discard_zeroes);
	assert_false(be->read_only);
	assert_int_equal(lc_volcache_nr_pending(be), 0);
	assert_memory_equal(lc_volcache_durable(be), init, DEV_SIZE);
	assert_reads(be, init);
	/* The image is a copy: changing the caller's buffer changes nothing. */
	init[0] ^= 0xff;
	assert_int_not_equal(lc_volcache_durable(be)[0], init[0]);

	bz = new_dev(NULL);
	assert_reads(bz, zero);
	assert_int_equal(lc_volcache_new("bad", 1000, NULL, &bz), -EINVAL);
	lc_backend_close(be);
	lc_backend_close(bz);
	free(init);
	free(zero);
}

static void test_read_sees_pending_flush_makes_durable(void **state)
{
	uint8_t *init = pattern(DEV_SIZE, 1);
	uint8_t *data = pattern(4096, 99);
	uint8_t *want = malloc(DEV_SIZE);
	struct lc_backend *be = new_dev(init);
	uint8_t small[10];

	(void)state;
	assert_non_null(want);
	assert_int_equal(lc_backend_pwrite(be, data, 4096, 8192), 0);
	assert_int_equal(lc_volcache_nr_pending(be), 1);
	memcpy(want, init, DEV_SIZE);
	memcpy(want + 8192, data, 4096);
	assert_reads(be, want);
	/* A read inside the write, and one straddling its start. */
	assert_int_equal(lc_backend_pread(be, small, 10, 8192 + 100), 0);
	assert_memory_equal(small, data + 100, 10);
	assert_int_equal(lc_backend_pread(be, small, 10, 8187), 0);
	assert_memory_equal(small, init + 8187, 5);
	assert_memory_equal(small + 5, data, 5);
	/* Not durable yet. */
	assert_memory_equal(lc_volcache_durable(be), init, DEV_SIZE);

	assert_int_equal(lc_backend_flush(be), 0);
	assert_int_equal(lc_volcache_nr_pending(be), 0);
	assert_memory_equal(lc_volcache_durable(be), want, DEV_SIZE);
	assert_reads(be, want);
	/* A flush with nothing pending is fine; a power cut loses nothing now. */
	assert_int_equal(lc_backend_flush(be), 0);
	lc_volcache_power_cut(be, NULL, NULL);
	assert_reads(be, want);
	lc_backend_close(be);
	free(init);
	free(data);
	free(want);
}

/* Applies a write (data) or discard (data NULL) to a reference image. */
static void ref_apply(uint8_t *img, uint64_t off, uint64_t len, const uint8_t *data)
{
	if (data)
		memcpy(img + off, data, len);
	else
		memset(img + off, 0, len);
}

static void test_overlapping_order(void **state)
{
	uint8_t *init = pattern(DEV_SIZE, 3);
	uint8_t *want = malloc(DEV_SIZE);
	uint8_t a[2048], b[500], c[1800];
	struct lc_backend *be = new_dev(init);
	uint8_t buf[40];

	(void)state;
	assert_non_null(want);
	memset(a, 0xaa, sizeof(a));
	memset(b, 0xbb, sizeof(b));
	memset(c, 0xcc, sizeof(c));
	memcpy(want, init, DEV_SIZE);
	assert_int_equal(lc_backend_pwrite(be, a, sizeof(a), 0), 0);
	ref_apply(want, 0, sizeof(a), a);
	assert_int_equal(lc_backend_pwrite(be, b, sizeof(b), 1000), 0);
	ref_apply(want, 1000, sizeof(b), b);
	assert_int_equal(lc_backend_pwrite(be, c, sizeof(c), 1200), 0);
	ref_apply(want, 1200, sizeof(c), c);
	assert_int_equal(lc_backend_discard(be, 1400, 50), 0);
	ref_apply(want, 1400, 50, NULL);
	assert_int_equal(lc_backend_pwrite(be, a, 3, 1420), 0);
	ref_apply(want, 1420, 3, a);
	assert_int_equal(lc_volcache_nr_pending(be), 5);
	assert_reads(be, want);
	/* Spot checks so the reference itself is not the only judge. */
	assert_int_equal(lc_backend_pread(be, buf, 40, 1190), 0);
	assert_int_equal(buf[0], 0xbb);
	assert_int_equal(buf[9], 0xbb);
	assert_int_equal(buf[10], 0xcc);
	assert_int_equal(lc_backend_pread(be, buf, 40, 1399), 0);
	assert_int_equal(buf[0], 0xcc);
	assert_int_equal(buf[1], 0);
	assert_int_equal(buf[21], 0xaa);
	assert_int_equal(buf[24], 0);
	assert_int_equal(buf[39], 0);

	assert_int_equal(lc_backend_flush(be), 0);
	assert_memory_equal(lc_volcache_durable(be), want, DEV_SIZE);
	lc_backend_close(be);
	free(init);
	free(want);
}

/*
 * Thousands of random small writes and discards, reads compared to a
 * reference after each step, flushes now and then: the load the crash tests
 * put on the model, and a check that reads stay fast with many pending.
 */
static void test_random_against_reference(void **state)
{
	uint8_t *want = pattern(DEV_SIZE, 5);
	struct lc_backend *be = new_dev(want);
	uint8_t data[3000], buf[3000];
	int step;

	(void)state;
	rng_state = 4242;
	for (step = 0; step < 20000; step++) {
		uint64_t len = 1 + rng() % sizeof(data);
		uint64_t off = rng() % (DEV_SIZE - len + 1);
		uint32_t what = rng() % 100;

		if (what < 45) {
			size_t i;

			for (i = 0; i < len; i++)
				data[i] = (uint8_t)rng();
			assert_int_equal(lc_backend_pwrite(be, data, len, off), 0);
			ref_apply(want, off, len, data);
		} else if (what < 50) {
			assert_int_equal(lc_backend_discard(be, off, len), 0);
			ref_apply(want, off, len, NULL);
		} else if (what < 99 || step % 7) {
			assert_int_equal(lc_backend_pread(be, buf, len, off), 0);
			if (memcmp(buf, want + off, len) != 0)
				fail_msg("step %d: read [%llu, +%llu) differs", step,
					 (unsigned long long)off, (unsigned long long)len);
		} else {
			assert_int_equal(lc_backend_flush(be), 0);
			assert_memory_equal(lc_volcache_durable(be), want, DEV_SIZE);
		}
	}
	assert_reads(be, want);
	assert_int_equal(lc_backend_flush(be), 0);
	assert_memory_equal(lc_volcache_durable(be), want, DEV_SIZE);
	lc_backend_close(be);
	free(want);
}

struct keep_log {
	uint64_t mask; /* keep sector s of write i when bit (i * 8 + s % 8) is set */
	bool all;
	size_t nr;
	uint64_t write_idx[64], sector_nr[64];
};

static bool keep(void *opaque, uint64_t write_idx, uint64_t sector_nr)
{
	struct keep_log *k = opaque;

	if (k->nr < 64) {
		k->write_idx[k->nr] = write_idx;
		k->sector_nr[k->nr] = sector_nr;
	}
	k->nr++;
	if (k->all)
		return true;
	return (k->mask >> (write_idx * 8 + sector_nr % 8)) & 1;
}

static void test_power_cut_keep_none(void **state)
{
	uint8_t *init = pattern(DEV_SIZE, 7);
	uint8_t *data = pattern(8192, 8);
	struct lc_backend *be = new_dev(init);

	(void)state;
	assert_int_equal(lc_backend_pwrite(be, data, 8192, 0), 0);
	assert_int_equal(lc_backend_discard(be, 16384, 4096), 0);
	lc_volcache_power_cut(be, NULL, NULL);
	assert_int_equal(lc_volcache_nr_pending(be), 0);
	assert_memory_equal(lc_volcache_durable(be), init, DEV_SIZE);
	assert_reads(be, init);
	lc_backend_close(be);
	free(init);
	free(data);
}

static void test_power_cut_keep_all(void **state)
{
	uint8_t *init = pattern(DEV_SIZE, 7);
	uint8_t *data = pattern(8192, 8);
	uint8_t *want = malloc(DEV_SIZE);
	struct lc_backend *be = new_dev(init);
	struct keep_log k = {.all = true};

	(void)state;
	assert_non_null(want);
	memcpy(want, init, DEV_SIZE);
	assert_int_equal(lc_backend_pwrite(be, data, 8192, 100), 0);
	ref_apply(want, 100, 8192, data);
	assert_int_equal(lc_backend_discard(be, 4096, 1024), 0);
	ref_apply(want, 4096, 1024, NULL);
	lc_volcache_power_cut(be, keep, &k);
	/* Write 0 covers sectors 0..16 (bytes 100..8291), discard 8..9. */
	assert_int_equal(k.nr, 17 + 2);
	assert_int_equal(k.write_idx[0], 0);
	assert_int_equal(k.sector_nr[0], 0);
	assert_int_equal(k.sector_nr[16], 16);
	assert_int_equal(k.write_idx[17], 1);
	assert_int_equal(k.sector_nr[17], 8);
	assert_int_equal(k.sector_nr[18], 9);
	assert_int_equal(lc_volcache_nr_pending(be), 0);
	assert_memory_equal(lc_volcache_durable(be), want, DEV_SIZE);
	assert_reads(be, want);
	lc_backend_close(be);
	free(init);
	free(data);
	free(want);
}

static void test_power_cut_torn_sectors(void **state)
{
	uint8_t *init = pattern(DEV_SIZE, 9);
	uint8_t *want = malloc(DEV_SIZE);
	uint8_t w0[2048], w1[600], w2[512];
	struct lc_backend *be = new_dev(init);
	struct keep_log k = {0};

	(void)state;
	assert_non_null(want);
	memset(w0, 0x10, sizeof(w0));
	memset(w1, 0x11, sizeof(w1));
	memset(w2, 0x12, sizeof(w2));
	/* Write 0: sectors 1..4, whole. */
	assert_int_equal(lc_backend_pwrite(be, w0, sizeof(w0), 512), 0);
	/* Write 1: bytes 700..1299, parts of sectors 1 and 2. */
	assert_int_equal(lc_backend_pwrite(be, w1, sizeof(w1), 700), 0);
	/* Write 2: sector 3 again, whole. */
	assert_int_equal(lc_backend_pwrite(be, w2, sizeof(w2), 1536), 0);
	/*
	 * Keep sectors 1 and 3 of write 0 (bits 1, 3), sector 2 of write 1
	 * (bit 8 + 2) and nothing of write 2.
	 */
	k.mask = (1ull << 1) | (1ull << 3) | (1ull << 10);
	lc_volcache_power_cut(be, keep, &k);
	assert_int_equal(k.nr, 4 + 2 + 1);
	assert_int_equal(k.write_idx[4], 1);
	assert_int_equal(k.sector_nr[4], 1);
	assert_int_equal(k.sector_nr[5], 2);
	assert_int_equal(k.write_idx[6], 2);
	assert_int_equal(k.sector_nr[6], 3);

	memcpy(want, init, DEV_SIZE);
	ref_apply(want, 512, 512, w0);		/* w0 sector 1 */
	ref_apply(want, 1536, 512, w0);		/* w0 sector 3 */
	ref_apply(want, 1024, 1300 - 1024, w1); /* w1's bytes of sector 2 only */
	assert_memory_equal(lc_volcache_durable(be), want, DEV_SIZE);
	assert_reads(be, want);
	/* Explicitly: sector 1 is all w0, sector 2 is w1 then old bytes. */
	assert_int_equal(lc_volcache_durable(be)[700], 0x10);
	assert_int_equal(lc_volcache_durable(be)[1024], 0x11);
	assert_int_equal(lc_volcache_durable(be)[1299], 0x11);
	assert_int_equal(lc_volcache_durable(be)[1300], init[1300]);
	assert_int_equal(lc_volcache_durable(be)[2047], 0x10);
	assert_int_equal(lc_volcache_nr_pending(be), 0);

	/* Issue order: both writes of one sector kept, the later one wins. */
	assert_int_equal(lc_backend_pwrite(be, w2, 512, 0), 0);
	assert_int_equal(lc_backend_pwrite(be, w1, 512, 0), 0);
	k = (struct keep_log){.all = true};
	lc_volcache_power_cut(be, keep, &k);
	assert_int_equal(lc_volcache_durable(be)[0], 0x11);
	assert_int_equal(lc_volcache_durable(be)[511], 0x11);
	/* Only the older kept: it survives. */
	assert_int_equal(lc_backend_pwrite(be, w2, 512, 0), 0);
	assert_int_equal(lc_backend_pwrite(be, w0, 512, 0), 0);
	k = (struct keep_log){.mask = 0xff};
	lc_volcache_power_cut(be, keep, &k);
	assert_int_equal(lc_volcache_durable(be)[0], 0x12);
	assert_int_equal(lc_volcache_durable(be)[511], 0x12);
	lc_backend_close(be);
	free(init);
	free(want);
}

static void test_clone_independent(void **state)
{
	uint8_t *init = pattern(DEV_SIZE, 11);
	uint8_t *data = pattern(4096, 12);
	uint8_t *want = malloc(DEV_SIZE);
	struct lc_backend *a = new_dev(init), *b = NULL;
	uint8_t x[512];

	(void)state;
	assert_non_null(want);
	assert_int_equal(lc_backend_pwrite(a, data, 1024, 0), 0);
	assert_int_equal(lc_backend_flush(a), 0);
	assert_int_equal(lc_backend_pwrite(a, data + 1024, 2048, 4096), 0);
	assert_int_equal(lc_backend_discard(a, 10000, 100), 0);
	lc_volcache_inject(a, LC_VC_READ, 0, 0, EIO, -1);

	assert_int_equal(lc_volcache_clone(a, &b), 0);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_string_equal(b->uri, a->uri);
	assert_int_equal(b->size_bytes, DEV_SIZE);
	assert_int_equal(lc_volcache_nr_pending(b), 2);
	assert_memory_equal(lc_volcache_durable(b), lc_volcache_durable(a), DEV_SIZE);
	assert_ptr_not_equal(lc_volcache_durable(b), lc_volcache_durable(a));
	/* Faults are not copied: b reads, a does not. */
	memcpy(want, init, DEV_SIZE);
	ref_apply(want, 0, 1024, data);
	ref_apply(want, 4096, 2048, data + 1024);
	ref_apply(want, 10000, 100, NULL);
	assert_reads(b, want);
	assert_int_equal(lc_backend_pread(a, x, 1, 0), -EIO);
	lc_volcache_inject(a, LC_VC_READ, 0, 0, 0, 0);

	/* Changes to one are invisible to the other, both ways. */
	memset(x, 0x5c, sizeof(x));
	assert_int_equal(lc_backend_pwrite(b, x, sizeof(x), 4096), 0);
	assert_int_equal(lc_volcache_nr_pending(a), 2);
	assert_reads(a, want);
	lc_volcache_power_cut(b, NULL, NULL);
	assert_int_equal(lc_volcache_nr_pending(a), 2);
	assert_int_equal(lc_backend_flush(a), 0);
	assert_memory_equal(lc_volcache_durable(a), want, DEV_SIZE);
	memcpy(want, init, DEV_SIZE);
	ref_apply(want, 0, 1024, data);
	assert_memory_equal(lc_volcache_durable(b), want, DEV_SIZE);
	assert_reads(b, want);
	lc_backend_close(a);
	lc_backend_close(b);
	free(init);
	free(data);
	free(want);
}

struct rec_entry {
	struct lc_backend *be;
	enum lc_volcache_op op;
	uint64_t offset, len;
	bool has_data;
	uint8_t first;
};

struct recorder {
	size_t nr;
	struct rec_entry e[16];
};

static void record(void *opaque, struct lc_backend *be, enum lc_volcache_op op,
		   uint64_t offset_bytes, const void *data, uint64_t len_bytes)
{
	struct recorder *r = opaque;

	assert_true(r->nr < 16);
	r->e[r->nr++] = (struct rec_entry){
	    .be = be,
	    .op = op,
	    .offset = offset_bytes,
	    .len = len_bytes,
	    .has_data = data != NULL,
	    .first = data ? *(const uint8_t *)data : 0,
	};
}

static void check_rec(const struct rec_entry *e, struct lc_backend *be, enum lc_volcache_op op,
		      uint64_t offset, uint64_t len, bool has_data, uint8_t first)
{
	assert_ptr_equal(e->be, be);
	assert_int_equal(e->op, op);
	assert_int_equal(e->offset, offset);
	assert_int_equal(e->len, len);
	assert_int_equal(e->has_data, has_data);
	if (has_data)
		assert_int_equal(e->first, first);
}

static void test_recorder_order(void **state)
{
	struct lc_backend *a = new_dev(NULL), *b = new_dev(NULL);
	struct recorder rec = {0};
	uint8_t x[1024];

	(void)state;
	lc_volcache_set_recorder(a, record, &rec);
	lc_volcache_set_recorder(b, record, &rec);
	x[0] = 0x31;
	assert_int_equal(lc_backend_pwrite(a, x, 1024, 512), 0);
	assert_int_equal(lc_backend_discard(b, 2048, 512), 0);
	assert_int_equal(lc_backend_pread(a, x, 16, 0), 0); /* reads not recorded */
	assert_int_equal(lc_backend_flush(a), 0);
	x[0] = 0x32;
	assert_int_equal(lc_backend_pwrite(b, x, 100, 7), 0);
	assert_int_equal(lc_backend_flush(b), 0);
	/* Refused by the wrapper or injected faults: not recorded. */
	assert_int_equal(lc_backend_pwrite(a, x, 1, DEV_SIZE), -EINVAL);
	lc_volcache_inject(b, LC_VC_WRITE, 0, 0, EIO, 1);
	assert_int_equal(lc_backend_pwrite(b, x, 1, 0), -EIO);
	/* Nor power cuts, nor anything after the recorder is removed. */
	lc_volcache_power_cut(a, NULL, NULL);
	lc_volcache_set_recorder(a, NULL, NULL);
	assert_int_equal(lc_backend_pwrite(a, x, 1, 0), 0);

	assert_int_equal(rec.nr, 5);
	check_rec(&rec.e[0], a, LC_VC_WRITE, 512, 1024, true, 0x31);
	check_rec(&rec.e[1], b, LC_VC_DISCARD, 2048, 512, false, 0);
	check_rec(&rec.e[2], a, LC_VC_FLUSH, 0, 0, false, 0);
	check_rec(&rec.e[3], b, LC_VC_WRITE, 7, 100, true, 0x32);
	check_rec(&rec.e[4], b, LC_VC_FLUSH, 0, 0, false, 0);
	lc_backend_close(a);
	lc_backend_close(b);
}

static void test_faults_change_nothing(void **state)
{
	uint8_t *init = pattern(DEV_SIZE, 13);
	uint8_t *data = pattern(4096, 14);
	uint8_t *want = malloc(DEV_SIZE);
	struct lc_backend *be = new_dev(init);
	struct recorder rec = {0};
	uint8_t buf[512];

	(void)state;
	assert_non_null(want);
	lc_volcache_set_recorder(be, record, &rec);
	assert_int_equal(lc_backend_pwrite(be, data, 4096, 0), 0);
	memcpy(want, init, DEV_SIZE);
	ref_apply(want, 0, 4096, data);
	rec.nr = 0;

	/* Read faults in a range: overlapping reads fail, others pass; count 2. */
	lc_volcache_inject(be, LC_VC_READ, 8192, 512, EIO, 2);
	assert_int_equal(lc_backend_pread(be, buf, 512, 0), 0);
	assert_int_equal(lc_backend_pread(be, buf, 512, 8192 - 512), 0);
	assert_int_equal(lc_backend_pread(be, buf, 512, 8192 + 512), 0);
	assert_int_equal(lc_backend_pread(be, buf, 1, 8192 + 511), -EIO);
	assert_int_equal(lc_backend_pread(be, buf, 2, 8191), -EIO);
	assert_int_equal(lc_backend_pread(be, buf, 512, 8192), 0); /* used up */

	/* Write fault: nothing queued, nothing visible, nothing recorded. */
	lc_volcache_inject(be, LC_VC_WRITE, 0, 0, EIO, -1);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(lc_backend_pwrite(be, buf, 512, 0), -EIO);
	assert_int_equal(lc_backend_pwrite(be, buf, 512, 30000), -EIO);
	assert_int_equal(lc_volcache_nr_pending(be), 1);
	assert_reads(be, want);
	lc_volcache_inject(be, LC_VC_WRITE, 0, 0, 0, 0);
	/* Other kinds are not affected by a write fault and vice versa. */
	lc_volcache_inject(be, LC_VC_DISCARD, 1024, 1024, ENOSPC, -1);
	assert_int_equal(lc_backend_discard(be, 0, 1024), 0);
	ref_apply(want, 0, 1024, NULL);
	assert_int_equal(lc_backend_discard(be, 512, 1024), -ENOSPC);
	assert_int_equal(lc_volcache_nr_pending(be), 2);
	assert_reads(be, want);
	lc_volcache_inject(be, LC_VC_DISCARD, 0, 0, 0, 0);

	/* Flush fault (range ignored): pending kept, durable unchanged. */
	lc_volcache_inject(be, LC_VC_FLUSH, 60000, 1, EIO, 1);
	assert_int_equal(lc_backend_flush(be), -EIO);
	assert_int_equal(lc_volcache_nr_pending(be), 2);
	assert_memory_equal(lc_volcache_durable(be), init, DEV_SIZE);
	assert_reads(be, want);
	assert_int_equal(rec.nr, 1); /* only the accepted discard */

	/* The fault was used up: the next flush works. */
	assert_int_equal(lc_backend_flush(be), 0);
	assert_memory_equal(lc_volcache_durable(be), want, DEV_SIZE);
	assert_int_equal(rec.nr, 2);
	assert_int_equal(rec.e[1].op, LC_VC_FLUSH);

	/* Until cleared: a read fault with count < 0 keeps failing. */
	lc_volcache_inject(be, LC_VC_READ, 0, 0, EIO, -1);
	assert_int_equal(lc_backend_pread(be, buf, 1, 0), -EIO);
	assert_int_equal(lc_backend_pread(be, buf, 1, DEV_SIZE - 1), -EIO);
	assert_int_equal(lc_backend_pread(be, buf, 1, 7), -EIO);
	lc_volcache_inject(be, LC_VC_READ, 0, 0, 0, 0);
	assert_reads(be, want);
	lc_backend_close(be);
	free(init);
	free(data);
	free(want);
}

#define NR_THREADS 4
#define SLICE (DEV_SIZE / NR_THREADS)

struct worker {
	struct lc_backend *be;
	int idx;
	int failures;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	uint8_t buf[512], back[512];
	uint64_t base = (uint64_t)w->idx * SLICE;
	int i;

	for (i = 0; i < 2000; i++) {
		uint64_t off = base + (uint64_t)(i % (SLICE / 512)) * 512;

		memset(buf, (uint8_t)(w->idx * 16 + i), sizeof(buf));
		if (lc_backend_pwrite(w->be, buf, sizeof(buf), off) < 0 ||
		    lc_backend_pread(w->be, back, sizeof(back), off) < 0 ||
		    memcmp(buf, back, sizeof(buf)) != 0)
			w->failures++;
		if (i % 100 == 0 && lc_backend_flush(w->be) < 0)
			w->failures++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct lc_backend *be = new_dev(NULL);
	struct worker w[NR_THREADS];
	pthread_t tids[NR_THREADS];
	int i;

	(void)state;
	for (i = 0; i < NR_THREADS; i++) {
		w[i] = (struct worker){.be = be, .idx = i};
		assert_int_equal(pthread_create(&tids[i], NULL, work, &w[i]), 0);
	}
	for (i = 0; i < NR_THREADS; i++) {
		assert_int_equal(pthread_join(tids[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(lc_backend_flush(be), 0);
	/* The last write of each thread (i = 1999) is in sector 1999 % 32 = 15. */
	for (i = 0; i < NR_THREADS; i++)
		assert_int_equal(lc_volcache_durable(be)[(size_t)i * SLICE + 15 * 512],
				 (uint8_t)(i * 16 + 1999));
	lc_backend_close(be);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new),
	    cmocka_unit_test(test_read_sees_pending_flush_makes_durable),
	    cmocka_unit_test(test_overlapping_order),
	    cmocka_unit_test(test_random_against_reference),
	    cmocka_unit_test(test_power_cut_keep_none),
	    cmocka_unit_test(test_power_cut_keep_all),
	    cmocka_unit_test(test_power_cut_torn_sectors),
	    cmocka_unit_test(test_clone_independent),
	    cmocka_unit_test(test_recorder_order),
	    cmocka_unit_test(test_faults_change_nothing),
	    cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
