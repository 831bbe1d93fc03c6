/* SPDX-License-Identifier: MIT */
/*
 * The reconcile planner (plan.h).
 *
 * Three steps over the two models: decide, per session, what happens to its
 * backstore (keep, create, recreate, or skip on a conflict); walk the
 * current targets removing what is not wanted or depends on something being
 * removed; then walk the configuration creating what is missing and
 * correcting attributes that differ. Every decision is recorded in the
 * "doomed" flags of the current model's copy kept here (struct plan_ctx),
 * so that the creation walk sees what the removal walk took away.
 *
 * Portals are the one item whose creation depends on the host as well:
 * the creation walk asks the address predicate (plan.h) before planning a
 * portal's mkdir, and reports instead of planning when the address is not
 * there. Nothing else depends on a portal, so leaving one out changes no
 * other decision, and the removal walk never asks: a wanted portal is kept
 * whatever its address does.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "session_cfg.h"

/* What happens to a session's backstore. */
enum bs_action {
	BS_SKIP,     /* a conflict or an unknown size: the session is left out */
	BS_KEEP,     /* exists, ours, unchanged identity */
	BS_CREATE,   /* does not exist */
	BS_RECREATE, /* exists, ours, must go and come back */
};

struct want_session {
	enum bs_action action;
	const struct lcd_cur_backstore *cur; /* NULL when none */
	char *bs_name;			     /* lc-NAME */
	char *bs_path;			     /* user_N/lc-NAME, where it is or will be */
	char *dev_config;		     /* clone/@STATE/sessions/NAME.conf */
	char *file_path;
	char *content;
};

struct plan_ctx {
	const struct lcd_config *cfg;
	const struct lcd_lio_state *cur;
	struct lcd_plan *plan;
	struct lcd_errors *conflicts;
	const struct lcd_addr_pred *addrs; /* NULL: every address present */
	struct lcd_errors *pending;	   /* NULL when addrs is */
	struct lcd_errors *stranded;	   /* NULL when addrs is */
	struct want_session *ws;
	bool *bs_doomed;       /* per cur backstore */
	bool *target_conflict; /* per cfg target */
	bool oom;
};

static void add(struct plan_ctx *c, enum lcd_op_kind kind, const char *value, bool secret,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add(struct plan_ctx *c, enum lcd_op_kind kind, const char *value, bool secret,
		const char *fmt, ...)
{
	struct lcd_plan *p = c->plan;
	struct lcd_op *ops, op = {.kind = kind, .secret = secret};
	va_list ap;
	int n;

	if (c->oom)
		return;
	va_start(ap, fmt);
	n = vasprintf(&op.path, fmt, ap);
	va_end(ap);
	if (n < 0) {
		c->oom = true;
		return;
	}
	if (value && !(op.value = strdup(value))) {
		free(op.path);
		c->oom = true;
		return;
	}
	ops = realloc(p->ops, (p->nr + 1) * sizeof(*ops));
	if (!ops) {
		free(op.path);
		free(op.value);
		c->oom = true;
		return;
	}
	ops[p->nr++] = op;
	p->ops = ops;
}

/* ------------------------------------------------------------------ */
/* Session identity: the items that force a new backstore when changed. */

static const char *const identity_keys[] = {"src=", "dst=", "meta=", "region_size="};

/* The line "key..." of a session file, up to its end, or NULL. */
static const char *find_item(const char *content, const char *key, size_t *ret_len)
{
	size_t klen = strlen(key);

	for (const char *p = content; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0) {
			*ret_len = strcspn(p, "\n");
			return p;
		}
	}
	return NULL;
}

static bool identity_changed(const char *old, const char *new)
{
	for (size_t i = 0; i < sizeof(identity_keys) / sizeof(identity_keys[0]); i++) {
		size_t la = 0, lb = 0;
		const char *a = find_item(old, identity_keys[i], &la);
		const char *b = find_item(new, identity_keys[i], &lb);

		if (!a != !b || (a && (la != lb || memcmp(a, b, la) != 0)))
			return true;
	}
	return false;
}

static const struct lcd_session_file *cur_file(const struct lcd_lio_state *cur, const char *name)
{
	for (size_t i = 0; i < cur->nr_files; i++)
		if (strcmp(cur->files[i].name, name) == 0)
			return &cur->files[i];
	return NULL;
}

static int decide_sessions(struct plan_ctx *c)
{
	const struct lcd_config *cfg = c->cfg;

	for (size_t i = 0; i < cfg->nr_sessions; i++) {
		const struct lcd_session *s = &cfg->sessions[i];
		struct want_session *w = &c->ws[i];
		const struct lcd_session_file *f;

		if (asprintf(&w->bs_name, LCD_BACKSTORE_PREFIX "%s", s->name) < 0)
			return -ENOMEM;
		if (lcd_session_cfg_path(cfg->state_dir, s->name, &w->file_path) < 0)
			return -ENOMEM;
		if (asprintf(&w->dev_config, "clone/@%s", w->file_path) < 0)
			return -ENOMEM;
		if (lcd_session_cfg_render(s, &w->content) < 0) {
			lcd_errors_add(c->conflicts,
				       "session '%s': cannot render its cfgstring file", s->name);
			w->action = BS_SKIP;
			continue;
		}
		for (size_t b = 0; b < c->cur->nr_backstores; b++)
			if (strcmp(c->cur->backstores[b].name, w->bs_name) == 0) {
				w->cur = &c->cur->backstores[b];
				if (!w->cur->ours)
					break;
				c->bs_doomed[b] = false;
			}
		if (w->cur && !w->cur->ours) {
			lcd_errors_add(c->conflicts,
				       "session '%s': backstore %s/%s exists and is not ours "
				       "(dev_config '%s'): leaving the session out",
				       s->name, w->cur->hba, w->cur->name, w->cur->dev_config);
			w->action = BS_SKIP;
			continue;
		}
		if (!w->cur) {
			w->action = BS_CREATE;
		} else {
			f = cur_file(c->cur, s->name);
			w->action = BS_KEEP;
			/* An unknown size (0) is no reason to take a running device away. */
			uint32_t block =
			    s->block_size_bytes ? s->block_size_bytes : LCD_BLOCK_SIZE_DEFAULT;

			if (!w->cur->enabled || strcmp(w->cur->dev_config, w->dev_config) != 0 ||
			    (w->cur->hw_block_size && w->cur->hw_block_size != block) ||
			    (s->source_size_bytes && w->cur->dev_size != s->source_size_bytes) ||
			    (f && identity_changed(f->content, w->content)))
				w->action = BS_RECREATE;
		}
		if (w->action != BS_KEEP && s->source_size_bytes == 0) {
			lcd_errors_add(c->conflicts,
				       "session '%s': the source's size is unknown: leaving the "
				       "session out",
				       s->name);
			if (w->cur)
				c->bs_doomed[w->cur - c->cur->backstores] = false;
			w->action = BS_SKIP;
			continue;
		}
		if (asprintf(&w->bs_path, "%s/%s", w->action == BS_KEEP ? w->cur->hba : LCD_HBA_DIR,
			     w->bs_name) < 0)
			return -ENOMEM;
		if (w->action == BS_RECREATE)
			c->bs_doomed[w->cur - c->cur->backstores] = true;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Lookups between the two models */

static const struct lcd_target *want_target(const struct plan_ctx *c, const char *iqn,
					    size_t *ret_idx)
{
	for (size_t i = 0; i < c->cfg->nr_targets; i++)
		if (strcmp(c->cfg->targets[i].iqn, iqn) == 0) {
			*ret_idx = i;
			return &c->cfg->targets[i];
		}
	return NULL;
}

static const struct lcd_tpg *want_tpg(const struct lcd_target *t, unsigned tag)
{
	for (size_t i = 0; t && i < t->nr_tpgs; i++)
		if (t->tpgs[i].tag == tag)
			return &t->tpgs[i];
	return NULL;
}

static const struct lcd_lun *want_lun(const struct lcd_tpg *t, unsigned lun)
{
	for (size_t i = 0; t && i < t->nr_luns; i++)
		if (t->luns[i].lun == lun)
			return &t->luns[i];
	return NULL;
}

static const struct lcd_acl *want_acl(const struct lcd_tpg *t, const char *initiator)
{
	for (size_t i = 0; t && i < t->nr_acls; i++)
		if (strcmp(t->acls[i].initiator, initiator) == 0)
			return &t->acls[i];
	return NULL;
}

/* The mapped LUNs an ACL wants: its list, or every TPG LUN under its number. */
static bool want_mapped(const struct lcd_tpg *tpg, const struct lcd_acl *acl, unsigned mapped,
			struct lcd_mapped_lun *ret)
{
	if (!acl->mapped_luns_given) {
		const struct lcd_lun *l = want_lun(tpg, mapped);

		if (!l)
			return false;
		*ret = (struct lcd_mapped_lun){.mapped_lun = mapped, .tpg_lun = mapped};
		return true;
	}
	for (size_t i = 0; i < acl->nr_mapped_luns; i++)
		if (acl->mapped_luns[i].mapped_lun == mapped) {
			*ret = acl->mapped_luns[i];
			return true;
		}
	return false;
}

static const struct lcd_cur_target *cur_target(const struct lcd_lio_state *cur, const char *iqn)
{
	for (size_t i = 0; i < cur->nr_targets; i++)
		if (strcmp(cur->targets[i].iqn, iqn) == 0)
			return &cur->targets[i];
	return NULL;
}

static const struct lcd_cur_tpg *cur_tpg(const struct lcd_cur_target *t, unsigned tag)
{
	for (size_t i = 0; t && i < t->nr_tpgs; i++)
		if (t->tpgs[i].tag == tag)
			return &t->tpgs[i];
	return NULL;
}

static const struct lcd_cur_lun *cur_lun(const struct lcd_cur_tpg *t, unsigned lun)
{
	for (size_t i = 0; t && i < t->nr_luns; i++)
		if (t->luns[i].lun == lun)
			return &t->luns[i];
	return NULL;
}

static const struct lcd_cur_acl *cur_acl(const struct lcd_cur_tpg *t, const char *initiator)
{
	for (size_t i = 0; t && i < t->nr_acls; i++)
		if (strcmp(t->acls[i].initiator, initiator) == 0)
			return &t->acls[i];
	return NULL;
}

static const struct lcd_cur_mapped_lun *cur_mapped(const struct lcd_cur_acl *a, unsigned mapped)
{
	for (size_t i = 0; a && i < a->nr_mapped_luns; i++)
		if (a->mapped_luns[i].mapped_lun == mapped)
			return &a->mapped_luns[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Removal */

/*
 * Whether the current LUN must go: not wanted, not linked, or linked to
 * anything but the backstore its session keeps. A LUN whose session is
 * recreated goes too and comes back in the creation walk.
 */
static bool lun_doomed(const struct plan_ctx *c, const struct lcd_tpg *wtpg,
		       const struct lcd_cur_lun *l)
{
	const struct lcd_lun *w = want_lun(wtpg, l->lun);
	const struct want_session *ws;

	if (!w || !l->backstore)
		return true;
	ws = &c->ws[w->session_idx];
	return ws->action != BS_KEEP || strcmp(l->backstore, ws->bs_path) != 0;
}

static bool mapped_doomed(const struct plan_ctx *c, const struct lcd_tpg *wtpg,
			  const struct lcd_cur_tpg *tpg, const struct lcd_acl *wacl,
			  const struct lcd_cur_mapped_lun *m)
{
	struct lcd_mapped_lun w;
	const struct lcd_cur_lun *l;

	if (!wacl || !m->linked || !want_mapped(wtpg, wacl, m->mapped_lun, &w))
		return true;
	if (w.tpg_lun != m->tpg_lun)
		return true;
	l = cur_lun(tpg, m->tpg_lun);
	return !l || lun_doomed(c, wtpg, l);
}

/* Takes a TPG apart; wtpg NULL: all of it (and the TPG itself). */
static void remove_in_tpg(struct plan_ctx *c, const char *tdir, const struct lcd_cur_tpg *tpg,
			  const struct lcd_tpg *wtpg)
{
	char dir[1024];

	(void)snprintf(dir, sizeof(dir), "%s/tpgt_%u", tdir, tpg->tag);
	/* Initiators lose this TPG before its pieces go. */
	if (tpg->enabled && (!wtpg || !wtpg->enable))
		add(c, LCD_OP_WRITE, "0", false, "%s/enable", dir);
	for (size_t a = 0; a < tpg->nr_acls; a++) {
		const struct lcd_cur_acl *acl = &tpg->acls[a];
		const struct lcd_acl *wacl = wtpg ? want_acl(wtpg, acl->initiator) : NULL;

		for (size_t m = 0; m < acl->nr_mapped_luns; m++) {
			const struct lcd_cur_mapped_lun *ml = &acl->mapped_luns[m];

			if (wacl && !mapped_doomed(c, wtpg, tpg, wacl, ml))
				continue;
			if (ml->link_name)
				add(c, LCD_OP_UNLINK, NULL, false, "%s/acls/%s/lun_%u/%s", dir,
				    acl->initiator, ml->mapped_lun, ml->link_name);
			add(c, LCD_OP_RMDIR, NULL, false, "%s/acls/%s/lun_%u", dir, acl->initiator,
			    ml->mapped_lun);
		}
		if (!wacl)
			add(c, LCD_OP_RMDIR, NULL, false, "%s/acls/%s", dir, acl->initiator);
	}
	for (size_t l = 0; l < tpg->nr_luns; l++) {
		const struct lcd_cur_lun *lun = &tpg->luns[l];

		if (wtpg && !lun_doomed(c, wtpg, lun))
			continue;
		if (lun->link_name)
			add(c, LCD_OP_UNLINK, NULL, false, "%s/lun/lun_%u/%s", dir, lun->lun,
			    lun->link_name);
		add(c, LCD_OP_RMDIR, NULL, false, "%s/lun/lun_%u", dir, lun->lun);
	}
	for (size_t p = 0; p < tpg->nr_portals; p++) {
		bool wanted = false;

		for (size_t q = 0; wtpg && q < wtpg->nr_portals && !wanted; q++)
			wanted = strcmp(wtpg->portals[q], tpg->portals[p]) == 0;
		if (!wanted)
			add(c, LCD_OP_RMDIR, NULL, false, "%s/np/%s", dir, tpg->portals[p]);
	}
	if (!wtpg)
		add(c, LCD_OP_RMDIR, NULL, false, "%s", dir);
}

static void remove_targets(struct plan_ctx *c)
{
	for (size_t i = 0; i < c->cur->nr_targets; i++) {
		const struct lcd_cur_target *t = &c->cur->targets[i];
		const struct lcd_target *wt;
		char tdir[512];
		size_t idx;

		wt = want_target(c, t->iqn, &idx);
		if (!t->ours && !(wt && t->adoptable)) {
			if (wt) {
				lcd_errors_add(c->conflicts,
					       "target '%s' exists and is not ours (a TPG in use "
					       "without TargetAlias '" LCD_TARGET_ALIAS
					       "'): leaving it alone",
					       t->iqn);
				c->target_conflict[idx] = true;
			}
			continue;
		}
		(void)snprintf(tdir, sizeof(tdir), "iscsi/%s", t->iqn);
		for (size_t g = 0; g < t->nr_tpgs; g++)
			remove_in_tpg(c, tdir, &t->tpgs[g],
				      wt ? want_tpg(wt, t->tpgs[g].tag) : NULL);
		if (!wt)
			add(c, LCD_OP_RMDIR, NULL, false, "%s", tdir);
	}
}

/* Our backstores that go: not wanted, or recreated. */
static void remove_backstores(struct plan_ctx *c)
{
	for (size_t b = 0; b < c->cur->nr_backstores; b++) {
		const struct lcd_cur_backstore *bs = &c->cur->backstores[b];
		bool pinned = false;
		char path[512];

		if (!c->bs_doomed[b])
			continue;
		/* A foreign target's LUN on it: removing would fail, or pull it away. */
		(void)snprintf(path, sizeof(path), "%s/%s", bs->hba, bs->name);
		for (size_t i = 0; i < c->cur->nr_targets && !pinned; i++) {
			const struct lcd_cur_target *t = &c->cur->targets[i];

			for (size_t g = 0; !t->ours && g < t->nr_tpgs && !pinned; g++)
				for (size_t l = 0; l < t->tpgs[g].nr_luns && !pinned; l++)
					pinned = t->tpgs[g].luns[l].backstore &&
						 strcmp(t->tpgs[g].luns[l].backstore, path) == 0;
		}
		if (pinned) {
			lcd_errors_add(c->conflicts,
				       "backstore %s is exported by a target that is not ours: "
				       "leaving it in place",
				       path);
			c->bs_doomed[b] = false;
			for (size_t s = 0; s < c->cfg->nr_sessions; s++)
				if (c->ws[s].cur == bs)
					c->ws[s].action = BS_SKIP;
			continue;
		}
		add(c, LCD_OP_RMDIR, NULL, false, "core/%s", path);
	}
}

/* ------------------------------------------------------------------ */
/* Files */

static void plan_files(struct plan_ctx *c)
{
	for (size_t i = 0; i < c->cfg->nr_sessions; i++) {
		const struct want_session *w = &c->ws[i];
		const struct lcd_session_file *f = cur_file(c->cur, c->cfg->sessions[i].name);

		size_t la = 0, lb = 0;
		const char *ra, *rb;
		char mib[32];

		if (w->action == BS_SKIP)
			continue;
		if (f && strcmp(f->content, w->content) == 0)
			continue;
		add(c, LCD_OP_FILE_WRITE, w->content, false, "%s", w->file_path);
		if (!f || w->action != BS_KEEP)
			continue;
		/* The rate is the one setting a running device takes live. */
		ra = find_item(f->content, "rate=", &la);
		rb = find_item(w->content, "rate=", &lb);
		if (!ra != !rb || (ra && (la != lb || memcmp(ra, rb, la) != 0))) {
			(void)snprintf(
			    mib, sizeof(mib), "%llu",
			    (unsigned long long)(c->cfg->sessions[i].hydration.rate_limit_bytes >>
						 20));
			add(c, LCD_OP_THROTTLE, mib, false, "%s/%s.sock", c->cfg->socket_dir,
			    c->cfg->sessions[i].name);
		}
	}
	for (size_t i = 0; i < c->cur->nr_files; i++) {
		const struct lcd_session_file *f = &c->cur->files[i];
		char *path;

		if (lcd_config_find_session(c->cfg, f->name) >= 0)
			continue;
		if (lcd_session_cfg_path(c->cfg->state_dir, f->name, &path) < 0) {
			c->oom = true;
			return;
		}
		add(c, LCD_OP_FILE_REMOVE, NULL, false, "%s", path);
		free(path);
	}
}

/* ------------------------------------------------------------------ */
/* Creation */

static void create_backstores(struct plan_ctx *c)
{
	bool hba = c->cur->have_hba;

	for (size_t i = 0; i < c->cfg->nr_sessions; i++) {
		const struct want_session *w = &c->ws[i];
		char value[64 + 4096];

		if (w->action != BS_CREATE && w->action != BS_RECREATE)
			continue;
		if (!hba) {
			add(c, LCD_OP_MKDIR, NULL, false, "core/" LCD_HBA_DIR);
			hba = true;
		}
		add(c, LCD_OP_MKDIR, NULL, false, "core/%s", w->bs_path);
		(void)snprintf(value, sizeof(value), "dev_config=%s", w->dev_config);
		add(c, LCD_OP_WRITE, value, false, "core/%s/control", w->bs_path);
		(void)snprintf(value, sizeof(value), "dev_size=%llu",
			       (unsigned long long)c->cfg->sessions[i].source_size_bytes);
		add(c, LCD_OP_WRITE, value, false, "core/%s/control", w->bs_path);
		if (c->cfg->sessions[i].block_size_bytes) {
			(void)snprintf(value, sizeof(value), "hw_block_size=%u",
				       c->cfg->sessions[i].block_size_bytes);
			add(c, LCD_OP_WRITE, value, false, "core/%s/control", w->bs_path);
		}
		add(c, LCD_OP_WRITE, "1", false, "core/%s/enable", w->bs_path);
	}
}

/* Writes value at path unless the current value (NULL: unknown) equals it. */
static void set_attr(struct plan_ctx *c, const char *cur, const char *want, bool secret,
		     const char *path)
{
	if (cur && strcmp(cur, want) == 0)
		return;
	add(c, LCD_OP_WRITE, want, secret, "%s", path);
}

/*
 * CHAP attributes of a TPG or ACL: the wanted secrets, or none ("NULL" is
 * how LIO clears one). cur NULL: a new item, whose attributes are unset.
 */
static void set_auth(struct plan_ctx *c, const char *dir, char *const *cur,
		     const struct lcd_chap *chap)
{
	const char *want[LCD_AUTH_NR] = {
	    chap->credential ? chap->userid : NULL,
	    chap->credential ? chap->password : NULL,
	    chap->credential && chap->mutual ? chap->mutual_userid : NULL,
	    chap->credential && chap->mutual ? chap->mutual_password : NULL,
	};
	char path[1024];

	for (unsigned k = 0; k < LCD_AUTH_NR; k++) {
		const char *have = cur ? cur[k] : "";

		(void)snprintf(path, sizeof(path), "%s/auth/%s", dir, lcd_auth_names[k]);
		if (!want[k]) {
			if (have[0] != '\0')
				add(c, LCD_OP_WRITE, "NULL", false, "%s", path);
			continue;
		}
		set_attr(c, have, want[k], k == LCD_AUTH_PASSWORD || k == LCD_AUTH_PASSWORD_MUTUAL,
			 path);
	}
}

/* The address of a canonical portal ("192.0.2.1:3260", "[2001:db8::1]:3260"),
 * without brackets or port. */
static void portal_ip(const char *portal, char *buf, size_t size)
{
	size_t len;

	if (portal[0] == '[') {
		portal++;
		len = strcspn(portal, "]");
	} else {
		const char *colon = strrchr(portal, ':');

		len = colon ? (size_t)(colon - portal) : strlen(portal);
	}
	(void)snprintf(buf, size, "%.*s", (int)len, portal);
}

static bool addr_present(const struct plan_ctx *c, const char *ip)
{
	/* A wildcard portal listens on whatever the host has, even nothing. */
	if (!c->addrs || strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "::") == 0)
		return true;
	return c->addrs->has(c->addrs->ctx, ip);
}

static bool tpg_uses_chap(const struct lcd_tpg *t)
{
	if (t->chap.credential)
		return true;
	for (size_t a = 0; a < t->nr_acls; a++)
		if (t->acls[a].chap.credential)
			return true;
	return false;
}

static void create_in_tpg(struct plan_ctx *c, const char *iqn, const char *tdir,
			  const struct lcd_tpg *w, const struct lcd_cur_tpg *tpg)
{
	const char *attr_want[LCD_TPG_NR_ATTRIBS] = {
	    [LCD_TPG_GENERATE_NODE_ACLS] = w->open_access ? "1" : "0",
	    [LCD_TPG_CACHE_DYNAMIC_ACLS] = w->open_access ? "1" : NULL,
	    [LCD_TPG_DEMO_MODE_WRITE_PROTECT] =
		w->open_access ? (w->open_write_protect ? "1" : "0") : NULL,
	    [LCD_TPG_AUTHENTICATION] = tpg_uses_chap(w) ? "1" : "0",
	};
	char dir[1024], path[2048];

	(void)snprintf(dir, sizeof(dir), "%s/tpgt_%u", tdir, w->tag);
	if (!tpg)
		add(c, LCD_OP_MKDIR, NULL, false, "%s", dir);
	/* Our mark, at once: an interrupted apply leaves a TPG we recognise. */
	(void)snprintf(path, sizeof(path), "%s/param/TargetAlias", dir);
	set_attr(c, tpg ? tpg->alias : NULL, LCD_TARGET_ALIAS, false, path);
	for (unsigned k = 0; k < LCD_TPG_NR_ATTRIBS; k++) {
		if (!attr_want[k])
			continue;
		(void)snprintf(path, sizeof(path), "%s/attrib/%s", dir, lcd_tpg_attrib_names[k]);
		set_attr(c, tpg ? tpg->attrib[k] : NULL, attr_want[k], false, path);
	}
	set_auth(c, dir, tpg ? tpg->auth : NULL, &w->chap);

	for (size_t p = 0; p < w->nr_portals; p++) {
		char ip[64];
		bool have = false;

		for (size_t q = 0; tpg && q < tpg->nr_portals && !have; q++)
			have = strcmp(tpg->portals[q], w->portals[p]) == 0;
		portal_ip(w->portals[p], ip, sizeof(ip));
		if (addr_present(c, ip)) {
			if (!have)
				add(c, LCD_OP_MKDIR, NULL, false, "%s/np/%s", dir, w->portals[p]);
		} else if (have) {
			lcd_errors_add(c->stranded,
				       "portal %s of %s tpg %u: address %s is not on this host; "
				       "leaving the portal in place (it serves again when the "
				       "address comes back)",
				       w->portals[p], iqn, w->tag, ip);
		} else {
			lcd_errors_add(c->pending,
				       "portal %s of %s tpg %u waits for address %s to appear on "
				       "this host",
				       w->portals[p], iqn, w->tag, ip);
		}
	}

	for (size_t l = 0; l < w->nr_luns; l++) {
		const struct want_session *ws = &c->ws[w->luns[l].session_idx];
		const struct lcd_cur_lun *cl = cur_lun(tpg, w->luns[l].lun);

		if (ws->action == BS_SKIP || (cl && !lun_doomed(c, w, cl)))
			continue;
		add(c, LCD_OP_MKDIR, NULL, false, "%s/lun/lun_%u", dir, w->luns[l].lun);
		(void)snprintf(path, sizeof(path), "core/%s", ws->bs_path);
		add(c, LCD_OP_SYMLINK, path, false, "%s/lun/lun_%u/%s", dir, w->luns[l].lun,
		    ws->bs_name);
	}

	for (size_t a = 0; a < w->nr_acls; a++) {
		const struct lcd_acl *wacl = &w->acls[a];
		const struct lcd_cur_acl *acl = cur_acl(tpg, wacl->initiator);
		size_t nr = wacl->mapped_luns_given ? wacl->nr_mapped_luns : w->nr_luns;
		char adir[1536];

		(void)snprintf(adir, sizeof(adir), "%s/acls/%s", dir, wacl->initiator);
		if (!acl)
			add(c, LCD_OP_MKDIR, NULL, false, "%s", adir);
		set_auth(c, adir, acl ? acl->auth : NULL, &wacl->chap);
		for (size_t m = 0; m < nr; m++) {
			struct lcd_mapped_lun ml =
			    wacl->mapped_luns_given
				? wacl->mapped_luns[m]
				: (struct lcd_mapped_lun){.mapped_lun = w->luns[m].lun,
							  .tpg_lun = w->luns[m].lun};
			const struct lcd_cur_mapped_lun *cm = cur_mapped(acl, ml.mapped_lun);
			const struct lcd_lun *wl = want_lun(w, ml.tpg_lun);
			bool keep = cm && tpg && !mapped_doomed(c, w, tpg, wacl, cm);

			if (!wl || c->ws[wl->session_idx].action == BS_SKIP)
				continue;
			(void)snprintf(path, sizeof(path), "%s/lun_%u/write_protect", adir,
				       ml.mapped_lun);
			if (keep) {
				if (cm->write_protect != ml.write_protect)
					add(c, LCD_OP_WRITE, ml.write_protect ? "1" : "0", false,
					    "%s", path);
				continue;
			}
			add(c, LCD_OP_MKDIR, NULL, false, "%s/lun_%u", adir, ml.mapped_lun);
			if (ml.write_protect)
				add(c, LCD_OP_WRITE, "1", false, "%s", path);
			(void)snprintf(path, sizeof(path), "%s/lun/lun_%u", dir, ml.tpg_lun);
			add(c, LCD_OP_SYMLINK, path, false, "%s/lun_%u/lc-link", adir,
			    ml.mapped_lun);
		}
	}
	/* Enabled last: initiators find it complete. */
	if (w->enable && (!tpg || !tpg->enabled))
		add(c, LCD_OP_WRITE, "1", false, "%s/enable", dir);
}

static void create_targets(struct plan_ctx *c)
{
	bool iscsi = c->cur->have_iscsi;

	for (size_t i = 0; i < c->cfg->nr_targets; i++) {
		const struct lcd_target *w = &c->cfg->targets[i];
		const struct lcd_cur_target *t = cur_target(c->cur, w->iqn);
		char tdir[512];

		if (c->target_conflict[i])
			continue;
		if (!iscsi) {
			/* Loads iscsi_target_mod on a real system. */
			add(c, LCD_OP_MKDIR, NULL, false, "iscsi");
			iscsi = true;
		}
		(void)snprintf(tdir, sizeof(tdir), "iscsi/%s", w->iqn);
		if (!t)
			add(c, LCD_OP_MKDIR, NULL, false, "%s", tdir);
		for (size_t g = 0; g < w->nr_tpgs; g++)
			create_in_tpg(c, w->iqn, tdir, &w->tpgs[g], cur_tpg(t, w->tpgs[g].tag));
	}
}

/* ------------------------------------------------------------------ */

int lcd_plan_make(const struct lcd_config *cfg, const struct lcd_lio_state *cur,
		  struct lcd_plan *ret_plan, struct lcd_errors *conflicts)
{
	return lcd_plan_make_addrs(cfg, cur, NULL, ret_plan, conflicts, NULL, NULL);
}

int lcd_plan_make_addrs(const struct lcd_config *cfg, const struct lcd_lio_state *cur,
			const struct lcd_addr_pred *addrs, struct lcd_plan *ret_plan,
			struct lcd_errors *conflicts, struct lcd_errors *pending,
			struct lcd_errors *stranded)
{
	struct lcd_plan plan = {0};
	struct plan_ctx c = {.cfg = cfg,
			     .cur = cur,
			     .plan = &plan,
			     .conflicts = conflicts,
			     .addrs = addrs,
			     .pending = pending,
			     .stranded = stranded};
	int r;

	c.ws = calloc(cfg->nr_sessions + 1, sizeof(*c.ws));
	c.bs_doomed = calloc(cur->nr_backstores + 1, sizeof(*c.bs_doomed));
	c.target_conflict = calloc(cfg->nr_targets + 1, sizeof(*c.target_conflict));
	if (!c.ws || !c.bs_doomed || !c.target_conflict) {
		r = -ENOMEM;
		goto out;
	}
	/* Ours and not claimed by a session below: no longer wanted. */
	for (size_t b = 0; b < cur->nr_backstores; b++)
		c.bs_doomed[b] = cur->backstores[b].ours;
	r = decide_sessions(&c);
	if (r < 0)
		goto out;
	remove_targets(&c);
	remove_backstores(&c);
	plan_files(&c);
	create_backstores(&c);
	create_targets(&c);
	r = c.oom ? -ENOMEM : 0;
out:
	for (size_t i = 0; c.ws && i < cfg->nr_sessions; i++) {
		free(c.ws[i].bs_name);
		free(c.ws[i].bs_path);
		free(c.ws[i].dev_config);
		free(c.ws[i].file_path);
		free(c.ws[i].content);
	}
	free(c.ws);
	free(c.bs_doomed);
	free(c.target_conflict);
	if (r < 0) {
		lcd_plan_clear(&plan);
		return r;
	}
	*ret_plan = plan;
	return 0;
}

void lcd_plan_clear(struct lcd_plan *plan)
{
	for (size_t i = 0; i < plan->nr; i++) {
		free(plan->ops[i].path);
		if (plan->ops[i].value) {
			explicit_bzero(plan->ops[i].value, strlen(plan->ops[i].value));
			free(plan->ops[i].value);
		}
	}
	free(plan->ops);
	plan->ops = NULL;
	plan->nr = 0;
}

void lcd_op_describe(const struct lcd_op *op, char *buf, size_t size)
{
	switch (op->kind) {
	case LCD_OP_MKDIR:
		(void)snprintf(buf, size, "mkdir %s", op->path);
		return;
	case LCD_OP_RMDIR:
		(void)snprintf(buf, size, "rmdir %s", op->path);
		return;
	case LCD_OP_WRITE:
		(void)snprintf(buf, size, "write %s = '%s'", op->path,
			       op->secret ? "***" : op->value);
		return;
	case LCD_OP_SYMLINK:
		(void)snprintf(buf, size, "symlink %s -> %s", op->path, op->value);
		return;
	case LCD_OP_UNLINK:
		(void)snprintf(buf, size, "unlink %s", op->path);
		return;
	case LCD_OP_FILE_WRITE:
		(void)snprintf(buf, size, "file-write %s (%zu bytes)", op->path, strlen(op->value));
		return;
	case LCD_OP_FILE_REMOVE:
		(void)snprintf(buf, size, "file-remove %s", op->path);
		return;
	case LCD_OP_THROTTLE:
		(void)snprintf(buf, size, "throttle %s %s MiB/s", op->path, op->value);
		return;
	}
	(void)snprintf(buf, size, "? %s", op->path);
}
