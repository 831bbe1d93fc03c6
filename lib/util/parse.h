/* SPDX-License-Identifier: MIT */
/*
 * Overflow-checked number parsers for the control surface (CLI, daemon
 * configuration, handler cfgstring). Never atoi/strtoul/sscanf: those accept
 * leading whitespace, signs that wrap ("-1" -> UINT64_MAX) and trailing junk.
 *
 * Grammar, strict: one or more decimal digits, nothing before them and nothing
 * after them except, for lc_parse_size(), one unit suffix. Leading zeros are
 * allowed ("007" is 7); whitespace, '+', hexadecimal and fractions are not.
 *
 * Results: 0 and *ret_ set on success. -EINVAL for anything that is not a
 * number of this grammar (NULL, empty, junk, unknown suffix), -ERANGE for a
 * well-formed number that does not fit the type (overflow) or is negative
 * ("-5"). *ret_ is untouched on failure. Never block; thread-safe.
 */
#ifndef LC_UTIL_PARSE_H
#define LC_UTIL_PARSE_H

#include <stdint.h>

int lc_parse_u64(const char *s, uint64_t *ret_value);
int lc_parse_u32(const char *s, uint32_t *ret_value);
int lc_parse_uint(const char *s, unsigned *ret_value);

/*
 * A size in bytes: a number as above, optionally followed by a binary unit,
 * powers of 1024: K, M, G, T, P, E, each also spelled KiB, MiB, ... (letters
 * case-insensitive: "4k", "4K", "4KiB", "4kib"). "B" alone means bytes. "KB"
 * and the like are rejected (-EINVAL): some tools read them as powers of 1000.
 */
int lc_parse_size(const char *s, uint64_t *ret_bytes);

#endif
