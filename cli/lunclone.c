/* SPDX-License-Identifier: MIT */
/*
 * lunclone(8): dispatcher and shared helpers.
 *
 * `lunclone <verb> [options]`: the verb picks a cli_<verb>_main() which parses
 * its own options with getopt_long (through cli_getopt(), so every verb
 * reports bad arguments the same way and exits 2) and returns the exit code.
 * Nothing here keeps state between calls: each process runs one verb.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lunclone/lunclone.h>

#include "util/iscsi_url.h"
#include "util/parse.h"

#include "lunclone.h"

#define PROGRAM "lunclone"

struct cli_verb {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

static const struct cli_verb verbs[] = {
    {"format", cli_format_main, "create the metadata store of a clone"},
    {"hydrate", cli_hydrate_main, "copy the source onto the destination, with progress"},
    {"status", cli_status_main, "show what a metadata store records"},
    {"check", cli_check_main, "verify a metadata store (and its sizes against the devices)"},
    {"dump", cli_dump_main, "print the hydrated regions as JSON"},
    {"verify", cli_verify_main, "compare hydrated regions of the destination with the source"},
    {"ctl", cli_ctl_main, "status and control of a running clone over its socket"},
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s <verb> [options]\n"
		"       %s <verb> --help\n"
		"       %s --help | --version\n\nVerbs:\n",
		PROGRAM, PROGRAM, PROGRAM);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-9s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(f, "\nExit status: 0 success, 1 failure, 2 usage error. See lunclone(8).\n");
}

static void vreport(const char *verb, const char *object, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: %s: ", PROGRAM, verb);
	if (object)
		fprintf(stderr, "'%s': ", object);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_errorf(const char *verb, const char *object, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(verb, object, fmt, ap);
	va_end(ap);
}

void cli_error(const char *verb, const char *object, int r, const struct lc_err *err)
{
	if (err && err->msg[0] != '\0')
		cli_errorf(verb, object, "%s", err->msg);
	else
		cli_errorf(verb, object, "%s", strerror(r < 0 ? -r : r));
}

int cli_usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(verb, NULL, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s %s --help'.\n", PROGRAM, verb);
	return CLI_EXIT_USAGE;
}

int cli_getopt(struct cli_opts *o)
{
	const char *arg;
	int c;

	opterr = 0; /* we print our own messages, naming the verb */
	c = getopt_long(o->argc, o->argv, o->optstring, o->longopts, NULL);
	if (c == -1)
		return c;
	/* The option as typed, for messages ("-m", "--meta", "--meta=x"). */
	arg = optind > 0 && optind <= o->argc ? o->argv[optind - 1] : "?";
	if (c == '?') {
		if (optopt != 0 && optopt != '?')
			(void)cli_usage_error(o->verb, "unknown option '-%c'", optopt);
		else
			(void)cli_usage_error(o->verb, "unknown or ambiguous option '%s'", arg);
		return '?';
	}
	if (c == ':') {
		(void)cli_usage_error(o->verb, "option '%s' needs a value", arg);
		return '?';
	}
	if (c < 0 || c >= 256)
		return c;
	if (o->seen[c]) {
		(void)cli_usage_error(o->verb, "option '%s' given twice", arg);
		return '?';
	}
	o->seen[c] = true;
	return c;
}

bool cli_no_operands(const struct cli_opts *o)
{
	if (optind < o->argc) {
		(void)cli_usage_error(o->verb, "unexpected argument '%s'", o->argv[optind]);
		return false;
	}
	return true;
}

static void report_bad_value(const char *verb, const char *opt, const char *arg, int r,
			     const char *what)
{
	if (r == -ERANGE)
		(void)cli_usage_error(verb, "%s '%s': out of range (%s)", opt, arg, what);
	else
		(void)cli_usage_error(verb, "%s '%s': not %s", opt, arg, what);
}

bool cli_opt_size(const char *verb, const char *opt, const char *arg, uint64_t *ret_bytes)
{
	uint64_t v;
	int r;

	r = lc_parse_size(arg, &v);
	if (r < 0) {
		report_bad_value(verb, opt, arg, r, "a size in bytes, with an optional K/M/G/T/P");
		return false;
	}
	*ret_bytes = v;
	return true;
}

bool cli_opt_u32(const char *verb, const char *opt, const char *arg, uint32_t min, uint32_t max,
		 uint32_t *ret_value)
{
	uint32_t v;
	int r;

	r = lc_parse_u32(arg, &v);
	if (r == 0 && (v < min || v > max))
		r = -ERANGE;
	if (r < 0) {
		char what[64];

		(void)snprintf(what, sizeof(what), "an integer from %u to %u", min, max);
		report_bad_value(verb, opt, arg, r, what);
		return false;
	}
	*ret_value = v;
	return true;
}

bool cli_opt_u64(const char *verb, const char *opt, const char *arg, uint64_t *ret_value)
{
	uint64_t v;
	int r;

	r = lc_parse_u64(arg, &v);
	if (r < 0) {
		report_bad_value(verb, opt, arg, r, "a non-negative integer");
		return false;
	}
	*ret_value = v;
	return true;
}

bool cli_opt_region_size(const char *verb, const char *arg, uint32_t *ret_bytes)
{
	uint64_t v;

	if (!cli_opt_size(verb, "--region-size", arg, &v))
		return false;
	if (v < LC_REGION_SIZE_MIN || v > LC_REGION_SIZE_MAX || (v & (v - 1)) != 0) {
		(void)cli_usage_error(verb,
				      "--region-size '%s': not a power of two from %u to %u bytes",
				      arg, LC_REGION_SIZE_MIN, LC_REGION_SIZE_MAX);
		return false;
	}
	*ret_bytes = (uint32_t)v;
	return true;
}

/* path as messages may show it: an iscsi:// URL with its passwords replaced
 * by "***" (parsed into url, which the caller frees), anything else as is. */
static const char *printable_path(const char *path, struct lc_iscsi_url *url)
{
	if (!lc_iscsi_url_is_iscsi(path))
		return path;
	if (lc_iscsi_url_parse(path, url, NULL) == 0)
		return url->redacted;
	return LC_ISCSI_URL_SCHEME "...";
}

int cli_open_backend(const char *verb, const char *path, unsigned flags, struct lc_backend **ret_be)
{
	struct lc_err err = {.msg = ""};
	struct lc_iscsi_url url = {0};
	struct lc_backend *be;
	int r;

	r = lc_backend_open(path, flags, &be, &err);
	if (r < 0) {
		cli_error(verb, printable_path(path, &url), r, &err);
		lc_iscsi_url_free(&url);
		return r;
	}
	*ret_be = be;
	return 0;
}

int cli_open_store_ro(const char *verb, const char *meta_path, const struct lc_meta_params *expect,
		      struct lc_backend **ret_mdev, struct lc_meta **ret_meta)
{
	struct lc_err err = {.msg = ""};
	struct lc_backend *mdev;
	struct lc_meta *meta;
	int r;

	r = cli_open_backend(verb, meta_path, LC_BACKEND_RDONLY, &mdev);
	if (r < 0)
		return r;
	r = lc_meta_open(mdev, NULL, expect, LC_META_OPEN_RDONLY, &meta, &err);
	if (r < 0) {
		cli_error(verb, meta_path, r, &err);
		lc_backend_close(mdev);
		return r;
	}
	*ret_mdev = mdev;
	*ret_meta = meta;
	return 0;
}

void cli_close_store(struct lc_backend *mdev, struct lc_meta *meta)
{
	/* Read-only: no final commit, so no error to report. */
	(void)lc_meta_close(meta);
	lc_backend_close(mdev);
}

void cli_hex(char *out, const uint8_t *bytes, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	out[2 * len] = '\0';
}

void cli_uuid(char *out, const uint8_t uuid[16])
{
	char hex[33];

	cli_hex(hex, uuid, 16);
	(void)snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
		       hex + 20);
}

int main(int argc, char **argv)
{
	const char *verb;
	int ret;

	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	verb = argv[1];
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(verb, "--version") == 0) {
		printf("%s %s\n", PROGRAM, LC_CLI_VERSION);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(verb, verbs[i].name) == 0) {
			/* The verb parses argv[1..]: its argv[0] is its own name. */
			ret = verbs[i].main(argc - 1, argv + 1);
			/* Output lost to a full disk or closed pipe is a failure. */
			if (fflush(stdout) != 0 || ferror(stdout)) {
				fprintf(stderr, "%s: %s: write error on standard output\n", PROGRAM,
					verb);
				if (ret == CLI_EXIT_OK)
					ret = CLI_EXIT_FAIL;
			}
			return ret;
		}
	}
	fprintf(stderr, "%s: unknown verb '%s'\nTry '%s --help'.\n", PROGRAM, verb, PROGRAM);
	return CLI_EXIT_USAGE;
}
