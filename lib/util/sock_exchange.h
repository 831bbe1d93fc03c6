/* SPDX-License-Identifier: MIT */
/*
 * One request/reply exchange on a UNIX stream socket, as the handler's
 * status socket (handler_clone(8)) and luncloned's control socket
 * (lunclonectl(8)) want it: connect, send the request, close the writing
 * side, read the reply to EOF. Shared by lunclone ctl, lunclonectl and
 * luncloned (its requests to the handlers), which word the errors each
 * their own way: nothing is printed here.
 */
#ifndef LC_UTIL_SOCK_EXCHANGE_H
#define LC_UTIL_SOCK_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

/* Where an exchange failed. */
enum lc_sock_step {
	LC_SOCK_CONNECT, /* socket() or connect(): nobody there, or no access */
	LC_SOCK_IO,	  /* sending or receiving */
};

/*
 * Sends request on the socket at path and reads the reply, NUL-terminated,
 * into *ret_reply (caller frees). Returns 0, or -errno with *ret_step set:
 * -ENAMETOOLONG (path too long for a socket), -ETIMEDOUT (the whole exchange
 * took more than timeout_ms), -EMSGSIZE (a reply of reply_max bytes or more),
 * -ENOMEM. Retries EINTR, never raises SIGPIPE. Blocks up to timeout_ms.
 */
int lc_sock_exchange(const char *path, const char *request, int timeout_ms, size_t reply_max,
		       char **ret_reply, enum lc_sock_step *ret_step);

/* The pieces, for a server's side of such an exchange (luncloned's control
 * socket). Deadlines are lc_sock_now_ms() values. */

/* CLOCK_MONOTONIC in milliseconds. */
int64_t lc_sock_now_ms(void);

/* Waits for events on fd: 0 ready (or hung up: the next call says what),
 * -ETIMEDOUT past deadline_ms, -errno. Retries EINTR. */
int lc_sock_wait(int fd, short events, int64_t deadline_ms);

/* Sends all len bytes of buf on the socket fd: 0, -ETIMEDOUT, -errno.
 * Retries EINTR and EAGAIN, never raises SIGPIPE. */
int lc_sock_send_all(int fd, const char *buf, size_t len, int64_t deadline_ms);

#endif
