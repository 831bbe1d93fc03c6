/* SPDX-License-Identifier: MIT */
/*
 * Backend dispatch and the checked entry points.
 *
 * lc_backend_open() picks the implementation from what the uri names: an
 * iscsi:// URL goes to iscsi, then stat(): a block device goes to bdev,
 * anything else to file, which refuses what is not a regular file. The
 * lc_backend_* wrappers validate every request once, here, so that
 * implementations only see ranges inside the device: a read-only device
 * refuses writes and discards (-EROFS), a range past size_bytes or whose end
 * overflows is -EINVAL, an empty range succeeds without reaching the backend.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <lunclone/backend.h>
#include <lunclone/err.h>

#include "util/iscsi_url.h"

int lc_backend_open(const char *uri, unsigned flags, struct lc_backend **ret_be, struct lc_err *err)
{
	struct stat st;
	int r;

	if (!uri || !*uri)
		return lc_err_set(err, -EINVAL, "open backend: empty path");
	if (lc_iscsi_url_is_iscsi(uri))
		return lc_backend_iscsi_open(uri, flags, ret_be, err);
	if (stat(uri, &st) < 0) {
		char buf[128];

		r = -errno;
		return lc_err_set(err, r, "open backend: '%s': %s", uri,
				  strerror_r(-r, buf, sizeof(buf)));
	}
	if (S_ISBLK(st.st_mode))
		return lc_backend_bdev_open(uri, flags, ret_be, err);
	return lc_backend_file_open(uri, flags, ret_be, err);
}

/* 0 when [offset_bytes, offset_bytes + len) lies inside the device. */
static int check_range(const struct lc_backend *be, uint64_t offset_bytes, uint64_t len)
{
	if (offset_bytes > be->size_bytes || len > be->size_bytes - offset_bytes)
		return -EINVAL;
	return 0;
}

int lc_backend_pread(struct lc_backend *be, void *buf, size_t len, uint64_t offset_bytes)
{
	int r;

	r = check_range(be, offset_bytes, len);
	if (r < 0 || len == 0)
		return r;
	return be->ops->pread(be, buf, len, offset_bytes);
}

int lc_backend_pwrite(struct lc_backend *be, const void *buf, size_t len, uint64_t offset_bytes)
{
	int r;

	if (be->read_only)
		return -EROFS;
	r = check_range(be, offset_bytes, len);
	if (r < 0 || len == 0)
		return r;
	return be->ops->pwrite(be, buf, len, offset_bytes);
}

int lc_backend_flush(struct lc_backend *be)
{
	return be->ops->flush(be);
}

int lc_backend_discard(struct lc_backend *be, uint64_t offset_bytes, uint64_t len_bytes)
{
	int r;

	if (be->read_only)
		return -EROFS;
	if (!be->ops->discard)
		return -EOPNOTSUPP;
	r = check_range(be, offset_bytes, len_bytes);
	if (r < 0 || len_bytes == 0)
		return r;
	return be->ops->discard(be, offset_bytes, len_bytes);
}

void lc_backend_close(struct lc_backend *be)
{
	if (!be)
		return;
	be->ops->close(be);
}
