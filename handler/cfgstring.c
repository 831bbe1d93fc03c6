/* SPDX-License-Identifier: MIT */
/*
 * cfgstring parser of handler_clone.so (grammar in cfgstring.h and
 * docs/handler_clone.8).
 *
 * Three passes, as nbdkit's .config / .config_complete: split the string into
 * items, check each key on its own (known, not repeated, value parsed with
 * its range) into a scratch struct, then check the keys against each other.
 * Only a fully valid scratch struct is handed to the caller. Nothing here
 * knows tcmu-runner: the glue in handler_clone.c strips nothing and adds
 * nothing, so check_config() and open() accept exactly the same strings.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lunclone/err.h>
#include <lunclone/meta.h>

#include "util/parse.h"

#include "cfgstring.h"

#define MIB_SHIFT 20
#define COMMIT_INTERVAL_MAX_MS 3600000u
#define YIELD_WINDOW_MAX_MS 60000u
#define RETRIES_MAX 100u
#define RETRY_DELAY_MAX_MS 60000u
#define WORKERS_MAX 256u

/* Values quoted in messages are cut here so the message keeps its end. */
#define QUOTE_MAX 48

enum key_id {
	KEY_SRC,
	KEY_DST,
	KEY_META,
	KEY_NAME,
	KEY_REGION_SIZE,
	KEY_FORMAT,
	KEY_WORKERS,
	KEY_BATCH,
	KEY_MAX_INFLIGHT,
	KEY_RATE,
	KEY_MIN_RATE,
	KEY_YIELD,
	KEY_YIELD_WINDOW,
	KEY_COPY_ON_READ,
	KEY_PAUSED,
	KEY_COMMIT_INTERVAL,
	KEY_RETRIES,
	KEY_RETRY_DELAY,
	KEY_DIRECT,
	NR_KEYS,
};

static const char *const key_names[NR_KEYS] = {
    [KEY_SRC] = "src",
    [KEY_DST] = "dst",
    [KEY_META] = "meta",
    [KEY_NAME] = "name",
    [KEY_REGION_SIZE] = "region_size",
    [KEY_FORMAT] = "format",
    [KEY_WORKERS] = "workers",
    [KEY_BATCH] = "batch",
    [KEY_MAX_INFLIGHT] = "max_inflight",
    [KEY_RATE] = "rate",
    [KEY_MIN_RATE] = "min_rate",
    [KEY_YIELD] = "yield",
    [KEY_YIELD_WINDOW] = "yield_window",
    [KEY_COPY_ON_READ] = "copy_on_read",
    [KEY_PAUSED] = "paused",
    [KEY_COMMIT_INTERVAL] = "commit_interval",
    [KEY_RETRIES] = "retries",
    [KEY_RETRY_DELAY] = "retry_delay",
    [KEY_DIRECT] = "direct",
};

/* The scratch state of one parse. */
struct parse_state {
	struct hc_cfg cfg;
	bool seen[NR_KEYS];
	bool from_file;
};

static int parse_bool(const char *key, const char *value, bool *ret_value, struct lc_err *err)
{
	if (strcmp(value, "on") == 0) {
		*ret_value = true;
		return 0;
	}
	if (strcmp(value, "off") == 0) {
		*ret_value = false;
		return 0;
	}
	return lc_err_set(err, -EINVAL, "%s: '%.*s' is neither 'on' nor 'off'", key, QUOTE_MAX,
			  value);
}

/* An unsigned integer in [min, max]; what describes the unit for messages. */
static int parse_ranged(const char *key, const char *value, uint64_t min, uint64_t max,
			const char *what, uint64_t *ret_value, struct lc_err *err)
{
	uint64_t v;
	int r;

	r = lc_parse_u64(value, &v);
	if (r == -EINVAL)
		return lc_err_set(err, -EINVAL, "%s: '%.*s' is not %s", key, QUOTE_MAX, value,
				  what);
	if (r < 0 || v < min || v > max)
		return lc_err_set(err, -EINVAL, "%s: '%.*s' is out of range (%llu to %llu)", key,
				  QUOTE_MAX, value, (unsigned long long)min,
				  (unsigned long long)max);
	*ret_value = v;
	return 0;
}

static int parse_path(const char *key, const char *value, char **ret_path, struct lc_err *err)
{
	char *p;

	if (strlen(value) >= PATH_MAX)
		return lc_err_set(err, -EINVAL, "%s: longer than %d bytes", key, PATH_MAX - 1);
	p = strdup(value);
	if (!p)
		return lc_err_set(err, -ENOMEM, "%s: out of memory", key);
	*ret_path = p;
	return 0;
}

static int parse_name(const char *value, char *ret_name, struct lc_err *err)
{
	size_t len = strlen(value);

	if (len > HC_CFG_NAME_MAX)
		return lc_err_set(err, -EINVAL, "name: longer than %u characters", HC_CFG_NAME_MAX);
	if (value[0] == '.')
		return lc_err_set(err, -EINVAL, "name: '%.*s' starts with '.'", QUOTE_MAX, value);
	for (size_t i = 0; i < len; i++) {
		char c = value[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return lc_err_set(err, -EINVAL,
					  "name: '%.*s' has characters other than letters, "
					  "digits, '.', '_' and '-'",
					  QUOTE_MAX, value);
	}
	memcpy(ret_name, value, len + 1);
	return 0;
}

static int parse_region_size(const char *value, uint32_t *ret_bytes, struct lc_err *err)
{
	uint64_t v;
	int r;

	r = lc_parse_size(value, &v);
	if (r < 0 || v < LC_REGION_SIZE_MIN || v > LC_REGION_SIZE_MAX || (v & (v - 1)) != 0)
		return lc_err_set(err, -EINVAL,
				  "region_size: '%.*s' is not a power of two from 512 to 1G "
				  "(suffixes K, M, G)",
				  QUOTE_MAX, value);
	*ret_bytes = (uint32_t)v;
	return 0;
}

/* A rate in MiB/s, stored in bytes per second. */
static int parse_rate(const char *key, const char *value, uint64_t *ret_bytes, struct lc_err *err)
{
	uint64_t mib;
	int r;

	r = parse_ranged(key, value, 0, UINT64_MAX >> MIB_SHIFT, "a whole number of MiB/s", &mib,
			 err);
	if (r < 0)
		return r;
	*ret_bytes = mib << MIB_SHIFT;
	return 0;
}

static int apply_key(struct parse_state *st, enum key_id id, const char *value, struct lc_err *err)
{
	struct hc_cfg *cfg = &st->cfg;
	const char *key = key_names[id];
	uint64_t v;
	int r;

	switch (id) {
	case KEY_SRC:
		return parse_path(key, value, &cfg->src, err);
	case KEY_DST:
		return parse_path(key, value, &cfg->dst, err);
	case KEY_META:
		return parse_path(key, value, &cfg->meta, err);
	case KEY_NAME:
		return parse_name(value, cfg->name, err);
	case KEY_REGION_SIZE:
		return parse_region_size(value, &cfg->region_size_bytes, err);
	case KEY_FORMAT:
		if (strcmp(value, "auto") == 0)
			cfg->format = HC_CFG_FORMAT_AUTO;
		else if (strcmp(value, "never") == 0)
			cfg->format = HC_CFG_FORMAT_NEVER;
		else
			return lc_err_set(err, -EINVAL,
					  "format: '%.*s' is neither 'auto' nor 'never'", QUOTE_MAX,
					  value);
		return 0;
	case KEY_WORKERS:
		r = parse_ranged(key, value, 0, WORKERS_MAX, "a number of threads", &v, err);
		cfg->clone.nr_workers = (unsigned)v;
		return r;
	case KEY_BATCH:
		r = parse_ranged(key, value, 1, UINT32_MAX, "a number of regions", &v, err);
		cfg->clone.batch_regions = (uint32_t)v;
		return r;
	case KEY_MAX_INFLIGHT:
		r = parse_ranged(key, value, 1, UINT32_MAX, "a number of regions", &v, err);
		cfg->clone.max_inflight_regions = (uint32_t)v;
		return r;
	case KEY_RATE:
		return parse_rate(key, value, &cfg->clone.rate_limit_bytes, err);
	case KEY_MIN_RATE:
		return parse_rate(key, value, &cfg->clone.min_rate_bytes, err);
	case KEY_YIELD:
		return parse_bool(key, value, &cfg->clone.yield_to_user_io, err);
	case KEY_YIELD_WINDOW:
		r = parse_ranged(key, value, 0, YIELD_WINDOW_MAX_MS, "a number of milliseconds", &v,
				 err);
		cfg->clone.yield_window_ms = (unsigned)v;
		return r;
	case KEY_COPY_ON_READ:
		return parse_bool(key, value, &cfg->clone.copy_on_read, err);
	case KEY_PAUSED:
		return parse_bool(key, value, &cfg->clone.start_paused, err);
	case KEY_COMMIT_INTERVAL:
		r = parse_ranged(key, value, 0, COMMIT_INTERVAL_MAX_MS, "a number of milliseconds",
				 &v, err);
		cfg->clone.commit_interval_ms = (unsigned)v;
		return r;
	case KEY_RETRIES:
		r = parse_ranged(key, value, 0, RETRIES_MAX, "a number of attempts", &v, err);
		cfg->clone.source_retries = (unsigned)v;
		return r;
	case KEY_RETRY_DELAY:
		r = parse_ranged(key, value, 0, RETRY_DELAY_MAX_MS, "a number of milliseconds", &v,
				 err);
		cfg->clone.retry_delay_ms = (unsigned)v;
		return r;
	case KEY_DIRECT:
		return parse_bool(key, value, &cfg->direct, err);
	case NR_KEYS:
		break;
	}
	return lc_err_set(err, -EINVAL, "internal error: key %d", (int)id);
}

/* One "key=value" item, already cut out of the string (item is writable). */
static int parse_item(struct parse_state *st, char *item, struct lc_err *err)
{
	char *eq = strchr(item, '=');
	const char *value;

	if (item[0] == '@')
		return lc_err_set(err, -EINVAL, "'%.*s': @file must be the whole cfgstring%s",
				  QUOTE_MAX, item,
				  st->from_file ? " (a file cannot name another)" : "");
	if (!eq)
		return lc_err_set(err, -EINVAL, "'%.*s': not a key=value item", QUOTE_MAX, item);
	*eq = '\0';
	value = eq + 1;
	if (item[0] == '\0')
		return lc_err_set(err, -EINVAL, "'=%.*s': empty key", QUOTE_MAX, value);
	for (unsigned id = 0; id < NR_KEYS; id++) {
		if (strcmp(item, key_names[id]) != 0)
			continue;
		if (st->seen[id])
			return lc_err_set(err, -EINVAL, "%s: given twice", item);
		if (value[0] == '\0')
			return lc_err_set(err, -EINVAL, "%s: empty value", item);
		st->seen[id] = true;
		return apply_key(st, (enum key_id)id, value, err);
	}
	return lc_err_set(err, -EINVAL, "'%.*s': unknown key", QUOTE_MAX, item);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * Splits body (writable, NUL-terminated) into items. Inline: items separated
 * by ';', taken as they are. File: also newlines; blanks around an item are
 * dropped and a line whose first non-blank character is '#' is a comment.
 * Empty items (";;", a trailing ';') are ignored in both.
 */
static int parse_items(struct parse_state *st, char *body, struct lc_err *err)
{
	char *p = body;
	int r;

	while (*p != '\0') {
		size_t len;
		char *item, *end;

		if (st->from_file) {
			while (is_blank(*p))
				p++;
			if (*p == '#') {
				p += strcspn(p, "\n");
				continue;
			}
		}
		len = strcspn(p, st->from_file ? ";\n" : ";");
		item = p;
		p += len;
		if (*p != '\0')
			*p++ = '\0';
		end = item + len;
		if (st->from_file)
			while (end > item && is_blank(end[-1]))
				*--end = '\0';
		if (end == item)
			continue;
		r = parse_item(st, item, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Reads the whole @file into a NUL-terminated buffer (caller frees). */
static int read_file(const char *path, char **ret_text, struct lc_err *err)
{
	struct stat stbuf;
	char *text = NULL;
	size_t used = 0;
	int fd, r;

	if (path[0] != '/')
		return lc_err_set(err, -EINVAL, "@file '%.*s': not an absolute path", QUOTE_MAX,
				  path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		return lc_err_set(err, r, "@file '%.*s': %s", QUOTE_MAX, path, strerror(-r));
	}
	if (fstat(fd, &stbuf) < 0) {
		r = -errno;
		lc_err_set(err, r, "@file '%.*s': %s", QUOTE_MAX, path, strerror(-r));
		goto out_close;
	}
	if (!S_ISREG(stbuf.st_mode)) {
		r = lc_err_set(err, -EINVAL, "@file '%.*s': not a regular file", QUOTE_MAX, path);
		goto out_close;
	}
	/* One byte more than allowed, to notice a file that is too large. */
	text = malloc(HC_CFG_FILE_MAX + 1);
	if (!text) {
		r = lc_err_set(err, -ENOMEM, "@file '%.*s': out of memory", QUOTE_MAX, path);
		goto out_close;
	}
	for (;;) {
		ssize_t n = read(fd, text + used, HC_CFG_FILE_MAX + 1 - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			lc_err_set(err, r, "@file '%.*s': %s", QUOTE_MAX, path, strerror(-r));
			goto out_free;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > HC_CFG_FILE_MAX) {
			r = lc_err_set(err, -EINVAL, "@file '%.*s': larger than %u bytes",
				       QUOTE_MAX, path, HC_CFG_FILE_MAX);
			goto out_free;
		}
	}
	if (memchr(text, '\0', used)) {
		r = lc_err_set(err, -EINVAL, "@file '%.*s': contains a NUL byte", QUOTE_MAX, path);
		goto out_free;
	}
	text[used] = '\0';
	(void)close(fd);
	*ret_text = text;
	return 0;

out_free:
	free(text);
out_close:
	(void)close(fd);
	return r;
}

/* The keys against each other, once each is valid on its own. */
static int check_complete(const struct parse_state *st, struct lc_err *err)
{
	const struct hc_cfg *cfg = &st->cfg;
	static const enum key_id required[] = {KEY_SRC, KEY_DST, KEY_META};

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!st->seen[required[i]])
			return lc_err_set(err, -EINVAL,
					  "%s: missing (src, dst and meta are required)",
					  key_names[required[i]]);
	if (strcmp(cfg->src, cfg->dst) == 0)
		return lc_err_set(err, -EINVAL, "dst: same as src");
	if (strcmp(cfg->meta, cfg->src) == 0 || strcmp(cfg->meta, cfg->dst) == 0)
		return lc_err_set(err, -EINVAL, "meta: same as %s",
				  strcmp(cfg->meta, cfg->src) == 0 ? "src" : "dst");
	if (cfg->clone.yield_to_user_io && cfg->clone.min_rate_bytes == 0)
		return lc_err_set(err, -EINVAL,
				  "min_rate: must be above 0 with yield=on, or hydration may never "
				  "finish");
	if (st->seen[KEY_RATE] && st->seen[KEY_MIN_RATE] && cfg->clone.rate_limit_bytes != 0 &&
	    cfg->clone.min_rate_bytes > cfg->clone.rate_limit_bytes)
		return lc_err_set(err, -EINVAL, "min_rate: above rate (%llu > %llu MiB/s)",
				  (unsigned long long)(cfg->clone.min_rate_bytes >> MIB_SHIFT),
				  (unsigned long long)(cfg->clone.rate_limit_bytes >> MIB_SHIFT));
	if (st->seen[KEY_BATCH] && st->seen[KEY_MAX_INFLIGHT] &&
	    cfg->clone.batch_regions > cfg->clone.max_inflight_regions)
		return lc_err_set(err, -EINVAL, "batch: above max_inflight (%u > %u regions)",
				  cfg->clone.batch_regions, cfg->clone.max_inflight_regions);
	return 0;
}

int hc_cfg_parse(const char *cfgstring, struct hc_cfg *ret_cfg, struct lc_err *err)
{
	static const char prefix[] = HC_CFG_SUBTYPE "/";
	struct parse_state st;
	const char *rest;
	char *body = NULL;
	size_t len;
	int r;

	if (!cfgstring || cfgstring[0] == '\0')
		return lc_err_set(err, -EINVAL, "empty cfgstring: give src=...;dst=...;meta=...");
	len = strlen(cfgstring);
	if (len >= HC_CFG_INLINE_MAX)
		return lc_err_set(err, -EINVAL,
				  "cfgstring too long: %zu bytes, the kernel keeps %u; put the "
				  "settings in a file and give @/path/to/file",
				  len, HC_CFG_INLINE_MAX - 1);
	if (strpbrk(cfgstring, ",\n"))
		return lc_err_set(
		    err, -EINVAL,
		    "cfgstring contains ',' or a newline, where the kernel splits it; "
		    "separate items with ';'");
	rest = cfgstring;
	if (strncmp(rest, prefix, sizeof(prefix) - 1) == 0)
		rest += sizeof(prefix) - 1;

	memset(&st, 0, sizeof(st));
	lc_clone_config_default(&st.cfg.clone);
	st.cfg.format = HC_CFG_FORMAT_AUTO;

	if (rest[0] == '@') {
		st.from_file = true;
		r = read_file(rest + 1, &body, err);
		if (r < 0)
			return r;
	} else {
		body = strdup(rest);
		if (!body)
			return lc_err_set(err, -ENOMEM, "cfgstring: out of memory");
	}
	r = parse_items(&st, body, err);
	if (r == 0)
		r = check_complete(&st, err);
	if (r < 0 && st.from_file && err) {
		/* Say where the bad setting came from. */
		struct lc_err inner = *err;

		(void)lc_err_set(err, r, "%.*s: %s", QUOTE_MAX, rest + 1, inner.msg);
	}
	free(body);
	if (r < 0) {
		hc_cfg_clear(&st.cfg);
		return r;
	}
	*ret_cfg = st.cfg;
	return 0;
}

void hc_cfg_clear(struct hc_cfg *cfg)
{
	free(cfg->src);
	free(cfg->dst);
	free(cfg->meta);
	cfg->src = cfg->dst = cfg->meta = NULL;
}
