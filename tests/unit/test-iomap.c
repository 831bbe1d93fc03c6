/* SPDX-License-Identifier: MIT */
/*
 * The I/O map's cost per request (its behaviour is test-clone.c's): a
 * complete clone passes requests through without reading the clock (a
 * system call in User-Mode-Linux guests, which have no vDSO), a hydrating
 * one reads it once per request, for yield. clock_gettime is wrapped
 * (-Wl,--wrap) and counted on the test's own thread only: the clone's
 * housekeeper and workers read it too.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "clone-fixture.h"

#define REGION 4096u
#define SIZE (16u * REGION)
#define NR_REQUESTS 100u

int __real_clock_gettime(clockid_t clock, struct timespec *ts);
int __wrap_clock_gettime(clockid_t clock, struct timespec *ts);

static pthread_t test_thread;
static atomic_uint nr_clock_reads;

int __wrap_clock_gettime(clockid_t clock, struct timespec *ts)
{
	if (pthread_equal(pthread_self(), test_thread))
		atomic_fetch_add(&nr_clock_reads, 1);
	return __real_clock_gettime(clock, ts);
}

static unsigned clock_reads_during(struct fixture *f,
				   void (*requests)(struct fixture *f, uint8_t *buf))
{
	uint8_t buf[REGION];
	unsigned n;

	atomic_store(&nr_clock_reads, 0);
	requests(f, buf);
	n = atomic_load(&nr_clock_reads);
	return n;
}

/* NR_REQUESTS reads of one sector each, all over the clone. */
static void reads(struct fixture *f, uint8_t *buf)
{
	for (unsigned i = 0; i < NR_REQUESTS; i++)
		assert_int_equal(
		    lc_clone_read(f->clone, buf, LC_SECTOR_SIZE,
				  (uint64_t)(i * 7 % (SIZE / LC_SECTOR_SIZE)) * LC_SECTOR_SIZE),
		    0);
}

/* NR_REQUESTS whole-region writes (no copy from the source). */
static void writes(struct fixture *f, uint8_t *buf)
{
	memset(buf, 0xa5, REGION);
	for (unsigned i = 0; i < NR_REQUESTS; i++)
		assert_int_equal(
		    lc_clone_write(f->clone, buf, REGION, (uint64_t)(i % 16) * REGION, 0), 0);
}

static void discards(struct fixture *f, uint8_t *buf)
{
	(void)buf;
	for (unsigned i = 0; i < NR_REQUESTS; i++)
		assert_int_equal(lc_clone_discard(f->clone, (uint64_t)(i % 16) * REGION, REGION),
				 0);
}

static void test_complete_clone_reads_no_clock(void **state)
{
	struct lc_clone_config cfg;
	struct lc_clone_status st;
	struct fixture f;
	uint8_t buf[LC_SECTOR_SIZE];

	(void)state;
	lc_clone_config_default(&cfg);
	cfg.commit_interval_ms = 10;
	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);
	assert_int_equal(lc_clone_wait(f.clone, 60000), 0);
	lc_clone_get_status(f.clone, &st);
	assert_int_equal(st.state, LC_CLONE_COMPLETE);

	assert_int_equal(clock_reads_during(&f, reads), 0);
	assert_int_equal(clock_reads_during(&f, writes), 0);
	assert_int_equal(clock_reads_during(&f, discards), 0);
	/* Still counted for status, and still the right data. */
	lc_clone_get_status(f.clone, &st);
	assert_int_equal(st.user_reads, NR_REQUESTS);
	assert_int_equal(st.user_writes, NR_REQUESTS);
	assert_int_equal(lc_clone_write(f.clone, (uint8_t[LC_SECTOR_SIZE]){7}, LC_SECTOR_SIZE,
					3 * LC_SECTOR_SIZE, 0),
			 0);
	assert_int_equal(lc_clone_read(f.clone, buf, sizeof(buf), 3 * LC_SECTOR_SIZE), 0);
	assert_int_equal(buf[0], 7);
	fixture_teardown(&f);
}

static void test_hydrating_clone_reads_clock_once_per_request(void **state)
{
	struct lc_clone_config cfg;
	struct fixture f;

	(void)state;
	lc_clone_config_default(&cfg);
	cfg.nr_workers = 0;
	cfg.commit_interval_ms = 0;
	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);

	assert_int_equal(clock_reads_during(&f, reads), NR_REQUESTS);
	assert_int_equal(clock_reads_during(&f, writes), NR_REQUESTS);
	fixture_teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_complete_clone_reads_no_clock),
	    cmocka_unit_test(test_hydrating_clone_reads_clock_once_per_request),
	};

	test_thread = pthread_self();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
