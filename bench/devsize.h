/* SPDX-License-Identifier: MIT */
/* The size of a file or block device, for the benchmarks' own tools. */
#ifndef LC_BENCH_DEVSIZE_H
#define LC_BENCH_DEVSIZE_H

#include <linux/fs.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

/* Bytes; 0 when fd's size cannot be had. */
static inline uint64_t dev_size_bytes(int fd)
{
	struct stat st;
	uint64_t bytes = 0;

	if (fstat(fd, &st) < 0)
		return 0;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, &bytes) < 0 ? 0 : bytes;
	return (uint64_t)st.st_size;
}

#endif
