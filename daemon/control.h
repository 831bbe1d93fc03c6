/* SPDX-License-Identifier: MIT */
/*
 * luncloned's control socket: what lunclonectl(8) talks to.
 *
 * A UNIX stream socket, /run/lunclone/luncloned.sock by default. Its
 * directory is created with mode 0700 (an existing one must belong to root
 * and be closed to others: it is never chmod'ed, it may be /run), the
 * socket has mode 0600, and every connection's
 * peer must be uid 0 (SO_PEERCRED; defence in depth): only root gets in.
 *
 * Protocol (docs/lunclonectl.8), one exchange per connection, as the
 * handler's status socket (handler_clone(8)):
 *
 *     client: one request line, at most LCD_CTL_REQUEST_MAX bytes with its
 *             '\n' (or ended by closing the writing side), words separated
 *             by one space:
 *                 status [NAME] | pause NAME | resume NAME | throttle NAME MIB
 *     server: status -> one JSON object on one line, then '\n':
 *                 {"sessions":[{...}, ...]} (fields: lcd_ctl_execute())
 *             others -> "ok\n"
 *             anything refused or failed -> "error: <reason>\n"
 *     then the server closes the connection.
 *
 * pause, resume and throttle are forwarded to the session's own status
 * socket (SOCKET_DIR/NAME.sock); what they change lasts until the device
 * closes (tcmu-runner restarts, the backstore is recreated). A reload
 * (SIGHUP) sends the configured rate again only when the configuration's
 * rate of that session changed (plan.h): a runtime throttle outlives
 * reloads that leave the rate alone.
 *
 * The daemon serves one connection at a time from its main loop: a client
 * has LCD_CTL_IO_TIMEOUT_MS to send its request and to take the reply; a
 * status asks each session's device in turn (lcd_status_request(), at most
 * 5 s each).
 */
#ifndef LCD_CONTROL_H
#define LCD_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define LCD_CTL_SOCKET_DEFAULT LCD_SOCKET_DIR "/luncloned.sock"
/* A request line, its '\n' included. */
#define LCD_CTL_REQUEST_MAX 256u
/* How long a client may take to send its request, then to take the reply. */
#define LCD_CTL_IO_TIMEOUT_MS 2000

enum lcd_ctl_verb {
	LCD_CTL_STATUS,
	LCD_CTL_PAUSE,
	LCD_CTL_RESUME,
	LCD_CTL_THROTTLE,
};

struct lcd_ctl_request {
	enum lcd_ctl_verb verb;
	/* Empty: every session (status only). */
	char name[LCD_SESSION_NAME_MAX + 1];
	uint64_t mib; /* throttle: MiB/s, 0 = unlimited */
};

/*
 * Parses one request of len bytes (need not be NUL-terminated; one trailing
 * "\n" allowed, nothing after it). A name is 1 to LCD_SESSION_NAME_MAX
 * characters of [A-Za-z0-9._-] (the configuration's rule), a rate a decimal
 * number up to 2^44 (the handler's MiB/s limit, in bytes below 2^64).
 * Returns 0 and *ret_req, or -EINVAL with the reason in why (NUL-terminated,
 * never quoting the input's bytes unescaped). Never blocks.
 */
int lcd_ctl_parse_request(const char *buf, size_t len, struct lcd_ctl_request *ret_req, char *why,
			  size_t why_size);

/*
 * Runs req against the sessions of cfg (status sockets in cfg->socket_dir).
 * Returns 0 and the reply in *ret_reply (malloc'd, caller frees; it ends in
 * '\n' and may be an "error: ..." line for a refusal such as an unknown
 * session), or -ENOMEM. Blocks (one lcd_status_request() per session asked).
 *
 * Each session of the status reply is an object with, in this order:
 *   name, source (an iscsi:// URL with its passwords replaced by "***"),
 *   destination, state (the handler's: hydrating, paused,
 *   waiting-for-source, degraded, complete, read-only; or "not running" when its socket is absent or
 *   refuses, "unreachable" on any other failure, with "error" saying why),
 *   paused, regions_hydrated, regions_total, region_size, bytes_hydrated,
 *   bytes_total, percent, rate (bytes/s, the handler's recent average), eta
 *   (seconds), quarantined, rate_limit (bytes/s the device applies now, 0
 *   unlimited), rate_limit_config (bytes/s the configuration says),
 *   last_error, failed_device (when the handler tells), error. What is
 *   unknown is null: a session not running has only name, source,
 *   destination, state, paused (false), region_size when configured,
 *   bytes_total when probed, rate_limit_config and error.
 */
int lcd_ctl_execute(const struct lcd_config *cfg, const struct lcd_ctl_request *req,
		    char **ret_reply);

/*
 * One session's status object (fields as above) from its device's status
 * reply, which is split in place. Returns 0 and *ret_obj (caller puts it),
 * -EPROTO when the reply is not a status (a field missing, a line without
 * '=', a byte that is not printable ASCII), -ENOMEM. Exposed for the fuzzer.
 * Never blocks.
 */
struct json_object;
int lcd_ctl_session_from_reply(const struct lcd_session *s, char *reply,
			       struct json_object **ret_obj);

/* Logging of the daemon (luncloned.c): prio is an SD_* prefix. */
typedef void lcd_ctl_log_fn(const char *prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct lcd_ctl;

/*
 * path must be absolute. Creates its directory if needed (mode 0700; an
 * existing one must be a directory owned by root, or by the effective uid,
 * with no access for group and others: -EPERM otherwise), replaces a stale
 * socket file (one nobody answers on; a live one is -EADDRINUSE), binds and
 * listens (mode 0600). Returns 0 and *ret_ctl, or
 * -errno with a line in msg. log is how serving reports. Blocks briefly.
 */
int lcd_ctl_open(const char *path, lcd_ctl_log_fn *log, struct lcd_ctl **ret_ctl, char *msg,
		 size_t msg_size);

/* The listening fd, for the caller's poll() (POLLIN: a client waits). */
int lcd_ctl_fd(const struct lcd_ctl *ctl);

/*
 * Accepts the waiting connections, up to 16 (none: returns at once; the
 * rest wait for the next call), and serves each:
 * checks the peer, reads the request, runs it against cfg, replies, closes.
 * A failed, refused or slow client is logged and dropped; the socket keeps
 * serving. Returns 0, or -errno when the listening socket itself failed.
 * Blocks up to 2 * LCD_CTL_IO_TIMEOUT_MS per client plus the status
 * requests.
 */
int lcd_ctl_serve(struct lcd_ctl *ctl, const struct lcd_config *cfg);

/* Closes the socket and removes its file. Accepts NULL. */
void lcd_ctl_close(struct lcd_ctl *ctl);

#endif
