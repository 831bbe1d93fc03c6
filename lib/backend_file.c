/* SPDX-License-Identifier: MIT */
/*
 * "file" backend: a regular file used as a device.
 *
 * Size from fstat at open (the file is not expected to change size under
 * us); flush is fdatasync; discard punches a hole, keeping the size, so a
 * discarded range reads back as zeros. With LC_BACKEND_DIRECT the file is
 * opened O_DIRECT and logical_block_size is the alignment the filesystem
 * demands for direct I/O (statx STATX_DIOALIGN), or 4096 when the kernel
 * cannot tell: large enough for every common filesystem and device.
 *
 * The path is opened O_NONBLOCK so that naming a FIFO fails cleanly instead
 * of hanging in open(); the flag is cleared once we know it is a regular file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lunclone/backend.h>
#include <lunclone/err.h>

#include "util/full_rw.h"

#define FILE_DIRECT_FALLBACK_BLOCK 4096u

struct file_backend {
	struct lc_backend be; /* first: close() frees the whole object */
	int fd;		      /* immutable after open; pread/pwrite are thread-safe */
};

static int file_fd(struct lc_backend *be)
{
	return ((struct file_backend *)be)->fd;
}

static int file_pread(struct lc_backend *be, void *buf, size_t len, uint64_t offset_bytes)
{
	return lc_full_pread(file_fd(be), buf, len, offset_bytes);
}

static int file_pwrite(struct lc_backend *be, const void *buf, size_t len, uint64_t offset_bytes)
{
	return lc_full_pwrite(file_fd(be), buf, len, offset_bytes);
}

static int file_flush(struct lc_backend *be)
{
	/* Not retried on failure: the dirty pages may already be dropped. */
	if (fdatasync(file_fd(be)) < 0)
		return -errno;
	return 0;
}

static int file_discard(struct lc_backend *be, uint64_t offset_bytes, uint64_t len_bytes)
{
	if (offset_bytes > INT64_MAX || len_bytes > INT64_MAX - offset_bytes)
		return -EINVAL;
	if (fallocate(file_fd(be), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset_bytes,
		      (off_t)len_bytes) < 0)
		return -errno;
	return 0;
}

static void file_close(struct lc_backend *be)
{
	struct file_backend *fb = (struct file_backend *)be;

	if (!fb)
		return;
	if (fb->fd >= 0)
		(void)close(fb->fd); /* write errors are flush's to report, not close's */
	free(fb->be.uri);
	free(fb);
}

static const struct lc_backend_ops file_ops = {
    .name = "file",
    .pread = file_pread,
    .pwrite = file_pwrite,
    .flush = file_flush,
    .discard = file_discard,
    .close = file_close,
};

/* Alignment required for O_DIRECT on fd, in bytes. */
static uint32_t direct_block_size(int fd)
{
#ifdef STATX_DIOALIGN
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align != 0) {
		uint32_t align = stx.stx_dio_offset_align;

		/* Buffers are aligned to the same value: take the stricter one. */
		if (stx.stx_dio_mem_align > align)
			align = stx.stx_dio_mem_align;
		return align < LC_SECTOR_SIZE ? LC_SECTOR_SIZE : align;
	}
#endif
	(void)fd;
	return FILE_DIRECT_FALLBACK_BLOCK;
}

int lc_backend_file_open(const char *path, unsigned flags, struct lc_backend **ret_be,
			 struct lc_err *err)
{
	struct file_backend *fb;
	struct stat st;
	char ebuf[128];
	int oflags, fd, r;

	oflags = (flags & LC_BACKEND_RDONLY ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK;
	if (flags & LC_BACKEND_DIRECT)
		oflags |= O_DIRECT;
	fd = open(path, oflags);
	if (fd < 0) {
		r = -errno;
		/* open(2) says EINVAL when the file system has no O_DIRECT
		 * (tmpfs, some FUSE): say that, not "Invalid argument". */
		if (r == -EINVAL && (flags & LC_BACKEND_DIRECT))
			return lc_err_set(err, r,
					  "open file backend: '%s': its file system does not "
					  "support O_DIRECT (direct I/O was asked for)",
					  path);
		return lc_err_set(err, r, "open file backend: '%s': %s", path,
				  strerror_r(-r, ebuf, sizeof(ebuf)));
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		(void)lc_err_set(err, r, "open file backend: '%s': fstat: %s", path,
				 strerror_r(-r, ebuf, sizeof(ebuf)));
		goto out_close_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		(void)lc_err_set(err, r, "open file backend: '%s': not a regular file", path);
		goto out_close_fd;
	}
	if (fcntl(fd, F_SETFL, oflags & ~(O_NONBLOCK | O_CLOEXEC | O_ACCMODE)) < 0) {
		r = -errno;
		(void)lc_err_set(err, r, "open file backend: '%s': fcntl: %s", path,
				 strerror_r(-r, ebuf, sizeof(ebuf)));
		goto out_close_fd;
	}
	fb = calloc(1, sizeof(*fb));
	if (!fb) {
		r = lc_err_set(err, -ENOMEM, "open file backend: '%s': out of memory", path);
		goto out_close_fd;
	}
	fb->be.uri = strdup(path);
	if (!fb->be.uri) {
		r = lc_err_set(err, -ENOMEM, "open file backend: '%s': out of memory", path);
		goto out_free_fb;
	}
	fb->fd = fd;
	fb->be.ops = &file_ops;
	fb->be.size_bytes = (uint64_t)st.st_size;
	fb->be.logical_block_size =
	    flags & LC_BACKEND_DIRECT ? direct_block_size(fd) : LC_SECTOR_SIZE;
	fb->be.read_only = flags & LC_BACKEND_RDONLY;
	fb->be.discard_zeroes = true;
	*ret_be = &fb->be;
	return 0;

out_free_fb:
	free(fb);
out_close_fd:
	(void)close(fd);
	return r;
}
