/* SPDX-License-Identifier: MIT */
/*
 * The control socket's server side (control.h): the listening socket, and
 * one connection at a time: check the peer, read one bounded request with a
 * deadline, run it (control_req.c), reply, close.
 *
 * Everything a client sends is untrusted even though only root gets in: a
 * request is at most LCD_CTL_REQUEST_MAX bytes, read into a fixed buffer; a
 * longer one, one with bytes that are not printable ASCII, or one that does
 * not arrive in time gets "error: ..." and the connection is closed; the
 * daemon goes back to its loop either way.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "util/sock_exchange.h"

#include "control.h"

struct lcd_ctl {
	int fd;
	char *path;
	lcd_ctl_log_fn *log;
};

static int fail(char *msg, size_t msg_size, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *msg, size_t msg_size, int r, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	(void)snprintf(msg, msg_size, "control socket: %s: %s", what, strerror(-r));
	return r;
}

/* The socket's directory: created 0700, or an existing one that is root's
 * (or the effective user's, in tests) and closed to others. */
static int prepare_dir(const char *path, char *msg, size_t msg_size)
{
	char dir[PATH_MAX], *slash;
	struct stat st;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return fail(msg, msg_size, -ENAMETOOLONG, "'%s'", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail(msg, msg_size, -errno, "creating directory '%s'", dir);
	if (lstat(dir, &st) < 0)
		return fail(msg, msg_size, -errno, "directory '%s'", dir);
	if (!S_ISDIR(st.st_mode))
		return fail(msg, msg_size, -ENOTDIR, "'%s'", dir);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return fail(msg, msg_size, -EPERM,
			    "directory '%s' belongs to another user, refusing it", dir);
	/* Never chmod an existing directory: it may be /run or /tmp. */
	if (st.st_mode & 0077)
		return fail(msg, msg_size, -EPERM,
			    "directory '%s' is open to others (mode %04o), refusing it: give the "
			    "socket a directory of mode 0700",
			    dir, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* A socket file left by a daemon that died is replaced; a live one is not. */
static int remove_stale(const struct sockaddr_un *sa, char *msg, size_t msg_size)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : fail(msg, msg_size, -errno, "'%s'", sa->sun_path);
	if (!S_ISSOCK(st.st_mode))
		return fail(msg, msg_size, -EEXIST, "'%s' exists and is not a socket",
			    sa->sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(msg, msg_size, -errno, "socket for '%s'", sa->sun_path);
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ? -errno : 0;
	(void)close(fd);
	if (r == 0)
		return fail(msg, msg_size, -EADDRINUSE, "'%s' is served by a running process",
			    sa->sun_path);
	if (r != -ECONNREFUSED)
		return fail(msg, msg_size, r, "probing '%s'", sa->sun_path);
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return fail(msg, msg_size, -errno, "removing the stale '%s'", sa->sun_path);
	return 0;
}

int lcd_ctl_open(const char *path, lcd_ctl_log_fn *log, struct lcd_ctl **ret_ctl, char *msg,
		 size_t msg_size)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct lcd_ctl *ctl;
	mode_t old_umask;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(msg, msg_size, -ENAMETOOLONG, "'%s'", path);
	if (path[0] != '/')
		return fail(msg, msg_size, -EINVAL, "'%s': not an absolute path", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = prepare_dir(path, msg, msg_size);
	if (r < 0)
		return r;
	r = remove_stale(&sa, msg, msg_size);
	if (r < 0)
		return r;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return fail(msg, msg_size, -ENOMEM, "'%s'", path);
	ctl->log = log;
	ctl->path = strdup(path);
	if (!ctl->path) {
		r = fail(msg, msg_size, -ENOMEM, "'%s'", path);
		goto out_free;
	}
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->fd < 0) {
		r = fail(msg, msg_size, -errno, "socket for '%s'", path);
		goto out_free;
	}
	/* 0600 from the start: no moment where others could connect. */
	old_umask = umask(0177);
	r = bind(ctl->fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	(void)umask(old_umask);
	if (r < 0) {
		(void)fail(msg, msg_size, r, "bind '%s'", path);
		goto out_close;
	}
	if (chmod(path, 0600) < 0 || listen(ctl->fd, 16) < 0) {
		r = fail(msg, msg_size, -errno, "listen on '%s'", path);
		goto out_unlink;
	}
	*ret_ctl = ctl;
	return 0;

out_unlink:
	(void)unlink(path);
out_close:
	(void)close(ctl->fd);
out_free:
	free(ctl->path);
	free(ctl);
	return r;
}

int lcd_ctl_fd(const struct lcd_ctl *ctl)
{
	return ctl->fd;
}

void lcd_ctl_close(struct lcd_ctl *ctl)
{
	if (!ctl)
		return;
	(void)close(ctl->fd);
	(void)unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}

/*
 * Reads one request into buf (LCD_CTL_REQUEST_MAX + 1 bytes): up to and
 * including its '\n', or to EOF. Returns its length, or -EMSGSIZE (longer
 * than the limit), -ETIMEDOUT, -errno.
 */
static ssize_t read_request(int fd, char *buf, int64_t deadline_ms)
{
	size_t used = 0;

	for (;;) {
		ssize_t n;
		int r;

		r = lc_sock_wait(fd, POLLIN, deadline_ms);
		if (r < 0)
			return r;
		/* One byte beyond the limit tells "too long" from "just fits". */
		n = recv(fd, buf + used, LCD_CTL_REQUEST_MAX + 1 - used, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return (ssize_t)used;
		if (memchr(buf + used, '\n', (size_t)n)) {
			used += (size_t)n;
			return used > LCD_CTL_REQUEST_MAX ? -EMSGSIZE : (ssize_t)used;
		}
		used += (size_t)n;
		if (used > LCD_CTL_REQUEST_MAX)
			return -EMSGSIZE;
	}
}

static const char *verb_name(enum lcd_ctl_verb verb)
{
	switch (verb) {
	case LCD_CTL_STATUS:
		return "status";
	case LCD_CTL_PAUSE:
		return "pause";
	case LCD_CTL_RESUME:
		return "resume";
	case LCD_CTL_THROTTLE:
		return "throttle";
	}
	return "?";
}

static void serve_client(struct lcd_ctl *ctl, int fd, const struct lcd_config *cfg)
{
	char buf[LCD_CTL_REQUEST_MAX + 1], why[256], refusal[320];
	int64_t deadline = lc_sock_now_ms() + LCD_CTL_IO_TIMEOUT_MS;
	struct lcd_ctl_request req;
	struct ucred cred;
	socklen_t cred_len = sizeof(cred);
	char *reply = NULL;
	const char *out;
	ssize_t len;
	int r;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0) {
		ctl->log(SD_WARNING, "control: peer credentials: %s, dropping the connection",
			 strerror(errno));
		return;
	}
	/* Read first even from a peer we refuse: closing with its request
	 * unread would reset the connection and lose our reply. */
	len = read_request(fd, buf, deadline);
	if (cred.uid != 0) {
		ctl->log(SD_WARNING, "control: refused a connection from uid %u pid %d: root only",
			 (unsigned)cred.uid, (int)cred.pid);
		out = "error: permission denied (root only)\n";
		goto reply;
	}
	if (len < 0) {
		r = (int)len;
		(void)snprintf(refusal, sizeof(refusal), "error: %s\n",
			       r == -EMSGSIZE	 ? "request too long"
			       : r == -ETIMEDOUT ? "no request within the time allowed"
						 : strerror(-r));
		ctl->log(SD_WARNING, "control: request from pid %d: %.*s, refused", (int)cred.pid,
			 (int)strlen(refusal) - 8, refusal + 7);
		out = refusal;
		goto reply;
	}
	if (lcd_ctl_parse_request(buf, (size_t)len, &req, why, sizeof(why)) < 0) {
		ctl->log(SD_WARNING, "control: request from pid %d: %s, refused", (int)cred.pid,
			 why);
		(void)snprintf(refusal, sizeof(refusal), "error: %s\n", why);
		out = refusal;
		goto reply;
	}
	r = lcd_ctl_execute(cfg, &req, &reply);
	if (r < 0) {
		ctl->log(SD_ERR, "control: %s: %s", verb_name(req.verb), strerror(-r));
		out = "error: out of memory\n";
		goto reply;
	}
	out = reply;
	/* What changes a device is logged, with its outcome. */
	if (req.verb != LCD_CTL_STATUS) {
		char rate[40] = "";

		if (req.verb == LCD_CTL_THROTTLE)
			(void)snprintf(rate, sizeof(rate), " %llu MiB/s",
				       (unsigned long long)req.mib);
		ctl->log(strncmp(reply, "ok", 2) == 0 ? SD_NOTICE : SD_WARNING,
			 "control: %s '%s'%s: %.*s", verb_name(req.verb), req.name, rate,
			 (int)strcspn(reply, "\n"), reply);
	}
reply:
	deadline = lc_sock_now_ms() + LCD_CTL_IO_TIMEOUT_MS;
	r = lc_sock_send_all(fd, out, strlen(out), deadline);
	if (r < 0)
		ctl->log(SD_WARNING, "control: replying to pid %d: %s, ignoring", (int)cred.pid,
			 strerror(-r));
	free(reply);
}

/* Clients served per call: then back to the loop, so that a stream of
 * clients cannot hold off a signal. */
#define SERVE_BATCH 16

int lcd_ctl_serve(struct lcd_ctl *ctl, const struct lcd_config *cfg)
{
	for (unsigned i = 0; i < SERVE_BATCH; i++) {
		int fd = accept4(ctl->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			int r = -errno;

			if (r == -EINTR || r == -ECONNABORTED || r == -EPROTO)
				continue;
			if (r == -EAGAIN)
				return 0;
			if (r == -EMFILE || r == -ENFILE || r == -ENOBUFS || r == -ENOMEM) {
				ctl->log(SD_WARNING, "control: accept: %s, ignoring", strerror(-r));
				/* The client stays in the backlog and poll() says so
				 * again at once: don't spin. */
				(void)poll(NULL, 0, 100);
				return 0;
			}
			ctl->log(SD_ERR, "control: accept on '%s': %s", ctl->path, strerror(-r));
			return r;
		}
		serve_client(ctl, fd, cfg);
		(void)close(fd);
	}
	return 0;
}
