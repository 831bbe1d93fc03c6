/* SPDX-License-Identifier: MIT */
/*
 * Unit test of lib/backend_iscsi.c where no target is needed: the refusals
 * at open (writable open, bad query, nobody listening) and that their
 * messages never show a password. Reads, faults and CHAP against a real
 * target are in tests/iscsi (tgtd).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <lunclone/backend.h>
#include <lunclone/err.h>

static void test_writable_open_refused(void **state)
{
	struct lc_backend *be = NULL;
	struct lc_err err = {""};

	(void)state;
	assert_int_equal(lc_backend_open("iscsi://127.0.0.1:1/iqn.2026-11.t:x/1", 0, &be, &err),
			 -EROFS);
	assert_null(be);
	assert_non_null(strstr(err.msg, "read only"));
}

static void test_bad_query_refused(void **state)
{
	struct lc_backend *be = NULL;
	struct lc_err err = {""};

	(void)state;
	assert_int_equal(lc_backend_open("iscsi://127.0.0.1:1/iqn.2026-11.t:x/1?nope=1",
					 LC_BACKEND_RDONLY, &be, &err),
			 -EINVAL);
	assert_null(be);
	assert_non_null(strstr(err.msg, "unknown option 'nope'"));
}

static void test_nobody_listening(void **state)
{
	struct lc_backend *be = NULL;
	struct lc_err err = {""};
	int r;

	(void)state;
	/* Port 1 on loopback: refused at once, no retry at open. */
	r = lc_backend_open("iscsi://alice%hunter2@127.0.0.1:1/iqn.2026-11.t:x/1?timeout=5",
			    LC_BACKEND_RDONLY, &be, &err);
	assert_true(r < 0);
	assert_null(be);
	assert_non_null(strstr(err.msg, "iscsi://alice%***@127.0.0.1:1/"));
	assert_null(strstr(err.msg, "hunter2"));
}

static void test_stats_refuse_other_backends(void **state)
{
	struct lc_backend_iscsi_stats st;
	struct lc_backend *be;

	(void)state;
	assert_int_equal(lc_volcache_new("vc", 4096, NULL, &be), 0);
	assert_int_equal(lc_backend_iscsi_get_stats(be, &st), -EINVAL);
	lc_backend_close(be);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_writable_open_refused),
	    cmocka_unit_test(test_bad_query_refused),
	    cmocka_unit_test(test_nobody_listening),
	    cmocka_unit_test(test_stats_refuse_other_backends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
