/* SPDX-License-Identifier: MIT */
/*
 * lunclone(8), the admin and test tool over the core library: one file per
 * verb (cli/lunclone-<verb>.c), the dispatcher and the helpers they share in
 * cli/lunclone.c.
 *
 * Exit codes, for every verb: 0 success, 1 runtime failure or a negative
 * answer (bad store, mismatching data, hydration not complete), 2 usage error.
 * Usage errors say what is wrong and point at --help; runtime errors read
 * "lunclone: <verb>: '<object>': <reason>", the reason being the library's
 * lc_err message when it gave one.
 */
#ifndef LUNCLONE_CLI_H
#define LUNCLONE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lc_backend;
struct lc_err;
struct lc_meta;
struct lc_meta_params;
struct option;

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,
	CLI_EXIT_USAGE = 2,
};

/* A verb's entry point: argv[0] is the verb's name; returns an exit code. */
int cli_format_main(int argc, char **argv);
int cli_status_main(int argc, char **argv);
int cli_check_main(int argc, char **argv);
int cli_dump_main(int argc, char **argv);
int cli_verify_main(int argc, char **argv);
int cli_hydrate_main(int argc, char **argv);
int cli_ctl_main(int argc, char **argv);

/* "lunclone: <verb>: '<object>': <reason>" on stderr. The reason is err->msg
 * when err is not NULL and holds a message, else strerror(-r). object may be
 * NULL (then the quoted part is left out). */
void cli_error(const char *verb, const char *object, int r, const struct lc_err *err);
/* Same with a formatted reason. */
void cli_errorf(const char *verb, const char *object, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "lunclone: <verb>: <message>" plus a pointer to --help on stderr; returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Option parsing state for one verb. Every verb takes -h/--help (handled by
 * the verb). seen[] records the options given, so a repeated one is refused
 * like a duplicate configuration key.
 */
struct cli_opts {
	const char *verb;
	int argc;
	char **argv;
	const char *optstring; /* must start with ':' */
	const struct option *longopts;
	bool seen[256];
};

/*
 * getopt_long over the verb's options. Returns what getopt_long returns,
 * except that an unknown option, a missing argument or a repeated option is
 * reported as a usage error and returned as '?'. Call until -1. Option values
 * (struct option .val) must be below 256.
 */
int cli_getopt(struct cli_opts *o);
/* After the options: any operand left is a usage error (returns false). */
bool cli_no_operands(const struct cli_opts *o);

/* Typed option values; on a bad value print a usage error naming the option
 * and return false (*ret_ untouched). */
bool cli_opt_size(const char *verb, const char *opt, const char *arg, uint64_t *ret_bytes);
bool cli_opt_u32(const char *verb, const char *opt, const char *arg, uint32_t min, uint32_t max,
		 uint32_t *ret_value);
bool cli_opt_u64(const char *verb, const char *opt, const char *arg, uint64_t *ret_value);
/* A region size: a size that is a power of two within the format's limits. */
bool cli_opt_region_size(const char *verb, const char *arg, uint32_t *ret_bytes);

/* lc_backend_open with the error reported as a runtime error (an iscsi://
 * URL named with its passwords replaced by "***"). Returns 0 or
 * -errno; the caller closes *ret_be. */
int cli_open_backend(const char *verb, const char *path, unsigned flags,
		     struct lc_backend **ret_be);

/*
 * Opens the metadata store at meta_path read-only, without a destination
 * (expect as lc_meta_open). Errors are reported under verb. The caller
 * releases both with cli_close_store(). Blocks.
 */
int cli_open_store_ro(const char *verb, const char *meta_path, const struct lc_meta_params *expect,
		      struct lc_backend **ret_mdev, struct lc_meta **ret_meta);
/* Accepts NULLs. */
void cli_close_store(struct lc_backend *mdev, struct lc_meta *meta);

/* Refuses (-EINVAL, reported) one file playing two roles: a clone onto its
 * own source, or a store on the source or destination. Paths that do not
 * exist (yet) pass. */
int cli_check_distinct(const char *verb, const char *source_path, const char *dest_path,
		       const char *meta_path);

/*
 * Writes a fresh metadata store on meta_path for source_path and dest_path
 * (format, and hydrate --format). Creates meta_path when it does not exist,
 * extends a regular file that is too small, refuses a block device that is.
 * When the path already holds a valid store: with only_if_invalid, leaves it
 * alone and returns 0 with *ret_formatted false; otherwise refuses (-EEXIST)
 * unless force. Errors are reported under verb. Blocks.
 */
struct cli_format_args {
	const char *source_path;
	const char *dest_path;
	const char *meta_path;
	uint32_t region_size_bytes;
	bool force;
	bool only_if_invalid;
	bool quiet;
};
int cli_format_store(const char *verb, const struct cli_format_args *args, bool *ret_formatted);

/* Lowercase hex of len bytes into out (2 * len + 1 bytes). */
void cli_hex(char *out, const uint8_t *bytes, size_t len);
/* 8-4-4-4-12 form into out (37 bytes). */
void cli_uuid(char *out, const uint8_t uuid[16]);

#endif
