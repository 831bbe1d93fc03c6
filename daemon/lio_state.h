/* SPDX-License-Identifier: MIT */
/*
 * What LIO holds now, read from configfs (/sys/kernel/config/target, or a
 * fake tree of the same shape in tests), and which parts of it are ours.
 *
 * The layout read (paths relative to the root):
 *     core/user_N/NAME/{enable, attrib/dev_config, attrib/dev_size}
 *     iscsi/IQN/tpgt_T/{enable, param/TargetAlias, attrib/..., auth/...}
 *     iscsi/IQN/tpgt_T/np/IP:PORT
 *     iscsi/IQN/tpgt_T/lun/lun_L/<symlink to core/user_N/NAME>
 *     iscsi/IQN/tpgt_T/acls/INITIATOR/{auth/..., lun_M/write_protect,
 *                                      lun_M/<symlink to ../lun/lun_L>}
 * and luncloned's session files, STATE/sessions/NAME.conf.
 *
 * Ownership (luncloned changes only what is ours and leaves the rest alone):
 *   - a backstore is ours when it is a user backstore named lc-SESSION
 *     whose attrib/dev_config is our cfgstring for it
 *     ("clone/@STATE/sessions/SESSION.conf") or empty (one we began to
 *     create and did not finish);
 *   - a target is ours when each of its TPGs says param/TargetAlias =
 *     "lunclone" (written right after the TPG is created); a target whose
 *     IQN the configuration wants is also adopted when each of its TPGs is
 *     ours or pristine (disabled, without portals, LUNs or ACLs: what an
 *     interrupted creation leaves, or an empty target nobody uses); any
 *     other target is foreign, and a conflict when the configuration wants
 *     its IQN;
 *   - we create our backstores in HBA user_4242; the HBA itself is left in
 *     place when it becomes empty (it costs nothing and may be reused).
 * Everything inside one of our targets is ours.
 *
 * Reading blocks (file system); nothing here writes.
 */
#ifndef LCD_LIO_STATE_H
#define LCD_LIO_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define LCD_BACKSTORE_PREFIX "lc-"
#define LCD_HBA_DIR "user_4242"
#define LCD_TARGET_ALIAS "lunclone"

/* TPG attributes we manage, in attrib/. */
enum lcd_tpg_attrib {
	LCD_TPG_GENERATE_NODE_ACLS,
	LCD_TPG_CACHE_DYNAMIC_ACLS,
	LCD_TPG_DEMO_MODE_WRITE_PROTECT,
	LCD_TPG_AUTHENTICATION,
	LCD_TPG_NR_ATTRIBS,
};
extern const char *const lcd_tpg_attrib_names[LCD_TPG_NR_ATTRIBS];

/* CHAP attributes in auth/ of a TPG or an ACL. */
enum lcd_auth_attrib {
	LCD_AUTH_USERID,
	LCD_AUTH_PASSWORD,
	LCD_AUTH_USERID_MUTUAL,
	LCD_AUTH_PASSWORD_MUTUAL,
	LCD_AUTH_NR,
};
extern const char *const lcd_auth_names[LCD_AUTH_NR];

struct lcd_cur_backstore {
	char *hba; /* "user_N" */
	char *name;
	char *dev_config; /* "" when not set */
	uint64_t dev_size;
	uint32_t hw_block_size; /* 0 when not shown */
	bool enabled;
	bool ours;
};

struct lcd_cur_lun {
	unsigned lun;
	char *link_name; /* NULL when not linked */
	char *backstore; /* "user_N/NAME" it links to, NULL when not linked */
};

struct lcd_cur_mapped_lun {
	unsigned mapped_lun;
	char *link_name; /* NULL when not linked */
	bool linked;
	unsigned tpg_lun; /* valid when linked */
	bool write_protect;
};

struct lcd_cur_acl {
	char *initiator;
	char *auth[LCD_AUTH_NR]; /* "" when unset (LIO shows "NULL" or nothing) */
	struct lcd_cur_mapped_lun *mapped_luns;
	size_t nr_mapped_luns;
};

struct lcd_cur_tpg {
	unsigned tag;
	bool enabled;
	char *alias;
	char **portals;
	size_t nr_portals;
	struct lcd_cur_lun *luns;
	size_t nr_luns;
	struct lcd_cur_acl *acls;
	size_t nr_acls;
	char *attrib[LCD_TPG_NR_ATTRIBS]; /* NULL when absent */
	char *auth[LCD_AUTH_NR];
};

struct lcd_cur_target {
	char *iqn;
	struct lcd_cur_tpg *tpgs;
	size_t nr_tpgs;
	bool ours;	/* by the TPG aliases, before the configuration is seen */
	bool adoptable; /* every TPG ours or pristine: ours if its IQN is wanted */
};

struct lcd_session_file {
	char *name; /* the session */
	char *content;
};

struct lcd_lio_state {
	bool have_iscsi; /* iscsi/ exists (the fabric module is loaded) */
	bool have_hba;	 /* core/user_4242 exists */
	struct lcd_cur_backstore *backstores;
	size_t nr_backstores;
	struct lcd_cur_target *targets;
	size_t nr_targets;
	struct lcd_session_file *files;
	size_t nr_files;
};

/*
 * Reads the tree under root and the session files under state_dir (which
 * may not exist yet). 0 and *ret_state (free with lcd_lio_state_free());
 * -errno with a message in errs when root cannot be read. Attributes that
 * cannot be read are taken as absent. Blocks.
 */
int lcd_lio_read(const char *root, const char *state_dir, struct lcd_lio_state **ret_state,
		 struct lcd_errors *errs);

void lcd_lio_state_free(struct lcd_lio_state *state);

/* Reads one attribute file, without its trailing newline (caller frees);
 * -errno when it cannot. */
int lcd_read_attr(const char *path, char **ret_value);

#endif
