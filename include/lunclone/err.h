/* SPDX-License-Identifier: MIT */
/*
 * Detailed error messages from the library.
 *
 * Functions return -errno. Where a number is not enough for an admin (which
 * superblock field is wrong, which size disagrees), they also take an optional
 * struct lc_err and write one line into it: "<what>: <reason>". The library
 * never logs above debug; the caller decides whether and how to print it.
 */
#ifndef LUNCLONE_ERR_H
#define LUNCLONE_ERR_H

#include <stddef.h>

struct lc_err {
	char msg[256];
};

/* Formats into err->msg when err is not NULL; returns r so callers can write
 * "return lc_err_set(err, -EINVAL, ...)". Never blocks. */
int lc_err_set(struct lc_err *err, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
