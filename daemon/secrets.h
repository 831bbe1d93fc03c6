/* SPDX-License-Identifier: MIT */
/*
 * The CHAP secrets file (default /etc/lunclone/secrets.json), kept apart from
 * the configuration so that lunclone.json can be readable by all and kept in
 * version control:
 *
 *     { "credentials": { "NAME": { "userid": "...", "password": "...",
 *                                  "mutual_userid": "...",
 *                                  "mutual_password": "..." } } }
 *
 * The file must be a regular file owned by root (or by the user running the
 * daemon) and not accessible by group or others, as ssh requires of private
 * keys. userid and password are required; mutual_userid and mutual_password
 * go together, and the mutual password must differ from the password (RFC
 * 3720 section 8.2.1: a secret is never used in both directions). Names and
 * secrets: 1 to 255 printable ASCII characters without blanks (LIO's limit;
 * configfs attributes end at a newline), secrets at least 12.
 *
 * Messages never quote a secret.
 */
#ifndef LCD_SECRETS_H
#define LCD_SECRETS_H

#include <stddef.h>

#include "errors.h"

struct lcd_secret {
	char *name;
	char *userid;
	char *password;
	char *mutual_userid; /* NULL: no mutual CHAP */
	char *mutual_password;
};

struct lcd_secrets {
	struct lcd_secret *items;
	size_t nr;
};

/*
 * Reads and checks path. 0 and *ret_secrets (free with lcd_secrets_free())
 * when valid; -EPERM for bad ownership or permissions, -EINVAL for bad
 * content, -errno when unreadable: every problem in errs. Blocks.
 */
int lcd_secrets_load(const char *path, struct lcd_secrets **ret_secrets, struct lcd_errors *errs);

/* NULL when there is no credential called name. */
const struct lcd_secret *lcd_secrets_find(const struct lcd_secrets *secrets, const char *name);

/* Wipes and frees; accepts NULL. */
void lcd_secrets_free(struct lcd_secrets *secrets);

/* Wipes and frees one string; accepts NULL. */
void lcd_secret_str_free(char *s);

#endif
