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

#endif
