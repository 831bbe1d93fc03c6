/* SPDX-License-Identifier: MIT */
/*
 * The host's local IPv4 and IPv6 addresses, kept up to date from rtnetlink
 * (libnl-route-3), so that the planner creates a portal only when its
 * address can be bound (plan.h, struct lcd_addr_pred).
 *
 * Design: one non-blocking NETLINK_ROUTE socket subscribed to
 * RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR carries RTM_NEWADDR and
 * RTM_DELADDR; the set starts from a dump (rtnl_addr_alloc_cache() on a
 * second, short-lived socket) made after subscribing, so no change falls
 * between the dump and the events: an event older than the dump that is
 * read after it repeats a state the dump already shows, and each later one
 * is applied in order. The dump is made again ("resync") when the kernel
 * says events were lost (ENOBUFS: the socket's receive queue overran) and
 * after any failure in the middle of a dispatch.
 *
 * Why not libnl's nl_cache_mngr: it does the same dump-plus-events, but
 * reports neither an overrun nor how a change bears on one address, and
 * keeps full route objects we would walk at every lookup; what the planner
 * asks ("is this address bindable here?") needs only a small table of
 * (family, ifindex, prefix length, address, usable) entries.
 *
 * An entry is usable unless the kernel flags it IFA_F_TENTATIVE (IPv6
 * duplicate address detection still running: bind() fails with
 * EADDRNOTAVAIL, as it would for LIO) or IFA_F_DADFAILED. An address held
 * by two interfaces stays present until both let it go. The wildcards
 * 0.0.0.0 and :: are always present.
 *
 * Not thread-safe: one thread (the daemon's main loop) calls everything.
 */
#ifndef LCD_NETWATCH_H
#define LCD_NETWATCH_H

#include <stdbool.h>
#include <stdint.h>

struct lcd_netwatch;

/*
 * Subscribes and dumps the current addresses. 0 and *ret_nw (release with
 * lcd_netwatch_close()); -errno (-EPROTONOSUPPORT or -EAFNOSUPPORT without
 * netlink, -EPERM when a sandbox forbids it, -ENOMEM); *ret_nw untouched
 * on failure. Blocks briefly (one dump).
 */
int lcd_netwatch_open(struct lcd_netwatch **ret_nw);

/* Releases everything; accepts NULL. */
void lcd_netwatch_close(struct lcd_netwatch *nw);

/* The descriptor to poll for POLLIN; owned by nw (do not close it). */
int lcd_netwatch_fd(const struct lcd_netwatch *nw);

/*
 * Reads the pending events without blocking (at most a bounded batch:
 * the fd stays readable when more are left) and applies them, resyncing
 * after an overrun. 0 and *ret_changed = whether the answer of
 * lcd_netwatch_has() changed for some address; -errno on failure, with
 * *ret_changed untouched: the next call starts with a fresh dump, and the
 * set may have changed meanwhile, so a caller may treat a failure as a
 * change.
 */
int lcd_netwatch_dispatch(struct lcd_netwatch *nw, bool *ret_changed);

/*
 * Whether ip ("192.0.2.10", "2001:db8::1", or bracketed "[2001:db8::1]")
 * is a usable address of this host now; false when ip is not an address.
 * Never blocks.
 */
bool lcd_netwatch_has(const struct lcd_netwatch *nw, const char *ip);

/* lcd_netwatch_has() in the shape of struct lcd_addr_pred's callback
 * (plan.h): {.has = lcd_netwatch_has_cb, .ctx = nw}. */
bool lcd_netwatch_has_cb(const void *nw, const char *ip);

/* How many times events were lost (ENOBUFS) and the set dumped again. */
uint64_t lcd_netwatch_overruns(const struct lcd_netwatch *nw);

#endif
