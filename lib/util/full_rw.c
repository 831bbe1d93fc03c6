/* SPDX-License-Identifier: MIT */
/*
 * Positional I/O that transfers everything or fails (after nbdkit
 * common/utils/full-rw.c). A short count means "call again for the rest";
 * EINTR means "nothing happened, call again" (a library cannot assume its
 * host installed its signal handlers with SA_RESTART); a read of 0 bytes
 * before the end means the file is shorter than the caller believed, which
 * is an I/O error for a device. A write of 0 bytes would loop forever, so it
 * is an I/O error too.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "util/full_rw.h"

/* Rejects offsets that do not fit off_t, and ranges whose end would not. */
static int check_offset(size_t len, uint64_t offset_bytes)
{
	if (offset_bytes > INT64_MAX || len > INT64_MAX - offset_bytes)
		return -EINVAL;
	return 0;
}

int lc_full_pread(int fd, void *buf, size_t len, uint64_t offset_bytes)
{
	uint8_t *p = buf;
	ssize_t n;
	int r;

	r = check_offset(len, offset_bytes);
	if (r < 0)
		return r;
	while (len > 0) {
		n = pread(fd, p, len, (off_t)offset_bytes);
		if (n < 0) {
			r = -errno;
			if (r == -EINTR)
				continue;
			return r;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		offset_bytes += (uint64_t)n;
	}
	return 0;
}

int lc_full_pwrite(int fd, const void *buf, size_t len, uint64_t offset_bytes)
{
	const uint8_t *p = buf;
	ssize_t n;
	int r;

	r = check_offset(len, offset_bytes);
	if (r < 0)
		return r;
	while (len > 0) {
		n = pwrite(fd, p, len, (off_t)offset_bytes);
		if (n < 0) {
			r = -errno;
			if (r == -EINTR)
				continue;
			return r;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		offset_bytes += (uint64_t)n;
	}
	return 0;
}
