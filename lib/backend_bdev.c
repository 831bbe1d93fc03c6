/* SPDX-License-Identifier: MIT */
/*
 * "bdev" backend: a Linux block device.
 *
 * Size from BLKGETSIZE64 and logical block size from BLKSSZGET, queried once
 * at open; flush is fdatasync (which sends a cache flush to the device);
 * discard is BLKDISCARD. Whether a discarded range reads back as zeros
 * depends on the device and the kernel no longer reports it reliably
 * (BLKDISCARDZEROES is deprecated and always answers 0), so discard_zeroes
 * is false: callers that need zeros must write them.
 *
 * The path is opened O_NONBLOCK so that naming a FIFO fails cleanly instead
 * of hanging in open(); the flag is cleared once we know it is a block device.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lunclone/backend.h>
#include <lunclone/err.h>

#include "util/full_rw.h"

struct bdev_backend {
	struct lc_backend be; /* first: close() frees the whole object */
	int fd;		      /* immutable after open; pread/pwrite are thread-safe */
};

static int bdev_fd(struct lc_backend *be)
{
	return ((struct bdev_backend *)be)->fd;
}

static int bdev_pread(struct lc_backend *be, void *buf, size_t len, uint64_t offset_bytes)
{
	return lc_full_pread(bdev_fd(be), buf, len, offset_bytes);
}

static int bdev_pwrite(struct lc_backend *be, const void *buf, size_t len, uint64_t offset_bytes)
{
	return lc_full_pwrite(bdev_fd(be), buf, len, offset_bytes);
}

static int bdev_flush(struct lc_backend *be)
{
	/* Not retried on failure: the dirty pages may already be dropped. */
	if (fdatasync(bdev_fd(be)) < 0)
		return -errno;
	return 0;
}

static int bdev_discard(struct lc_backend *be, uint64_t offset_bytes, uint64_t len_bytes)
{
	uint64_t range[2] = {offset_bytes, len_bytes};

	if (ioctl(bdev_fd(be), BLKDISCARD, range) < 0)
		return -errno;
	return 0;
}

static void bdev_close(struct lc_backend *be)
{
	struct bdev_backend *bb = (struct bdev_backend *)be;

	if (!bb)
		return;
	if (bb->fd >= 0)
		(void)close(bb->fd);
	free(bb->be.uri);
	free(bb);
}

static const struct lc_backend_ops bdev_ops = {
    .name = "bdev",
    .pread = bdev_pread,
    .pwrite = bdev_pwrite,
    .flush = bdev_flush,
    .discard = bdev_discard,
    .close = bdev_close,
};

int lc_backend_bdev_open(const char *path, unsigned flags, struct lc_backend **ret_be,
			 struct lc_err *err)
{
	struct bdev_backend *bb;
	struct stat st;
	uint64_t size_bytes;
	char ebuf[128];
	int oflags, fd, r, lbs;

	oflags = (flags & LC_BACKEND_RDONLY ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK;
	if (flags & LC_BACKEND_DIRECT)
		oflags |= O_DIRECT;
	fd = open(path, oflags);
	if (fd < 0) {
		r = -errno;
		return lc_err_set(err, r, "open block device backend: '%s': %s", path,
				  strerror_r(-r, ebuf, sizeof(ebuf)));
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		(void)lc_err_set(err, r, "open block device backend: '%s': fstat: %s", path,
				 strerror_r(-r, ebuf, sizeof(ebuf)));
		goto out_close_fd;
	}
	if (!S_ISBLK(st.st_mode)) {
		r = lc_err_set(err, -ENOTBLK, "open block device backend: '%s': not a block device",
			       path);
		goto out_close_fd;
	}
	if (fcntl(fd, F_SETFL, oflags & ~(O_NONBLOCK | O_CLOEXEC | O_ACCMODE)) < 0) {
		r = -errno;
		(void)lc_err_set(err, r, "open block device backend: '%s': fcntl: %s", path,
				 strerror_r(-r, ebuf, sizeof(ebuf)));
		goto out_close_fd;
	}
	if (ioctl(fd, BLKGETSIZE64, &size_bytes) < 0) {
		r = -errno;
		(void)lc_err_set(err, r, "open block device backend: '%s': BLKGETSIZE64: %s", path,
				 strerror_r(-r, ebuf, sizeof(ebuf)));
		goto out_close_fd;
	}
	if (ioctl(fd, BLKSSZGET, &lbs) < 0) {
		r = -errno;
		(void)lc_err_set(err, r, "open block device backend: '%s': BLKSSZGET: %s", path,
				 strerror_r(-r, ebuf, sizeof(ebuf)));
		goto out_close_fd;
	}
	if (lbs < (int)LC_SECTOR_SIZE || (lbs & (lbs - 1)) != 0) {
		r = lc_err_set(err, -EINVAL,
			       "open block device backend: '%s': odd logical block size %d", path,
			       lbs);
		goto out_close_fd;
	}
	bb = calloc(1, sizeof(*bb));
	if (!bb) {
		r = lc_err_set(err, -ENOMEM, "open block device backend: '%s': out of memory",
			       path);
		goto out_close_fd;
	}
	bb->be.uri = strdup(path);
	if (!bb->be.uri) {
		r = lc_err_set(err, -ENOMEM, "open block device backend: '%s': out of memory",
			       path);
		goto out_free_bb;
	}
	bb->fd = fd;
	bb->be.ops = &bdev_ops;
	bb->be.size_bytes = size_bytes;
	bb->be.logical_block_size = (uint32_t)lbs;
	bb->be.read_only = flags & LC_BACKEND_RDONLY;
	bb->be.discard_zeroes = false;
	*ret_be = &bb->be;
	return 0;

out_free_bb:
	free(bb);
out_close_fd:
	(void)close(fd);
	return r;
}
