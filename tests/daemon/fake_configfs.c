/* SPDX-License-Identifier: MIT */
/* A fake LIO configfs for the planner's tests (fake_configfs.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_configfs.h"

struct fake_cfs {
	char *root;
	/* Items and links the user made (relative paths): what rmdir guards. */
	char **user;
	size_t nr_user;
	size_t fail_at;
	size_t nr_ops;
};

static int path_of(const struct fake_cfs *f, const char *rel, char *buf, size_t size)
{
	return snprintf(buf, size, "%s/%s", f->root, rel) >= (int)size ? -ENAMETOOLONG : 0;
}

static int put_file(const struct fake_cfs *f, const char *rel, const char *content)
{
	char p[PATH_MAX];
	int fd, r = path_of(f, rel, p, sizeof(p));
	size_t len = strlen(content);

	if (r < 0)
		return r;
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = write(fd, content, len) == (ssize_t)len ? 0 : -EIO;
	(void)close(fd);
	return r;
}

static char *get_file(const struct fake_cfs *f, const char *rel)
{
	char p[PATH_MAX], buf[4096];
	ssize_t n;
	int fd;

	if (path_of(f, rel, p, sizeof(p)) < 0)
		return NULL;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

static int sub_dir(const struct fake_cfs *f, const char *rel, const char *name)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s/%s/%s", f->root, rel, name) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	return mkdir(p, 0755) < 0 ? -errno : 0;
}

static int sub_file(const struct fake_cfs *f, const char *rel, const char *name,
		    const char *content)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s/%s", rel, name) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	return put_file(f, p, content);
}

/* Number of '/'-separated components of rel. */
static int depth(const char *rel)
{
	int d = 1;

	for (; *rel; rel++)
		d += *rel == '/';
	return d;
}

static bool component_is(const char *rel, int idx, const char *prefix)
{
	const char *p = rel;

	for (int i = 0; i < idx; i++) {
		p = strchr(p, '/');
		if (!p)
			return false;
		p++;
	}
	return strncmp(p, prefix, strlen(prefix)) == 0;
}

static bool is_user(const struct fake_cfs *f, const char *rel, bool children)
{
	size_t len = strlen(rel);

	for (size_t i = 0; i < f->nr_user; i++) {
		if (children ? strncmp(f->user[i], rel, len) == 0 && f->user[i][len] == '/'
			     : strcmp(f->user[i], rel) == 0)
			return true;
	}
	return false;
}

static int add_user(struct fake_cfs *f, const char *rel)
{
	char **u = realloc(f->user, (f->nr_user + 1) * sizeof(*u));

	if (!u)
		return -ENOMEM;
	f->user = u;
	f->user[f->nr_user] = strdup(rel);
	if (!f->user[f->nr_user])
		return -ENOMEM;
	f->nr_user++;
	return 0;
}

static void drop_user(struct fake_cfs *f, const char *rel)
{
	for (size_t i = 0; i < f->nr_user; i++)
		if (strcmp(f->user[i], rel) == 0) {
			free(f->user[i]);
			f->user[i] = f->user[--f->nr_user];
			return;
		}
}

/* Counts operations and injects the planned failure. */
static int tick(struct fake_cfs *f)
{
	f->nr_ops++;
	if (f->fail_at && --f->fail_at == 0)
		return -EIO;
	return 0;
}

/* The default groups and attributes of the item at rel, by its place. */
static int populate(struct fake_cfs *f, const char *rel)
{
	int d = depth(rel), r = 0;

	if (d == 2 && component_is(rel, 0, "core")) {
		r = sub_file(f, rel, "hba_info", "HBA Index: 0 plugin: user version: v1\n");
	} else if (d == 3 && component_is(rel, 0, "core")) {
		r = sub_dir(f, rel, "attrib");
		r = r ?: sub_dir(f, rel, "wwn");
		r = r ?: sub_file(f, rel, "enable", "0\n");
		r = r ?: sub_file(f, rel, "control", "");
		r = r ?: sub_file(f, rel, "info", "Status: DEACTIVATED\n");
		r = r ?: sub_file(f, rel, "attrib/dev_config", "\n");
		r = r ?: sub_file(f, rel, "attrib/dev_size", "0\n");
		r = r ?: sub_file(f, rel, "attrib/hw_block_size", "512\n");
	} else if (d == 2 && component_is(rel, 0, "iscsi")) {
		r = sub_dir(f, rel, "fabric_statistics");
	} else if (d == 3 && component_is(rel, 2, "tpgt_")) {
		static const char *const dirs[] = {"lun", "np", "acls", "attrib", "auth", "param"};

		for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && r == 0; i++)
			r = sub_dir(f, rel, dirs[i]);
		r = r ?: sub_file(f, rel, "enable", "0\n");
		r = r ?: sub_file(f, rel, "param/TargetAlias", "LIO Target\n");
		r = r ?: sub_file(f, rel, "param/HeaderDigest", "CRC32C,None\n");
		r = r ?: sub_file(f, rel, "attrib/generate_node_acls", "0\n");
		r = r ?: sub_file(f, rel, "attrib/cache_dynamic_acls", "0\n");
		r = r ?: sub_file(f, rel, "attrib/demo_mode_write_protect", "1\n");
		r = r ?: sub_file(f, rel, "attrib/authentication", "0\n");
		r = r ?: sub_file(f, rel, "auth/userid", "\n");
		r = r ?: sub_file(f, rel, "auth/password", "\n");
		r = r ?: sub_file(f, rel, "auth/userid_mutual", "\n");
		r = r ?: sub_file(f, rel, "auth/password_mutual", "\n");
	} else if (d == 5 && component_is(rel, 3, "lun")) {
		r = sub_file(f, rel, "alua_tg_pt_gp", "default_tg_pt_gp\n");
		r = r ?: sub_dir(f, rel, "statistics");
	} else if (d == 5 && component_is(rel, 3, "acls")) {
		r = sub_dir(f, rel, "auth");
		r = r ?: sub_dir(f, rel, "attrib");
		r = r ?: sub_file(f, rel, "cmdsn_depth", "64\n");
		r = r ?: sub_file(f, rel, "auth/userid", "\n");
		r = r ?: sub_file(f, rel, "auth/password", "\n");
		r = r ?: sub_file(f, rel, "auth/userid_mutual", "\n");
		r = r ?: sub_file(f, rel, "auth/password_mutual", "\n");
		r = r ?: sub_file(f, rel, "auth/authenticate_target", "0\n");
	} else if (d == 6 && component_is(rel, 3, "acls")) {
		r = sub_file(f, rel, "write_protect", "0\n");
	}
	return r;
}

static int fake_mkdir(void *opaque, const char *rel)
{
	struct fake_cfs *f = opaque;
	char p[PATH_MAX];
	int r = tick(f);

	if (r == 0)
		r = path_of(f, rel, p, sizeof(p));
	if (r < 0)
		return r;
	if (mkdir(p, 0755) < 0)
		return -errno;
	r = populate(f, rel);
	return r ?: add_user(f, rel);
}

static bool any_link_to(const struct fake_cfs *f, const char *rel)
{
	char want[PATH_MAX], target[PATH_MAX], p[PATH_MAX];

	(void)snprintf(want, sizeof(want), "%s/%s", f->root, rel);
	for (size_t i = 0; i < f->nr_user; i++) {
		ssize_t n;

		if (path_of(f, f->user[i], p, sizeof(p)) < 0)
			continue;
		n = readlink(p, target, sizeof(target) - 1);
		if (n < 0 || !realpath(p, target))
			continue;
		if (strcmp(target, want) == 0)
			return true;
	}
	return false;
}

static int fake_rmdir(void *opaque, const char *rel)
{
	struct fake_cfs *f = opaque;
	char p[PATH_MAX], cmd[PATH_MAX + 16], *enable;
	int r = tick(f);

	if (r == 0)
		r = path_of(f, rel, p, sizeof(p));
	if (r < 0)
		return r;
	if (!is_user(f, rel, false))
		return access(p, F_OK) == 0 ? -EPERM : -ENOENT;
	if (is_user(f, rel, true))
		return -ENOTEMPTY;
	if (any_link_to(f, rel))
		return -EBUSY;
	if (depth(rel) == 3 && component_is(rel, 2, "tpgt_")) {
		(void)snprintf(cmd, sizeof(cmd), "%s/enable", rel);
		enable = get_file(f, cmd);
		r = enable && enable[0] == '1' ? -EBUSY : 0;
		free(enable);
		if (r < 0)
			return r;
	}
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p);
	if (system(cmd) != 0)
		return -EIO;
	drop_user(f, rel);
	return 0;
}

/* control: "key=value" items split on ',' and newlines. */
static int write_control(struct fake_cfs *f, const char *rel, const char *value)
{
	char dir[PATH_MAX], attr[PATH_MAX + 32], *copy, *save = NULL, *enable;
	int r = 0;

	(void)snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(rel, '/') - rel), rel);
	(void)snprintf(attr, sizeof(attr), "%s/enable", dir);
	enable = get_file(f, attr);
	r = enable && enable[0] == '1' ? -EBUSY : 0;
	free(enable);
	if (r < 0)
		return r;
	copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	for (char *item = strtok_r(copy, ",\n", &save); item && r == 0;
	     item = strtok_r(NULL, ",\n", &save)) {
		if (strncmp(item, "dev_config=", 11) == 0) {
			(void)snprintf(attr, sizeof(attr), "%s/attrib/dev_config", dir);
			r = put_file(f, attr, item + 11);
		} else if (strncmp(item, "dev_size=", 9) == 0) {
			(void)snprintf(attr, sizeof(attr), "%s/attrib/dev_size", dir);
			r = put_file(f, attr, item + 9);
		} else if (strncmp(item, "hw_block_size=", 14) == 0) {
			(void)snprintf(attr, sizeof(attr), "%s/attrib/hw_block_size", dir);
			r = put_file(f, attr, item + 14);
		} else {
			r = -EINVAL;
		}
	}
	free(copy);
	return r;
}

static int fake_write(void *opaque, const char *rel, const char *value)
{
	struct fake_cfs *f = opaque;
	char p[PATH_MAX], attr[PATH_MAX + 32], *cfg, *size;
	const char *slash = strrchr(rel, '/');
	int r = tick(f);

	if (r == 0)
		r = path_of(f, rel, p, sizeof(p));
	if (r < 0)
		return r;
	if (access(p, F_OK) != 0)
		return -ENOENT;
	if (component_is(rel, 0, "core") && depth(rel) == 4 && strcmp(slash, "/control") == 0)
		return write_control(f, rel, value);
	if (component_is(rel, 0, "core") && depth(rel) == 4 && strcmp(slash, "/enable") == 0 &&
	    value[0] == '1') {
		(void)snprintf(attr, sizeof(attr), "%.*s/attrib/dev_config", (int)(slash - rel),
			       rel);
		cfg = get_file(f, attr);
		(void)snprintf(attr, sizeof(attr), "%.*s/attrib/dev_size", (int)(slash - rel), rel);
		size = get_file(f, attr);
		r = !cfg || cfg[0] == '\n' || !size || size[0] == '0' ? -EINVAL : 0;
		free(cfg);
		free(size);
		if (r < 0)
			return r;
	}
	return put_file(f, rel, value);
}

static int fake_symlink(void *opaque, const char *target, const char *rel)
{
	struct fake_cfs *f = opaque;
	char t[PATH_MAX], p[PATH_MAX];
	struct stat st;
	int r = tick(f);

	if (r == 0)
		r = path_of(f, target, t, sizeof(t));
	if (r == 0)
		r = path_of(f, rel, p, sizeof(p));
	if (r < 0)
		return r;
	if (stat(t, &st) < 0 || !S_ISDIR(st.st_mode))
		return -ENOENT;
	/* Relative, as the kernel's configfs makes them ("../../core/..."). */
	{
		char relt[PATH_MAX];
		size_t len = 0;

		for (const char *c = rel; *c; c++)
			if (*c == '/') {
				if (len + 3 >= sizeof(relt))
					return -ENAMETOOLONG;
				memcpy(relt + len, "../", 3);
				len += 3;
			}
		if (len + strlen(target) >= sizeof(relt))
			return -ENAMETOOLONG;
		memcpy(relt + len, target, strlen(target) + 1);
		if (symlink(relt, p) < 0)
			return -errno;
	}
	return add_user(f, rel);
}

static int fake_unlink(void *opaque, const char *rel)
{
	struct fake_cfs *f = opaque;
	char p[PATH_MAX];
	int r = tick(f);

	if (r == 0)
		r = path_of(f, rel, p, sizeof(p));
	if (r < 0)
		return r;
	if (!is_user(f, rel, false))
		return -EPERM;
	if (unlink(p) < 0)
		return -errno;
	drop_user(f, rel);
	return 0;
}

const struct lcd_cfs_ops fake_cfs_ops = {
    .mkdir = fake_mkdir,
    .rmdir = fake_rmdir,
    .write = fake_write,
    .symlink = fake_symlink,
    .unlink = fake_unlink,
};

struct fake_cfs *fake_cfs_new(const char *root, int with_iscsi)
{
	struct fake_cfs *f = calloc(1, sizeof(*f));
	char p[PATH_MAX];

	if (!f || !(f->root = strdup(root)))
		goto fail;
	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		goto fail;
	(void)snprintf(p, sizeof(p), "%s/core", root);
	if (mkdir(p, 0755) < 0)
		goto fail;
	if (with_iscsi) {
		(void)snprintf(p, sizeof(p), "%s/iscsi", root);
		if (mkdir(p, 0755) < 0)
			goto fail;
	}
	return f;
fail:
	fake_cfs_free(f);
	return NULL;
}

void fake_cfs_free(struct fake_cfs *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nr_user; i++)
		free(f->user[i]);
	free(f->user);
	free(f->root);
	free(f);
}

void fake_cfs_fail_at(struct fake_cfs *f, size_t n)
{
	f->fail_at = n;
}

size_t fake_cfs_nr_ops(const struct fake_cfs *f)
{
	return f->nr_ops;
}
