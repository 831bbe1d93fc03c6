/* SPDX-License-Identifier: MIT */
/*
 * Per-device status and control socket of handler_clone.so:
 * /run/lunclone/<name>.sock, a UNIX stream socket (directory 0700, socket
 * 0600: root only). Protocol (docs/handler_clone.8), one exchange per
 * connection:
 *
 *     client: one request line, at most HC_SOCK_REQUEST_MAX bytes with '\n'
 *             status | pause | resume | throttle <MiB/s>
 *     server: status -> key=value lines in a fixed order (hc_sock_format_status)
 *             others -> "ok" or "error: <reason>"
 *             any malformed or unknown request -> "error: <reason>"
 *     then the server closes the connection.
 *
 * Plain text only: JSON belongs to the CLI and the daemon (lunclone ctl
 * --json converts). Nothing here knows tcmu-runner; the parser and the
 * formatter are pure functions so tests and the fuzzer call them alone.
 */
#ifndef LC_HANDLER_STATUS_SOCKET_H
#define LC_HANDLER_STATUS_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lc_clone;
struct lc_clone_status;
struct lc_meta;
struct lc_err;
struct hc_sock;

#define HC_SOCK_DIR "/run/lunclone"
/* Request line including its '\n'. */
#define HC_SOCK_REQUEST_MAX 128u
/* Enough for every status field at its widest. */
#define HC_SOCK_REPLY_MAX 1024u

enum hc_sock_verb {
	HC_SOCK_STATUS,
	HC_SOCK_PAUSE,
	HC_SOCK_RESUME,
	HC_SOCK_THROTTLE,
};

struct hc_sock_request {
	enum hc_sock_verb verb;
	uint64_t rate_bytes; /* throttle: per second, 0 = unlimited */
};

/*
 * Parses one request of len bytes (need not be NUL-terminated; one trailing
 * "\n" or "\r\n" is allowed, nothing after it). Words are separated by one
 * space. Returns 0 and *ret_req, or -EINVAL with the reason in err. Never
 * blocks.
 */
int hc_sock_parse_request(const char *line, size_t len, struct hc_sock_request *ret_req,
			  struct lc_err *err);

/*
 * The status reply: "key=value\n" lines in this order, always all of them:
 *     state regions_hydrated regions_total region_size percent rate eta
 *     quarantined rate_limit last_error
 * (rate and rate_limit in bytes/s, rate_limit 0 = unlimited; eta in seconds
 * or "unknown"; percent with two decimals; last_error a negative errno or 0).
 * Returns the length written (< size), or -ENOSPC. Never blocks. The server
 * adds one last line, failed_device (hc_sock_format_failed_device()).
 */
int hc_sock_format_status(const struct lc_clone_status *st, char *buf, size_t size);

/*
 * "failed_device=none|destination|metadata\n": the device whose failed
 * commit made the clone read-only (lc_meta_failed_device()), none while
 * none did; meta NULL says none. Returns the length written (< size), or
 * -ENOSPC. Never blocks.
 */
int hc_sock_format_failed_device(const struct lc_meta *meta, char *buf, size_t size);

/*
 * Creates dir (mode 0700, parents as needed; an existing one must be a
 * directory owned by the caller's euid and is tightened to 0700), binds
 * dir/<name>.sock (0600) and serves it from a new thread until
 * hc_sock_stop(). A stale socket from a dead process is replaced; a live one
 * is refused (-EADDRINUSE). Returns 0 and *ret_sock, or -errno with a message
 * in err. clone, and meta (the clone's store, for failed_device; may be
 * NULL), must outlive the socket. Blocks briefly.
 */
int hc_sock_start(const char *dir, const char *name, struct lc_clone *clone,
		  const struct lc_meta *meta, struct hc_sock **ret_sock, struct lc_err *err);

/* The path served (for messages). */
const char *hc_sock_path(const struct hc_sock *sock);

/* Wakes and joins the thread, removes the socket file, frees. Accepts NULL.
 * Blocks until a client being served is done (bounded by a short timeout). */
void hc_sock_stop(struct hc_sock *sock);

#endif
