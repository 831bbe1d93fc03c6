/* SPDX-License-Identifier: MIT */
/*
 * The handler's configuration string (cfgstring), parsed without tcmu-runner:
 * unit tests and the fuzzer link this file alone. Grammar in
 * docs/handler_clone.8:
 *
 *     [clone/] key=value[;key=value]...     inline (at most 255 bytes in all)
 *     [clone/] @/absolute/path              the same items in a file, separated
 *                                           by ';' or newlines, '#' comments
 *
 * Checked in this order, each failure with its own message: the string as a
 * whole (length, characters the kernel would split on), each key (unknown =
 * error, duplicate = error, typed parse with range), then the keys against
 * each other (src, dst and meta required and distinct, ...).
 */
#ifndef LC_HANDLER_CFGSTRING_H
#define LC_HANDLER_CFGSTRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lunclone/clone.h>

struct lc_err;

#define HC_CFG_SUBTYPE "clone"
/* The kernel's TCMU_CONFIG_LEN, including "clone/" and the terminating NUL. */
#define HC_CFG_INLINE_MAX 256u
/* An @file larger than this is refused. */
#define HC_CFG_FILE_MAX (64u * 1024)
/* name=: becomes /run/lunclone/<name>.sock, so it stays short and plain. */
#define HC_CFG_NAME_MAX 64u

enum hc_cfg_format {
	HC_CFG_FORMAT_AUTO,  /* format a missing or blank store, open a valid one */
	HC_CFG_FORMAT_NEVER, /* the store must exist and be valid */
};

struct hc_cfg {
	char *src;			/* owned */
	char *dst;			/* owned */
	char *meta;			/* owned */
	char name[HC_CFG_NAME_MAX + 1]; /* "" when not given */
	/* 0 when not given: format uses LC_REGION_SIZE_DEFAULT, open accepts any. */
	uint32_t region_size_bytes;
	enum hc_cfg_format format;
	bool direct; /* O_DIRECT on source and destination */
	struct lc_clone_config clone;
};

/*
 * Parses cfgstring (with or without the "clone/" prefix). On success returns
 * 0 and fills *ret_cfg, which the caller releases with hc_cfg_clear(). On
 * failure returns -EINVAL (or -errno of reading an @file, -ENOMEM), leaves
 * *ret_cfg untouched and writes one line into err, naming the key: "rate:
 * 'abc' is not a number of MiB/s". Reads the @file, so it may block briefly.
 * Thread-safe.
 */
int hc_cfg_parse(const char *cfgstring, struct hc_cfg *ret_cfg, struct lc_err *err);

/* Frees the strings; accepts a zeroed or already cleared struct. */
void hc_cfg_clear(struct hc_cfg *cfg);

#endif
