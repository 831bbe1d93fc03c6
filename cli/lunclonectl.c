/* SPDX-License-Identifier: MIT */
/*
 * lunclonectl(8): shows and steers luncloned's clone sessions through the
 * daemon's control socket (/run/lunclone/luncloned.sock; protocol in
 * daemon/control.h and lunclonectl(8)).
 *
 * One connection per request: "status [NAME]" answers one JSON line
 * ({"sessions":[...]}), which --json prints as it is (pretty) and the
 * default form turns into a table (lunclonectl-table.c); pause, resume and
 * throttle answer "ok". Any "error: <reason>" reply is a runtime error.
 *
 * Exit codes: 0 ok, 1 runtime error (daemon unreachable, unknown session,
 * the handler refused, --watch ended on a session that cannot complete),
 * 2 usage.
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "util/parse.h"
#include "util/sock_exchange.h"

#include "lunclonectl.h"

#define SOCKET_DEFAULT "/run/lunclone/luncloned.sock"
/* The daemon asks each device in turn, 5 s at most each. */
#define TIMEOUT_MS 60000
#define REPLY_MAX (4u << 20)
#define NAME_MAX_LEN 64u

static const char usage[] =
    "Usage: lunclonectl [--socket PATH] status [NAME] [--json]\n"
    "       lunclonectl [--socket PATH] status [NAME] --watch [--interval MS]\n"
    "       lunclonectl [--socket PATH] pause NAME\n"
    "       lunclonectl [--socket PATH] resume NAME\n"
    "       lunclonectl [--socket PATH] throttle NAME MIB\n"
    "\n"
    "Show and steer luncloned's clone sessions (lunclonectl(8)):\n"
    "  status [NAME]      each session (or NAME): state, progress, rate, ETA\n"
    "  pause NAME         stop hydrating (user I/O continues)\n"
    "  resume NAME        hydrate again (also retries quarantined regions)\n"
    "  throttle NAME MIB  limit hydration to MIB MiB/s, 0 = unlimited, until\n"
    "                     the device reopens or the configured rate changes\n"
    "\n"
    "Options:\n"
    "  -S, --socket PATH   the daemon's socket (default " SOCKET_DEFAULT ")\n"
    "  -j, --json          status as JSON\n"
    "  -w, --watch         redraw the status every interval until every session\n"
    "                      shown is complete (exit 0) or cannot complete (exit 1)\n"
    "  -i, --interval MS   how often --watch asks (default 1000, 100-60000)\n"
    "  -h, --help          show this help\n"
    "  -V, --version       show the version\n"
    "\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage.\n";

void lctl_error(const char *fmt, ...)
{
	va_list ap;

	(void)fputs("lunclonectl: ", stderr);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fputc('\n', stderr);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	(void)fputs("lunclonectl: ", stderr);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fputs(" (see lunclonectl --help)\n", stderr);
	return LCTL_EXIT_USAGE;
}

int lctl_request(const char *path, const char *request, char **ret_reply)
{
	enum lc_sock_step step;
	char *reply;
	int r;

	r = lc_sock_exchange(path, request, TIMEOUT_MS, REPLY_MAX, &reply, &step);
	if (r < 0) {
		if (r == -ENAMETOOLONG)
			lctl_error("%s: socket path longer than 107 bytes", path);
		else if (step == LC_SOCK_CONNECT)
			lctl_error("cannot connect to %s: %s%s", path, strerror(-r),
				   r == -ENOENT || r == -ECONNREFUSED ? " (is luncloned running?)"
				   : r == -EACCES || r == -EPERM      ? " (root only)"
								      : "");
		else if (r == -EMSGSIZE)
			lctl_error("%s: reply longer than %u bytes", path, REPLY_MAX);
		else
			lctl_error("%s: %s", path, strerror(-r));
		return r;
	}
	if (strncmp(reply, "error: ", 7) == 0) {
		reply[strcspn(reply, "\n")] = '\0';
		lctl_error("%s", reply + 7);
		free(reply);
		return -EPROTO;
	}
	*ret_reply = reply;
	return 0;
}

int lctl_status(const char *path, const char *name, struct json_object **ret_sessions)
{
	char request[16 + NAME_MAX_LEN], *reply = NULL;
	struct json_object *top, *sessions;
	int r;

	(void)snprintf(request, sizeof(request), "status%s%s\n", name ? " " : "", name ? name : "");
	r = lctl_request(path, request, &reply);
	if (r < 0)
		return r;
	top = json_tokener_parse(reply);
	free(reply);
	if (!top || !json_object_object_get_ex(top, "sessions", &sessions) ||
	    !json_object_is_type(sessions, json_type_array)) {
		json_object_put(top);
		lctl_error("%s: unexpected status reply", path);
		return -EPROTO;
	}
	*ret_sessions = json_object_get(sessions);
	json_object_put(top);
	return 0;
}

static int cmd_status(const char *path, const char *name, bool json)
{
	struct json_object *sessions = NULL, *top;
	const char *s;
	int r;

	r = lctl_status(path, name, &sessions);
	if (r < 0)
		return LCTL_EXIT_FAIL;
	if (!json) {
		r = lctl_print_table(stdout, sessions);
		json_object_put(sessions);
		return r < 0 ? LCTL_EXIT_FAIL : LCTL_EXIT_OK;
	}
	top = json_object_new_object();
	if (!top || json_object_object_add(top, "sessions", sessions) < 0) {
		json_object_put(sessions);
		json_object_put(top);
		lctl_error("out of memory");
		return LCTL_EXIT_FAIL;
	}
	s = json_object_to_json_string_ext(top, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s)
		printf("%s\n", s);
	json_object_put(top);
	if (!s) {
		lctl_error("out of memory");
		return LCTL_EXIT_FAIL;
	}
	return LCTL_EXIT_OK;
}

/* pause, resume, throttle: the daemon answers "ok". */
static int cmd_simple(const char *path, const char *request)
{
	char *reply = NULL;
	int r;

	r = lctl_request(path, request, &reply);
	if (r < 0)
		return LCTL_EXIT_FAIL;
	r = strcmp(reply, "ok\n") == 0 ? 0 : -EPROTO;
	if (r < 0)
		lctl_error("%s: unexpected reply '%.*s'", path, (int)strcspn(reply, "\n"), reply);
	free(reply);
	return r < 0 ? LCTL_EXIT_FAIL : LCTL_EXIT_OK;
}

/* The daemon checks names too; refusing here gives a usage error. */
static bool name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > NAME_MAX_LEN || s[0] == '.')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	       len;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 'S'},
	    {"json", no_argument, NULL, 'j'},
	    {"watch", no_argument, NULL, 'w'},
	    {"interval", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = SOCKET_DEFAULT, *cmd, *name = NULL;
	bool json = false, watch = false, interval_given = false;
	char request[64 + NAME_MAX_LEN];
	uint32_t interval_ms = 1000;
	uint64_t mib = 0;
	int c, nr;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":S:jwi:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'w':
			watch = true;
			break;
		case 'i':
			if (lc_parse_u32(optarg, &interval_ms) < 0 || interval_ms < 100 ||
			    interval_ms > 60000)
				return usage_error("--interval '%s': not a number from 100 to "
						   "60000 (milliseconds)",
						   optarg);
			interval_given = true;
			break;
		case 'h':
			(void)fputs(usage, stdout);
			return LCTL_EXIT_OK;
		case 'V':
			(void)puts("lunclonectl " LC_CLI_VERSION);
			return LCTL_EXIT_OK;
		case ':':
			return usage_error("%s needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	nr = argc - optind;
	if (nr < 1)
		return usage_error("missing command (status, pause, resume, throttle)");
	cmd = argv[optind];
	if (strcmp(cmd, "status") == 0) {
		if (nr > 2)
			return usage_error("status takes at most one session name");
		name = nr == 2 ? argv[optind + 1] : NULL;
	} else if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
		if (nr != 2)
			return usage_error("%s takes one session name", cmd);
		name = argv[optind + 1];
	} else if (strcmp(cmd, "throttle") == 0) {
		if (nr != 3)
			return usage_error("throttle takes a session name and a rate in MiB/s");
		name = argv[optind + 1];
		if (lc_parse_u64(argv[optind + 2], &mib) < 0 || mib > (UINT64_MAX >> 20))
			return usage_error("throttle: '%s' is not a whole number of MiB/s "
					   "(0 = unlimited)",
					   argv[optind + 2]);
	} else {
		return usage_error("unknown command '%s' (status, pause, resume, throttle)", cmd);
	}
	if (name && !name_ok(name))
		return usage_error("'%s' is not a session name", name);
	if ((json || watch) && strcmp(cmd, "status") != 0)
		return usage_error("--json and --watch go with status only");
	if (json && watch)
		return usage_error("--json and --watch do not go together");
	if (interval_given && !watch)
		return usage_error("--interval goes with --watch only");

	if (strcmp(cmd, "status") == 0)
		return watch ? lctl_watch(path, name, interval_ms) : cmd_status(path, name, json);
	if (strcmp(cmd, "throttle") == 0)
		(void)snprintf(request, sizeof(request), "throttle %s %llu\n", name,
			       (unsigned long long)mib);
	else
		(void)snprintf(request, sizeof(request), "%s %s\n", cmd, name);
	return cmd_simple(path, request);
}
