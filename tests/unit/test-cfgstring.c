/* SPDX-License-Identifier: MIT */
/*
 * Unit test of handler/cfgstring.c: the accepted forms (inline, with and
 * without the "clone/" prefix, @file with comments and newlines), every key's
 * value and range, and each class of error with the message a targetcli user
 * would see: unknown key, duplicate, missing required, bad number, out of
 * range, too long, kernel separators, @file missing/unreadable/bad content,
 * keys contradicting each other. *ret_cfg is untouched on failure.
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

#include <lunclone/err.h>
#include <lunclone/meta.h>

#include "cfgstring.h"

#define BASE "src=/dev/sdb;dst=/dev/sdc;meta=/var/lib/lunclone/vol1.meta"

/* A scratch directory for @files, removed at the end. */
static char tmpdir[] = "/tmp/test-cfgstring.XXXXXX";

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[64];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes text into tmpdir/name (mode), returns the path (static buffer). */
static const char *write_file(const char *name, const char *text, mode_t mode)
{
	static char path[256];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
	return path;
}

static void parse_ok(const char *s, struct hc_cfg *ret_cfg)
{
	struct lc_err err = {.msg = ""};
	int r = hc_cfg_parse(s, ret_cfg, &err);

	if (r != 0)
		fail_msg("hc_cfg_parse(\"%s\") = %d (%s), expected success", s, r, err.msg);
}

/* Expects failure r with a message containing want; *ret_cfg untouched. */
static void parse_fails(const char *s, int r_want, const char *want)
{
	struct lc_err err = {.msg = ""};
	struct hc_cfg cfg;
	int r;

	memset(&cfg, 0xa5, sizeof(cfg));
	r = hc_cfg_parse(s, &cfg, &err);
	if (r != r_want)
		fail_msg("hc_cfg_parse(\"%s\") = %d (%s), expected %d", s ? s : "(null)", r,
			 err.msg, r_want);
	if (!strstr(err.msg, want))
		fail_msg("hc_cfg_parse(\"%s\"): message \"%s\" lacks \"%s\"", s ? s : "(null)",
			 err.msg, want);
	for (size_t i = 0; i < sizeof(cfg); i++)
		if (((unsigned char *)&cfg)[i] != 0xa5)
			fail_msg("hc_cfg_parse(\"%s\") touched *ret_cfg on failure", s);
}

static void test_minimal(void **state)
{
	struct lc_clone_config def;
	struct hc_cfg cfg;

	lc_clone_config_default(&def);
	parse_ok(BASE, &cfg);
	assert_string_equal(cfg.src, "/dev/sdb");
	assert_string_equal(cfg.dst, "/dev/sdc");
	assert_string_equal(cfg.meta, "/var/lib/lunclone/vol1.meta");
	assert_string_equal(cfg.name, "");
	assert_int_equal(cfg.region_size_bytes, 0);
	assert_int_equal(cfg.format, HC_CFG_FORMAT_AUTO);
	assert_false(cfg.direct);
	/* Field by field: the struct has padding. */
	assert_int_equal(cfg.clone.nr_workers, def.nr_workers);
	assert_int_equal(cfg.clone.batch_regions, def.batch_regions);
	assert_int_equal(cfg.clone.max_inflight_regions, def.max_inflight_regions);
	assert_int_equal(cfg.clone.rate_limit_bytes, def.rate_limit_bytes);
	assert_int_equal(cfg.clone.min_rate_bytes, def.min_rate_bytes);
	assert_int_equal(cfg.clone.yield_to_user_io, def.yield_to_user_io);
	assert_int_equal(cfg.clone.copy_on_read, def.copy_on_read);
	assert_int_equal(cfg.clone.start_paused, def.start_paused);
	assert_int_equal(cfg.clone.commit_interval_ms, def.commit_interval_ms);
	assert_int_equal(cfg.clone.source_retries, def.source_retries);
	assert_int_equal(cfg.clone.retry_delay_ms, def.retry_delay_ms);
	hc_cfg_clear(&cfg);
	hc_cfg_clear(&cfg); /* twice: harmless */

	/* The prefix tcmu-runner passes, order of keys free, trailing ';'. */
	parse_ok("clone/meta=/m;dst=/d;src=/s;", &cfg);
	assert_string_equal(cfg.src, "/s");
	assert_string_equal(cfg.dst, "/d");
	assert_string_equal(cfg.meta, "/m");
	hc_cfg_clear(&cfg);

	/* Values may hold '=' and '/': only the first '=' splits. */
	parse_ok("src=/a=b;dst=/d;meta=/m", &cfg);
	assert_string_equal(cfg.src, "/a=b");
	hc_cfg_clear(&cfg);
}

static void test_all_keys(void **state)
{
	struct hc_cfg cfg;

	parse_ok("clone/" BASE ";name=vol-1.a_b;region_size=1M;format=never;workers=4;batch=8;"
		 "max_inflight=32;rate=100;min_rate=10;yield=off;copy_on_read=on;paused=on;"
		 "commit_interval=250;retries=0;retry_delay=5;direct=on",
		 &cfg);
	assert_string_equal(cfg.name, "vol-1.a_b");
	assert_int_equal(cfg.region_size_bytes, 1u << 20);
	assert_int_equal(cfg.format, HC_CFG_FORMAT_NEVER);
	assert_int_equal(cfg.clone.nr_workers, 4);
	assert_int_equal(cfg.clone.batch_regions, 8);
	assert_int_equal(cfg.clone.max_inflight_regions, 32);
	assert_int_equal(cfg.clone.rate_limit_bytes, 100ull << 20);
	assert_int_equal(cfg.clone.min_rate_bytes, 10ull << 20);
	assert_false(cfg.clone.yield_to_user_io);
	assert_true(cfg.clone.copy_on_read);
	assert_true(cfg.clone.start_paused);
	assert_int_equal(cfg.clone.commit_interval_ms, 250);
	assert_int_equal(cfg.clone.source_retries, 0);
	assert_int_equal(cfg.clone.retry_delay_ms, 5);
	assert_true(cfg.direct);
	hc_cfg_clear(&cfg);

	parse_ok(BASE ";yield_window=250", &cfg);
	assert_int_equal(cfg.clone.yield_window_ms, 250);
	hc_cfg_clear(&cfg);

	/* Boundaries that pass. */
	parse_ok(BASE ";workers=0;rate=0;region_size=512;commit_interval=0", &cfg);
	assert_int_equal(cfg.clone.nr_workers, 0);
	assert_int_equal(cfg.clone.rate_limit_bytes, 0);
	assert_int_equal(cfg.region_size_bytes, 512);
	hc_cfg_clear(&cfg);
	parse_ok(BASE ";workers=256;region_size=1G;commit_interval=3600000;retries=100", &cfg);
	assert_int_equal(cfg.clone.nr_workers, 256);
	assert_int_equal(cfg.region_size_bytes, 1u << 30);
	hc_cfg_clear(&cfg);
	parse_ok(BASE ";yield=off;min_rate=0;format=auto;paused=off;direct=off", &cfg);
	assert_int_equal(cfg.clone.min_rate_bytes, 0);
	assert_int_equal(cfg.format, HC_CFG_FORMAT_AUTO);
	hc_cfg_clear(&cfg);
	/* Largest rate that fits in bytes per second. */
	parse_ok(BASE ";rate=17592186044415", &cfg);
	assert_int_equal(cfg.clone.rate_limit_bytes, 17592186044415ull << 20);
	hc_cfg_clear(&cfg);
}

static void test_unknown_key(void **state)
{
	parse_fails(BASE ";bogus=1", -EINVAL, "'bogus': unknown key");
	parse_fails(BASE ";Rate=1", -EINVAL, "'Rate': unknown key");
	parse_fails(BASE "; rate=1", -EINVAL, "' rate': unknown key"); /* inline: no trimming */
	parse_fails("file/" BASE, -EINVAL, "'file/src': unknown key"); /* another subtype */
	parse_fails(BASE ";rate", -EINVAL, "'rate': not a key=value item");
	parse_fails(BASE ";=5", -EINVAL, "empty key");
}

static void test_duplicate(void **state)
{
	parse_fails(BASE ";src=/dev/sdd", -EINVAL, "src: given twice");
	parse_fails(BASE ";rate=1;rate=1", -EINVAL, "rate: given twice");
	/* Duplicate even when the first value was bad? The first error wins. */
	parse_fails(BASE ";rate=x;rate=1", -EINVAL, "rate: 'x'");
}

static void test_missing_required(void **state)
{
	parse_fails("dst=/d;meta=/m", -EINVAL, "src: missing");
	parse_fails("src=/s;meta=/m", -EINVAL, "dst: missing");
	parse_fails("src=/s;dst=/d", -EINVAL, "meta: missing");
	parse_fails("clone/", -EINVAL, "src: missing");
	parse_fails(";;;", -EINVAL, "src: missing");
	parse_fails("", -EINVAL, "empty cfgstring");
	parse_fails(NULL, -EINVAL, "empty cfgstring");
	parse_fails(BASE ";name=", -EINVAL, "name: empty value");
	parse_fails("src=;dst=/d;meta=/m", -EINVAL, "src: empty value");
}

static void test_bad_values(void **state)
{
	parse_fails(BASE ";rate=abc", -EINVAL, "rate: 'abc' is not a whole number of MiB/s");
	parse_fails(BASE ";rate=-1", -EINVAL, "rate: '-1' is out of range");
	parse_fails(BASE ";rate=1.5", -EINVAL, "rate: '1.5' is not");
	parse_fails(BASE ";rate=17592186044416", -EINVAL, "out of range");
	parse_fails(BASE ";rate=99999999999999999999", -EINVAL, "out of range");
	parse_fails(BASE ";workers=257", -EINVAL, "workers: '257' is out of range (0 to 256)");
	parse_fails(BASE ";workers= 2", -EINVAL, "workers: ' 2' is not");
	parse_fails(BASE ";workers=0x2", -EINVAL, "workers: '0x2' is not");
	parse_fails(BASE ";batch=0", -EINVAL, "batch: '0' is out of range");
	parse_fails(BASE ";max_inflight=0", -EINVAL, "max_inflight: '0' is out of range");
	parse_fails(BASE ";max_inflight=4294967296", -EINVAL, "max_inflight:");
	parse_fails(BASE ";commit_interval=3600001", -EINVAL, "commit_interval:");
	parse_fails(BASE ";yield_window=60001", -EINVAL, "yield_window:");
	parse_fails(BASE ";retries=101", -EINVAL, "retries:");
	parse_fails(BASE ";retry_delay=60001", -EINVAL, "retry_delay:");
	parse_fails(BASE ";region_size=4000", -EINVAL, "region_size: '4000' is not a power of two");
	parse_fails(BASE ";region_size=256", -EINVAL, "region_size:");
	parse_fails(BASE ";region_size=2G", -EINVAL, "region_size:");
	parse_fails(BASE ";region_size=64KB", -EINVAL, "region_size:");
	parse_fails(BASE ";yield=yes", -EINVAL, "yield: 'yes' is neither 'on' nor 'off'");
	parse_fails(BASE ";copy_on_read=1", -EINVAL, "copy_on_read:");
	parse_fails(BASE ";paused=ON", -EINVAL, "paused:");
	parse_fails(BASE ";direct=true", -EINVAL, "direct:");
	parse_fails(BASE ";format=always", -EINVAL, "format: 'always' is neither");
	parse_fails(BASE ";name=a/b", -EINVAL, "name: 'a/b' has characters");
	parse_fails(BASE ";name=.hidden", -EINVAL, "name: '.hidden' starts with '.'");
	parse_fails(BASE ";name=a b", -EINVAL, "name:");
	parse_fails(BASE ";name=0123456789012345678901234567890123456789012345678901234567890123"
			 "4",
		    -EINVAL, "name: longer than 64");
}

static void test_cross_checks(void **state)
{
	parse_fails("src=/x;dst=/x;meta=/m", -EINVAL, "dst: same as src");
	parse_fails("src=/x;dst=/d;meta=/x", -EINVAL, "meta: same as src");
	parse_fails("src=/s;dst=/x;meta=/x", -EINVAL, "meta: same as dst");
	parse_fails(BASE ";min_rate=0", -EINVAL, "min_rate: must be above 0 with yield=on");
	parse_fails(BASE ";rate=5;min_rate=10", -EINVAL, "min_rate: above rate (10 > 5 MiB/s)");
	parse_fails(BASE ";batch=64;max_inflight=8", -EINVAL, "batch: above max_inflight");
}

static void test_kernel_limits(void **state)
{
	char s[HC_CFG_INLINE_MAX + 16];
	struct hc_cfg cfg;
	size_t len;

	/* 255 bytes in all (with "clone/") pass, 256 do not. */
	len = HC_CFG_INLINE_MAX - 1;
	(void)snprintf(s, sizeof(s), "clone/src=/%0*d;dst=/d;meta=/m",
		       (int)(len - strlen("clone/src=/;dst=/d;meta=/m")), 0);
	assert_int_equal(strlen(s), len);
	parse_ok(s, &cfg);
	hc_cfg_clear(&cfg);
	(void)snprintf(s, sizeof(s), "clone/src=/%0*d;dst=/d;meta=/m",
		       (int)(len + 1 - strlen("clone/src=/;dst=/d;meta=/m")), 0);
	parse_fails(s, -EINVAL, "cfgstring too long: 256 bytes");
	parse_fails(s, -EINVAL, "@/path/to/file");

	parse_fails(BASE ",rate=1", -EINVAL, "contains ',' or a newline");
	parse_fails(BASE "\nrate=1", -EINVAL, "contains ',' or a newline");
}

static void test_file(void **state)
{
	char s[300];
	struct hc_cfg cfg;
	const char *path;

	path = write_file("ok.conf",
			  "# vol1: a long source path that would not fit inline\n"
			  "src=/dev/disk/by-id/scsi-360014051234567890abcdef01234567890\n"
			  "   dst=/dev/sdc   \r\n"
			  "\n"
			  "meta=/var/lib/lunclone/vol1.meta;rate=50\n"
			  "\t# indented comment\n"
			  "name=vol1",
			  0600);
	(void)snprintf(s, sizeof(s), "clone/@%s", path);
	parse_ok(s, &cfg);
	assert_string_equal(cfg.src, "/dev/disk/by-id/scsi-360014051234567890abcdef01234567890");
	assert_string_equal(cfg.dst, "/dev/sdc");
	assert_string_equal(cfg.meta, "/var/lib/lunclone/vol1.meta");
	assert_string_equal(cfg.name, "vol1");
	assert_int_equal(cfg.clone.rate_limit_bytes, 50ull << 20);
	hc_cfg_clear(&cfg);

	/* One line, same grammar as inline; without the prefix. */
	path = write_file("one.conf", BASE "\n", 0600);
	(void)snprintf(s, sizeof(s), "@%s", path);
	parse_ok(s, &cfg);
	hc_cfg_clear(&cfg);

	/* A file may hold more than the kernel's 256 bytes. */
	{
		char big[1024];

		(void)snprintf(big, sizeof(big), "src=/%0600d\ndst=/d\nmeta=/m\n", 0);
		path = write_file("big.conf", big, 0600);
		(void)snprintf(s, sizeof(s), "@%s", path);
		parse_ok(s, &cfg);
		assert_int_equal(strlen(cfg.src), 601);
		hc_cfg_clear(&cfg);
	}
}

static void test_file_errors(void **state)
{
	char s[300], big[HC_CFG_FILE_MAX + 2];
	const char *path;

	parse_fails("@relative/path", -EINVAL, "not an absolute path");
	parse_fails("@", -EINVAL, "not an absolute path");
	(void)snprintf(s, sizeof(s), "clone/@%s/missing.conf", tmpdir);
	parse_fails(s, -ENOENT, "No such file or directory");
	(void)snprintf(s, sizeof(s), "@%s", tmpdir);
	parse_fails(s, -EINVAL, "not a regular file");

	if (geteuid() != 0) { /* root reads anything */
		path = write_file("secret.conf", BASE, 0000);
		(void)snprintf(s, sizeof(s), "@%s", path);
		parse_fails(s, -EACCES, "Permission denied");
	}

	/* Bad content: the message names the file, then the problem. */
	path = write_file("bad.conf", BASE "\nrate=fast\n", 0600);
	(void)snprintf(s, sizeof(s), "@%s", path);
	parse_fails(s, -EINVAL, "bad.conf: rate: 'fast' is not");
	path = write_file("dup.conf", BASE "\nsrc=/x\n", 0600);
	(void)snprintf(s, sizeof(s), "@%s", path);
	parse_fails(s, -EINVAL, "dup.conf: src: given twice");
	path = write_file("nested.conf", "@/etc/other.conf\n", 0600);
	(void)snprintf(s, sizeof(s), "@%s", path);
	parse_fails(s, -EINVAL, "a file cannot name another");
	path = write_file("missing.conf", "src=/s\ndst=/d\n", 0600);
	(void)snprintf(s, sizeof(s), "@%s", path);
	parse_fails(s, -EINVAL, "meta: missing");
	path = write_file("empty.conf", "", 0600);
	(void)snprintf(s, sizeof(s), "@%s", path);
	parse_fails(s, -EINVAL, "src: missing");
	path = write_file("spaces.conf", "src = /s\n", 0600);
	(void)snprintf(s, sizeof(s), "@%s", path);
	parse_fails(s, -EINVAL, "'src ': unknown key");

	/* Too large: one byte over the limit. */
	memset(big, '#', HC_CFG_FILE_MAX + 1);
	big[HC_CFG_FILE_MAX + 1] = '\0';
	path = write_file("huge.conf", big, 0600);
	(void)snprintf(s, sizeof(s), "@%s", path);
	parse_fails(s, -EINVAL, "larger than 65536 bytes");
	big[HC_CFG_FILE_MAX] = '\0'; /* exactly the limit: only a comment, so src missing */
	path = write_file("limit.conf", big, 0600);
	(void)snprintf(s, sizeof(s), "@%s", path);
	parse_fails(s, -EINVAL, "src: missing");

	/* A NUL byte would hide everything after it. */
	{
		char p[256];
		int fd;

		(void)snprintf(p, sizeof(p), "%s/nul.conf", tmpdir);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, BASE "\0rate=x", sizeof(BASE "\0rate=x") - 1),
				 (ssize_t)(sizeof(BASE "\0rate=x") - 1));
		assert_int_equal(close(fd), 0);
		(void)snprintf(s, sizeof(s), "@%s", p);
		parse_fails(s, -EINVAL, "contains a NUL byte");
	}

	/* Inline items after an @file are not merged: it is the whole string. */
	parse_fails("src=/s;@/etc/x", -EINVAL, "@file must be the whole cfgstring");
}

static void test_null_err(void **state)
{
	struct hc_cfg cfg;
	char s[300];

	/* err is optional, also on the @file path that wraps messages. */
	assert_int_equal(hc_cfg_parse(BASE ";bogus=1", &cfg, NULL), -EINVAL);
	(void)snprintf(s, sizeof(s), "@%s", write_file("bad2.conf", "x=1", 0600));
	assert_int_equal(hc_cfg_parse(s, &cfg, NULL), -EINVAL);
	assert_int_equal(hc_cfg_parse(BASE, &cfg, NULL), 0);
	hc_cfg_clear(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal),
	    cmocka_unit_test(test_all_keys),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_duplicate),
	    cmocka_unit_test(test_missing_required),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_cross_checks),
	    cmocka_unit_test(test_kernel_limits),
	    cmocka_unit_test(test_file),
	    cmocka_unit_test(test_file_errors),
	    cmocka_unit_test(test_null_err),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
