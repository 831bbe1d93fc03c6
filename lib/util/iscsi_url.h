/* SPDX-License-Identifier: MIT */
/*
 * The parts of an iscsi:// source URI that are ours, not libiscsi's.
 *
 *     iscsi://[user[%password]@]host[:port]/target-iqn/lun[?key=value[&...]]
 *
 * libiscsi parses the URL itself (iscsi_parse_full_url: portal, target, LUN,
 * CHAP credentials, and the query keys header_digest, target_user,
 * target_password), but it ignores query keys it does not know and it has no
 * room for our own options. lc_iscsi_url_parse() checks every query key
 * (unknown = error, duplicate = error, typed values), takes ours out, and
 * hands back the rest as the URL for libiscsi, plus a copy for messages with
 * every password replaced by "***".
 *
 * Our keys:
 *   timeout=SECONDS      how long a read waits for the source (reconnects
 *                        included) before failing, 1 to 3600 (default 30)
 *   secret_file=PATH     CHAP credentials from a file (absolute path) instead
 *                        of the URI, so they stay out of process lists and
 *                        configfs; see lc_iscsi_secrets_read()
 *
 * None of these functions block on anything but the secret file.
 */
#ifndef LC_UTIL_ISCSI_URL_H
#define LC_UTIL_ISCSI_URL_H

#include <stdbool.h>

struct lc_err;

#define LC_ISCSI_URL_SCHEME "iscsi://"
#define LC_ISCSI_TIMEOUT_DEFAULT 30u
#define LC_ISCSI_TIMEOUT_MAX 3600u
/* libiscsi keeps each credential in 256 bytes, NUL included. */
#define LC_ISCSI_SECRET_MAX 256u
/* A secret file is a few short lines; anything larger is not one. */
#define LC_ISCSI_SECRET_FILE_MAX 4096u

struct lc_iscsi_url {
	char *libiscsi_url; /* the URI minus our keys; holds secrets: wiped when freed */
	char *redacted;	    /* for messages: passwords replaced by "***" */
	char *url_user;	    /* user of the URI's userinfo, NULL when none */
	bool url_has_password;
	unsigned timeout_s; /* timeout=, or LC_ISCSI_TIMEOUT_DEFAULT */
	char *secret_file;  /* secret_file=, NULL when absent */
};

/* True when uri starts with iscsi:// (what lc_backend_open dispatches on). */
bool lc_iscsi_url_is_iscsi(const char *uri);

/*
 * Splits uri as above into *ret_url (all fields owned; release with
 * lc_iscsi_url_free()). -EINVAL with a message naming the key for a bad
 * query, -ENOMEM. *ret_url is untouched on failure. The message never quotes
 * a password.
 */
int lc_iscsi_url_parse(const char *uri, struct lc_iscsi_url *ret_url, struct lc_err *err);

/* Wipes the secrets and frees every field; accepts a zeroed struct. */
void lc_iscsi_url_free(struct lc_iscsi_url *url);

/*
 * CHAP credentials, each a NUL-terminated string, empty when not given.
 * Mutual CHAP (target_user/target_password) needs the initiator's pair too.
 */
struct lc_iscsi_secrets {
	char user[LC_ISCSI_SECRET_MAX];
	char password[LC_ISCSI_SECRET_MAX];
	char target_user[LC_ISCSI_SECRET_MAX];
	char target_password[LC_ISCSI_SECRET_MAX];
};

/*
 * Reads a secret file: lines "key=value" with keys user, password,
 * target_user, target_password (each at most once), blank lines and lines
 * starting with '#' ignored; the value is the rest of the line, verbatim.
 * The file must be a regular file owned by the caller's effective user or
 * root and not accessible by group or others (mode 0600 or stricter), as
 * ssh does with private keys: -EPERM otherwise. password is required,
 * target_user and target_password go together. -EINVAL naming the line for
 * anything else. Blocks. On failure *ret_secrets is untouched.
 */
int lc_iscsi_secrets_read(const char *path, struct lc_iscsi_secrets *ret_secrets,
			  struct lc_err *err);

/* Overwrites the secrets in a way the compiler cannot optimise away. */
void lc_iscsi_secrets_wipe(struct lc_iscsi_secrets *secrets);

#endif
