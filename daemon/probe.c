/* SPDX-License-Identifier: MIT */
/* Host facts about a session's paths (probe.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util/parse.h"

#include "probe.h"

/* Reads one number from a sysfs file; -errno when absent or malformed. */
static int sysfs_u64(const char *path, uint64_t *ret)
{
	char buf[64];
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	r = n < 0 ? -errno : 0;
	(void)close(fd);
	if (r < 0)
		return r;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return lc_parse_u64(buf, ret);
}

static int sysfs_devt(const char *path, dev_t *ret)
{
	unsigned maj, min;
	char buf[64], *colon;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	r = n < 0 ? -errno : 0;
	(void)close(fd);
	if (r < 0)
		return r;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	colon = strchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	if (lc_parse_uint(buf, &maj) < 0 || lc_parse_uint(colon + 1, &min) < 0)
		return -EINVAL;
	*ret = makedev(maj, min);
	return 0;
}

/* Where a block device sits on its whole disk; a disk is its own. */
static void block_extent(dev_t rdev, uint64_t size_bytes, struct lcd_dev_info *info)
{
	char path[128];
	uint64_t start;

	info->disk = rdev;
	info->start_sector = 0;
	info->nr_sectors = size_bytes / 512;
	(void)snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/partition", major(rdev),
		       minor(rdev));
	if (access(path, F_OK) != 0)
		return;
	(void)snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/start", major(rdev), minor(rdev));
	if (sysfs_u64(path, &start) < 0)
		return;
	(void)snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/../dev", major(rdev), minor(rdev));
	if (sysfs_devt(path, &info->disk) < 0) {
		info->disk = rdev;
		return;
	}
	info->start_sector = start;
}

int lcd_probe_path(const char *path, struct lcd_dev_info *ret_info, char *msg, size_t msg_len)
{
	struct lcd_dev_info info = {0};
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		(void)snprintf(msg, msg_len, "%s", strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		(void)snprintf(msg, msg_len, "%s", strerror(-r));
		goto out_close;
	}
	info.st_dev = st.st_dev;
	info.st_ino = st.st_ino;
	if (S_ISREG(st.st_mode)) {
		info.size_bytes = (uint64_t)st.st_size;
		info.logical_block_size = 512;
	} else if (S_ISBLK(st.st_mode)) {
		int lbs;

		info.is_block = true;
		if (ioctl(fd, BLKGETSIZE64, &info.size_bytes) < 0 ||
		    ioctl(fd, BLKSSZGET, &lbs) < 0) {
			r = -errno;
			(void)snprintf(msg, msg_len, "cannot read its size: %s", strerror(-r));
			goto out_close;
		}
		info.logical_block_size = (uint32_t)lbs;
		block_extent(st.st_rdev, info.size_bytes, &info);
	} else {
		r = -EINVAL;
		(void)snprintf(msg, msg_len, "neither a regular file nor a block device");
		goto out_close;
	}
	(void)close(fd);
	*ret_info = info;
	return 0;

out_close:
	(void)close(fd);
	return r;
}

bool lcd_probe_overlap(const struct lcd_dev_info *a, const struct lcd_dev_info *b)
{
	if (a->is_block != b->is_block)
		return false;
	if (!a->is_block)
		return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
	if (a->disk != b->disk)
		return false;
	return a->start_sector < b->start_sector + b->nr_sectors &&
	       b->start_sector < a->start_sector + a->nr_sectors;
}
