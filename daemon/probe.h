/* SPDX-License-Identifier: MIT */
/*
 * What the host says about a session's paths: whether they exist, their size,
 * and enough identity to tell when two paths are the same storage. Two paths
 * overlap when they are the same file (device and inode), or block devices
 * on the same whole disk whose sector ranges intersect (/dev/sda and
 * /dev/sda1; read from sysfs). Stacked devices (device-mapper, md) are not
 * followed to what they sit on: /dev/vg/lv and its physical volume do not
 * overlap here.
 *
 * Nothing here writes. Blocks (stat, open, ioctl).
 */
#ifndef LCD_PROBE_H
#define LCD_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct lcd_dev_info {
	bool is_block;
	dev_t st_dev; /* of a file: its file system; identity with st_ino */
	ino_t st_ino;
	dev_t disk;			   /* of a block device: the whole disk */
	uint64_t start_sector, nr_sectors; /* within disk */
	uint64_t size_bytes;
	uint32_t logical_block_size; /* bytes: a block device's, 512 for a file */
};

/*
 * Opens path read-only (without following nothing special: symlinks such as
 * /dev/disk/by-id are what admins use) and fills *ret_info. -errno when it
 * does not exist or cannot be opened, -EINVAL for something that is neither
 * a regular file nor a block device; msg gets the reason.
 */
int lcd_probe_path(const char *path, struct lcd_dev_info *ret_info, char *msg, size_t msg_len);

/* True when a and b are, or share, the same storage (see above). */
bool lcd_probe_overlap(const struct lcd_dev_info *a, const struct lcd_dev_info *b);

#endif
