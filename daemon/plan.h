/* SPDX-License-Identifier: MIT */
/*
 * The reconcile planner: what the configuration wants (config.h) against
 * what LIO holds (lio_state.h), as an ordered list of configfs operations
 * and session-file writes. The executor (cfs_exec.h) applies the list.
 *
 * Properties (tests/daemon/test-plan.c checks each against a fake configfs):
 *   - idempotent: planning against the result of applying a plan gives an
 *     empty plan;
 *   - minimal: what did not change is not touched (a changed hydration rate
 *     rewrites that session's file and nothing else);
 *   - only ours (lio_state.h): foreign backstores and targets are never
 *     changed; a name we want that something foreign holds is a conflict,
 *     reported, and that session or target is left out of the plan;
 *   - ordered for LIO: removals first, leaves before what they point at
 *     (ACL mapped-LUN links, mapped LUNs, ACLs, LUN links, LUNs, portals,
 *     TPGs, targets; a TPG is disabled before it is taken apart), then
 *     backstores no longer wanted, then session files (before a backstore
 *     is enabled, because enabling opens the device, which reads its file),
 *     then creations, roots before leaves, each TPG enabled last.
 *
 * When a backstore must be recreated (source, destination, metadata,
 * region size, LUN size or block size changed, or it was left half-built),
 * every LUN and mapped LUN pointing at it goes and comes back with it:
 * initiators see that LUN disappear and reappear. Other hydration settings only rewrite
 * the session file: they take effect at the device's next open (the
 * handler cannot be reconfigured while open), except the rate: a changed
 * rate of a kept backstore is also sent to the running device through its
 * status socket ("throttle MIB"), so it applies at once.
 *
 * Portals and the host's addresses (struct lcd_addr_pred, fed by
 * netwatch.h in the daemon): LIO binds a portal's socket when its np/
 * directory is made, and that fails while the address is not on this host.
 * Such a portal is not planned: it is reported as pending (one line each)
 * and everything else is planned as usual, its TPG included (enabled, it
 * serves through its other portals, if any); the reconcile after the
 * address appears creates it. A portal that exists while its address is
 * gone is left alone (LIO keeps its listening socket, which serves again
 * when the address comes back; removing it would only make the return
 * wait for a reconcile) and reported as stranded. The wildcards 0.0.0.0
 * and [::] are always present.
 */
#ifndef LCD_PLAN_H
#define LCD_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "errors.h"
#include "lio_state.h"

enum lcd_op_kind {
	LCD_OP_MKDIR,	    /* path */
	LCD_OP_RMDIR,	    /* path */
	LCD_OP_WRITE,	    /* value into the attribute at path */
	LCD_OP_SYMLINK,	    /* a link at path to value (both relative to the root) */
	LCD_OP_UNLINK,	    /* the link at path */
	LCD_OP_FILE_WRITE,  /* value into the file at path (absolute), mode 0600 */
	LCD_OP_FILE_REMOVE, /* the file at path (absolute) */
	/* "throttle value" to the running device's status socket at path; best
	 * effort: a device not open yet reads the rate from its file. */
	LCD_OP_THROTTLE,
};

struct lcd_op {
	enum lcd_op_kind kind;
	char *path;
	char *value;
	bool secret; /* value is a CHAP secret: never printed */
};

struct lcd_plan {
	struct lcd_op *ops;
	size_t nr;
};

/*
 * Whether an address is configured on this host and can be bound: ip as a
 * portal writes it, without brackets or port ("192.0.2.10",
 * "2001:db8::1"). Must not block. The planner answers for the wildcards
 * itself.
 */
struct lcd_addr_pred {
	bool (*has)(const void *ctx, const char *ip);
	const void *ctx;
};

/*
 * Plans cfg (loaded with the host pass: sizes probed, secrets resolved)
 * against cur. Returns 0 and fills *ret_plan (release with
 * lcd_plan_clear()) — conflicts, if any, are in conflicts and the plan
 * covers the rest; -ENOMEM. Never blocks.
 */
int lcd_plan_make(const struct lcd_config *cfg, const struct lcd_lio_state *cur,
		  struct lcd_plan *ret_plan, struct lcd_errors *conflicts);

/*
 * lcd_plan_make() with the host's addresses (see above; addrs NULL: every
 * address is present, which is what lcd_plan_make() does). Appends to
 * pending one line per portal left out because its address is not on this
 * host, "portal IP:PORT of IQN tpg T waits for address IP to appear on this
 * host", and to stranded one line per existing portal kept though its
 * address is gone. Neither is an error: the plan covers everything else.
 * Both lists may be NULL only when addrs is NULL. Never blocks.
 */
int lcd_plan_make_addrs(const struct lcd_config *cfg, const struct lcd_lio_state *cur,
			const struct lcd_addr_pred *addrs, struct lcd_plan *ret_plan,
			struct lcd_errors *conflicts, struct lcd_errors *pending,
			struct lcd_errors *stranded);

void lcd_plan_clear(struct lcd_plan *plan);

/* One line for logs and tests: "mkdir iscsi/IQN", "write X = 'v'" (secrets
 * shown as '***'), "file-write /path (N bytes)". */
void lcd_op_describe(const struct lcd_op *op, char *buf, size_t size);

#endif
