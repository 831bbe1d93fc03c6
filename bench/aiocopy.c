// SPDX-License-Identifier: MIT
/*
 * aiocopy: the leanest user-space copy we know how to write, as a yardstick
 * for idle hydration (bench/guest-hydration.sh). One thread copies SRC onto
 * DST with O_DIRECT through the kernel's native AIO, DEPTH chunks of CHUNK
 * bytes in flight: a chunk's write is submitted the moment its read
 * completes, and its buffer's next read the moment the write completes, so
 * reads and writes overlap with no thread hand-over; then fsync(DST).
 * Prints the seconds taken, from the first submission to the end of fsync.
 *
 * lunclone does more per chunk (claims, metadata, commits) and cannot beat
 * this; the fio ceiling does less (reads and writes that depend on nothing).
 * Where this copy itself falls short of the ceiling, so must any copy.
 *
 * Usage: aiocopy SRC DST DEPTH CHUNK_BYTES   (sizes: SRC's, a CHUNK multiple)
 * Raw system calls (linux/aio_abi.h): no library beyond libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/aio_abi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "devsize.h"

struct chunk {
	struct iocb cb;
	void *buf;
	uint64_t off;
	int writing;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail(const char *what)
{
	fprintf(stderr, "aiocopy: %s: %s\n", what, strerror(errno));
	return 1;
}

static int submit(aio_context_t ctx, struct chunk *c, int fd, unsigned op, size_t len)
{
	struct iocb *cbp = &c->cb;

	memset(&c->cb, 0, sizeof(c->cb));
	c->cb.aio_data = (uint64_t)(uintptr_t)c;
	c->cb.aio_lio_opcode = (uint16_t)op;
	c->cb.aio_fildes = (uint32_t)fd;
	c->cb.aio_buf = (uint64_t)(uintptr_t)c->buf;
	c->cb.aio_nbytes = len;
	c->cb.aio_offset = (int64_t)c->off;
	return syscall(SYS_io_submit, ctx, 1L, &cbp) == 1 ? 0 : -1;
}

/*
 * Copies [0, size) from src to dst through ctx with the depth chunks; 0 or
 * 1 (said why). On an error, I/O may still be in flight: io_destroy waits.
 */
static int copy(aio_context_t ctx, struct chunk *chunks, unsigned depth, int src, int dst,
		uint64_t size, size_t chunk_bytes)
{
	struct io_event ev[64];
	unsigned inflight = 0;
	uint64_t next = 0;

	for (unsigned i = 0; i < depth && next < size; i++, next += chunk_bytes) {
		chunks[i].off = next;
		chunks[i].writing = 0;
		if (submit(ctx, &chunks[i], src, IOCB_CMD_PREAD, chunk_bytes) < 0)
			return fail("io_submit (read)");
		inflight++;
	}
	while (inflight) {
		long n = syscall(SYS_io_getevents, ctx, 1L, 64L, ev, NULL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail("io_getevents");
		}
		for (long k = 0; k < n; k++) {
			struct chunk *c = (struct chunk *)(uintptr_t)ev[k].data;

			if (ev[k].res != (int64_t)chunk_bytes) {
				fprintf(stderr, "aiocopy: %s at %" PRIu64 ": result %lld\n",
					c->writing ? "write" : "read", c->off, (long long)ev[k].res);
				return 1;
			}
			if (!c->writing) {
				c->writing = 1;
				if (submit(ctx, c, dst, IOCB_CMD_PWRITE, chunk_bytes) < 0)
					return fail("io_submit (write)");
			} else if (next < size) {
				c->off = next;
				c->writing = 0;
				next += chunk_bytes;
				if (submit(ctx, c, src, IOCB_CMD_PREAD, chunk_bytes) < 0)
					return fail("io_submit (read)");
			} else {
				inflight--;
			}
		}
	}
	return fsync(dst) < 0 ? fail("fsync") : 0;
}

int main(int argc, char **argv)
{
	aio_context_t ctx = 0;
	struct chunk *chunks = NULL;
	unsigned depth;
	size_t chunk_bytes;
	uint64_t size;
	double t0;
	int src = -1, dst = -1, rc = 1;

	if (argc != 5) {
		fprintf(stderr, "usage: aiocopy SRC DST DEPTH CHUNK_BYTES\n");
		return 2;
	}
	depth = (unsigned)strtoul(argv[3], NULL, 10);
	chunk_bytes = (size_t)strtoull(argv[4], NULL, 10);
	if (depth < 1 || depth > 64 || chunk_bytes == 0 || chunk_bytes % 4096) {
		fprintf(stderr, "aiocopy: DEPTH 1-64, CHUNK_BYTES a multiple of 4096\n");
		return 2;
	}
	src = open(argv[1], O_RDONLY | O_DIRECT);
	if (src < 0) {
		rc = fail(argv[1]);
		goto out;
	}
	dst = open(argv[2], O_WRONLY | O_DIRECT);
	if (dst < 0) {
		rc = fail(argv[2]);
		goto out;
	}
	size = dev_size_bytes(src);
	if (size == 0 || size % chunk_bytes || dev_size_bytes(dst) < size) {
		fprintf(stderr, "aiocopy: SRC must be a non-empty multiple of CHUNK_BYTES, DST as large\n");
		goto out;
	}
	chunks = calloc(depth, sizeof(*chunks));
	if (!chunks) {
		rc = fail("calloc");
		goto out;
	}
	for (unsigned i = 0; i < depth; i++) {
		if (posix_memalign(&chunks[i].buf, 4096, chunk_bytes) != 0) {
			chunks[i].buf = NULL;
			rc = fail("posix_memalign");
			goto out;
		}
	}
	if (syscall(SYS_io_setup, depth, &ctx) < 0) {
		ctx = 0;
		rc = fail("io_setup");
		goto out;
	}
	t0 = now();
	rc = copy(ctx, chunks, depth, src, dst, size, chunk_bytes);
	if (rc == 0)
		printf("%.3f\n", now() - t0);
out:
	if (ctx)
		syscall(SYS_io_destroy, ctx);
	if (chunks) {
		for (unsigned i = 0; i < depth; i++)
			free(chunks[i].buf);
		free(chunks);
	}
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	return rc;
}
