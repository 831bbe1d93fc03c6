/* SPDX-License-Identifier: MIT */
/*
 * The clone: I/O map, hydration, commits, faults. Devices are volcache
 * models; faults are injected through them.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "clone-fixture.h"

#define REGION 4096u
#define SECTORS_PER_REGION (REGION / LC_SECTOR_SIZE)
/* 40 regions and a half: the last region is short. */
#define SIZE (40u * REGION + 2048u)

static struct lc_clone_config paused_cfg(void)
{
	struct lc_clone_config cfg;

	lc_clone_config_default(&cfg);
	cfg.nr_workers = 0;
	cfg.commit_interval_ms = 0;
	cfg.start_paused = true;
	return cfg;
}

static struct lc_clone_config hydrating_cfg(void)
{
	struct lc_clone_config cfg;

	lc_clone_config_default(&cfg);
	cfg.nr_workers = 2;
	cfg.batch_regions = 4;
	cfg.commit_interval_ms = 10;
	cfg.retry_delay_ms = 1;
	cfg.source_retries = 1;
	return cfg;
}

static void assert_sector_is_source(const uint8_t *p, uint64_t s)
{
	uint8_t want[LC_SECTOR_SIZE];

	fill_source_sector(want, s);
	assert_memory_equal(p, want, LC_SECTOR_SIZE);
}

static void assert_sector_is_write(const uint8_t *p, uint64_t s, uint32_t version)
{
	uint8_t want[LC_SECTOR_SIZE];

	fill_write_sector(want, s, version);
	assert_memory_equal(p, want, LC_SECTOR_SIZE);
}

static void write_sectors(struct fixture *f, uint64_t first, uint64_t nr, uint32_t version,
			  unsigned flags, int expect)
{
	uint8_t *buf = malloc(nr * LC_SECTOR_SIZE);

	assert_non_null(buf);
	for (uint64_t i = 0; i < nr; i++)
		fill_write_sector(buf + i * LC_SECTOR_SIZE, first + i, version);
	assert_int_equal(lc_clone_write(f->clone, buf, nr * LC_SECTOR_SIZE,
					first * LC_SECTOR_SIZE, flags),
			 expect);
	free(buf);
}

static void test_reads_come_from_source_until_written(void **state)
{
	struct lc_clone_config cfg = paused_cfg();
	struct fixture f;
	uint8_t *buf = malloc(SIZE);

	assert_non_null(buf);
	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	assert_int_equal(lc_clone_size(f.clone), SIZE);
	/* A partial write into region 2 and a whole-region write of region 5. */
	write_sectors(&f, 2 * SECTORS_PER_REGION + 3, 2, 1, 0, 0);
	write_sectors(&f, 5 * SECTORS_PER_REGION, SECTORS_PER_REGION, 2, 0, 0);
	assert_true(lc_meta_is_hydrated(f.meta, 2));
	assert_true(lc_meta_is_hydrated(f.meta, 5));
	assert_false(lc_meta_is_hydrated(f.meta, 3));

	/* One read across every region: split at region boundaries. */
	assert_int_equal(lc_clone_read(f.clone, buf, SIZE, 0), 0);
	for (uint64_t s = 0; s < SIZE / LC_SECTOR_SIZE; s++) {
		const uint8_t *p = buf + s * LC_SECTOR_SIZE;

		if (s == 2 * SECTORS_PER_REGION + 3 || s == 2 * SECTORS_PER_REGION + 4)
			assert_sector_is_write(p, s, 1);
		else if (s / SECTORS_PER_REGION == 5)
			assert_sector_is_write(p, s, 2);
		else
			assert_sector_is_source(p, s);
	}
	/* The partial write copied the rest of region 2 onto the destination. */
	assert_int_equal(lc_backend_pread(f.dst, buf, REGION, 2 * REGION), 0);
	assert_sector_is_source(buf, 2 * SECTORS_PER_REGION);
	assert_sector_is_write(buf + 3 * LC_SECTOR_SIZE, 2 * SECTORS_PER_REGION + 3, 1);
	assert_sector_is_source(buf + 7 * LC_SECTOR_SIZE, 2 * SECTORS_PER_REGION + 7);
	/* Out of range. */
	assert_int_equal(lc_clone_read(f.clone, buf, LC_SECTOR_SIZE, SIZE), -EINVAL);
	assert_int_equal(lc_clone_write(f.clone, buf, 1024, SIZE - 512, 0), -EINVAL);
	fixture_teardown(&f);
	free(buf);
}

static void test_full_region_write_needs_no_source(void **state)
{
	struct lc_clone_config cfg = paused_cfg();
	struct fixture f;

	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	/* The source cannot be read in region 7 or 8. */
	lc_volcache_inject(f.src, LC_VC_READ, 7 * REGION, 2 * REGION, EIO, -1);
	write_sectors(&f, 7 * SECTORS_PER_REGION, SECTORS_PER_REGION, 1, 0, 0);
	assert_true(lc_meta_is_hydrated(f.meta, 7));
	/* A partial write must copy, so it fails, and nothing is marked. */
	write_sectors(&f, 8 * SECTORS_PER_REGION + 1, 1, 1, 0, -EIO);
	assert_false(lc_meta_is_hydrated(f.meta, 8));
	/* Reads of region 8 fail too: never zeros or stale data. */
	uint8_t buf[LC_SECTOR_SIZE];
	assert_int_equal(lc_clone_read(f.clone, buf, sizeof(buf), 8 * REGION), -EIO);
	fixture_teardown(&f);
}

static void test_short_last_region(void **state)
{
	struct lc_clone_config cfg = paused_cfg();
	struct fixture f;
	uint8_t buf[2048];

	assert_int_equal(fixture_setup(&f, SIZE, REGION, REGION, &cfg), 0);
	/* The last region is 2048 bytes; a write of all of it is whole. */
	lc_volcache_inject(f.src, LC_VC_READ, 40 * REGION, 0, EIO, -1);
	write_sectors(&f, 40 * SECTORS_PER_REGION, 4, 3, 0, 0);
	assert_true(lc_meta_is_hydrated(f.meta, 40));
	assert_int_equal(lc_clone_read(f.clone, buf, sizeof(buf), 40 * REGION), 0);
	assert_sector_is_write(buf, 40 * SECTORS_PER_REGION, 3);
	fixture_teardown(&f);
}

static void test_flush_and_fua_make_marks_durable(void **state)
{
	struct lc_clone_config cfg = paused_cfg();
	struct lc_meta *m2;
	struct lc_backend *mcopy;
	struct fixture f;

	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	write_sectors(&f, 1 * SECTORS_PER_REGION, 1, 1, 0, 0);
	/* Not flushed: a power cut loses the mark. */
	assert_int_equal(lc_volcache_clone(f.mdev, &mcopy), 0);
	lc_volcache_power_cut(mcopy, NULL, NULL);
	assert_int_equal(lc_meta_open(mcopy, NULL, NULL, LC_META_OPEN_RDONLY, &m2, NULL), 0);
	assert_false(lc_meta_is_hydrated(m2, 1));
	lc_meta_close(m2);
	lc_backend_close(mcopy);

	assert_int_equal(lc_clone_flush(f.clone), 0);
	write_sectors(&f, 3 * SECTORS_PER_REGION, 1, 1, LC_IO_FUA, 0);
	/* The destination's cache holds nothing that a mark vouches for. */
	assert_int_equal(lc_volcache_nr_pending(f.dst), 0);
	assert_int_equal(lc_volcache_clone(f.mdev, &mcopy), 0);
	lc_volcache_power_cut(mcopy, NULL, NULL);
	assert_int_equal(lc_meta_open(mcopy, NULL, NULL, LC_META_OPEN_RDONLY, &m2, NULL), 0);
	assert_true(lc_meta_is_hydrated(m2, 1));
	assert_true(lc_meta_is_hydrated(m2, 3));
	assert_int_equal(lc_meta_nr_hydrated(m2), 2);
	lc_meta_close(m2);
	lc_backend_close(mcopy);
	fixture_teardown(&f);
}

static void test_flush_failure_turns_read_only(void **state)
{
	struct lc_clone_config cfg = paused_cfg();
	struct lc_clone_status st;
	struct fixture f;
	uint8_t buf[LC_SECTOR_SIZE];

	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	write_sectors(&f, 0, 1, 1, 0, 0);
	lc_volcache_inject(f.dst, LC_VC_FLUSH, 0, 0, EIO, 1);
	assert_int_equal(lc_clone_flush(f.clone), -EIO);
	lc_clone_get_status(f.clone, &st);
	assert_int_equal(st.state, LC_CLONE_READ_ONLY);
	assert_int_equal(st.last_error, -EIO);
	/* Never silently back: the next flush fails although the device is fine. */
	assert_true(lc_clone_flush(f.clone) < 0);
	/* Writes that need a mark are refused, reads go on. */
	write_sectors(&f, 9 * SECTORS_PER_REGION, 1, 1, 0, -EROFS);
	assert_false(lc_meta_is_hydrated(f.meta, 9));
	/* The refusal does not hide the cause in status. */
	lc_clone_get_status(f.clone, &st);
	assert_int_equal(st.last_error, -EIO);
	assert_int_equal(lc_clone_read(f.clone, buf, sizeof(buf), 9 * REGION), 0);
	assert_sector_is_source(buf, 9 * SECTORS_PER_REGION);
	fixture_teardown(&f);
}

/* A user write the destination refuses fails, marks nothing, and says so
 * in status; the region still reads as the source. */
static void test_user_write_error_shows_in_status(void **state)
{
	struct lc_clone_config cfg = paused_cfg();
	struct lc_clone_status st;
	struct fixture f;
	uint8_t buf[LC_SECTOR_SIZE];

	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	lc_clone_get_status(f.clone, &st);
	assert_int_equal(st.last_error, 0);
	lc_volcache_inject(f.dst, LC_VC_WRITE, 0, 0, EIO, 1);
	write_sectors(&f, 7 * SECTORS_PER_REGION + 1, 1, 1, 0, -EIO);
	assert_false(lc_meta_is_hydrated(f.meta, 7));
	lc_clone_get_status(f.clone, &st);
	assert_int_equal(st.last_error, -EIO);
	assert_int_equal(lc_clone_read(f.clone, buf, sizeof(buf), 7 * REGION + LC_SECTOR_SIZE), 0);
	assert_sector_is_source(buf, 7 * SECTORS_PER_REGION + 1);
	/* Out of range is the caller's mistake: status keeps the device's. */
	assert_int_equal(lc_clone_read(f.clone, buf, sizeof(buf), SIZE), -EINVAL);
	lc_clone_get_status(f.clone, &st);
	assert_int_equal(st.last_error, -EIO);
	fixture_teardown(&f);
}

static void test_discard_marks_whole_regions_only(void **state)
{
	struct lc_clone_config cfg = paused_cfg();
	struct fixture f;

	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	/* A destination whose discards do not zero (a block device). */
	f.dst->discard_zeroes = false;
	assert_false(lc_clone_discard_zeroes(f.clone));
	/* No source read is allowed: discard must not copy. */
	lc_volcache_inject(f.src, LC_VC_READ, 0, 0, EIO, -1);
	/* From the middle of region 10 to the middle of region 13. */
	assert_int_equal(lc_clone_discard(f.clone, 10 * REGION + 512, 3 * REGION), 0);
	assert_false(lc_meta_is_hydrated(f.meta, 10));
	assert_true(lc_meta_is_hydrated(f.meta, 11));
	assert_true(lc_meta_is_hydrated(f.meta, 12));
	assert_false(lc_meta_is_hydrated(f.meta, 13));
	/* Up to the end: the short last region counts as whole. */
	assert_int_equal(lc_clone_discard(f.clone, 39 * REGION, SIZE - 39 * REGION), 0);
	assert_true(lc_meta_is_hydrated(f.meta, 39));
	assert_true(lc_meta_is_hydrated(f.meta, 40));
	/* Less than a region: nothing. */
	assert_int_equal(lc_clone_discard(f.clone, 20 * REGION + 512, 1024), 0);
	assert_false(lc_meta_is_hydrated(f.meta, 20));
	assert_int_equal(lc_meta_nr_hydrated(f.meta), 4);
	fixture_teardown(&f);
}

/* Asserts that [off, off + len) of the clone reads as zeros and the sectors
 * just before and after it as the source. */
static void assert_discarded(struct fixture *f, uint64_t off, uint64_t len)
{
	uint8_t *buf = malloc(len);
	uint8_t edge[LC_SECTOR_SIZE];

	assert_non_null(buf);
	assert_int_equal(lc_clone_read(f->clone, buf, len, off), 0);
	for (uint64_t i = 0; i < len; i++)
		if (buf[i] != 0)
			fail_msg("byte %" PRIu64 " of the discarded range is %u", off + i, buf[i]);
	free(buf);
	assert_int_equal(lc_clone_read(f->clone, edge, sizeof(edge), off - sizeof(edge)), 0);
	assert_sector_is_source(edge, off / LC_SECTOR_SIZE - 1);
	assert_int_equal(lc_clone_read(f->clone, edge, sizeof(edge), off + len), 0);
	assert_sector_is_source(edge, (off + len) / LC_SECTOR_SIZE);
}

/* SCSI LBPRZ: where the destination's discards zero, every discarded byte
 * reads back as zero, in whole and partial, hydrated and unhydrated regions. */
static void test_discard_reads_back_zeros(void **state)
{
	struct lc_clone_config cfg = paused_cfg();
	struct fixture f;
	uint8_t buf[LC_SECTOR_SIZE];

	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	assert_true(lc_clone_discard_zeroes(f.clone));
	/* Unhydrated: a partial head (10), whole regions (11, 12), a partial
	 * tail (13); the partial regions are copied, then zeroed in part. */
	assert_int_equal(lc_clone_discard(f.clone, 10 * REGION + 512, 3 * REGION), 0);
	assert_discarded(&f, 10 * REGION + 512, 3 * REGION);
	for (uint64_t rn = 10; rn <= 13; rn++)
		assert_true(lc_meta_is_hydrated(f.meta, rn));
	/* Hydrated (by a write): the part goes to the destination's discard. */
	write_sectors(&f, 20 * SECTORS_PER_REGION, 1, 1, 0, 0);
	assert_true(lc_meta_is_hydrated(f.meta, 20));
	assert_int_equal(lc_clone_discard(f.clone, 20 * REGION + 1024, 1024), 0);
	assert_discarded(&f, 20 * REGION + 1024, 1024);
	/* A destination that cannot discard after all gets zeros written. */
	lc_volcache_inject(f.dst, LC_VC_DISCARD, 0, 0, EOPNOTSUPP, -1);
	assert_int_equal(lc_clone_discard(f.clone, 25 * REGION + 512, 2 * REGION), 0);
	assert_discarded(&f, 25 * REGION + 512, 2 * REGION);
	/* A failed zeroing copy is an error, and nothing is marked. */
	lc_volcache_inject(f.src, LC_VC_READ, 0, 0, EIO, -1);
	assert_int_equal(lc_clone_discard(f.clone, 30 * REGION + 512, 512), -EIO);
	assert_false(lc_meta_is_hydrated(f.meta, 30));
	lc_volcache_inject(f.src, LC_VC_READ, 0, 0, 0, 0);
	assert_int_equal(lc_clone_read(f.clone, buf, sizeof(buf), 30 * REGION + 512), 0);
	assert_sector_is_source(buf, 30 * SECTORS_PER_REGION + 1);
	fixture_teardown(&f);
}

static void test_copy_on_read(void **state)
{
	struct lc_clone_config cfg = paused_cfg();
	struct fixture f;
	uint8_t buf[LC_SECTOR_SIZE * 2];

	cfg.copy_on_read = true;
	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	assert_int_equal(lc_clone_read(f.clone, buf, sizeof(buf), 6 * REGION + 1024), 0);
	assert_sector_is_source(buf, 6 * SECTORS_PER_REGION + 2);
	assert_true(lc_meta_is_hydrated(f.meta, 6));
	assert_int_equal(lc_backend_pread(f.dst, buf, LC_SECTOR_SIZE, 6 * REGION + 3584), 0);
	assert_sector_is_source(buf, 6 * SECTORS_PER_REGION + 7);
	fixture_teardown(&f);
}

static void assert_dst_equals_source(struct fixture *f)
{
	uint8_t *buf = malloc(f->size_bytes);

	assert_non_null(buf);
	assert_int_equal(lc_backend_pread(f->dst, buf, f->size_bytes, 0), 0);
	assert_memory_equal(buf, f->source_image, f->size_bytes);
	free(buf);
}

static void test_hydration_completes_and_drops_source(void **state)
{
	struct lc_clone_config cfg = hydrating_cfg();
	struct lc_clone_status st;
	struct fixture f;
	uint8_t buf[LC_SECTOR_SIZE];

	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	assert_int_equal(lc_clone_wait(f.clone, 60000), 0);
	lc_clone_get_status(f.clone, &st);
	assert_int_equal(st.state, LC_CLONE_COMPLETE);
	assert_int_equal(st.nr_hydrated, st.nr_regions);
	assert_int_equal(st.nr_regions, 41);
	assert_int_equal(st.eta_seconds, 0);
	assert_true(st.commits >= 1);
	assert_dst_equals_source(&f);
	/* Complete means committed: the destination cache is empty. */
	assert_int_equal(lc_volcache_nr_pending(f.dst), 0);
	/* I/O now goes straight to the destination. */
	write_sectors(&f, 5, 1, 9, 0, 0);
	assert_int_equal(lc_clone_read(f.clone, buf, sizeof(buf), 5 * LC_SECTOR_SIZE), 0);
	assert_sector_is_write(buf, 5, 9);
	fixture_teardown(&f);
}

struct op_count {
	unsigned writes, discards;
	uint64_t zero_from, zero_to;
	unsigned writes_in_zero;
};

static void count_ops(void *opaque, struct lc_backend *be, enum lc_volcache_op op,
		      uint64_t off, const void *data, uint64_t len)
{
	struct op_count *n = opaque;

	if (op == LC_VC_DISCARD)
		n->discards++;
	if (op == LC_VC_WRITE) {
		n->writes++;
		if (off < n->zero_to && off + len > n->zero_from)
			n->writes_in_zero++;
	}
}

static void test_zero_regions_are_discarded_not_written(void **state)
{
	struct lc_clone_config cfg = hydrating_cfg();
	struct op_count n = { .zero_from = 8 * REGION, .zero_to = 16 * REGION };
	struct fixture f;

	cfg.start_paused = true;
	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	/* Zero regions 8..15 of the source (through the backend, before any copy). */
	memset(f.source_image + 8 * REGION, 0, 8 * REGION);
	assert_int_equal(lc_backend_pwrite(f.src, f.source_image + 8 * REGION, 8 * REGION,
					   8 * REGION),
			 0);
	/* Make the destination hold junk there, to see the discard zero it. */
	memset(f.source_image + 8 * REGION, 0xaa, 8 * REGION);
	assert_int_equal(lc_backend_pwrite(f.dst, f.source_image + 8 * REGION, 8 * REGION,
					   8 * REGION),
			 0);
	memset(f.source_image + 8 * REGION, 0, 8 * REGION);
	lc_volcache_set_recorder(f.dst, count_ops, &n);
	lc_clone_resume(f.clone);
	assert_int_equal(lc_clone_wait(f.clone, 60000), 0);
	assert_true(n.discards >= 1);
	assert_int_equal(n.writes_in_zero, 0);
	assert_dst_equals_source(&f);
	lc_volcache_set_recorder(f.dst, NULL, NULL);
	fixture_teardown(&f);
}

static void test_source_errors_quarantine_then_resume(void **state)
{
	struct lc_clone_config cfg = hydrating_cfg();
	struct lc_clone_status st;
	struct fixture f;
	uint8_t buf[LC_SECTOR_SIZE];

	cfg.start_paused = true;
	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	lc_volcache_inject(f.src, LC_VC_READ, 17 * REGION + 512, 512, EIO, -1);
	lc_clone_resume(f.clone);
	assert_int_equal(lc_clone_wait(f.clone, 60000), -EIO);
	lc_clone_get_status(f.clone, &st);
	assert_int_equal(st.state, LC_CLONE_DEGRADED);
	assert_int_equal(st.nr_quarantined, 1);
	assert_int_equal(st.quarantined[0], 17);
	assert_int_equal(st.nr_hydrated, st.nr_regions - 1);
	assert_int_equal(st.last_error, -EIO);
	assert_false(lc_meta_is_hydrated(f.meta, 17));
	/* A user read there fails; it never returns zeros. */
	assert_int_equal(lc_clone_read(f.clone, buf, sizeof(buf), 17 * REGION + 512), -EIO);
	/* The source heals; resume retries the quarantined region. */
	lc_volcache_inject(f.src, LC_VC_READ, 0, 0, 0, 0);
	lc_clone_resume(f.clone);
	assert_int_equal(lc_clone_wait(f.clone, 60000), 0);
	assert_dst_equals_source(&f);
	fixture_teardown(&f);
}

static void test_destination_errors_are_retried(void **state)
{
	struct lc_clone_config cfg = hydrating_cfg();
	struct fixture f;

	cfg.start_paused = true;
	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	lc_volcache_inject(f.dst, LC_VC_WRITE, 0, 0, EIO, 5);
	lc_clone_resume(f.clone);
	assert_int_equal(lc_clone_wait(f.clone, 60000), 0);
	assert_dst_equals_source(&f);
	fixture_teardown(&f);
}

static void test_pause_resume_and_reopen(void **state)
{
	struct lc_clone_config cfg = hydrating_cfg();
	struct lc_clone_status st;
	struct fixture f;

	cfg.start_paused = true;
	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	usleep(50000);
	lc_clone_get_status(f.clone, &st);
	assert_int_equal(st.state, LC_CLONE_PAUSED);
	assert_int_equal(st.nr_hydrated, 0);
	assert_int_equal(lc_clone_wait(f.clone, 50), -ETIMEDOUT);

	/* Some regions by hand, then close (commits) and reopen: kept. The
	 * clone owns its devices, so keep copies (cache included) to reopen. */
	write_sectors(&f, 0, 3 * SECTORS_PER_REGION, 1, 0, 0);
	struct lc_backend *src2, *dst2;
	assert_int_equal(lc_volcache_clone(f.src, &src2), 0);
	assert_int_equal(lc_volcache_clone(f.dst, &dst2), 0);
	assert_int_equal(lc_clone_close(f.clone), 0);
	f.clone = NULL;
	f.src = src2;
	f.dst = dst2;

	cfg.start_paused = false;
	assert_int_equal(fixture_open_clone(&f, &cfg), 0);
	assert_true(lc_meta_nr_hydrated(f.meta) >= 3);
	assert_int_equal(lc_clone_wait(f.clone, 60000), 0);
	uint8_t *buf = malloc(SIZE);
	assert_non_null(buf);
	assert_int_equal(lc_backend_pread(f.dst, buf, SIZE, 0), 0);
	for (uint64_t s = 0; s < SIZE / LC_SECTOR_SIZE; s++) {
		if (s < 3 * SECTORS_PER_REGION)
			assert_sector_is_write(buf + s * LC_SECTOR_SIZE, s, 1);
		else
			assert_sector_is_source(buf + s * LC_SECTOR_SIZE, s);
	}
	free(buf);
	fixture_teardown(&f);
}

static void test_rate_limit_bounds_progress(void **state)
{
	struct lc_clone_config cfg = hydrating_cfg();
	struct lc_clone_status st;
	struct fixture f;

	/* 8 KiB/s with 4 KiB regions: in 300 ms at most the first batch
	 * (claimed before any debt) plus a few regions. A limiter that does
	 * nothing would finish all 41 at once. */
	cfg.rate_limit_bytes = 8192;
	cfg.batch_regions = 1;
	cfg.nr_workers = 1;
	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	usleep(300000);
	lc_clone_get_status(f.clone, &st);
	assert_true(st.nr_hydrated <= 4);
	assert_int_equal(st.rate_limit_bytes, 8192);
	/* Lifting the limit lets it finish. */
	lc_clone_set_rate_limit(f.clone, 0);
	assert_int_equal(lc_clone_wait(f.clone, 60000), 0);
	assert_dst_equals_source(&f);
	fixture_teardown(&f);
}

struct reader {
	struct lc_clone *clone;
	atomic_bool stop;
	atomic_uint nr_reads;
};

/* Reads every 0.2 ms, well inside the yield window: the clone is busy
 * throughout. The pause lets the other threads run under valgrind, which
 * runs one at a time: there a reader that never slept kept the main thread
 * from ever stopping it (the test hung for 10 minutes on an AMD host). */
static void *keep_reading(void *opaque)
{
	struct reader *rd = opaque;
	uint8_t buf[LC_SECTOR_SIZE];

	while (!atomic_load(&rd->stop)) {
		assert_int_equal(lc_clone_read(rd->clone, buf, sizeof(buf), 0), 0);
		atomic_fetch_add(&rd->nr_reads, 1);
		usleep(200);
	}
	return NULL;
}

/*
 * Under continuous user reads hydration runs at min_rate, one region at a
 * time. The reads start while the clone is paused: workers that planned a
 * whole batch before the pause must plan again after it (they once copied
 * 2 x 4 regions at once, the moment it was resumed).
 */
static void test_yield_backs_off_to_min_rate(void **state)
{
	struct lc_clone_config cfg = hydrating_cfg();
	struct lc_clone_status st;
	struct reader rd;
	struct fixture f;
	pthread_t t;

	/* Unlimited, but while users do I/O only 8 KiB/s (2 regions a second). */
	cfg.yield_to_user_io = true;
	cfg.min_rate_bytes = 8192;
	/* A reader starved of CPU for a while still counts as busy. */
	cfg.yield_window_ms = 1000;
	cfg.start_paused = true;
	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	/* Let the workers plan and wait in the pause, as they would. */
	usleep(50000);
	rd.clone = f.clone;
	atomic_init(&rd.stop, false);
	atomic_init(&rd.nr_reads, 0);
	assert_int_equal(pthread_create(&t, NULL, keep_reading, &rd), 0);
	/* The reads must have begun (a loaded machine may not run the reader
	 * for a while): before them there is nothing to yield to. */
	while (atomic_load(&rd.nr_reads) == 0)
		usleep(1000);
	lc_clone_resume(f.clone);
	usleep(400000);
	lc_clone_get_status(f.clone, &st);
	/* One region at the resume, the next half a second later: never the
	 * 41 an idle clone copies in that time, nor a batch per worker. */
	if (st.nr_hydrated > 2)
		fail_msg("yield: %llu regions hydrated in 0.4 s at 2 regions/s",
			 (unsigned long long)st.nr_hydrated);
	atomic_store(&rd.stop, true);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* Users gone: full speed again, and it finishes. */
	assert_int_equal(lc_clone_wait(f.clone, 60000), 0);
	assert_dst_equals_source(&f);
	fixture_teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_come_from_source_until_written),
		cmocka_unit_test(test_full_region_write_needs_no_source),
		cmocka_unit_test(test_short_last_region),
		cmocka_unit_test(test_flush_and_fua_make_marks_durable),
		cmocka_unit_test(test_flush_failure_turns_read_only),
		cmocka_unit_test(test_user_write_error_shows_in_status),
		cmocka_unit_test(test_discard_marks_whole_regions_only),
		cmocka_unit_test(test_discard_reads_back_zeros),
		cmocka_unit_test(test_copy_on_read),
		cmocka_unit_test(test_hydration_completes_and_drops_source),
		cmocka_unit_test(test_zero_regions_are_discarded_not_written),
		cmocka_unit_test(test_source_errors_quarantine_then_resume),
		cmocka_unit_test(test_destination_errors_are_retried),
		cmocka_unit_test(test_pause_resume_and_reopen),
		cmocka_unit_test(test_rate_limit_bounds_progress),
		cmocka_unit_test(test_yield_backs_off_to_min_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
