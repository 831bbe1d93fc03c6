/* SPDX-License-Identifier: MIT */
/*
 * Unit test of lib/util/crc32c.c: the standard check value, the iSCSI test
 * vectors of RFC 3720 B.4, chaining at every split point, and agreement with
 * a bit-at-a-time reference over many lengths and alignments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/crc32c.h"

/* Bit-at-a-time reference: slow, but obviously the definition. */
static uint32_t crc32c_ref(uint32_t crc, const uint8_t *p, size_t len)
{
	int k;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (crc & 1 ? 0x82F63B78u : 0);
	}
	return ~crc;
}

/* Deterministic filler (xorshift32) so failures reproduce. */
static void fill(uint8_t *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed ? seed : 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

static void test_check_value(void **state)
{
	(void)state;
	assert_int_equal(lc_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_ref(0, (const uint8_t *)"123456789", 9), 0xE3069283u);
	/* Not the IEEE CRC-32 (0xCBF43926): the polynomial matters. */
	assert_int_not_equal(lc_crc32c(0, "123456789", 9), 0xCBF43926u);
}

static void test_empty(void **state)
{
	(void)state;
	assert_int_equal(lc_crc32c(0, NULL, 0), 0);
	assert_int_equal(lc_crc32c(0x12345678u, "x", 0), 0x12345678u);
}

static void test_rfc3720_vectors(void **state)
{
	uint8_t buf[32];
	int i;

	(void)state;
	memset(buf, 0, sizeof(buf));
	assert_int_equal(lc_crc32c(0, buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(lc_crc32c(0, buf, sizeof(buf)), 0x62A8AB43u);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(lc_crc32c(0, buf, sizeof(buf)), 0x46DD794Eu);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(lc_crc32c(0, buf, sizeof(buf)), 0x113FDB5Cu);
}

static void test_chaining(void **state)
{
	uint8_t buf[1000];
	uint32_t whole;
	size_t split, mid;

	(void)state;
	fill(buf, sizeof(buf), 42);
	whole = lc_crc32c(0, buf, sizeof(buf));
	for (split = 0; split <= sizeof(buf); split++) {
		uint32_t c = lc_crc32c(lc_crc32c(0, buf, split), buf + split, sizeof(buf) - split);

		if (c != whole)
			fail_msg("split at %zu: %08x != %08x", split, c, whole);
	}
	/* Three pieces, too. */
	for (split = 0; split <= 100; split += 7)
		for (mid = split; mid <= 200; mid += 13) {
			uint32_t c = lc_crc32c(0, buf, split);

			c = lc_crc32c(c, buf + split, mid - split);
			c = lc_crc32c(c, buf + mid, sizeof(buf) - mid);
			assert_int_equal(c, whole);
		}
}

static void test_matches_reference(void **state)
{
	static uint8_t buf[4096 + 8];
	size_t len, align;

	(void)state;
	fill(buf, sizeof(buf), 7);
	for (align = 0; align < 8; align++)
		for (len = 0; len <= 4096; len += len < 64 ? 1 : 61) {
			uint32_t got = lc_crc32c(0, buf + align, len);
			uint32_t want = crc32c_ref(0, buf + align, len);

			if (got != want)
				fail_msg("len %zu align %zu: %08x != %08x", len, align, got, want);
		}
	/* A nonzero seed continues the same way in both. */
	assert_int_equal(lc_crc32c(0xdeadbeefu, buf, 777), crc32c_ref(0xdeadbeefu, buf, 777));
}

/* Both implementations agree with the reference, whichever lc_crc32c uses. */
static void test_table_and_instruction_paths(void **state)
{
	static uint8_t buf[4096 + 8];

	(void)state;
	fill(buf, sizeof(buf), 11);
	for (size_t align = 0; align < 8; align++)
		for (size_t len = 0; len <= 4096; len += len < 64 ? 1 : 61) {
			uint32_t want = crc32c_ref(0x12345678u, buf + align, len);

			assert_int_equal(lc_crc32c_table(0x12345678u, buf + align, len), want);
			assert_int_equal(lc_crc32c_hw(0x12345678u, buf + align, len), want);
		}
	assert_int_equal(lc_crc32c_hw(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(lc_crc32c_table(0, "123456789", 9), 0xE3069283u);
}

static void test_detects_single_bit_flip(void **state)
{
	uint8_t buf[512];
	uint32_t good;
	size_t bit;

	(void)state;
	fill(buf, sizeof(buf), 3);
	good = lc_crc32c(0, buf, sizeof(buf));
	for (bit = 0; bit < sizeof(buf) * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(lc_crc32c(0, buf, sizeof(buf)), good);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_int_equal(lc_crc32c(0, buf, sizeof(buf)), good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_value),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_rfc3720_vectors),
	    cmocka_unit_test(test_chaining),
	    cmocka_unit_test(test_matches_reference),
	    cmocka_unit_test(test_table_and_instruction_paths),
	    cmocka_unit_test(test_detects_single_bit_flip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
