/* SPDX-License-Identifier: MIT */
/*
 * The executor: applies a plan (plan.h) in order, stopping at the first
 * failure (later operations depend on earlier ones; the next reconcile
 * plans again from what is there, so an interrupted apply is finished
 * then, not undone now).
 *
 * configfs operations go through a table of callbacks, so that tests can
 * put a fake kernel behind them (tests/daemon/fake_configfs.c); the posix
 * table below is the real thing: paths relative to a root directory
 * (/sys/kernel/config/target), one write() per attribute as configfs
 * wants, symlinks with absolute targets as targetcli makes them. Session
 * files are written atomically (temporary file, fsync, rename, fsync of
 * the directory), mode 0600 in a directory of mode 0700.
 *
 * Blocks (file system; on real configfs some writes load kernel modules or
 * make tcmu-runner open a device).
 */
#ifndef LCD_CFS_EXEC_H
#define LCD_CFS_EXEC_H

#include <stddef.h>

#include "errors.h"
#include "plan.h"

/* Each returns 0 or -errno; paths are relative to the root. */
struct lcd_cfs_ops {
	int (*mkdir)(void *opaque, const char *path);
	int (*rmdir)(void *opaque, const char *path);
	int (*write)(void *opaque, const char *path, const char *value);
	/* A link at path pointing at target (both relative to the root). */
	int (*symlink)(void *opaque, const char *target, const char *path);
	int (*unlink)(void *opaque, const char *path);
};

/* The real configfs; opaque is the root directory (const char *). */
extern const struct lcd_cfs_ops lcd_cfs_posix_ops;

/*
 * Applies plan: configfs operations through ops/opaque, files and status
 * sockets directly. Returns 0, or the -errno of the first failure with one
 * line in errs naming the operation. A throttle that fails (the device is
 * not open, tcmu-runner is down) does not stop the plan: it adds a line
 * ending in ", ignoring" to errs. *ret_nr_done (may be NULL) counts the
 * operations done.
 */
int lcd_plan_apply(const struct lcd_plan *plan, const struct lcd_cfs_ops *ops, void *opaque,
		   size_t *ret_nr_done, struct lcd_errors *errs);

/*
 * One request to a handler status socket (handler_clone(8)): sends line,
 * reads the reply's first line into reply (NUL-terminated). 0 when the reply is "ok",
 * -EPROTO with the reply when it is an error, -errno (-ETIMEDOUT after
 * 5 s). Blocks.
 */
int lcd_status_request(const char *socket_path, const char *line, char *reply, size_t reply_size);

/* Writes content to path atomically, mode 0600, creating its directory
 * (and that one's parent) with mode 0700 if needed. */
int lcd_write_file_atomic(const char *path, const char *content);

#endif
