/* SPDX-License-Identifier: MIT */
/*
 * Unit test of lib/backend_file.c through lc_backend_open() and the checked
 * wrappers: properties at open, round trips checked against the file itself,
 * bounds, read-only, hole punching, O_DIRECT, and the refusals (missing path,
 * directory, FIFO) with their messages. Everything lives in a mkdtemp dir.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <lunclone/backend.h>
#include <lunclone/err.h>

#define FILE_SIZE (1024 * 1024)

struct fixture {
	char dir[64];
	char path[96];
	uint8_t *pattern; /* FILE_SIZE, the file's initial content */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	size_t i;
	int fd;

	if (!f)
		return -1;
	f->pattern = malloc(FILE_SIZE);
	if (!f->pattern)
		goto out_free_f;
	for (i = 0; i < FILE_SIZE; i++)
		f->pattern[i] = (uint8_t)(i * 13 + i / 4096);
	strcpy(f->dir, "/tmp/lc-test-backend-file.XXXXXX");
	if (!mkdtemp(f->dir))
		goto out_free_pattern;
	snprintf(f->path, sizeof(f->path), "%s/disk.img", f->dir);
	fd = open(f->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out_rmdir;
	if (pwrite(fd, f->pattern, FILE_SIZE, 0) != FILE_SIZE) {
		close(fd);
		goto out_unlink;
	}
	close(fd);
	*state = f;
	return 0;

out_unlink:
	unlink(f->path);
out_rmdir:
	rmdir(f->dir);
out_free_pattern:
	free(f->pattern);
out_free_f:
	free(f);
	return -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f->pattern);
	free(f);
	return 0;
}

/* Reads the file behind the backend's back. */
static void read_raw(const struct fixture *f, void *buf, size_t len, off_t off)
{
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void test_open_properties(void **state)
{
	struct fixture *f = *state;
	struct lc_err err = {{0}};
	struct lc_backend *be = NULL;

	assert_int_equal(lc_backend_open(f->path, 0, &be, &err), 0);
	assert_non_null(be);
	assert_string_equal(be->ops->name, "file");
	assert_string_equal(be->uri, f->path);
	assert_int_equal(be->size_bytes, FILE_SIZE);
	assert_int_equal(be->logical_block_size, 512);
	assert_false(be->read_only);
	assert_true(be->discard_zeroes);
	assert_non_null(be->ops->discard);
	lc_backend_close(be);

	/* Direct entry point, read-only, and no err given. */
	be = NULL;
	assert_int_equal(lc_backend_file_open(f->path, LC_BACKEND_RDONLY, &be, NULL), 0);
	assert_true(be->read_only);
	lc_backend_close(be);
	lc_backend_close(NULL);
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct lc_backend *be;
	uint8_t buf[10000], raw[10000];
	size_t i;

	assert_int_equal(lc_backend_open(f->path, 0, &be, NULL), 0);
	assert_int_equal(lc_backend_pread(be, buf, sizeof(buf), 12345), 0);
	assert_memory_equal(buf, f->pattern + 12345, sizeof(buf));

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)~i;
	/* Unaligned offset, and a write ending exactly at the end. */
	assert_int_equal(lc_backend_pwrite(be, buf, sizeof(buf), 777), 0);
	assert_int_equal(lc_backend_pwrite(be, buf, 100, FILE_SIZE - 100), 0);
	assert_int_equal(lc_backend_flush(be), 0);

	read_raw(f, raw, sizeof(raw), 777);
	assert_memory_equal(raw, buf, sizeof(buf));
	read_raw(f, raw, 777, 0);
	assert_memory_equal(raw, f->pattern, 777);
	read_raw(f, raw, 100, 777 + sizeof(buf));
	assert_memory_equal(raw, f->pattern + 777 + sizeof(buf), 100);
	read_raw(f, raw, 100, FILE_SIZE - 100);
	assert_memory_equal(raw, buf, 100);

	memset(raw, 0, sizeof(raw));
	assert_int_equal(lc_backend_pread(be, raw, sizeof(buf), 777), 0);
	assert_memory_equal(raw, buf, sizeof(buf));
	/* The size does not change with writes inside it. */
	assert_int_equal(be->size_bytes, FILE_SIZE);
	lc_backend_close(be);
}

static void test_bounds(void **state)
{
	struct fixture *f = *state;
	struct lc_backend *be;
	uint8_t buf[16] = {0};

	assert_int_equal(lc_backend_open(f->path, 0, &be, NULL), 0);
	assert_int_equal(lc_backend_pread(be, buf, 1, FILE_SIZE), -EINVAL);
	assert_int_equal(lc_backend_pread(be, buf, 2, FILE_SIZE - 1), -EINVAL);
	assert_int_equal(lc_backend_pread(be, buf, 1, UINT64_MAX), -EINVAL);
	assert_int_equal(lc_backend_pread(be, buf, SIZE_MAX, 1), -EINVAL);
	assert_int_equal(lc_backend_pwrite(be, buf, 16, FILE_SIZE - 8), -EINVAL);
	assert_int_equal(lc_backend_pwrite(be, buf, 1, UINT64_MAX), -EINVAL);
	assert_int_equal(lc_backend_discard(be, FILE_SIZE - 512, 1024), -EINVAL);
	assert_int_equal(lc_backend_discard(be, 512, UINT64_MAX), -EINVAL);
	assert_int_equal(lc_backend_discard(be, UINT64_MAX - 10, 20), -EINVAL);
	/* Empty ranges up to the end are fine; past it they are not. */
	assert_int_equal(lc_backend_pread(be, buf, 0, FILE_SIZE), 0);
	assert_int_equal(lc_backend_pwrite(be, buf, 0, FILE_SIZE), 0);
	assert_int_equal(lc_backend_pread(be, buf, 0, FILE_SIZE + 1), -EINVAL);
	/* Nothing was written by the refused requests. */
	{
		uint8_t raw[16];

		read_raw(f, raw, 16, FILE_SIZE - 16);
		assert_memory_equal(raw, f->pattern + FILE_SIZE - 16, 16);
	}
	lc_backend_close(be);
}

static void test_read_only(void **state)
{
	struct fixture *f = *state;
	struct lc_backend *be;
	uint8_t buf[512], raw[512];

	assert_int_equal(lc_backend_open(f->path, LC_BACKEND_RDONLY, &be, NULL), 0);
	assert_true(be->read_only);
	memset(buf, 0x42, sizeof(buf));
	assert_int_equal(lc_backend_pwrite(be, buf, sizeof(buf), 0), -EROFS);
	assert_int_equal(lc_backend_discard(be, 0, 4096), -EROFS);
	/* Even an empty or out-of-range write is refused as read-only first. */
	assert_int_equal(lc_backend_pwrite(be, buf, 0, 0), -EROFS);
	assert_int_equal(lc_backend_pread(be, buf, sizeof(buf), 4096), 0);
	assert_memory_equal(buf, f->pattern + 4096, sizeof(buf));
	assert_int_equal(lc_backend_flush(be), 0);
	read_raw(f, raw, sizeof(raw), 0);
	assert_memory_equal(raw, f->pattern, sizeof(raw));
	lc_backend_close(be);
}

static void test_discard_punches_zeros(void **state)
{
	struct fixture *f = *state;
	struct lc_backend *be;
	uint8_t *buf = malloc(64 * 1024);
	uint8_t zero[1000] = {0};
	struct stat before, after;
	size_t i;

	assert_non_null(buf);
	assert_int_equal(lc_backend_open(f->path, 0, &be, NULL), 0);
	assert_int_equal(stat(f->path, &before), 0);
	/* One aligned range (frees blocks) and one unaligned (zeroes partly). */
	assert_int_equal(lc_backend_discard(be, 128 * 1024, 64 * 1024), 0);
	assert_int_equal(lc_backend_discard(be, 1000, 1000), 0);
	assert_int_equal(lc_backend_discard(be, 0, 0), 0);

	assert_int_equal(lc_backend_pread(be, buf, 64 * 1024, 128 * 1024), 0);
	for (i = 0; i < 64 * 1024; i++)
		if (buf[i] != 0)
			fail_msg("byte %zu of the discarded range is %#x", i, buf[i]);
	assert_int_equal(lc_backend_pread(be, buf, 3000, 0), 0);
	assert_memory_equal(buf, f->pattern, 1000);
	assert_memory_equal(buf + 1000, zero, 1000);
	assert_memory_equal(buf + 2000, f->pattern + 2000, 1000);
	/* Neighbours of the big range untouched. */
	assert_int_equal(lc_backend_pread(be, buf, 1, 128 * 1024 - 1), 0);
	assert_int_equal(buf[0], f->pattern[128 * 1024 - 1]);
	assert_int_equal(lc_backend_pread(be, buf, 1, 192 * 1024), 0);
	assert_int_equal(buf[0], f->pattern[192 * 1024]);

	/* KEEP_SIZE: same size; the hole gave blocks back. */
	assert_int_equal(stat(f->path, &after), 0);
	assert_int_equal(after.st_size, FILE_SIZE);
	assert_true(after.st_blocks < before.st_blocks);
	lc_backend_close(be);
	free(buf);
}

static void test_direct(void **state)
{
	struct fixture *f = *state;
	struct lc_backend *be;
	uint32_t lbs;
	uint8_t *buf;

	assert_int_equal(lc_backend_open(f->path, LC_BACKEND_DIRECT, &be, NULL), 0);
	lbs = be->logical_block_size;
	assert_true(lbs >= 512 && lbs <= 65536);
	assert_int_equal(lbs & (lbs - 1), 0);
	buf = aligned_alloc(lbs, 4 * (size_t)lbs);
	assert_non_null(buf);
	assert_int_equal(lc_backend_pread(be, buf, 4 * (size_t)lbs, 8 * (uint64_t)lbs), 0);
	assert_memory_equal(buf, f->pattern + 8 * lbs, 4 * (size_t)lbs);
	memset(buf, 0x77, 4 * (size_t)lbs);
	assert_int_equal(lc_backend_pwrite(be, buf, 4 * (size_t)lbs, 0), 0);
	assert_int_equal(lc_backend_flush(be), 0);
	memset(buf, 0, 4 * (size_t)lbs);
	assert_int_equal(lc_backend_pread(be, buf, 4 * (size_t)lbs, 0), 0);
	assert_int_equal(buf[0], 0x77);
	assert_int_equal(buf[4 * lbs - 1], 0x77);
	/* A direct read at a misaligned offset is the kernel's -EINVAL, passed on. */
	assert_int_equal(lc_backend_pread(be, buf, lbs, 1), -EINVAL);
	lc_backend_close(be);
	free(buf);
}

static void test_missing_path(void **state)
{
	struct fixture *f = *state;
	struct lc_err err = {{0}};
	struct lc_backend *be = (struct lc_backend *)0x1;
	char missing[128];

	snprintf(missing, sizeof(missing), "%s/no-such-disk", f->dir);
	assert_int_equal(lc_backend_open(missing, 0, &be, &err), -ENOENT);
	assert_ptr_equal(be, (struct lc_backend *)0x1); /* untouched on failure */
	assert_non_null(strstr(err.msg, missing));
	assert_non_null(strstr(err.msg, "No such file or directory"));

	memset(&err, 0, sizeof(err));
	assert_int_equal(lc_backend_file_open(missing, LC_BACKEND_RDONLY, &be, &err), -ENOENT);
	assert_non_null(strstr(err.msg, missing));
	assert_int_equal(lc_backend_open("", 0, &be, &err), -EINVAL);
	assert_int_equal(lc_backend_open(missing, 0, &be, NULL), -ENOENT);
}

static void test_directory_refused(void **state)
{
	struct fixture *f = *state;
	struct lc_err err = {{0}};
	struct lc_backend *be = NULL;

	assert_int_equal(lc_backend_open(f->dir, LC_BACKEND_RDONLY, &be, &err), -EISDIR);
	assert_null(be);
	assert_non_null(strstr(err.msg, f->dir));
	assert_non_null(strstr(err.msg, "not a regular file"));
	/* Read-write: open() itself refuses, with the same errno. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(lc_backend_open(f->dir, 0, &be, &err), -EISDIR);
	assert_non_null(strstr(err.msg, f->dir));
	assert_null(be);
}

static void test_fifo_refused_without_hanging(void **state)
{
	struct fixture *f = *state;
	struct lc_err err = {{0}};
	struct lc_backend *be = NULL;
	char fifo[128];

	snprintf(fifo, sizeof(fifo), "%s/fifo", f->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* With no writer, a blocking open would hang here forever. */
	assert_int_equal(lc_backend_open(fifo, LC_BACKEND_RDONLY, &be, &err), -EINVAL);
	assert_null(be);
	assert_non_null(strstr(err.msg, "not a regular file"));
	assert_int_equal(unlink(fifo), 0);
}

static void test_bdev_refuses_file(void **state)
{
	struct fixture *f = *state;
	struct lc_err err = {{0}};
	struct lc_backend *be = NULL;

	assert_int_equal(lc_backend_bdev_open(f->path, 0, &be, &err), -ENOTBLK);
	assert_null(be);
	assert_non_null(strstr(err.msg, f->path));
	assert_non_null(strstr(err.msg, "not a block device"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_properties, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_discard_punches_zeros, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_direct, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_directory_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_refused_without_hanging, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bdev_refuses_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
