/* SPDX-License-Identifier: MIT */
/*
 * Unit test of the planner's portals against the host's addresses
 * (daemon/plan.c, lcd_plan_make_addrs()), with a fake address set in
 * place of netwatch and the fake configfs (fake_configfs.h) behind the
 * executor.
 *
 * Scenarios: a portal whose address is absent is not in the plan and is
 * reported as pending, one line naming portal, target and address, while
 * everything else (the TPG, its other portals, LUNs, ACLs, enable) applies
 * and the next plan is empty but still reports it; the address appears:
 * the next plan creates that portal and nothing else; the address goes
 * away: the portal stays, nothing is planned, it is reported as stranded;
 * wildcard portals are created with no address at all, without asking; a
 * NULL predicate plans what lcd_plan_make() plans.
 */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfs_exec.h"
#include "config.h"
#include "fake_configfs.h"
#include "lio_state.h"
#include "plan.h"

static char tmpdir[] = "/tmp/test-daemon-plan-addrs.XXXXXX";
static char root[256], state_dir[256];
static struct fake_cfs *fake;

/* ------------------------------------------------------------------ */
/* The fake address set */

#define MAX_ADDRS 8

struct addr_set {
	const char *addrs[MAX_ADDRS];
	/* What the planner asked, in order, comma-separated. */
	char asked[1024];
};

static bool set_has(const void *ctx, const char *ip)
{
	struct addr_set *s = (struct addr_set *)ctx;
	size_t n = strlen(s->asked);

	(void)snprintf(s->asked + n, sizeof(s->asked) - n, "%s%s", n ? "," : "", ip);
	for (size_t i = 0; i < MAX_ADDRS && s->addrs[i]; i++)
		if (strcmp(s->addrs[i], ip) == 0)
			return true;
	return false;
}

static void set_add(struct addr_set *s, const char *ip)
{
	size_t i;

	for (i = 0; i < MAX_ADDRS && s->addrs[i]; i++)
		;
	assert_true(i < MAX_ADDRS);
	s->addrs[i] = ip;
}

static void set_del(struct addr_set *s, const char *ip)
{
	size_t i, j;

	for (i = 0; i < MAX_ADDRS && s->addrs[i] && strcmp(s->addrs[i], ip) != 0; i++)
		;
	assert_true(i < MAX_ADDRS && s->addrs[i]);
	for (j = i; j + 1 < MAX_ADDRS && s->addrs[j + 1]; j++)
		;
	s->addrs[i] = s->addrs[j];
	s->addrs[j] = NULL;
}

/* ------------------------------------------------------------------ */
/* Files, configuration, plans */

static void write_file(const char *name, const char *text, mode_t mode)
{
	char path[PATH_MAX];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
}

static void make_sized(const char *name, off_t size)
{
	char path[PATH_MAX];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	assert_int_equal(close(fd), 0);
}

static int setup(void **state)
{
	if (!mkdtemp(tmpdir))
		return -1;
	make_sized("src-a.img", 1 << 20);
	make_sized("dst-a.img", 1 << 20);
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static int test_setup(void **state)
{
	static unsigned n;
	char cmd[PATH_MAX];

	(void)snprintf(root, sizeof(root), "%s/configfs-%u", tmpdir, n);
	(void)snprintf(state_dir, sizeof(state_dir), "%s/state-%u", tmpdir, n++);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
	if (system(cmd) != 0)
		return -1;
	fake = fake_cfs_new(root, 1);
	return fake ? 0 : -1;
}

static int test_teardown(void **state)
{
	fake_cfs_free(fake);
	fake = NULL;
	return 0;
}

#define IQN "iqn.2025-01.com.example:t1"
#define T "iscsi/" IQN "/tpgt_1"
#define IA "iqn.2025-01.com.example:host-a"

/* One session on LUN 0 of TPG 1, with the given portals (a JSON list body). */
static struct lcd_config *load(const char *portals)
{
	struct lcd_config *cfg = NULL;
	struct lcd_errors errs = {0};
	char path[PATH_MAX], doc[4096];

	(void)snprintf(
	    doc, sizeof(doc),
	    "{ \"version\": 1, \"state_directory\": \"%s\", \"sessions\": [ { \"name\": "
	    "\"a\", \"source\": \"%s/src-a.img\", \"destination\": \"%s/dst-a.img\", "
	    "\"metadata\": \"%s/a.meta\" } ], \"targets\": [ { \"iqn\": \"" IQN "\", \"tpgs\": [ { "
	    "\"tag\": 1, \"portals\": [ %s ], \"luns\": [ { \"lun\": 0, \"session\": \"a\" } ], "
	    "\"acls\": [ { \"initiator\": \"" IA "\" } ] } ] } ] }",
	    state_dir, tmpdir, tmpdir, tmpdir, portals);
	write_file("lunclone.json", doc, 0644);
	(void)snprintf(path, sizeof(path), "%s/lunclone.json", tmpdir);
	if (lcd_config_load(path, NULL, 0, &cfg, &errs) != 0) {
		lcd_errors_print(&errs, stderr);
		fail_msg("configuration not valid");
	}
	lcd_errors_clear(&errs);
	free(cfg->socket_dir);
	cfg->socket_dir = strdup(tmpdir);
	assert_non_null(cfg->socket_dir);
	return cfg;
}

/* A plan's operations as text, one per line, and its reports. */
struct result {
	char *ops;
	size_t nr_ops;
	struct lcd_errors pending, stranded;
};

static void result_clear(struct result *res)
{
	free(res->ops);
	lcd_errors_clear(&res->pending);
	lcd_errors_clear(&res->stranded);
}

/* Plans against the fake configfs; applies when apply is true. */
static struct result plan(const struct lcd_config *cfg, const struct addr_set *set, bool apply)
{
	struct lcd_addr_pred pred = {.has = set_has, .ctx = set};
	struct result res = {0};
	struct lcd_errors errs = {0}, conflicts = {0};
	struct lcd_lio_state *cur = NULL;
	struct lcd_plan p = {0};
	size_t size = 0;
	char buf[2048];
	FILE *f;

	if (lcd_lio_read(root, cfg->state_dir, &cur, &errs) != 0) {
		lcd_errors_print(&errs, stderr);
		fail_msg("lcd_lio_read failed");
	}
	assert_int_equal(lcd_plan_make_addrs(cfg, cur, set ? &pred : NULL, &p, &conflicts,
					     &res.pending, &res.stranded),
			 0);
	lcd_lio_state_free(cur);
	if (conflicts.nr) {
		lcd_errors_print(&conflicts, stderr);
		fail_msg("unexpected conflicts");
	}
	f = open_memstream(&res.ops, &size);
	assert_non_null(f);
	for (size_t i = 0; i < p.nr; i++) {
		lcd_op_describe(&p.ops[i], buf, sizeof(buf));
		fprintf(f, "%s\n", buf);
	}
	assert_int_equal(fclose(f), 0);
	res.nr_ops = p.nr;
	if (apply && lcd_plan_apply(&p, &fake_cfs_ops, fake, NULL, &errs) != 0) {
		fprintf(stderr, "%s", res.ops);
		lcd_errors_print(&errs, stderr);
		fail_msg("apply failed");
	}
	lcd_errors_clear(&errs);
	lcd_plan_clear(&p);
	return res;
}

static bool exists(const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	(void)snprintf(path, sizeof(path), "%s/%s", root, rel);
	return lstat(path, &st) == 0;
}

static const char *fs(const char *rel)
{
	static char buf[256];
	char *v = NULL;
	char path[PATH_MAX];

	(void)snprintf(path, sizeof(path), "%s/%s", root, rel);
	buf[0] = '\0';
	if (lcd_read_attr(path, &v) == 0)
		(void)snprintf(buf, sizeof(buf), "%s", v);
	free(v);
	return buf;
}

#define PORTALS3 "\"192.0.2.10\", \"[2001:db8::10]:3261\", \"198.51.100.1\""

/* ------------------------------------------------------------------ */

static void test_pending_portal(void **state)
{
	struct lcd_config *cfg = load(PORTALS3);
	struct addr_set set = {.addrs = {"198.51.100.1"}};
	struct result res = plan(cfg, &set, true);

	/* Only the local portal; the predicate sees bare addresses. */
	assert_non_null(strstr(res.ops, "mkdir " T "/np/198.51.100.1:3260\n"));
	assert_null(strstr(res.ops, "192.0.2.10"));
	assert_null(strstr(res.ops, "2001:db8::10"));
	assert_string_equal(set.asked, "192.0.2.10,2001:db8::10,198.51.100.1");
	/* One line per pending portal, naming it, its target and its address. */
	assert_int_equal(res.pending.nr, 2);
	assert_string_equal(res.pending.msgs[0], "portal 192.0.2.10:3260 of " IQN
						 " tpg 1 waits for address 192.0.2.10 to appear "
						 "on this host");
	assert_string_equal(res.pending.msgs[1], "portal [2001:db8::10]:3261 of " IQN
						 " tpg 1 waits for address 2001:db8::10 to "
						 "appear on this host");
	assert_int_equal(res.stranded.nr, 0);
	/* The rest applied: backstore, LUN, ACL, TPG enabled. */
	assert_string_equal(fs("core/user_4242/lc-a/enable"), "1");
	assert_true(exists(T "/lun/lun_0/lc-a"));
	assert_true(exists(T "/acls/" IA "/lun_0/lc-link"));
	assert_string_equal(fs(T "/enable"), "1");
	assert_true(exists(T "/np/198.51.100.1:3260"));
	assert_false(exists(T "/np/192.0.2.10:3260"));
	result_clear(&res);

	/* Idempotent: nothing to do, still reported. */
	res = plan(cfg, &set, false);
	assert_int_equal(res.nr_ops, 0);
	assert_int_equal(res.pending.nr, 2);
	result_clear(&res);
	lcd_config_free(cfg);
}

static void test_address_appears(void **state)
{
	struct lcd_config *cfg = load(PORTALS3);
	struct addr_set set = {.addrs = {"198.51.100.1"}};
	struct result res = plan(cfg, &set, true);

	result_clear(&res);
	set_add(&set, "192.0.2.10");
	res = plan(cfg, &set, true);
	assert_string_equal(res.ops, "mkdir " T "/np/192.0.2.10:3260\n");
	assert_int_equal(res.pending.nr, 1);
	assert_non_null(strstr(res.pending.msgs[0], "[2001:db8::10]:3261"));
	result_clear(&res);
	assert_true(exists(T "/np/192.0.2.10:3260"));

	set_add(&set, "2001:db8::10");
	res = plan(cfg, &set, true);
	assert_string_equal(res.ops, "mkdir " T "/np/[2001:db8::10]:3261\n");
	assert_int_equal(res.pending.nr, 0);
	result_clear(&res);

	res = plan(cfg, &set, false);
	assert_int_equal(res.nr_ops, 0);
	assert_int_equal(res.pending.nr, 0);
	assert_int_equal(res.stranded.nr, 0);
	result_clear(&res);
	lcd_config_free(cfg);
}

static void test_address_disappears(void **state)
{
	struct lcd_config *cfg = load(PORTALS3);
	struct addr_set set = {.addrs = {"198.51.100.1", "192.0.2.10", "2001:db8::10"}};
	struct result res = plan(cfg, &set, true);

	assert_int_equal(res.pending.nr, 0);
	result_clear(&res);
	set_del(&set, "192.0.2.10");
	res = plan(cfg, &set, false);
	/* Left alone: LIO keeps it; reported, not pending. */
	assert_int_equal(res.nr_ops, 0);
	assert_int_equal(res.pending.nr, 0);
	assert_int_equal(res.stranded.nr, 1);
	assert_string_equal(res.stranded.msgs[0],
			    "portal 192.0.2.10:3260 of " IQN " tpg 1: address 192.0.2.10 is not on "
			    "this host; leaving the portal in place (it serves again when the "
			    "address comes back)");
	assert_true(exists(T "/np/192.0.2.10:3260"));
	result_clear(&res);

	/* A portal no longer wanted goes whatever its address does. */
	lcd_config_free(cfg);
	cfg = load("\"198.51.100.1\", \"[2001:db8::10]:3261\"");
	res = plan(cfg, &set, true);
	assert_non_null(strstr(res.ops, "rmdir " T "/np/192.0.2.10:3260\n"));
	assert_int_equal(res.stranded.nr, 0);
	result_clear(&res);
	assert_false(exists(T "/np/192.0.2.10:3260"));
	lcd_config_free(cfg);
}

static void test_wildcards(void **state)
{
	struct lcd_config *cfg = load("\"0.0.0.0\", \"[::]:3261\"");
	struct addr_set set = {0};
	struct result res = plan(cfg, &set, true);

	assert_non_null(strstr(res.ops, "mkdir " T "/np/0.0.0.0:3260\n"));
	assert_non_null(strstr(res.ops, "mkdir " T "/np/[::]:3261\n"));
	assert_int_equal(res.pending.nr, 0);
	assert_string_equal(set.asked, "");
	result_clear(&res);
	lcd_config_free(cfg);
}

/* Every portal pending: the TPG is still built and enabled. */
static void test_all_pending(void **state)
{
	struct lcd_config *cfg = load("\"192.0.2.10\"");
	struct addr_set set = {0};
	struct result res = plan(cfg, &set, true);

	assert_null(strstr(res.ops, "/np/"));
	assert_int_equal(res.pending.nr, 1);
	assert_string_equal(fs(T "/enable"), "1");
	assert_true(exists(T "/lun/lun_0/lc-a"));
	result_clear(&res);
	lcd_config_free(cfg);
}

/* No predicate, or every address present: what lcd_plan_make() plans. */
static void test_null_predicate(void **state)
{
	struct lcd_config *cfg = load(PORTALS3);
	struct addr_set all = {.addrs = {"198.51.100.1", "192.0.2.10", "2001:db8::10"}};
	struct result none = plan(cfg, NULL, false), with_all = plan(cfg, &all, false);
	struct lcd_errors errs = {0}, conflicts = {0};
	struct lcd_lio_state *cur = NULL;
	struct lcd_plan p = {0};
	char buf[2048];
	size_t off = 0;

	assert_int_equal(lcd_lio_read(root, cfg->state_dir, &cur, &errs), 0);
	assert_int_equal(lcd_plan_make(cfg, cur, &p, &conflicts), 0);
	assert_int_equal(p.nr, none.nr_ops);
	assert_int_equal(p.nr, with_all.nr_ops);
	assert_string_equal(none.ops, with_all.ops);
	for (size_t i = 0; i < p.nr; i++) {
		size_t len;

		lcd_op_describe(&p.ops[i], buf, sizeof(buf));
		len = strlen(buf);
		assert_memory_equal(none.ops + off, buf, len);
		assert_int_equal(none.ops[off + len], '\n');
		off += len + 1;
	}
	assert_non_null(strstr(none.ops, "mkdir " T "/np/192.0.2.10:3260\n"));
	assert_int_equal(none.pending.nr, 0);
	assert_int_equal(conflicts.nr, 0);
	lcd_plan_clear(&p);
	lcd_lio_state_free(cur);
	lcd_errors_clear(&errs);
	result_clear(&none);
	result_clear(&with_all);
	lcd_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pending_portal, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_address_appears, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_address_disappears, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_wildcards, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_all_pending, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_null_predicate, test_setup, test_teardown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
