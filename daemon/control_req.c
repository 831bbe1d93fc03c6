/* SPDX-License-Identifier: MIT */
/*
 * The control socket's requests (control.h): the parser, and running a
 * request against the configuration and the sessions' status sockets.
 *
 * The status of a session is the handler's key=value reply
 * (handler_clone(8)) turned into typed JSON fields, with what only the
 * configuration knows (source, destination, configured rate, probed size)
 * added. A session whose device does not answer is still listed, with its
 * state saying why. Nothing here logs: luncloned.c does.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <lunclone/err.h>

#include "util/iscsi_url.h"
#include "util/parse.h"
#include "util/sock_exchange.h"

#include "cfs_exec.h"
#include "control.h"

#define MIB_SHIFT 20
/* As lcd_status_request(): the handler answers within 2 s. */
#define HANDLER_TIMEOUT_MS 5000
/* The handler's status reply is at most 1 KiB (HC_SOCK_REPLY_MAX). */
#define HANDLER_REPLY_MAX 2048

static int refuse(char *why, size_t why_size, const char *msg)
{
	(void)snprintf(why, why_size, "%s", msg);
	return -EINVAL;
}

static bool name_ok(const char *s, size_t len)
{
	if (len == 0 || len > LCD_SESSION_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

int lcd_ctl_parse_request(const char *buf, size_t len, struct lcd_ctl_request *ret_req, char *why,
			  size_t why_size)
{
	struct lcd_ctl_request req = {.verb = LCD_CTL_STATUS};
	char line[LCD_CTL_REQUEST_MAX + 1];
	char *words[4] = {NULL}, *save = NULL, *w;
	size_t nr = 0;
	bool want_name, want_rate;

	if (len > LCD_CTL_REQUEST_MAX)
		return refuse(why, why_size, "request too long");
	memcpy(line, buf, len);
	line[len] = '\0';
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
			return refuse(why, why_size,
				      "request contains a NUL byte, a control character, a "
				      "non-ASCII byte or more than one line");
	if (len == 0)
		return refuse(why, why_size, "empty request");
	/* One space between words: no empty words. */
	if (line[0] == ' ' || line[len - 1] == ' ' || strstr(line, "  "))
		return refuse(why, why_size, "words must be separated by one space");
	for (w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (nr == 4)
			return refuse(why, why_size, "too many words");
		words[nr++] = w;
	}
	if (nr == 0)
		return refuse(why, why_size, "empty request");
	if (strcmp(words[0], "status") == 0) {
		req.verb = LCD_CTL_STATUS;
		want_name = nr == 2;
		want_rate = false;
		if (nr > 2)
			return refuse(why, why_size, "status: takes at most one session name");
	} else if (strcmp(words[0], "pause") == 0 || strcmp(words[0], "resume") == 0) {
		req.verb = words[0][0] == 'p' ? LCD_CTL_PAUSE : LCD_CTL_RESUME;
		want_name = true;
		want_rate = false;
		if (nr != 2)
			return refuse(why, why_size,
				      req.verb == LCD_CTL_PAUSE ? "pause: takes one session name"
								: "resume: takes one session name");
	} else if (strcmp(words[0], "throttle") == 0) {
		req.verb = LCD_CTL_THROTTLE;
		want_name = true;
		want_rate = true;
		if (nr != 3)
			return refuse(why, why_size,
				      "throttle: takes a session name and a rate in MiB/s");
	} else {
		return refuse(why, why_size, "unknown verb (status, pause, resume, throttle)");
	}
	if (want_name) {
		if (!name_ok(words[1], strlen(words[1])))
			return refuse(why, why_size,
				      "not a session name (1 to 64 of A-Z a-z 0-9 . _ -, "
				      "not starting with '.')");
		memcpy(req.name, words[1], strlen(words[1]) + 1);
	}
	if (want_rate &&
	    (lc_parse_u64(words[2], &req.mib) < 0 || req.mib > (UINT64_MAX >> MIB_SHIFT)))
		return refuse(why, why_size,
			      "throttle: the rate is not a whole number of MiB/s "
			      "(0 = unlimited)");
	*ret_req = req;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Replies */

static int reply_text(char **ret_reply, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int reply_text(char **ret_reply, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	*ret_reply = s;
	return 0;
}

/* The handler's fields we show, in the handler's order. */
enum hfield {
	HF_STATE,
	HF_HYDRATED,
	HF_TOTAL,
	HF_REGION_SIZE,
	HF_PERCENT,
	HF_RATE,
	HF_ETA,
	HF_QUARANTINED,
	HF_RATE_LIMIT,
	HF_LAST_ERROR,
	HF_REQUIRED_NR,
	/* Optional: a newer handler's. */
	HF_FAILED_DEVICE = HF_REQUIRED_NR,
	HF_NR,
};

static const char *const hfield_names[HF_NR] = {
    "state", "regions_hydrated", "regions_total", "region_size", "percent",	  "rate",
    "eta",   "quarantined",	 "rate_limit",	  "last_error",	 "failed_device",
};

/* Splits the handler's key=value lines in place; -EPROTO when a field is
 * missing (unknown keys are passed over: a newer handler may add some). */
static int split_status(char *reply, const char *ret_values[HF_NR])
{
	char *line, *save = NULL;
	unsigned seen = 0;
	size_t len;

	/* Printable ASCII lines only: what we pass on must be valid JSON text. */
	for (const char *p = reply; *p; p++)
		if (*p != '\n' && ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f))
			return -EPROTO;

	for (line = strtok_r(reply, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			return -EPROTO;
		*eq = '\0';
		for (unsigned i = 0; i < HF_NR; i++) {
			if (strcmp(line, hfield_names[i]) == 0) {
				ret_values[i] = eq + 1;
				seen |= 1u << i;
			}
		}
	}
	if ((seen & ((1u << HF_REQUIRED_NR) - 1)) != (1u << HF_REQUIRED_NR) - 1)
		return -EPROTO;
	/* A state is a word: a newer handler may add one, not anything. */
	len = strlen(ret_values[HF_STATE]);
	if (len == 0 || len > 32 ||
	    strspn(ret_values[HF_STATE], "abcdefghijklmnopqrstuvwxyz-") != len)
		return -EPROTO;
	return 0;
}

/* Adds key: val to obj; val NULL is JSON null. false without memory. */
static bool add(struct json_object *obj, const char *key, struct json_object *val, bool ok)
{
	if (!ok) {
		json_object_put(val);
		return false;
	}
	if (json_object_object_add(obj, key, val) < 0) {
		json_object_put(val);
		return false;
	}
	return true;
}

static struct json_object *json_u64_or_null(const char *s, bool *ok)
{
	uint64_t v;
	struct json_object *o;

	if (!s || lc_parse_u64(s, &v) < 0)
		return NULL;
	o = json_object_new_uint64(v);
	if (!o)
		*ok = false;
	return o;
}

static struct json_object *json_new_string_ok(const char *s, bool *ok)
{
	struct json_object *o = json_object_new_string(s);

	if (!o)
		*ok = false;
	return o;
}

static struct json_object *json_new_u64_ok(uint64_t v, bool *ok)
{
	struct json_object *o = json_object_new_uint64(v);

	if (!o)
		*ok = false;
	return o;
}

/* The source as shown: an iscsi:// URL without its passwords. */
static struct json_object *json_source(const char *source, bool *ok)
{
	struct lc_iscsi_url url;
	struct lc_err err;
	struct json_object *o;

	if (strncmp(source, "iscsi://", 8) != 0)
		return json_new_string_ok(source, ok);
	if (lc_iscsi_url_parse(source, &url, &err) < 0)
		return json_new_string_ok("iscsi://(not shown: unparsable)", ok);
	o = json_new_string_ok(url.redacted, ok);
	lc_iscsi_url_free(&url);
	return o;
}

/* "12" or "12.34": the handler's percent, passed on as written, so it must
 * be a JSON number. */
static bool decimal_ok(const char *s)
{
	size_t int_len = strspn(s, "0123456789"), frac_len;

	if (int_len == 0 || int_len > 3)
		return false;
	if (s[int_len] == '\0')
		return true;
	if (s[int_len] != '.')
		return false;
	frac_len = strspn(s + int_len + 1, "0123456789");
	return frac_len > 0 && frac_len <= 4 && s[int_len + 1 + frac_len] == '\0';
}

/*
 * One session's status object. values NULL: the device did not answer,
 * state and error say why.
 */
static struct json_object *session_json(const struct lcd_session *s, const char *const *values,
					const char *state, const char *error)
{
	struct json_object *obj = json_object_new_object();
	uint64_t hydrated = 0, total = 0, region = 0, bytes_total = s->source_size_bytes;
	bool ok = obj != NULL, have_counts = false;
	const char *percent = NULL;

	if (!obj)
		return NULL;
	if (values) {
		state = values[HF_STATE];
		have_counts = lc_parse_u64(values[HF_HYDRATED], &hydrated) == 0 &&
			      lc_parse_u64(values[HF_TOTAL], &total) == 0 &&
			      lc_parse_u64(values[HF_REGION_SIZE], &region) == 0;
		percent = values[HF_PERCENT];
		if (!bytes_total && have_counts && region && total <= UINT64_MAX / region)
			bytes_total = total * region;
	} else {
		region = s->region_size_bytes;
	}
	ok = add(obj, "name", json_new_string_ok(s->name, &ok), ok);
	ok = add(obj, "source", json_source(s->source, &ok), ok);
	ok = add(obj, "destination", json_new_string_ok(s->destination, &ok), ok);
	ok = add(obj, "state", json_new_string_ok(state, &ok), ok);
	ok = add(obj, "paused", json_object_new_boolean(strcmp(state, "paused") == 0), ok);
	ok = add(obj, "regions_hydrated", have_counts ? json_new_u64_ok(hydrated, &ok) : NULL, ok);
	ok = add(obj, "regions_total", have_counts ? json_new_u64_ok(total, &ok) : NULL, ok);
	ok = add(obj, "region_size", region ? json_new_u64_ok(region, &ok) : NULL, ok);
	if (have_counts) {
		uint64_t bytes =
		    hydrated <= UINT64_MAX / (region ? region : 1) ? hydrated * region : UINT64_MAX;

		if (bytes_total && bytes > bytes_total)
			bytes = bytes_total; /* the last region may be partial */
		ok = add(obj, "bytes_hydrated", json_new_u64_ok(bytes, &ok), ok);
	} else {
		ok = add(obj, "bytes_hydrated", NULL, ok);
	}
	ok = add(obj, "bytes_total", bytes_total ? json_new_u64_ok(bytes_total, &ok) : NULL, ok);
	if (percent && decimal_ok(percent)) {
		struct json_object *p = json_object_new_double_s(strtod(percent, NULL), percent);

		ok = add(obj, "percent", p, ok && p);
	} else {
		ok = add(obj, "percent", NULL, ok);
	}
	ok = add(obj, "rate", json_u64_or_null(values ? values[HF_RATE] : NULL, &ok), ok);
	ok = add(obj, "eta", json_u64_or_null(values ? values[HF_ETA] : NULL, &ok), ok);
	ok = add(obj, "quarantined", json_u64_or_null(values ? values[HF_QUARANTINED] : NULL, &ok),
		 ok);
	ok = add(obj, "rate_limit", json_u64_or_null(values ? values[HF_RATE_LIMIT] : NULL, &ok),
		 ok);
	ok = add(obj, "rate_limit_config", json_new_u64_ok(s->hydration.rate_limit_bytes, &ok), ok);
	if (values && values[HF_LAST_ERROR] && values[HF_LAST_ERROR][0]) {
		int64_t e = strtoll(values[HF_LAST_ERROR], NULL, 10);
		struct json_object *le = json_object_new_int64(e);

		ok = add(obj, "last_error", le, ok && le);
	} else {
		ok = add(obj, "last_error", NULL, ok);
	}
	ok = add(obj, "failed_device",
		 values && values[HF_FAILED_DEVICE]
		     ? json_new_string_ok(values[HF_FAILED_DEVICE], &ok)
		     : NULL,
		 ok);
	ok = add(obj, "error", error ? json_new_string_ok(error, &ok) : NULL, ok);
	if (!ok) {
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

int lcd_ctl_session_from_reply(const struct lcd_session *s, char *reply,
			       struct json_object **ret_obj)
{
	const char *values[HF_NR] = {NULL};
	struct json_object *obj;

	if (split_status(reply, values) < 0)
		return -EPROTO;
	obj = session_json(s, values, NULL, NULL);
	if (!obj)
		return -ENOMEM;
	*ret_obj = obj;
	return 0;
}

static int socket_path(const struct lcd_config *cfg, const char *name, char *buf, size_t size)
{
	if (snprintf(buf, size, "%s/%s.sock", cfg->socket_dir, name) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

/* ENOENT and ECONNREFUSED: no device serves the socket (not open, or
 * tcmu-runner is down). */
static bool not_running(int r)
{
	return r == -ENOENT || r == -ECONNREFUSED;
}

/*
 * The whole status reply of a device: lcd_status_request() keeps only the
 * first line of a reply, enough for "ok" but not for a status. Returns 0
 * and the reply, -EPROTO with the reply for "error: ...", -errno
 * (-ETIMEDOUT). Blocks up to HANDLER_TIMEOUT_MS.
 */
static int handler_status(const char *path, char *reply, size_t size)
{
	enum lc_sock_step step;
	char *got = NULL;
	int r;

	r = lc_sock_exchange(path, "status\n", HANDLER_TIMEOUT_MS, size - 1, &got, &step);
	if (r < 0)
		return r;
	/* Shorter than size - 1 bytes, or the exchange said -EMSGSIZE. */
	memcpy(reply, got, strlen(got) + 1);
	free(got);
	return strncmp(reply, "error: ", 7) == 0 ? -EPROTO : 0;
}

static struct json_object *session_status(const struct lcd_config *cfg, const struct lcd_session *s)
{
	char path[4096], reply[HANDLER_REPLY_MAX], error[512];
	int r;

	r = socket_path(cfg, s->name, path, sizeof(path));
	if (r == 0)
		r = handler_status(path, reply, sizeof(reply));
	if (r == -EPROTO) {
		reply[strcspn(reply, "\n")] = '\0';
		(void)snprintf(error, sizeof(error), "the handler says: %.400s", reply + 7);
		return session_json(s, NULL, "unreachable", error);
	}
	if (r == 0) {
		struct json_object *obj = NULL;

		r = lcd_ctl_session_from_reply(s, reply, &obj);
		if (r == 0 || r == -ENOMEM)
			return obj;
	}
	if (r == -EPROTO)
		(void)snprintf(error, sizeof(error), "%.300s: unexpected status reply", path);
	else
		(void)snprintf(error, sizeof(error), "%.300s: %.150s", path, strerror(-r));
	return session_json(s, NULL, not_running(r) ? "not running" : "unreachable", error);
}

static int status(const struct lcd_config *cfg, const char *name, char **ret_reply)
{
	struct json_object *top, *arr;
	const char *s;
	ssize_t only = -1;
	int r = -ENOMEM;

	if (name[0]) {
		only = lcd_config_find_session(cfg, name);
		if (only < 0)
			return reply_text(ret_reply, "error: unknown session '%s'\n", name);
	}
	top = json_object_new_object();
	arr = json_object_new_array();
	if (!top || !arr || json_object_object_add(top, "sessions", arr) < 0) {
		json_object_put(arr);
		goto out;
	}
	for (size_t i = 0; i < cfg->nr_sessions; i++) {
		struct json_object *o;

		if (only >= 0 && (size_t)only != i)
			continue;
		o = session_status(cfg, &cfg->sessions[i]);
		if (!o || json_object_array_add(arr, o) < 0) {
			json_object_put(o);
			goto out;
		}
	}
	s = json_object_to_json_string_ext(top,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s)
		r = reply_text(ret_reply, "%s\n", s);
out:
	json_object_put(top);
	return r;
}

/* pause, resume, throttle: forwarded to the device. */
static int forward(const struct lcd_config *cfg, const struct lcd_ctl_request *req,
		   char **ret_reply)
{
	char path[4096], line[64], reply[256];
	ssize_t idx = lcd_config_find_session(cfg, req->name);
	int r;

	if (idx < 0)
		return reply_text(ret_reply, "error: unknown session '%s'\n", req->name);
	if (socket_path(cfg, req->name, path, sizeof(path)) < 0)
		return reply_text(ret_reply, "error: session '%s': socket path too long\n",
				  req->name);
	if (req->verb == LCD_CTL_THROTTLE)
		(void)snprintf(line, sizeof(line), "throttle %llu\n", (unsigned long long)req->mib);
	else
		(void)snprintf(line, sizeof(line), "%s\n",
			       req->verb == LCD_CTL_PAUSE ? "pause" : "resume");
	r = lcd_status_request(path, line, reply, sizeof(reply));
	if (r == 0)
		return reply_text(ret_reply, "ok\n");
	if (r == -EPROTO)
		return reply_text(ret_reply, "error: session '%s': the handler says: %s\n",
				  req->name, strncmp(reply, "error: ", 7) == 0 ? reply + 7 : reply);
	if (not_running(r))
		return reply_text(ret_reply, "error: session '%s' is not running (%s: %s)\n",
				  req->name, path, strerror(-r));
	return reply_text(ret_reply, "error: session '%s': %s: %s\n", req->name, path,
			  strerror(-r));
}

int lcd_ctl_execute(const struct lcd_config *cfg, const struct lcd_ctl_request *req,
		    char **ret_reply)
{
	if (req->verb == LCD_CTL_STATUS)
		return status(cfg, req->name, ret_reply);
	return forward(cfg, req, ret_reply);
}
