/* SPDX-License-Identifier: MIT */
/*
 * Yield to user I/O: while an initiator keeps the clone busy, hydration
 * slows to min_rate (and batches shrink to one region); once it stops,
 * hydration goes back to full speed and completes.
 *
 * Each case lets the batches that were in flight when user I/O began drain
 * first (they were claimed at full speed, and may finish), then counts the
 * regions hydrated in a window. The same run with yield off is the control
 * that shows the count can fail.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "clone-fixture.h"

#define REGION 4096u
#define NR_REGIONS 2048u
#define SIZE (NR_REGIONS * REGION)
/* Two regions a second while yielding. */
#define MIN_RATE (2u * REGION)
#define SETTLE_MS 300u
#define WINDOW_MS 1000u

struct reader {
	struct lc_clone *clone;
	atomic_bool stop;
	atomic_uint_fast64_t nr_reads;
	pthread_t thread;
};

/* An initiator at queue depth 1: a 4 KiB read of an unhydrated region, then
 * the next after 0.2 ms, well inside the yield window (20 ms), so the clone
 * is busy throughout. The pause also lets the workers run under valgrind,
 * which runs one thread at a time: a reader that never sleeps would starve
 * them there, and the control below would copy nothing. */
static void *reader_main(void *opaque)
{
	struct reader *rd = opaque;
	uint8_t buf[REGION];

	while (!atomic_load(&rd->stop)) {
		if (lc_clone_read(rd->clone, buf, sizeof(buf), (uint64_t)(NR_REGIONS - 1) * REGION) == 0)
			atomic_fetch_add(&rd->nr_reads, 1);
		usleep(200);
	}
	return NULL;
}

static uint64_t nr_hydrated(struct lc_clone *c)
{
	struct lc_clone_status st;

	lc_clone_get_status(c, &st);
	return st.nr_hydrated;
}

/* Regions hydrated in WINDOW_MS of continuous user reads, after SETTLE_MS. */
static uint64_t hydrated_while_busy(bool yield, struct fixture *f)
{
	struct lc_clone_config cfg;
	struct reader rd = {0};
	uint64_t before, after;

	lc_clone_config_default(&cfg);
	cfg.nr_workers = 2;
	cfg.batch_regions = 16;
	cfg.commit_interval_ms = 10;
	cfg.min_rate_bytes = MIN_RATE;
	cfg.yield_to_user_io = yield;
	cfg.start_paused = true;
	assert_int_equal(fixture_setup(f, SIZE, REGION, 0, &cfg), 0);
	rd.clone = f->clone;
	assert_int_equal(pthread_create(&rd.thread, NULL, reader_main, &rd), 0);
	while (atomic_load(&rd.nr_reads) == 0)
		usleep(1000);
	lc_clone_resume(f->clone);
	usleep(SETTLE_MS * 1000);
	before = nr_hydrated(f->clone);
	usleep(WINDOW_MS * 1000);
	after = nr_hydrated(f->clone);
	atomic_store(&rd.stop, true);
	assert_int_equal(pthread_join(rd.thread, NULL), 0);
	/* The reader was busy all along. */
	assert_true(atomic_load(&rd.nr_reads) > 100);
	print_message("yield %s: %llu regions in %u ms of user reads (%llu in before)\n",
		      yield ? "on" : "off", (unsigned long long)(after - before), WINDOW_MS,
		      (unsigned long long)before);
	return after - before;
}

static void test_yield_holds_hydration_at_min_rate(void **state)
{
	struct fixture f;
	uint64_t n;

	(void)state;
	n = hydrated_while_busy(true, &f);
	/* 2 regions a second; one more may be reserved at the window's
	 * edge, and one per worker finishing late. */
	assert_in_range(n, 0, 5);
	assert_true(nr_hydrated(f.clone) < NR_REGIONS / 2);
	/* User I/O over: full speed again, to the end. */
	assert_int_equal(lc_clone_wait(f.clone, 30000), 0);
	fixture_teardown(&f);
}

/* The control: without yield the same window copies far more. */
static void test_without_yield_hydration_runs_on(void **state)
{
	struct fixture f;
	uint64_t n;

	(void)state;
	n = hydrated_while_busy(false, &f);
	assert_true(n > 20 || nr_hydrated(f.clone) == NR_REGIONS);
	assert_int_equal(lc_clone_wait(f.clone, 30000), 0);
	fixture_teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_yield_holds_hydration_at_min_rate),
	    cmocka_unit_test(test_without_yield_hydration_runs_on),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
