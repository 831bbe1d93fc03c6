/* SPDX-License-Identifier: MIT */
/*
 * Reading LIO's configfs tree into struct lcd_lio_state (lio_state.h).
 *
 * configfs shows attributes as files (read with a trailing newline) and
 * groups as directories; links between items are symlinks whose targets
 * the kernel writes relative to the link ("../../../../../../target/core/
 * user_4242/lc-vol1"): they are resolved before comparing. The reader is tolerant: a missing attribute is
 * "absent", an unexpected entry is skipped, so that a kernel with more or
 * fewer attributes, or a half-built item, reads as what it is.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/parse.h"

#include "lio_state.h"
#include "session_cfg.h"

/* configfs attributes are at most a page. */
#define ATTR_MAX 4096
/* The handler's limit for an @file (HC_CFG_FILE_MAX). */
#define SESSION_FILE_MAX (64u * 1024)

const char *const lcd_tpg_attrib_names[LCD_TPG_NR_ATTRIBS] = {
    [LCD_TPG_GENERATE_NODE_ACLS] = "generate_node_acls",
    [LCD_TPG_CACHE_DYNAMIC_ACLS] = "cache_dynamic_acls",
    [LCD_TPG_DEMO_MODE_WRITE_PROTECT] = "demo_mode_write_protect",
    [LCD_TPG_AUTHENTICATION] = "authentication",
};

const char *const lcd_auth_names[LCD_AUTH_NR] = {
    [LCD_AUTH_USERID] = "userid",
    [LCD_AUTH_PASSWORD] = "password",
    [LCD_AUTH_USERID_MUTUAL] = "userid_mutual",
    [LCD_AUTH_PASSWORD_MUTUAL] = "password_mutual",
};

/* Reads at most max bytes of path; strip drops one trailing newline. */
static int read_text(const char *path, size_t max, bool strip, char **ret_value)
{
	char *buf;
	size_t used = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(max + 1);
	if (!buf) {
		(void)close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, buf + used, max - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			(void)close(fd);
			free(buf);
			return r;
		}
		if (n == 0 || (used += (size_t)n) == max)
			break;
	}
	(void)close(fd);
	buf[used] = '\0';
	if (strip && used && buf[used - 1] == '\n')
		buf[used - 1] = '\0';
	*ret_value = buf;
	return 0;
}

int lcd_read_attr(const char *path, char **ret_value)
{
	return read_text(path, ATTR_MAX, true, ret_value);
}

/* The attribute at dir/name, or NULL when absent (or out of memory). */
static char *attr(const char *dir, const char *name)
{
	char path[PATH_MAX], *v = NULL;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return NULL;
	return lcd_read_attr(path, &v) == 0 ? v : NULL;
}

static bool attr_is_one(const char *dir, const char *name)
{
	char *v = attr(dir, name);
	bool one = v && strcmp(v, "1") == 0;

	free(v);
	return one;
}

/* An auth attribute: LIO shows "NULL" (or nothing) for an unset one. */
static char *auth_attr(const char *dir, const char *name)
{
	char *v = attr(dir, name);

	if (v && strcmp(v, "NULL") == 0)
		v[0] = '\0';
	return v ? v : strdup("");
}

static bool is_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "prefix_N" -> N. */
static bool parse_suffix(const char *name, const char *prefix, unsigned *ret)
{
	size_t len = strlen(prefix);

	return strncmp(name, prefix, len) == 0 && lc_parse_uint(name + len, ret) == 0;
}

/* The first symlink in dir: its name and resolved target with root stripped. */
static int find_link(const char *root, const char *dir, char **ret_name, char **ret_target)
{
	char root_real[PATH_MAX];
	size_t root_len;
	struct dirent *de;
	DIR *d;
	int r = -ENOENT;

	if (!realpath(root, root_real))
		return -errno;
	root_len = strlen(root_real);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char path[PATH_MAX], target[PATH_MAX];
		struct stat st;

		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &st) < 0 || !S_ISLNK(st.st_mode) || !realpath(path, target))
			continue;
		if (strncmp(target, root_real, root_len) != 0 || target[root_len] != '/')
			continue;
		*ret_name = strdup(de->d_name);
		*ret_target = strdup(target + root_len + 1);
		r = *ret_name && *ret_target ? 0 : -ENOMEM;
		if (r < 0) {
			free(*ret_name);
			free(*ret_target);
		}
		break;
	}
	(void)closedir(d);
	return r;
}

/* Calls fn(dir/entry) for each subdirectory entry of dir. */
static int for_each_dir(const char *dir,
			int (*fn)(void *opaque, const char *path, const char *name), void *opaque)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) && r >= 0) {
		char path[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (!is_dir(path))
			continue;
		r = fn(opaque, path, de->d_name);
	}
	(void)closedir(d);
	return r;
}

/* Grows *array of *nr elements by one zeroed element; NULL on ENOMEM. */
static void *grow(void *array_ptr, size_t *nr, size_t size)
{
	void **array = array_ptr;
	char *p = realloc(*array, (*nr + 1) * size);

	if (!p)
		return NULL;
	memset(p + *nr * size, 0, size);
	*array = p;
	return p + (*nr)++ * size;
}

struct reader {
	const char *root;
	const char *state_dir;
	struct lcd_lio_state *st;
	const char *hba;
	struct lcd_cur_tpg *tpg;
	struct lcd_cur_acl *acl;
	struct lcd_cur_target *target;
};

static int read_backstore(void *opaque, const char *path, const char *name)
{
	struct reader *rd = opaque;
	struct lcd_cur_backstore *bs;
	char dir[PATH_MAX], *size, *cfg_path = NULL, *cfgstring = NULL;
	int r = 0;

	bs = grow(&rd->st->backstores, &rd->st->nr_backstores, sizeof(*bs));
	if (!bs)
		return -ENOMEM;
	bs->hba = strdup(rd->hba);
	bs->name = strdup(name);
	if (!bs->hba || !bs->name)
		return -ENOMEM;
	(void)snprintf(dir, sizeof(dir), "%s/attrib", path);
	bs->dev_config = attr(dir, "dev_config");
	if (!bs->dev_config && !(bs->dev_config = strdup("")))
		return -ENOMEM;
	size = attr(dir, "dev_size");
	if (size)
		(void)lc_parse_u64(size, &bs->dev_size);
	free(size);
	size = attr(dir, "hw_block_size");
	if (size)
		(void)lc_parse_u32(size, &bs->hw_block_size);
	free(size);
	bs->enabled = attr_is_one(path, "enable");
	if (strncmp(name, LCD_BACKSTORE_PREFIX, strlen(LCD_BACKSTORE_PREFIX)) != 0)
		return 0;
	if (bs->dev_config[0] == '\0') {
		bs->ours = true;
		return 0;
	}
	if (lcd_session_cfg_path(rd->state_dir, name + strlen(LCD_BACKSTORE_PREFIX), &cfg_path) < 0)
		return -ENOMEM;
	if (asprintf(&cfgstring, "clone/@%s", cfg_path) < 0)
		r = -ENOMEM;
	else
		bs->ours = strcmp(bs->dev_config, cfgstring) == 0;
	free(cfgstring);
	free(cfg_path);
	return r;
}

static int read_hba(void *opaque, const char *path, const char *name)
{
	struct reader *rd = opaque;

	if (strncmp(name, "user_", 5) != 0)
		return 0;
	if (strcmp(name, LCD_HBA_DIR) == 0)
		rd->st->have_hba = true;
	rd->hba = name;
	return for_each_dir(path, read_backstore, rd);
}

static int read_np(void *opaque, const char *path, const char *name)
{
	struct reader *rd = opaque;
	char **p = grow(&rd->tpg->portals, &rd->tpg->nr_portals, sizeof(char *));

	if (!p)
		return -ENOMEM;
	*p = strdup(name);
	return *p ? 0 : -ENOMEM;
}

static int read_lun(void *opaque, const char *path, const char *name)
{
	struct reader *rd = opaque;
	struct lcd_cur_lun *lun;
	unsigned nr;
	int r;

	if (!parse_suffix(name, "lun_", &nr))
		return 0;
	lun = grow(&rd->tpg->luns, &rd->tpg->nr_luns, sizeof(*lun));
	if (!lun)
		return -ENOMEM;
	lun->lun = nr;
	r = find_link(rd->root, path, &lun->link_name, &lun->backstore);
	if (r == 0) {
		/* "core/user_N/NAME" -> "user_N/NAME" */
		if (strncmp(lun->backstore, "core/", 5) == 0)
			memmove(lun->backstore, lun->backstore + 5, strlen(lun->backstore + 5) + 1);
	}
	return r == -ENOENT ? 0 : r;
}

static int read_mapped_lun(void *opaque, const char *path, const char *name)
{
	struct reader *rd = opaque;
	struct lcd_cur_mapped_lun *m;
	char *target = NULL, *slash;
	unsigned nr;
	int r;

	if (!parse_suffix(name, "lun_", &nr))
		return 0;
	m = grow(&rd->acl->mapped_luns, &rd->acl->nr_mapped_luns, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->mapped_lun = nr;
	m->write_protect = attr_is_one(path, "write_protect");
	r = find_link(rd->root, path, &m->link_name, &target);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	slash = strrchr(target, '/');
	m->linked = slash && parse_suffix(slash + 1, "lun_", &m->tpg_lun);
	free(target);
	return 0;
}

static int read_acl(void *opaque, const char *path, const char *name)
{
	struct reader *rd = opaque;
	struct lcd_cur_acl *acl;
	char dir[PATH_MAX];

	acl = grow(&rd->tpg->acls, &rd->tpg->nr_acls, sizeof(*acl));
	if (!acl)
		return -ENOMEM;
	acl->initiator = strdup(name);
	if (!acl->initiator)
		return -ENOMEM;
	(void)snprintf(dir, sizeof(dir), "%s/auth", path);
	for (unsigned i = 0; i < LCD_AUTH_NR; i++)
		if (!(acl->auth[i] = auth_attr(dir, lcd_auth_names[i])))
			return -ENOMEM;
	rd->acl = acl;
	return for_each_dir(path, read_mapped_lun, rd);
}

static int read_tpg(void *opaque, const char *path, const char *name)
{
	struct reader *rd = opaque;
	struct lcd_cur_tpg *tpg;
	char dir[PATH_MAX];
	unsigned tag;
	int r;

	if (!parse_suffix(name, "tpgt_", &tag))
		return 0;
	tpg = grow(&rd->target->tpgs, &rd->target->nr_tpgs, sizeof(*tpg));
	if (!tpg)
		return -ENOMEM;
	tpg->tag = tag;
	tpg->enabled = attr_is_one(path, "enable");
	(void)snprintf(dir, sizeof(dir), "%s/param", path);
	tpg->alias = attr(dir, "TargetAlias");
	(void)snprintf(dir, sizeof(dir), "%s/attrib", path);
	for (unsigned i = 0; i < LCD_TPG_NR_ATTRIBS; i++)
		tpg->attrib[i] = attr(dir, lcd_tpg_attrib_names[i]);
	(void)snprintf(dir, sizeof(dir), "%s/auth", path);
	for (unsigned i = 0; i < LCD_AUTH_NR; i++)
		if (!(tpg->auth[i] = auth_attr(dir, lcd_auth_names[i])))
			return -ENOMEM;
	rd->tpg = tpg;
	(void)snprintf(dir, sizeof(dir), "%s/np", path);
	r = for_each_dir(dir, read_np, rd);
	(void)snprintf(dir, sizeof(dir), "%s/lun", path);
	if (r >= 0)
		r = for_each_dir(dir, read_lun, rd);
	(void)snprintf(dir, sizeof(dir), "%s/acls", path);
	if (r >= 0)
		r = for_each_dir(dir, read_acl, rd);
	return r;
}

static int read_target(void *opaque, const char *path, const char *name)
{
	struct reader *rd = opaque;
	struct lcd_cur_target *t;
	int r;

	/* iscsi/ also holds discovery_auth/ and files: targets are iSCSI names. */
	if (strcmp(name, "discovery_auth") == 0 || !strchr(name, '.'))
		return 0;
	t = grow(&rd->st->targets, &rd->st->nr_targets, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->iqn = strdup(name);
	if (!t->iqn)
		return -ENOMEM;
	rd->target = t;
	r = for_each_dir(path, read_tpg, rd);
	if (r < 0)
		return r;
	t->ours = t->nr_tpgs > 0;
	t->adoptable = true;
	for (size_t i = 0; i < t->nr_tpgs; i++) {
		const struct lcd_cur_tpg *tpg = &t->tpgs[i];
		bool marked = tpg->alias && strcmp(tpg->alias, LCD_TARGET_ALIAS) == 0;
		bool pristine = !tpg->enabled && !tpg->nr_portals && !tpg->nr_luns && !tpg->nr_acls;

		if (!marked)
			t->ours = false;
		if (!marked && !pristine)
			t->adoptable = false;
	}
	return 0;
}

static int read_session_files(struct reader *rd)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int r = 0;

	(void)snprintf(dir, sizeof(dir), "%s/" LCD_SESSION_CFG_SUBDIR, rd->state_dir);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) && r >= 0) {
		struct lcd_session_file *f;
		size_t len = strlen(de->d_name);
		char path[PATH_MAX];

		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		f = grow(&rd->st->files, &rd->st->nr_files, sizeof(*f));
		if (!f) {
			r = -ENOMEM;
			break;
		}
		f->name = strndup(de->d_name, len - 5);
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path)) {
			r = -ENAMETOOLONG;
			break;
		}
		r = read_text(path, SESSION_FILE_MAX, false, &f->content);
		if (r == 0 && f->content && !f->name)
			r = -ENOMEM;
	}
	(void)closedir(d);
	return r;
}

int lcd_lio_read(const char *root, const char *state_dir, struct lcd_lio_state **ret_state,
		 struct lcd_errors *errs)
{
	struct reader rd = {.root = root, .state_dir = state_dir};
	char dir[PATH_MAX];
	int r;

	if (!is_dir(root)) {
		lcd_errors_add(errs, "configfs '%s': not a directory (is target_core_mod loaded?)",
			       root);
		return -ENOENT;
	}
	rd.st = calloc(1, sizeof(*rd.st));
	if (!rd.st) {
		lcd_errors_add(errs, "configfs '%s': out of memory", root);
		return -ENOMEM;
	}
	(void)snprintf(dir, sizeof(dir), "%s/core", root);
	r = for_each_dir(dir, read_hba, &rd);
	(void)snprintf(dir, sizeof(dir), "%s/iscsi", root);
	rd.st->have_iscsi = is_dir(dir);
	if (r >= 0)
		r = for_each_dir(dir, read_target, &rd);
	if (r >= 0) {
		r = read_session_files(&rd);
		if (r < 0)
			lcd_errors_add(errs, "state directory '%s': %s", state_dir, strerror(-r));
	} else {
		lcd_errors_add(errs, "configfs '%s': %s", root, strerror(-r));
	}
	if (r < 0) {
		lcd_lio_state_free(rd.st);
		return r;
	}
	*ret_state = rd.st;
	return 0;
}

static void free_strs(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
}

void lcd_lio_state_free(struct lcd_lio_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->nr_backstores; i++) {
		free(st->backstores[i].hba);
		free(st->backstores[i].name);
		free(st->backstores[i].dev_config);
	}
	free(st->backstores);
	for (size_t i = 0; i < st->nr_targets; i++) {
		struct lcd_cur_target *t = &st->targets[i];

		for (size_t g = 0; g < t->nr_tpgs; g++) {
			struct lcd_cur_tpg *tpg = &t->tpgs[g];

			free(tpg->alias);
			free_strs(tpg->portals, tpg->nr_portals);
			free(tpg->portals);
			for (size_t l = 0; l < tpg->nr_luns; l++) {
				free(tpg->luns[l].link_name);
				free(tpg->luns[l].backstore);
			}
			free(tpg->luns);
			for (size_t a = 0; a < tpg->nr_acls; a++) {
				struct lcd_cur_acl *acl = &tpg->acls[a];

				free(acl->initiator);
				for (unsigned k = 0; k < LCD_AUTH_NR; k++)
					if (acl->auth[k]) {
						explicit_bzero(acl->auth[k], strlen(acl->auth[k]));
						free(acl->auth[k]);
					}
				for (size_t m = 0; m < acl->nr_mapped_luns; m++)
					free(acl->mapped_luns[m].link_name);
				free(acl->mapped_luns);
			}
			free(tpg->acls);
			free_strs(tpg->attrib, LCD_TPG_NR_ATTRIBS);
			for (unsigned k = 0; k < LCD_AUTH_NR; k++)
				if (tpg->auth[k]) {
					explicit_bzero(tpg->auth[k], strlen(tpg->auth[k]));
					free(tpg->auth[k]);
				}
		}
		free(t->tpgs);
		free(t->iqn);
	}
	free(st->targets);
	for (size_t i = 0; i < st->nr_files; i++) {
		free(st->files[i].name);
		free(st->files[i].content);
	}
	free(st->files);
	free(st);
}
