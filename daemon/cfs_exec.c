/* SPDX-License-Identifier: MIT */
/* Applying a plan (cfs_exec.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/full_rw.h"
#include "util/sock_exchange.h"

#include "cfs_exec.h"

static int full_path(const char *root, const char *path, char *buf, size_t size)
{
	if (snprintf(buf, size, "%s/%s", root, path) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

static int posix_mkdir(void *opaque, const char *path)
{
	char p[PATH_MAX];
	int r = full_path(opaque, path, p, sizeof(p));

	if (r < 0)
		return r;
	return mkdir(p, 0755) < 0 ? -errno : 0;
}

static int posix_rmdir(void *opaque, const char *path)
{
	char p[PATH_MAX];
	int r = full_path(opaque, path, p, sizeof(p));

	if (r < 0)
		return r;
	return rmdir(p) < 0 ? -errno : 0;
}

/* configfs takes an attribute in one write(): a short one is a failure. */
static int posix_write(void *opaque, const char *path, const char *value)
{
	char p[PATH_MAX];
	size_t len = strlen(value);
	ssize_t n;
	int fd, r = full_path(opaque, path, p, sizeof(p));

	if (r < 0)
		return r;
	fd = open(p, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	do
		n = write(fd, value, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != len)
		r = -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static int posix_symlink(void *opaque, const char *target, const char *path)
{
	char t[PATH_MAX], p[PATH_MAX];
	int r = full_path(opaque, target, t, sizeof(t));

	if (r == 0)
		r = full_path(opaque, path, p, sizeof(p));
	if (r < 0)
		return r;
	return symlink(t, p) < 0 ? -errno : 0;
}

static int posix_unlink(void *opaque, const char *path)
{
	char p[PATH_MAX];
	int r = full_path(opaque, path, p, sizeof(p));

	if (r < 0)
		return r;
	return unlink(p) < 0 ? -errno : 0;
}

const struct lcd_cfs_ops lcd_cfs_posix_ops = {
    .mkdir = posix_mkdir,
    .rmdir = posix_rmdir,
    .write = posix_write,
    .symlink = posix_symlink,
    .unlink = posix_unlink,
};

static int mkdir_private(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	(void)close(fd);
	return r;
}

int lcd_write_file_atomic(const char *path, const char *content)
{
	char dir[PATH_MAX], parent[PATH_MAX], tmp[PATH_MAX], *slash;
	int fd, r;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir) ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return -EINVAL;
	*slash = '\0';
	/* STATE/sessions: STATE may not exist yet either. */
	(void)snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		r = mkdir_private(parent);
		if (r < 0)
			return r;
	}
	r = mkdir_private(dir);
	if (r < 0)
		return r;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = lc_full_pwrite(fd, content, strlen(content), 0);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	return fsync_dir(dir);
}

/* The handler answers within its own 2 s client deadline; allow more. */
#define STATUS_TIMEOUT_MS 5000
/* A whole status reply is under 1 KiB; this only bounds a misbehaving peer. */
#define STATUS_REPLY_MAX (64u * 1024)

int lcd_status_request(const char *socket_path, const char *line, char *reply, size_t reply_size)
{
	enum lc_sock_step step;
	char *got = NULL;
	size_t len;
	int r;

	reply[0] = '\0';
	r = lc_sock_exchange(socket_path, line, STATUS_TIMEOUT_MS, STATUS_REPLY_MAX, &got, &step);
	if (r < 0)
		return r;
	/* The first line is the answer: "ok", or "error: <reason>". */
	len = strcspn(got, "\n");
	if (len >= reply_size)
		len = reply_size - 1;
	memcpy(reply, got, len);
	reply[len] = '\0';
	free(got);
	return strcmp(reply, "ok") == 0 ? 0 : -EPROTO;
}

static int apply_one(const struct lcd_op *op, const struct lcd_cfs_ops *ops, void *opaque)
{
	switch (op->kind) {
	case LCD_OP_MKDIR:
		return ops->mkdir(opaque, op->path);
	case LCD_OP_RMDIR:
		return ops->rmdir(opaque, op->path);
	case LCD_OP_WRITE:
		return ops->write(opaque, op->path, op->value);
	case LCD_OP_SYMLINK:
		return ops->symlink(opaque, op->value, op->path);
	case LCD_OP_UNLINK:
		return ops->unlink(opaque, op->path);
	case LCD_OP_FILE_WRITE:
		return lcd_write_file_atomic(op->path, op->value);
	case LCD_OP_FILE_REMOVE:
		return unlink(op->path) < 0 && errno != ENOENT ? -errno : 0;
	case LCD_OP_THROTTLE:
		break; /* lcd_plan_apply() */
	}
	return -EINVAL;
}

int lcd_plan_apply(const struct lcd_plan *plan, const struct lcd_cfs_ops *ops, void *opaque,
		   size_t *ret_nr_done, struct lcd_errors *errs)
{
	char what[1024];
	size_t i;
	int r = 0;

	for (i = 0; i < plan->nr; i++) {
		if (plan->ops[i].kind == LCD_OP_THROTTLE) {
			char line[64], reply[256];
			int rt;

			(void)snprintf(line, sizeof(line), "throttle %s\n", plan->ops[i].value);
			rt = lcd_status_request(plan->ops[i].path, line, reply, sizeof(reply));
			if (rt < 0) {
				lcd_op_describe(&plan->ops[i], what, sizeof(what));
				lcd_errors_add(
				    errs,
				    "%s: %s%s%s; the device takes the rate from its file "
				    "when it next opens, ignoring",
				    what, strerror(-rt), reply[0] ? ": " : "", reply);
			}
			continue;
		}
		r = apply_one(&plan->ops[i], ops, opaque);
		if (r < 0) {
			lcd_op_describe(&plan->ops[i], what, sizeof(what));
			lcd_errors_add(errs, "%s: %s (operation %zu of %zu; the rest not applied)",
				       what, strerror(-r), i + 1, plan->nr);
			break;
		}
	}
	if (ret_nr_done)
		*ret_nr_done = i;
	return r;
}
