/* SPDX-License-Identifier: MIT */
/*
 * Unit test of handler/status_socket.c: the request parser (every verb, every
 * malformed form), the status formatter (fixed field order, percent, eta),
 * and the server over a real UNIX socket in a scratch directory, driving a
 * clone over volcache devices: status, pause/resume/throttle taking effect,
 * errors for unknown verbs, a silent client not blocking shutdown, a live
 * socket refused and a stale one replaced, and the file modes; a failed
 * commit shows as state=read-only with the device that failed.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <lunclone/lunclone.h>

#include "clone-fixture.h"
#include "status_socket.h"

#define SIZE_BYTES (4u << 20)
#define REGION (64u * 1024)

static char tmpdir[] = "/tmp/test-status-socket.XXXXXX";

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[96];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static int parse(const char *s, struct hc_sock_request *req, struct lc_err *err)
{
	return hc_sock_parse_request(s, strlen(s), req, err);
}

static void test_parse_ok(void **state)
{
	struct hc_sock_request req;
	struct lc_err err = {.msg = ""};

	assert_int_equal(parse("status\n", &req, &err), 0);
	assert_int_equal(req.verb, HC_SOCK_STATUS);
	assert_int_equal(parse("status", &req, &err), 0); /* EOF instead of newline */
	assert_int_equal(req.verb, HC_SOCK_STATUS);
	assert_int_equal(parse("pause\r\n", &req, &err), 0);
	assert_int_equal(req.verb, HC_SOCK_PAUSE);
	assert_int_equal(parse("resume\n", &req, &err), 0);
	assert_int_equal(req.verb, HC_SOCK_RESUME);
	assert_int_equal(parse("throttle 25\n", &req, &err), 0);
	assert_int_equal(req.verb, HC_SOCK_THROTTLE);
	assert_int_equal(req.rate_bytes, 25ull << 20);
	assert_int_equal(parse("throttle 0", &req, &err), 0);
	assert_int_equal(req.rate_bytes, 0);
	assert_int_equal(parse("throttle 17592186044415", &req, &err), 0);
	assert_int_equal(req.rate_bytes, 17592186044415ull << 20);
}

static void parse_fails(const char *s, size_t len, const char *want)
{
	struct hc_sock_request req = {.verb = HC_SOCK_RESUME, .rate_bytes = 77};
	struct lc_err err = {.msg = ""};

	if (hc_sock_parse_request(s, len, &req, &err) != -EINVAL)
		fail_msg("request '%.*s' accepted", (int)len, s);
	if (!strstr(err.msg, want))
		fail_msg("request '%.*s': message '%s' lacks '%s'", (int)len, s, err.msg, want);
	assert_int_equal(req.verb, HC_SOCK_RESUME); /* untouched */
	assert_int_equal(req.rate_bytes, 77);
}

static void test_parse_errors(void **state)
{
	char big[HC_SOCK_REQUEST_MAX + 2];

	parse_fails("", 0, "empty request");
	parse_fails("\n", 1, "empty request");
	parse_fails("stop\n", 5, "unknown verb 'stop'");
	parse_fails("STATUS\n", 7, "unknown verb 'STATUS'");
	parse_fails(" status\n", 8, "unknown verb ''");
	parse_fails("status now\n", 11, "status: takes no argument");
	parse_fails("status \n", 8, "status: takes no argument");
	parse_fails("pause 1\n", 8, "pause: takes no argument");
	parse_fails("throttle\n", 9, "throttle: needs a rate");
	parse_fails("throttle \n", 10, "throttle: '' is not");
	parse_fails("throttle -1\n", 12, "throttle: '-1' is not");
	parse_fails("throttle 1.5\n", 13, "is not a whole number");
	parse_fails("throttle 5 6\n", 13, "throttle: '5 6' is not");
	parse_fails("throttle 17592186044416\n", 24, "is not a whole number");
	parse_fails("status\nstatus\n", 14, "more than one line");
	parse_fails("sta\0tus\n", 8, "NUL byte");
	parse_fails("sta\ttus\n", 8, "control character");
	memset(big, 'a', sizeof(big));
	parse_fails(big, HC_SOCK_REQUEST_MAX + 1, "longer than 128 bytes");
	/* Exactly the limit is parsed (and fails as an unknown verb). */
	parse_fails(big, HC_SOCK_REQUEST_MAX, "unknown verb");
}

static void test_format(void **state)
{
	struct lc_clone_status st = {
	    .state = LC_CLONE_HYDRATING,
	    .nr_regions = 3,
	    .nr_hydrated = 1,
	    .region_size_bytes = REGION,
	    .rate_bytes = 1048576,
	    .eta_seconds = UINT64_MAX,
	    .rate_limit_bytes = 0,
	    .nr_quarantined = 2,
	    .last_error = -EIO,
	};
	char buf[HC_SOCK_REPLY_MAX];
	int n;

	n = hc_sock_format_status(&st, buf, sizeof(buf));
	assert_true(n > 0);
	assert_string_equal(buf, "state=hydrating\n"
				 "regions_hydrated=1\n"
				 "regions_total=3\n"
				 "region_size=65536\n"
				 "percent=33.33\n"
				 "rate=1048576\n"
				 "eta=unknown\n"
				 "quarantined=2\n"
				 "rate_limit=0\n"
				 "last_error=-5\n");
	assert_int_equal(n, (int)strlen(buf));

	/* Never 100.00 before the last region. */
	st.nr_regions = 1000000;
	st.nr_hydrated = 999999;
	st.eta_seconds = 7;
	(void)hc_sock_format_status(&st, buf, sizeof(buf));
	assert_non_null(strstr(buf, "percent=99.99\n"));
	assert_non_null(strstr(buf, "eta=7\n"));
	st.nr_hydrated = st.nr_regions;
	st.state = LC_CLONE_COMPLETE;
	(void)hc_sock_format_status(&st, buf, sizeof(buf));
	assert_non_null(strstr(buf, "state=complete\n"));
	assert_non_null(strstr(buf, "percent=100.00\n"));
	st.nr_regions = 0;
	st.nr_hydrated = 0;
	(void)hc_sock_format_status(&st, buf, sizeof(buf));
	assert_non_null(strstr(buf, "percent=100.00\n"));
	/* Widest values still fit the reply buffer. */
	st.nr_regions = st.nr_hydrated = st.rate_bytes = st.rate_limit_bytes = UINT64_MAX;
	st.eta_seconds = UINT64_MAX - 1;
	st.nr_quarantined = UINT64_MAX;
	st.last_error = -2147483647;
	assert_true(hc_sock_format_status(&st, buf, sizeof(buf)) > 0);
	assert_int_equal(hc_sock_format_status(&st, buf, 10), -ENOSPC);
}

/* One exchange: sends req (as is), returns the whole reply (static buffer). */
static const char *exchange(const char *path, const char *req)
{
	static char reply[HC_SOCK_REPLY_MAX + 1];
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	size_t used = 0;
	ssize_t n;
	int fd;

	(void)snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	/* EOF ends the request as well as '\n' does. */
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	while ((n = recv(fd, reply + used, sizeof(reply) - 1 - used, 0)) > 0)
		used += (size_t)n;
	assert_true(n == 0);
	reply[used] = '\0';
	(void)close(fd);
	return reply;
}

static void test_server(void **state)
{
	struct lc_clone_config cfg;
	struct lc_clone_status st;
	struct lc_err err = {.msg = ""};
	struct hc_sock *sock, *other;
	struct fixture f;
	char dir[64], path[96];
	struct stat stbuf;
	const char *reply;

	lc_clone_config_default(&cfg);
	cfg.start_paused = true;
	cfg.nr_workers = 1;
	assert_int_equal(fixture_setup(&f, SIZE_BYTES, REGION, 0, &cfg), 0);

	/* Parents created as needed. */
	(void)snprintf(dir, sizeof(dir), "%s/run/lunclone", tmpdir);
	assert_int_equal(hc_sock_start(dir, "vol1", f.clone, f.meta, &sock, &err), 0);
	(void)snprintf(path, sizeof(path), "%s/vol1.sock", dir);
	assert_string_equal(hc_sock_path(sock), path);
	assert_int_equal(stat(dir, &stbuf), 0);
	assert_int_equal(stbuf.st_mode & 07777, 0700);
	assert_int_equal(lstat(path, &stbuf), 0);
	assert_true(S_ISSOCK(stbuf.st_mode));
	assert_int_equal(stbuf.st_mode & 07777, 0600);

	reply = exchange(path, "status\n");
	assert_non_null(strstr(reply, "state=paused\nregions_hydrated=0\nregions_total=64\n"
				      "region_size=65536\npercent=0.00\n"));
	assert_non_null(strstr(reply, "\nlast_error=0\nfailed_device=none\n"));

	assert_string_equal(exchange(path, "throttle 7\n"), "ok\n");
	lc_clone_get_status(f.clone, &st);
	assert_int_equal(st.rate_limit_bytes, 7ull << 20);
	assert_non_null(strstr(exchange(path, "status"), "\nrate_limit=7340032\n"));
	assert_string_equal(exchange(path, "throttle 0\n"), "ok\n");

	assert_string_equal(exchange(path, "resume\n"), "ok\n");
	assert_int_equal(lc_clone_wait(f.clone, 10000), 0);
	reply = exchange(path, "status\n");
	assert_non_null(strstr(reply, "state=complete\nregions_hydrated=64\n"));
	assert_non_null(strstr(reply, "percent=100.00\n"));
	assert_string_equal(exchange(path, "pause\n"), "ok\n");

	assert_string_equal(exchange(path, "explode\n"),
			    "error: unknown verb 'explode' (status, pause, resume, throttle)\n");
	assert_string_equal(exchange(path, "throttle x\n"),
			    "error: throttle: 'x' is not a whole number of MiB/s\n");

	/* The name is taken while the server lives. */
	assert_int_equal(hc_sock_start(dir, "vol1", f.clone, f.meta, &other, &err), -EADDRINUSE);
	assert_non_null(strstr(err.msg, "in use by a live process"));

	/* A client that connects and says nothing does not hold up shutdown. */
	{
		struct sockaddr_un addr = {.sun_family = AF_UNIX};
		struct timespec t0, t1;
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		(void)snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
		assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
		(void)usleep(50000); /* let the server accept and wait for the line */
		(void)clock_gettime(CLOCK_MONOTONIC, &t0);
		hc_sock_stop(sock);
		(void)clock_gettime(CLOCK_MONOTONIC, &t1);
		assert_true(t1.tv_sec - t0.tv_sec < 2);
		(void)close(fd);
	}
	assert_int_equal(lstat(path, &stbuf), -1);
	assert_int_equal(errno, ENOENT);

	/* A stale socket file (nobody listening) is replaced. */
	{
		struct sockaddr_un addr = {.sun_family = AF_UNIX};
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		(void)snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
		assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
		(void)close(fd);
	}
	assert_int_equal(hc_sock_start(dir, "vol1", f.clone, f.meta, &sock, &err), 0);
	assert_non_null(strstr(exchange(path, "status\n"), "state=complete\n"));
	hc_sock_stop(sock);

	/* A regular file in the way is not removed. */
	{
		FILE *fp = fopen(path, "w");

		assert_non_null(fp);
		assert_int_equal(fclose(fp), 0);
	}
	assert_int_equal(hc_sock_start(dir, "vol1", f.clone, f.meta, &sock, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "not a socket"));
	assert_int_equal(unlink(path), 0);

	/* A path that does not fit sun_path is refused, not truncated. */
	{
		char longname[200];

		memset(longname, 'n', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		assert_int_equal(hc_sock_start(dir, longname, f.clone, f.meta, &sock, &err),
				 -ENAMETOOLONG);
	}

	hc_sock_stop(NULL);
	fixture_teardown(&f);
}

/* A commit that fails on the store turns the clone read-only, and status
 * names the device: failed_device=metadata (the destination's failure is
 * told apart in test-meta.c). */
static void test_server_read_only(void **state)
{
	struct lc_clone_config cfg;
	struct lc_err err = {.msg = ""};
	struct hc_sock *sock;
	struct fixture f;
	char dir[64], path[96];
	const char *reply;
	static char buf[REGION];

	lc_clone_config_default(&cfg);
	cfg.start_paused = true;
	cfg.commit_interval_ms = 0;
	assert_int_equal(fixture_setup(&f, SIZE_BYTES, REGION, 0, &cfg), 0);
	(void)snprintf(dir, sizeof(dir), "%s/run/ro", tmpdir);
	assert_int_equal(hc_sock_start(dir, "vol2", f.clone, f.meta, &sock, &err), 0);
	(void)snprintf(path, sizeof(path), "%s/vol2.sock", dir);

	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(lc_clone_write(f.clone, buf, sizeof(buf), 3 * REGION, 0), 0);
	lc_volcache_inject(f.mdev, LC_VC_WRITE, 0, 0, EIO, -1);
	assert_int_equal(lc_clone_flush(f.clone), -EIO);
	reply = exchange(path, "status\n");
	assert_non_null(strstr(reply, "state=read-only\n"));
	assert_non_null(strstr(reply, "\nlast_error=-5\nfailed_device=metadata\n"));
	/* Never back by itself, even when the device heals. */
	lc_volcache_inject(f.mdev, LC_VC_WRITE, 0, 0, 0, 0);
	assert_int_not_equal(lc_clone_flush(f.clone), 0);
	assert_non_null(strstr(exchange(path, "status"), "state=read-only\n"));

	hc_sock_stop(sock);
	fixture_teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ok),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_server),
	    cmocka_unit_test(test_server_read_only),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
