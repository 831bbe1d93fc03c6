/* SPDX-License-Identifier: MIT */
/*
 * Overflow-checked number parsers (grammar and results in parse.h).
 *
 * Digits are accumulated by hand with a check before each multiply-add, so
 * there is no errno, locale or base guessing involved. A leading '-' is parsed
 * only to tell "negative number" (-ERANGE) from junk (-EINVAL).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/parse.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char to_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * Parses the digits at *ps, leaving *ps after the last one. -EINVAL when there
 * is no digit, -ERANGE on overflow (the digits are consumed anyway, so the
 * caller can still tell "too big" from "junk after the number").
 */
static int parse_digits(const char **ps, uint64_t *ret_value)
{
	const char *s = *ps;
	uint64_t v = 0;
	bool overflow = false;

	if (!is_digit(*s))
		return -EINVAL;
	for (; is_digit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			v = v * 10 + d;
	}
	*ps = s;
	if (overflow)
		return -ERANGE;
	*ret_value = v;
	return 0;
}

/* Number with nothing after it; a '-' in front makes it -ERANGE. */
static int parse_plain(const char *s, uint64_t *ret_value)
{
	bool negative = false;
	uint64_t v = 0;
	int r;

	if (!s)
		return -EINVAL;
	if (*s == '-') {
		negative = true;
		s++;
	}
	r = parse_digits(&s, &v);
	if (r == -EINVAL)
		return r;
	if (*s != '\0')
		return -EINVAL;
	if (r < 0)
		return r;
	if (negative)
		return -ERANGE;
	*ret_value = v;
	return 0;
}

int lc_parse_u64(const char *s, uint64_t *ret_value)
{
	uint64_t v;
	int r;

	r = parse_plain(s, &v);
	if (r < 0)
		return r;
	*ret_value = v;
	return 0;
}

int lc_parse_u32(const char *s, uint32_t *ret_value)
{
	uint64_t v;
	int r;

	r = parse_plain(s, &v);
	if (r < 0)
		return r;
	if (v > UINT32_MAX)
		return -ERANGE;
	*ret_value = (uint32_t)v;
	return 0;
}

int lc_parse_uint(const char *s, unsigned *ret_value)
{
	uint64_t v;
	int r;

	r = parse_plain(s, &v);
	if (r < 0)
		return r;
	if (v > (uint64_t)(unsigned)-1)
		return -ERANGE;
	*ret_value = (unsigned)v;
	return 0;
}

/* Shift for a unit suffix, or -EINVAL. An empty suffix is bytes. */
static int parse_unit(const char *u, unsigned *ret_shift)
{
	static const char units[] = "kmgtpe";
	unsigned shift = 0;
	size_t i;

	if (*u == '\0') {
		*ret_shift = 0;
		return 0;
	}
	if (to_lower(u[0]) == 'b' && u[1] == '\0') {
		*ret_shift = 0;
		return 0;
	}
	for (i = 0; units[i] != '\0'; i++) {
		if (to_lower(u[0]) == units[i]) {
			shift = 10 * (unsigned)(i + 1);
			break;
		}
	}
	if (shift == 0)
		return -EINVAL;
	u++;
	/* "K" or "KiB"; not "KB", "Ki" or "KiBs". */
	if (*u != '\0' && !(to_lower(u[0]) == 'i' && to_lower(u[1]) == 'b' && u[2] == '\0'))
		return -EINVAL;
	*ret_shift = shift;
	return 0;
}

int lc_parse_size(const char *s, uint64_t *ret_bytes)
{
	bool negative = false;
	unsigned shift;
	uint64_t v = 0;
	int r, r_unit;

	if (!s)
		return -EINVAL;
	if (*s == '-') {
		negative = true;
		s++;
	}
	r = parse_digits(&s, &v);
	if (r == -EINVAL)
		return r;
	/* Junk wins over overflow: "99999999999999999999x" is not a size. */
	r_unit = parse_unit(s, &shift);
	if (r_unit < 0)
		return r_unit;
	if (r < 0)
		return r;
	if (negative)
		return -ERANGE;
	if (shift > 0 && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret_bytes = v << shift;
	return 0;
}
