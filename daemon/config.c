/* SPDX-License-Identifier: MIT */
/*
 * Loader and validation of lunclone.json (config.h for the passes, the file
 * format in docs/lunclone.json.5).
 *
 * Each parse_* function reads one JSON object into the model, reports every
 * unknown key, wrong type and out-of-range value with its JSONPath, and keeps
 * going, so the model may be half filled when errors were found: it is only
 * handed out when the error list stayed empty. Cross checks and host checks
 * refer back to the JSONPath of each element, rebuilt from its indexes.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <lunclone/backend.h>
#include <lunclone/err.h>
#include <lunclone/meta.h>

#include "util/iscsi_url.h"
#include "util/parse.h"

#include "config.h"
#include "iscsi_names.h"
#include "jsonscan.h"
#include "probe.h"
#include "secrets.h"
#include "session_cfg.h"

#define MIB_SHIFT 20
#define RATE_MAX_MIBPS (1u << 20) /* 1 TiB/s: anything above is a typo */
#define WORKERS_MAX 256u
#define YIELD_WINDOW_MAX_MS 60000u
#define COMMIT_INTERVAL_MAX_MS 3600000u
#define RETRIES_MAX 100u
#define RETRY_DELAY_MAX_MS 60000u
#define BATCH_BYTES_MAX (256u << 20)

/* The state of one load. */
struct ctx {
	const char *file;
	struct lcd_errors *errs;
	struct lcd_config *cfg;
	size_t nr_errors; /* problems found so far */
	bool oom;
};

static void bad(struct ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void bad(struct ctx *c, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lcd_errors_add(c->errs, "%s: %s: %s", c->file, path, msg);
	c->nr_errors++;
}

static void *oom(struct ctx *c, const char *path)
{
	if (!c->oom)
		bad(c, path, "out of memory");
	c->oom = true;
	return NULL;
}

static const char *type_name(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a fractional number";
	case json_type_int:
		return "an integer";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	case json_type_string:
		return "a string";
	}
	return "something else";
}

static bool want(struct ctx *c, const char *path, struct json_object *v, enum json_type type,
		 const char *what)
{
	if (json_object_is_type(v, type))
		return true;
	bad(c, path, "expected %s, got %s", what, type_name(v));
	return false;
}

/* A non-empty string without NUL characters, copied into *ret. */
static bool get_str(struct ctx *c, const char *path, struct json_object *v, char **ret)
{
	const char *s;

	if (!want(c, path, v, json_type_string, "a string"))
		return false;
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s)) {
		bad(c, path, "contains a NUL character");
		return false;
	}
	if (s[0] == '\0') {
		bad(c, path, "empty");
		return false;
	}
	free(*ret);
	*ret = strdup(s);
	if (!*ret)
		return oom(c, path) != NULL;
	return true;
}

static bool get_bool(struct ctx *c, const char *path, struct json_object *v, bool *ret)
{
	if (!want(c, path, v, json_type_boolean, "true or false"))
		return false;
	*ret = json_object_get_boolean(v);
	return true;
}

/* An integer in [min, max]; json-c keeps numbers above INT64_MAX unsigned. */
static bool get_uint(struct ctx *c, const char *path, struct json_object *v, uint64_t min,
		     uint64_t max, uint64_t *ret)
{
	uint64_t u;

	if (!want(c, path, v, json_type_int, "an integer"))
		return false;
	if (json_object_get_int64(v) < 0) {
		bad(c, path, "%lld is out of range (%llu to %llu)",
		    (long long)json_object_get_int64(v), (unsigned long long)min,
		    (unsigned long long)max);
		return false;
	}
	u = json_object_get_uint64(v);
	if (u < min || u > max) {
		bad(c, path, "%llu is out of range (%llu to %llu)", (unsigned long long)u,
		    (unsigned long long)min, (unsigned long long)max);
		return false;
	}
	*ret = u;
	return true;
}

static bool get_absolute_path(struct ctx *c, const char *path, struct json_object *v, char **ret)
{
	if (!get_str(c, path, v, ret))
		return false;
	if ((*ret)[0] != '/') {
		bad(c, path, "'%s' is not an absolute path", *ret);
		return false;
	}
	if (strlen(*ret) >= PATH_MAX) {
		bad(c, path, "longer than %d bytes", PATH_MAX - 1);
		return false;
	}
	return true;
}

static void check_iqn(struct ctx *c, const char *path, const char *name)
{
	const char *why = lcd_iqn_problem(name);

	if (why)
		bad(c, path, "'%s' is not an iSCSI name: %s", name, why);
}

static void unknown_key(struct ctx *c, const char *path, const char *expected)
{
	bad(c, path, "unknown key (expected one of: %s)", expected);
}

static void missing_key(struct ctx *c, const char *parent, const char *key)
{
	char path[LCD_JPATH_MAX];

	lcd_jpath_key(path, sizeof(path), parent, key);
	bad(c, path, "missing (required)");
}

/* ------------------------------------------------------------------ */
/* Sessions */

static const char *const hyd_keys[LCD_HYD_NR] = {
    [LCD_HYD_WORKERS] = "workers",
    [LCD_HYD_BATCH] = "batch",
    [LCD_HYD_MAX_IN_FLIGHT] = "max_in_flight",
    [LCD_HYD_RATE_LIMIT] = "rate_limit_mibps",
    [LCD_HYD_MIN_RATE] = "min_rate_mibps",
    [LCD_HYD_YIELD] = "yield_to_user_io",
    [LCD_HYD_YIELD_WINDOW] = "yield_window_ms",
    [LCD_HYD_COPY_ON_READ] = "copy_on_read",
    [LCD_HYD_START_PAUSED] = "start_paused",
    [LCD_HYD_COMMIT_INTERVAL] = "commit_interval_ms",
    [LCD_HYD_RETRIES] = "source_retries",
    [LCD_HYD_RETRY_DELAY] = "retry_delay_ms",
};

#define HYD_KEYS_LIST                                                                              \
	"workers, batch, max_in_flight, rate_limit_mibps, min_rate_mibps, yield_to_user_io, "      \
	"yield_window_ms, copy_on_read, start_paused, commit_interval_ms, source_retries, "        \
	"retry_delay_ms"

/* A "hydration" object over *hyd, recording in *given which keys it sets. */
static void parse_hydration(struct ctx *c, const char *path, struct json_object *o,
			    struct lc_clone_config *hyd, uint32_t *given)
{
	char kpath[LCD_JPATH_MAX];

	if (!want(c, path, o, json_type_object, "an object"))
		return;
	json_object_object_foreach(o, key, v)
	{
		unsigned id;
		uint64_t u;
		bool b;

		lcd_jpath_key(kpath, sizeof(kpath), path, key);
		for (id = 0; id < LCD_HYD_NR; id++)
			if (strcmp(key, hyd_keys[id]) == 0)
				break;
		switch ((enum lcd_hyd_key)id) {
		case LCD_HYD_WORKERS:
			if (!get_uint(c, kpath, v, 0, WORKERS_MAX, &u))
				continue;
			hyd->nr_workers = (unsigned)u;
			break;
		case LCD_HYD_BATCH:
			if (!get_uint(c, kpath, v, 1, UINT32_MAX, &u))
				continue;
			hyd->batch_regions = (uint32_t)u;
			break;
		case LCD_HYD_MAX_IN_FLIGHT:
			if (!get_uint(c, kpath, v, 1, UINT32_MAX, &u))
				continue;
			hyd->max_inflight_regions = (uint32_t)u;
			break;
		case LCD_HYD_RATE_LIMIT:
			if (!get_uint(c, kpath, v, 0, RATE_MAX_MIBPS, &u))
				continue;
			hyd->rate_limit_bytes = u << MIB_SHIFT;
			break;
		case LCD_HYD_MIN_RATE:
			if (!get_uint(c, kpath, v, 0, RATE_MAX_MIBPS, &u))
				continue;
			hyd->min_rate_bytes = u << MIB_SHIFT;
			break;
		case LCD_HYD_YIELD:
			if (!get_bool(c, kpath, v, &b))
				continue;
			hyd->yield_to_user_io = b;
			break;
		case LCD_HYD_YIELD_WINDOW:
			if (!get_uint(c, kpath, v, 0, YIELD_WINDOW_MAX_MS, &u))
				continue;
			hyd->yield_window_ms = (unsigned)u;
			break;
		case LCD_HYD_COPY_ON_READ:
			if (!get_bool(c, kpath, v, &b))
				continue;
			hyd->copy_on_read = b;
			break;
		case LCD_HYD_START_PAUSED:
			if (!get_bool(c, kpath, v, &b))
				continue;
			hyd->start_paused = b;
			break;
		case LCD_HYD_COMMIT_INTERVAL:
			if (!get_uint(c, kpath, v, 0, COMMIT_INTERVAL_MAX_MS, &u))
				continue;
			hyd->commit_interval_ms = (unsigned)u;
			break;
		case LCD_HYD_RETRIES:
			if (!get_uint(c, kpath, v, 0, RETRIES_MAX, &u))
				continue;
			hyd->source_retries = (unsigned)u;
			break;
		case LCD_HYD_RETRY_DELAY:
			if (!get_uint(c, kpath, v, 0, RETRY_DELAY_MAX_MS, &u))
				continue;
			hyd->retry_delay_ms = (unsigned)u;
			break;
		case LCD_HYD_NR:
			unknown_key(c, kpath, HYD_KEYS_LIST);
			continue;
		}
		*given |= 1u << id;
	}
}

/* The handler's name= rule: the session name is its socket name. */
static bool session_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > LCD_SESSION_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static void parse_region_size(struct ctx *c, const char *path, struct json_object *v, uint32_t *ret)
{
	uint64_t bytes;

	if (json_object_is_type(v, json_type_int)) {
		if (!get_uint(c, path, v, LC_REGION_SIZE_MIN, LC_REGION_SIZE_MAX, &bytes))
			return;
	} else if (json_object_is_type(v, json_type_string)) {
		if (lc_parse_size(json_object_get_string(v), &bytes) < 0) {
			bad(c, path, "'%s' is not a size (bytes, or a number with K, M or G)",
			    json_object_get_string(v));
			return;
		}
	} else {
		bad(c, path, "expected a size (an integer, or a string such as \"64K\"), got %s",
		    type_name(v));
		return;
	}
	if (bytes < LC_REGION_SIZE_MIN || bytes > LC_REGION_SIZE_MAX || (bytes & (bytes - 1))) {
		bad(c, path, "%llu is not a power of two from 512 to 1G",
		    (unsigned long long)bytes);
		return;
	}
	*ret = (uint32_t)bytes;
}

#define SESSION_KEYS_LIST                                                                          \
	"name, description, source, destination, metadata, region_size, block_size, format, "      \
	"direct_io, hydration"

static void parse_session(struct ctx *c, const char *path, struct json_object *o,
			  const struct lc_clone_config *defaults, uint32_t defaults_given,
			  struct lcd_session *s)
{
	char kpath[LCD_JPATH_MAX];
	bool b;

	s->hydration = *defaults;
	s->hydration_given = defaults_given;
	if (!want(c, path, o, json_type_object, "an object"))
		return;
	json_object_object_foreach(o, key, v)
	{
		lcd_jpath_key(kpath, sizeof(kpath), path, key);
		if (strcmp(key, "name") == 0) {
			if (get_str(c, kpath, v, &s->name) && !session_name_ok(s->name))
				bad(c, kpath,
				    "'%s': use 1 to %u letters, digits, '.', '_' or '-', not "
				    "starting with '.'",
				    s->name, LCD_SESSION_NAME_MAX);
		} else if (strcmp(key, "description") == 0) {
			(void)want(c, kpath, v, json_type_string, "a string");
		} else if (strcmp(key, "source") == 0) {
			if (get_str(c, kpath, v, &s->source) && !lc_iscsi_url_is_iscsi(s->source) &&
			    s->source[0] != '/')
				bad(c, kpath,
				    "'%s' is neither an absolute path nor an iscsi:// URL",
				    s->source);
		} else if (strcmp(key, "destination") == 0) {
			(void)get_absolute_path(c, kpath, v, &s->destination);
		} else if (strcmp(key, "metadata") == 0) {
			(void)get_absolute_path(c, kpath, v, &s->metadata);
		} else if (strcmp(key, "region_size") == 0) {
			parse_region_size(c, kpath, v, &s->region_size_bytes);
		} else if (strcmp(key, "block_size") == 0) {
			uint64_t u;

			if (!get_uint(c, kpath, v, 512, 4096, &u))
				continue;
			if (u & (u - 1))
				bad(c, kpath, "%llu is not 512, 1024, 2048 or 4096",
				    (unsigned long long)u);
			else
				s->block_size_bytes = (uint32_t)u;
		} else if (strcmp(key, "format") == 0) {
			const char *f;

			if (!want(c, kpath, v, json_type_string, "\"auto\" or \"never\""))
				continue;
			f = json_object_get_string(v);
			if (strcmp(f, "auto") == 0)
				s->format = LCD_FORMAT_AUTO;
			else if (strcmp(f, "never") == 0)
				s->format = LCD_FORMAT_NEVER;
			else
				bad(c, kpath, "'%s' is neither \"auto\" nor \"never\"", f);
		} else if (strcmp(key, "direct_io") == 0) {
			if (get_bool(c, kpath, v, &b))
				s->direct_io = b ? LCD_ON : LCD_OFF;
		} else if (strcmp(key, "hydration") == 0) {
			parse_hydration(c, kpath, v, &s->hydration, &s->hydration_given);
		} else {
			unknown_key(c, kpath, SESSION_KEYS_LIST);
		}
	}
	if (!json_object_object_get_ex(o, "name", NULL))
		missing_key(c, path, "name");
	if (!json_object_object_get_ex(o, "source", NULL))
		missing_key(c, path, "source");
	if (!json_object_object_get_ex(o, "destination", NULL))
		missing_key(c, path, "destination");
	if (!json_object_object_get_ex(o, "metadata", NULL))
		missing_key(c, path, "metadata");
}

/* ------------------------------------------------------------------ */
/* Targets */

static void parse_chap(struct ctx *c, const char *path, struct json_object *o,
		       struct lcd_chap *chap)
{
	char kpath[LCD_JPATH_MAX];

	if (!want(c, path, o, json_type_object, "an object"))
		return;
	json_object_object_foreach(o, key, v)
	{
		lcd_jpath_key(kpath, sizeof(kpath), path, key);
		if (strcmp(key, "credential") == 0)
			(void)get_str(c, kpath, v, &chap->credential);
		else if (strcmp(key, "mutual") == 0)
			(void)get_bool(c, kpath, v, &chap->mutual);
		else
			unknown_key(c, kpath, "credential, mutual");
	}
	if (!json_object_object_get_ex(o, "credential", NULL))
		missing_key(c, path, "credential");
}

/* Allocates n zeroed elements for an array, at least one. */
static void *alloc_array(struct ctx *c, const char *path, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	return p ? p : oom(c, path);
}

static void parse_mapped_luns(struct ctx *c, const char *path, struct json_object *a,
			      struct lcd_acl *acl)
{
	char epath[LCD_JPATH_MAX], kpath[LCD_JPATH_MAX];
	size_t n;

	if (!want(c, path, a, json_type_array, "an array"))
		return;
	n = json_object_array_length(a);
	acl->mapped_luns = alloc_array(c, path, n, sizeof(*acl->mapped_luns));
	if (!acl->mapped_luns)
		return;
	acl->nr_mapped_luns = n;
	acl->mapped_luns_given = true;
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(a, i);
		struct lcd_mapped_lun *m = &acl->mapped_luns[i];
		uint64_t u;

		lcd_jpath_index(epath, sizeof(epath), path, i);
		if (!want(c, epath, o, json_type_object, "an object"))
			continue;
		json_object_object_foreach(o, key, v)
		{
			lcd_jpath_key(kpath, sizeof(kpath), epath, key);
			if (strcmp(key, "mapped_lun") == 0) {
				if (get_uint(c, kpath, v, 0, LCD_LUN_MAX, &u))
					m->mapped_lun = (unsigned)u;
			} else if (strcmp(key, "lun") == 0) {
				if (get_uint(c, kpath, v, 0, LCD_LUN_MAX, &u))
					m->tpg_lun = (unsigned)u;
			} else if (strcmp(key, "write_protect") == 0) {
				(void)get_bool(c, kpath, v, &m->write_protect);
			} else {
				unknown_key(c, kpath, "mapped_lun, lun, write_protect");
			}
		}
		if (!json_object_object_get_ex(o, "lun", NULL))
			missing_key(c, epath, "lun");
		/* The initiator sees the TPG's number unless told otherwise. */
		if (!json_object_object_get_ex(o, "mapped_lun", NULL))
			m->mapped_lun = m->tpg_lun;
	}
}

static void parse_acl(struct ctx *c, const char *path, struct json_object *o, struct lcd_acl *acl)
{
	char kpath[LCD_JPATH_MAX];

	if (!want(c, path, o, json_type_object, "an object"))
		return;
	json_object_object_foreach(o, key, v)
	{
		lcd_jpath_key(kpath, sizeof(kpath), path, key);
		if (strcmp(key, "initiator") == 0) {
			if (get_str(c, kpath, v, &acl->initiator))
				check_iqn(c, kpath, acl->initiator);
		} else if (strcmp(key, "description") == 0) {
			(void)want(c, kpath, v, json_type_string, "a string");
		} else if (strcmp(key, "chap") == 0) {
			parse_chap(c, kpath, v, &acl->chap);
		} else if (strcmp(key, "mapped_luns") == 0) {
			parse_mapped_luns(c, kpath, v, acl);
		} else {
			unknown_key(c, kpath, "initiator, description, chap, mapped_luns");
		}
	}
	if (!json_object_object_get_ex(o, "initiator", NULL))
		missing_key(c, path, "initiator");
}

/*
 * "ip:port", "[v6]:port" or an address alone (port 3260), canonicalised as
 * LIO names its portal directories, so that planning compares equal names.
 */
static void parse_portal(struct ctx *c, const char *path, struct json_object *v, char **ret)
{
	char *text = NULL;
	int r;

	if (!get_str(c, path, v, &text))
		return;
	r = lcd_portal_canonical(text, ret);
	if (r == -ENOMEM) {
		(void)oom(c, path);
	} else if (r < 0) {
		bad(c, path,
		    "'%s' is not an IPv4 or IPv6 address with an optional port "
		    "(\"192.0.2.10:3260\", \"[2001:db8::1]:3260\")",
		    text);
	}
	free(text);
}

#define TPG_KEYS_LIST                                                                              \
	"tag, enable, portals, luns, acls, open_access, open_write_protect, chap, description"

static void parse_tpg(struct ctx *c, const char *path, struct json_object *o, struct lcd_tpg *t)
{
	char kpath[LCD_JPATH_MAX], epath[LCD_JPATH_MAX], fpath[LCD_JPATH_MAX];
	uint64_t u;

	t->tag = 1;
	t->enable = true;
	if (!want(c, path, o, json_type_object, "an object"))
		return;
	json_object_object_foreach(o, key, v)
	{
		lcd_jpath_key(kpath, sizeof(kpath), path, key);
		if (strcmp(key, "tag") == 0) {
			if (get_uint(c, kpath, v, 1, LCD_TPG_TAG_MAX, &u))
				t->tag = (unsigned)u;
		} else if (strcmp(key, "enable") == 0) {
			(void)get_bool(c, kpath, v, &t->enable);
		} else if (strcmp(key, "description") == 0) {
			(void)want(c, kpath, v, json_type_string, "a string");
		} else if (strcmp(key, "open_access") == 0) {
			(void)get_bool(c, kpath, v, &t->open_access);
		} else if (strcmp(key, "open_write_protect") == 0) {
			(void)get_bool(c, kpath, v, &t->open_write_protect);
		} else if (strcmp(key, "chap") == 0) {
			parse_chap(c, kpath, v, &t->chap);
		} else if (strcmp(key, "portals") == 0) {
			size_t n;

			if (!want(c, kpath, v, json_type_array, "an array"))
				continue;
			n = json_object_array_length(v);
			t->portals = alloc_array(c, kpath, n, sizeof(*t->portals));
			if (!t->portals)
				continue;
			t->nr_portals = n;
			for (size_t i = 0; i < n; i++) {
				lcd_jpath_index(epath, sizeof(epath), kpath, i);
				parse_portal(c, epath, json_object_array_get_idx(v, i),
					     &t->portals[i]);
			}
		} else if (strcmp(key, "luns") == 0) {
			size_t n;

			if (!want(c, kpath, v, json_type_array, "an array"))
				continue;
			n = json_object_array_length(v);
			t->luns = alloc_array(c, kpath, n, sizeof(*t->luns));
			if (!t->luns)
				continue;
			t->nr_luns = n;
			for (size_t i = 0; i < n; i++) {
				struct json_object *lo = json_object_array_get_idx(v, i);
				struct lcd_lun *lun = &t->luns[i];
				char *session = NULL;

				lun->session_idx = SIZE_MAX;
				lcd_jpath_index(epath, sizeof(epath), kpath, i);
				if (!want(c, epath, lo, json_type_object, "an object"))
					continue;
				json_object_object_foreach(lo, lkey, lv)
				{
					lcd_jpath_key(fpath, sizeof(fpath), epath, lkey);
					if (strcmp(lkey, "lun") == 0) {
						if (get_uint(c, fpath, lv, 0, LCD_LUN_MAX, &u))
							lun->lun = (unsigned)u;
					} else if (strcmp(lkey, "session") == 0) {
						if (!get_str(c, fpath, lv, &session))
							continue;
						ssize_t idx =
						    lcd_config_find_session(c->cfg, session);

						if (idx < 0)
							bad(c, fpath, "no session named '%s'",
							    session);
						else
							lun->session_idx = (size_t)idx;
					} else if (strcmp(lkey, "description") == 0) {
						(void)want(c, fpath, lv, json_type_string,
							   "a string");
					} else {
						unknown_key(c, fpath, "lun, session, description");
					}
				}
				free(session);
				if (!json_object_object_get_ex(lo, "lun", NULL))
					missing_key(c, epath, "lun");
				if (!json_object_object_get_ex(lo, "session", NULL))
					missing_key(c, epath, "session");
			}
		} else if (strcmp(key, "acls") == 0) {
			size_t n;

			if (!want(c, kpath, v, json_type_array, "an array"))
				continue;
			n = json_object_array_length(v);
			t->acls = alloc_array(c, kpath, n, sizeof(*t->acls));
			if (!t->acls)
				continue;
			t->nr_acls = n;
			for (size_t i = 0; i < n; i++) {
				lcd_jpath_index(epath, sizeof(epath), kpath, i);
				parse_acl(c, epath, json_object_array_get_idx(v, i), &t->acls[i]);
			}
		} else {
			unknown_key(c, kpath, TPG_KEYS_LIST);
		}
	}
	if (!json_object_object_get_ex(o, "portals", NULL))
		missing_key(c, path, "portals");
}

static void parse_target(struct ctx *c, const char *path, struct json_object *o,
			 struct lcd_target *t)
{
	char kpath[LCD_JPATH_MAX], epath[LCD_JPATH_MAX];

	if (!want(c, path, o, json_type_object, "an object"))
		return;
	json_object_object_foreach(o, key, v)
	{
		lcd_jpath_key(kpath, sizeof(kpath), path, key);
		if (strcmp(key, "iqn") == 0) {
			if (get_str(c, kpath, v, &t->iqn))
				check_iqn(c, kpath, t->iqn);
		} else if (strcmp(key, "description") == 0) {
			(void)want(c, kpath, v, json_type_string, "a string");
		} else if (strcmp(key, "tpgs") == 0) {
			size_t n;

			if (!want(c, kpath, v, json_type_array, "an array"))
				continue;
			n = json_object_array_length(v);
			if (n == 0) {
				bad(c, kpath, "empty: a target needs at least one TPG");
				continue;
			}
			t->tpgs = alloc_array(c, kpath, n, sizeof(*t->tpgs));
			if (!t->tpgs)
				continue;
			t->nr_tpgs = n;
			for (size_t i = 0; i < n; i++) {
				lcd_jpath_index(epath, sizeof(epath), kpath, i);
				parse_tpg(c, epath, json_object_array_get_idx(v, i), &t->tpgs[i]);
			}
		} else {
			unknown_key(c, kpath, "iqn, description, tpgs");
		}
	}
	if (!json_object_object_get_ex(o, "iqn", NULL))
		missing_key(c, path, "iqn");
	if (!json_object_object_get_ex(o, "tpgs", NULL))
		missing_key(c, path, "tpgs");
}

/* ------------------------------------------------------------------ */
/* The document */

#define TOP_KEYS_LIST                                                                              \
	"version, description, secrets_file, state_directory, defaults, sessions, targets"

static void parse_top(struct ctx *c, struct json_object *root)
{
	struct lcd_config *cfg = c->cfg;
	struct json_object *v, *sessions = NULL, *targets = NULL;
	struct lc_clone_config defaults;
	uint32_t defaults_given = 0;
	char kpath[LCD_JPATH_MAX], epath[LCD_JPATH_MAX];
	uint64_t u;

	lc_clone_config_default(&defaults);
	if (!want(c, "$", root, json_type_object, "an object"))
		return;
	json_object_object_foreach(root, key, val)
	{
		lcd_jpath_key(kpath, sizeof(kpath), "$", key);
		if (strcmp(key, "version") == 0) {
			if (get_uint(c, kpath, val, 0, UINT32_MAX, &u) && u != LCD_CONFIG_VERSION)
				bad(c, kpath, "%llu is not a version this luncloned reads (%d)",
				    (unsigned long long)u, LCD_CONFIG_VERSION);
		} else if (strcmp(key, "description") == 0) {
			(void)want(c, kpath, val, json_type_string, "a string");
		} else if (strcmp(key, "secrets_file") == 0) {
			(void)get_absolute_path(c, kpath, val, &cfg->secrets_file);
		} else if (strcmp(key, "state_directory") == 0) {
			if (!get_absolute_path(c, kpath, val, &cfg->state_dir))
				continue;
			/* It ends up in the backstore's cfgstring (session_cfg.h). */
			if (strlen(cfg->state_dir) > LCD_STATE_DIR_MAX)
				bad(c, kpath, "longer than %u bytes", LCD_STATE_DIR_MAX);
			else if (strpbrk(cfg->state_dir, ",\n"))
				bad(c, kpath,
				    "contains ',' or a newline, where the kernel splits "
				    "the cfgstring");
		} else if (strcmp(key, "defaults") == 0) {
			if (!want(c, kpath, val, json_type_object, "an object"))
				continue;
			json_object_object_foreach(val, dkey, dval)
			{
				lcd_jpath_key(epath, sizeof(epath), kpath, dkey);
				if (strcmp(dkey, "hydration") == 0)
					parse_hydration(c, epath, dval, &defaults, &defaults_given);
				else
					unknown_key(c, epath, "hydration");
			}
		} else if (strcmp(key, "sessions") == 0) {
			if (want(c, kpath, val, json_type_array, "an array"))
				sessions = val;
		} else if (strcmp(key, "targets") == 0) {
			if (want(c, kpath, val, json_type_array, "an array"))
				targets = val;
		} else {
			unknown_key(c, kpath, TOP_KEYS_LIST);
		}
	}
	if (!json_object_object_get_ex(root, "version", NULL))
		missing_key(c, "$", "version");
	if (!json_object_object_get_ex(root, "sessions", &v))
		missing_key(c, "$", "sessions");

	/* Sessions first: LUNs refer to them by name. */
	if (sessions) {
		size_t n = json_object_array_length(sessions);

		cfg->sessions = alloc_array(c, "$.sessions", n, sizeof(*cfg->sessions));
		if (cfg->sessions) {
			cfg->nr_sessions = n;
			for (size_t i = 0; i < n; i++) {
				lcd_jpath_index(epath, sizeof(epath), "$.sessions", i);
				parse_session(c, epath, json_object_array_get_idx(sessions, i),
					      &defaults, defaults_given, &cfg->sessions[i]);
			}
		}
	}
	if (targets) {
		size_t n = json_object_array_length(targets);

		cfg->targets = alloc_array(c, "$.targets", n, sizeof(*cfg->targets));
		if (cfg->targets) {
			cfg->nr_targets = n;
			for (size_t i = 0; i < n; i++) {
				lcd_jpath_index(epath, sizeof(epath), "$.targets", i);
				parse_target(c, epath, json_object_array_get_idx(targets, i),
					     &cfg->targets[i]);
			}
		}
	}
	if (!cfg->secrets_file && !(cfg->secrets_file = strdup(LCD_SECRETS_PATH_DEFAULT)))
		(void)oom(c, "$.secrets_file");
	if (!cfg->state_dir && !(cfg->state_dir = strdup(LCD_STATE_DIR_DEFAULT)))
		(void)oom(c, "$.state_directory");
	if (!(cfg->socket_dir = strdup(LCD_SOCKET_DIR)))
		(void)oom(c, "$");
}

/* ------------------------------------------------------------------ */
/* Keys against each other */

static void check_session(struct ctx *c, size_t i)
{
	const struct lcd_session *s = &c->cfg->sessions[i];
	const struct lc_clone_config *h = &s->hydration;
	uint32_t region = s->region_size_bytes ? s->region_size_bytes : LC_REGION_SIZE_DEFAULT;
	char path[LCD_JPATH_MAX], kpath[LCD_JPATH_MAX], tmp[LCD_JPATH_MAX];

	lcd_jpath_index(path, sizeof(path), "$.sessions", i);
	for (size_t j = 0; j < i; j++)
		if (strcmp(c->cfg->sessions[j].name, s->name) == 0) {
			lcd_jpath_key(kpath, sizeof(kpath), path, "name");
			bad(c, kpath, "'%s' already names $.sessions[%zu]", s->name, j);
			break;
		}
	for (unsigned role = 0; role < 3; role++) {
		const char *value = role == 0	? s->source
				    : role == 1 ? s->destination
						: s->metadata;

		if (lcd_session_cfg_value_ok(value))
			continue;
		lcd_jpath_key(kpath, sizeof(kpath), path,
			      role == 0	  ? "source"
			      : role == 1 ? "destination"
					  : "metadata");
		bad(c, kpath,
		    "contains ';' or a newline, or begins or ends with a blank: the "
		    "handler's cfgstring cannot carry it");
	}
	if (strcmp(s->source, s->destination) == 0) {
		lcd_jpath_key(kpath, sizeof(kpath), path, "destination");
		bad(c, kpath, "same as source");
	}
	if (strcmp(s->metadata, s->source) == 0 || strcmp(s->metadata, s->destination) == 0) {
		lcd_jpath_key(kpath, sizeof(kpath), path, "metadata");
		bad(c, kpath, "same as %s",
		    strcmp(s->metadata, s->source) == 0 ? "source" : "destination");
	}
	if (lc_iscsi_url_is_iscsi(s->source)) {
		struct lc_iscsi_url url;
		struct lc_err err = {.msg = ""};

		lcd_jpath_key(kpath, sizeof(kpath), path, "source");
		if (lc_iscsi_url_parse(s->source, &url, &err) < 0) {
			bad(c, kpath, "%s", err.msg);
		} else {
			/* lunclone.json may be world-readable: secrets go elsewhere. */
			if (url.url_has_password)
				bad(c, kpath,
				    "the URL holds a password: give ?secret_file=PATH instead "
				    "(a root-only file, see lunclone(8))");
			lc_iscsi_url_free(&url);
		}
	}

	/* The handler's and the library's checks, on the effective values. */
	lcd_jpath_key(tmp, sizeof(tmp), path, "hydration");
	memcpy(path, tmp, sizeof(path));
	if (h->yield_to_user_io && h->min_rate_bytes == 0) {
		lcd_jpath_key(kpath, sizeof(kpath), path, "min_rate_mibps");
		bad(c, kpath,
		    "must be above 0 with yield_to_user_io, or hydration may never finish");
	}
	/* As the handler: only when both are given. A default min_rate above a
	 * given rate_limit is harmless, the library caps it at the limit. */
	if ((s->hydration_given & (1u << LCD_HYD_MIN_RATE)) &&
	    (s->hydration_given & (1u << LCD_HYD_RATE_LIMIT)) && h->rate_limit_bytes != 0 &&
	    h->yield_to_user_io && h->min_rate_bytes > h->rate_limit_bytes) {
		lcd_jpath_key(kpath, sizeof(kpath), path, "min_rate_mibps");
		bad(c, kpath, "%llu is above rate_limit_mibps (%llu)",
		    (unsigned long long)(h->min_rate_bytes >> MIB_SHIFT),
		    (unsigned long long)(h->rate_limit_bytes >> MIB_SHIFT));
	}
	if (h->batch_regions > h->max_inflight_regions) {
		lcd_jpath_key(kpath, sizeof(kpath), path, "batch");
		bad(c, kpath, "%u is above max_in_flight (%u)", h->batch_regions,
		    h->max_inflight_regions);
	}
	if ((uint64_t)h->batch_regions * region > BATCH_BYTES_MAX) {
		lcd_jpath_key(kpath, sizeof(kpath), path, "batch");
		bad(c, kpath, "%u regions of %u bytes exceed 256 MiB per batch", h->batch_regions,
		    region);
	}
}

/* Whether chap is set, for the per-TPG all-or-nothing rule. */
static bool has_chap(const struct lcd_chap *chap)
{
	return chap->credential != NULL;
}

static void check_tpg(struct ctx *c, const char *path, const struct lcd_tpg *t)
{
	char epath[LCD_JPATH_MAX], kpath[LCD_JPATH_MAX], fpath[LCD_JPATH_MAX];
	ssize_t chap_example = -1;
	bool any_chap = has_chap(&t->chap);

	lcd_jpath_key(kpath, sizeof(kpath), path, "portals");
	if (t->nr_portals == 0)
		bad(c, kpath, "empty: no initiator could reach this TPG");
	for (size_t i = 0; i < t->nr_portals; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(t->portals[i], t->portals[j]) == 0) {
				lcd_jpath_index(epath, sizeof(epath), kpath, i);
				bad(c, epath, "%s is also portals[%zu]", t->portals[i], j);
				break;
			}

	lcd_jpath_key(kpath, sizeof(kpath), path, "luns");
	for (size_t i = 0; i < t->nr_luns; i++) {
		lcd_jpath_index(epath, sizeof(epath), kpath, i);
		for (size_t j = 0; j < i; j++) {
			if (t->luns[i].lun == t->luns[j].lun) {
				lcd_jpath_key(fpath, sizeof(fpath), epath, "lun");
				bad(c, fpath, "duplicate LUN %u (also luns[%zu])", t->luns[i].lun,
				    j);
				break;
			}
			if (t->luns[i].session_idx == t->luns[j].session_idx) {
				lcd_jpath_key(fpath, sizeof(fpath), epath, "session");
				bad(c, fpath, "session '%s' is already LUN %u of this TPG",
				    c->cfg->sessions[t->luns[i].session_idx].name, t->luns[j].lun);
				break;
			}
		}
	}

	if (!t->open_access) {
		if (t->open_write_protect) {
			lcd_jpath_key(kpath, sizeof(kpath), path, "open_write_protect");
			bad(c, kpath, "only meaningful with open_access");
		}
		if (has_chap(&t->chap)) {
			lcd_jpath_key(kpath, sizeof(kpath), path, "chap");
			bad(c, kpath,
			    "a TPG credential serves open_access only; give each ACL its chap");
		}
		if (t->nr_acls == 0) {
			lcd_jpath_key(kpath, sizeof(kpath), path, "acls");
			bad(c, kpath,
			    "no ACLs and open_access is false: no initiator could log in");
		}
	}

	lcd_jpath_key(kpath, sizeof(kpath), path, "acls");
	for (size_t i = 0; i < t->nr_acls; i++) {
		const struct lcd_acl *acl = &t->acls[i];

		if (has_chap(&acl->chap)) {
			any_chap = true;
			if (chap_example < 0)
				chap_example = (ssize_t)i;
		}
		lcd_jpath_index(epath, sizeof(epath), kpath, i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(acl->initiator, t->acls[j].initiator) == 0) {
				lcd_jpath_key(fpath, sizeof(fpath), epath, "initiator");
				bad(c, fpath, "'%s' already has acls[%zu]", acl->initiator, j);
				break;
			}
		for (size_t m = 0; m < acl->nr_mapped_luns; m++) {
			const struct lcd_mapped_lun *ml = &acl->mapped_luns[m];
			char mpath[LCD_JPATH_MAX];
			bool found = false;

			lcd_jpath_key(fpath, sizeof(fpath), epath, "mapped_luns");
			lcd_jpath_index(mpath, sizeof(mpath), fpath, m);
			for (size_t l = 0; l < t->nr_luns && !found; l++)
				found = t->luns[l].lun == ml->tpg_lun;
			if (!found) {
				lcd_jpath_key(fpath, sizeof(fpath), mpath, "lun");
				bad(c, fpath, "the TPG has no LUN %u", ml->tpg_lun);
			}
			for (size_t n = 0; n < m; n++)
				if (acl->mapped_luns[n].mapped_lun == ml->mapped_lun) {
					lcd_jpath_key(fpath, sizeof(fpath), mpath, "mapped_lun");
					bad(c, fpath,
					    "duplicate mapped LUN %u (also mapped_luns[%zu])",
					    ml->mapped_lun, n);
					break;
				}
		}
	}
	/* LIO switches CHAP on per TPG (attrib/authentication): all or none. */
	if (any_chap)
		for (size_t i = 0; i < t->nr_acls; i++) {
			if (has_chap(&t->acls[i].chap))
				continue;
			lcd_jpath_index(epath, sizeof(epath), kpath, i);
			bad(c, epath,
			    "no chap, but %s uses CHAP: LIO requires CHAP of every initiator of a "
			    "TPG once one has it",
			    chap_example >= 0 ? "another ACL of this TPG" : "the TPG");
		}
	if (t->open_access && !has_chap(&t->chap) && chap_example >= 0) {
		lcd_jpath_key(kpath, sizeof(kpath), path, "chap");
		bad(c, kpath,
		    "missing: with open_access and CHAP on ACLs, initiators without an ACL need "
		    "the TPG's credential");
	}
}

static void check_targets(struct ctx *c)
{
	char path[LCD_JPATH_MAX], tpath[LCD_JPATH_MAX], kpath[LCD_JPATH_MAX];

	for (size_t i = 0; i < c->cfg->nr_targets; i++) {
		const struct lcd_target *t = &c->cfg->targets[i];

		lcd_jpath_index(path, sizeof(path), "$.targets", i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(t->iqn, c->cfg->targets[j].iqn) == 0) {
				lcd_jpath_key(kpath, sizeof(kpath), path, "iqn");
				bad(c, kpath, "'%s' is also $.targets[%zu]", t->iqn, j);
				break;
			}
		for (size_t g = 0; g < t->nr_tpgs; g++) {
			lcd_jpath_key(kpath, sizeof(kpath), path, "tpgs");
			lcd_jpath_index(tpath, sizeof(tpath), kpath, g);
			for (size_t h = 0; h < g; h++)
				if (t->tpgs[g].tag == t->tpgs[h].tag) {
					lcd_jpath_key(kpath, sizeof(kpath), tpath, "tag");
					bad(c, kpath, "duplicate tag %u (also tpgs[%zu])",
					    t->tpgs[g].tag, h);
					break;
				}
			check_tpg(c, tpath, &t->tpgs[g]);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Secrets */

static void resolve_chap(struct ctx *c, const char *path, const struct lcd_secrets *secrets,
			 struct lcd_chap *chap)
{
	const struct lcd_secret *s;
	char kpath[LCD_JPATH_MAX];

	if (!has_chap(chap))
		return;
	lcd_jpath_key(kpath, sizeof(kpath), path, "credential");
	s = lcd_secrets_find(secrets, chap->credential);
	if (!s) {
		bad(c, kpath, "no credential '%s' in %s", chap->credential, c->cfg->secrets_file);
		return;
	}
	if (chap->mutual && !s->mutual_userid) {
		bad(c, kpath,
		    "credential '%s' has no mutual_userid/mutual_password, but mutual is true",
		    chap->credential);
		return;
	}
	if (!chap->mutual && s->mutual_userid) {
		bad(c, kpath,
		    "credential '%s' has mutual secrets, but mutual is false: say which you mean",
		    chap->credential);
		return;
	}
	chap->userid = strdup(s->userid);
	chap->password = strdup(s->password);
	if (chap->mutual) {
		chap->mutual_userid = strdup(s->mutual_userid);
		chap->mutual_password = strdup(s->mutual_password);
	}
	if (!chap->userid || !chap->password ||
	    (chap->mutual && (!chap->mutual_userid || !chap->mutual_password)))
		(void)oom(c, kpath);
}

static bool uses_chap(const struct lcd_config *cfg)
{
	for (size_t i = 0; i < cfg->nr_targets; i++)
		for (size_t g = 0; g < cfg->targets[i].nr_tpgs; g++) {
			const struct lcd_tpg *t = &cfg->targets[i].tpgs[g];

			if (has_chap(&t->chap))
				return true;
			for (size_t a = 0; a < t->nr_acls; a++)
				if (has_chap(&t->acls[a].chap))
					return true;
		}
	return false;
}

static void resolve_secrets(struct ctx *c)
{
	struct lcd_secrets *secrets = NULL;
	char path[LCD_JPATH_MAX], kpath[LCD_JPATH_MAX], epath[LCD_JPATH_MAX], apath[LCD_JPATH_MAX];
	size_t before = c->errs->nr;

	if (!uses_chap(c->cfg))
		return;
	if (lcd_secrets_load(c->cfg->secrets_file, &secrets, c->errs) < 0) {
		c->nr_errors += c->errs->nr - before;
		if (c->errs->nr == before)
			bad(c, "$.secrets_file", "cannot be loaded");
		return;
	}
	for (size_t i = 0; i < c->cfg->nr_targets; i++)
		for (size_t g = 0; g < c->cfg->targets[i].nr_tpgs; g++) {
			struct lcd_tpg *t = &c->cfg->targets[i].tpgs[g];

			lcd_jpath_index(epath, sizeof(epath), "$.targets", i);
			lcd_jpath_key(kpath, sizeof(kpath), epath, "tpgs");
			lcd_jpath_index(path, sizeof(path), kpath, g);
			lcd_jpath_key(kpath, sizeof(kpath), path, "chap");
			resolve_chap(c, kpath, secrets, &t->chap);
			for (size_t a = 0; a < t->nr_acls; a++) {
				lcd_jpath_key(epath, sizeof(epath), path, "acls");
				lcd_jpath_index(apath, sizeof(apath), epath, a);
				lcd_jpath_key(epath, sizeof(epath), apath, "chap");
				resolve_chap(c, epath, secrets, &t->acls[a].chap);
			}
		}
	lcd_secrets_free(secrets);
}

/* ------------------------------------------------------------------ */
/* The host */

enum role { ROLE_SOURCE, ROLE_DESTINATION, ROLE_METADATA };
static const char *const role_keys[] = {"source", "destination", "metadata"};

struct seen_path {
	size_t session;
	enum role role;
	bool exists;
	struct lcd_dev_info info;
	char *canonical; /* of a metadata file not yet created */
};

/* "/dir/name" with dir resolved, for a file that does not exist yet. */
static char *canonical_new_file(const char *path)
{
	char *dir = strdup(path), *slash, *real, *out = NULL;

	if (!dir)
		return NULL;
	slash = strrchr(dir, '/');
	*slash = '\0';
	real = realpath(dir[0] ? dir : "/", NULL);
	if (real && asprintf(&out, "%s/%s", strcmp(real, "/") == 0 ? "" : real, slash + 1) < 0)
		out = NULL;
	free(real);
	free(dir);
	return out;
}

static void probe_session(struct ctx *c, const struct lcd_probe_ops *probe, size_t i,
			  struct seen_path *seen, size_t *nr_seen)
{
	struct lcd_session *s = &c->cfg->sessions[i];
	char path[LCD_JPATH_MAX], kpath[LCD_JPATH_MAX], msg[256];
	const char *paths[] = {s->source, s->destination, s->metadata};
	uint64_t dst_size = 0;
	bool have_dst = false;
	size_t first = *nr_seen;
	uint32_t block;

	lcd_jpath_index(path, sizeof(path), "$.sessions", i);
	for (unsigned role = ROLE_SOURCE; role <= ROLE_METADATA; role++) {
		struct seen_path *sp = &seen[*nr_seen];
		int r;

		lcd_jpath_key(kpath, sizeof(kpath), path, role_keys[role]);
		sp->session = i;
		sp->role = (enum role)role;
		if (role == ROLE_SOURCE && lc_iscsi_url_is_iscsi(s->source)) {
			struct lc_iscsi_url url;
			struct lc_iscsi_secrets sec;
			struct lc_err err = {.msg = ""};

			if (lc_iscsi_url_parse(s->source, &url, &err) == 0) {
				if (url.secret_file &&
				    lc_iscsi_secrets_read(url.secret_file, &sec, &err) < 0)
					bad(c, kpath, "secret_file: %s", err.msg);
				else if (url.secret_file)
					lc_iscsi_secrets_wipe(&sec);
				lc_iscsi_url_free(&url);
			}
			if (probe && probe->iscsi_size) {
				msg[0] = '\0';
				r = probe->iscsi_size(s->source, &s->source_size_bytes, msg,
						      sizeof(msg));
				if (r < 0)
					bad(c, kpath,
					    "cannot read the size of the iSCSI source: %s", msg);
			}
			continue; /* not a local path: nothing to overlap */
		}
		r = lcd_probe_path(paths[role], &sp->info, msg, sizeof(msg));
		if (r == -ENOENT && role == ROLE_METADATA) {
			if (s->format == LCD_FORMAT_NEVER) {
				bad(c, kpath, "'%s' does not exist and format is \"never\"",
				    paths[role]);
				continue;
			}
			/* format=auto creates it: its directory must exist. */
			sp->canonical = canonical_new_file(paths[role]);
			if (!sp->canonical) {
				bad(c, kpath, "'%s': its directory does not exist", paths[role]);
				continue;
			}
			(*nr_seen)++;
			continue;
		}
		if (r < 0) {
			bad(c, kpath, "'%s': %s", paths[role], msg);
			continue;
		}
		sp->exists = true;
		if (role == ROLE_SOURCE)
			s->source_size_bytes = sp->info.size_bytes;
		if (role == ROLE_DESTINATION) {
			dst_size = sp->info.size_bytes;
			have_dst = true;
		}
		(*nr_seen)++;
	}
	if (have_dst && s->source_size_bytes && dst_size < s->source_size_bytes) {
		lcd_jpath_key(kpath, sizeof(kpath), path, "destination");
		bad(c, kpath, "smaller than the source (%llu < %llu bytes)",
		    (unsigned long long)dst_size, (unsigned long long)s->source_size_bytes);
	}
	/* The handler refuses a LUN whose blocks its devices cannot address. */
	block = s->block_size_bytes ? s->block_size_bytes : LCD_BLOCK_SIZE_DEFAULT;
	if (s->source_size_bytes % block) {
		lcd_jpath_key(kpath, sizeof(kpath), path, "block_size");
		bad(c, kpath, "the source's %llu bytes are not a whole number of %u-byte blocks",
		    (unsigned long long)s->source_size_bytes, block);
	}
	for (size_t k = first; k < *nr_seen; k++) {
		const struct seen_path *sp = &seen[k];

		if (!sp->exists || sp->role == ROLE_METADATA || !sp->info.logical_block_size ||
		    block % sp->info.logical_block_size == 0)
			continue;
		lcd_jpath_key(kpath, sizeof(kpath), path, "block_size");
		bad(c, kpath,
		    "%u is not a multiple of the %s's %u-byte logical blocks: set it to %u", block,
		    role_keys[sp->role], sp->info.logical_block_size, sp->info.logical_block_size);
	}
}

static void check_host(struct ctx *c, const struct lcd_probe_ops *probe)
{
	struct seen_path *seen;
	size_t nr_seen = 0;
	char a[LCD_JPATH_MAX], b[LCD_JPATH_MAX], tmp[LCD_JPATH_MAX];

	seen = calloc(c->cfg->nr_sessions * 3 + 1, sizeof(*seen));
	if (!seen) {
		(void)oom(c, "$.sessions");
		return;
	}
	for (size_t i = 0; i < c->cfg->nr_sessions; i++)
		probe_session(c, probe, i, seen, &nr_seen);
	/* A source may feed many clones (a golden image); nothing else is shared. */
	for (size_t i = 0; i < nr_seen; i++)
		for (size_t j = 0; j < i; j++) {
			const struct seen_path *x = &seen[i], *y = &seen[j];
			bool same;

			if (x->role == ROLE_SOURCE && y->role == ROLE_SOURCE)
				continue;
			if (x->exists && y->exists)
				same = lcd_probe_overlap(&x->info, &y->info);
			else if (!x->exists && !y->exists)
				same = strcmp(x->canonical, y->canonical) == 0;
			else
				same = false;
			if (!same)
				continue;
			lcd_jpath_index(tmp, sizeof(tmp), "$.sessions", x->session);
			lcd_jpath_key(a, sizeof(a), tmp, role_keys[x->role]);
			lcd_jpath_index(tmp, sizeof(tmp), "$.sessions", y->session);
			lcd_jpath_key(b, sizeof(b), tmp, role_keys[y->role]);
			bad(c, a, "overlaps %s (the same file or device blocks)", b);
			break;
		}
	for (size_t i = 0; i < nr_seen; i++)
		free(seen[i].canonical);
	free(seen);
}

/* ------------------------------------------------------------------ */

static void chap_clear(struct lcd_chap *chap)
{
	free(chap->credential);
	lcd_secret_str_free(chap->userid);
	lcd_secret_str_free(chap->password);
	lcd_secret_str_free(chap->mutual_userid);
	lcd_secret_str_free(chap->mutual_password);
}

void lcd_config_free(struct lcd_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nr_sessions; i++) {
		struct lcd_session *s = &cfg->sessions[i];

		free(s->name);
		free(s->source);
		free(s->destination);
		free(s->metadata);
	}
	free(cfg->sessions);
	for (size_t i = 0; i < cfg->nr_targets; i++) {
		struct lcd_target *t = &cfg->targets[i];

		for (size_t g = 0; g < t->nr_tpgs; g++) {
			struct lcd_tpg *tpg = &t->tpgs[g];

			for (size_t p = 0; p < tpg->nr_portals; p++)
				free(tpg->portals[p]);
			free(tpg->portals);
			free(tpg->luns);
			for (size_t a = 0; a < tpg->nr_acls; a++) {
				free(tpg->acls[a].initiator);
				chap_clear(&tpg->acls[a].chap);
				free(tpg->acls[a].mapped_luns);
			}
			free(tpg->acls);
			chap_clear(&tpg->chap);
		}
		free(t->tpgs);
		free(t->iqn);
	}
	free(cfg->targets);
	free(cfg->path);
	free(cfg->secrets_file);
	free(cfg->state_dir);
	free(cfg->socket_dir);
	free(cfg);
}

ssize_t lcd_config_find_session(const struct lcd_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nr_sessions; i++)
		if (cfg->sessions[i].name && strcmp(cfg->sessions[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static int default_iscsi_size(const char *url, uint64_t *ret_size_bytes, char *msg, size_t msg_len)
{
	struct lc_backend *be;
	struct lc_err err = {.msg = ""};
	int r;

	r = lc_backend_open(url, LC_BACKEND_RDONLY, &be, &err);
	if (r < 0) {
		(void)snprintf(msg, msg_len, "%s", err.msg);
		return r;
	}
	*ret_size_bytes = be->size_bytes;
	lc_backend_close(be);
	return 0;
}

static const struct lcd_probe_ops default_probe = {.iscsi_size = default_iscsi_size};

int lcd_config_load(const char *path, const struct lcd_probe_ops *probe, unsigned flags,
		    struct lcd_config **ret_config, struct lcd_errors *errs)
{
	struct json_object *root = NULL;
	struct ctx c = {.file = path, .errs = errs};
	int r;

	r = lcd_json_load_file(path, LCD_CONFIG_FILE_MAX, &root, NULL, errs);
	if (r < 0)
		return r;
	c.cfg = calloc(1, sizeof(*c.cfg));
	if (!c.cfg || !(c.cfg->path = strdup(path))) {
		lcd_errors_add(errs, "%s: out of memory", path);
		r = -ENOMEM;
		goto out;
	}
	parse_top(&c, root);
	if (c.nr_errors == 0) {
		for (size_t i = 0; i < c.cfg->nr_sessions; i++)
			check_session(&c, i);
		check_targets(&c);
	}
	if (c.nr_errors == 0 && !(flags & LCD_LOAD_NO_HOST)) {
		resolve_secrets(&c);
		check_host(&c, probe ? probe : &default_probe);
	}
	if (c.oom)
		r = -ENOMEM;
	else if (c.nr_errors)
		r = -EINVAL;
	if (r == 0) {
		*ret_config = c.cfg;
		c.cfg = NULL;
	}
out:
	lcd_config_free(c.cfg);
	json_object_put(root);
	return r;
}
