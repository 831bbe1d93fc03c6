/* SPDX-License-Identifier: MIT */
/*
 * A fake LIO configfs in a temporary directory, behind the executor's
 * callback table (daemon/cfs_exec.h), strict where the real one is:
 *   - mkdir creates an item's default groups and attribute files with the
 *     kernel's defaults (a TPG comes with lun/, np/, acls/, attrib/, auth/,
 *     param/TargetAlias "LIO Target", enable 0; a backstore with attrib/,
 *     enable 0, control; ...);
 *   - writing an attribute that does not exist is ENOENT; control takes
 *     "dev_config=...", "dev_size=...", "hw_block_size=..." (split on ','
 *     and newlines, as the
 *     kernel does) and refuses them once the backstore is enabled (EBUSY);
 *     enabling a backstore needs both (EINVAL);
 *   - rmdir removes the item with its default groups, but fails with
 *     ENOTEMPTY while it holds items or links made by the user, and with
 *     EBUSY while a link points at it or, for a TPG, while it is enabled;
 *   - a symlink's target must exist.
 * fake_cfs_fail_at() makes the Nth later operation fail with -EIO, to
 * interrupt an apply.
 */
#ifndef FAKE_CONFIGFS_H
#define FAKE_CONFIGFS_H

#include <stddef.h>

#include "cfs_exec.h"

struct fake_cfs;

/* Creates root/ with core/ (and iscsi/ when with_iscsi). */
struct fake_cfs *fake_cfs_new(const char *root, int with_iscsi);
void fake_cfs_free(struct fake_cfs *fake);

extern const struct lcd_cfs_ops fake_cfs_ops;

/* The n-th operation from now (1 = the next) fails with -EIO; 0 = never. */
void fake_cfs_fail_at(struct fake_cfs *fake, size_t n);

/* Total operations done through the fake (tests count changes). */
size_t fake_cfs_nr_ops(const struct fake_cfs *fake);

#endif
