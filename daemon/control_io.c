/* SPDX-License-Identifier: MIT */
/* Socket I/O with a deadline (control_io.h). */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include "control_io.h"

int64_t lcd_ctl_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int lcd_ctl_wait(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = events};
		int64_t left = deadline_ms - lcd_ctl_now_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		/* POLLHUP and POLLERR too: the next read or write says what. */
		if (r > 0)
			return 0;
	}
}

int lcd_ctl_write_all(int fd, const char *buf, size_t len, int64_t deadline_ms)
{
	while (len > 0) {
		ssize_t n;
		int r;

		r = lcd_ctl_wait(fd, POLLOUT, deadline_ms);
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
