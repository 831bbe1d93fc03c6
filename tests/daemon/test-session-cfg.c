/* SPDX-License-Identifier: MIT */
/*
 * Unit test of daemon/session_cfg.c: a session rendered into the handler's
 * cfgstring file parses back, in the handler's own parser (handler/
 * cfgstring.c), to the same settings; settings not given keep the handler's
 * defaults; the rendering is deterministic; the cfgstring fits the kernel's
 * limit and refuses what the kernel would split.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <lunclone/err.h>
#include <lunclone/meta.h>

#include "cfgstring.h"
#include "session_cfg.h"

static char tmpdir[] = "/tmp/test-session-cfg.XXXXXX";

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Renders s into a file, parses "@file" with the handler's parser. */
static void round_trip(const struct lcd_session *s, struct hc_cfg *ret_cfg)
{
	struct lc_err err = {.msg = ""};
	char *text = NULL, *path = NULL, *cfgstring = NULL;
	int fd, r;

	assert_int_equal(lcd_session_cfg_render(s, &text), 0);
	assert_int_equal(lcd_session_cfg_path(tmpdir, s->name, &path), 0);
	(void)snprintf(path, strlen(path) + 1, "%s/%s.conf", tmpdir, s->name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
	assert_int_equal(lcd_session_cfgstring(path, &cfgstring), 0);
	assert_int_equal(cfgstring[0], '@');
	r = hc_cfg_parse(cfgstring, ret_cfg, &err);
	if (r != 0)
		fail_msg("hc_cfg_parse(%s) = %d: %s\n%s", cfgstring, r, err.msg, text);
	free(cfgstring);
	free(path);
	free(text);
}

/* Field by field: the structs have padding. */
static void assert_clone_equal(const struct lc_clone_config *a, const struct lc_clone_config *b)
{
	assert_int_equal(a->nr_workers, b->nr_workers);
	assert_int_equal(a->batch_regions, b->batch_regions);
	assert_int_equal(a->max_inflight_regions, b->max_inflight_regions);
	assert_int_equal(a->rate_limit_bytes, b->rate_limit_bytes);
	assert_int_equal(a->min_rate_bytes, b->min_rate_bytes);
	assert_int_equal(a->yield_to_user_io, b->yield_to_user_io);
	assert_int_equal(a->yield_window_ms, b->yield_window_ms);
	assert_int_equal(a->copy_on_read, b->copy_on_read);
	assert_int_equal(a->start_paused, b->start_paused);
	assert_int_equal(a->commit_interval_ms, b->commit_interval_ms);
	assert_int_equal(a->source_retries, b->source_retries);
	assert_int_equal(a->retry_delay_ms, b->retry_delay_ms);
}

static void base_session(struct lcd_session *s)
{
	memset(s, 0, sizeof(*s));
	s->name = "vol1";
	s->source = "iscsi://192.0.2.9:3260/iqn.2001-05.com.array:vol/0?timeout=10";
	s->destination = "/dev/disk/by-id/nvme-eui.0025385b71b07e2f-part1";
	s->metadata = "/var/lib/lunclone/vol1.meta";
	lc_clone_config_default(&s->hydration);
}

static void test_minimal_keeps_defaults(void **state)
{
	struct lc_clone_config defaults;
	struct lcd_session s;
	struct hc_cfg cfg;

	base_session(&s);
	round_trip(&s, &cfg);
	assert_string_equal(cfg.name, "vol1");
	/* ':' and '?' go through: the reason for the file form. */
	assert_string_equal(cfg.src, s.source);
	assert_string_equal(cfg.dst, s.destination);
	assert_string_equal(cfg.meta, s.metadata);
	assert_int_equal(cfg.region_size_bytes, 0);
	assert_int_equal(cfg.format, HC_CFG_FORMAT_AUTO);
	assert_false(cfg.direct);
	lc_clone_config_default(&defaults);
	assert_clone_equal(&cfg.clone, &defaults);
	hc_cfg_clear(&cfg);
}

static void test_every_key(void **state)
{
	struct lcd_session s;
	struct hc_cfg cfg;

	base_session(&s);
	s.region_size_bytes = 256 * 1024;
	s.format = LCD_FORMAT_NEVER;
	s.direct_io = LCD_ON;
	s.hydration = (struct lc_clone_config){
	    .nr_workers = 7,
	    .batch_regions = 3,
	    .max_inflight_regions = 9,
	    .rate_limit_bytes = 300ull << 20,
	    .min_rate_bytes = 12ull << 20,
	    .yield_to_user_io = false,
	    .yield_window_ms = 55,
	    .copy_on_read = true,
	    .start_paused = true,
	    .commit_interval_ms = 2500,
	    .source_retries = 9,
	    .retry_delay_ms = 250,
	};
	s.hydration_given = (1u << LCD_HYD_NR) - 1;
	round_trip(&s, &cfg);
	assert_int_equal(cfg.region_size_bytes, 256 * 1024);
	assert_int_equal(cfg.format, HC_CFG_FORMAT_NEVER);
	assert_true(cfg.direct);
	assert_clone_equal(&cfg.clone, &s.hydration);
	hc_cfg_clear(&cfg);

	/* Each key alone, with a value other than the default, lands alone. */
	for (unsigned k = 0; k < LCD_HYD_NR; k++) {
		struct lc_clone_config want;

		base_session(&s);
		lc_clone_config_default(&want);
		switch ((enum lcd_hyd_key)k) {
		case LCD_HYD_WORKERS:
			want.nr_workers = s.hydration.nr_workers = 0;
			break;
		case LCD_HYD_BATCH:
			want.batch_regions = s.hydration.batch_regions = 1;
			break;
		case LCD_HYD_MAX_IN_FLIGHT:
			want.max_inflight_regions = s.hydration.max_inflight_regions = 128;
			break;
		case LCD_HYD_RATE_LIMIT:
			want.rate_limit_bytes = s.hydration.rate_limit_bytes = 5ull << 20;
			break;
		case LCD_HYD_MIN_RATE:
			want.min_rate_bytes = s.hydration.min_rate_bytes = 1ull << 20;
			break;
		case LCD_HYD_YIELD:
			want.yield_to_user_io = s.hydration.yield_to_user_io = false;
			break;
		case LCD_HYD_YIELD_WINDOW:
			want.yield_window_ms = s.hydration.yield_window_ms = 0;
			break;
		case LCD_HYD_COPY_ON_READ:
			want.copy_on_read = s.hydration.copy_on_read = true;
			break;
		case LCD_HYD_START_PAUSED:
			want.start_paused = s.hydration.start_paused = true;
			break;
		case LCD_HYD_COMMIT_INTERVAL:
			want.commit_interval_ms = s.hydration.commit_interval_ms = 0;
			break;
		case LCD_HYD_RETRIES:
			want.source_retries = s.hydration.source_retries = 100;
			break;
		case LCD_HYD_RETRY_DELAY:
			want.retry_delay_ms = s.hydration.retry_delay_ms = 60000;
			break;
		case LCD_HYD_NR:
			break;
		}
		s.hydration_given = 1u << k;
		round_trip(&s, &cfg);
		assert_clone_equal(&cfg.clone, &want);
		hc_cfg_clear(&cfg);
	}
}

static void test_deterministic(void **state)
{
	struct lcd_session s;
	char *a = NULL, *b = NULL;

	base_session(&s);
	s.hydration_given = (1u << LCD_HYD_RATE_LIMIT) | (1u << LCD_HYD_WORKERS);
	assert_int_equal(lcd_session_cfg_render(&s, &a), 0);
	assert_int_equal(lcd_session_cfg_render(&s, &b), 0);
	assert_string_equal(a, b);
	/* Fixed order: the identity first, then the hydration keys. */
	assert_non_null(strstr(a, "name=vol1\nsrc="));
	assert_true(strstr(a, "workers=2\n") < strstr(a, "rate=0\n"));
	free(a);
	free(b);
}

static void test_refusals(void **state)
{
	char long_path[300], *out = NULL;
	struct lcd_session s;

	base_session(&s);
	s.destination = "/dev/a;b";
	assert_int_equal(lcd_session_cfg_render(&s, &out), -EINVAL);
	s.destination = "/dev/sdc ";
	assert_int_equal(lcd_session_cfg_render(&s, &out), -EINVAL);
	assert_null(out);

	assert_int_equal(lcd_session_cfgstring("/var/lib/lunclone/sessions/a,b.conf", &out),
			 -EINVAL);
	assert_int_equal(lcd_session_cfgstring("relative.conf", &out), -EINVAL);
	memset(long_path, 'x', sizeof(long_path));
	long_path[0] = '/';
	/* "clone/" + "@" + path must stay within 255 bytes. */
	long_path[248] = '\0';
	assert_int_equal(lcd_session_cfgstring(long_path, &out), 0);
	assert_int_equal(strlen(out) + strlen("clone/"), 255);
	free(out);
	long_path[248] = 'x';
	long_path[249] = '\0';
	assert_int_equal(lcd_session_cfgstring(long_path, &out), -EINVAL);

	/* The longest state directory with the longest name fits. */
	{
		char dir[LCD_STATE_DIR_MAX + 1], name[LCD_SESSION_NAME_MAX + 1], *path = NULL;

		memset(dir, 'd', sizeof(dir) - 1);
		dir[0] = '/';
		dir[sizeof(dir) - 1] = '\0';
		memset(name, 'n', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		assert_int_equal(lcd_session_cfg_path(dir, name, &path), 0);
		assert_int_equal(lcd_session_cfgstring(path, &out), 0);
		free(out);
		free(path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal_keeps_defaults),
	    cmocka_unit_test(test_every_key),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
