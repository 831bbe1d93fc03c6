/* SPDX-License-Identifier: MIT */
/*
 * Unit test of luncloned's control socket (daemon/control*.c):
 *   - the request parser accepts each verb in its forms and refuses every
 *     malformed request with a reason (empty, spaces, unknown verb, missing
 *     or extra words, bad names, bad rates, control and non-ASCII bytes,
 *     two lines, too long);
 *   - status lists every session of the configuration, typed from a fake
 *     handler's reply, "not running" for a session without a socket, and
 *     never shows an iscsi:// password;
 *   - pause, resume and throttle reach the device's socket as the handler's
 *     verbs; an unknown session, a session not running and a handler's
 *     refusal are "error: ..." replies;
 *   - the listening socket: directory 0700, socket 0600, a stale socket
 *     replaced, a live one refused; a served connection gets its reply, an
 *     oversized or malformed request an error, and the socket keeps serving.
 * The fake handler is a thread serving one status socket with a canned
 * reply and recording the requests it got.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include <json-c/json.h>

#include "config.h"
#include "control.h"

static char tmpdir[] = "/tmp/test-daemon-control.XXXXXX";

/* ------------------------------------------------------------------ */
/* The parser */

static int parse(const char *s, struct lcd_ctl_request *req, char *why)
{
	return lcd_ctl_parse_request(s, strlen(s), req, why, 256);
}

static void test_parse_valid(void **state)
{
	struct lcd_ctl_request req;
	char why[256];

	(void)state;
	assert_int_equal(parse("status", &req, why), 0);
	assert_int_equal(req.verb, LCD_CTL_STATUS);
	assert_string_equal(req.name, "");
	assert_int_equal(parse("status\n", &req, why), 0);
	assert_int_equal(parse("status vol-1.a_b\n", &req, why), 0);
	assert_string_equal(req.name, "vol-1.a_b");
	assert_int_equal(parse("pause v\n", &req, why), 0);
	assert_int_equal(req.verb, LCD_CTL_PAUSE);
	assert_string_equal(req.name, "v");
	assert_int_equal(parse("resume v", &req, why), 0);
	assert_int_equal(req.verb, LCD_CTL_RESUME);
	assert_int_equal(parse("throttle v 0\n", &req, why), 0);
	assert_int_equal(req.verb, LCD_CTL_THROTTLE);
	assert_int_equal(req.mib, 0);
	assert_int_equal(parse("throttle v 17592186044415\n", &req, why), 0);
	assert_int_equal(req.mib, 17592186044415ull);
}

static void test_parse_refused(void **state)
{
	static const char *const bad[] = {
	    "",
	    "\n",
	    " status",
	    "status ",
	    "status  v",
	    "frob",
	    "STATUS",
	    "status a b",
	    "pause",
	    "pause a b",
	    "resume",
	    "throttle a",
	    "throttle a 1 2",
	    "throttle a -1",
	    "throttle a 1x",
	    "throttle a 17592186044416",
	    "throttle a 99999999999999999999999",
	    "pause .hidden",
	    "pause ../x",
	    "pause a/b",
	    "status\r\n",
	    "status\tv",
	    "status\nstatus\n",
	    "status \xff",
	    "pause aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	struct lcd_ctl_request req = {.verb = LCD_CTL_PAUSE, .name = "keep"};
	char why[256], big[LCD_CTL_REQUEST_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (parse(bad[i], &req, why) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_true(why[0] != '\0');
		/* Untouched on failure. */
		assert_string_equal(req.name, "keep");
	}
	/* A NUL inside. */
	assert_int_equal(lcd_ctl_parse_request("sta\0tus\n", 8, &req, why, sizeof(why)), -EINVAL);
	/* Too long, even when it is spaces of a valid form. */
	memset(big, 'a', sizeof(big));
	assert_int_equal(lcd_ctl_parse_request(big, sizeof(big), &req, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "request too long");
	/* A tiny reason buffer is still terminated. */
	assert_int_equal(lcd_ctl_parse_request("x", 1, &req, why, 4), -EINVAL);
	assert_int_equal(strlen(why), 3);
}

/* ------------------------------------------------------------------ */
/* A fake handler status socket */

struct fake_handler {
	pthread_t thread;
	int fd;
	atomic_bool stop;
	const char *reply; /* what every request gets */
	pthread_mutex_t lock;
	char requests[1024]; /* each request as received, concatenated */
};

static void *fake_handler_run(void *arg)
{
	struct fake_handler *h = arg;

	while (!atomic_load(&h->stop)) {
		struct pollfd pfd = {.fd = h->fd, .events = POLLIN};
		char buf[256];
		size_t used = 0;
		int c;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		c = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		for (;;) {
			ssize_t n = read(c, buf + used, sizeof(buf) - 1 - used);

			if (n <= 0)
				break;
			used += (size_t)n;
			if (memchr(buf, '\n', used) || used == sizeof(buf) - 1)
				break;
		}
		buf[used] = '\0';
		pthread_mutex_lock(&h->lock);
		(void)strncat(h->requests, buf, sizeof(h->requests) - strlen(h->requests) - 1);
		pthread_mutex_unlock(&h->lock);
		(void)write(c, h->reply, strlen(h->reply));
		(void)close(c);
	}
	return NULL;
}

static void fake_handler_start(struct fake_handler *h, const char *name, const char *reply)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(h, 0, sizeof(*h));
	h->reply = reply;
	pthread_mutex_init(&h->lock, NULL);
	(void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock", tmpdir, name);
	(void)unlink(sa.sun_path);
	h->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(h->fd >= 0);
	assert_int_equal(bind(h->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(h->fd, 8), 0);
	assert_int_equal(pthread_create(&h->thread, NULL, fake_handler_run, h), 0);
}

static void fake_handler_stop(struct fake_handler *h, const char *name)
{
	char path[PATH_MAX];

	atomic_store(&h->stop, true);
	pthread_join(h->thread, NULL);
	(void)close(h->fd);
	pthread_mutex_destroy(&h->lock);
	(void)snprintf(path, sizeof(path), "%s/%s.sock", tmpdir, name);
	(void)unlink(path);
}

static const char status_reply[] = "state=hydrating\n"
				   "regions_hydrated=3\n"
				   "regions_total=10\n"
				   "region_size=1048576\n"
				   "percent=30.00\n"
				   "rate=4194304\n"
				   "eta=1\n"
				   "quarantined=0\n"
				   "rate_limit=52428800\n"
				   "last_error=0\n";

/* ------------------------------------------------------------------ */
/* Requests against a configuration */

static struct lcd_config *make_config(void)
{
	struct lcd_config *cfg = calloc(1, sizeof(*cfg));

	assert_non_null(cfg);
	cfg->socket_dir = strdup(tmpdir);
	cfg->sessions = calloc(2, sizeof(*cfg->sessions));
	assert_non_null(cfg->sessions);
	cfg->nr_sessions = 2;
	cfg->sessions[0].name = strdup("gold");
	cfg->sessions[0].source =
	    strdup("iscsi://alice%s3cr3tpassw0rd@192.0.2.1:3260/iqn.2003-01.org.example:t/0");
	cfg->sessions[0].destination = strdup("/dev/dst0");
	cfg->sessions[0].metadata = strdup("/dev/meta0");
	cfg->sessions[0].region_size_bytes = 65536;
	cfg->sessions[0].hydration.rate_limit_bytes = 10u << 20;
	cfg->sessions[1].name = strdup("vol");
	cfg->sessions[1].source = strdup("/dev/src1");
	cfg->sessions[1].destination = strdup("/dev/dst1");
	cfg->sessions[1].metadata = strdup("/dev/meta1");
	cfg->sessions[1].source_size_bytes = 10u << 20;
	for (size_t i = 0; i < 2; i++)
		assert_true(cfg->sessions[i].name && cfg->sessions[i].source &&
			    cfg->sessions[i].destination && cfg->sessions[i].metadata);
	return cfg;
}

static char *run(const struct lcd_config *cfg, const char *line)
{
	struct lcd_ctl_request req;
	char why[256], *reply = NULL;

	assert_int_equal(lcd_ctl_parse_request(line, strlen(line), &req, why, sizeof(why)), 0);
	assert_int_equal(lcd_ctl_execute(cfg, &req, &reply), 0);
	assert_non_null(reply);
	assert_true(reply[0] && reply[strlen(reply) - 1] == '\n');
	return reply;
}

static struct json_object *get(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(obj, key, &v))
		fail_msg("no key '%s'", key);
	return v;
}

static void test_status(void **state)
{
	struct lcd_config *cfg = make_config();
	struct fake_handler h;
	struct json_object *top, *arr, *gold, *vol;
	char *reply;

	(void)state;
	fake_handler_start(&h, "vol", status_reply);
	reply = run(cfg, "status\n");
	/* The password never leaves the daemon. */
	assert_null(strstr(reply, "s3cr3tpassw0rd"));
	top = json_tokener_parse(reply);
	assert_non_null(top);
	arr = get(top, "sessions");
	assert_int_equal(json_object_array_length(arr), 2);
	gold = json_object_array_get_idx(arr, 0);
	assert_string_equal(json_object_get_string(get(gold, "name")), "gold");
	assert_non_null(strstr(json_object_get_string(get(gold, "source")), "***"));
	assert_string_equal(json_object_get_string(get(gold, "state")), "not running");
	assert_false(json_object_get_boolean(get(gold, "paused")));
	assert_null(get(gold, "regions_hydrated"));
	assert_int_equal(json_object_get_uint64(get(gold, "region_size")), 65536);
	assert_int_equal(json_object_get_uint64(get(gold, "rate_limit_config")), 10u << 20);
	assert_null(get(gold, "rate_limit"));
	assert_non_null(strstr(json_object_get_string(get(gold, "error")), "gold.sock"));

	vol = json_object_array_get_idx(arr, 1);
	assert_string_equal(json_object_get_string(get(vol, "state")), "hydrating");
	assert_int_equal(json_object_get_uint64(get(vol, "regions_hydrated")), 3);
	assert_int_equal(json_object_get_uint64(get(vol, "regions_total")), 10);
	assert_int_equal(json_object_get_uint64(get(vol, "bytes_hydrated")), 3u << 20);
	assert_int_equal(json_object_get_uint64(get(vol, "bytes_total")), 10u << 20);
	assert_true(json_object_get_double(get(vol, "percent")) == 30.0);
	assert_int_equal(json_object_get_uint64(get(vol, "rate")), 4u << 20);
	assert_int_equal(json_object_get_uint64(get(vol, "eta")), 1);
	assert_int_equal(json_object_get_uint64(get(vol, "rate_limit")), 50u << 20);
	assert_int_equal(json_object_get_int64(get(vol, "last_error")), 0);
	assert_null(get(vol, "error"));
	json_object_put(top);
	free(reply);

	/* One session. */
	reply = run(cfg, "status vol");
	top = json_tokener_parse(reply);
	assert_non_null(top);
	assert_int_equal(json_object_array_length(get(top, "sessions")), 1);
	json_object_put(top);
	free(reply);

	reply = run(cfg, "status nope\n");
	assert_string_equal(reply, "error: unknown session 'nope'\n");
	free(reply);
	fake_handler_stop(&h, "vol");
	lcd_config_free(cfg);
}

static void test_status_odd_handler(void **state)
{
	struct lcd_config *cfg = make_config();
	struct fake_handler h;
	char *reply;

	(void)state;
	/* A reply missing fields: listed, as unreachable. */
	fake_handler_start(&h, "vol", "state=hydrating\n");
	reply = run(cfg, "status vol\n");
	assert_non_null(strstr(reply, "\"state\":\"unreachable\""));
	assert_non_null(strstr(reply, "unexpected status reply"));
	free(reply);
	fake_handler_stop(&h, "vol");

	fake_handler_start(&h, "vol", "error: busy\n");
	reply = run(cfg, "status vol\n");
	assert_non_null(strstr(reply, "\"state\":\"unreachable\""));
	assert_non_null(strstr(reply, "the handler says: busy"));
	free(reply);
	fake_handler_stop(&h, "vol");
	lcd_config_free(cfg);
}

static void test_forward(void **state)
{
	struct lcd_config *cfg = make_config();
	struct fake_handler h;
	char *reply;

	(void)state;
	fake_handler_start(&h, "vol", "ok\n");
	reply = run(cfg, "pause vol\n");
	assert_string_equal(reply, "ok\n");
	free(reply);
	reply = run(cfg, "resume vol\n");
	assert_string_equal(reply, "ok\n");
	free(reply);
	reply = run(cfg, "throttle vol 25\n");
	assert_string_equal(reply, "ok\n");
	free(reply);
	pthread_mutex_lock(&h.lock);
	assert_string_equal(h.requests, "pause\nresume\nthrottle 25\n");
	pthread_mutex_unlock(&h.lock);
	fake_handler_stop(&h, "vol");

	fake_handler_start(&h, "vol", "error: throttle: bad\n");
	reply = run(cfg, "throttle vol 1\n");
	assert_string_equal(reply, "error: session 'vol': the handler says: throttle: bad\n");
	free(reply);
	fake_handler_stop(&h, "vol");

	reply = run(cfg, "pause gold\n");
	assert_non_null(strstr(reply, "error: session 'gold' is not running ("));
	free(reply);
	reply = run(cfg, "resume zz\n");
	assert_string_equal(reply, "error: unknown session 'zz'\n");
	free(reply);
	lcd_config_free(cfg);
}

/* ------------------------------------------------------------------ */
/* The listening socket */

static char last_log[1024];

static void test_log(const char *prio, const char *fmt, ...)
{
	va_list ap;

	(void)prio;
	va_start(ap, fmt);
	(void)vsnprintf(last_log, sizeof(last_log), fmt, ap);
	va_end(ap);
}

/* Connects to path and sends len bytes of data, then closes the writing
 * side: the daemon's loop is not running yet, so the exchange waits in the
 * socket's buffers until lcd_ctl_serve(). */
static int client_send(const char *path, const char *data, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	(void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	return fd;
}

static void client_reply(int fd, char *buf, size_t size)
{
	size_t used = 0;
	ssize_t n;

	while ((n = read(fd, buf + used, size - 1 - used)) > 0)
		used += (size_t)n;
	buf[used] = '\0';
	(void)close(fd);
}

static void test_socket(void **state)
{
	struct lcd_config *cfg = make_config();
	struct lcd_ctl *ctl = NULL, *ctl2 = NULL;
	char dir[64], path[100], msg[512], reply[4096], big[1024];
	struct stat st;
	int fd;

	(void)state;
	(void)snprintf(dir, sizeof(dir), "%s/run", tmpdir);
	(void)snprintf(path, sizeof(path), "%s/luncloned.sock", dir);
	assert_int_equal(lcd_ctl_open(path, test_log, &ctl, msg, sizeof(msg)), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	/* A second daemon is refused. */
	assert_int_equal(lcd_ctl_open(path, test_log, &ctl2, msg, sizeof(msg)), -EADDRINUSE);
	assert_non_null(strstr(msg, "served by a running process"));

	/* A relative path is refused. */
	assert_int_equal(lcd_ctl_open("ctl.sock", test_log, &ctl2, msg, sizeof(msg)), -EINVAL);

	/* Nothing waiting: returns at once. */
	assert_int_equal(lcd_ctl_serve(ctl, cfg), 0);

	fd = client_send(path, "status nope\n", 12);
	assert_int_equal(lcd_ctl_serve(ctl, cfg), 0);
	client_reply(fd, reply, sizeof(reply));
	assert_string_equal(reply, "error: unknown session 'nope'\n");

	memset(big, 'x', sizeof(big));
	fd = client_send(path, big, sizeof(big));
	assert_int_equal(lcd_ctl_serve(ctl, cfg), 0);
	(void)close(fd);
	assert_non_null(strstr(last_log, "request too long"));

	fd = client_send(path, "\x01\x02\xfe\n", 4);
	assert_int_equal(lcd_ctl_serve(ctl, cfg), 0);
	client_reply(fd, reply, sizeof(reply));
	assert_non_null(strstr(reply, "error: request contains a NUL byte"));

	/* Still serving. */
	fd = client_send(path, "status", 6);
	assert_int_equal(lcd_ctl_serve(ctl, cfg), 0);
	client_reply(fd, reply, sizeof(reply));
	assert_true(strncmp(reply, "{\"sessions\":[", 13) == 0);

	lcd_ctl_close(ctl);
	assert_int_equal(stat(path, &st), -1);

	/* A stale socket (its server gone) is replaced. */
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		assert_true(s >= 0);
		(void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
		(void)close(s);
	}
	assert_int_equal(lcd_ctl_open(path, test_log, &ctl, msg, sizeof(msg)), 0);
	lcd_ctl_close(ctl);

	/* A directory open to others is refused, and left as it is. */
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(lcd_ctl_open(path, test_log, &ctl, msg, sizeof(msg)), -EPERM);
	assert_non_null(strstr(msg, "open to others (mode 0755)"));
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(chmod(dir, 0700), 0);
	lcd_ctl_close(NULL);

	/* Something else at the path is not removed. */
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	(void)close(fd);
	assert_int_equal(lcd_ctl_open(path, test_log, &ctl, msg, sizeof(msg)), -EEXIST);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	lcd_config_free(cfg);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_valid), cmocka_unit_test(test_parse_refused),
	    cmocka_unit_test(test_status),	cmocka_unit_test(test_status_odd_handler),
	    cmocka_unit_test(test_forward),	cmocka_unit_test(test_socket),
	};
	int r;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	r = cmocka_run_group_tests(tests, NULL, NULL);
	(void)rmdir(tmpdir);
	return r;
}
