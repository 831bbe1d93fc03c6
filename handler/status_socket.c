/* SPDX-License-Identifier: MIT */
/*
 * Status and control socket of one clone device (protocol in status_socket.h
 * and docs/handler_clone.8).
 *
 * One thread per device polls two fds: the listening socket and the read end
 * of a wake pipe. hc_sock_stop() writes one byte into the pipe (nbdkit's
 * self-pipe, server/quit.c) and joins the thread: no signals, no cancellation.
 * Clients are served one at a time on that thread, each with a deadline
 * (CLIENT_TIMEOUT_MS) while the wake pipe is still watched, so a client that
 * never sends its line delays neither other clients for long nor shutdown.
 *
 * The requests call the clone's control functions, none of which block on
 * I/O (clone.h), so serving a request never waits for the data path.
 *
 * Only root may connect: the directory is 0700 and the socket 0600. The
 * socket is chmod'ed after bind() (a socket's mode at bind() comes from the
 * process-wide umask, which a thread must not change); the directory keeps
 * everyone else out during that window.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <lunclone/clone.h>
#include <lunclone/err.h>
#include <lunclone/meta.h>

#include "util/parse.h"

#include "status_socket.h"

#define CLIENT_TIMEOUT_MS 2000
#define MIB_SHIFT 20
#define LISTEN_BACKLOG 8

struct hc_sock {
	struct lc_clone *clone; /* not owned */
	const struct lc_meta *meta; /* the clone's store, not owned; may be NULL */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	int wake_rd, wake_wr; /* self-pipe: hc_sock_stop() -> thread */
	pthread_t thread;
	bool thread_started;
};

/* ---- requests and replies: pure functions ---- */

int hc_sock_parse_request(const char *line, size_t len, struct hc_sock_request *ret_req,
			  struct lc_err *err)
{
	char buf[HC_SOCK_REQUEST_MAX + 1];
	struct hc_sock_request req = {.verb = HC_SOCK_STATUS};
	const char *arg;
	uint64_t mib;
	char *sp;

	if (len > HC_SOCK_REQUEST_MAX)
		return lc_err_set(err, -EINVAL, "request longer than %u bytes",
				  HC_SOCK_REQUEST_MAX);
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			return lc_err_set(err, -EINVAL,
					  "request contains a NUL byte, a control character or "
					  "more than one line");
	if (len == 0)
		return lc_err_set(err, -EINVAL, "empty request");

	sp = strchr(buf, ' ');
	arg = NULL;
	if (sp) {
		*sp = '\0';
		arg = sp + 1;
	}
	if (strcmp(buf, "status") == 0) {
		req.verb = HC_SOCK_STATUS;
	} else if (strcmp(buf, "pause") == 0) {
		req.verb = HC_SOCK_PAUSE;
	} else if (strcmp(buf, "resume") == 0) {
		req.verb = HC_SOCK_RESUME;
	} else if (strcmp(buf, "throttle") == 0) {
		req.verb = HC_SOCK_THROTTLE;
		if (!arg)
			return lc_err_set(err, -EINVAL,
					  "throttle: needs a rate in MiB/s (0 = unlimited)");
		if (lc_parse_u64(arg, &mib) < 0 || mib > (UINT64_MAX >> MIB_SHIFT))
			return lc_err_set(err, -EINVAL,
					  "throttle: '%.32s' is not a whole number of MiB/s", arg);
		req.rate_bytes = mib << MIB_SHIFT;
		*ret_req = req;
		return 0;
	} else {
		return lc_err_set(err, -EINVAL,
				  "unknown verb '%.32s' (status, pause, resume, throttle)", buf);
	}
	if (arg)
		return lc_err_set(err, -EINVAL, "%s: takes no argument", buf);
	*ret_req = req;
	return 0;
}

int hc_sock_format_status(const struct lc_clone_status *st, char *buf, size_t size)
{
	char eta[24];
	uint64_t hundredths;
	int n;

	/* Integer percent with two decimals: never 100.00 before the end. */
	if (st->nr_regions == 0)
		hundredths = 10000;
	else if (st->nr_hydrated >= st->nr_regions)
		hundredths = 10000;
	else {
		/* nr_hydrated < nr_regions: the quotient stays below 10000. */
		unsigned __int128 q = (unsigned __int128)st->nr_hydrated * 10000u / st->nr_regions;

		hundredths = (uint64_t)q;
	}
	if (st->eta_seconds == UINT64_MAX)
		(void)snprintf(eta, sizeof(eta), "unknown");
	else
		(void)snprintf(eta, sizeof(eta), "%" PRIu64, st->eta_seconds);
	n = snprintf(buf, size,
		     "state=%s\n"
		     "regions_hydrated=%" PRIu64 "\n"
		     "regions_total=%" PRIu64 "\n"
		     "region_size=%" PRIu32 "\n"
		     "percent=%" PRIu64 ".%02" PRIu64 "\n"
		     "rate=%" PRIu64 "\n"
		     "eta=%s\n"
		     "quarantined=%" PRIu64 "\n"
		     "rate_limit=%" PRIu64 "\n"
		     "last_error=%d\n",
		     lc_clone_state_name(st->state), st->nr_hydrated, st->nr_regions,
		     st->region_size_bytes, hundredths / 100, hundredths % 100, st->rate_bytes, eta,
		     st->nr_quarantined, st->rate_limit_bytes, st->last_error);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

int hc_sock_format_failed_device(const struct lc_meta *meta, char *buf, size_t size)
{
	enum lc_meta_device dev = meta ? lc_meta_failed_device(meta) : LC_META_DEV_NONE;
	int n = snprintf(buf, size, "failed_device=%s\n", lc_meta_device_name(dev));

	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

/* ---- serving ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Waits for fd to become ready for events, the wake pipe, or the deadline.
 * Returns 1 ready, 0 woken or timed out (give up), -errno.
 */
static int wait_fd(const struct hc_sock *s, int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd pfd[2] = {
		    {.fd = fd, .events = events},
		    {.fd = s->wake_rd, .events = POLLIN},
		};
		int64_t left = deadline_ms - now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(pfd, 2, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (pfd[1].revents)
			return 0;
		if (pfd[0].revents)
			return 1;
	}
}

/* Reads up to the first '\n' (kept) or EOF. Returns the length or -errno. */
static ssize_t read_request(const struct hc_sock *s, int fd, char *buf, size_t size,
			    int64_t deadline_ms)
{
	size_t used = 0;

	while (used < size) {
		ssize_t n;
		int r;

		r = wait_fd(s, fd, POLLIN, deadline_ms);
		if (r <= 0)
			return r < 0 ? r : -ETIMEDOUT;
		n = recv(fd, buf + used, size - used, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		if (memchr(buf + used, '\n', (size_t)n)) {
			used += (size_t)n;
			break;
		}
		used += (size_t)n;
	}
	return (ssize_t)used;
}

static void write_reply(const struct hc_sock *s, int fd, const char *buf, size_t len,
			int64_t deadline_ms)
{
	while (len > 0) {
		ssize_t n;

		if (wait_fd(s, fd, POLLOUT, deadline_ms) <= 0)
			return; /* the client is gone or too slow: nothing to tell */
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* The reply to one request, as text. */
static void execute(struct hc_sock *s, const char *line, size_t len, char *reply, size_t size)
{
	struct lc_err err = {.msg = ""};
	struct hc_sock_request req;
	struct lc_clone_status st;
	int n;

	if (hc_sock_parse_request(line, len, &req, &err) < 0) {
		(void)snprintf(reply, size, "error: %s\n", err.msg);
		return;
	}
	switch (req.verb) {
	case HC_SOCK_STATUS:
		lc_clone_get_status(s->clone, &st);
		n = hc_sock_format_status(&st, reply, size);
		if (n < 0 || hc_sock_format_failed_device(s->meta, reply + n, size - (size_t)n) < 0)
			(void)snprintf(reply, size, "error: status does not fit the reply\n");
		return;
	case HC_SOCK_PAUSE:
		lc_clone_pause(s->clone);
		break;
	case HC_SOCK_RESUME:
		lc_clone_resume(s->clone);
		break;
	case HC_SOCK_THROTTLE:
		lc_clone_set_rate_limit(s->clone, req.rate_bytes);
		break;
	}
	(void)snprintf(reply, size, "ok\n");
}

static void serve_client(struct hc_sock *s, int fd)
{
	int64_t deadline_ms = now_ms() + CLIENT_TIMEOUT_MS;
	char line[HC_SOCK_REQUEST_MAX + 1];
	char reply[HC_SOCK_REPLY_MAX];
	ssize_t n;

	n = read_request(s, fd, line, sizeof(line), deadline_ms);
	if (n < 0) {
		if (n == -ETIMEDOUT)
			(void)snprintf(reply, sizeof(reply),
				       "error: no request line within %d ms\n", CLIENT_TIMEOUT_MS);
		else
			(void)snprintf(reply, sizeof(reply), "error: reading the request: %s\n",
				       strerror((int)-n));
	} else {
		/* One byte over the limit is read on purpose: the parser refuses it. */
		execute(s, line, (size_t)n, reply, sizeof(reply));
	}
	write_reply(s, fd, reply, strlen(reply), deadline_ms);
}

static void *sock_thread(void *opaque)
{
	struct hc_sock *s = opaque;

	for (;;) {
		struct pollfd pfd[2] = {
		    {.fd = s->listen_fd, .events = POLLIN},
		    {.fd = s->wake_rd, .events = POLLIN},
		};
		int fd, r;

		r = poll(pfd, 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || pfd[1].revents)
			break; /* stop requested (or poll broken: nothing sane to do but stop) */
		if (!pfd[0].revents)
			continue;
		fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			continue; /* EAGAIN, ECONNABORTED, EMFILE...: try the next one */
		serve_client(s, fd);
		(void)close(fd);
	}
	return NULL;
}

/* ---- setup ---- */

/* mkdir -p with mode 0700 for what it creates; the last component is then
 * checked: a directory owned by us, tightened to 0700. */
static int make_dir(const char *dir, struct lc_err *err)
{
	char path[PATH_MAX];
	struct stat stbuf;
	size_t len = strlen(dir);
	int r;

	if (len == 0 || len >= sizeof(path))
		return lc_err_set(err, -EINVAL, "socket directory '%s': bad length", dir);
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			return lc_err_set(err, r, "cannot create '%s': %s", path, strerror(-r));
		}
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		return lc_err_set(err, r, "cannot create '%s': %s", path, strerror(-r));
	}
	if (lstat(path, &stbuf) < 0) {
		r = -errno;
		return lc_err_set(err, r, "'%s': %s", path, strerror(-r));
	}
	if (!S_ISDIR(stbuf.st_mode))
		return lc_err_set(err, -ENOTDIR, "'%s': not a directory", path);
	if (stbuf.st_uid != geteuid())
		return lc_err_set(err, -EPERM, "'%s': owned by uid %u, not by us (uid %u)", path,
				  (unsigned)stbuf.st_uid, (unsigned)geteuid());
	if ((stbuf.st_mode & 07777) != 0700 && chmod(path, 0700) < 0) {
		r = -errno;
		return lc_err_set(err, r, "'%s': cannot set mode 0700: %s", path, strerror(-r));
	}
	return 0;
}

/* A socket file left at path: removed when nobody listens, else -EADDRINUSE. */
static int clear_stale(const char *path, const struct sockaddr_un *addr, struct lc_err *err)
{
	struct stat stbuf;
	int fd, r;

	if (lstat(path, &stbuf) < 0) {
		r = -errno;
		return r == -ENOENT ? 0 : lc_err_set(err, r, "'%s': %s", path, strerror(-r));
	}
	if (!S_ISSOCK(stbuf.st_mode))
		return lc_err_set(err, -EEXIST, "'%s': exists and is not a socket", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		return lc_err_set(err, r, "socket: %s", strerror(-r));
	}
	r = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	(void)close(fd);
	if (r == 0)
		return lc_err_set(err, -EADDRINUSE,
				  "'%s': in use by a live process (two devices with one name?)",
				  path);
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		return lc_err_set(err, r, "cannot remove stale socket '%s': %s", path,
				  strerror(-r));
	}
	return 0;
}

int hc_sock_start(const char *dir, const char *name, struct lc_clone *clone,
		  const struct lc_meta *meta, struct hc_sock **ret_sock, struct lc_err *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int pipefd[2];
	struct hc_sock *s;
	int n, r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return lc_err_set(err, -ENOMEM, "status socket: out of memory");
	s->clone = clone;
	s->meta = meta;
	s->listen_fd = s->wake_rd = s->wake_wr = -1;
	n = snprintf(s->path, sizeof(s->path), "%s/%s.sock", dir, name);
	if (n < 0 || (size_t)n >= sizeof(s->path)) {
		r = lc_err_set(err, -ENAMETOOLONG,
			       "status socket '%s/%s.sock': longer than %zu bytes (use a shorter "
			       "name=)",
			       dir, name, sizeof(s->path) - 1);
		goto out_free;
	}
	memcpy(addr.sun_path, s->path, (size_t)n + 1);

	r = make_dir(dir, err);
	if (r < 0)
		goto out_free;
	r = clear_stale(s->path, &addr, err);
	if (r < 0)
		goto out_free;

	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0) {
		r = -errno;
		lc_err_set(err, r, "socket: %s", strerror(-r));
		goto out_free;
	}
	if (bind(s->listen_fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0) {
		r = -errno;
		lc_err_set(err, r, "bind '%s': %s", s->path, strerror(-r));
		goto out_close_listen;
	}
	if (chmod(s->path, 0600) < 0) {
		r = -errno;
		lc_err_set(err, r, "chmod 0600 '%s': %s", s->path, strerror(-r));
		goto out_unlink;
	}
	if (listen(s->listen_fd, LISTEN_BACKLOG) < 0) {
		r = -errno;
		lc_err_set(err, r, "listen '%s': %s", s->path, strerror(-r));
		goto out_unlink;
	}
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = -errno;
		lc_err_set(err, r, "pipe: %s", strerror(-r));
		goto out_unlink;
	}
	s->wake_rd = pipefd[0];
	s->wake_wr = pipefd[1];
	r = -pthread_create(&s->thread, NULL, sock_thread, s);
	if (r < 0) {
		lc_err_set(err, r, "status socket thread: %s", strerror(-r));
		goto out_close_pipe;
	}
	s->thread_started = true;
	*ret_sock = s;
	return 0;

out_close_pipe:
	(void)close(s->wake_rd);
	(void)close(s->wake_wr);
out_unlink:
	(void)unlink(s->path);
out_close_listen:
	(void)close(s->listen_fd);
out_free:
	free(s);
	return r;
}

const char *hc_sock_path(const struct hc_sock *sock)
{
	return sock->path;
}

void hc_sock_stop(struct hc_sock *s)
{
	static const char byte = 'q';

	if (!s)
		return;
	if (s->thread_started) {
		/* The pipe is empty until now: this write cannot block or fail short. */
		(void)!write(s->wake_wr, &byte, 1);
		(void)pthread_join(s->thread, NULL);
	}
	(void)unlink(s->path);
	(void)close(s->listen_fd);
	(void)close(s->wake_rd);
	(void)close(s->wake_wr);
	free(s);
}
