/* SPDX-License-Identifier: MIT */
/*
 * Unit test of lib/util/iscsi_url.c: our query keys taken out and checked,
 * libiscsi's passed on, every password redacted, and the secret file's
 * format and permission rules. No network: libiscsi is not involved.
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

#include "util/iscsi_url.h"

static void test_plain(void **state)
{
	struct lc_iscsi_url u;
	struct lc_err err = {""};

	(void)state;
	assert_int_equal(lc_iscsi_url_parse("iscsi://10.0.0.1:3261/iqn.2026-11.t:src/1", &u, &err),
			 0);
	assert_string_equal(u.libiscsi_url, "iscsi://10.0.0.1:3261/iqn.2026-11.t:src/1");
	assert_string_equal(u.redacted, "iscsi://10.0.0.1:3261/iqn.2026-11.t:src/1");
	assert_null(u.url_user);
	assert_false(u.url_has_password);
	assert_int_equal(u.timeout_s, LC_ISCSI_TIMEOUT_DEFAULT);
	assert_null(u.secret_file);
	lc_iscsi_url_free(&u);
	lc_iscsi_url_free(&u); /* zeroed: safe again */
}

static void test_password_redacted(void **state)
{
	struct lc_iscsi_url u;

	(void)state;
	assert_int_equal(
	    lc_iscsi_url_parse("iscsi://alice%s3cr3t@h/iqn.x:y/1?target_user=t&target_password=tpw",
			       &u, NULL),
	    0);
	/* libiscsi gets it all; messages get nothing secret. */
	assert_string_equal(u.libiscsi_url,
			    "iscsi://alice%s3cr3t@h/iqn.x:y/1?target_user=t&target_password=tpw");
	assert_string_equal(u.redacted,
			    "iscsi://alice%***@h/iqn.x:y/1?target_user=t&target_password=***");
	assert_null(strstr(u.redacted, "s3cr3t"));
	assert_null(strstr(u.redacted, "tpw"));
	assert_string_equal(u.url_user, "alice");
	assert_true(u.url_has_password);
	lc_iscsi_url_free(&u);

	/* ':' separates the password too (libiscsi accepts both). */
	assert_int_equal(lc_iscsi_url_parse("iscsi://bob:pw@h/iqn.x:y/0", &u, NULL), 0);
	assert_string_equal(u.redacted, "iscsi://bob%***@h/iqn.x:y/0");
	assert_string_equal(u.url_user, "bob");
	lc_iscsi_url_free(&u);

	/* A user alone has no password to hide. */
	assert_int_equal(lc_iscsi_url_parse("iscsi://carol@h/iqn.x:y/0", &u, NULL), 0);
	assert_string_equal(u.redacted, "iscsi://carol@h/iqn.x:y/0");
	assert_false(u.url_has_password);
	lc_iscsi_url_free(&u);
}

static void test_our_keys_taken_out(void **state)
{
	struct lc_iscsi_url u;

	(void)state;
	assert_int_equal(lc_iscsi_url_parse("iscsi://h/iqn.x:y/1?timeout=5&header_digest=crc32c&"
					    "secret_file=/etc/lunclone/chap",
					    &u, NULL),
			 0);
	assert_string_equal(u.libiscsi_url, "iscsi://h/iqn.x:y/1?header_digest=crc32c");
	assert_int_equal(u.timeout_s, 5);
	assert_string_equal(u.secret_file, "/etc/lunclone/chap");
	lc_iscsi_url_free(&u);

	assert_int_equal(lc_iscsi_url_parse("iscsi://h/iqn.x:y/1?timeout=3600", &u, NULL), 0);
	assert_string_equal(u.libiscsi_url, "iscsi://h/iqn.x:y/1");
	assert_int_equal(u.timeout_s, 3600);
	lc_iscsi_url_free(&u);
}

static void expect_bad(const char *uri, int r, const char *needle)
{
	struct lc_iscsi_url u;
	struct lc_err err = {""};

	memset(&u, 0xa5, sizeof(u));
	if (lc_iscsi_url_parse(uri, &u, &err) != r)
		fail_msg("'%s': expected %d", uri, r);
	if (!strstr(err.msg, needle))
		fail_msg("'%s': message '%s' lacks '%s'", uri, err.msg, needle);
	/* Untouched on failure. */
	assert_int_equal(((unsigned char *)&u)[0], 0xa5);
}

static void test_bad_queries(void **state)
{
	(void)state;
	expect_bad("/dev/sda", -EINVAL, "iscsi://");
	expect_bad("iscsi://h/iqn.x:y/1?bogus=1", -EINVAL, "unknown option 'bogus'");
	expect_bad("iscsi://h/iqn.x:y/1?timeout=1&timeout=2", -EINVAL, "given twice");
	expect_bad("iscsi://h/iqn.x:y/1?timeout=0", -EINVAL, "timeout '0'");
	expect_bad("iscsi://h/iqn.x:y/1?timeout=3601", -EINVAL, "1 to 3600");
	expect_bad("iscsi://h/iqn.x:y/1?timeout=5s", -EINVAL, "timeout '5s'");
	expect_bad("iscsi://h/iqn.x:y/1?timeout=", -EINVAL, "needs a value");
	expect_bad("iscsi://h/iqn.x:y/1?timeout", -EINVAL, "needs a value");
	expect_bad("iscsi://h/iqn.x:y/1?header_digest=md5", -EINVAL, "crc32c or none");
	expect_bad("iscsi://h/iqn.x:y/1?secret_file=rel/path", -EINVAL, "absolute");
	expect_bad("iscsi://h/iqn.x:y/1?timeout=5&&header_digest=none", -EINVAL, "empty option");
	expect_bad("iscsi://u%pw@h/iqn.x:y/1?secret_file=/s", -EINVAL, "give it once");
}

/* Writes text to a fresh file with mode; returns its path (static buffer). */
static const char *secret_file(const char *text, mode_t mode)
{
	static char path[] = "/tmp/test-iscsi-url-XXXXXX";
	int fd;

	strcpy(path, "/tmp/test-iscsi-url-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
	return path;
}

static void test_secrets_good(void **state)
{
	struct lc_iscsi_secrets s;
	struct lc_err err = {""};
	const char *p;

	(void)state;
	p = secret_file("# CHAP for the old array\nuser=alice\npassword=pa ss=word\n\n"
			"target_user=array\ntarget_password=tpw",
			0600);
	assert_int_equal(lc_iscsi_secrets_read(p, &s, &err), 0);
	assert_string_equal(s.user, "alice");
	assert_string_equal(s.password, "pa ss=word"); /* verbatim, '=' included */
	assert_string_equal(s.target_user, "array");
	assert_string_equal(s.target_password, "tpw");
	lc_iscsi_secrets_wipe(&s);
	assert_int_equal(s.password[0], 0);
	assert_int_equal(unlink(p), 0);

	p = secret_file("password=only\n", 0400);
	assert_int_equal(lc_iscsi_secrets_read(p, &s, &err), 0);
	assert_string_equal(s.user, "");
	assert_string_equal(s.password, "only");
	assert_int_equal(unlink(p), 0);
}

static void expect_bad_secrets(const char *text, mode_t mode, int r, const char *needle)
{
	struct lc_iscsi_secrets s;
	struct lc_err err = {""};
	const char *p = secret_file(text, mode);

	memset(&s, 0x5a, sizeof(s));
	if (lc_iscsi_secrets_read(p, &s, &err) != r)
		fail_msg("secrets '%s' mode %o: expected %d (%s)", text, mode, r, err.msg);
	if (!strstr(err.msg, needle))
		fail_msg("secrets '%s': message '%s' lacks '%s'", text, err.msg, needle);
	assert_int_equal((unsigned char)s.user[0], 0x5a);
	assert_int_equal(unlink(p), 0);
}

static void test_secrets_bad(void **state)
{
	struct lc_iscsi_secrets s;
	struct lc_err err = {""};

	(void)state;
	expect_bad_secrets("password=x\n", 0640, -EPERM, "chmod 600");
	expect_bad_secrets("password=x\n", 0604, -EPERM, "group or others");
	expect_bad_secrets("user=a\n", 0600, -EINVAL, "no 'password'");
	expect_bad_secrets("password=x\npassword=y\n", 0600, -EINVAL,
			   "line 2: 'password' given twice");
	expect_bad_secrets("password=x\nsecret=y\n", 0600, -EINVAL, "unknown key 'secret'");
	expect_bad_secrets("password\n", 0600, -EINVAL, "line 1: no '='");
	expect_bad_secrets("password=\n", 0600, -EINVAL, "must be 1 to 255 bytes");
	expect_bad_secrets("password=x\ntarget_user=t\n", 0600, -EINVAL, "go together");
	assert_int_equal(lc_iscsi_secrets_read("/nonexistent/chap", &s, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/chap"));
}

static void test_secrets_symlink_refused(void **state)
{
	char link[] = "/tmp/test-iscsi-url-link-XXXXXX";
	struct lc_iscsi_secrets s;
	const char *p;
	int fd;

	(void)state;
	p = secret_file("password=x\n", 0600);
	fd = mkstemp(link);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink(p, link), 0);
	/* O_NOFOLLOW: the permission checks must be about what we read. */
	assert_int_equal(lc_iscsi_secrets_read(link, &s, NULL), -ELOOP);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(unlink(p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_password_redacted),
	    cmocka_unit_test(test_our_keys_taken_out),
	    cmocka_unit_test(test_bad_queries),
	    cmocka_unit_test(test_secrets_good),
	    cmocka_unit_test(test_secrets_bad),
	    cmocka_unit_test(test_secrets_symlink_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
