/* SPDX-License-Identifier: MIT */
/*
 * The host's addresses from rtnetlink (netwatch.h).
 *
 * The table holds every address the kernel reported, tentative ones
 * included, keyed as the kernel keys them: (family, ifindex, prefix length,
 * local address). A RTM_NEWADDR replaces the entry of its key (a tentative
 * IPv6 address comes back without IFA_F_TENTATIVE once DAD succeeds), a
 * RTM_DELADDR removes it. "Changed" is judged per address: whether some
 * usable entry holds it, before against after.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/object.h>
#include <netlink/route/addr.h>
#include <netlink/socket.h>

#include "netwatch.h"

/* Receive buffer asked for the event socket (the kernel caps it at
 * net.core.rmem_max); an overrun is survived by a resync anyway. */
#define NW_RCVBUF_BYTES (256 * 1024)
/* Receives per dispatch, so that a flood of events cannot starve the main
 * loop: the fd stays readable and the next poll comes back. */
#define NW_MAX_RECEIVES 256
/* A dump the kernel says was interrupted by a change is made again. */
#define NW_DUMP_TRIES 5

struct nw_addr {
	int family; /* AF_INET or AF_INET6 */
	int ifindex;
	unsigned prefixlen;
	unsigned char addr[16]; /* 4 bytes for AF_INET, the rest zero */
	bool usable;		/* not tentative, DAD not failed */
};

struct nw_table {
	struct nw_addr *v;
	size_t nr, cap;
};

struct lcd_netwatch {
	struct nl_sock *sk; /* events; non-blocking */
	struct nl_cb *cb;   /* sk's callbacks (a reference) */
	struct nw_table tab;
	bool need_resync; /* a dispatch failed half-way: the table may be stale */
	uint64_t overruns;
	/* Set by the event callback during one dispatch. */
	bool changed;
	int cb_err; /* -errno */
};

/* libnl's errors (NLE_*) as -errno, at the edge. */
static int nle_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_INTR:
		return -EINTR;
	case NLE_BAD_SOCK:
		return -EBADF;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_PROTO_MISMATCH:
		return -EPROTONOSUPPORT;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_PERM:
		return -EPERM;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_DUMP_INTR:
		return -EINTR;
	case NLE_MSG_TRUNC:
	case NLE_MSG_TOOSHORT:
	case NLE_MSG_OVERFLOW:
		return -EMSGSIZE;
	default:
		return -EIO;
	}
}

/* ------------------------------------------------------------------ */
/* The table */

static bool table_has(const struct nw_table *t, int family, const unsigned char *addr)
{
	size_t len = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < t->nr; i++)
		if (t->v[i].usable && t->v[i].family == family &&
		    memcmp(t->v[i].addr, addr, len) == 0)
			return true;
	return false;
}

static bool same_key(const struct nw_addr *a, const struct nw_addr *b)
{
	return a->family == b->family && a->ifindex == b->ifindex && a->prefixlen == b->prefixlen &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* Adds or replaces e's key (add) or removes it (!add). 0 or -ENOMEM. */
static int table_apply(struct nw_table *t, const struct nw_addr *e, bool add)
{
	struct nw_addr *v;
	size_t i;

	for (i = 0; i < t->nr && !same_key(&t->v[i], e); i++)
		;
	if (!add) {
		if (i < t->nr)
			t->v[i] = t->v[--t->nr];
		return 0;
	}
	if (i < t->nr) {
		t->v[i] = *e;
		return 0;
	}
	if (t->nr == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;

		v = reallocarray(t->v, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->nr++] = *e;
	return 0;
}

static int cmp_usable(const void *a, const void *b)
{
	const struct nw_addr *x = a, *y = b;

	if (x->usable != y->usable)
		return x->usable ? -1 : 1;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

/*
 * Whether the usable addresses of a and b differ (as sets); sorts both
 * tables, which changes nothing else about them.
 */
static bool tables_differ(struct nw_table *a, struct nw_table *b)
{
	size_t i = 0, j = 0;

	if (a->nr)
		qsort(a->v, a->nr, sizeof(*a->v), cmp_usable);
	if (b->nr)
		qsort(b->v, b->nr, sizeof(*b->v), cmp_usable);
	/* Usable entries first, sorted: walk both, skipping repeats. */
	for (;;) {
		bool ea = i >= a->nr || !a->v[i].usable, eb = j >= b->nr || !b->v[j].usable;

		if (ea || eb)
			return ea != eb;
		if (a->v[i].family != b->v[j].family ||
		    memcmp(a->v[i].addr, b->v[j].addr, sizeof(a->v[i].addr)) != 0)
			return true;
		while (i + 1 < a->nr && a->v[i + 1].usable &&
		       cmp_usable(&a->v[i], &a->v[i + 1]) == 0)
			i++;
		while (j + 1 < b->nr && b->v[j + 1].usable &&
		       cmp_usable(&b->v[j], &b->v[j + 1]) == 0)
			j++;
		i++;
		j++;
	}
}

/* ------------------------------------------------------------------ */
/* From libnl's objects */

/* Fills e from an rtnl_addr; false for what we do not track. */
static bool entry_of(struct rtnl_addr *ra, struct nw_addr *e)
{
	struct nl_addr *local = rtnl_addr_get_local(ra);
	unsigned flags = rtnl_addr_get_flags(ra);
	int family = rtnl_addr_get_family(ra);
	size_t len = family == AF_INET ? 4 : 16;

	if ((family != AF_INET && family != AF_INET6) || !local ||
	    nl_addr_get_family(local) != family || nl_addr_get_len(local) != len)
		return false;
	memset(e, 0, sizeof(*e));
	e->family = family;
	e->ifindex = rtnl_addr_get_ifindex(ra);
	e->prefixlen = (unsigned)rtnl_addr_get_prefixlen(ra);
	memcpy(e->addr, nl_addr_get_binary_addr(local), len);
	e->usable = !(flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED));
	return true;
}

struct dump_ctx {
	struct nw_table *tab;
	int err;
};

static void dump_one(struct nl_object *obj, void *arg)
{
	struct dump_ctx *d = arg;
	struct nw_addr e;
	int r;

	if (d->err || !entry_of((struct rtnl_addr *)obj, &e))
		return;
	r = table_apply(d->tab, &e, true);
	if (r < 0)
		d->err = r;
}

/*
 * A fresh table from a dump, on a socket of its own (the event socket is
 * non-blocking and carries events); 0 or -errno, *ret_tab untouched on
 * failure.
 */
static int dump(struct nw_table *ret_tab)
{
	struct nw_table tab = {0};
	struct dump_ctx d = {.tab = &tab};
	struct nl_cache *cache = NULL;
	struct nl_sock *sk;
	int r;

	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		r = nle_errno(r);
		goto out_with_sock;
	}
	for (unsigned tries = 0;; tries++) {
		r = rtnl_addr_alloc_cache(sk, &cache);
		if (r != -NLE_DUMP_INTR || tries + 1 == NW_DUMP_TRIES)
			break;
	}
	if (r < 0) {
		r = nle_errno(r);
		goto out_with_connection;
	}
	nl_cache_foreach(cache, dump_one, &d);
	nl_cache_free(cache);
	r = d.err;
	if (r < 0) {
		free(tab.v);
		goto out_with_connection;
	}
	*ret_tab = tab;
out_with_connection:
	nl_close(sk);
out_with_sock:
	nl_socket_free(sk);
	return r;
}

/* Replaces the table by a fresh dump; *changed |= whether that changed it. */
static int resync(struct lcd_netwatch *nw, bool *changed)
{
	struct nw_table fresh;
	int r;

	r = dump(&fresh);
	if (r < 0)
		return r;
	if (tables_differ(&nw->tab, &fresh))
		*changed = true;
	free(nw->tab.v);
	nw->tab = fresh;
	nw->need_resync = false;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Events */

static void event_one(struct nl_object *obj, void *arg)
{
	struct lcd_netwatch *nw = arg;
	int type = nl_object_get_msgtype(obj);
	struct nw_addr e;
	bool before;
	int r;

	if (nw->cb_err || (type != RTM_NEWADDR && type != RTM_DELADDR) ||
	    !entry_of((struct rtnl_addr *)obj, &e))
		return;
	before = table_has(&nw->tab, e.family, e.addr);
	r = table_apply(&nw->tab, &e, type == RTM_NEWADDR);
	if (r < 0) {
		nw->cb_err = r;
		return;
	}
	if (table_has(&nw->tab, e.family, e.addr) != before)
		nw->changed = true;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct lcd_netwatch *nw = arg;
	int r;

	r = nl_msg_parse(msg, event_one, nw);
	/* Other messages of the groups (none today) are not ours to judge. */
	if (r < 0 && r != -NLE_MSGTYPE_NOSUPPORT && !nw->cb_err)
		nw->cb_err = nle_errno(r);
	return nw->cb_err ? NL_STOP : NL_OK;
}

/* ------------------------------------------------------------------ */

int lcd_netwatch_open(struct lcd_netwatch **ret_nw)
{
	struct lcd_netwatch *nw;
	int r;

	nw = calloc(1, sizeof(*nw));
	if (!nw)
		return -ENOMEM;
	nw->sk = nl_socket_alloc();
	if (!nw->sk) {
		r = -ENOMEM;
		goto out_with_nw;
	}
	/* Events carry sequence number 0: not answers to our requests. */
	nl_socket_disable_seq_check(nw->sk);
	r = nl_socket_modify_cb(nw->sk, NL_CB_VALID, NL_CB_CUSTOM, on_valid, nw);
	if (r < 0) {
		r = nle_errno(r);
		goto out_with_sock;
	}
	nw->cb = nl_socket_get_cb(nw->sk);
	r = nl_connect(nw->sk, NETLINK_ROUTE);
	if (r < 0) {
		r = nle_errno(r);
		goto out_with_cb;
	}
	r = nl_socket_set_buffer_size(nw->sk, NW_RCVBUF_BYTES, 0);
	if (r >= 0)
		r = nl_socket_set_nonblocking(nw->sk);
	/* Subscribed before the dump: no change falls between the two. */
	if (r >= 0)
		r = nl_socket_add_memberships(nw->sk, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, 0);
	if (r < 0) {
		r = nle_errno(r);
		goto out_with_connection;
	}
	r = dump(&nw->tab);
	if (r < 0)
		goto out_with_connection;
	*ret_nw = nw;
	return 0;

out_with_connection:
	nl_close(nw->sk);
out_with_cb:
	nl_cb_put(nw->cb);
out_with_sock:
	nl_socket_free(nw->sk);
out_with_nw:
	free(nw);
	return r;
}

void lcd_netwatch_close(struct lcd_netwatch *nw)
{
	if (!nw)
		return;
	nl_cb_put(nw->cb);
	nl_close(nw->sk);
	nl_socket_free(nw->sk);
	free(nw->tab.v);
	free(nw);
}

int lcd_netwatch_fd(const struct lcd_netwatch *nw)
{
	return nl_socket_get_fd(nw->sk);
}

int lcd_netwatch_dispatch(struct lcd_netwatch *nw, bool *ret_changed)
{
	bool changed = false;
	int r = 0;

	if (nw->need_resync) {
		r = resync(nw, &changed);
		if (r < 0)
			return r;
	}
	for (unsigned n = 0; n < NW_MAX_RECEIVES; n++) {
		nw->changed = false;
		nw->cb_err = 0;
		/* > 0: messages read; 0 or -NLE_AGAIN: nothing left (non-blocking). */
		r = nl_recvmsgs_report(nw->sk, nw->cb);
		changed |= nw->changed;
		if (nw->cb_err) {
			r = nw->cb_err;
			break;
		}
		if (r == -NLE_NOMEM) {
			/* ENOBUFS (libnl cannot tell it from its own ENOMEM): the
			 * kernel dropped events; only a dump tells what is there. */
			nw->overruns++;
			r = resync(nw, &changed);
			if (r < 0)
				break;
			continue;
		}
		if (r == 0 || r == -NLE_AGAIN) {
			r = 0;
			break;
		}
		if (r < 0) {
			r = nle_errno(r);
			break;
		}
		r = 0;
	}
	if (r < 0) {
		nw->need_resync = true;
		return r;
	}
	*ret_changed = changed;
	return 0;
}

bool lcd_netwatch_has(const struct lcd_netwatch *nw, const char *ip)
{
	unsigned char bin[16] = {0};
	char text[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(ip);

	if (len >= 2 && ip[0] == '[' && ip[len - 1] == ']') {
		if (len - 2 >= sizeof(text))
			return false;
		memcpy(text, ip + 1, len - 2);
		text[len - 2] = '\0';
		ip = text;
	}
	if (inet_pton(AF_INET, ip, bin) == 1) {
		if (memcmp(bin, "\0\0\0\0", 4) == 0)
			return true; /* 0.0.0.0: every address */
		return table_has(&nw->tab, AF_INET, bin);
	}
	if (inet_pton(AF_INET6, ip, bin) == 1) {
		if (memcmp(bin, &in6addr_any, sizeof(bin)) == 0)
			return true; /* :: */
		return table_has(&nw->tab, AF_INET6, bin);
	}
	return false;
}

bool lcd_netwatch_has_cb(const void *nw, const char *ip)
{
	return lcd_netwatch_has(nw, ip);
}

uint64_t lcd_netwatch_overruns(const struct lcd_netwatch *nw)
{
	return nw->overruns;
}
