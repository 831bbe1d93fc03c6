// SPDX-License-Identifier: MIT
/*
 * devcmp: are A's first bytes the same as B's? The benchmarks check every
 * copy they time with it. Reads both with O_DIRECT (no page cache: in the
 * UML guest, buffered reads of a 1 GiB loop device took 8-11 s for
 * sha256sum and cmp, O_DIRECT ones a fraction of a second).
 *
 * Usage: devcmp A B [BYTES]   (default: A's size; B must be as large)
 * Exit: 0 same, 1 different (the first differing offset on stderr),
 * 2 usage or I/O error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devsize.h"

#define CHUNK (4u << 20)

/* Reads len bytes at off, through short reads and EINTR; 0 or -1. */
static int read_full(int fd, char *buf, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* shorter than its size said */
			return -1;
		}
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t size, off = 0;
	char *a, *b;
	int fa, fb;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: devcmp A B [BYTES]\n");
		return 2;
	}
	fa = open(argv[1], O_RDONLY | O_DIRECT);
	fb = open(argv[2], O_RDONLY | O_DIRECT);
	if (fa < 0 || fb < 0) {
		fprintf(stderr, "devcmp: %s: %s\n", argv[fa < 0 ? 1 : 2], strerror(errno));
		return 2;
	}
	size = argc == 4 ? strtoull(argv[3], NULL, 10) : dev_size_bytes(fa);
	if (size == 0 || size % 4096 || size > dev_size_bytes(fa) || size > dev_size_bytes(fb)) {
		fprintf(stderr, "devcmp: BYTES must be a multiple of 4096 within both sizes\n");
		return 2;
	}
	if (posix_memalign((void **)&a, 4096, CHUNK) || posix_memalign((void **)&b, 4096, CHUNK)) {
		fprintf(stderr, "devcmp: out of memory\n");
		return 2;
	}
	for (; off < size; off += CHUNK) {
		size_t len = size - off < CHUNK ? (size_t)(size - off) : CHUNK;

		if (read_full(fa, a, len, off) < 0 || read_full(fb, b, len, off) < 0) {
			fprintf(stderr, "devcmp: reading at %" PRIu64 ": %s\n", off, strerror(errno));
			return 2;
		}
		if (memcmp(a, b, len) != 0) {
			size_t i = 0;

			while (a[i] == b[i])
				i++;
			fprintf(stderr, "devcmp: %s and %s differ at byte %" PRIu64 "\n", argv[1],
				argv[2], off + i);
			return 1;
		}
	}
	free(a);
	free(b);
	close(fa);
	close(fb);
	return 0;
}
