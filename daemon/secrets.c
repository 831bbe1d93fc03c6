/* SPDX-License-Identifier: MIT */
/* The CHAP secrets file (secrets.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "jsonscan.h"
#include "secrets.h"

/* Secrets files hold a few credentials: anything larger is not one. */
#define SECRETS_FILE_MAX (256u * 1024)

void lcd_secret_str_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void secret_clear(struct lcd_secret *s)
{
	free(s->name);
	lcd_secret_str_free(s->userid);
	lcd_secret_str_free(s->password);
	lcd_secret_str_free(s->mutual_userid);
	lcd_secret_str_free(s->mutual_password);
	memset(s, 0, sizeof(*s));
}

void lcd_secrets_free(struct lcd_secrets *secrets)
{
	if (!secrets)
		return;
	for (size_t i = 0; i < secrets->nr; i++)
		secret_clear(&secrets->items[i]);
	free(secrets->items);
	free(secrets);
}

const struct lcd_secret *lcd_secrets_find(const struct lcd_secrets *secrets, const char *name)
{
	if (!secrets)
		return NULL;
	for (size_t i = 0; i < secrets->nr; i++)
		if (strcmp(secrets->items[i].name, name) == 0)
			return &secrets->items[i];
	return NULL;
}

/* Printable ASCII without blanks: what LIO and every initiator accept. */
static bool chap_chars_ok(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

/* One string field; secret says whether it is a password (length floor). */
static int get_field(const char *file, const char *path, struct json_object *v, bool secret,
		     char **ret, struct lcd_errors *errs)
{
	const char *s;
	size_t len;

	if (!json_object_is_type(v, json_type_string)) {
		lcd_errors_add(errs, "%s: %s: expected a string", file, path);
		return -EINVAL;
	}
	s = json_object_get_string(v);
	len = strlen(s);
	if (len == 0 || len > 255 || !chap_chars_ok(s)) {
		lcd_errors_add(errs,
			       "%s: %s: must be 1 to 255 printable ASCII characters without "
			       "blanks",
			       file, path);
		return -EINVAL;
	}
	if (secret && len < 12) {
		lcd_errors_add(errs,
			       "%s: %s: shorter than 12 characters (RFC 3720 asks for at least 96 "
			       "bits)",
			       file, path);
		return -EINVAL;
	}
	*ret = strdup(s);
	if (!*ret) {
		lcd_errors_add(errs, "%s: %s: out of memory", file, path);
		return -ENOMEM;
	}
	return 0;
}

static int parse_credential(const char *file, const char *path, const char *name,
			    struct json_object *obj, struct lcd_secret *ret,
			    struct lcd_errors *errs)
{
	struct lcd_secret s = {0};
	char kpath[LCD_JPATH_MAX];
	int r = 0, r2;

	if (!json_object_is_type(obj, json_type_object)) {
		lcd_errors_add(errs, "%s: %s: expected an object", file, path);
		return -EINVAL;
	}
	s.name = strdup(name);
	if (!s.name) {
		lcd_errors_add(errs, "%s: %s: out of memory", file, path);
		return -ENOMEM;
	}
	json_object_object_foreach(obj, key, val)
	{
		char **field = NULL;
		bool secret = false;

		lcd_jpath_key(kpath, sizeof(kpath), path, key);
		if (strcmp(key, "userid") == 0) {
			field = &s.userid;
		} else if (strcmp(key, "password") == 0) {
			field = &s.password;
			secret = true;
		} else if (strcmp(key, "mutual_userid") == 0) {
			field = &s.mutual_userid;
		} else if (strcmp(key, "mutual_password") == 0) {
			field = &s.mutual_password;
			secret = true;
		} else {
			lcd_errors_add(errs,
				       "%s: %s: unknown key (expected userid, password, "
				       "mutual_userid, mutual_password)",
				       file, kpath);
			r = -EINVAL;
			continue;
		}
		r2 = get_field(file, kpath, val, secret, field, errs);
		if (r2 < 0)
			r = r2;
	}
	if (r == 0) {
		if (!s.userid || !s.password) {
			lcd_errors_add(errs, "%s: %s: userid and password are required", file,
				       path);
			r = -EINVAL;
		} else if (!s.mutual_userid != !s.mutual_password) {
			lcd_errors_add(errs,
				       "%s: %s: mutual_userid and mutual_password go together",
				       file, path);
			r = -EINVAL;
		} else if (s.mutual_password && strcmp(s.mutual_password, s.password) == 0) {
			lcd_errors_add(errs,
				       "%s: %s.mutual_password: same as password (RFC 3720 "
				       "section 8.2.1: one secret per direction)",
				       file, path);
			r = -EINVAL;
		}
	}
	if (r < 0) {
		secret_clear(&s);
		return r;
	}
	*ret = s;
	return 0;
}

static int check_permissions(const char *path, const struct stat *st, struct lcd_errors *errs)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		lcd_errors_add(errs, "%s: owned by uid %u: must belong to root", path,
			       (unsigned)st->st_uid);
		return -EPERM;
	}
	if (st->st_mode & 077) {
		lcd_errors_add(errs,
			       "%s: mode %04o lets group or others read it: chmod 600 (it holds "
			       "CHAP secrets)",
			       path, (unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int lcd_secrets_load(const char *path, struct lcd_secrets **ret_secrets, struct lcd_errors *errs)
{
	struct json_object *root = NULL, *creds = NULL;
	struct lcd_secrets *secrets;
	char cpath[LCD_JPATH_MAX];
	struct stat st;
	int r, r2;

	r = lcd_json_load_file(path, SECRETS_FILE_MAX, &root, &st, errs);
	if (r < 0)
		return r;
	r = check_permissions(path, &st, errs);
	if (r < 0)
		goto out_put;
	secrets = calloc(1, sizeof(*secrets));
	if (!secrets) {
		lcd_errors_add(errs, "%s: out of memory", path);
		r = -ENOMEM;
		goto out_put;
	}
	if (!json_object_is_type(root, json_type_object)) {
		lcd_errors_add(errs, "%s: $: expected an object", path);
		r = -EINVAL;
		goto out_free;
	}
	json_object_object_foreach(root, key, val)
	{
		if (strcmp(key, "credentials") == 0) {
			creds = val;
			continue;
		}
		lcd_jpath_key(cpath, sizeof(cpath), "$", key);
		lcd_errors_add(errs, "%s: %s: unknown key (expected credentials)", path, cpath);
		r = -EINVAL;
	}
	if (!creds) {
		lcd_errors_add(errs, "%s: $.credentials: missing", path);
		r = -EINVAL;
		goto out_free;
	}
	if (!json_object_is_type(creds, json_type_object)) {
		lcd_errors_add(errs, "%s: $.credentials: expected an object", path);
		r = -EINVAL;
		goto out_free;
	}
	secrets->items =
	    calloc((size_t)json_object_object_length(creds) + 1, sizeof(*secrets->items));
	if (!secrets->items) {
		lcd_errors_add(errs, "%s: out of memory", path);
		r = -ENOMEM;
		goto out_free;
	}
	json_object_object_foreach(creds, name, cred)
	{
		lcd_jpath_key(cpath, sizeof(cpath), "$.credentials", name);
		r2 = parse_credential(path, cpath, name, cred, &secrets->items[secrets->nr], errs);
		if (r2 < 0)
			r = r2;
		else
			secrets->nr++;
	}
	if (r < 0)
		goto out_free;
	json_object_put(root);
	*ret_secrets = secrets;
	return 0;

out_free:
	lcd_secrets_free(secrets);
out_put:
	json_object_put(root);
	return r;
}
