/* SPDX-License-Identifier: MIT */
/*
 * lunclone ctl ... watch: a progress bar of a running clone, polled over its
 * status socket until hydration is complete.
 *
 * On a terminal the bar is redrawn in place; elsewhere (a log, a pipe, the
 * console of a test guest) one line is printed per change of the percentage
 * shown, at most one per interval, so that a log stays readable. It ends with
 * exit 0 once the state is "complete", or exit 1 when hydration cannot finish
 * by itself: "degraded" (only quarantined regions left: source read errors),
 * "read-only" (the metadata store failed), or the socket went away (the LUN
 * was closed or tcmu-runner stopped). "paused" is shown and waited out.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/parse.h"

#include "lunclone-ctl.h"
#include "lunclone.h"

#define BAR_WIDTH 30
#define MIB (1024.0 * 1024.0)

struct watch_status {
	char state[32];
	uint64_t hydrated, total, rate_bytes, quarantined;
	char percent[16];
	char eta[24];
};

/* Fills st from the handler's key=value reply; -EPROTO when a field the bar
 * needs is missing or malformed. */
static int parse_status(char *reply, struct watch_status *st)
{
	unsigned seen = 0;
	char *line, *save = NULL;

	memset(st, 0, sizeof(*st));
	for (line = strtok_r(reply, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(line, '=');

		if (!v)
			return -EPROTO;
		*v++ = '\0';
		if (strcmp(line, "state") == 0 && strlen(v) < sizeof(st->state)) {
			strcpy(st->state, v);
			seen |= 1;
		} else if (strcmp(line, "regions_hydrated") == 0) {
			if (lc_parse_u64(v, &st->hydrated) < 0)
				return -EPROTO;
			seen |= 2;
		} else if (strcmp(line, "regions_total") == 0) {
			if (lc_parse_u64(v, &st->total) < 0)
				return -EPROTO;
			seen |= 4;
		} else if (strcmp(line, "percent") == 0 && strlen(v) < sizeof(st->percent)) {
			strcpy(st->percent, v);
			seen |= 8;
		} else if (strcmp(line, "rate") == 0) {
			if (lc_parse_u64(v, &st->rate_bytes) < 0)
				return -EPROTO;
		} else if (strcmp(line, "eta") == 0 && strlen(v) < sizeof(st->eta)) {
			strcpy(st->eta, v);
		} else if (strcmp(line, "quarantined") == 0) {
			if (lc_parse_u64(v, &st->quarantined) < 0)
				return -EPROTO;
		}
	}
	return seen == 15 ? 0 : -EPROTO;
}

/* "[#####.....]  42.17%  1234/2926 regions  31.8 MiB/s  ETA 0:54  hydrating" */
static void format_line(const struct watch_status *st, char *out, size_t size)
{
	unsigned filled = st->total ? (unsigned)(st->hydrated * BAR_WIDTH / st->total) : BAR_WIDTH;
	char bar[BAR_WIDTH + 1], eta[24];
	uint64_t secs;

	memset(bar, '#', filled);
	memset(bar + filled, '.', BAR_WIDTH - filled);
	bar[BAR_WIDTH] = '\0';
	if (lc_parse_u64(st->eta, &secs) == 0)
		(void)snprintf(eta, sizeof(eta), "%" PRIu64 ":%02" PRIu64, secs / 60, secs % 60);
	else
		(void)snprintf(eta, sizeof(eta), "-");
	(void)snprintf(out, size,
		       "[%s] %6s%%  %" PRIu64 "/%" PRIu64 " regions  %.1f MiB/s  ETA %s  %s", bar,
		       st->percent, st->hydrated, st->total, (double)st->rate_bytes / MIB, eta,
		       st->state);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int cli_ctl_watch(const char *verb, const char *path, unsigned interval_ms)
{
	bool tty = isatty(STDOUT_FILENO);
	char line[160], last_percent[16] = "";
	struct watch_status st;
	char *reply;
	int r;

	for (;;) {
		r = cli_ctl_exchange(verb, path, "status\n", &reply);
		if (r < 0) {
			if (tty)
				putchar('\n');
			return CLI_EXIT_FAIL;
		}
		r = parse_status(reply, &st);
		free(reply);
		if (r < 0) {
			cli_errorf(verb, path, "watch: unexpected status reply");
			return CLI_EXIT_FAIL;
		}
		format_line(&st, line, sizeof(line));
		if (tty)
			printf("\r%s\033[K", line);
		else if (strcmp(st.percent, last_percent) != 0)
			printf("%s\n", line);
		(void)fflush(stdout);
		(void)snprintf(last_percent, sizeof(last_percent), "%s", st.percent);

		if (strcmp(st.state, "complete") == 0) {
			if (tty)
				putchar('\n');
			return CLI_EXIT_OK;
		}
		if (strcmp(st.state, "degraded") == 0 || strcmp(st.state, "read-only") == 0) {
			if (tty)
				putchar('\n');
			cli_errorf(verb, path, "hydration cannot complete: the clone is %s%s",
				   st.state,
				   strcmp(st.state, "degraded") == 0
				       ? " (only regions quarantined after source read errors are "
					 "left; 'resume' retries them)"
				       : " (its metadata store failed; see tcmu-runner's log)");
			return CLI_EXIT_FAIL;
		}
		sleep_ms(interval_ms);
	}
}
