/* SPDX-License-Identifier: MIT */
/*
 * Unit test of the reconcile planner (daemon/plan.c) and the executor
 * (daemon/cfs_exec.c), with daemon/lio_state.c reading back, against a fake
 * configfs in a temporary directory (fake_configfs.h) that refuses what the
 * kernel refuses (removing an item still linked or populated, a TPG still
 * enabled, control after enable...).
 *
 * Every scenario reconciles (read, plan, apply) and then checks that a
 * second plan is empty: the plans are idempotent. Scenarios: create from
 * empty; nothing to do; a changed rate rewrites one file and nothing else;
 * a removed session takes its LUNs, mapped LUNs, backstore and file with
 * it; foreign targets and backstores stay untouched, also when everything
 * of ours goes; CHAP added, changed, removed (secrets never printed); a
 * changed destination recreates the backstore and relinks its LUN; a
 * foreign target with our IQN is a conflict; an apply interrupted at every
 * possible step converges on the next reconcile.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfs_exec.h"
#include "config.h"
#include "fake_configfs.h"
#include "lio_state.h"
#include "plan.h"

static char tmpdir[] = "/tmp/test-daemon-plan.XXXXXX";
static char root[256], state_dir[256];
static struct fake_cfs *fake;

static void write_file(const char *name, const char *text, mode_t mode)
{
	char path[PATH_MAX];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
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

#define SECRETS_V1                                                                                 \
	"{ \"credentials\": { \"h1\": { \"userid\": \"h1\", \"password\": \"h1-secret-0001\" },"   \
	" \"h2\": { \"userid\": \"h2\", \"password\": \"h2-secret-0001\", \"mutual_userid\": "     \
	"\"tgt\", \"mutual_password\": \"tgt-secret-0001\" } } }"

static int setup(void **state)
{
	if (!mkdtemp(tmpdir))
		return -1;
	(void)snprintf(state_dir, sizeof(state_dir), "%s/state", tmpdir);
	make_sized("src-a.img", 1 << 20);
	make_sized("src-b.img", 2 << 20);
	make_sized("dst-a.img", 1 << 20);
	make_sized("dst-a2.img", 1 << 20);
	make_sized("dst-b.img", 2 << 20);
	make_sized("dst-c.img", 1 << 20);
	write_file("secrets.json", SECRETS_V1, 0600);
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A fresh fake configfs (and state directory) per test. */
static int test_setup(void **state)
{
	static unsigned n;
	char cmd[PATH_MAX];

	(void)snprintf(root, sizeof(root), "%s/configfs-%u", tmpdir, n++);
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

/* Replaces "@D@" by tmpdir. */
static char *expand(const char *tmpl)
{
	static char out[16384];
	size_t n = 0;

	for (const char *p = tmpl; *p;) {
		if (strncmp(p, "@D@", 3) == 0) {
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%s", tmpdir);
			p += 3;
		} else {
			out[n++] = *p++;
		}
		assert_true(n < sizeof(out) - 1);
	}
	out[n] = '\0';
	return out;
}

static struct lcd_config *load(const char *tmpl)
{
	struct lcd_config *cfg = NULL;
	struct lcd_errors errs = {0};
	char path[PATH_MAX];

	write_file("lunclone.json", expand(tmpl), 0644);
	(void)snprintf(path, sizeof(path), "%s/lunclone.json", tmpdir);
	if (lcd_config_load(path, NULL, 0, &cfg, &errs) != 0) {
		lcd_errors_print(&errs, stderr);
		fail_msg("configuration not valid");
	}
	lcd_errors_clear(&errs);
	/* Never a real device's status socket. */
	free(cfg->socket_dir);
	cfg->socket_dir = strdup(tmpdir);
	assert_non_null(cfg->socket_dir);
	return cfg;
}

static struct lcd_plan plan_for(const struct lcd_config *cfg, struct lcd_errors *conflicts)
{
	struct lcd_lio_state *cur = NULL;
	struct lcd_errors errs = {0};
	struct lcd_plan plan = {0};

	if (lcd_lio_read(root, cfg->state_dir, &cur, &errs) != 0) {
		lcd_errors_print(&errs, stderr);
		fail_msg("lcd_lio_read failed");
	}
	assert_int_equal(lcd_plan_make(cfg, cur, &plan, conflicts), 0);
	lcd_lio_state_free(cur);
	return plan;
}

static void print_plan(const struct lcd_plan *plan)
{
	char buf[2048];

	for (size_t i = 0; i < plan->nr; i++) {
		lcd_op_describe(&plan->ops[i], buf, sizeof(buf));
		fprintf(stderr, "  %2zu %s\n", i, buf);
	}
}

static void apply(const struct lcd_plan *plan)
{
	struct lcd_errors errs = {0};

	if (lcd_plan_apply(plan, &fake_cfs_ops, fake, NULL, &errs) != 0) {
		print_plan(plan);
		lcd_errors_print(&errs, stderr);
		fail_msg("apply failed");
	}
	/* What was passed over (a throttle without a device). */
	lcd_errors_clear(&errs);
}

static void expect_empty_plan(const struct lcd_config *cfg)
{
	struct lcd_errors conflicts = {0};
	struct lcd_plan again = plan_for(cfg, &conflicts);

	if (again.nr != 0) {
		print_plan(&again);
		fail_msg("second plan not empty: %zu operations", again.nr);
	}
	lcd_plan_clear(&again);
	lcd_errors_clear(&conflicts);
}

/* Plans, applies, checks idempotence; returns the applied plan's ops as text. */
static char *reconcile(const struct lcd_config *cfg)
{
	struct lcd_errors conflicts = {0};
	struct lcd_plan plan = plan_for(cfg, &conflicts);
	char *text = NULL, buf[2048];
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	assert_non_null(f);
	if (conflicts.nr) {
		lcd_errors_print(&conflicts, stderr);
		fail_msg("unexpected conflicts");
	}
	apply(&plan);
	for (size_t i = 0; i < plan.nr; i++) {
		lcd_op_describe(&plan.ops[i], buf, sizeof(buf));
		fprintf(f, "%s\n", buf);
	}
	assert_int_equal(fclose(f), 0);
	lcd_plan_clear(&plan);
	expect_empty_plan(cfg);
	return text;
}

/* Reads root/rel without its trailing newline; "" when absent. */
static const char *fs(const char *fmt, ...)
{
	static char buf[4096];
	char rel[PATH_MAX], path[PATH_MAX * 2];
	ssize_t n;
	va_list ap;
	int fd;

	va_start(ap, fmt);
	(void)vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	(void)snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return "";
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return buf;
}

static bool exists(const char *fmt, ...)
{
	char rel[PATH_MAX], path[PATH_MAX * 2];
	struct stat st;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	(void)snprintf(path, sizeof(path), "%s/%s", root, rel);
	return lstat(path, &st) == 0;
}

static const char *link_of(const char *fmt, ...)
{
	static char target[PATH_MAX];
	char rel[PATH_MAX], path[PATH_MAX * 2];
	ssize_t n;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	(void)snprintf(path, sizeof(path), "%s/%s", root, rel);
	/* The kernel's links are relative ("../../core/..."): resolve them. */
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0 || !realpath(path, target))
		return "";
	return target + strlen(root) + 1;
}

#define T "iscsi/iqn.2025-01.com.example:t1/tpgt_1"
#define IA "iqn.2025-01.com.example:host-a"
#define IB "iqn.2025-01.com.example:host-b"

#define SESSION(name, src, dst, extra)                                                             \
	"{ \"name\": \"" name "\", \"source\": \"@D@/" src "\", \"destination\": \"@D@/" dst       \
	"\", \"metadata\": \"@D@/" name ".meta\"" extra " }"
#define DOC(sessions, tpg)                                                                         \
	"{ \"version\": 1, \"secrets_file\": \"@D@/secrets.json\", \"state_directory\": "          \
	"\"@D@/state\", \"sessions\": [ " sessions " ], \"targets\": [ { \"iqn\": "                \
	"\"iqn.2025-01.com.example:t1\", \"tpgs\": [ " tpg " ] } ] }"
#define TPG(luns, acls, extra)                                                                     \
	"{ \"tag\": 1, \"portals\": [\"192.0.2.1\", \"[2001:db8::1]:3261\"], \"luns\": [ " luns    \
	" ], \"acls\": [ " acls " ]" extra " }"
#define SESS_AB(rate_a)                                                                            \
	SESSION("a", "src-a.img", "dst-a.img",                                                     \
		", \"hydration\": { \"rate_limit_mibps\": " rate_a " }")                           \
	", " SESSION("b", "src-b.img", "dst-b.img", "")
#define LUNS_AB "{ \"lun\": 0, \"session\": \"a\" }, { \"lun\": 1, \"session\": \"b\" }"
#define ACLS_AB                                                                                    \
	"{ \"initiator\": \"" IA "\" }, { \"initiator\": \"" IB "\", \"mapped_luns\": [ { "        \
	"\"lun\": 1, \"mapped_lun\": 0, \"write_protect\": true } ] }"
#define BASE DOC(SESS_AB("100"), TPG(LUNS_AB, ACLS_AB, ""))

static void test_create_from_empty(void **state)
{
	struct lcd_config *cfg = load(BASE);
	char *ops = reconcile(cfg), path[PATH_MAX], *content = NULL;
	struct lcd_errors errs = {0};

	/* Backstores: configured, sized, enabled, ours. */
	assert_string_equal(fs("core/user_4242/lc-a/enable"), "1");
	(void)snprintf(path, sizeof(path), "clone/@%s/sessions/a.conf", state_dir);
	assert_string_equal(fs("core/user_4242/lc-a/attrib/dev_config"), path);
	assert_string_equal(fs("core/user_4242/lc-a/attrib/dev_size"), "1048576");
	assert_string_equal(fs("core/user_4242/lc-b/attrib/dev_size"), "2097152");
	/* The target: marked ours, portals canonical, LUNs linked, ACLs mapped. */
	assert_string_equal(fs(T "/param/TargetAlias"), "lunclone");
	assert_string_equal(fs(T "/enable"), "1");
	assert_string_equal(fs(T "/attrib/generate_node_acls"), "0");
	assert_string_equal(fs(T "/attrib/authentication"), "0");
	assert_true(exists(T "/np/192.0.2.1:3260"));
	assert_true(exists(T "/np/[2001:db8::1]:3261"));
	assert_string_equal(link_of(T "/lun/lun_0/lc-a"), "core/user_4242/lc-a");
	assert_string_equal(link_of(T "/lun/lun_1/lc-b"), "core/user_4242/lc-b");
	/* host-a: every LUN under its number; host-b: LUN 1 as its 0, read-only. */
	assert_string_equal(link_of(T "/acls/" IA "/lun_0/lc-link"), T "/lun/lun_0");
	assert_string_equal(link_of(T "/acls/" IA "/lun_1/lc-link"), T "/lun/lun_1");
	assert_string_equal(link_of(T "/acls/" IB "/lun_0/lc-link"), T "/lun/lun_1");
	assert_string_equal(fs(T "/acls/" IB "/lun_0/write_protect"), "1");
	assert_false(exists(T "/acls/" IB "/lun_1"));
	/* The session file is what the handler will read. */
	(void)snprintf(path, sizeof(path), "%s/sessions/a.conf", state_dir);
	assert_int_equal(lcd_read_attr(path, &content), 0);
	assert_non_null(strstr(content, "\nrate=100"));
	free(content);
	/* Order: the file before the backstore that reads it; enable last. */
	assert_true(strstr(ops, "file-write") < strstr(ops, "mkdir core/user_4242/lc-a"));
	assert_true(strstr(ops, "write " T "/enable") > strstr(ops, "symlink " T "/acls/"));
	free(ops);
	lcd_errors_clear(&errs);
	lcd_config_free(cfg);
}

static void test_rate_change_touches_one_file(void **state)
{
	struct lcd_config *cfg = load(BASE);
	char *ops, want[PATH_MAX + 64];
	size_t before;

	free(reconcile(cfg));
	lcd_config_free(cfg);
	before = fake_cfs_nr_ops(fake);
	cfg = load(DOC(SESS_AB("250"), TPG(LUNS_AB, ACLS_AB, "")));
	ops = reconcile(cfg);
	(void)snprintf(want, sizeof(want), "file-write %s/sessions/a.conf (", state_dir);
	/* That file, and the rate to the running device; configfs untouched. */
	assert_true(strncmp(ops, want, strlen(want)) == 0);
	(void)snprintf(want, sizeof(want), "throttle %s/a.sock 250 MiB/s\n", tmpdir);
	assert_string_equal(strchr(ops, '\n') + 1, want);
	assert_int_equal(fake_cfs_nr_ops(fake), before);
	free(ops);
	lcd_config_free(cfg);
	/* No rate any more: unlimited, live too. Other settings: the file only. */
	cfg = load(DOC(SESSION("a", "src-a.img", "dst-a.img",
			       ", \"hydration\": { \"workers\": 3 }") ", " SESSION("b", "src-b.img",
										   "dst-b.img", ""),
		       TPG(LUNS_AB, ACLS_AB, "")));
	ops = reconcile(cfg);
	(void)snprintf(want, sizeof(want), "\nthrottle %s/a.sock 0 MiB/s\n", tmpdir);
	assert_non_null(strstr(ops, want));
	free(ops);
	lcd_config_free(cfg);
	cfg = load(DOC(SESSION("a", "src-a.img", "dst-a.img",
			       ", \"hydration\": { \"workers\": 4 }") ", " SESSION("b", "src-b.img",
										   "dst-b.img", ""),
		       TPG(LUNS_AB, ACLS_AB, "")));
	ops = reconcile(cfg);
	assert_null(strstr(ops, "throttle"));
	assert_null(strchr(ops, '\n')[1] ? strchr(ops, '\n') + 1 : NULL);
	assert_int_equal(fake_cfs_nr_ops(fake), before);
	free(ops);
	lcd_config_free(cfg);
}

/* A status socket served by a thread: records the request, sends reply. */
struct server {
	int fd;
	const char *reply;
	char request[128];
	pthread_t thread;
};

static void *serve_thread(void *opaque)
{
	struct server *sv = opaque;
	size_t used = 0;
	ssize_t n;
	int c = accept(sv->fd, NULL, NULL);

	while (c >= 0 && (n = read(c, sv->request + used, sizeof(sv->request) - 1 - used)) > 0)
		used += (size_t)n;
	sv->request[used] = '\0';
	if (c >= 0) {
		(void)!write(c, sv->reply, strlen(sv->reply));
		(void)close(c);
	}
	return NULL;
}

static void serve_once(struct server *sv, const char *path, const char *reply)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(sv, 0, sizeof(*sv));
	sv->reply = reply;
	sv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sv->fd >= 0);
	(void)unlink(path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(sv->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(sv->fd, 1), 0);
	assert_int_equal(pthread_create(&sv->thread, NULL, serve_thread, sv), 0);
}

static void serve_join(struct server *sv)
{
	assert_int_equal(pthread_join(sv->thread, NULL), 0);
	assert_int_equal(close(sv->fd), 0);
}

static void test_throttle_executor(void **state)
{
	struct lcd_op op = {LCD_OP_THROTTLE, NULL, "250", false};
	struct lcd_plan plan = {&op, 1};
	struct lcd_errors errs = {0};
	struct server sv;
	char path[PATH_MAX];

	(void)snprintf(path, sizeof(path), "%s/a.sock", tmpdir);
	op.path = path;
	serve_once(&sv, path, "ok\n");
	assert_int_equal(lcd_plan_apply(&plan, &fake_cfs_ops, fake, NULL, &errs), 0);
	serve_join(&sv);
	assert_int_equal(errs.nr, 0);
	assert_string_equal(sv.request, "throttle 250\n");
	/* Refused or absent: said, and passed over. */
	serve_once(&sv, path, "error: rate: out of range\n");
	assert_int_equal(lcd_plan_apply(&plan, &fake_cfs_ops, fake, NULL, &errs), 0);
	serve_join(&sv);
	assert_true(lcd_errors_contain(&errs, "Protocol error: error: rate: out of range; the "
					      "device takes the rate from its file when it next "
					      "opens, ignoring"));
	lcd_errors_clear(&errs);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(lcd_plan_apply(&plan, &fake_cfs_ops, fake, NULL, &errs), 0);
	assert_true(lcd_errors_contain(&errs, "No such file or directory; the device"));
	lcd_errors_clear(&errs);
}

static void test_remove_session(void **state)
{
	struct lcd_config *cfg = load(BASE);
	char path[PATH_MAX];
	char *ops;

	free(reconcile(cfg));
	lcd_config_free(cfg);
	cfg = load(
	    DOC(SESSION("a", "src-a.img", "dst-a.img",
			", \"hydration\": { \"rate_limit_mibps\": 100 }"),
		TPG("{ \"lun\": 0, \"session\": \"a\" }", "{ \"initiator\": \"" IA "\" }", "")));
	ops = reconcile(cfg);
	assert_false(exists("core/user_4242/lc-b"));
	assert_false(exists(T "/lun/lun_1"));
	assert_false(exists(T "/acls/" IA "/lun_1"));
	assert_false(exists(T "/acls/" IB));
	(void)snprintf(path, sizeof(path), "%s/sessions/b.conf", state_dir);
	assert_int_equal(access(path, F_OK), -1);
	/* What stays is untouched. */
	assert_true(exists(T "/acls/" IA "/lun_0/lc-link"));
	assert_string_equal(fs(T "/enable"), "1");
	assert_null(strstr(ops, "lc-a"));
	/* Links first, the backstore last. */
	assert_true(strstr(ops, "unlink " T "/lun/lun_1/lc-b") <
		    strstr(ops, "rmdir core/user_4242/lc-b"));
	free(ops);
	lcd_config_free(cfg);

	/* An empty mapped_luns list maps nothing (not everything). */
	cfg = load(DOC(SESSION("a", "src-a.img", "dst-a.img",
			       ", \"hydration\": { \"rate_limit_mibps\": 100 }"),
		       TPG("{ \"lun\": 0, \"session\": \"a\" }",
			   "{ \"initiator\": \"" IA "\", \"mapped_luns\": [] }", "")));
	ops = reconcile(cfg);
	assert_string_equal(ops, "unlink " T "/acls/" IA "/lun_0/lc-link\nrmdir " T "/acls/" IA
				 "/lun_0\n");
	free(ops);
	lcd_config_free(cfg);
	cfg = load(
	    DOC(SESSION("a", "src-a.img", "dst-a.img",
			", \"hydration\": { \"rate_limit_mibps\": 100 }"),
		TPG("{ \"lun\": 0, \"session\": \"a\" }", "{ \"initiator\": \"" IA "\" }", "")));
	ops = reconcile(cfg);
	assert_string_equal(ops, "mkdir " T "/acls/" IA "/lun_0\nsymlink " T "/acls/" IA
				 "/lun_0/lc-link -> " T "/lun/lun_0\n");
	free(ops);
	lcd_config_free(cfg);

	/* Nothing at all: our target goes, disabled first. */
	cfg = load("{ \"version\": 1, \"state_directory\": \"@D@/state\", \"sessions\": [] }");
	ops = reconcile(cfg);
	assert_true(strncmp(ops, "write " T "/enable = '0'", strlen("write " T "/enable")) == 0);
	assert_false(exists("iscsi/iqn.2025-01.com.example:t1"));
	assert_false(exists("core/user_4242/lc-a"));
	free(ops);
	lcd_config_free(cfg);
}

/* Something targetcli would have made, through the same fake kernel. */
static void make_foreign(void)
{
	static const char *const steps[][3] = {
	    {"m", "core/user_1", NULL},
	    {"m", "core/user_1/foreign", NULL},
	    {"w", "core/user_1/foreign/control", "dev_config=file//srv/x.img,dev_size=1048576"},
	    {"w", "core/user_1/foreign/enable", "1"},
	    /* Our prefix, but not our cfgstring: not ours either. */
	    {"m", "core/user_1/lc-imposter", NULL},
	    {"w", "core/user_1/lc-imposter/control", "dev_config=file//srv/y.img,dev_size=4096"},
	    {"w", "core/user_1/lc-imposter/enable", "1"},
	    {"m", "iscsi/iqn.2003-01.org.linux-iscsi.other:x", NULL},
	    {"m", "iscsi/iqn.2003-01.org.linux-iscsi.other:x/tpgt_1", NULL},
	    {"m", "iscsi/iqn.2003-01.org.linux-iscsi.other:x/tpgt_1/np/0.0.0.0:3260", NULL},
	    {"m", "iscsi/iqn.2003-01.org.linux-iscsi.other:x/tpgt_1/lun/lun_0", NULL},
	    {"l", "iscsi/iqn.2003-01.org.linux-iscsi.other:x/tpgt_1/lun/lun_0/l",
	     "core/user_1/foreign"},
	    {"w", "iscsi/iqn.2003-01.org.linux-iscsi.other:x/tpgt_1/enable", "1"},
	};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int r = steps[i][0][0] == 'm' ? fake_cfs_ops.mkdir(fake, steps[i][1])
			: steps[i][0][0] == 'w'
			    ? fake_cfs_ops.write(fake, steps[i][1], steps[i][2])
			    : fake_cfs_ops.symlink(fake, steps[i][2], steps[i][1]);

		assert_int_equal(r, 0);
	}
}

static void test_foreign_left_alone(void **state)
{
	struct lcd_config *cfg;
	char *ops;

	make_foreign();
	cfg = load(BASE);
	ops = reconcile(cfg);
	assert_null(strstr(ops, "user_1/"));
	assert_null(strstr(ops, "other:x"));
	free(ops);
	lcd_config_free(cfg);
	/* Everything of ours goes; theirs stays, enabled and linked. */
	cfg = load("{ \"version\": 1, \"state_directory\": \"@D@/state\", \"sessions\": [] }");
	ops = reconcile(cfg);
	assert_null(strstr(ops, "user_1/"));
	assert_null(strstr(ops, "other:x"));
	assert_string_equal(fs("core/user_1/foreign/enable"), "1");
	assert_string_equal(fs("core/user_1/lc-imposter/enable"), "1");
	assert_string_equal(link_of("iscsi/iqn.2003-01.org.linux-iscsi.other:x/tpgt_1/lun/lun_0/l"),
			    "core/user_1/foreign");
	free(ops);
	lcd_config_free(cfg);
}

static void test_conflicts(void **state)
{
	struct lcd_errors conflicts = {0};
	struct lcd_config *cfg;
	struct lcd_plan plan;
	char buf[2048];

	/* A foreign target under our IQN, a foreign backstore under our name. */
	assert_int_equal(fake_cfs_ops.mkdir(fake, "iscsi/iqn.2025-01.com.example:t1"), 0);
	assert_int_equal(fake_cfs_ops.mkdir(fake, "iscsi/iqn.2025-01.com.example:t1/tpgt_1"), 0);
	assert_int_equal(
	    fake_cfs_ops.mkdir(fake, "iscsi/iqn.2025-01.com.example:t1/tpgt_1/np/0.0.0.0:3260"), 0);
	assert_int_equal(fake_cfs_ops.mkdir(fake, "core/user_7"), 0);
	assert_int_equal(fake_cfs_ops.mkdir(fake, "core/user_7/lc-b"), 0);
	assert_int_equal(fake_cfs_ops.write(fake, "core/user_7/lc-b/control",
					    "dev_config=file//srv/b.img,dev_size=4096"),
			 0);
	cfg = load(BASE);
	plan = plan_for(cfg, &conflicts);
	assert_true(lcd_errors_contain(
	    &conflicts, "target 'iqn.2025-01.com.example:t1' exists and is not ours"));
	assert_true(lcd_errors_contain(&conflicts, "session 'b': backstore user_7/lc-b exists and "
						   "is not ours"));
	for (size_t i = 0; i < plan.nr; i++) {
		lcd_op_describe(&plan.ops[i], buf, sizeof(buf));
		assert_null(strstr(buf, "iscsi/"));
		assert_null(strstr(buf, "lc-b"));
	}
	/* Session a goes ahead. */
	apply(&plan);
	assert_string_equal(fs("core/user_4242/lc-a/enable"), "1");
	lcd_plan_clear(&plan);
	lcd_errors_clear(&conflicts);
	lcd_config_free(cfg);
}

/* An empty target under our IQN (someone's, or our interrupted creation) is adopted. */
static void test_adopt_pristine(void **state)
{
	struct lcd_config *cfg;
	char *ops;

	assert_int_equal(fake_cfs_ops.mkdir(fake, "iscsi/iqn.2025-01.com.example:t1"), 0);
	assert_int_equal(fake_cfs_ops.mkdir(fake, "iscsi/iqn.2025-01.com.example:t1/tpgt_1"), 0);
	assert_int_equal(fake_cfs_ops.mkdir(fake, "iscsi/iqn.2025-01.com.example:t1/tpgt_9"), 0);
	cfg = load(BASE);
	ops = reconcile(cfg);
	assert_null(strstr(ops, "mkdir iscsi/iqn.2025-01.com.example:t1\n"));
	assert_non_null(strstr(ops, "write " T "/param/TargetAlias = 'lunclone'"));
	/* The unwanted pristine TPG goes. */
	assert_non_null(strstr(ops, "rmdir iscsi/iqn.2025-01.com.example:t1/tpgt_9\n"));
	assert_string_equal(fs(T "/enable"), "1");
	free(ops);
	lcd_config_free(cfg);
}

static void test_chap(void **state)
{
	struct lcd_config *cfg;
	char *ops;

	cfg = load(BASE);
	free(reconcile(cfg));
	lcd_config_free(cfg);

	/* CHAP on: both ACLs (LIO's switch is per TPG), h2 mutual. */
	cfg =
	    load(DOC(SESS_AB("100"),
		     TPG(LUNS_AB,
			 "{ \"initiator\": \"" IA "\", \"chap\": { \"credential\": \"h1\" } }, "
			 "{ \"initiator\": \"" IB "\", \"chap\": { \"credential\": \"h2\", "
			 "\"mutual\": true }, \"mapped_luns\": [ { \"lun\": 1, \"mapped_lun\": 0, "
			 "\"write_protect\": true } ] }",
			 "")));
	ops = reconcile(cfg);
	assert_string_equal(fs(T "/attrib/authentication"), "1");
	assert_string_equal(fs(T "/acls/" IA "/auth/userid"), "h1");
	assert_string_equal(fs(T "/acls/" IA "/auth/password"), "h1-secret-0001");
	assert_string_equal(fs(T "/acls/" IB "/auth/userid_mutual"), "tgt");
	assert_string_equal(fs(T "/acls/" IB "/auth/password_mutual"), "tgt-secret-0001");
	/* No secret in what is printed. */
	assert_null(strstr(ops, "secret-0001"));
	assert_non_null(strstr(ops, "auth/password = '***'"));
	/* The mapped LUNs were not touched. */
	assert_null(strstr(ops, "lun_"));
	free(ops);
	lcd_config_free(cfg);

	/* A new password: that one attribute. */
	write_file("secrets.json", expand(SECRETS_V1), 0600);
	{
		char text[sizeof(SECRETS_V1) + 16];
		char *p;

		(void)snprintf(text, sizeof(text), "%s", SECRETS_V1);
		p = strstr(text, "h1-secret-0001");
		memcpy(p, "h1-secret-0002", 14);
		write_file("secrets.json", text, 0600);
	}
	cfg =
	    load(DOC(SESS_AB("100"),
		     TPG(LUNS_AB,
			 "{ \"initiator\": \"" IA "\", \"chap\": { \"credential\": \"h1\" } }, "
			 "{ \"initiator\": \"" IB "\", \"chap\": { \"credential\": \"h2\", "
			 "\"mutual\": true }, \"mapped_luns\": [ { \"lun\": 1, \"mapped_lun\": 0, "
			 "\"write_protect\": true } ] }",
			 "")));
	ops = reconcile(cfg);
	assert_string_equal(ops, "write " T "/acls/" IA "/auth/password = '***'\n");
	assert_string_equal(fs(T "/acls/" IA "/auth/password"), "h1-secret-0002");
	free(ops);
	lcd_config_free(cfg);
	write_file("secrets.json", SECRETS_V1, 0600);

	/* CHAP off again: secrets cleared the LIO way ("NULL"), switch off. */
	cfg = load(BASE);
	ops = reconcile(cfg);
	assert_string_equal(fs(T "/attrib/authentication"), "0");
	assert_string_equal(fs(T "/acls/" IA "/auth/password"), "NULL");
	assert_string_equal(fs(T "/acls/" IB "/auth/userid_mutual"), "NULL");
	free(ops);
	lcd_config_free(cfg);
}

static void test_open_access_and_disable(void **state)
{
	struct lcd_config *cfg;
	char *ops;

	cfg = load(DOC(SESS_AB("100"), TPG(LUNS_AB, "",
					   ", \"open_access\": true, \"open_write_protect\": "
					   "false, \"chap\": { \"credential\": \"h1\" }")));
	ops = reconcile(cfg);
	assert_string_equal(fs(T "/attrib/generate_node_acls"), "1");
	assert_string_equal(fs(T "/attrib/cache_dynamic_acls"), "1");
	assert_string_equal(fs(T "/attrib/demo_mode_write_protect"), "0");
	assert_string_equal(fs(T "/attrib/authentication"), "1");
	assert_string_equal(fs(T "/auth/userid"), "h1");
	free(ops);
	lcd_config_free(cfg);
	/* Disabled on request, nothing else touched. */
	cfg = load(DOC(SESS_AB("100"), TPG(LUNS_AB, "",
					   ", \"open_access\": true, \"open_write_protect\": "
					   "false, \"chap\": { \"credential\": \"h1\" }, "
					   "\"enable\": false")));
	ops = reconcile(cfg);
	assert_string_equal(ops, "write " T "/enable = '0'\n");
	free(ops);
	lcd_config_free(cfg);
}

static void test_destination_change_recreates(void **state)
{
	struct lcd_config *cfg = load(BASE);
	char *ops;

	free(reconcile(cfg));
	lcd_config_free(cfg);
	cfg = load(DOC(
	    SESSION("a", "src-a.img", "dst-a2.img",
		    ", \"hydration\": { \"rate_limit_mibps\": 100 }") ", " SESSION("b", "src-b.img",
										   "dst-b.img", ""),
	    TPG(LUNS_AB, ACLS_AB, "")));
	ops = reconcile(cfg);
	/* a's chain goes and comes back; b is not touched. */
	assert_non_null(strstr(ops, "rmdir core/user_4242/lc-a\n"));
	assert_non_null(strstr(ops, "mkdir core/user_4242/lc-a\n"));
	assert_non_null(strstr(ops, "unlink " T "/acls/" IA "/lun_0/lc-link"));
	assert_null(strstr(ops, "lc-b"));
	assert_null(strstr(ops, IB));
	assert_string_equal(link_of(T "/acls/" IA "/lun_0/lc-link"), T "/lun/lun_0");
	assert_string_equal(link_of(T "/lun/lun_0/lc-a"), "core/user_4242/lc-a");
	free(ops);
	lcd_config_free(cfg);
}

/* A block size: written before enable; changing it recreates the backstore. */
static void test_block_size(void **state)
{
	struct lcd_config *cfg;
	char *ops;

	cfg = load(
	    DOC(SESSION("a", "src-a.img", "dst-a.img", ", \"block_size\": 4096"),
		TPG("{ \"lun\": 0, \"session\": \"a\" }", "{ \"initiator\": \"" IA "\" }", "")));
	ops = reconcile(cfg);
	assert_true(strstr(ops, "control = 'hw_block_size=4096'") <
		    strstr(ops, "write core/user_4242/lc-a/enable"));
	assert_string_equal(fs("core/user_4242/lc-a/attrib/hw_block_size"), "4096");
	free(ops);
	lcd_config_free(cfg);
	cfg = load(
	    DOC(SESSION("a", "src-a.img", "dst-a.img", ""),
		TPG("{ \"lun\": 0, \"session\": \"a\" }", "{ \"initiator\": \"" IA "\" }", "")));
	ops = reconcile(cfg);
	assert_non_null(strstr(ops, "rmdir core/user_4242/lc-a\n"));
	free(ops);
	lcd_config_free(cfg);
}

/* Without its size (an iscsi:// source not probed), a session keeps running
 * as it is, and a new one is left out. */
static void test_unknown_size(void **state)
{
	struct lcd_errors conflicts = {0};
	struct lcd_config *cfg = load(BASE);
	struct lcd_plan plan;
	char buf[2048];

	free(reconcile(cfg));
	cfg->sessions[0].source_size_bytes = 0;
	plan = plan_for(cfg, &conflicts);
	assert_int_equal(plan.nr, 0);
	assert_int_equal(conflicts.nr, 0);
	lcd_plan_clear(&plan);
	lcd_config_free(cfg);

	test_teardown(state);
	assert_int_equal(test_setup(state), 0);
	cfg = load(BASE);
	cfg->sessions[1].source_size_bytes = 0;
	plan = plan_for(cfg, &conflicts);
	assert_true(lcd_errors_contain(&conflicts, "session 'b': the source's size is unknown"));
	for (size_t i = 0; i < plan.nr; i++) {
		lcd_op_describe(&plan.ops[i], buf, sizeof(buf));
		assert_null(strstr(buf, "lc-b"));
		/* Nor any LUN or mapped LUN for it: LUN 1 is b's. */
		assert_null(strstr(buf, "lun_1"));
	}
	apply(&plan);
	assert_true(exists(T "/acls/" IA "/lun_0/lc-link"));
	assert_false(exists(T "/acls/" IB "/lun_0"));
	lcd_plan_clear(&plan);
	lcd_errors_clear(&conflicts);
	lcd_config_free(cfg);
}

/* An apply cut at step k, for every k, is finished by the next reconcile. */
static void test_interrupted_apply_converges(void **state)
{
	struct lcd_config *cfg = load(BASE);
	struct lcd_errors conflicts = {0};
	struct lcd_plan plan = plan_for(cfg, &conflicts);
	size_t nr_configfs = 0;

	for (size_t i = 0; i < plan.nr; i++)
		nr_configfs += plan.ops[i].kind != LCD_OP_FILE_WRITE;
	lcd_plan_clear(&plan);
	for (size_t k = 1; k <= nr_configfs; k++) {
		struct lcd_errors errs = {0};
		size_t done = 0;
		char cmd[PATH_MAX];

		test_teardown(state);
		assert_int_equal(test_setup(state), 0);
		plan = plan_for(cfg, &conflicts);
		fake_cfs_fail_at(fake, k);
		assert_int_equal(lcd_plan_apply(&plan, &fake_cfs_ops, fake, &done, &errs), -EIO);
		assert_true(lcd_errors_contain(&errs, "Input/output error (operation"));
		lcd_errors_clear(&errs);
		lcd_plan_clear(&plan);
		free(reconcile(cfg));
		assert_string_equal(fs(T "/enable"), "1");
		assert_string_equal(fs("core/user_4242/lc-b/enable"), "1");
		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
		assert_int_equal(system(cmd), 0);
	}
	lcd_errors_clear(&conflicts);
	lcd_config_free(cfg);
}

static void test_posix_executor(void **state)
{
	struct lcd_plan plan = {0};
	struct lcd_op ops[] = {
	    {LCD_OP_MKDIR, "d", NULL, false},
	    {LCD_OP_FILE_WRITE, NULL, "x=1\n", false},
	    {LCD_OP_WRITE, "d/attr", "v", false},
	};
	struct lcd_errors errs = {0};
	char path[PATH_MAX], file[PATH_MAX], *v = NULL;
	struct stat st;
	size_t done;

	/* A plain directory as root: mkdir works, writing a missing attribute does not. */
	(void)snprintf(path, sizeof(path), "%s/posix", tmpdir);
	assert_int_equal(mkdir(path, 0755), 0);
	(void)snprintf(file, sizeof(file), "%s/posix-state/sessions/x.conf", tmpdir);
	ops[1].path = file;
	plan.ops = ops;
	plan.nr = 3;
	assert_int_equal(lcd_plan_apply(&plan, &lcd_cfs_posix_ops, path, &done, &errs), -ENOENT);
	assert_int_equal(done, 2);
	assert_true(lcd_errors_contain(&errs, "write d/attr = 'v': No such file or directory "
					      "(operation 3 of 3"));
	lcd_errors_clear(&errs);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(lcd_read_attr(file, &v), 0);
	assert_string_equal(v, "x=1");
	free(v);
	*strrchr(file, '/') = '\0';
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_from_empty, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_rate_change_touches_one_file, test_setup,
					    test_teardown),
	    cmocka_unit_test_setup_teardown(test_remove_session, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_left_alone, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_conflicts, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_adopt_pristine, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_chap, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_open_access_and_disable, test_setup,
					    test_teardown),
	    cmocka_unit_test_setup_teardown(test_destination_change_recreates, test_setup,
					    test_teardown),
	    cmocka_unit_test_setup_teardown(test_block_size, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_size, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_interrupted_apply_converges, test_setup,
					    test_teardown),
	    cmocka_unit_test(test_posix_executor),
	    cmocka_unit_test_setup_teardown(test_throttle_executor, test_setup, test_teardown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
