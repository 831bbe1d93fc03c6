/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli), reflected polynomial 0x82F63B78: the SSE4.2 crc32
 * instruction (8 bytes a step) where the CPU has it, else one byte per step
 * through a 256-entry table built at compile time. Both give the same
 * results; test-crc32c checks the table path against vectors and the
 * instruction path against the table.
 *
 * The register is inverted on entry and on exit, so a result can be passed
 * back in as crc to continue over more bytes:
 * lc_crc32c(lc_crc32c(0, a, n), b, m) == lc_crc32c(0, a || b, n + m).
 */
#include <stdbool.h>

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

uint32_t lc_crc32c_table(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	while (len--)
		crc = crc32c_table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__)
#include <string.h>

__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *buf,
								size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	for (; len >= 8; len -= 8, p += 8) {
		uint64_t v;

		memcpy(&v, p, sizeof(v)); /* unaligned-safe; compiles to one load */
		c = __builtin_ia32_crc32di(c, v);
	}
	for (; len; len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

bool lc_crc32c_has_hw(void)
{
	return __builtin_cpu_supports("sse4.2");
}

uint32_t lc_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return crc32c_sse42(crc, buf, len);
}
#else
bool lc_crc32c_has_hw(void)
{
	return false;
}

uint32_t lc_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return lc_crc32c_table(crc, buf, len);
}
#endif

uint32_t lc_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* __builtin_cpu_supports reads a table filled once at start-up. */
	return lc_crc32c_has_hw() ? lc_crc32c_hw(crc, buf, len) : lc_crc32c_table(crc, buf, len);
}
