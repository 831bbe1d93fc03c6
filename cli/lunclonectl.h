/* SPDX-License-Identifier: MIT */
/*
 * lunclonectl(8): the requests (lunclonectl.c), the status table and the
 * watch loop (lunclonectl-table.c).
 */
#ifndef LUNCLONECTL_H
#define LUNCLONECTL_H

#include <stdio.h>

struct json_object;

enum {
	LCTL_EXIT_OK = 0,
	LCTL_EXIT_FAIL = 1,
	LCTL_EXIT_USAGE = 2,
};

/* "lunclonectl: <message>" on stderr. */
void lctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * One request to the daemon at path. Returns 0 and the reply in *ret_reply
 * (caller frees), or -errno after printing why: the daemon unreachable, or
 * its "error: <reason>" reply (-EPROTO). Blocks.
 */
int lctl_request(const char *path, const char *request, char **ret_reply);

/* "status [NAME]": the sessions array (caller puts it), or -errno after
 * printing why. Blocks. */
int lctl_status(const char *path, const char *name, struct json_object **ret_sessions);

/* The sessions as a table with a progress bar; 0 or -ENOMEM. */
int lctl_print_table(FILE *out, struct json_object *sessions);

/* status --watch: redraws until every session shown is complete (exit 0)
 * or cannot complete (degraded, read-only: exit 1), or the daemon is
 * gone (exit 1). Returns the exit code. Blocks. */
int lctl_watch(const char *path, const char *name, unsigned interval_ms);

#endif
