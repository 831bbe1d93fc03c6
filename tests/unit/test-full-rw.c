/* SPDX-License-Identifier: MIT */
/*
 * Unit test of lib/util/full_rw.c. Each pread/pwrite the library issues
 * consumes the next scripted action (short count, EINTR, an errno, or EOF /
 * zero progress) and records the offset and length it was asked for; with
 * the script empty, calls do the real I/O on a real temporary file.
 *
 * Interception: with -D_FILE_OFFSET_BITS=64 glibc's <unistd.h> redirects
 * pread/pwrite to pread64/pwrite64, so the library references those names;
 * the test is linked with -Wl,--wrap=pread64,--wrap=pwrite64 and real I/O
 * goes to __real_pread64/__real_pwrite64 (libc's).
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

#include "util/full_rw.h"

ssize_t __real_pread64(int fd, void *buf, size_t count, off_t offset);
ssize_t __real_pwrite64(int fd, const void *buf, size_t count, off_t offset);
ssize_t __wrap_pread64(int fd, void *buf, size_t count, off_t offset);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t count, off_t offset);

static ssize_t real_pread(int fd, void *buf, size_t count, off_t offset)
{
	return __real_pread64(fd, buf, count, offset);
}

static ssize_t real_pwrite(int fd, const void *buf, size_t count, off_t offset)
{
	return __real_pwrite64(fd, buf, count, offset);
}

enum action_kind {
	ACT_SHORT, /* transfer at most n bytes, really */
	ACT_ERRNO, /* fail with errno n, transfer nothing */
	ACT_ZERO,  /* return 0: EOF for a read, no progress for a write */
};

struct action {
	enum action_kind kind;
	size_t n;
};

#define MAX_ACTIONS 64
#define MAX_CALLS 1024

struct call {
	off_t offset;
	size_t count;
};

/* The script and the log; single-threaded test. */
static struct {
	struct action actions[MAX_ACTIONS];
	size_t nr_actions, next_action;
	struct call calls[MAX_CALLS];
	size_t nr_calls;
} mock;

static void script(const struct action *a, size_t n)
{
	assert_true(n <= MAX_ACTIONS);
	memset(&mock, 0, sizeof(mock));
	memcpy(mock.actions, a, n * sizeof(*a));
	mock.nr_actions = n;
}

/* Returns 1 and sets *ret when an action decided the call's result. */
static int play(off_t offset, size_t *count, ssize_t *ret)
{
	const struct action *a;

	if (mock.nr_calls < MAX_CALLS)
		mock.calls[mock.nr_calls] = (struct call){.offset = offset, .count = *count};
	mock.nr_calls++;
	if (mock.next_action >= mock.nr_actions)
		return 0;
	a = &mock.actions[mock.next_action++];
	switch (a->kind) {
	case ACT_SHORT:
		if (*count > a->n)
			*count = a->n;
		return 0;
	case ACT_ERRNO:
		errno = (int)a->n;
		*ret = -1;
		return 1;
	case ACT_ZERO:
		*ret = 0;
		return 1;
	}
	return 0;
}

static ssize_t mock_pread(int fd, void *buf, size_t count, off_t offset)
{
	ssize_t ret;

	if (play(offset, &count, &ret))
		return ret;
	return real_pread(fd, buf, count, offset);
}

static ssize_t mock_pwrite(int fd, const void *buf, size_t count, off_t offset)
{
	ssize_t ret;

	if (play(offset, &count, &ret))
		return ret;
	return real_pwrite(fd, buf, count, offset);
}

ssize_t __wrap_pread64(int fd, void *buf, size_t count, off_t offset)
{
	return mock_pread(fd, buf, count, offset);
}

ssize_t __wrap_pwrite64(int fd, const void *buf, size_t count, off_t offset)
{
	return mock_pwrite(fd, buf, count, offset);
}

#define FILE_SIZE 8192

struct fixture {
	char dir[64];
	char path[96];
	int fd;
	uint8_t pattern[FILE_SIZE];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	size_t i;

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/lc-test-full-rw.XXXXXX");
	if (!mkdtemp(f->dir))
		goto out_free;
	snprintf(f->path, sizeof(f->path), "%s/data", f->dir);
	f->fd = open(f->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (f->fd < 0)
		goto out_rmdir;
	for (i = 0; i < FILE_SIZE; i++)
		f->pattern[i] = (uint8_t)(i * 31 + 7);
	if (real_pwrite(f->fd, f->pattern, FILE_SIZE, 0) != FILE_SIZE)
		goto out_close;
	memset(&mock, 0, sizeof(mock));
	*state = f;
	return 0;

out_close:
	close(f->fd);
	unlink(f->path);
out_rmdir:
	rmdir(f->dir);
out_free:
	free(f);
	return -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->fd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void test_read_plain(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[FILE_SIZE];

	assert_int_equal(lc_full_pread(f->fd, buf, FILE_SIZE, 0), 0);
	assert_memory_equal(buf, f->pattern, FILE_SIZE);
	assert_int_equal(mock.nr_calls, 1);
	assert_int_equal(lc_full_pread(f->fd, buf, 100, 4000), 0);
	assert_memory_equal(buf, f->pattern + 4000, 100);
}

static void test_read_short_counts(void **state)
{
	static const struct action a[] = {
	    {ACT_SHORT, 1},
	    {ACT_SHORT, 7},
	    {ACT_SHORT, 100},
	    {ACT_SHORT, 1000},
	};
	struct fixture *f = *state;
	uint8_t buf[3000];

	script(a, 4);
	assert_int_equal(lc_full_pread(f->fd, buf, sizeof(buf), 1000), 0);
	assert_memory_equal(buf, f->pattern + 1000, sizeof(buf));
	/* 1 + 7 + 100 + 1000 bytes, then the real call for the last 1892. */
	assert_int_equal(mock.nr_calls, 5);
	assert_int_equal(mock.calls[4].offset, 1000 + 1108);
	assert_int_equal(mock.calls[4].count, 3000 - 1108);
}

static void test_read_short_then_eof(void **state)
{
	/* A real zero-byte read in the middle means EOF: -EIO, no more calls. */
	static const struct action a[] = {{ACT_SHORT, 10}, {ACT_ZERO, 0}};
	struct fixture *f = *state;
	uint8_t buf[100];

	script(a, 2);
	assert_int_equal(lc_full_pread(f->fd, buf, sizeof(buf), 0), -EIO);
	assert_int_equal(mock.nr_calls, 2);
	assert_memory_equal(buf, f->pattern, 10);
}

static void test_read_offsets_advance(void **state)
{
	static const struct action a[] = {{ACT_SHORT, 1}, {ACT_SHORT, 7}, {ACT_SHORT, 100}};
	struct fixture *f = *state;
	uint8_t buf[1000];

	script(a, 3);
	assert_int_equal(lc_full_pread(f->fd, buf, sizeof(buf), 500), 0);
	assert_memory_equal(buf, f->pattern + 500, sizeof(buf));
	assert_int_equal(mock.nr_calls, 4);
	assert_int_equal(mock.calls[0].offset, 500);
	assert_int_equal(mock.calls[0].count, 1000);
	assert_int_equal(mock.calls[1].offset, 501);
	assert_int_equal(mock.calls[1].count, 999);
	assert_int_equal(mock.calls[2].offset, 508);
	assert_int_equal(mock.calls[2].count, 992);
	assert_int_equal(mock.calls[3].offset, 608);
	assert_int_equal(mock.calls[3].count, 892);
}

static void test_read_eintr_retried(void **state)
{
	static const struct action a[] = {
	    {ACT_ERRNO, EINTR},
	    {ACT_SHORT, 5},
	    {ACT_ERRNO, EINTR},
	    {ACT_ERRNO, EINTR},
	};
	struct fixture *f = *state;
	uint8_t buf[64];

	script(a, 4);
	assert_int_equal(lc_full_pread(f->fd, buf, sizeof(buf), 64), 0);
	assert_memory_equal(buf, f->pattern + 64, sizeof(buf));
	assert_int_equal(mock.nr_calls, 5);
	/* The retry after EINTR asks for the same range again. */
	assert_int_equal(mock.calls[1].offset, 64);
	assert_int_equal(mock.calls[1].count, 64);
	assert_int_equal(mock.calls[2].offset, 69);
}

static void test_read_eio(void **state)
{
	static const struct action a[] = {{ACT_SHORT, 3}, {ACT_ERRNO, EIO}};
	struct fixture *f = *state;
	uint8_t buf[64];

	script(a, 2);
	assert_int_equal(lc_full_pread(f->fd, buf, sizeof(buf), 0), -EIO);
	assert_int_equal(mock.nr_calls, 2);
}

static void test_read_errno_preserved(void **state)
{
	static const struct action a[] = {{ACT_ERRNO, ENOMEDIUM}};
	struct fixture *f = *state;
	uint8_t buf[64];

	script(a, 1);
	assert_int_equal(lc_full_pread(f->fd, buf, sizeof(buf), 0), -ENOMEDIUM);
	/* And a real error from the kernel. */
	memset(&mock, 0, sizeof(mock));
	assert_int_equal(lc_full_pread(-1, buf, sizeof(buf), 0), -EBADF);
}

static void test_read_past_eof(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[200];

	/* Real EOF: the first 100 bytes exist, the rest do not. */
	assert_int_equal(lc_full_pread(f->fd, buf, sizeof(buf), FILE_SIZE - 100), -EIO);
	assert_int_equal(mock.nr_calls, 2);
	assert_int_equal(lc_full_pread(f->fd, buf, 1, FILE_SIZE), -EIO);
}

static void test_zero_length_and_bad_offset(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[1];

	assert_int_equal(lc_full_pread(f->fd, buf, 0, 0), 0);
	assert_int_equal(lc_full_pwrite(f->fd, buf, 0, 0), 0);
	assert_int_equal(mock.nr_calls, 0);
	assert_int_equal(lc_full_pread(f->fd, buf, 1, UINT64_MAX), -EINVAL);
	assert_int_equal(lc_full_pwrite(f->fd, buf, 1, (uint64_t)INT64_MAX), -EINVAL);
	assert_int_equal(mock.nr_calls, 0);
}

static void test_write_short_counts_and_eintr(void **state)
{
	static const struct action a[] = {
	    {ACT_SHORT, 1},    {ACT_ERRNO, EINTR}, {ACT_SHORT, 9},
	    {ACT_SHORT, 1000}, {ACT_ERRNO, EINTR},
	};
	struct fixture *f = *state;
	uint8_t src[3000], back[3000];
	size_t i;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i ^ 0x5a);
	script(a, 5);
	assert_int_equal(lc_full_pwrite(f->fd, src, sizeof(src), 2000), 0);
	assert_int_equal(mock.nr_calls, 6);
	assert_int_equal(mock.calls[1].offset, 2001);
	assert_int_equal(mock.calls[2].offset, 2001);
	assert_int_equal(mock.calls[3].offset, 2010);
	assert_int_equal(mock.calls[5].offset, 3010);
	assert_int_equal(mock.calls[5].count, 1990);
	assert_int_equal(real_pread(f->fd, back, sizeof(back), 2000), (ssize_t)sizeof(back));
	assert_memory_equal(back, src, sizeof(src));
	/* Neighbours untouched. */
	assert_int_equal(real_pread(f->fd, back, 2000, 0), 2000);
	assert_memory_equal(back, f->pattern, 2000);
}

static void test_write_errors(void **state)
{
	static const struct action nospc[] = {{ACT_SHORT, 10}, {ACT_ERRNO, ENOSPC}};
	static const struct action eio[] = {{ACT_ERRNO, EIO}};
	static const struct action zero[] = {{ACT_ZERO, 0}};
	struct fixture *f = *state;
	uint8_t src[100];

	memset(src, 0xee, sizeof(src));
	script(nospc, 2);
	assert_int_equal(lc_full_pwrite(f->fd, src, sizeof(src), 0), -ENOSPC);
	assert_int_equal(mock.nr_calls, 2);
	script(eio, 1);
	assert_int_equal(lc_full_pwrite(f->fd, src, sizeof(src), 0), -EIO);
	assert_int_equal(mock.nr_calls, 1);
	/* No progress must not loop forever. */
	script(zero, 1);
	assert_int_equal(lc_full_pwrite(f->fd, src, sizeof(src), 0), -EIO);
	assert_int_equal(mock.nr_calls, 1);
	memset(&mock, 0, sizeof(mock));
	assert_int_equal(lc_full_pwrite(-1, src, sizeof(src), 0), -EBADF);
}

static void test_write_extends_file(void **state)
{
	struct fixture *f = *state;
	uint8_t src[50], back[50];

	memset(src, 0x11, sizeof(src));
	assert_int_equal(lc_full_pwrite(f->fd, src, sizeof(src), FILE_SIZE + 10), 0);
	assert_int_equal(lc_full_pread(f->fd, back, sizeof(back), FILE_SIZE + 10), 0);
	assert_memory_equal(back, src, sizeof(src));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_read_plain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_short_counts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_short_then_eof, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_offsets_advance, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_eintr_retried, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_eio, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_errno_preserved, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_past_eof, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zero_length_and_bad_offset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_short_counts_and_eintr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_extends_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
