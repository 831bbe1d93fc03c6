/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli), reflected polynomial 0x82F63B78, one byte per step
 * through a 256-entry table built at compile time.
 *
 * The register is inverted on entry and on exit, so a result can be passed
 * back in as crc to continue over more bytes:
 * lc_crc32c(lc_crc32c(0, a, n), b, m) == lc_crc32c(0, a || b, n + m).
 */
#include "util/crc32c.h"

#define CRC32C_POLY 0x82F63B78u

/* One reflected shift-and-xor step on the low bit of c. */
#define S(c) (((c) >> 1) ^ (((c)&1u) ? CRC32C_POLY : 0u))
#define S8(c) S(S(S(S(S(S(S(S(c))))))))
#define E(n) S8((uint32_t)(n))
#define E4(n) E(n), E((n) + 1), E((n) + 2), E((n) + 3)
#define E16(n) E4(n), E4((n) + 4), E4((n) + 8), E4((n) + 12)
#define E64(n) E16(n), E16((n) + 16), E16((n) + 32), E16((n) + 48)

/* crc32c_table[i] is the CRC register after shifting byte i through. */
static const uint32_t crc32c_table[256] = {
    E64(0),
    E64(64),
    E64(128),
    E64(192),
};

uint32_t lc_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	while (len--)
		crc = crc32c_table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
	return ~crc;
}
