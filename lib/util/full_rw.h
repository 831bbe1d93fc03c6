/* SPDX-License-Identifier: MIT */
/*
 * Positional I/O that transfers everything or fails: loops on short counts,
 * retries EINTR (a library cannot assume SA_RESTART) and turns an unexpected
 * EOF into -EIO. Return 0 or -errno. Block; thread-safe (pread/pwrite).
 */
#ifndef LC_UTIL_FULL_RW_H
#define LC_UTIL_FULL_RW_H

#include <stddef.h>
#include <stdint.h>

int lc_full_pread(int fd, void *buf, size_t len, uint64_t offset_bytes);
int lc_full_pwrite(int fd, const void *buf, size_t len, uint64_t offset_bytes);

#endif
