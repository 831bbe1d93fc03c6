/* SPDX-License-Identifier: MIT */
/* CRC32C (Castagnoli), as used by iSCSI and ext4; table-driven. Never blocks. */
#ifndef LC_UTIL_CRC32C_H
#define LC_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc: 0 to start, or a previous result to continue over more bytes. */
uint32_t lc_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
