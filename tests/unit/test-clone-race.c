/* SPDX-License-Identifier: MIT */
/*
 * User writes racing hydration on the same regions, checked against a model.
 *
 * Four writer threads own interleaved sectors (sector s belongs to thread
 * s % 4), so every region is written by all of them while two hydration
 * workers copy the same regions. Each thread records the last version it
 * wrote to each of its sectors: that is the model. When all writers are
 * done and hydration is complete, every sector of the clone must hold its
 * last written version, or the source if never written. A lost update (a
 * hydration copy landing over a user write, or two partial-region copies
 * overwriting each other) shows as a stale sector. Run under TSan in CI.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "clone-fixture.h"

#define REGION 4096u
#define NR_REGIONS 96u
#define SIZE (NR_REGIONS * REGION)
#define NR_SECTORS (SIZE / LC_SECTOR_SIZE)
#define NR_THREADS 4
#define OPS_PER_THREAD 1500

struct writer {
	struct lc_clone *clone;
	unsigned id;
	uint64_t rng;
	uint32_t *last_version; /* per sector; this thread's sectors only */
	int error;
};

static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void *writer_main(void *opaque)
{
	struct writer *w = opaque;
	uint8_t buf[LC_SECTOR_SIZE];

	for (uint32_t v = 1; v <= OPS_PER_THREAD && !w->error; v++) {
		/* A sector of ours: s % NR_THREADS == id. */
		uint64_t s = next_rand(&w->rng) % (NR_SECTORS / NR_THREADS) * NR_THREADS + w->id;
		int r;

		fill_write_sector(buf, s, v);
		r = lc_clone_write(w->clone, buf, sizeof(buf), s * LC_SECTOR_SIZE,
				   v % 97 == 0 ? LC_IO_FUA : 0);
		if (r < 0)
			w->error = r;
		else
			w->last_version[s] = v;
		if (v % 150 == 0 && lc_clone_flush(w->clone) < 0)
			w->error = -1;
	}
	return NULL;
}

static void test_writes_race_hydration(void **state)
{
	struct lc_clone_config cfg;
	struct writer w[NR_THREADS];
	pthread_t t[NR_THREADS];
	struct fixture f;
	uint8_t *buf;

	lc_clone_config_default(&cfg);
	cfg.nr_workers = 2;
	cfg.batch_regions = 3;
	cfg.max_inflight_regions = 5;
	cfg.commit_interval_ms = 5;
	cfg.yield_to_user_io = false; /* maximum overlap */
	cfg.rate_limit_bytes = 256u << 10; /* spread hydration over the run */
	assert_int_equal(fixture_setup(&f, SIZE, REGION, 0, &cfg), 0);

	for (unsigned i = 0; i < NR_THREADS; i++) {
		w[i] = (struct writer){ .clone = f.clone, .id = i, .rng = 0x9e3779b97f4a7c15ull * (i + 1) };
		w[i].last_version = calloc(NR_SECTORS, sizeof(uint32_t));
		assert_non_null(w[i].last_version);
		assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < NR_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].error, 0);
	}
	lc_clone_set_rate_limit(f.clone, 0);
	assert_int_equal(lc_clone_wait(f.clone, 120000), 0);

	buf = malloc(SIZE);
	assert_non_null(buf);
	assert_int_equal(lc_clone_read(f.clone, buf, SIZE, 0), 0);
	for (uint64_t s = 0; s < NR_SECTORS; s++) {
		uint32_t v = w[s % NR_THREADS].last_version[s];
		uint8_t want[LC_SECTOR_SIZE];

		if (v)
			fill_write_sector(want, s, v);
		else
			fill_source_sector(want, s);
		if (memcmp(buf + s * LC_SECTOR_SIZE, want, LC_SECTOR_SIZE) != 0)
			fail_msg("sector %llu: expected %s v%u", (unsigned long long)s,
				 v ? "write" : "source", v);
	}
	free(buf);
	for (unsigned i = 0; i < NR_THREADS; i++)
		free(w[i].last_version);
	fixture_teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_race_hydration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
