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

/* Compares [0, size) of fa and fb: 0 same, 1 different, 2 error. */
static int compare(int fa, int fb, uint64_t size, const char *name_a, const char *name_b)
{
	char *a = NULL, *b = NULL;
	uint64_t off;
	int rc = 0;

	if (posix_memalign((void **)&a, 4096, CHUNK) || posix_memalign((void **)&b, 4096, CHUNK)) {
		fprintf(stderr, "devcmp: out of memory\n");
		rc = 2;
		goto out;
	}
	for (off = 0; off < size && rc == 0; off += CHUNK) {
		size_t len = size - off < CHUNK ? (size_t)(size - off) : CHUNK;

		if (read_full(fa, a, len, off) < 0 || read_full(fb, b, len, off) < 0) {
			fprintf(stderr, "devcmp: reading at %" PRIu64 ": %s\n", off, strerror(errno));
			rc = 2;
		} else if (memcmp(a, b, len) != 0) {
			size_t i = 0;

			while (a[i] == b[i])
				i++;
			fprintf(stderr, "devcmp: %s and %s differ at byte %" PRIu64 "\n", name_a,
				name_b, off + i);
			rc = 1;
		}
	}
out:
	free(a);
	free(b);
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t size;
	int fa = -1, fb = -1, rc = 2;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: devcmp A B [BYTES]\n");
		return 2;
	}
	fa = open(argv[1], O_RDONLY | O_DIRECT);
	if (fa < 0) {
		fprintf(stderr, "devcmp: %s: %s\n", argv[1], strerror(errno));
		goto out;
	}
	fb = open(argv[2], O_RDONLY | O_DIRECT);
	if (fb < 0) {
		fprintf(stderr, "devcmp: %s: %s\n", argv[2], strerror(errno));
		goto out;
	}
	size = argc == 4 ? strtoull(argv[3], NULL, 10) : dev_size_bytes(fa);
	if (size == 0 || size % 4096 || size > dev_size_bytes(fa) || size > dev_size_bytes(fb)) {
		fprintf(stderr, "devcmp: BYTES must be a multiple of 4096 within both sizes\n");
		goto out;
	}
	rc = compare(fa, fb, size, argv[1], argv[2]);
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return rc;
}
