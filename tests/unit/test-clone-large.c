/* SPDX-License-Identifier: MIT */
/*
 * A clone with more than 2^32 regions, on sparse files: 512-byte regions
 * over a 2 TiB + 1536-byte source. Region numbers above 2^32 must not wrap
 * (a 32-bit truncation would touch region 1 instead of 2^32 + 1), and the
 * short last region must be handled at the very end of the device.
 * Memory: the bitmap is 512 MiB of address space, touched only at its ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <lunclone/lunclone.h>

#define REGION 512u
#define HIGH_REGION ((1ull << 32) + 1)
#define NR_REGIONS ((1ull << 32) + 4)
#define SIZE (NR_REGIONS * REGION)

struct paths {
	char dir[64];
	char src[96], dst[96], meta[96];
};

static void make_sparse(const char *path, uint64_t size)
{
	int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	assert_int_equal(close(fd), 0);
}

static void pattern(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static int setup(void **state)
{
	struct paths *p = calloc(1, sizeof(*p));
	uint8_t buf[REGION];
	int fd;

	if (!p)
		return -1;
	/* tmpfs when there is one: sparse, and the 512 MiB bitmap copy the
	 * first commit rewrites costs no disk I/O. */
	strcpy(p->dir, access("/dev/shm", W_OK) == 0 ? "/dev/shm/lc-large.XXXXXX"
						     : "/var/tmp/lc-large.XXXXXX");
	if (!mkdtemp(p->dir))
		return -1;
	snprintf(p->src, sizeof(p->src), "%s/src", p->dir);
	snprintf(p->dst, sizeof(p->dst), "%s/dst", p->dir);
	snprintf(p->meta, sizeof(p->meta), "%s/meta", p->dir);
	make_sparse(p->src, SIZE);
	make_sparse(p->dst, SIZE);
	make_sparse(p->meta, lc_meta_required_size(REGION, SIZE));
	/* Source data in region 1 and region 2^32 + 1 (different bytes). */
	fd = open(p->src, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	pattern(buf, sizeof(buf), 1);
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 1 * REGION), REGION);
	pattern(buf, sizeof(buf), 2);
	assert_int_equal(pwrite(fd, buf, sizeof(buf), (off_t)(HIGH_REGION * REGION)), REGION);
	assert_int_equal(close(fd), 0);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct paths *p = *state;

	(void)unlink(p->src);
	(void)unlink(p->dst);
	(void)unlink(p->meta);
	(void)rmdir(p->dir);
	free(p);
	return 0;
}

static void test_regions_beyond_2_pow_32(void **state)
{
	struct paths *p = *state;
	struct lc_backend *src, *dst, *mdev;
	struct lc_meta_params expect = { .region_size_bytes = REGION, .source_size_bytes = SIZE };
	struct lc_meta_params params = { .region_size_bytes = REGION,
					 .source_size_bytes = SIZE,
					 .dest_size_bytes = SIZE };
	struct lc_clone_config cfg;
	struct lc_clone *clone;
	struct lc_meta *meta;
	struct lc_err err = { { 0 } };
	uint8_t buf[REGION], want[REGION];

	assert_int_equal(lc_backend_open(p->src, LC_BACKEND_RDONLY, &src, &err), 0);
	assert_int_equal(lc_backend_open(p->dst, 0, &dst, &err), 0);
	assert_int_equal(lc_backend_open(p->meta, 0, &mdev, &err), 0);
	if (lc_meta_format(mdev, &params, &err) < 0)
		fail_msg("format: %s", err.msg);
	if (lc_meta_open(mdev, dst, &expect, 0, &meta, &err) < 0)
		fail_msg("open meta: %s", err.msg);
	assert_int_equal(lc_meta_nr_regions(meta), NR_REGIONS);
	lc_clone_config_default(&cfg);
	cfg.nr_workers = 0;
	cfg.start_paused = true;
	cfg.commit_interval_ms = 0;
	if (lc_clone_open(src, dst, meta, &cfg, &clone, &err) < 0)
		fail_msg("open clone: %s", err.msg);
	assert_int_equal(lc_clone_size(clone), SIZE);

	/* Unhydrated: reads come from the source, at the right place. */
	pattern(want, sizeof(want), 2);
	assert_int_equal(lc_clone_read(clone, buf, REGION, HIGH_REGION * REGION), 0);
	assert_memory_equal(buf, want, REGION);

	/* A partial write above 2^32 copies that region, not region 1. */
	memset(buf, 0xee, 100);
	assert_int_equal(lc_clone_write(clone, buf, 100, HIGH_REGION * REGION + 12, LC_IO_FUA), 0);
	assert_true(lc_meta_is_hydrated(meta, HIGH_REGION));
	assert_false(lc_meta_is_hydrated(meta, 1));
	assert_int_equal(lc_meta_nr_hydrated(meta), 1);
	memcpy(want + 12, buf, 100);
	assert_int_equal(lc_clone_read(clone, buf, REGION, HIGH_REGION * REGION), 0);
	assert_memory_equal(buf, want, REGION);
	pattern(want, sizeof(want), 1);
	assert_int_equal(lc_clone_read(clone, buf, REGION, 1 * REGION), 0);
	assert_memory_equal(buf, want, REGION);

	/* A discard of the tail: the last region ends at the device's end. */
	assert_int_equal(lc_clone_discard(clone, (NR_REGIONS - 2) * REGION, 2 * REGION), 0);
	assert_true(lc_meta_is_hydrated(meta, NR_REGIONS - 1));
	assert_true(lc_meta_is_hydrated(meta, NR_REGIONS - 2));
	assert_int_equal(lc_meta_nr_hydrated(meta), 3);
	assert_int_equal(lc_clone_close(clone), 0);

	/* Durable and in the right place after reopening. */
	assert_int_equal(lc_meta_open(mdev, NULL, &expect, LC_META_OPEN_RDONLY, &meta, &err), 0);
	assert_true(lc_meta_is_hydrated(meta, HIGH_REGION));
	assert_false(lc_meta_is_hydrated(meta, 1));
	assert_true(lc_meta_is_hydrated(meta, NR_REGIONS - 1));
	assert_int_equal(lc_meta_nr_hydrated(meta), 3);
	assert_int_equal(lc_meta_next_unhydrated(meta, HIGH_REGION), NR_REGIONS);
	lc_meta_close(meta);
	lc_backend_close(mdev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_regions_beyond_2_pow_32, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
