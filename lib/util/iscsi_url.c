/* SPDX-License-Identifier: MIT */
/*
 * Our part of an iscsi:// URI (query keys, redaction) and CHAP secret files;
 * see iscsi_url.h. The URL proper (portal, target, LUN, credentials) is left
 * to libiscsi's parser: here we only locate the userinfo to redact it, the
 * same way libiscsi finds it (the first '@' before the query; the password
 * after the first '%' or ':' in it), so that we never disagree about which
 * characters are the password.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lunclone/err.h>

#include "util/full_rw.h"
#include "util/iscsi_url.h"
#include "util/parse.h"

#define REDACTED "***"

bool lc_iscsi_url_is_iscsi(const char *uri)
{
	return uri && strncmp(uri, LC_ISCSI_URL_SCHEME, strlen(LC_ISCSI_URL_SCHEME)) == 0;
}

/* A growing string; on allocation failure ok turns false and stays so. */
struct sbuf {
	char *s;
	size_t len, cap;
	bool ok;
};

static void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	char *p;

	if (!b->ok)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;

		p = malloc(cap);
		if (!p) {
			b->ok = false;
			return;
		}
		if (b->s) {
			memcpy(p, b->s, b->len);
			/* The old buffer may hold a password. */
			explicit_bzero(b->s, b->cap);
			free(b->s);
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sbuf_wipe(struct sbuf *b)
{
	if (b->s)
		explicit_bzero(b->s, b->cap);
	free(b->s);
	b->s = NULL;
}

/* The keys of the query, ours and libiscsi's. */
enum {
	KEY_HEADER_DIGEST,
	KEY_TARGET_USER,
	KEY_TARGET_PASSWORD,
	KEY_TIMEOUT,
	KEY_SECRET_FILE,
	NR_KEYS,
};

static const char *const key_names[NR_KEYS] = {
    [KEY_HEADER_DIGEST] = "header_digest",     [KEY_TARGET_USER] = "target_user",
    [KEY_TARGET_PASSWORD] = "target_password", [KEY_TIMEOUT] = "timeout",
    [KEY_SECRET_FILE] = "secret_file",
};

static int find_key(const char *key, size_t len)
{
	for (int k = 0; k < NR_KEYS; k++)
		if (strlen(key_names[k]) == len && memcmp(key_names[k], key, len) == 0)
			return k;
	return -1;
}

/* Checks one "key=value" of the query; on success, *ret_key says which. */
static int check_param(const char *p, size_t len, bool seen[NR_KEYS], struct lc_iscsi_url *u,
		       int *ret_key, struct lc_err *err)
{
	const char *eq = memchr(p, '=', len);
	size_t klen = eq ? (size_t)(eq - p) : len, vlen = eq ? len - klen - 1 : 0;
	char value[LC_ISCSI_SECRET_MAX];
	int k = find_key(p, klen);

	if (k < 0)
		return lc_err_set(err, -EINVAL, "iscsi URI: unknown option '%.*s'", (int)klen, p);
	if (seen[k])
		return lc_err_set(err, -EINVAL, "iscsi URI: option '%s' given twice", key_names[k]);
	seen[k] = true;
	if (!eq || vlen == 0)
		return lc_err_set(err, -EINVAL, "iscsi URI: option '%s' needs a value",
				  key_names[k]);
	if (vlen >= sizeof(value))
		return lc_err_set(err, -EINVAL, "iscsi URI: option '%s': value too long",
				  key_names[k]);
	memcpy(value, eq + 1, vlen);
	value[vlen] = '\0';

	switch (k) {
	case KEY_HEADER_DIGEST:
		/* What libiscsi accepts; we check it so the error names the key. */
		if (strcmp(value, "crc32c") != 0 && strcmp(value, "none") != 0)
			return lc_err_set(err, -EINVAL,
					  "iscsi URI: header_digest '%s': expected crc32c or none",
					  value);
		break;
	case KEY_TIMEOUT:
		if (lc_parse_uint(value, &u->timeout_s) < 0 || u->timeout_s == 0 ||
		    u->timeout_s > LC_ISCSI_TIMEOUT_MAX)
			return lc_err_set(err, -EINVAL,
					  "iscsi URI: timeout '%s': expected seconds, 1 to %u",
					  value, LC_ISCSI_TIMEOUT_MAX);
		break;
	case KEY_SECRET_FILE:
		if (value[0] != '/')
			return lc_err_set(err, -EINVAL,
					  "iscsi URI: secret_file '%s': not an absolute path",
					  value);
		u->secret_file = strdup(value);
		if (!u->secret_file)
			return lc_err_set(err, -ENOMEM, "iscsi URI: out of memory");
		break;
	default: /* target_user, target_password: libiscsi's, any string */
		break;
	}
	explicit_bzero(value, sizeof(value));
	*ret_key = k;
	return 0;
}

int lc_iscsi_url_parse(const char *uri, struct lc_iscsi_url *ret_url, struct lc_err *err)
{
	struct lc_iscsi_url u = {.timeout_s = LC_ISCSI_TIMEOUT_DEFAULT};
	struct sbuf lib = {.ok = true}, red = {.ok = true};
	bool seen[NR_KEYS] = {false};
	const char *rest, *query, *at, *pw;
	size_t base_len;
	int r;

	if (!lc_iscsi_url_is_iscsi(uri))
		return lc_err_set(err, -EINVAL, "iscsi URI: does not start with %s",
				  LC_ISCSI_URL_SCHEME);
	rest = uri + strlen(LC_ISCSI_URL_SCHEME);
	query = strchr(rest, '?');
	base_len = query ? (size_t)(query - uri) : strlen(uri);

	/* Userinfo as libiscsi finds it: up to the first '@' before the query. */
	at = memchr(rest, '@', base_len - (size_t)(rest - uri));
	if (at) {
		size_t ulen;

		pw = memchr(rest, '%', (size_t)(at - rest));
		if (!pw)
			pw = memchr(rest, ':', (size_t)(at - rest));
		ulen = (size_t)((pw ? pw : at) - rest);
		u.url_has_password = pw && pw + 1 < at;
		if (ulen > 0) {
			u.url_user = strndup(rest, ulen);
			if (!u.url_user) {
				r = lc_err_set(err, -ENOMEM, "iscsi URI: out of memory");
				goto out_free;
			}
		}
		sbuf_add(&red, uri, (size_t)(rest - uri) + ulen);
		if (pw)
			sbuf_add(&red, "%" REDACTED, strlen("%" REDACTED));
		sbuf_add(&red, at, base_len - (size_t)(at - uri));
	} else {
		sbuf_add(&red, uri, base_len);
	}
	sbuf_add(&lib, uri, base_len);

	/* The query: check each key; libiscsi's go on to libiscsi, ours stay. */
	for (const char *p = query ? query + 1 : NULL; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		int key = -1; /* set by check_param(); gcc -O2 cannot tell */

		if (len == 0) {
			r = lc_err_set(err, -EINVAL, "iscsi URI: empty option in the query");
			goto out_free;
		}
		r = check_param(p, len, seen, &u, &key, err);
		if (r < 0)
			goto out_free;
		sbuf_add(&red, red.len && memchr(red.s, '?', red.len) ? "&" : "?", 1);
		if (key == KEY_TARGET_PASSWORD)
			sbuf_add(&red, "target_password=" REDACTED,
				 strlen("target_password=" REDACTED));
		else
			sbuf_add(&red, p, len);
		if (key != KEY_TIMEOUT && key != KEY_SECRET_FILE) {
			sbuf_add(&lib, lib.len && memchr(lib.s, '?', lib.len) ? "&" : "?", 1);
			sbuf_add(&lib, p, len);
		}
		p = amp ? amp + 1 : NULL;
	}
	if (!lib.ok || !red.ok) {
		r = lc_err_set(err, -ENOMEM, "iscsi URI: out of memory");
		goto out_free;
	}
	if (u.secret_file && u.url_has_password) {
		r = lc_err_set(err, -EINVAL,
			       "iscsi URI: a password in the URI and a secret_file: give it once");
		goto out_free;
	}
	u.libiscsi_url = lib.s;
	u.redacted = red.s;
	*ret_url = u;
	return 0;

out_free:
	sbuf_wipe(&lib);
	sbuf_wipe(&red);
	free(u.url_user);
	free(u.secret_file);
	return r;
}

void lc_iscsi_url_free(struct lc_iscsi_url *url)
{
	if (!url)
		return;
	if (url->libiscsi_url)
		explicit_bzero(url->libiscsi_url, strlen(url->libiscsi_url));
	free(url->libiscsi_url);
	free(url->redacted);
	free(url->url_user);
	free(url->secret_file);
	memset(url, 0, sizeof(*url));
}

void lc_iscsi_secrets_wipe(struct lc_iscsi_secrets *secrets)
{
	explicit_bzero(secrets, sizeof(*secrets));
}

/* Parses the text of a secret file (NUL-terminated) into *s. */
static int parse_secrets(const char *path, char *text, struct lc_iscsi_secrets *s,
			 struct lc_err *err)
{
	static const char *const names[] = {"user", "password", "target_user", "target_password"};
	char *fields[] = {s->user, s->password, s->target_user, s->target_password};
	bool seen[4] = {false};
	unsigned line_nr = 0;
	char *line, *next;

	for (line = text; line && *line; line = next) {
		char *eq, *nl = strchr(line, '\n');
		size_t klen, vlen;
		unsigned k;

		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		line_nr++;
		if (line[0] == '\0' || line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq)
			return lc_err_set(err, -EINVAL, "secret file '%s': line %u: no '='", path,
					  line_nr);
		klen = (size_t)(eq - line);
		vlen = strlen(eq + 1);
		for (k = 0; k < 4; k++)
			if (strlen(names[k]) == klen && memcmp(names[k], line, klen) == 0)
				break;
		if (k == 4)
			return lc_err_set(err, -EINVAL,
					  "secret file '%s': line %u: unknown key '%.*s'", path,
					  line_nr, (int)klen, line);
		if (seen[k])
			return lc_err_set(err, -EINVAL,
					  "secret file '%s': line %u: '%s' given twice", path,
					  line_nr, names[k]);
		if (vlen == 0 || vlen >= LC_ISCSI_SECRET_MAX)
			return lc_err_set(err, -EINVAL,
					  "secret file '%s': line %u: '%s' must be 1 to %u bytes",
					  path, line_nr, names[k], LC_ISCSI_SECRET_MAX - 1);
		seen[k] = true;
		memcpy(fields[k], eq + 1, vlen + 1);
	}
	if (!seen[1])
		return lc_err_set(err, -EINVAL, "secret file '%s': no 'password'", path);
	if (seen[2] != seen[3])
		return lc_err_set(
		    err, -EINVAL,
		    "secret file '%s': 'target_user' and 'target_password' go together", path);
	return 0;
}

int lc_iscsi_secrets_read(const char *path, struct lc_iscsi_secrets *ret_secrets,
			  struct lc_err *err)
{
	char text[LC_ISCSI_SECRET_FILE_MAX + 1], ebuf[128];
	struct lc_iscsi_secrets s;
	struct stat st;
	int fd, r;

	/* O_NOFOLLOW: the checks below must be about the file we read. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		return lc_err_set(err, r, "secret file '%s': %s", path,
				  strerror_r(-r, ebuf, sizeof(ebuf)));
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		(void)lc_err_set(err, r, "secret file '%s': fstat: %s", path,
				 strerror_r(-r, ebuf, sizeof(ebuf)));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		r = lc_err_set(err, -EINVAL, "secret file '%s': not a regular file", path);
		goto out_close;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		r = lc_err_set(err, -EPERM, "secret file '%s': owned by uid %u, not by us or root",
			       path, (unsigned)st.st_uid);
		goto out_close;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		r = lc_err_set(err, -EPERM,
			       "secret file '%s': mode %04o lets group or others in; chmod 600 it",
			       path, (unsigned)(st.st_mode & 07777));
		goto out_close;
	}
	if ((uint64_t)st.st_size > LC_ISCSI_SECRET_FILE_MAX) {
		r = lc_err_set(err, -EINVAL, "secret file '%s': larger than %u bytes", path,
			       LC_ISCSI_SECRET_FILE_MAX);
		goto out_close;
	}
	r = lc_full_pread(fd, text, (size_t)st.st_size, 0);
	if (r < 0) {
		(void)lc_err_set(err, r, "secret file '%s': read: %s", path,
				 strerror_r(-r, ebuf, sizeof(ebuf)));
		goto out_close;
	}
	text[st.st_size] = '\0';
	if (memchr(text, '\0', (size_t)st.st_size)) {
		r = lc_err_set(err, -EINVAL, "secret file '%s': contains a NUL byte", path);
		goto out_wipe;
	}
	memset(&s, 0, sizeof(s));
	r = parse_secrets(path, text, &s, err);
	if (r == 0)
		*ret_secrets = s;
	lc_iscsi_secrets_wipe(&s);
out_wipe:
	explicit_bzero(text, sizeof(text));
out_close:
	(void)close(fd);
	return r;
}
