/* SPDX-License-Identifier: MIT */
/*
 * Unit test of daemon/config.c and its helpers (jsonscan, secrets, probe,
 * iscsi_names): a valid file loads into the model we expect, and every class
 * of error is reported with its JSONPath: syntax, duplicate key, unknown key,
 * wrong type, out of range, missing key, duplicate LUN/portal/tag/IQN/ACL,
 * IQN syntax, references, CHAP consistency, secrets file permissions and
 * content, missing files, destination smaller than the source, overlapping
 * devices; errors are collected, not only the first; the examples in config/
 * are valid.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "errors.h"
#include "iscsi_names.h"

static char tmpdir[] = "/tmp/test-daemon-config.XXXXXX";

/* Writes text into tmpdir/name with mode; returns the path (static). */
static const char *write_file(const char *name, const char *text, mode_t mode)
{
	static char path[256];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
	return path;
}

static void make_sized(const char *name, off_t size)
{
	char path[256];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	assert_int_equal(close(fd), 0);
}

static const char good_secrets[] =
    "{ \"credentials\": {\n"
    "  \"host1\": { \"userid\": \"host1\", \"password\": \"0123456789abcdef\" },\n"
    "  \"host2\": { \"userid\": \"host2\", \"password\": \"fedcba9876543210\",\n"
    "             \"mutual_userid\": \"target\", \"mutual_password\": \"mutual-secret-42\" }\n"
    "} }\n";

static int setup(void **state)
{
	char path[256];

	if (!mkdtemp(tmpdir))
		return -1;
	make_sized("src.img", 1 << 20);
	make_sized("src2.img", 1 << 20);
	make_sized("dst.img", 1 << 20);
	make_sized("dst2.img", 2 << 20);
	make_sized("small.img", 512 << 10);
	(void)snprintf(path, sizeof(path), "%s/meta", tmpdir);
	if (mkdir(path, 0700) < 0)
		return -1;
	write_file("secrets.json", good_secrets, 0600);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Replaces every "@D@" in tmpl by tmpdir (a static buffer). */
static const char *expand(const char *tmpl)
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

static int fake_iscsi_size(const char *url, uint64_t *ret_size, char *msg, size_t msg_len)
{
	if (strstr(url, "unreachable")) {
		(void)snprintf(msg, msg_len, "connection refused");
		return -ECONNREFUSED;
	}
	*ret_size = 1 << 20;
	return 0;
}

static const struct lcd_probe_ops probe = {.iscsi_size = fake_iscsi_size};

static int load(const char *tmpl, unsigned flags, struct lcd_config **ret, struct lcd_errors *errs)
{
	const char *path = write_file("lunclone.json", expand(tmpl), 0644);

	return lcd_config_load(path, &probe, flags, ret, errs);
}

/* A valid base: one session, one target with an ACL. */
#define SESSION(name, src, dst, extra)                                                             \
	"{ \"name\": \"" name "\", \"source\": \"@D@/" src "\", \"destination\": \"@D@/" dst       \
	"\", \"metadata\": \"@D@/meta/" name ".meta\"" extra " }"
#define TARGET(tpg_extra)                                                                          \
	"{ \"iqn\": \"iqn.2025-01.com.example:t1\", \"tpgs\": [ { \"portals\": "                   \
	"[\"192.0.2.1\"], \"luns\": [ { \"lun\": 0, \"session\": \"vol1\" } ], \"acls\": [ { "     \
	"\"initiator\": \"iqn.2025-01.com.example:host1\" } ]" tpg_extra " } ] }"
#define DOC(sessions, targets)                                                                     \
	"{ \"version\": 1, \"secrets_file\": \"@D@/secrets.json\", \"sessions\": [ " sessions      \
	" ], \"targets\": [ " targets " ] }"
#define BASE DOC(SESSION("vol1", "src.img", "dst.img", ""), TARGET(""))

/* Expects the load to fail with -EINVAL and every needle among the errors. */
static void expect_errors(const char *tmpl, unsigned flags, size_t nr_errors, ...)
{
	struct lcd_config *cfg = (struct lcd_config *)0x1;
	struct lcd_errors errs = {0};
	const char *needle;
	va_list ap;
	int r;

	r = load(tmpl, flags, &cfg, &errs);
	if (r != -EINVAL) {
		lcd_errors_print(&errs, stderr);
		fail_msg("load = %d, expected -EINVAL", r);
	}
	assert_ptr_equal(cfg, (struct lcd_config *)0x1);
	va_start(ap, nr_errors);
	while ((needle = va_arg(ap, const char *))) {
		if (!lcd_errors_contain(&errs, needle)) {
			lcd_errors_print(&errs, stderr);
			fail_msg("no error contains \"%s\"", needle);
		}
	}
	va_end(ap);
	if (nr_errors && errs.nr != nr_errors) {
		lcd_errors_print(&errs, stderr);
		fail_msg("%zu errors, expected %zu", errs.nr, nr_errors);
	}
	/* Every line names the file first. */
	for (size_t i = 0; i < errs.nr; i++)
		assert_true(strncmp(errs.msgs[i], tmpdir, strlen(tmpdir)) == 0);
	lcd_errors_clear(&errs);
}

static struct lcd_config *expect_valid(const char *tmpl, unsigned flags)
{
	struct lcd_config *cfg = NULL;
	struct lcd_errors errs = {0};
	int r = load(tmpl, flags, &cfg, &errs);

	if (r != 0) {
		lcd_errors_print(&errs, stderr);
		fail_msg("load = %d, expected a valid configuration", r);
	}
	assert_int_equal(errs.nr, 0);
	return cfg;
}

static void test_valid(void **state)
{
	struct lcd_config *cfg = expect_valid(
	    DOC(SESSION(
		    "vol1", "src.img", "dst.img",
		    ", \"region_size\": \"128K\", \"hydration\": { \"rate_limit_mibps\": 100 }"),
		"{ \"iqn\": \"iqn.2025-01.com.example:t1\", \"tpgs\": [ { \"tag\": 2, \"portals\": "
		"[\"192.0.2.1\", \"[2001:DB8:0::1]:3261\"], \"luns\": [ { \"lun\": 3, \"session\": "
		"\"vol1\" } ], \"acls\": [ { \"initiator\": \"iqn.2025-01.com.example:host2\", "
		"\"chap\": { \"credential\": \"host2\", \"mutual\": true } } ] } ] }"),
	    0);
	const struct lcd_tpg *tpg;

	assert_int_equal(cfg->nr_sessions, 1);
	assert_string_equal(cfg->sessions[0].name, "vol1");
	assert_int_equal(cfg->sessions[0].region_size_bytes, 128 * 1024);
	assert_int_equal(cfg->sessions[0].hydration.rate_limit_bytes, 100ull << 20);
	assert_int_equal(cfg->sessions[0].hydration_given, 1u << LCD_HYD_RATE_LIMIT);
	/* Not given: the library's default. */
	assert_int_equal(cfg->sessions[0].hydration.nr_workers, 2);
	assert_int_equal(cfg->sessions[0].source_size_bytes, 1 << 20);
	assert_string_equal(cfg->state_dir, LCD_STATE_DIR_DEFAULT);
	assert_int_equal(cfg->nr_targets, 1);
	tpg = &cfg->targets[0].tpgs[0];
	assert_int_equal(tpg->tag, 2);
	assert_true(tpg->enable);
	assert_string_equal(tpg->portals[0], "192.0.2.1:3260");
	assert_string_equal(tpg->portals[1], "[2001:db8::1]:3261");
	assert_int_equal(tpg->luns[0].lun, 3);
	assert_int_equal(tpg->luns[0].session_idx, 0);
	assert_string_equal(tpg->acls[0].chap.userid, "host2");
	assert_string_equal(tpg->acls[0].chap.password, "fedcba9876543210");
	assert_string_equal(tpg->acls[0].chap.mutual_userid, "target");
	assert_string_equal(tpg->acls[0].chap.mutual_password, "mutual-secret-42");
	assert_int_equal(tpg->acls[0].nr_mapped_luns, 0);
	lcd_config_free(cfg);
}

static void test_defaults_inherited(void **state)
{
	struct lcd_config *cfg = expect_valid(
	    "{ \"version\": 1, \"defaults\": { \"hydration\": { \"workers\": 4, "
	    "\"rate_limit_mibps\": 50 } },"
	    " \"sessions\": [ " SESSION("a", "src.img", "dst.img", "") ", " SESSION(
		"b", "src.img", "dst2.img", ", \"hydration\": { \"rate_limit_mibps\": 10 }") " ] }",
	    0);

	assert_int_equal(cfg->sessions[0].hydration.nr_workers, 4);
	assert_int_equal(cfg->sessions[0].hydration.rate_limit_bytes, 50ull << 20);
	assert_int_equal(cfg->sessions[1].hydration.nr_workers, 4);
	assert_int_equal(cfg->sessions[1].hydration.rate_limit_bytes, 10ull << 20);
	assert_int_equal(cfg->sessions[1].hydration_given,
			 (1u << LCD_HYD_WORKERS) | (1u << LCD_HYD_RATE_LIMIT));
	lcd_config_free(cfg);
}

static void test_syntax(void **state)
{
	expect_errors("{ \"version\": 1,\n  \"sessions\": [ }", 0, 1,
		      "lunclone.json:2:17: JSON syntax", NULL);
	expect_errors("{ \"version\": 1, \"sessions\": [] } x", 0, 1,
		      "lunclone.json:1:34: JSON syntax", NULL);
	/* Blanks after the document are fine; no targets is fine (hydration only). */
	lcd_config_free(expect_valid("{ \"version\": 1, \"sessions\": [] }\n\n", 0));
	expect_errors("{ \"version\": 1, \"sessions\": [] // no comments\n}", 0, 1, "JSON syntax",
		      NULL);
	expect_errors("{ \"version\": 1, \"sessions\": [], 'x': 1 }", 0, 0, "single-quoted key",
		      NULL);
	expect_errors("{ \"version\": NaN, \"sessions\": [] }", 0, 1,
		      "$.version: not a finite number", NULL);
	expect_errors("", 0, 1, "JSON syntax", NULL);
	expect_errors("[]", 0, 1, "$: expected an object, got an array", NULL);
}

static void test_duplicate_key(void **state)
{
	/* json-c would keep the second silently. */
	expect_errors(
	    DOC(SESSION("vol1", "src.img", "dst.img", ", \"name\": \"vol2\""), TARGET("")), 0, 1,
	    "$.sessions[0].name: duplicate key", NULL);
	/* Escapes decoded: "n\u0061me" is "name". */
	expect_errors(
	    DOC(SESSION("vol1", "src.img", "dst.img", ", \"n\\u0061me\": \"vol2\""), TARGET("")), 0,
	    1, "$.sessions[0].name: duplicate key", NULL);
	expect_errors("{ \"version\": 1, \"sessions\": [], \"a b\": 1, \"a b\": 2 }", 0, 1,
		      "$[\"a b\"]: duplicate key", NULL);
}

static void test_unknown_key(void **state)
{
	expect_errors(DOC(SESSION("vol1", "src.img", "dst.img", ", \"destnation\": \"x\""),
			  TARGET(", \"portal\": []")),
		      0, 2, "$.sessions[0].destnation: unknown key (expected one of: name,",
		      "$.targets[0].tpgs[0].portal: unknown key", NULL);
	expect_errors(DOC(SESSION("vol1", "src.img", "dst.img", ", \"hydration\": { \"rate\": 5 }"),
			  TARGET("")),
		      0, 1, "$.sessions[0].hydration.rate: unknown key", NULL);
}

static void test_types_and_ranges(void **state)
{
	expect_errors(
	    DOC(SESSION(
		    "vol1", "src.img", "dst.img",
		    ", \"hydration\": { \"workers\": \"4\", \"batch\": 0, \"max_in_flight\": -1,"
		    " \"yield_to_user_io\": 1, \"yield_window_ms\": 1.5, \"retries\": 3 },"
		    " \"region_size\": \"100K\", \"format\": \"always\", \"direct_io\": null"),
		TARGET("")),
	    0, 0, "$.sessions[0].hydration.workers: expected an integer, got a string",
	    "$.sessions[0].hydration.batch: 0 is out of range (1 to 4294967295)",
	    "$.sessions[0].hydration.max_in_flight: -1 is out of range",
	    "$.sessions[0].hydration.yield_to_user_io: expected true or false, got an integer",
	    "$.sessions[0].hydration.yield_window_ms: expected an integer, got a fractional",
	    "$.sessions[0].hydration.retries: unknown key",
	    "$.sessions[0].region_size: 102400 is not a power of two",
	    "$.sessions[0].format: 'always' is neither",
	    "$.sessions[0].direct_io: expected true or false, got null", NULL);
	expect_errors("{ \"version\": 2, \"sessions\": [] }", 0, 1,
		      "$.version: 2 is not a version this luncloned reads", NULL);
	expect_errors("{ \"version\": 1, \"sessions\": [ { \"name\": \"bad/name\" } ] }", 0, 4,
		      "$.sessions[0].name: 'bad/name': use 1 to 64 letters",
		      "$.sessions[0].source: missing", "$.sessions[0].destination: missing",
		      "$.sessions[0].metadata: missing", NULL);
	expect_errors("{ \"sessions\": [] }", 0, 1, "$.version: missing", NULL);
	expect_errors(DOC(SESSION("vol1", "src.img", "dst.img", ""),
			  "{ \"iqn\": \"iqn.2025-01.com.example:t1\", \"tpgs\": [ { \"tag\": 0, "
			  "\"portals\": [\"192.0.2.1:0\", \"192.0.2.300\", \"::1\"], "
			  "\"open_access\": true, \"luns\": [ { \"lun\": 16384, \"session\": "
			  "\"vol1\" } ] } ] }"),
		      0, 5, "$.targets[0].tpgs[0].tag: 0 is out of range (1 to 65535)",
		      "$.targets[0].tpgs[0].portals[0]: '192.0.2.1:0' is not an IPv4",
		      "$.targets[0].tpgs[0].portals[1]: '192.0.2.300'",
		      "$.targets[0].tpgs[0].portals[2]: '::1'",
		      "$.targets[0].tpgs[0].luns[0].lun: 16384 is out of range (0 to 16383)", NULL);
}

static void test_iqn(void **state)
{
	assert_null(lcd_iqn_problem("iqn.2025-01.com.example:host-1.a:b"));
	assert_null(lcd_iqn_problem("iqn.1993-08.org.debian"));
	assert_null(lcd_iqn_problem("eui.02004567A425678D"));
	assert_null(lcd_iqn_problem("naa.52004567BA64678D"));
	assert_null(lcd_iqn_problem("naa.6001405a1b2c3d4e5f60718293a4b5c6"));
	assert_non_null(lcd_iqn_problem("iqn.2025-13.com.example"));
	assert_non_null(lcd_iqn_problem("iqn.2025-1.com.example"));
	assert_non_null(lcd_iqn_problem("iqn.2025-01."));
	assert_non_null(lcd_iqn_problem("iqn.2025-01.com..example"));
	assert_non_null(lcd_iqn_problem("iqn.2025-01.com.example:"));
	assert_non_null(lcd_iqn_problem("iqn.2025-01.com.example:a b"));
	assert_non_null(lcd_iqn_problem("eui.0200"));
	assert_non_null(lcd_iqn_problem("wwn.0x500"));
	expect_errors(DOC(SESSION("vol1", "src.img", "dst.img", ""),
			  "{ \"iqn\": \"iqn.2025-01.com.Example:t1\", \"tpgs\": [ { \"portals\": "
			  "[\"192.0.2.1\"], \"acls\": [ { \"initiator\": \"host1\" } ] } ] }"),
		      0, 2,
		      "$.targets[0].iqn: 'iqn.2025-01.com.Example:t1' is not an iSCSI name: "
		      "uppercase letter",
		      "$.targets[0].tpgs[0].acls[0].initiator: 'host1' is not an iSCSI name: must "
		      "start with iqn., eui. or naa.",
		      NULL);
}

static void test_portal_canonical(void **state)
{
	char *s = NULL;

	assert_int_equal(lcd_portal_canonical("0.0.0.0", &s), 0);
	assert_string_equal(s, "0.0.0.0:3260");
	free(s);
	assert_int_equal(lcd_portal_canonical("[::]:860", &s), 0);
	assert_string_equal(s, "[::]:860");
	free(s);
	assert_int_equal(lcd_portal_canonical("[fe80:0::1]", &s), 0);
	assert_string_equal(s, "[fe80::1]:3260");
	free(s);
	assert_int_equal(lcd_portal_canonical("192.0.2.1:65536", &s), -EINVAL);
	assert_int_equal(lcd_portal_canonical("192.0.2.1:", &s), -EINVAL);
	assert_int_equal(lcd_portal_canonical("[::1", &s), -EINVAL);
	assert_int_equal(lcd_portal_canonical("host.example:3260", &s), -EINVAL);
}

static void test_cross_keys(void **state)
{
	/* Duplicates of every kind, collected in one run. */
	expect_errors(DOC(SESSION("vol1", "src.img", "dst.img", "") ", " SESSION("vol1", "src.img",
										 "dst2.img", ""),
			  "{ \"iqn\": \"iqn.2025-01.com.example:t1\", \"tpgs\": [ { \"portals\": "
			  "[\"192.0.2.1\", \"192.0.2.1:3260\"], \"luns\": [ { \"lun\": 0, "
			  "\"session\": \"vol1\" }, "
			  "{ \"lun\": 0, \"session\": \"nope\" } ], \"acls\": [ { \"initiator\": "
			  "\"iqn.2025-01.com.example:h\" } ] } ] }"),
		      0, 0, "$.targets[0].tpgs[0].luns[1].session: no session named 'nope'", NULL);
	expect_errors(
	    DOC(SESSION("vol1", "src.img", "dst.img", "") ", " SESSION("vol1", "src.img",
								       "dst2.img", ""),
		"{ \"iqn\": \"iqn.2025-01.com.example:t1\", \"tpgs\": [ { \"portals\": "
		"[\"192.0.2.1\", \"192.0.2.1:3260\"], \"luns\": [ { \"lun\": 0, \"session\": "
		"\"vol1\" }, "
		"{ \"lun\": 0, \"session\": \"vol1\" } ], \"acls\": [ { \"initiator\": "
		"\"iqn.2025-01.com.example:h\", \"mapped_luns\": [ { \"lun\": 0 }, { \"lun\": 7, "
		"\"mapped_lun\": 0 } ] }, { \"initiator\": \"iqn.2025-01.com.example:h\" } ] }, "
		"{ \"tag\": 1, \"portals\": [\"192.0.2.2\"], \"open_access\": true } ] }, "
		"{ \"iqn\": \"iqn.2025-01.com.example:t1\", \"tpgs\": [ { \"portals\": "
		"[\"192.0.2.3\"], "
		"\"open_access\": true } ] }"),
	    0, 8, "$.sessions[1].name: 'vol1' already names $.sessions[0]",
	    "$.targets[0].tpgs[0].portals[1]: 192.0.2.1:3260 is also portals[0]",
	    "$.targets[0].tpgs[0].luns[1].lun: duplicate LUN 0 (also luns[0])",
	    "$.targets[0].tpgs[0].acls[0].mapped_luns[1].lun: the TPG has no LUN 7",
	    "$.targets[0].tpgs[0].acls[0].mapped_luns[1].mapped_lun: duplicate mapped LUN 0",
	    "$.targets[0].tpgs[0].acls[1].initiator: 'iqn.2025-01.com.example:h' already has "
	    "acls[0]",
	    "$.targets[0].tpgs[1].tag: duplicate tag 1 (also tpgs[0])",
	    "$.targets[1].iqn: 'iqn.2025-01.com.example:t1' is also $.targets[0]", NULL);
	/* Hydration settings against each other (the handler's rules). */
	expect_errors(DOC(SESSION("vol1", "src.img", "dst.img",
				  ", \"hydration\": { \"batch\": 100, \"max_in_flight\": 50, "
				  "\"rate_limit_mibps\": 2, \"min_rate_mibps\": 8 }"),
			  TARGET("")),
		      0, 2, "$.sessions[0].hydration.batch: 100 is above max_in_flight (50)",
		      "$.sessions[0].hydration.min_rate_mibps: 8 is above rate_limit_mibps (2)",
		      NULL);
	/* A rate limit below the default min_rate alone is fine: the library caps
	 * the floor at the limit (the handler accepts it too). */
	lcd_config_free(expect_valid(DOC(SESSION("vol1", "src.img", "dst.img",
						 ", \"hydration\": { \"rate_limit_mibps\": 1 }"),
					 TARGET("")),
				     0));
	expect_errors(
	    DOC(SESSION("vol1", "src.img", "dst.img",
			", \"region_size\": \"1G\", \"hydration\": { \"min_rate_mibps\": 0 }"),
		TARGET("")),
	    0, 2, "$.sessions[0].hydration.min_rate_mibps: must be above 0",
	    "$.sessions[0].hydration.batch: 16 regions of 1073741824 bytes exceed", NULL);
	expect_errors(DOC(SESSION("vol1", "src.img", "src.img", ""), TARGET("")), 0, 1,
		      "$.sessions[0].destination: same as source", NULL);
	expect_errors(DOC("{ \"name\": \"vol1\", \"source\": \"@D@/src.img\", \"destination\": "
			  "\"@D@/a;b\", \"metadata\": \"@D@/m \" }",
			  TARGET("")),
		      0, 2, "$.sessions[0].destination: contains ';'",
		      "$.sessions[0].metadata: contains ';'", NULL);
	/* Nobody could log in. */
	expect_errors(DOC(SESSION("vol1", "src.img", "dst.img", ""),
			  "{ \"iqn\": \"iqn.2025-01.com.example:t1\", \"tpgs\": [ { \"portals\": "
			  "[], \"open_write_protect\": true } ] }"),
		      0, 3, "$.targets[0].tpgs[0].portals: empty",
		      "$.targets[0].tpgs[0].open_write_protect: only meaningful with open_access",
		      "$.targets[0].tpgs[0].acls: no ACLs and open_access is false", NULL);
}

static void test_chap(void **state)
{
	/* CHAP is per TPG in LIO: all ACLs or none. */
	expect_errors(
	    DOC(SESSION("vol1", "src.img", "dst.img", ""),
		"{ \"iqn\": \"iqn.2025-01.com.example:t1\", \"tpgs\": [ { \"portals\": "
		"[\"192.0.2.1\"], \"acls\": [ { \"initiator\": \"iqn.2025-01.com.example:a\","
		" \"chap\": { \"credential\": \"host1\" } }, { \"initiator\": "
		"\"iqn.2025-01.com.example:b\" } ] } ] }"),
	    0, 1, "$.targets[0].tpgs[0].acls[1]: no chap, but another ACL", NULL);
	/* References into the secrets file. */
	expect_errors(
	    DOC(SESSION("vol1", "src.img", "dst.img", ""),
		"{ \"iqn\": \"iqn.2025-01.com.example:t1\", \"tpgs\": [ { \"portals\": "
		"[\"192.0.2.1\"], \"acls\": [ { \"initiator\": \"iqn.2025-01.com.example:a\","
		" \"chap\": { \"credential\": \"nobody\" } }, { \"initiator\": "
		"\"iqn.2025-01.com.example:b\", \"chap\": { \"credential\": \"host1\", "
		"\"mutual\": true } }, { \"initiator\": \"iqn.2025-01.com.example:c\", "
		"\"chap\": { \"credential\": \"host2\" } } ] } ] }"),
	    0, 3, "$.targets[0].tpgs[0].acls[0].chap.credential: no credential 'nobody'",
	    "acls[1].chap.credential: credential 'host1' has no mutual_userid",
	    "acls[2].chap.credential: credential 'host2' has mutual secrets, but mutual is "
	    "false",
	    NULL);
}

#define CHAP_DOC                                                                                   \
	DOC(SESSION("vol1", "src.img", "dst.img", ""),                                             \
	    "{ \"iqn\": \"iqn.2025-01.com.example:t1\", \"tpgs\": [ { \"portals\": "               \
	    "[\"192.0.2.1\"], \"acls\": [ { \"initiator\": \"iqn.2025-01.com.example:a\", "        \
	    "\"chap\": { \"credential\": \"host1\" } } ] } ] }")

static void test_secrets_file(void **state)
{
	struct lcd_config *cfg;

	cfg = expect_valid(CHAP_DOC, 0);
	lcd_config_free(cfg);
	/* Readable by others: refused, whatever it holds. */
	write_file("secrets.json", good_secrets, 0644);
	expect_errors(CHAP_DOC, 0, 1, "secrets.json: mode 0644 lets group or others read it", NULL);
	write_file("secrets.json",
		   "{ \"credentials\": { \"host1\": { \"userid\": \"host1\", \"password\": "
		   "\"short-pw\", \"extra\": 1 }, \"host3\": { \"userid\": \"a b\", "
		   "\"password\": \"0123456789abcdef\", \"mutual_userid\": \"x\" } } }",
		   0600);
	expect_errors(CHAP_DOC, 0, 3, "$.credentials.host1.password: shorter than 12 characters",
		      "$.credentials.host1.extra: unknown key",
		      "$.credentials.host3.userid: must be 1 to 255 printable ASCII", NULL);
	write_file("secrets.json",
		   "{ \"credentials\": { \"host1\": { \"userid\": \"host1\", \"password\": "
		   "\"0123456789abcdef\", \"mutual_userid\": \"t\" } } }",
		   0600);
	expect_errors(CHAP_DOC, 0, 1,
		      "$.credentials.host1: mutual_userid and mutual_password go together", NULL);
	/* The secret itself is never quoted. */
	{
		struct lcd_errors errs = {0};

		assert_int_equal(load(CHAP_DOC, 0, &cfg, &errs), -EINVAL);
		assert_false(lcd_errors_contain(&errs, "short-pw"));
		lcd_errors_clear(&errs);
	}
	write_file("secrets.json",
		   "{ \"credentials\": { \"host1\": { \"userid\": \"host1\", \"password\": "
		   "\"0123456789abcdef\", \"mutual_userid\": \"t\", \"mutual_password\": "
		   "\"0123456789abcdef\" } } }",
		   0600);
	expect_errors(CHAP_DOC, 0, 1, "$.credentials.host1.mutual_password: same as password",
		      NULL);
	write_file("secrets.json", "{ \"credentials\": {}, \"credentials\": {} }", 0600);
	expect_errors(CHAP_DOC, 0, 0, "$.credentials: duplicate key", NULL);
	(void)unlink(write_file("secrets.json", "", 0600));
	expect_errors(CHAP_DOC, 0, 1, "secrets.json: cannot open: No such file or directory", NULL);
	/* Without CHAP the secrets file is not read at all. */
	cfg = expect_valid(BASE, 0);
	lcd_config_free(cfg);
	write_file("secrets.json", good_secrets, 0600);
}

static void test_host(void **state)
{
	char src_link[256], path[256];

	/* Missing files; a metadata file may be created, but not in a missing directory. */
	expect_errors(DOC("{ \"name\": \"vol1\", \"source\": \"@D@/nope.img\", \"destination\": "
			  "\"@D@/dst.img\", \"metadata\": \"@D@/nodir/m\" }",
			  TARGET("")),
		      0, 0, "$.sessions[0].source: '", "nope.img': No such file or directory",
		      "$.sessions[0].metadata: '", "nodir/m': its directory does not exist", NULL);
	expect_errors(
	    DOC(SESSION("vol1", "src.img", "dst.img", ", \"format\": \"never\""), TARGET("")), 0, 1,
	    "$.sessions[0].metadata: '", "does not exist and format is \"never\"", NULL);
	/* 1 MiB + 512 bytes is no whole number of 4 KiB blocks; 1000 is no size. */
	make_sized("odd.img", (1 << 20) + 512);
	expect_errors(
	    DOC(SESSION("vol1", "odd.img", "dst2.img", ", \"block_size\": 4096"), TARGET("")), 0, 1,
	    "$.sessions[0].block_size: the source's 1049088 bytes are not a whole "
	    "number of 4096-byte blocks",
	    NULL);
	expect_errors(
	    DOC(SESSION("vol1", "src.img", "dst.img", ", \"block_size\": 1000"), TARGET("")), 0, 1,
	    "$.sessions[0].block_size: 1000 is not 512, 1024, 2048 or 4096", NULL);
	expect_errors(DOC(SESSION("vol1", "src.img", "small.img", ""), TARGET("")), 0, 1,
		      "$.sessions[0].destination: smaller than the source (524288 < 1048576 bytes)",
		      NULL);
	/* The same file under another name is the same storage. */
	(void)snprintf(src_link, sizeof(src_link), "%s/dst-link.img", tmpdir);
	(void)snprintf(path, sizeof(path), "%s/dst.img", tmpdir);
	(void)unlink(src_link);
	assert_int_equal(symlink(path, src_link), 0);
	expect_errors(DOC(SESSION("vol1", "src.img", "dst.img",
				  "") ", " SESSION("vol2", "src.img", "dst-link.img", ""),
			  TARGET("")),
		      0, 1, "$.sessions[1].destination: overlaps $.sessions[0].destination", NULL);
	/* A destination that is another session's source, a shared metadata file. */
	expect_errors(
	    DOC(SESSION("vol1", "src.img", "dst.img",
			"") ", "
			    "{ \"name\": \"vol2\", \"source\": \"@D@/dst.img\", \"destination\": "
			    "\"@D@/dst2.img\", \"metadata\": \"@D@/meta/../meta/vol1.meta\" }",
		TARGET("")),
	    0, 2, "$.sessions[1].source: overlaps $.sessions[0].destination",
	    "$.sessions[1].metadata: overlaps $.sessions[0].metadata", NULL);
	/* A golden image: one source, many clones. */
	lcd_config_free(expect_valid(DOC(SESSION("vol1", "src.img", "dst.img", "") ", " SESSION(
					     "vol2", "src.img", "dst2.img", ""),
					 TARGET("")),
				     0));
	/* Host checks are skipped on request. */
	lcd_config_free(expect_valid(DOC(SESSION("vol1", "nope.img", "dst.img", ""), TARGET("")),
				     LCD_LOAD_NO_HOST));
}

static void test_iscsi_source(void **state)
{
	struct lcd_config *cfg;

	cfg = expect_valid(DOC("{ \"name\": \"vol1\", \"source\": "
			       "\"iscsi://192.0.2.9/iqn.2001-05.com.array:vol/0?timeout=10\", "
			       "\"destination\": \"@D@/dst.img\", \"metadata\": \"@D@/meta/m\" }",
			       TARGET("")),
			   0);
	assert_int_equal(cfg->sessions[0].source_size_bytes, 1 << 20);
	lcd_config_free(cfg);
	expect_errors(DOC("{ \"name\": \"vol1\", \"source\": "
			  "\"iscsi://u%secret@192.0.2.9/iqn.2001-05.com.array:vol/0\", "
			  "\"destination\": \"@D@/dst.img\", \"metadata\": \"@D@/meta/m\" }",
			  TARGET("")),
		      0, 1, "$.sessions[0].source: the URL holds a password", NULL);
	expect_errors(DOC("{ \"name\": \"vol1\", \"source\": "
			  "\"iscsi://192.0.2.9/iqn.2001-05.com.array:vol/0?bogus=1\", "
			  "\"destination\": \"@D@/dst.img\", \"metadata\": \"@D@/meta/m\" }",
			  TARGET("")),
		      0, 1, "$.sessions[0].source: ", NULL);
	expect_errors(DOC("{ \"name\": \"vol1\", \"source\": "
			  "\"iscsi://unreachable/iqn.2001-05.com.array:vol/0\", "
			  "\"destination\": \"@D@/small.img\", \"metadata\": \"@D@/meta/m\" }",
			  TARGET("")),
		      0, 1,
		      "$.sessions[0].source: cannot read the size of the iSCSI source: connection "
		      "refused",
		      NULL);
	expect_errors(DOC("{ \"name\": \"vol1\", \"source\": "
			  "\"iscsi://192.0.2.9/iqn.2001-05.com.array:vol/0\", "
			  "\"destination\": \"@D@/small.img\", \"metadata\": \"@D@/meta/m\" }",
			  TARGET("")),
		      0, 1, "$.sessions[0].destination: smaller than the source", NULL);
}

/* Many independent problems: each is reported, not only the first. */
static void test_collects_all(void **state)
{
	expect_errors("{ \"version\": 1, \"bogus\": true, \"sessions\": [ { \"name\": 5, "
		      "\"source\": \"relative\", \"destination\": \"/d\", \"metadata\": \"/m\", "
		      "\"hydration\": { \"workers\": 1000 } } ], \"targets\": [ { \"iqn\": \"x\", "
		      "\"tpgs\": [] } ] }",
		      0, 6, "$.bogus: unknown key", "$.sessions[0].name: expected a string",
		      "$.sessions[0].source: 'relative' is neither",
		      "$.sessions[0].hydration.workers: 1000 is out of range",
		      "$.targets[0].iqn: 'x' is not an iSCSI name", "$.targets[0].tpgs: empty",
		      NULL);
}

static void test_examples(void **state)
{
	static const char *const examples[] = {"single-lun-migration.json", "golden-image.json"};
	char path[512];

	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		struct lcd_config *cfg = NULL;
		struct lcd_errors errs = {0};
		int r;

		(void)snprintf(path, sizeof(path), "%s/%s", LCD_TEST_CONFIG_DIR, examples[i]);
		/* Their devices and secrets are the admin's: passes 1 to 3 only. */
		r = lcd_config_load(path, &probe, LCD_LOAD_NO_HOST, &cfg, &errs);
		if (r != 0) {
			lcd_errors_print(&errs, stderr);
			fail_msg("%s: %d", path, r);
		}
		assert_true(cfg->nr_sessions >= 1);
		lcd_config_free(cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),	 cmocka_unit_test(test_defaults_inherited),
	    cmocka_unit_test(test_syntax),	 cmocka_unit_test(test_duplicate_key),
	    cmocka_unit_test(test_unknown_key),	 cmocka_unit_test(test_types_and_ranges),
	    cmocka_unit_test(test_iqn),		 cmocka_unit_test(test_portal_canonical),
	    cmocka_unit_test(test_cross_keys),	 cmocka_unit_test(test_chap),
	    cmocka_unit_test(test_secrets_file), cmocka_unit_test(test_host),
	    cmocka_unit_test(test_iscsi_source), cmocka_unit_test(test_collects_all),
	    cmocka_unit_test(test_examples),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
