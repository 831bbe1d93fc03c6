/* SPDX-License-Identifier: MIT */
/*
 * Unit test of lib/bitmap.c: single bits, ranges across word boundaries,
 * searches and counts against a plain bool array, the padding past nr_bits,
 * a map of 2^32 + 100 bits touched only near its ends and across the 2^32
 * boundary, and racing setters (each bit reported newly set exactly once).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <lunclone/bitmap.h>

static uint32_t rng_state;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void test_init_destroy(void **state)
{
	struct lc_bitmap b = {0};

	(void)state;
	lc_bitmap_destroy(&b); /* zeroed: fine */
	assert_int_equal(lc_bitmap_init(&b, 0), 0);
	assert_non_null(b.words);
	assert_int_equal(lc_bitmap_count(&b), 0);
	assert_int_equal(lc_bitmap_find_next_zero(&b, 0), 0);
	assert_int_equal(lc_bitmap_find_next_set(&b, 0), 0);
	assert_int_equal(lc_bitmap_set_range(&b, 0, 0), 0);
	lc_bitmap_destroy(&b);
	assert_null(b.words);
	lc_bitmap_destroy(&b); /* destroyed: fine */
	lc_bitmap_destroy(NULL);
	assert_int_equal(lc_bitmap_init(&b, UINT64_MAX), -ENOMEM);
	/* The largest count whose word count would wrap; refused before calloc
	 * (larger-than-memory sizes below it are calloc's to refuse, and ASan
	 * aborts on those instead of returning NULL, so they are not tried). */
	assert_int_equal(lc_bitmap_init(&b, UINT64_MAX - 62), -ENOMEM);
	assert_null(b.words);
}

static void test_single_bits(void **state)
{
	struct lc_bitmap b;
	uint64_t bit;

	(void)state;
	assert_int_equal(lc_bitmap_init(&b, 200), 0);
	for (bit = 0; bit < 200; bit++)
		assert_false(lc_bitmap_test(&b, bit));
	assert_true(lc_bitmap_set(&b, 63));
	assert_false(lc_bitmap_set(&b, 63));
	assert_true(lc_bitmap_set(&b, 64));
	assert_true(lc_bitmap_set(&b, 0));
	assert_true(lc_bitmap_set(&b, 199));
	assert_true(lc_bitmap_test(&b, 63));
	assert_true(lc_bitmap_test(&b, 64));
	assert_false(lc_bitmap_test(&b, 62));
	assert_false(lc_bitmap_test(&b, 65));
	assert_int_equal(lc_bitmap_count(&b), 4);
	lc_bitmap_clear(&b, 63);
	assert_false(lc_bitmap_test(&b, 63));
	assert_true(lc_bitmap_test(&b, 64));
	assert_int_equal(lc_bitmap_count(&b), 3);
	assert_true(lc_bitmap_set(&b, 63)); /* clear then set reports it again */
	lc_bitmap_destroy(&b);
}

static void test_padding_never_reported(void **state)
{
	struct lc_bitmap b;

	(void)state;
	/* 130 bits: 3 words, 62 padding bits in the last. */
	assert_int_equal(lc_bitmap_init(&b, 130), 0);
	assert_int_equal(lc_bitmap_set_range(&b, 0, 130), 130);
	assert_int_equal(lc_bitmap_count(&b), 130);
	assert_int_equal(b.words[2], 3); /* padding stays zero */
	assert_int_equal(lc_bitmap_find_next_zero(&b, 0), 130);
	assert_int_equal(lc_bitmap_find_next_zero(&b, 129), 130);
	assert_int_equal(lc_bitmap_find_next_zero(&b, 130), 130);
	assert_int_equal(lc_bitmap_find_next_zero(&b, 1000), 130);
	assert_int_equal(lc_bitmap_find_next_set(&b, 129), 129);
	assert_int_equal(lc_bitmap_find_next_set(&b, 130), 130);
	lc_bitmap_clear(&b, 129);
	assert_int_equal(lc_bitmap_find_next_set(&b, 129), 130);
	assert_int_equal(lc_bitmap_find_next_zero(&b, 0), 129);
	lc_bitmap_destroy(&b);
}

static void test_set_range_boundaries(void **state)
{
	struct lc_bitmap b;

	(void)state;
	assert_int_equal(lc_bitmap_init(&b, 1000), 0);
	/* Inside one word. */
	assert_int_equal(lc_bitmap_set_range(&b, 3, 5), 5);
	assert_int_equal(b.words[0], 0xf8ull);
	/* Exactly one whole word. */
	assert_int_equal(lc_bitmap_set_range(&b, 64, 64), 64);
	assert_int_equal(b.words[1], ~0ull);
	assert_int_equal(b.words[2], 0);
	/* Across three words, with some bits already set. */
	assert_true(lc_bitmap_set(&b, 200));
	assert_int_equal(lc_bitmap_set_range(&b, 120, 200), 200 - 8 - 1);
	assert_int_equal(lc_bitmap_count_range(&b, 120, 200), 200);
	assert_false(lc_bitmap_test(&b, 320));
	assert_true(lc_bitmap_test(&b, 319));
	assert_int_equal(lc_bitmap_find_next_zero(&b, 64), 320);
	/* Setting it again changes nothing. */
	assert_int_equal(lc_bitmap_set_range(&b, 100, 220), 0);
	/* Up to the very last bit. */
	assert_int_equal(lc_bitmap_set_range(&b, 990, 10), 10);
	assert_true(lc_bitmap_test(&b, 999));
	assert_int_equal(lc_bitmap_count(&b), 5 + 64 + (320 - 128) + 10);
	assert_int_equal(lc_bitmap_count_range(&b, 0, 1000), lc_bitmap_count(&b));
	assert_int_equal(lc_bitmap_count_range(&b, 0, 0), 0);
	assert_int_equal(lc_bitmap_count_range(&b, 1000, 0), 0);
	assert_int_equal(lc_bitmap_count_range(&b, 127, 2), 2);
	assert_int_equal(lc_bitmap_count_range(&b, 0, 3), 0);
	assert_int_equal(lc_bitmap_count_range(&b, 2, 2), 1);
	assert_int_equal(lc_bitmap_count_range(&b, 2, 3), 2);
	assert_int_equal(lc_bitmap_count_range(&b, 7, 2), 1);
	lc_bitmap_destroy(&b);
}

/* Random operations mirrored in a bool array; every query compared. */
static void test_against_reference(void **state)
{
	enum { NR = 777 };
	struct lc_bitmap b;
	bool ref[NR];
	int round, i;

	(void)state;
	rng_state = 12345;
	memset(ref, 0, sizeof(ref));
	assert_int_equal(lc_bitmap_init(&b, NR), 0);
	for (round = 0; round < 300; round++) {
		uint64_t first = rng() % NR;
		uint64_t nr = rng() % (NR - first + 1);
		uint64_t want = 0, cnt = 0, from, k;

		switch (rng() % 4) {
		case 0:
			for (k = first; k < first + nr; k++) {
				want += !ref[k];
				ref[k] = true;
			}
			assert_int_equal(lc_bitmap_set_range(&b, first, nr), want);
			break;
		case 1:
			assert_int_equal(lc_bitmap_set(&b, first), !ref[first]);
			ref[first] = true;
			break;
		default:
			lc_bitmap_clear(&b, first);
			ref[first] = false;
			break;
		}
		for (k = first; k < first + nr; k++)
			cnt += ref[k];
		assert_int_equal(lc_bitmap_count_range(&b, first, nr), cnt);
		for (from = 0; from <= NR; from += 1 + rng() % 5) {
			uint64_t z = from, s = from;

			while (z < NR && ref[z])
				z++;
			while (s < NR && !ref[s])
				s++;
			assert_int_equal(lc_bitmap_find_next_zero(&b, from), z);
			assert_int_equal(lc_bitmap_find_next_set(&b, from), s);
		}
	}
	for (i = 0; i < NR; i++)
		assert_int_equal(lc_bitmap_test(&b, (uint64_t)i), ref[i]);
	lc_bitmap_destroy(&b);
}

/*
 * 2^32 + 100 bits = 512 MiB of words, but only the pages near the bits we
 * touch get backed: the calloc'd memory stays unmapped elsewhere. The scans
 * over the empty middle check that whole zero words are skipped and that no
 * bit number is truncated to 32 bits.
 */
static void test_huge(void **state)
{
	const uint64_t nr = (1ull << 32) + 100;
	const uint64_t b32 = 1ull << 32;
	struct lc_bitmap b;

	(void)state;
	assert_int_equal(lc_bitmap_init(&b, nr), 0);
	assert_int_equal(b.nr_bits, nr);
	assert_int_equal(lc_bitmap_find_next_set(&b, 0), nr);

	/* A bit past 2^32 truncated to 32 bits would land on bit 5. */
	assert_true(lc_bitmap_set(&b, b32 + 5));
	assert_false(lc_bitmap_test(&b, 5));
	assert_int_equal(lc_bitmap_find_next_set(&b, 0), b32 + 5);
	assert_int_equal(lc_bitmap_count(&b), 1);
	lc_bitmap_clear(&b, b32 + 5);
	assert_int_equal(lc_bitmap_find_next_set(&b, 0), nr);

	assert_true(lc_bitmap_set(&b, 0));
	assert_true(lc_bitmap_set(&b, b32 - 1));
	assert_true(lc_bitmap_set(&b, b32));
	assert_true(lc_bitmap_set(&b, nr - 1));
	assert_false(lc_bitmap_set(&b, b32));
	assert_true(lc_bitmap_test(&b, b32 - 1));
	assert_true(lc_bitmap_test(&b, b32));
	assert_false(lc_bitmap_test(&b, b32 + 1));
	assert_false(lc_bitmap_test(&b, b32 - 2));
	assert_false(lc_bitmap_test(&b, 1));
	assert_true(lc_bitmap_test(&b, nr - 1));
	assert_false(lc_bitmap_test(&b, nr - 2));

	assert_int_equal(lc_bitmap_find_next_set(&b, 1), b32 - 1);
	assert_int_equal(lc_bitmap_find_next_set(&b, b32 - 1), b32 - 1);
	assert_int_equal(lc_bitmap_find_next_set(&b, b32 + 1), nr - 1);
	assert_int_equal(lc_bitmap_find_next_set(&b, nr), nr);
	assert_int_equal(lc_bitmap_find_next_zero(&b, 0), 1);
	assert_int_equal(lc_bitmap_find_next_zero(&b, b32 - 1), b32 + 1);
	assert_int_equal(lc_bitmap_find_next_zero(&b, nr - 1), nr);
	assert_int_equal(lc_bitmap_find_next_zero(&b, nr - 5), nr - 5);

	/* A range across the 2^32 boundary with its two middle bits set. */
	assert_int_equal(lc_bitmap_set_range(&b, b32 - 10, 20), 18);
	assert_int_equal(lc_bitmap_count_range(&b, b32 - 64, 128), 20);
	assert_int_equal(lc_bitmap_count_range(&b, b32 - 10, 20), 20);
	assert_int_equal(lc_bitmap_count_range(&b, b32 - 11, 22), 20);
	assert_int_equal(lc_bitmap_find_next_zero(&b, b32 - 10), b32 + 10);
	assert_int_equal(lc_bitmap_find_next_set(&b, 1), b32 - 10);

	/* The tail [2^32, nr): 10 bits from above and nr - 1 already set. */
	assert_int_equal(lc_bitmap_set_range(&b, nr - 100, 100), 89);
	assert_int_equal(lc_bitmap_count_range(&b, b32 + 10, 90), 90);
	assert_int_equal(lc_bitmap_find_next_zero(&b, b32 + 10), nr);
	assert_int_equal(lc_bitmap_find_next_zero(&b, b32 - 11), b32 - 11);
	assert_int_equal(lc_bitmap_count(&b), 1 + 110);
	lc_bitmap_destroy(&b);
}

#define NR_THREADS 4
#define RACE_BITS 100000

struct racer {
	struct lc_bitmap *b;
	uint64_t stride; /* coprime with RACE_BITS: visits every bit */
	uint64_t start;
	uint64_t newly;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	uint64_t i;

	for (i = 0; i < RACE_BITS; i++) {
		uint64_t bit = (i * r->stride + r->start) % RACE_BITS;

		if (i % 3 == 0)
			r->newly += lc_bitmap_set_range(r->b, bit, bit + 2 <= RACE_BITS ? 2 : 1);
		else
			r->newly += lc_bitmap_set(r->b, bit);
	}
	return NULL;
}

static void test_racing_setters(void **state)
{
	struct racer racers[NR_THREADS];
	pthread_t tids[NR_THREADS];
	struct lc_bitmap b;
	uint64_t total = 0;
	int i;

	(void)state;
	assert_int_equal(lc_bitmap_init(&b, RACE_BITS), 0);
	for (i = 0; i < NR_THREADS; i++) {
		static const uint64_t strides[NR_THREADS] = {1, 3, 7, 99991};

		racers[i] = (struct racer){.b = &b, .stride = strides[i], .start = (uint64_t)i * 7};
		assert_int_equal(pthread_create(&tids[i], NULL, race, &racers[i]), 0);
	}
	for (i = 0; i < NR_THREADS; i++) {
		assert_int_equal(pthread_join(tids[i], NULL), 0);
		total += racers[i].newly;
	}
	/* Exactly one setter learns it flipped each bit. */
	assert_int_equal(total, RACE_BITS);
	assert_int_equal(lc_bitmap_count(&b), RACE_BITS);
	assert_int_equal(lc_bitmap_find_next_zero(&b, 0), RACE_BITS);
	lc_bitmap_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_destroy),
	    cmocka_unit_test(test_single_bits),
	    cmocka_unit_test(test_padding_never_reported),
	    cmocka_unit_test(test_set_range_boundaries),
	    cmocka_unit_test(test_against_reference),
	    cmocka_unit_test(test_huge),
	    cmocka_unit_test(test_racing_setters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
