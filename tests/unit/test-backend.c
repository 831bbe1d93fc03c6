/* SPDX-License-Identifier: MIT */
/*
 * Unit test of lib/backend.c, the checked entry points, against a stub
 * backend that counts what reaches it: refused requests (-EINVAL, -EROFS,
 * -EOPNOTSUPP) and empty ones must never reach the ops; accepted ones pass
 * their arguments and result through unchanged.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <lunclone/backend.h>

struct stub {
	struct lc_backend be;
	int nr_calls;
	int result; /* what every op returns */
	uint64_t last_offset, last_len;
	bool *closed;
};

static int stub_pread(struct lc_backend *be, void *buf, size_t len, uint64_t offset_bytes)
{
	struct stub *s = (struct stub *)be;

	s->nr_calls++;
	s->last_offset = offset_bytes;
	s->last_len = len;
	memset(buf, 0xab, len);
	return s->result;
}

static int stub_pwrite(struct lc_backend *be, const void *buf, size_t len, uint64_t offset_bytes)
{
	struct stub *s = (struct stub *)be;

	(void)buf;
	s->nr_calls++;
	s->last_offset = offset_bytes;
	s->last_len = len;
	return s->result;
}

static int stub_flush(struct lc_backend *be)
{
	struct stub *s = (struct stub *)be;

	s->nr_calls++;
	return s->result;
}

static int stub_discard(struct lc_backend *be, uint64_t offset_bytes, uint64_t len_bytes)
{
	struct stub *s = (struct stub *)be;

	s->nr_calls++;
	s->last_offset = offset_bytes;
	s->last_len = len_bytes;
	return s->result;
}

static void stub_close(struct lc_backend *be)
{
	struct stub *s = (struct stub *)be;

	*s->closed = true;
	free(s);
}

static const struct lc_backend_ops stub_ops = {
    .name = "stub",
    .pread = stub_pread,
    .pwrite = stub_pwrite,
    .flush = stub_flush,
    .discard = stub_discard,
    .close = stub_close,
};

static const struct lc_backend_ops stub_ops_no_discard = {
    .name = "stub-no-discard",
    .pread = stub_pread,
    .pwrite = stub_pwrite,
    .flush = stub_flush,
    .close = stub_close,
};

static bool stub_closed;

static struct stub *stub_new(const struct lc_backend_ops *ops, uint64_t size, bool ro)
{
	struct stub *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->be.ops = ops;
	s->be.size_bytes = size;
	s->be.logical_block_size = 512;
	s->be.read_only = ro;
	s->closed = &stub_closed;
	stub_closed = false;
	return s;
}

static void test_ranges(void **state)
{
	struct stub *s = stub_new(&stub_ops, 4096, false);
	uint8_t buf[64];

	(void)state;
	assert_int_equal(lc_backend_pread(&s->be, buf, 64, 4096 - 64), 0);
	assert_int_equal(s->nr_calls, 1);
	assert_int_equal(s->last_offset, 4096 - 64);
	assert_int_equal(s->last_len, 64);
	assert_int_equal(buf[63], 0xab);

	assert_int_equal(lc_backend_pread(&s->be, buf, 64, 4096 - 63), -EINVAL);
	assert_int_equal(lc_backend_pread(&s->be, buf, 1, 4096), -EINVAL);
	assert_int_equal(lc_backend_pread(&s->be, buf, 1, UINT64_MAX), -EINVAL);
	/* offset + len wraps to a small number: must still be refused. */
	assert_int_equal(lc_backend_pread(&s->be, buf, 64, UINT64_MAX - 10), -EINVAL);
	assert_int_equal(lc_backend_pwrite(&s->be, buf, 64, UINT64_MAX - 10), -EINVAL);
	assert_int_equal(lc_backend_discard(&s->be, 100, UINT64_MAX - 50), -EINVAL);
	assert_int_equal(lc_backend_pwrite(&s->be, buf, SIZE_MAX, 2), -EINVAL);
	assert_int_equal(s->nr_calls, 1);

	/* Empty requests succeed without reaching the backend. */
	assert_int_equal(lc_backend_pread(&s->be, buf, 0, 0), 0);
	assert_int_equal(lc_backend_pwrite(&s->be, buf, 0, 4096), 0);
	assert_int_equal(lc_backend_discard(&s->be, 4096, 0), 0);
	assert_int_equal(lc_backend_discard(&s->be, 4097, 0), -EINVAL);
	assert_int_equal(s->nr_calls, 1);

	assert_int_equal(lc_backend_pwrite(&s->be, buf, 10, 0), 0);
	assert_int_equal(lc_backend_discard(&s->be, 512, 3584), 0);
	assert_int_equal(s->last_offset, 512);
	assert_int_equal(s->last_len, 3584);
	assert_int_equal(lc_backend_flush(&s->be), 0);
	assert_int_equal(s->nr_calls, 4);
	lc_backend_close(&s->be);
	assert_true(stub_closed);
}

static void test_errors_pass_through(void **state)
{
	struct stub *s = stub_new(&stub_ops, 4096, false);
	uint8_t buf[8];

	(void)state;
	s->result = -EIO;
	assert_int_equal(lc_backend_pread(&s->be, buf, 8, 0), -EIO);
	assert_int_equal(lc_backend_pwrite(&s->be, buf, 8, 0), -EIO);
	assert_int_equal(lc_backend_flush(&s->be), -EIO);
	s->result = -ENOSPC;
	assert_int_equal(lc_backend_discard(&s->be, 0, 8), -ENOSPC);
	assert_int_equal(s->nr_calls, 4);
	lc_backend_close(&s->be);
}

static void test_read_only(void **state)
{
	struct stub *s = stub_new(&stub_ops, 4096, true);
	uint8_t buf[8] = {0};

	(void)state;
	assert_int_equal(lc_backend_pwrite(&s->be, buf, 8, 0), -EROFS);
	assert_int_equal(lc_backend_discard(&s->be, 0, 8), -EROFS);
	assert_int_equal(s->nr_calls, 0);
	assert_int_equal(lc_backend_pread(&s->be, buf, 8, 0), 0);
	assert_int_equal(lc_backend_flush(&s->be), 0);
	assert_int_equal(s->nr_calls, 2);
	lc_backend_close(&s->be);
}

static void test_no_discard(void **state)
{
	struct stub *s = stub_new(&stub_ops_no_discard, 4096, false);

	(void)state;
	assert_int_equal(lc_backend_discard(&s->be, 0, 512), -EOPNOTSUPP);
	assert_int_equal(s->nr_calls, 0);
	lc_backend_close(&s->be);
	assert_true(stub_closed);
	lc_backend_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_errors_pass_through),
	    cmocka_unit_test(test_read_only),
	    cmocka_unit_test(test_no_discard),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
