/* SPDX-License-Identifier: MIT */
/*
 * lunclonectl status: the sessions as a table, and --watch.
 *
 *   NAME  STATE        PROGRESS                PERCENT  HYDRATED               RATE          ETA
 * LIMIT vol1  hydrating    [########............]   42.17%  4.2 GiB/10.0 GiB       118.3 MiB/s
 * 0:00:49   200.0 MiB/s vol2  not running  -                             -  - - -         50.0
 * MiB/s
 *
 * What the daemon does not know (a session not running) shows as "-", and
 * its reason is printed under the table. LIMIT is what the device applies
 * now, else the configured rate.
 *
 * --watch asks again every interval. On a terminal it redraws the screen;
 * elsewhere (a log, a pipe) it prints the table again only when it changed.
 * It ends once every session shown is complete (exit 0), or every one is
 * complete or stuck: degraded (only quarantined regions left: source read
 * errors; "resume" retries them) or read-only (its metadata failed): exit
 * 1. Sessions not running, paused or waiting for their source are waited
 * for. Ctrl-C stops it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "lunclonectl.h"

#define BAR_WIDTH 20

static struct json_object *field(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(obj, key, &v))
		return NULL;
	return v;
}

/* A string field, or "-". */
static const char *str(struct json_object *obj, const char *key)
{
	struct json_object *v = field(obj, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "-";
}

/* An unsigned field: true and *ret_value, false when null or absent. */
static bool u64(struct json_object *obj, const char *key, uint64_t *ret_value)
{
	struct json_object *v = field(obj, key);

	if (!v || !json_object_is_type(v, json_type_int))
		return false;
	*ret_value = json_object_get_uint64(v);
	return true;
}

static void human_bytes(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024.0 && u < 6) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		(void)snprintf(buf, size, "%" PRIu64 " B", bytes);
	else
		(void)snprintf(buf, size, "%.1f %s", v, units[u]);
}

static void human_rate(char *buf, size_t size, uint64_t bytes_per_sec)
{
	(void)snprintf(buf, size, "%.1f MiB/s", (double)bytes_per_sec / (1024.0 * 1024.0));
}

/* Column widths that depend on the sessions. */
struct widths {
	int name;
	int state;
};

static void row(FILE *out, const struct widths *w, struct json_object *s)
{
	char bar[BAR_WIDTH + 3], pct[16] = "-", done[64] = "-", rate[32] = "-", eta[32] = "-",
				 limit[32] = "-", a[24], b[24];
	uint64_t hyd, tot, bytes, bytes_total, v;
	struct json_object *p = field(s, "percent");

	bar[0] = '\0';
	if (u64(s, "regions_hydrated", &hyd) && u64(s, "regions_total", &tot)) {
		unsigned filled =
		    tot ? (unsigned)(hyd >= tot ? BAR_WIDTH : hyd * BAR_WIDTH / tot) : BAR_WIDTH;

		bar[0] = '[';
		memset(bar + 1, '#', filled);
		memset(bar + 1 + filled, '.', BAR_WIDTH - filled);
		bar[BAR_WIDTH + 1] = ']';
		bar[BAR_WIDTH + 2] = '\0';
	} else {
		(void)snprintf(bar, sizeof(bar), "-");
	}
	if (p &&
	    (json_object_is_type(p, json_type_double) || json_object_is_type(p, json_type_int)))
		(void)snprintf(pct, sizeof(pct), "%.2f%%", json_object_get_double(p));
	if (u64(s, "bytes_hydrated", &bytes) && u64(s, "bytes_total", &bytes_total)) {
		human_bytes(a, sizeof(a), bytes);
		human_bytes(b, sizeof(b), bytes_total);
		(void)snprintf(done, sizeof(done), "%s/%s", a, b);
	}
	if (u64(s, "rate", &v))
		human_rate(rate, sizeof(rate), v);
	if (u64(s, "eta", &v))
		(void)snprintf(eta, sizeof(eta), "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, v / 3600,
			       v / 60 % 60, v % 60);
	if (u64(s, "rate_limit", &v) || u64(s, "rate_limit_config", &v)) {
		if (v == 0)
			(void)snprintf(limit, sizeof(limit), "none");
		else
			human_rate(limit, sizeof(limit), v);
	}
	fprintf(out, "%-*s  %-*s  %-*s  %7s  %-21s  %-12s  %-8s  %s\n", w->name, str(s, "name"),
		w->state, str(s, "state"), BAR_WIDTH + 2, bar, pct, done, rate, eta, limit);
}

int lctl_print_table(FILE *out, struct json_object *sessions)
{
	size_t nr = json_object_array_length(sessions);
	/* "not running" is the widest state we know of; a newer handler's
	 * (waiting-for-source) widens the column. */
	struct widths w = {.name = 4, .state = 11};

	for (size_t i = 0; i < nr; i++) {
		struct json_object *s = json_object_array_get_idx(sessions, i);
		int name_len = (int)strlen(str(s, "name")),
		    state_len = (int)strlen(str(s, "state"));

		if (name_len > w.name)
			w.name = name_len;
		if (state_len > w.state && state_len <= 40)
			w.state = state_len;
	}
	if (nr == 0) {
		fprintf(out, "no sessions configured\n");
		return 0;
	}
	fprintf(out, "%-*s  %-*s  %-*s  %7s  %-21s  %-12s  %-8s  %s\n", w.name, "NAME", w.state,
		"STATE", BAR_WIDTH + 2, "PROGRESS", "PERCENT", "HYDRATED", "RATE", "ETA", "LIMIT");
	for (size_t i = 0; i < nr; i++)
		row(out, &w, json_object_array_get_idx(sessions, i));
	for (size_t i = 0; i < nr; i++) {
		struct json_object *s = json_object_array_get_idx(sessions, i);

		if (strcmp(str(s, "error"), "-") != 0)
			fprintf(out, "%s: %s\n", str(s, "name"), str(s, "error"));
	}
	return 0;
}

/* 1: every session complete; -1: every one complete or stuck, some stuck;
 * 0: keep watching. */
static int outcome(struct json_object *sessions)
{
	size_t nr = json_object_array_length(sessions);
	bool stuck = false;

	for (size_t i = 0; i < nr; i++) {
		const char *state = str(json_object_array_get_idx(sessions, i), "state");

		if (strcmp(state, "degraded") == 0 || strcmp(state, "read-only") == 0)
			stuck = true;
		else if (strcmp(state, "complete") != 0)
			return 0;
	}
	return stuck ? -1 : 1;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int lctl_watch(const char *path, const char *name, unsigned interval_ms)
{
	bool tty = isatty(STDOUT_FILENO);
	char *last = NULL;

	for (;;) {
		struct json_object *sessions = NULL;
		char *text = NULL;
		size_t len = 0;
		FILE *mem;
		int r, end;

		r = lctl_status(path, name, &sessions);
		if (r < 0) {
			free(last);
			return LCTL_EXIT_FAIL;
		}
		mem = open_memstream(&text, &len);
		r = mem ? lctl_print_table(mem, sessions) : -ENOMEM;
		if (mem && fclose(mem) != 0)
			r = -ENOMEM;
		if (r < 0) {
			free(text);
			free(last);
			json_object_put(sessions);
			lctl_error("out of memory");
			return LCTL_EXIT_FAIL;
		}
		if (tty)
			printf("\033[H\033[2J%s", text);
		else if (!last || strcmp(last, text) != 0)
			printf("%s%s", last ? "\n" : "", text);
		(void)fflush(stdout);
		free(last);
		last = text;
		end = outcome(sessions);
		json_object_put(sessions);
		if (end != 0) {
			free(last);
			if (end > 0)
				return LCTL_EXIT_OK;
			lctl_error("hydration cannot complete: a session is degraded (only "
				   "regions quarantined after source read errors are left; "
				   "'resume' retries them) or read-only (its metadata failed)");
			return LCTL_EXIT_FAIL;
		}
		sleep_ms(interval_ms);
	}
}
