/* SPDX-License-Identifier: MIT */
/*
 * luncloned's configuration: the model of /etc/lunclone/lunclone.json
 * (format in docs/lunclone.json.5, schema in config/lunclone.schema.json),
 * its loader and its validation.
 *
 * Loading runs in passes, as nbdkit's .config / .config_complete, and keeps
 * going after an error so that one run reports every problem:
 *   1. the text: strict JSON (no comments, no trailing data), every object
 *      key once (json-c keeps the last of duplicates silently: we scan the
 *      text ourselves, jsonscan.h);
 *   2. each key on its own: known, of its type, in its range;
 *   3. keys against each other: unique names, LUNs, portals, IQNs, CHAP
 *      consistency per TPG, references between sessions and LUNs;
 *   4. the secrets file, only when some CHAP credential is referenced;
 *   5. the host: files exist, sizes (destination not smaller than the
 *      source), no device used by two sessions (probe.h).
 * A pass runs only when the previous ones found nothing, because later
 * checks would only repeat earlier errors in other words.
 *
 * Every error is one line "FILE: $.json.path: problem".
 */
#ifndef LCD_CONFIG_H
#define LCD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <lunclone/clone.h>

#include "errors.h"

#define LCD_CONFIG_PATH_DEFAULT "/etc/lunclone/lunclone.json"
#define LCD_SECRETS_PATH_DEFAULT "/etc/lunclone/secrets.json"
#define LCD_STATE_DIR_DEFAULT "/var/lib/lunclone"
/* Where handler_clone.so puts its status sockets (NAME.sock). */
#define LCD_SOCKET_DIR "/run/lunclone"
#define LCD_CONFIG_VERSION 1
/* A configuration file larger than this is refused (it is not one). */
#define LCD_CONFIG_FILE_MAX (4u << 20)
/* The handler's limit for name= (its socket name). */
#define LCD_SESSION_NAME_MAX 64u
/* RFC 3720 section 3.2.6.1: an iSCSI name is at most 223 bytes. */
#define LCD_IQN_MAX 223u
#define LCD_LUN_MAX 16383u /* SAM flat space addressing, 14 bits */
#define LCD_TPG_TAG_MAX 65535u
/* LIO keeps CHAP names and secrets in 256 bytes, NUL included. */
#define LCD_CHAP_MAX 255u
/* RFC 3720 section 8.2.1 wants secrets of at least 96 bits. */
#define LCD_CHAP_SECRET_MIN 12u
/* LIO's default logical block size for a user backstore. */
#define LCD_BLOCK_SIZE_DEFAULT 512u

/* Hydration keys of a session, one bit each in lcd_session.hydration_given. */
enum lcd_hyd_key {
	LCD_HYD_WORKERS,
	LCD_HYD_BATCH,
	LCD_HYD_MAX_IN_FLIGHT,
	LCD_HYD_RATE_LIMIT,
	LCD_HYD_MIN_RATE,
	LCD_HYD_YIELD,
	LCD_HYD_YIELD_WINDOW,
	LCD_HYD_COPY_ON_READ,
	LCD_HYD_START_PAUSED,
	LCD_HYD_COMMIT_INTERVAL,
	LCD_HYD_RETRIES,
	LCD_HYD_RETRY_DELAY,
	LCD_HYD_NR,
};

enum lcd_format {
	LCD_FORMAT_DEFAULT, /* not given: the handler's default (auto) */
	LCD_FORMAT_AUTO,
	LCD_FORMAT_NEVER,
};

enum lcd_tristate {
	LCD_UNSET,
	LCD_OFF,
	LCD_ON,
};

struct lcd_session {
	char *name;
	char *source; /* a path or an iscsi:// URL */
	char *destination;
	char *metadata;
	uint32_t region_size_bytes; /* 0: not given */
	/* The LUN's logical block size (LIO hw_block_size); 0: not given (512). */
	uint32_t block_size_bytes;
	enum lcd_format format;
	enum lcd_tristate direct_io;
	/* Effective values: the library's defaults, overridden by what is given. */
	struct lc_clone_config hydration;
	uint32_t hydration_given; /* 1u << enum lcd_hyd_key */
	/* Filled by the host pass; 0 when not probed. */
	uint64_t source_size_bytes;
};

/* A CHAP credential as referenced, and its secrets once resolved. */
struct lcd_chap {
	char *credential;
	bool mutual;
	/* From the secrets file; NULL until resolved, wiped when freed. */
	char *userid;
	char *password;
	char *mutual_userid;
	char *mutual_password;
};

struct lcd_mapped_lun {
	unsigned mapped_lun; /* the number the initiator sees */
	unsigned tpg_lun;    /* the TPG's LUN it maps */
	bool write_protect;
};

struct lcd_acl {
	char *initiator;
	struct lcd_chap chap; /* chap.credential NULL: none */
	/* "mapped_luns" not given: every LUN of the TPG, same numbers; given
	 * empty: none (the initiator logs in and sees no LUN). */
	bool mapped_luns_given;
	struct lcd_mapped_lun *mapped_luns;
	size_t nr_mapped_luns;
};

struct lcd_lun {
	unsigned lun;
	size_t session_idx; /* into lcd_config.sessions */
};

struct lcd_tpg {
	unsigned tag;
	bool enable;
	char **portals; /* canonical "a.b.c.d:port" or "[v6]:port" */
	size_t nr_portals;
	struct lcd_lun *luns;
	size_t nr_luns;
	struct lcd_acl *acls;
	size_t nr_acls;
	/* LIO's generate_node_acls: any initiator may log in. */
	bool open_access;
	bool open_write_protect;
	/* The TPG's own credential for initiators without an ACL (open access). */
	struct lcd_chap chap;
};

struct lcd_target {
	char *iqn;
	struct lcd_tpg *tpgs;
	size_t nr_tpgs;
};

struct lcd_config {
	char *path;
	char *secrets_file;
	char *state_dir;
	/* LCD_SOCKET_DIR: not a key of the file (the handler decides it); tests
	 * point it elsewhere. */
	char *socket_dir;
	struct lcd_session *sessions;
	size_t nr_sessions;
	struct lcd_target *targets;
	size_t nr_targets;
};

/*
 * How the host pass learns what it cannot see locally. iscsi_size may be
 * NULL: sizes of iscsi:// sources are then not checked.
 */
struct lcd_probe_ops {
	/* Size in bytes of the LUN an iscsi:// URL names; blocks (network). */
	int (*iscsi_size)(const char *url, uint64_t *ret_size_bytes, char *msg, size_t msg_len);
};

enum lcd_load_flags {
	LCD_LOAD_NO_HOST = 1u << 0, /* skip pass 5 (and reading the secrets file) */
};

/*
 * Loads and validates path. Returns 0 and *ret_config (free with
 * lcd_config_free()) when valid; -EINVAL when invalid, with every problem
 * in errs; another -errno (-ENOMEM) on failure to work at all, also
 * reported in errs. *ret_config is untouched on failure. Reads files and
 * may probe iscsi:// sources through probe (NULL: the default probes,
 * which log in to iSCSI sources). Blocks. Changes nothing anywhere.
 */
int lcd_config_load(const char *path, const struct lcd_probe_ops *probe, unsigned flags,
		    struct lcd_config **ret_config, struct lcd_errors *errs);

/* Frees everything and wipes the secrets; accepts NULL. */
void lcd_config_free(struct lcd_config *config);

/* Index of the session called name, or -1. */
ssize_t lcd_config_find_session(const struct lcd_config *config, const char *name);

#endif
