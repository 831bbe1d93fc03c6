/* SPDX-License-Identifier: MIT */
/* Region holds: exclusion per region, independence across regions. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "region_lock.h"

static void test_trylock_excludes_same_region(void **state)
{
	struct lc_region_locks locks;
	struct lc_region_hold a, b, c;

	assert_int_equal(lc_region_locks_init(&locks), 0);
	assert_true(lc_region_trylock(&locks, &a, 7));
	assert_false(lc_region_trylock(&locks, &b, 7));
	assert_true(lc_region_is_held(&locks, 7));
	/* Same stripe (7 + 64), different region: not blocked. */
	assert_true(lc_region_trylock(&locks, &c, 7 + LC_REGION_LOCK_STRIPES));
	/* Beyond 32 bits. */
	assert_true(lc_region_trylock(&locks, &b, (1ull << 33) + 7));
	lc_region_unlock(&locks, &a);
	assert_false(lc_region_is_held(&locks, 7));
	assert_true(lc_region_is_held(&locks, 7 + LC_REGION_LOCK_STRIPES));
	lc_region_unlock(&locks, &b);
	lc_region_unlock(&locks, &c);
	lc_region_locks_destroy(&locks);
}

struct counter {
	struct lc_region_locks *locks;
	uint64_t region;
	long value; /* protected by the hold on region */
};

static void *bump(void *opaque)
{
	struct counter *ctr = opaque;

	for (int i = 0; i < 2000; i++) {
		struct lc_region_hold h;

		lc_region_lock(ctr->locks, &h, ctr->region);
		long v = ctr->value;
		if (i % 500 == 0)
			usleep(100); /* widen the window a lost update would need */
		ctr->value = v + 1;
		lc_region_unlock(ctr->locks, &h);
	}
	return NULL;
}

static void test_lock_serializes_threads(void **state)
{
	struct lc_region_locks locks;
	struct counter ctr = { .locks = &locks, .region = 3, .value = 0 };
	pthread_t t[4];

	assert_int_equal(lc_region_locks_init(&locks), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, bump, &ctr), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(ctr.value, 4 * 2000);
	lc_region_locks_destroy(&locks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trylock_excludes_same_region),
		cmocka_unit_test(test_lock_serializes_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
