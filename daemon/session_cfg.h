/* SPDX-License-Identifier: MIT */
/*
 * A session as handler_clone.so reads it: the items of the handler's
 * cfgstring (grammar in handler/cfgstring.h and handler_clone(8)).
 *
 * luncloned always uses the cfgstring's file form: the backstore's
 * cfgstring is "@STATE/sessions/NAME.conf" and the items live in that file.
 * Two reasons. The inline form is limited to 255 bytes and cannot carry ':'
 * (targetcli) or long paths, so iscsi:// sources never fit; and the handler
 * cannot be reconfigured while open (it has no reconfig callback, so a write
 * to attrib/dev_config fails), so an inline cfgstring would have to change,
 * and the backstore be recreated, for every change of a hydration setting.
 * With the file form the cfgstring depends on the name alone; a changed
 * setting rewrites the file, which the handler reads at its next open.
 *
 * The file holds one item per line in a fixed order (name, src, dst, meta,
 * region_size, format, direct, then the hydration keys in the handler's
 * order), only the settings the configuration gives: the others keep the
 * handler's defaults. Rendering is deterministic, so comparing files
 * compares settings.
 */
#ifndef LCD_SESSION_CFG_H
#define LCD_SESSION_CFG_H

#include <stdbool.h>

#include "config.h"

#define LCD_SESSION_CFG_SUBDIR "sessions"
/* state_directory is limited so that "clone/@DIR/sessions/NAME.conf" fits
 * the kernel's 255 bytes with the longest name. */
#define LCD_STATE_DIR_MAX 160u

/*
 * The file's text (caller frees). Returns 0, -ENOMEM, or -EINVAL when a
 * path cannot be written as an item (';', newline, blanks at either end),
 * which the configuration's validation has already refused.
 */
int lcd_session_cfg_render(const struct lcd_session *session, char **ret_text);

/* "STATE/sessions/NAME.conf" (caller frees); 0 or -ENOMEM. */
int lcd_session_cfg_path(const char *state_dir, const char *name, char **ret_path);

/* The backstore's cfgstring for that file, "@PATH" (caller frees). -EINVAL
 * when it would not fit the kernel's limit or holds ',' or a newline. */
int lcd_session_cfgstring(const char *cfg_path, char **ret_cfgstring);

/* Whether value can be an item's value (see render). */
bool lcd_session_cfg_value_ok(const char *value);

#endif
