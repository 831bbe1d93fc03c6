/* SPDX-License-Identifier: MIT */
/* One exchange on a UNIX stream socket (sock_exchange.h). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sock_exchange.h"

int64_t lc_sock_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int lc_sock_wait(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = events};
		int64_t left = deadline_ms - lc_sock_now_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		/* Capped: a far deadline must not overflow poll()'s int. */
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return 0;
	}
}

int lc_sock_send_all(int fd, const char *buf, size_t len, int64_t deadline_ms)
{
	while (len > 0) {
		ssize_t n;
		int r;

		r = lc_sock_wait(fd, POLLOUT, deadline_ms);
		if (r < 0)
			return r;
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int lc_sock_exchange(const char *path, const char *request, int timeout_ms, size_t reply_max,
		       char **ret_reply, enum lc_sock_step *ret_step)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int64_t deadline_ms = lc_sock_now_ms() + timeout_ms;
	size_t used = 0;
	char *reply = NULL;
	int fd, r;

	*ret_step = LC_SOCK_CONNECT;
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0) {
		r = -errno;
		goto out;
	}
	*ret_step = LC_SOCK_IO;
	r = lc_sock_send_all(fd, request, strlen(request), deadline_ms);
	if (r < 0)
		goto out;
	(void)shutdown(fd, SHUT_WR);

	reply = malloc(reply_max + 1);
	if (!reply) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n;

		r = lc_sock_wait(fd, POLLIN, deadline_ms);
		if (r < 0)
			goto out;
		n = recv(fd, reply + used, reply_max - used, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used == reply_max) {
			r = -EMSGSIZE;
			goto out;
		}
	}
	reply[used] = '\0';
	*ret_reply = reply;
	reply = NULL;
	r = 0;
out:
	free(reply);
	(void)close(fd);
	return r;
}
