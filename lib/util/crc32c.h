/* SPDX-License-Identifier: MIT */
/* CRC32C (Castagnoli), as used by iSCSI and ext4. Never blocks. */
#ifndef LC_UTIL_CRC32C_H
#define LC_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc: 0 to start, or a previous result to continue over more bytes. */
uint32_t lc_crc32c(uint32_t crc, const void *buf, size_t len);

/* The two implementations lc_crc32c() picks from, for tests. _hw falls back
 * to the table where the CPU lacks the instruction (see _has_hw). */
#include <stdbool.h>
bool lc_crc32c_has_hw(void);
uint32_t lc_crc32c_hw(uint32_t crc, const void *buf, size_t len);
uint32_t lc_crc32c_table(uint32_t crc, const void *buf, size_t len);

#endif
