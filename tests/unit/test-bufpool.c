/* SPDX-License-Identifier: MIT */
/* Buffer pool: distinct aligned buffers, tryget when empty, reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bufpool.h"

static void test_get_put(void **state)
{
	struct lc_bufpool pool;
	void *a, *b;

	assert_int_equal(lc_bufpool_init(&pool, 2, 8192, 4096), 0);
	a = lc_bufpool_get(&pool);
	b = lc_bufpool_tryget(&pool);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_int_equal((uintptr_t)a % 4096, 0);
	assert_int_equal((uintptr_t)b % 4096, 0);
	memset(a, 1, 8192);
	memset(b, 2, 8192);
	assert_null(lc_bufpool_tryget(&pool));
	lc_bufpool_put(&pool, a);
	assert_ptr_equal(lc_bufpool_tryget(&pool), a);
	lc_bufpool_put(&pool, a);
	lc_bufpool_put(&pool, b);
	lc_bufpool_destroy(&pool);
	lc_bufpool_destroy(&pool); /* destroyed twice: harmless */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_put),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
