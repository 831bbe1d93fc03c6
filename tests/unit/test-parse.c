/* SPDX-License-Identifier: MIT */
/*
 * Unit test of lib/util/parse.c: every accepted form, every rejected one with
 * its error, the exact overflow boundaries, and *ret_ untouched on failure.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "util/parse.h"

#define SENTINEL64 0xdeadbeefcafef00dull
#define SENTINEL32 0xdeadbeefu

struct case_u64 {
	const char *s;
	int r;
	uint64_t value; /* when r == 0 */
};

static void check_u64(const struct case_u64 *c)
{
	uint64_t v = SENTINEL64;
	int r = lc_parse_u64(c->s, &v);

	if (r != c->r)
		fail_msg("lc_parse_u64(\"%s\") = %d, expected %d", c->s ? c->s : "(null)", r, c->r);
	if (r == 0)
		assert_int_equal(v, c->value);
	else
		assert_int_equal(v, SENTINEL64);
}

static void check_size(const struct case_u64 *c)
{
	uint64_t v = SENTINEL64;
	int r = lc_parse_size(c->s, &v);

	if (r != c->r)
		fail_msg("lc_parse_size(\"%s\") = %d, expected %d", c->s ? c->s : "(null)", r,
			 c->r);
	if (r == 0) {
		if (v != c->value)
			fail_msg("lc_parse_size(\"%s\") = %llu, expected %llu", c->s,
				 (unsigned long long)v, (unsigned long long)c->value);
	} else {
		assert_int_equal(v, SENTINEL64);
	}
}

static void test_u64_valid(void **state)
{
	static const struct case_u64 cases[] = {
	    {"0", 0, 0},
	    {"1", 0, 1},
	    {"42", 0, 42},
	    {"007", 0, 7},
	    {"000000000000000000000000000001", 0, 1},
	    {"4294967296", 0, 4294967296ull},
	    {"18446744073709551614", 0, UINT64_MAX - 1},
	    {"18446744073709551615", 0, UINT64_MAX},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_u64(&cases[i]);
}

static void test_u64_invalid(void **state)
{
	static const struct case_u64 cases[] = {
	    {NULL, -EINVAL, 0},
	    {"", -EINVAL, 0},
	    {" ", -EINVAL, 0},
	    {" 1", -EINVAL, 0},
	    {"1 ", -EINVAL, 0},
	    {"1\n", -EINVAL, 0},
	    {"+1", -EINVAL, 0},
	    {"-", -EINVAL, 0},
	    {"--1", -EINVAL, 0},
	    {"-x", -EINVAL, 0},
	    {"1x", -EINVAL, 0},
	    {"x1", -EINVAL, 0},
	    {"0x10", -EINVAL, 0},
	    {"1.5", -EINVAL, 0},
	    {"1e3", -EINVAL, 0},
	    {"1K", -EINVAL, 0}, /* suffixes are for sizes only */
	    {"abc", -EINVAL, 0},
	    {"99999999999999999999x", -EINVAL, 0}, /* junk wins over overflow */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_u64(&cases[i]);
}

static void test_u64_range(void **state)
{
	static const struct case_u64 cases[] = {
	    {"18446744073709551616", -ERANGE, 0},
	    {"18446744073709551620", -ERANGE, 0},
	    {"99999999999999999999", -ERANGE, 0},
	    {"184467440737095516150", -ERANGE, 0},
	    {"-1", -ERANGE, 0},
	    {"-0", -ERANGE, 0},
	    {"-18446744073709551616", -ERANGE, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_u64(&cases[i]);
}

static void test_u32(void **state)
{
	uint32_t v = SENTINEL32;

	assert_int_equal(lc_parse_u32("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(lc_parse_u32("4294967295", &v), 0);
	assert_int_equal(v, UINT32_MAX);

	v = SENTINEL32;
	assert_int_equal(lc_parse_u32("4294967296", &v), -ERANGE);
	assert_int_equal(v, SENTINEL32);
	assert_int_equal(lc_parse_u32("18446744073709551616", &v), -ERANGE);
	assert_int_equal(v, SENTINEL32);
	assert_int_equal(lc_parse_u32("-1", &v), -ERANGE);
	assert_int_equal(v, SENTINEL32);
	assert_int_equal(lc_parse_u32("", &v), -EINVAL);
	assert_int_equal(v, SENTINEL32);
	assert_int_equal(lc_parse_u32("12abc", &v), -EINVAL);
	assert_int_equal(v, SENTINEL32);
	assert_int_equal(lc_parse_u32(NULL, &v), -EINVAL);
	assert_int_equal(v, SENTINEL32);
}

static void test_uint(void **state)
{
	unsigned v = SENTINEL32;

	assert_int_equal(lc_parse_uint("16", &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(lc_parse_uint("4294967295", &v), 0);
	assert_int_equal(v, 4294967295u);

	v = SENTINEL32;
	assert_int_equal(lc_parse_uint("4294967296", &v), -ERANGE);
	assert_int_equal(v, SENTINEL32);
	assert_int_equal(lc_parse_uint("-3", &v), -ERANGE);
	assert_int_equal(v, SENTINEL32);
	assert_int_equal(lc_parse_uint("three", &v), -EINVAL);
	assert_int_equal(v, SENTINEL32);
}

static void test_size_valid(void **state)
{
	static const struct case_u64 cases[] = {
	    {"0", 0, 0},
	    {"512", 0, 512},
	    {"512B", 0, 512},
	    {"512b", 0, 512},
	    {"0K", 0, 0},
	    {"1K", 0, 1024},
	    {"1k", 0, 1024},
	    {"1KiB", 0, 1024},
	    {"1kib", 0, 1024},
	    {"1KIB", 0, 1024},
	    {"64K", 0, 65536},
	    {"1M", 0, 1ull << 20},
	    {"1MiB", 0, 1ull << 20},
	    {"3G", 0, 3ull << 30},
	    {"2GiB", 0, 2ull << 30},
	    {"1T", 0, 1ull << 40},
	    {"5TiB", 0, 5ull << 40},
	    {"1P", 0, 1ull << 50},
	    {"1PiB", 0, 1ull << 50},
	    {"15E", 0, 15ull << 60},
	    {"15EiB", 0, 15ull << 60},
	    {"16383P", 0, 16383ull << 50},
	    {"18014398509481983K", 0, 18014398509481983ull << 10}, /* largest K */
	    {"18446744073709551615", 0, UINT64_MAX},
	    {"18446744073709551615B", 0, UINT64_MAX},
	    {"0010M", 0, 10ull << 20},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_size(&cases[i]);
}

static void test_size_invalid(void **state)
{
	static const struct case_u64 cases[] = {
	    {NULL, -EINVAL, 0},
	    {"", -EINVAL, 0},
	    {"K", -EINVAL, 0},
	    {"KiB", -EINVAL, 0},
	    {"-", -EINVAL, 0},
	    {"-K", -EINVAL, 0},
	    {" 1K", -EINVAL, 0},
	    {"1K ", -EINVAL, 0},
	    {"1 K", -EINVAL, 0},
	    {"+1K", -EINVAL, 0},
	    {"1KB", -EINVAL, 0}, /* ambiguous: 1000 or 1024? */
	    {"1kb", -EINVAL, 0},
	    {"1Ki", -EINVAL, 0},
	    {"1KiBs", -EINVAL, 0},
	    {"1KK", -EINVAL, 0},
	    {"1X", -EINVAL, 0},
	    {"1Z", -EINVAL, 0},
	    {"1BB", -EINVAL, 0},
	    {"1.5G", -EINVAL, 0},
	    {"0x1000", -EINVAL, 0},
	    {"1e6", -EINVAL, 0},
	    {"99999999999999999999Q", -EINVAL, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_size(&cases[i]);
}

static void test_size_range(void **state)
{
	static const struct case_u64 cases[] = {
	    {"16E", -ERANGE, 0},
	    {"16EiB", -ERANGE, 0},
	    {"16384P", -ERANGE, 0},
	    {"18014398509481984K", -ERANGE, 0}, /* smallest K that overflows */
	    {"18446744073709551615K", -ERANGE, 0},
	    {"18446744073709551616", -ERANGE, 0},
	    {"18446744073709551616B", -ERANGE, 0},
	    {"99999999999999999999G", -ERANGE, 0},
	    {"-1", -ERANGE, 0},
	    {"-1K", -ERANGE, 0},
	    {"-0", -ERANGE, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_size(&cases[i]);
}

/* Every shift boundary: (UINT64_MAX >> shift) fits, one more does not. */
static void test_size_boundaries(void **state)
{
	static const char units[] = "KMGTPE";

	for (unsigned i = 0; units[i] != '\0'; i++) {
		unsigned shift = 10 * (i + 1);
		uint64_t max = UINT64_MAX >> shift;
		char buf[64];
		uint64_t v = SENTINEL64;

		(void)snprintf(buf, sizeof(buf), "%llu%c", (unsigned long long)max, units[i]);
		assert_int_equal(lc_parse_size(buf, &v), 0);
		assert_int_equal(v, max << shift);

		v = SENTINEL64;
		(void)snprintf(buf, sizeof(buf), "%llu%ciB", (unsigned long long)max + 1, units[i]);
		assert_int_equal(lc_parse_size(buf, &v), -ERANGE);
		assert_int_equal(v, SENTINEL64);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_u64_valid),
	    cmocka_unit_test(test_u64_invalid),
	    cmocka_unit_test(test_u64_range),
	    cmocka_unit_test(test_u32),
	    cmocka_unit_test(test_uint),
	    cmocka_unit_test(test_size_valid),
	    cmocka_unit_test(test_size_invalid),
	    cmocka_unit_test(test_size_range),
	    cmocka_unit_test(test_size_boundaries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
