/* SPDX-License-Identifier: MIT */
/*
 * "iscsi" backend: a read-only source reached with libiscsi, in user space
 * (no kernel initiator session, no /dev/sdX on the host).
 *
 *     iscsi://[user[%password]@]host[:port]/target-iqn/lun[?options]
 *
 * The URL is libiscsi's (iscsi_parse_full_url: portal, target, LUN, CHAP,
 * header_digest=crc32c|none, target_user/target_password for mutual CHAP,
 * LIBISCSI_CHAP_* environment variables); lib/util/iscsi_url.c checks the
 * query and takes out our options: timeout= (how long a read may wait) and
 * secret_file= (CHAP credentials from a root-only file). Messages quote the
 * URL with its passwords replaced by "***".
 *
 * Read only by design: the only commands ever sent are INQUIRY, READ
 * CAPACITY(16) and READ(16) (after the login itself). The
 * write, flush and discard callbacks refuse with -EROFS, and read_only is set
 * so the checked entry points refuse before reaching them.
 *
 * Concurrency: a pool of connections, one per concurrent caller
 * -------------------------------------------------------------
 * pread() may be called from several threads at once (hydration workers and
 * user I/O). Each call takes a connection (an iSCSI session, struct
 * iscsi_conn) from the pool, creating one when all are busy and fewer than
 * POOL_MAX exist, else waiting for one; it then drives that connection
 * itself with libiscsi's async API and its own poll() loop: the request is cut
 * into chunks of CHUNK_BYTES (less when the LUN's Block Limits VPD page
 * reports a smaller maximum transfer length), up to CALL_QUEUE_DEPTH of them
 * in flight, read straight into the caller's buffer (READ(16) with an iovec,
 * no copy).
 * A libiscsi context is never used by two threads at once (libiscsi is not
 * thread-safe per context); handing it over through pool_lock orders it.
 *
 * Why not one connection and libiscsi's async API on an event-loop thread:
 * measured on this project's 2-core machine against tgtd over loopback
 * (256 MiB LUN in page cache, 256 KiB READ(16), three runs each, MiB/s):
 *
 *     1 connection, 2 in flight   843 837 883    2 connections, 1 each   753 559 669
 *     1 connection, 4 in flight   815 687 1018   4 connections, 1 each   832 590 585
 *     1 connection, 8 in flight   925 446 923    2 connections, 2 each   764 873 1101
 *
 * Equal within the noise: what counts is having >= 2 commands in flight
 * (1 in flight: 373-506 MiB/s), not how. (1 MiB commands ran at 80-108
 * MiB/s against tgtd, hence 256 KiB chunks.) So we take the design without
 * a cross-thread hand-off per request (no queue, no eventfd wake-ups, no
 * extra thread to stop), where a failed connection only disturbs the one call
 * using it, and reconnecting is plain sequential code in the caller's
 * thread. iscsi-perf, libiscsi's own benchmark, runs one context with N in
 * flight: bench/iscsi-source compares us with it.
 *
 * Faults: reconnect, retry, wait, never return bad data
 * ------------------------------------------------------
 * libiscsi's automatic reconnect is off (iscsi_set_noautoreconnect): it would
 * log in again behind our back and replay commands without letting us check
 * that the LUN is still the same. Instead, a call whose connection fails
 * (socket error, CANCELLED/ERROR/TIMEOUT status) destroys the context
 * (nothing more can land in the caller's buffer), reconnects with
 * exponential backoff (BACKOFF_MIN_MS doubling to BACKOFF_MAX_MS), and issues
 * again every chunk that had not completed with GOOD status; UNIT ATTENTION,
 * NOT READY, BUSY and TASK SET FULL are retried the same way on the same
 * connection. All of it is bounded by the call's deadline, now + timeout
 * (URI option, default 30 s): past it the call fails with -ETIMEDOUT, which
 * backend.h defines as "unreachable": hydration then waits for the target
 * and probes it, quarantining nothing (lib/hydrate.c). Other CHECK
 * CONDITIONs (medium error...) and a short transfer fail with -EIO at once:
 * the target answered; hydration retries and quarantines such regions.
 * Once logins have failed for a whole timeout, a call tries once and fails
 * at once instead of waiting again (see reconnect()), until a login works. A
 * read returns 0 only when every chunk came back GOOD and complete.
 *
 * Every login, the first one at open included, checks READ CAPACITY(16) and
 * the VPD page 0x83 logical-unit designator. After the first, size, block
 * size and designator must equal those found at open; if not, the target is
 * serving another LUN behind the same URL, and the backend turns "wrong
 * LUN" for good: every read fails with -ESTALE (and the stats say why).
 * The library does not log; counters and the last error are kept for
 * lc_backend_iscsi_get_stats().
 *
 * SIGPIPE: libiscsi writes to its socket with writev(), which raises SIGPIPE
 * when the target has gone. A library must not change the process's signal
 * dispositions, so each call blocks SIGPIPE in its own thread while it uses
 * libiscsi and consumes one it caused before restoring the mask.
 *
 * Lock order: pool_lock, then stats_lock; neither is held during I/O.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include <lunclone/backend.h>
#include <lunclone/err.h>

#include "util/clock.h"
#include "util/iscsi_url.h"

#define INITIATOR_NAME "iqn.2026-11.org.lunclone:source"
#define CHUNK_BYTES (256u * 1024)
#define CALL_QUEUE_DEPTH 4u
#define POOL_MAX 8u
#define BACKOFF_MIN_MS 50u
#define BACKOFF_MAX_MS 2000u
/* poll() slice: how late a deadline may be noticed. */
#define POLL_SLICE_MS 100u
/* Logout at close: the target may be gone; do not hang on it. */
#define LOGOUT_WAIT_MS 1000u
#define VPD_DEVICE_ID 0x83
#define VPD_BLOCK_LIMITS 0xb0
#define VPD_BLOCK_LIMITS_LEN 64
#define VPD_ALLOC_LEN 1024
#define WHY_LEN 160u

struct iscsi_conn {
	struct iscsi_conn *next; /* free list; Protected by pool_lock */
	/* Owned by the thread holding the connection; NULL: must connect. */
	struct iscsi_context *ctx;
	bool connect_done; /* set by connect_cb */
	int connect_status;
};

struct iscsi_backend {
	struct lc_backend be; /* first: close() frees the whole object */

	/* Set at open, immutable afterwards. */
	struct lc_iscsi_url url;
	struct lc_iscsi_secrets secrets; /* from secret_file; password "" when none */
	bool have_secrets;
	int lun;
	uint32_t chunk_bytes; /* READ(16) size: CHUNK_BYTES or the LUN's limit */
	uint64_t timeout_ns;

	/* Mutex protecting the pool: free list and count. */
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;		/* a connection was returned */
	struct iscsi_conn *free_conns;		/* Protected by pool_lock */
	unsigned nr_conns;			/* Protected by pool_lock */
	struct iscsi_conn *all_conns[POOL_MAX]; /* for close; Protected by pool_lock */

	_Atomic uint64_t nr_connects, nr_connect_failures, nr_retries, nr_timeouts;
	_Atomic bool wrong_lun; /* false -> true only */
	/* When logins began to fail without a success since, 0 when up. */
	_Atomic uint64_t down_since_ns;
	/* Mutex protecting last_error. */
	pthread_mutex_t stats_lock;
	char last_error[WHY_LEN]; /* Protected by stats_lock */
	bool last_error_final;	  /* set with wrong_lun; Protected by stats_lock */
};

static struct iscsi_backend *to_ib(struct lc_backend *be)
{
	return (struct iscsi_backend *)be;
}

static void record_error(struct iscsi_backend *ib, const char *why)
{
	pthread_mutex_lock(&ib->stats_lock);
	/* "wrong LUN" explains every later failure: keep it. */
	if (!ib->last_error_final)
		(void)snprintf(ib->last_error, sizeof(ib->last_error), "%s", why);
	pthread_mutex_unlock(&ib->stats_lock);
}

/* A read gave up: say so, keeping the failure that made it wait (the
 * reason an admin needs: "connect: Connection refused"...). */
static void record_timeout(struct iscsi_backend *ib)
{
	static const char prefix[] = "read gave up after the timeout";
	char cause[WHY_LEN];
	size_t len;
	int n;

	pthread_mutex_lock(&ib->stats_lock);
	if (!ib->last_error_final && strncmp(ib->last_error, prefix, sizeof(prefix) - 1) != 0) {
		memcpy(cause, ib->last_error, sizeof(cause));
		n = snprintf(ib->last_error, sizeof(ib->last_error), "%s (%u s)%s", prefix,
			     ib->url.timeout_s, cause[0] ? ": " : "");
		if (n > 0 && (size_t)n < sizeof(ib->last_error)) {
			/* As much of the cause as fits. */
			len = strnlen(cause, sizeof(ib->last_error) - (size_t)n - 1);
			memcpy(ib->last_error + n, cause, len);
			ib->last_error[(size_t)n + len] = '\0';
		}
	}
	pthread_mutex_unlock(&ib->stats_lock);
}

/* The LUN changed behind the URL: from now on every read fails. */
static void set_wrong_lun(struct iscsi_backend *ib, const char *why)
{
	pthread_mutex_lock(&ib->stats_lock);
	if (!ib->last_error_final)
		(void)snprintf(ib->last_error, sizeof(ib->last_error), "%s", why);
	ib->last_error_final = true;
	pthread_mutex_unlock(&ib->stats_lock);
	atomic_store(&ib->wrong_lun, true);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* SIGPIPE blocked in this thread while it talks to libiscsi; see top. */
struct sigpipe_guard {
	sigset_t old;
	bool was_pending;
};

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t pipe_set, pending;

	(void)sigemptyset(&pipe_set);
	(void)sigaddset(&pipe_set, SIGPIPE);
	(void)sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE) == 1;
	(void)pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old);
}

static void sigpipe_restore(struct sigpipe_guard *g)
{
	static const struct timespec zero = {0, 0};
	sigset_t pipe_set, pending;

	(void)sigemptyset(&pipe_set);
	(void)sigaddset(&pipe_set, SIGPIPE);
	(void)sigpending(&pending);
	/* Ours only if it was not pending before: someone else's stays. */
	if (!g->was_pending && sigismember(&pending, SIGPIPE) == 1)
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	(void)pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/*
 * Services ctx once: waits for its socket at most until deadline_ns and one
 * POLL_SLICE_MS. Returns 0, -ETIMEDOUT past the deadline, or -EPIPE when the
 * connection failed (why says libiscsi's reason).
 */
static int service_once(struct iscsi_context *ctx, uint64_t deadline_ns, char *why)
{
	uint64_t now = lc_now_ns();
	struct pollfd pfd;
	int n, ms;

	if (now >= deadline_ns)
		return -ETIMEDOUT;
	ms = (int)((deadline_ns - now) / LC_NSEC_PER_MSEC) + 1;
	if (ms > (int)POLL_SLICE_MS)
		ms = POLL_SLICE_MS;
	pfd.fd = iscsi_get_fd(ctx);
	pfd.events = (short)iscsi_which_events(ctx);
	pfd.revents = 0;
	if (pfd.fd < 0) {
		(void)snprintf(why, WHY_LEN, "not connected: %s", iscsi_get_error(ctx));
		return -EPIPE;
	}
	if (pfd.events == 0) {
		/* libiscsi asks for a pause (see iscsi_which_events()). */
		sleep_ms((unsigned)ms);
		return 0;
	}
	n = poll(&pfd, 1, ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		(void)snprintf(why, WHY_LEN, "poll: %s", strerror(errno));
		return -EPIPE;
	}
	if (iscsi_service(ctx, n > 0 ? pfd.revents : 0) < 0) {
		/* With automatic reconnection off, libiscsi replaces the socket's
		 * error with "Can not reconnect right now": say what poll saw. */
		if (n > 0 && (pfd.revents & POLLHUP))
			(void)snprintf(why, WHY_LEN, "%s",
				       iscsi_is_logged_in(ctx)
					   ? "connection lost: closed by the target"
					   : "cannot connect: refused or closed by the target");
		else if (n > 0 && (pfd.revents & POLLERR))
			(void)snprintf(why, WHY_LEN, "connection lost: socket error");
		else
			(void)snprintf(why, WHY_LEN, "connection lost: %s", iscsi_get_error(ctx));
		return -EPIPE;
	}
	return 0;
}

/* A command of the connect sequence, waited for on the caller's stack. */
struct cmd_wait {
	bool done;
	int status;
};

static void cmd_cb(struct iscsi_context *ctx, int status, void *command_data, void *private_data)
{
	struct cmd_wait *w = private_data;

	(void)ctx;
	(void)command_data; /* the task: its creator frees it */
	w->done = true;
	w->status = status;
}

static void connect_cb(struct iscsi_context *ctx, int status, void *command_data,
		       void *private_data)
{
	struct iscsi_conn *c = private_data;

	(void)ctx;
	(void)command_data;
	/* libiscsi may call this a second time when the session ends later;
	 * only the first result (the login's) is looked at. */
	if (!c->connect_done) {
		c->connect_done = true;
		c->connect_status = status;
	}
}

static int wait_done(struct iscsi_context *ctx, const bool *done, uint64_t deadline_ns, char *why)
{
	int r = 0;

	while (!*done && r == 0)
		r = service_once(ctx, deadline_ns, why);
	if (r == -ETIMEDOUT)
		(void)snprintf(why, WHY_LEN, "no answer from the target in time");
	return r;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Preference among logical-unit designator types; 0 = not an identity. */
static int designator_rank(unsigned type)
{
	switch (type) {
	case SCSI_DESIGNATOR_TYPE_NAA:
		return 4;
	case SCSI_DESIGNATOR_TYPE_EUI_64:
		return 3;
	case SCSI_DESIGNATOR_TYPE_SCSI_NAME_STRING:
		return 2;
	case SCSI_DESIGNATOR_TYPE_T10_VENDORT_ID:
		return 1;
	default:
		return 0;
	}
}

/*
 * The identity in a VPD 0x83 page (raw, len bytes): the best logical-unit
 * designation descriptor, its header normalised (protocol identifier and
 * PIV cleared: they describe the port, not the unit). *ret_len 0 when none.
 * -EINVAL when the page is not for a direct-access block device.
 */
static int pick_identity(const uint8_t *page, size_t len, uint8_t *ret_ident, uint16_t *ret_len,
			 char *why)
{
	size_t end, pos, best = 0;
	int best_rank = 0;

	if (len < 4) {
		(void)snprintf(why, WHY_LEN, "VPD page 0x83 too short (%zu bytes)", len);
		return -EIO;
	}
	if ((page[0] & 0x1f) != SCSI_INQUIRY_PERIPHERAL_DEVICE_TYPE_DIRECT_ACCESS) {
		(void)snprintf(why, WHY_LEN,
			       "not a disk (peripheral device type 0x%02x; LUN 0 of many targets "
			       "is the controller)",
			       page[0] & 0x1f);
		return -EINVAL;
	}
	end = 4 + ((size_t)page[2] << 8 | page[3]);
	if (end > len)
		end = len; /* truncated by the allocation length: use what came */
	for (pos = 4; pos + 4 <= end; pos += 4 + page[pos + 3]) {
		unsigned assoc = (page[pos + 1] >> 4) & 3, type = page[pos + 1] & 0xf;
		size_t dlen = page[pos + 3];
		int rank = designator_rank(type);

		if (pos + 4 + dlen > end || assoc != SCSI_ASSOCIATION_LOGICAL_UNIT)
			continue;
		if (4 + dlen > LC_BACKEND_IDENT_MAX)
			continue;
		if (rank > best_rank) {
			best_rank = rank;
			best = pos;
		}
	}
	*ret_len = 0;
	if (best_rank == 0)
		return 0;
	memcpy(ret_ident, page + best, 4 + (size_t)page[best + 3]);
	ret_ident[0] &= 0x0f; /* code set */
	ret_ident[1] &= 0x3f; /* association and designator type */
	*ret_len = (uint16_t)(4 + page[best + 3]);
	return 0;
}

/* Runs a command of the connect sequence; the caller frees *ret_task. */
static int run_cmd(struct iscsi_context *ctx, struct scsi_task *task, struct cmd_wait *w,
		   uint64_t deadline_ns, const char *what, char *why)
{
	int r;

	if (!task) {
		(void)snprintf(why, WHY_LEN, "%s: %s", what, iscsi_get_error(ctx));
		return -EPIPE;
	}
	r = wait_done(ctx, &w->done, deadline_ns, why);
	if (r < 0)
		return r;
	if (w->status != SCSI_STATUS_GOOD) {
		if (w->status == SCSI_STATUS_CHECK_CONDITION)
			(void)snprintf(why, WHY_LEN, "%s: sense key 0x%x asc/ascq 0x%04x", what,
				       task->sense.key, task->sense.ascq);
		else
			(void)snprintf(why, WHY_LEN, "%s failed: %s", what, iscsi_get_error(ctx));
		return w->status == SCSI_STATUS_CHECK_CONDITION &&
			       task->sense.key == SCSI_SENSE_UNIT_ATTENTION
			   ? -EAGAIN
			   : -EIO;
	}
	return 0;
}

/* What a login found out about the LUN. */
struct lun_facts {
	uint64_t size_bytes;
	uint32_t block_size;
	uint8_t ident[LC_BACKEND_IDENT_MAX];
	uint16_t ident_len;
	uint32_t max_xfer_bytes; /* Block Limits' maximum transfer length; 0: none */
};

/*
 * The maximum transfer length of the Block Limits VPD page (SBC-3 6.5.3),
 * in bytes, into f. A target without the page (CHECK CONDITION) has no
 * limit we know of: not an error.
 */
static int query_max_transfer(struct iscsi_backend *ib, struct iscsi_context *ctx,
			      uint64_t deadline_ns, struct lun_facts *f, char *why)
{
	struct scsi_task *task;
	struct cmd_wait w = {0};
	uint64_t bytes;
	int r;

	f->max_xfer_bytes = 0;
	task =
	    iscsi_inquiry_task(ctx, ib->lun, 1, VPD_BLOCK_LIMITS, VPD_BLOCK_LIMITS_LEN, cmd_cb, &w);
	r = run_cmd(ctx, task, &w, deadline_ns, "INQUIRY VPD 0xb0", why);
	if (r == 0 && task->datain.size >= 12 && task->datain.data[1] == VPD_BLOCK_LIMITS) {
		bytes = (uint64_t)be32(task->datain.data + 8) * f->block_size;
		f->max_xfer_bytes = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
	}
	if (task)
		scsi_free_scsi_task(task);
	return r == -EIO || r == -EAGAIN ? 0 : r;
}

static int query_lun(struct iscsi_backend *ib, struct iscsi_context *ctx, uint64_t deadline_ns,
		     struct lun_facts *f, char *why)
{
	struct scsi_task *task;
	struct cmd_wait w;
	int r = -EAGAIN;

	/* A target that restarted reports UNIT ATTENTION once or twice. */
	for (int attempt = 0; attempt < 4 && r == -EAGAIN; attempt++) {
		w = (struct cmd_wait){0};
		task = iscsi_readcapacity16_task(ctx, ib->lun, cmd_cb, &w);
		r = run_cmd(ctx, task, &w, deadline_ns, "READ CAPACITY(16)", why);
		if (r == 0) {
			if (task->datain.size < 12) {
				(void)snprintf(why, WHY_LEN, "READ CAPACITY(16): %d bytes of data",
					       task->datain.size);
				r = -EIO;
			} else {
				f->block_size = be32(task->datain.data + 8);
				f->size_bytes = (be64(task->datain.data) + 1) * f->block_size;
			}
		}
		if (task)
			scsi_free_scsi_task(task);
	}
	if (r < 0)
		return r == -EAGAIN ? -EIO : r;
	if (f->block_size < LC_SECTOR_SIZE || (f->block_size & (f->block_size - 1)) ||
	    f->block_size > CHUNK_BYTES) {
		(void)snprintf(why, WHY_LEN, "unsupported logical block size %u", f->block_size);
		return -EINVAL;
	}

	w = (struct cmd_wait){0};
	task = iscsi_inquiry_task(ctx, ib->lun, 1, VPD_DEVICE_ID, VPD_ALLOC_LEN, cmd_cb, &w);
	r = run_cmd(ctx, task, &w, deadline_ns, "INQUIRY VPD 0x83", why);
	if (r == 0)
		r = pick_identity(task->datain.data, (size_t)task->datain.size, f->ident,
				  &f->ident_len, why);
	if (task)
		scsi_free_scsi_task(task);
	if (r < 0)
		return r == -EAGAIN ? -EIO : r;
	return query_max_transfer(ib, ctx, deadline_ns, f, why);
}

static void drop_ctx(struct iscsi_conn *c)
{
	if (c->ctx)
		(void)iscsi_destroy_context(c->ctx);
	c->ctx = NULL;
}

/*
 * One login on c: context, connect, login, then the LUN's facts. With
 * check, the facts must equal the backend's (-ESTALE otherwise); without,
 * they are returned in *f. On failure c has no context.
 */
static int conn_login(struct iscsi_backend *ib, struct iscsi_conn *c, uint64_t deadline_ns,
		      bool check, struct lun_facts *f, char *why)
{
	struct iscsi_url *u;
	char portal[MAX_STRING_SIZE + 1];
	int r;

	assert(!c->ctx);
	c->ctx = iscsi_create_context(INITIATOR_NAME);
	if (!c->ctx) {
		(void)snprintf(why, WHY_LEN, "cannot create an iSCSI context");
		return -ENOMEM;
	}
	/* Applies target name, CHAP and header digest to the context. */
	u = iscsi_parse_full_url(c->ctx, ib->url.libiscsi_url);
	if (!u) {
		(void)snprintf(why, WHY_LEN, "%s", iscsi_get_error(c->ctx));
		r = -EINVAL;
		goto out_drop;
	}
	(void)snprintf(portal, sizeof(portal), "%s", u->portal);
	/* Set by the login at open, before the backend is published; later
	 * logins parse the same URL and only read it. */
	if (!check)
		ib->lun = u->lun;
	iscsi_destroy_url(u);
	if (ib->have_secrets) {
		const char *user = ib->secrets.user[0] ? ib->secrets.user : ib->url.url_user;

		if (!user) {
			(void)snprintf(why, WHY_LEN, "secret_file gives no user and the URI none");
			r = -EINVAL;
			goto out_drop;
		}
		(void)iscsi_set_initiator_username_pwd(c->ctx, user, ib->secrets.password);
		if (ib->secrets.target_user[0])
			(void)iscsi_set_target_username_pwd(c->ctx, ib->secrets.target_user,
							    ib->secrets.target_password);
	}
	(void)iscsi_set_session_type(c->ctx, ISCSI_SESSION_NORMAL);
	(void)iscsi_set_noautoreconnect(c->ctx, 1);

	/*
	 * TCP connect, then login, each waited for here. Not
	 * iscsi_full_connect_async(): it keeps a state of its own that leaks
	 * when the context is destroyed before its last step (a target that
	 * goes away or restarts mid-login: LeakSanitizer saw it), and the TEST
	 * UNIT READY it adds is what query_lun() does anyway, with its UNIT
	 * ATTENTION retries.
	 */
	c->connect_done = false;
	if (iscsi_connect_async(c->ctx, portal, connect_cb, c) != 0) {
		(void)snprintf(why, WHY_LEN, "connect: %s", iscsi_get_error(c->ctx));
		r = -EIO;
		goto out_drop;
	}
	r = wait_done(c->ctx, &c->connect_done, deadline_ns, why);
	if (r == 0 && c->connect_status != 0) {
		(void)snprintf(why, WHY_LEN, "connect failed: %s", iscsi_get_error(c->ctx));
		r = -EIO;
	}
	if (r < 0)
		goto out_drop;
	c->connect_done = false;
	if (iscsi_login_async(c->ctx, connect_cb, c) != 0) {
		(void)snprintf(why, WHY_LEN, "login: %s", iscsi_get_error(c->ctx));
		r = -EIO;
		goto out_drop;
	}
	r = wait_done(c->ctx, &c->connect_done, deadline_ns, why);
	if (r == 0 && c->connect_status != SCSI_STATUS_GOOD) {
		(void)snprintf(why, WHY_LEN, "login failed: %s", iscsi_get_error(c->ctx));
		r = -EIO;
	}
	if (r < 0)
		goto out_drop;

	if (!check) {
		r = query_lun(ib, c->ctx, deadline_ns, f, why);
		if (r < 0)
			goto out_drop;
		return 0;
	}
	r = query_lun(ib, c->ctx, deadline_ns, f, why);
	if (r < 0)
		goto out_drop;
	if (f->size_bytes != ib->be.size_bytes || f->block_size != ib->be.logical_block_size) {
		(void)snprintf(why, WHY_LEN,
			       "wrong LUN: size %llu bytes, block %u, was %llu bytes, block %u "
			       "at open",
			       (unsigned long long)f->size_bytes, f->block_size,
			       (unsigned long long)ib->be.size_bytes, ib->be.logical_block_size);
		r = -ESTALE;
		goto out_drop;
	}
	if (f->ident_len != ib->be.ident_len || memcmp(f->ident, ib->be.ident, f->ident_len) != 0) {
		(void)snprintf(why, WHY_LEN,
			       "wrong LUN: its VPD 0x83 identifier changed since open");
		r = -ESTALE;
		goto out_drop;
	}
	return 0;

out_drop:
	drop_ctx(c);
	return r;
}

/*
 * Logs c in again, with backoff, until the deadline. Once the target has
 * been unreachable for a whole timeout (every login failing since
 * down_since_ns), a call makes one attempt only and fails at once: the
 * target is known to be away, so hydration's probes (which have their own
 * backoff, lib/hydrate.c) and each user read need not wait a full timeout
 * again. The first login that succeeds ends that.
 */
static int reconnect(struct iscsi_backend *ib, struct iscsi_conn *c, uint64_t deadline_ns,
		     unsigned *backoff_ms)
{
	uint64_t down = atomic_load(&ib->down_since_ns);
	bool one_shot = down != 0 && lc_now_ns() - down >= ib->timeout_ns;
	struct lun_facts f;
	char why[WHY_LEN];
	int r;

	for (;;) {
		if (atomic_load(&ib->wrong_lun))
			return -ESTALE;
		r = conn_login(ib, c, deadline_ns, true, &f, why);
		if (r == 0) {
			atomic_fetch_add(&ib->nr_connects, 1);
			atomic_store(&ib->down_since_ns, 0);
			return 0;
		}
		atomic_fetch_add(&ib->nr_connect_failures, 1);
		/* Only the first failure since the last success sets it. */
		down = 0;
		(void)atomic_compare_exchange_strong(&ib->down_since_ns, &down, lc_now_ns());
		if (r == -ESTALE) {
			set_wrong_lun(ib, why);
			return r;
		}
		record_error(ib, why);
		if (one_shot || r == -ETIMEDOUT ||
		    lc_now_ns() + *backoff_ms * LC_NSEC_PER_MSEC >= deadline_ns)
			return -ETIMEDOUT;
		sleep_ms(*backoff_ms);
		*backoff_ms = *backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *backoff_ms * 2;
	}
}

/* One chunk being read. */
struct read_slot {
	struct scsi_task *task; /* NULL: slot free; owned by us, freed by harvest/drop */
	struct scsi_iovec iov;
	uint64_t chunk;
	bool finished; /* set by read_cb */
	int status;
};

struct read_op {
	uint32_t chunk_bytes;
	uint8_t *buf;
	uint64_t off;
	size_t len;
	uint32_t block_size;
	uint64_t nr_chunks, next_chunk, nr_done;
	uint64_t requeued[CALL_QUEUE_DEPTH]; /* chunks to issue again, first */
	unsigned nr_requeued;
	struct read_slot slots[CALL_QUEUE_DEPTH];
};

static void read_cb(struct iscsi_context *ctx, int status, void *command_data, void *private_data)
{
	struct read_slot *s = private_data;

	(void)ctx;
	(void)command_data; /* == s->task, or NULL when cancelled */
	s->finished = true;
	s->status = status;
}

static void requeue(struct iscsi_backend *ib, struct read_op *op, struct read_slot *s)
{
	assert(op->nr_requeued < CALL_QUEUE_DEPTH);
	op->requeued[op->nr_requeued++] = s->chunk;
	atomic_fetch_add(&ib->nr_retries, 1);
}

/* Ends the connection under op: nothing more lands in op->buf; chunks in
 * flight go back to the queue. */
static void drop_op(struct iscsi_backend *ib, struct iscsi_conn *c, struct read_op *op)
{
	drop_ctx(c);
	for (unsigned i = 0; i < CALL_QUEUE_DEPTH; i++) {
		struct read_slot *s = &op->slots[i];

		if (!s->task)
			continue;
		scsi_free_scsi_task(s->task);
		s->task = NULL;
		requeue(ib, op, s);
	}
}

static int issue(struct iscsi_backend *ib, struct iscsi_conn *c, struct read_op *op,
		 struct read_slot *s, uint64_t chunk, char *why)
{
	uint64_t start = chunk * op->chunk_bytes;
	uint32_t len =
	    (uint32_t)(op->len - start < op->chunk_bytes ? op->len - start : op->chunk_bytes);

	s->chunk = chunk;
	s->finished = false;
	s->iov.iov_base = op->buf + start;
	s->iov.iov_len = len;
	s->task = iscsi_read16_iov_task(c->ctx, ib->lun, (op->off + start) / op->block_size, len,
					(int)op->block_size, 0, 0, 0, 0, 0, read_cb, s, &s->iov, 1);
	if (!s->task) {
		(void)snprintf(why, WHY_LEN, "READ(16): %s", iscsi_get_error(c->ctx));
		return -EPIPE;
	}
	return 0;
}

/*
 * Looks at a finished chunk: 0 done, -EAGAIN issue it again, -EPIPE the
 * connection failed (chunk back in the queue), -EIO final.
 */
static int harvest(struct iscsi_backend *ib, struct read_op *op, struct read_slot *s, char *why)
{
	struct scsi_task *t = s->task;
	int r = 0;

	switch (s->status) {
	case SCSI_STATUS_GOOD:
		if (t->residual_status == SCSI_RESIDUAL_UNDERFLOW && t->residual > 0) {
			(void)snprintf(why, WHY_LEN, "READ(16) at byte %llu: %zu bytes short",
				       (unsigned long long)(op->off + s->chunk * op->chunk_bytes),
				       t->residual);
			r = -EIO;
		} else {
			op->nr_done++;
		}
		break;
	case SCSI_STATUS_CHECK_CONDITION:
		if (t->sense.key == SCSI_SENSE_UNIT_ATTENTION ||
		    t->sense.key == SCSI_SENSE_NOT_READY) {
			r = -EAGAIN;
			break;
		}
		(void)snprintf(why, WHY_LEN,
			       "READ(16) at byte %llu: sense key 0x%x asc/ascq 0x%04x",
			       (unsigned long long)(op->off + s->chunk * op->chunk_bytes),
			       t->sense.key, t->sense.ascq);
		r = -EIO;
		break;
	case SCSI_STATUS_BUSY:
	case SCSI_STATUS_TASK_SET_FULL:
		r = -EAGAIN;
		break;
	default: /* CANCELLED, ERROR, TIMEOUT, ...: the connection */
		(void)snprintf(why, WHY_LEN, "READ(16): status 0x%x", (unsigned)s->status);
		r = -EPIPE;
		break;
	}
	scsi_free_scsi_task(t);
	s->task = NULL;
	if (r == -EAGAIN || r == -EPIPE)
		requeue(ib, op, s);
	return r;
}

/* Reads op's whole range on connection c, reconnecting as needed. */
static int read_on_conn(struct iscsi_backend *ib, struct iscsi_conn *c, struct read_op *op,
			uint64_t deadline_ns)
{
	unsigned backoff_ms = BACKOFF_MIN_MS;
	char why[WHY_LEN];
	int r;

	while (op->nr_done < op->nr_chunks) {
		bool pause = false;

		if (!c->ctx) {
			r = reconnect(ib, c, deadline_ns, &backoff_ms);
			if (r < 0)
				goto out_fail;
		}
		for (unsigned i = 0; i < CALL_QUEUE_DEPTH; i++) {
			struct read_slot *s = &op->slots[i];
			uint64_t chunk;

			if (s->task)
				continue;
			if (op->nr_requeued)
				chunk = op->requeued[--op->nr_requeued];
			else if (op->next_chunk < op->nr_chunks)
				chunk = op->next_chunk++;
			else
				break;
			r = issue(ib, c, op, s, chunk, why);
			if (r < 0) {
				op->requeued[op->nr_requeued++] = chunk;
				goto conn_failed;
			}
		}
		r = service_once(c->ctx, deadline_ns, why);
		if (r == -ETIMEDOUT)
			goto out_fail;
		if (r < 0)
			goto conn_failed;
		for (unsigned i = 0; i < CALL_QUEUE_DEPTH; i++) {
			struct read_slot *s = &op->slots[i];

			if (!s->task || !s->finished)
				continue;
			r = harvest(ib, op, s, why);
			if (r == -EIO) {
				record_error(ib, why);
				drop_op(ib, c, op);
				return r;
			}
			if (r == -EPIPE)
				goto conn_failed;
			if (r == -EAGAIN)
				pause = true;
		}
		if (pause) {
			if (lc_now_ns() + backoff_ms * LC_NSEC_PER_MSEC >= deadline_ns) {
				r = -ETIMEDOUT;
				goto out_fail;
			}
			sleep_ms(backoff_ms);
		}
		continue;

	conn_failed:
		record_error(ib, why);
		drop_op(ib, c, op);
	}
	return 0;

out_fail:
	drop_op(ib, c, op);
	if (r == -ETIMEDOUT) {
		atomic_fetch_add(&ib->nr_timeouts, 1);
		record_timeout(ib);
	}
	return r;
}

static struct iscsi_conn *pool_get(struct iscsi_backend *ib)
{
	struct iscsi_conn *c = NULL;

	pthread_mutex_lock(&ib->pool_lock);
	while (!ib->free_conns && ib->nr_conns >= POOL_MAX)
		pthread_cond_wait(&ib->pool_cond, &ib->pool_lock);
	if (ib->free_conns) {
		c = ib->free_conns;
		ib->free_conns = c->next;
	} else {
		c = calloc(1, sizeof(*c));
		if (c)
			ib->all_conns[ib->nr_conns++] = c;
	}
	pthread_mutex_unlock(&ib->pool_lock);
	return c;
}

static void pool_put(struct iscsi_backend *ib, struct iscsi_conn *c)
{
	pthread_mutex_lock(&ib->pool_lock);
	c->next = ib->free_conns;
	ib->free_conns = c;
	pthread_cond_signal(&ib->pool_cond);
	pthread_mutex_unlock(&ib->pool_lock);
}

static int iscsi_read_aligned(struct iscsi_backend *ib, void *buf, size_t len, uint64_t off)
{
	struct read_op op = {
	    .buf = buf,
	    .off = off,
	    .len = len,
	    .block_size = ib->be.logical_block_size,
	    .chunk_bytes = ib->chunk_bytes,
	    .nr_chunks = (len + ib->chunk_bytes - 1) / ib->chunk_bytes,
	};
	uint64_t deadline_ns = lc_now_ns() + ib->timeout_ns;
	struct sigpipe_guard g;
	struct iscsi_conn *c;
	int r;

	c = pool_get(ib);
	if (!c)
		return -ENOMEM;
	sigpipe_block(&g);
	r = read_on_conn(ib, c, &op, deadline_ns);
	sigpipe_restore(&g);
	pool_put(ib, c);
	return r;
}

static int iscsi_pread(struct lc_backend *be, void *buf, size_t len, uint64_t offset_bytes)
{
	struct iscsi_backend *ib = to_ib(be);
	uint32_t bs = be->logical_block_size;
	uint64_t start, end;
	uint8_t *bounce;
	int r;

	if (atomic_load(&ib->wrong_lun))
		return -ESTALE;
	if (offset_bytes % bs == 0 && len % bs == 0)
		return iscsi_read_aligned(ib, buf, len, offset_bytes);

	/* SCSI reads whole blocks: read the blocks around the range. */
	start = offset_bytes / bs * bs;
	end = (offset_bytes + len + bs - 1) / bs * bs;
	bounce = malloc(end - start);
	if (!bounce)
		return -ENOMEM;
	r = iscsi_read_aligned(ib, bounce, end - start, start);
	if (r == 0)
		memcpy(buf, bounce + (offset_bytes - start), len);
	free(bounce);
	return r;
}

static int iscsi_pwrite(struct lc_backend *be, const void *buf, size_t len, uint64_t offset_bytes)
{
	(void)be;
	(void)buf;
	(void)len;
	(void)offset_bytes;
	return -EROFS; /* a source is never written: by design, not by mode */
}

static int iscsi_flush(struct lc_backend *be)
{
	(void)be;
	return -EROFS;
}

static int iscsi_discard(struct lc_backend *be, uint64_t offset_bytes, uint64_t len_bytes)
{
	(void)be;
	(void)offset_bytes;
	(void)len_bytes;
	return -EROFS;
}

static void logout_conn(struct iscsi_conn *c)
{
	struct sigpipe_guard g;
	struct cmd_wait w = {0};
	char why[WHY_LEN];

	if (!c->ctx)
		return;
	sigpipe_block(&g);
	/* Polite, bounded: a target that is gone does not answer. */
	if (iscsi_logout_async(c->ctx, cmd_cb, &w) == 0)
		(void)wait_done(c->ctx, &w.done, lc_now_ns() + LOGOUT_WAIT_MS * LC_NSEC_PER_MSEC,
				why);
	drop_ctx(c);
	sigpipe_restore(&g);
}

static void iscsi_close(struct lc_backend *be)
{
	struct iscsi_backend *ib = to_ib(be);

	if (!ib)
		return;
	/* Every caller has returned (close races with nothing): all are free. */
	for (unsigned i = 0; i < ib->nr_conns; i++) {
		logout_conn(ib->all_conns[i]);
		free(ib->all_conns[i]);
	}
	pthread_cond_destroy(&ib->pool_cond);
	pthread_mutex_destroy(&ib->pool_lock);
	pthread_mutex_destroy(&ib->stats_lock);
	lc_iscsi_secrets_wipe(&ib->secrets);
	lc_iscsi_url_free(&ib->url);
	free(ib->be.uri);
	free(ib);
}

static const struct lc_backend_ops iscsi_ops = {
    .name = "iscsi",
    .pread = iscsi_pread,
    .pwrite = iscsi_pwrite,
    .flush = iscsi_flush,
    .discard = iscsi_discard,
    .close = iscsi_close,
};

int lc_backend_iscsi_get_stats(struct lc_backend *be, struct lc_backend_iscsi_stats *ret_stats)
{
	struct iscsi_backend *ib;

	if (!be || be->ops != &iscsi_ops)
		return -EINVAL;
	ib = to_ib(be);
	ret_stats->nr_connects = atomic_load(&ib->nr_connects);
	ret_stats->nr_connect_failures = atomic_load(&ib->nr_connect_failures);
	ret_stats->nr_retries = atomic_load(&ib->nr_retries);
	ret_stats->nr_timeouts = atomic_load(&ib->nr_timeouts);
	ret_stats->wrong_lun = atomic_load(&ib->wrong_lun);
	pthread_mutex_lock(&ib->stats_lock);
	(void)snprintf(ret_stats->last_error, sizeof(ret_stats->last_error), "%s", ib->last_error);
	pthread_mutex_unlock(&ib->stats_lock);
	return 0;
}

int lc_backend_iscsi_open(const char *uri, unsigned flags, struct lc_backend **ret_be,
			  struct lc_err *err)
{
	struct iscsi_backend *ib;
	struct iscsi_conn *c;
	struct sigpipe_guard g;
	struct lun_facts f;
	char why[WHY_LEN];
	int r;

	if (!(flags & LC_BACKEND_RDONLY))
		return lc_err_set(err, -EROFS,
				  "open iscsi backend: an iscsi:// source is read only; "
				  "it cannot be opened for writing");
	ib = calloc(1, sizeof(*ib));
	if (!ib)
		return lc_err_set(err, -ENOMEM, "open iscsi backend: out of memory");
	r = lc_iscsi_url_parse(uri, &ib->url, err);
	if (r < 0)
		goto out_free_ib;
	ib->be.uri = strdup(ib->url.redacted); /* messages must not show passwords */
	if (!ib->be.uri) {
		r = lc_err_set(err, -ENOMEM, "open iscsi backend: out of memory");
		goto out_free_url;
	}
	if (ib->url.secret_file) {
		r = lc_iscsi_secrets_read(ib->url.secret_file, &ib->secrets, err);
		if (r < 0)
			goto out_free_url;
		ib->have_secrets = true;
	}
	ib->timeout_ns = (uint64_t)ib->url.timeout_s * LC_NSEC_PER_SEC;
	r = -pthread_mutex_init(&ib->pool_lock, NULL);
	if (r < 0) {
		(void)lc_err_set(err, r, "open iscsi backend: mutex: %s", strerror(-r));
		goto out_free_url;
	}
	r = -pthread_mutex_init(&ib->stats_lock, NULL);
	if (r < 0) {
		(void)lc_err_set(err, r, "open iscsi backend: mutex: %s", strerror(-r));
		goto out_destroy_pool_lock;
	}
	r = -pthread_cond_init(&ib->pool_cond, NULL);
	if (r < 0) {
		(void)lc_err_set(err, r, "open iscsi backend: condvar: %s", strerror(-r));
		goto out_destroy_stats_lock;
	}
	ib->be.ops = &iscsi_ops;
	ib->be.read_only = true;

	/* The first login: fails at once, it is an admin who is waiting. */
	c = pool_get(ib);
	if (!c) {
		r = lc_err_set(err, -ENOMEM, "open iscsi backend: out of memory");
		goto out_close;
	}
	sigpipe_block(&g);
	r = conn_login(ib, c, lc_now_ns() + ib->timeout_ns, false, &f, why);
	sigpipe_restore(&g);
	pool_put(ib, c);
	if (r < 0) {
		(void)lc_err_set(err, r, "open iscsi backend: '%s': %s", ib->be.uri, why);
		goto out_close;
	}
	atomic_store(&ib->nr_connects, 1);
	ib->be.size_bytes = f.size_bytes;
	ib->be.logical_block_size = f.block_size;
	ib->chunk_bytes = CHUNK_BYTES;
	if (f.max_xfer_bytes && f.max_xfer_bytes < CHUNK_BYTES)
		/* At least one block: the block size passed the checks above. */
		ib->chunk_bytes = f.max_xfer_bytes >= f.block_size
				      ? f.max_xfer_bytes / f.block_size * f.block_size
				      : f.block_size;
	memcpy(ib->be.ident, f.ident, f.ident_len);
	ib->be.ident_len = f.ident_len;
	*ret_be = &ib->be;
	return 0;

out_close:
	/* The object is complete enough for close(): it frees everything. */
	iscsi_close(&ib->be);
	return r;

out_destroy_stats_lock:
	pthread_mutex_destroy(&ib->stats_lock);
out_destroy_pool_lock:
	pthread_mutex_destroy(&ib->pool_lock);
out_free_url:
	lc_iscsi_secrets_wipe(&ib->secrets);
	lc_iscsi_url_free(&ib->url);
	free(ib->be.uri);
out_free_ib:
	free(ib);
	return r;
}
