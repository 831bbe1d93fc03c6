/* SPDX-License-Identifier: MIT */
/*
 * lunclone ctl: the client of a running clone's status socket, served by
 * handler_clone.so inside tcmu-runner (/run/lunclone/<name>.sock; protocol in
 * handler/status_socket.h and handler_clone(8)).
 *
 * One connection per call: send the request line, close our writing side,
 * read the reply to EOF. A reply "error: <reason>" is a runtime error (exit
 * 1). The handler speaks plain key=value lines; --json converts them here,
 * keeping the handler's field order (STYLE.md section 1: only the CLI and the
 * daemon see JSON).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util/parse.h"
#include "util/sock_exchange.h"

#include "lunclone-ctl.h"
#include "lunclone.h"

/* The handler answers within its own 2 s client deadline; allow more. */
#define CTL_TIMEOUT_MS 5000
#define CTL_REPLY_MAX (64u * 1024)

static const char ctl_usage[] =
    "Usage: lunclone ctl --socket PATH status [--json]\n"
    "       lunclone ctl --socket PATH pause | resume\n"
    "       lunclone ctl --socket PATH throttle MIB\n"
    "       lunclone ctl --socket PATH watch [--interval MS]\n"
    "\n"
    "Talk to a running clone through its status socket (handler_clone(8)):\n"
    "  status        state, regions hydrated/total, percent, rate, ETA, ...\n"
    "  pause         stop hydrating (user I/O continues)\n"
    "  resume        hydrate again (also retries quarantined regions)\n"
    "  throttle MIB  limit hydration to MIB MiB/s; 0 = unlimited\n"
    "  watch         progress bar (rate, ETA) until hydration is complete;\n"
    "                exit 1 if it cannot complete (degraded, read-only, gone)\n"
    "\n"
    "Options:\n"
    "  -S, --socket PATH   the device's socket, /run/lunclone/<name>.sock\n"
    "  -j, --json          print the status as a JSON object\n"
    "  -i, --interval MS   how often watch polls (default 1000, 100-60000)\n"
    "  -h, --help          show this help\n";

int cli_ctl_exchange(const char *verb, const char *path, const char *request, char **ret_reply)
{
	enum lc_sock_step step;
	int r;

	r = lc_sock_exchange(path, request, CTL_TIMEOUT_MS, CTL_REPLY_MAX, ret_reply, &step);
	if (r == 0)
		return 0;
	if (r == -ENAMETOOLONG)
		cli_errorf(verb, path, "socket path longer than 107 bytes");
	else if (r == -EMSGSIZE)
		cli_errorf(verb, path, "reply longer than %u bytes", CTL_REPLY_MAX);
	else if (step == LC_SOCK_CONNECT)
		cli_errorf(verb, path, "connect: %s%s", strerror(-r),
			   r == -ENOENT || r == -ECONNREFUSED
			       ? " (is the clone's LUN open in tcmu-runner?)"
			   : r == -EACCES ? " (root only)"
					  : "");
	else
		cli_errorf(verb, path, "%s", strerror(-r));
	return r;
}

/* A value of the status reply as JSON: integers, decimals, "unknown" as
 * null, anything else as a string. */
static struct json_object *json_value(const char *v)
{
	uint64_t u;
	char *end;

	if (strcmp(v, "unknown") == 0)
		return NULL; /* json-c spells null as NULL */
	if (lc_parse_u64(v, &u) == 0)
		return json_object_new_uint64(u);
	if (v[0] == '-' && lc_parse_u64(v + 1, &u) == 0 && u <= (uint64_t)INT64_MAX)
		return json_object_new_int64(-(int64_t)u);
	if (v[0] >= '0' && v[0] <= '9' && strchr(v, '.')) {
		errno = 0;
		(void)strtod(v, &end);
		if (errno == 0 && *end == '\0')
			return json_object_new_double_s(strtod(v, NULL), v);
	}
	return json_object_new_string(v);
}

static int print_status_json(const char *verb, const char *path, char *reply)
{
	struct json_object *obj = json_object_new_object();
	const char *s;
	char *line, *save = NULL;

	if (!obj)
		return -ENOMEM;
	for (line = strtok_r(reply, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		struct json_object *val;

		if (!eq || eq == line) {
			cli_errorf(verb, path, "malformed status line '%s'", line);
			json_object_put(obj);
			return -EPROTO;
		}
		*eq = '\0';
		val = json_value(eq + 1);
		if (!val && strcmp(eq + 1, "unknown") != 0) {
			json_object_put(obj);
			return -ENOMEM;
		}
		if (json_object_object_add(obj, line, val) < 0) {
			json_object_put(val);
			json_object_put(obj);
			return -ENOMEM;
		}
	}
	s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
	if (!s) {
		json_object_put(obj);
		return -ENOMEM;
	}
	printf("%s\n", s);
	json_object_put(obj);
	return 0;
}

int cli_ctl_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 'S'},
	    {"json", no_argument, NULL, 'j'},
	    {"interval", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_opts o = {
	    .verb = "ctl",
	    .argc = argc,
	    .argv = argv,
	    .optstring = ":S:ji:h",
	    .longopts = longopts,
	};
	const char *path = NULL, *what, *arg = NULL;
	char request[64], *reply = NULL;
	bool json = false, interval_given = false;
	uint32_t interval_ms = 1000;
	uint64_t mib;
	int c, r, nr_operands;

	while ((c = cli_getopt(&o)) != -1) {
		switch (c) {
		case 'S':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'i':
			if (!cli_opt_u32(o.verb, "--interval", optarg, 100, 60000, &interval_ms))
				return CLI_EXIT_USAGE;
			interval_given = true;
			break;
		case 'h':
			fputs(ctl_usage, stdout);
			return CLI_EXIT_OK;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (!path)
		return cli_usage_error(o.verb, "--socket is required");
	nr_operands = argc - optind;
	if (nr_operands < 1)
		return cli_usage_error(o.verb,
				       "missing command (status, pause, resume, throttle, watch)");
	what = argv[optind];
	if (strcmp(what, "throttle") == 0) {
		if (nr_operands != 2)
			return cli_usage_error(o.verb, "throttle takes one rate in MiB/s");
		arg = argv[optind + 1];
		if (!cli_opt_u64(o.verb, "throttle", arg, &mib))
			return CLI_EXIT_USAGE;
		if (mib > UINT64_MAX >> 20)
			return cli_usage_error(o.verb, "throttle '%s': out of range", arg);
		(void)snprintf(request, sizeof(request), "throttle %llu\n",
			       (unsigned long long)mib);
	} else if (strcmp(what, "status") == 0 || strcmp(what, "pause") == 0 ||
		   strcmp(what, "resume") == 0 || strcmp(what, "watch") == 0) {
		if (nr_operands != 1)
			return cli_usage_error(o.verb, "unexpected argument '%s'",
					       argv[optind + 1]);
		(void)snprintf(request, sizeof(request), "%s\n", what);
	} else {
		return cli_usage_error(
		    o.verb, "unknown command '%s' (status, pause, resume, throttle, watch)", what);
	}
	if (json && strcmp(what, "status") != 0)
		return cli_usage_error(o.verb, "--json goes with status only");
	if (interval_given && strcmp(what, "watch") != 0)
		return cli_usage_error(o.verb, "--interval goes with watch only");
	if (strcmp(what, "watch") == 0)
		return cli_ctl_watch(o.verb, path, interval_ms);

	r = cli_ctl_exchange(o.verb, path, request, &reply);
	if (r < 0)
		return CLI_EXIT_FAIL;
	if (strncmp(reply, "error: ", 7) == 0) {
		reply[strcspn(reply, "\n")] = '\0';
		cli_errorf(o.verb, path, "%s: %s", what, reply + 7);
		free(reply);
		return CLI_EXIT_FAIL;
	}
	if (strcmp(what, "status") != 0) {
		r = strcmp(reply, "ok\n") == 0 ? 0 : -EPROTO;
		if (r < 0)
			cli_errorf(o.verb, path, "%s: unexpected reply '%.*s'", what,
				   (int)strcspn(reply, "\n"), reply);
	} else if (json) {
		r = print_status_json(o.verb, path, reply);
		if (r == -ENOMEM)
			cli_errorf(o.verb, NULL, "out of memory");
	} else {
		fputs(reply, stdout);
		r = 0;
	}
	free(reply);
	return r < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
