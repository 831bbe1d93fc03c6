/* SPDX-License-Identifier: MIT */
/*
 * lunclone hydrate: run a clone with no user I/O until every region is copied.
 *
 * Opens source (read-only), destination and store (formatting it first with
 * --format when it holds no valid store), hands them to lc_clone_open() and
 * waits for the end state: COMPLETE (exit 0), DEGRADED (regions quarantined
 * after source read errors) or READ_ONLY (the store failed) (exit 1). A
 * source that cannot be reached is no end: hydration waits for it (said once
 * on stderr, and once more when it is back) until it answers or a signal.
 *
 * The main thread loops on lc_clone_wait() with a short timeout, drawing a
 * progress line on stderr when it is a terminal. SIGINT and SIGTERM are
 * blocked before the clone starts its threads (they inherit the mask) and
 * read from a signalfd between waits, so a signal only ends the loop
 * (STYLE.md section 7); the clone is then closed normally, which commits what
 * was copied, and the next run resumes from there. They stay blocked until the
 * process exits: a second ^C cannot cut the final commit short.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <lunclone/lunclone.h>

#include "util/clock.h"

#include "lunclone.h"

/* How often the loop looks at signals and redraws the progress line. */
#define WAIT_MS 200u
#define MIB (1024.0 * 1024.0)

static const char hydrate_usage[] =
    "Usage: lunclone hydrate --source S --dest D --meta M [options]\n"
    "\n"
    "Copy every region of source S not yet hydrated onto destination D, recording\n"
    "progress in the metadata store M, until the clone is complete. Interrupted\n"
    "(SIGINT, SIGTERM), it commits what was copied and exits 1; running it again\n"
    "resumes.\n"
    "\n"
    "Options:\n"
    "  -s, --source S          read-only source (file, block device or iscsi:// URL)\n"
    "  -d, --dest D            destination (file or block device)\n"
    "  -m, --meta M            metadata file or block device\n"
    "  -F, --format            format M first when it holds no valid store\n"
    "  -r, --region-size SIZE  with --format: region size of a new store\n"
    "                          (default 64K); otherwise M must have this size\n"
    "  -w, --workers N         hydration workers (a reader and a writer thread\n"
    "                          each), 1 to 256 (default 2)\n"
    "  -b, --batch N           contiguous regions per copy (default 16)\n"
    "  -i, --max-inflight N    regions being copied at once, over all workers\n"
    "                          (default 64)\n"
    "  -R, --rate MIB          limit to MIB MiB/s (default 0: unlimited)\n"
    "      --direct            O_DIRECT on source and destination\n"
    "  -q, --quiet             no progress line, no summary\n"
    "  -h, --help              show this help\n";

enum {
	OPT_DIRECT = 256 - 1, /* long-only; cli_opts.seen[] takes values < 256 */
};

struct hydrate_args {
	const char *source_path;
	const char *dest_path;
	const char *meta_path;
	bool format;
	uint32_t region_size_bytes; /* 0: not given */
	struct lc_clone_config cfg;
	bool direct;
	bool quiet;
	bool progress; /* stderr is a terminal and not --quiet */
};

static void format_duration(char *out, size_t size, uint64_t seconds)
{
	if (seconds == UINT64_MAX)
		(void)snprintf(out, size, "--:--");
	else if (seconds >= 3600)
		(void)snprintf(
		    out, size, "%llu:%02llu:%02llu", (unsigned long long)(seconds / 3600),
		    (unsigned long long)(seconds / 60 % 60), (unsigned long long)(seconds % 60));
	else
		(void)snprintf(out, size, "%llu:%02llu", (unsigned long long)(seconds / 60),
			       (unsigned long long)(seconds % 60));
}

static void draw_progress(const struct lc_clone_status *st)
{
	double pct =
	    st->nr_regions ? 100.0 * (double)st->nr_hydrated / (double)st->nr_regions : 100.0;
	char eta[32];

	if (pct > 99.9 && st->nr_hydrated < st->nr_regions)
		pct = 99.9;
	format_duration(eta, sizeof(eta), st->eta_seconds);
	fprintf(stderr, "\r%5.1f%%  %llu/%llu regions  %.1f MiB/s  ETA %s%s\033[K", pct,
		(unsigned long long)st->nr_hydrated, (unsigned long long)st->nr_regions,
		(double)st->rate_bytes / MIB, eta,
		st->state == LC_CLONE_WAITING_SOURCE ? "  waiting for the source" : "");
	(void)fflush(stderr);
}

/* The signal waiting on sfd (non-blocking), or 0. */
static int pending_signal(int sfd)
{
	struct signalfd_siginfo si;
	ssize_t n;

	n = read(sfd, &si, sizeof(si));
	if (n != (ssize_t)sizeof(si))
		return 0; /* EAGAIN: none (EINTR cannot happen: they are blocked) */
	return (int)si.ssi_signo;
}

/* Why a clone that stopped short stopped, as a runtime error. */
static void report_stop(const char *verb, const struct hydrate_args *a, const char *src_uri,
			const struct lc_clone_status *st, int r)
{
	char list[LC_CLONE_QUARANTINE_REPORT * 24] = "";
	size_t used = 0;
	uint64_t n;

	if (st->state == LC_CLONE_DEGRADED || (r == -EIO && st->nr_quarantined > 0)) {
		n = st->nr_quarantined < LC_CLONE_QUARANTINE_REPORT ? st->nr_quarantined
								    : LC_CLONE_QUARANTINE_REPORT;
		for (uint64_t i = 0; i < n && used < sizeof(list); i++) {
			int w = snprintf(list + used, sizeof(list) - used, "%s%llu", i ? ", " : "",
					 (unsigned long long)st->quarantined[i]);
			if (w < 0)
				break;
			used += (size_t)w;
		}
		cli_errorf(verb, src_uri,
			   "hydration %s: %llu/%llu regions hydrated, %llu quarantined after "
			   "read errors (regions %s%s)",
			   lc_clone_state_name(st->state), (unsigned long long)st->nr_hydrated,
			   (unsigned long long)st->nr_regions,
			   (unsigned long long)st->nr_quarantined, list,
			   st->nr_quarantined > n ? ", ..." : "");
		return;
	}
	cli_errorf(verb, a->meta_path, "hydration %s at %llu/%llu regions: %s",
		   lc_clone_state_name(st->state), (unsigned long long)st->nr_hydrated,
		   (unsigned long long)st->nr_regions,
		   strerror(st->last_error ? -st->last_error : (r < 0 ? -r : EIO)));
}

struct source_notice {
	const char *verb;
	const char *src_uri; /* redacted */
	bool progress;	     /* a progress line is on stderr: end it first */
};

/* on_source_change, from a hydration thread: one message per change. */
static void note_source_change(void *opaque, struct lc_backend *src, bool reachable, int err)
{
	const struct source_notice *n = opaque;
	struct lc_backend_iscsi_stats stats;

	if (n->progress)
		fputc('\n', stderr);
	if (reachable)
		cli_errorf(n->verb, n->src_uri, "source reachable again, hydration resumed");
	else
		cli_errorf(n->verb, n->src_uri,
			   "source unreachable, hydration waits for it (retrying; ^C stops): %s",
			   lc_backend_iscsi_get_stats(src, &stats) == 0 && stats.last_error[0]
			       ? stats.last_error
			       : strerror(-err));
}

static int get_src_stats(struct lc_backend *src, void *opaque)
{
	return lc_backend_iscsi_get_stats(src, opaque);
}

/* Opens the three devices and the store; on success the caller owns them. */
static int open_all(const char *verb, const struct hydrate_args *a, struct lc_backend **ret_src,
		    struct lc_backend **ret_dst, struct lc_backend **ret_mdev,
		    struct lc_meta **ret_meta)
{
	unsigned direct = a->direct ? LC_BACKEND_DIRECT : 0;
	struct lc_backend *src = NULL, *dst = NULL, *mdev = NULL;
	struct lc_err err = {.msg = ""};
	struct lc_meta_params expect;
	int r;

	r = cli_check_distinct(verb, a->source_path, a->dest_path, a->meta_path);
	if (r < 0)
		return r;
	r = cli_open_backend(verb, a->source_path, LC_BACKEND_RDONLY | direct, &src);
	if (r < 0)
		return r;
	r = cli_open_backend(verb, a->dest_path, direct, &dst);
	if (r < 0)
		goto out_close;
	if (dst->size_bytes < src->size_bytes) {
		cli_errorf(verb, a->dest_path,
			   "destination is smaller than the source '%s' (%llu < %llu bytes)",
			   src->uri, (unsigned long long)dst->size_bytes,
			   (unsigned long long)src->size_bytes);
		r = -EINVAL;
		goto out_close;
	}
	r = cli_open_backend(verb, a->meta_path, 0, &mdev);
	if (r < 0)
		goto out_close;
	memset(&expect, 0, sizeof(expect));
	expect.region_size_bytes = a->region_size_bytes;
	expect.source_size_bytes = src->size_bytes;
	expect.dest_size_bytes = dst->size_bytes;
	memcpy(expect.source_id, src->ident, src->ident_len);
	expect.source_id_len = src->ident_len;
	r = lc_meta_open(mdev, dst, &expect, 0, ret_meta, &err);
	if (r < 0) {
		cli_error(verb, a->meta_path, r, &err);
		goto out_close;
	}
	if (lc_meta_region_size(*ret_meta) % src->logical_block_size != 0) {
		cli_errorf(verb, src->uri,
			   "logical block size %u does not divide the store's region size %u",
			   src->logical_block_size, lc_meta_region_size(*ret_meta));
		(void)lc_meta_close(*ret_meta);
		r = -EINVAL;
		goto out_close;
	}
	*ret_src = src;
	*ret_dst = dst;
	*ret_mdev = mdev;
	return 0;

out_close:
	lc_backend_close(mdev);
	lc_backend_close(dst);
	lc_backend_close(src);
	return r;
}

static int run(const char *verb, const struct hydrate_args *a)
{
	struct lc_backend *src, *dst, *mdev;
	struct lc_err err = {.msg = ""};
	struct lc_backend_iscsi_stats src_stats;
	bool have_src_stats = false;
	char src_uri[512];
	struct lc_clone_status st;
	struct lc_clone_config cfg = a->cfg;
	struct source_notice notice = {.verb = verb, .src_uri = src_uri, .progress = a->progress};
	struct lc_clone *clone;
	struct lc_meta *meta;
	uint64_t start_ns, elapsed_ns;
	sigset_t sigs;
	int sfd, sig = 0, r, r_close;

	/* Before any thread exists, so that every thread inherits the mask. */
	(void)sigemptyset(&sigs);
	(void)sigaddset(&sigs, SIGINT);
	(void)sigaddset(&sigs, SIGTERM);
	r = -pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (r < 0) {
		cli_errorf(verb, NULL, "cannot block signals: %s", strerror(-r));
		return r;
	}
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		r = -errno;
		cli_errorf(verb, NULL, "signalfd: %s", strerror(-r));
		return r;
	}

	r = open_all(verb, a, &src, &dst, &mdev, &meta);
	if (r < 0)
		goto out_close_sfd;
	/* The source's name for messages, redacted by the backend (iscsi). */
	(void)snprintf(src_uri, sizeof(src_uri), "%s", src->uri);
	start_ns = lc_now_ns();
	cfg.on_source_change = note_source_change;
	cfg.on_source_change_opaque = &notice;
	/* Takes src, dst and meta, also when it fails. */
	r = lc_clone_open(src, dst, meta, &cfg, &clone, &err);
	if (r < 0) {
		cli_error(verb, a->dest_path, r, &err);
		goto out_close_mdev;
	}

	for (;;) {
		r = lc_clone_wait(clone, WAIT_MS);
		if (r != -ETIMEDOUT)
			break;
		sig = pending_signal(sfd);
		if (sig)
			break;
		/* The clone closes its source once complete: keep the latest
		 * counters of an iscsi source for the summary. */
		if (lc_clone_with_source(clone, get_src_stats, &src_stats) == 0)
			have_src_stats = true;
		if (a->progress) {
			lc_clone_get_status(clone, &st);
			draw_progress(&st);
		}
	}
	lc_clone_get_status(clone, &st);
	if (a->progress) {
		draw_progress(&st);
		fputc('\n', stderr);
	}
	/* Ask an iscsi source why reads failed, if the clone still has it
	 * open: it closes the source as soon as hydration is complete. */
	if (lc_clone_with_source(clone, get_src_stats, &src_stats) == 0)
		have_src_stats = true;

	/* Stops the workers and commits what they copied, also when interrupted. */
	r_close = lc_clone_close(clone);
	elapsed_ns = lc_now_ns() - start_ns;
	if (sig) {
		cli_errorf(verb, a->dest_path, "interrupted by %s at %llu/%llu regions%s",
			   strsignal(sig), (unsigned long long)st.nr_hydrated,
			   (unsigned long long)st.nr_regions,
			   r_close == 0 ? "; progress committed, run again to resume" : "");
		r = -EINTR;
	} else if (r < 0 || st.state != LC_CLONE_COMPLETE) {
		report_stop(verb, a, src_uri, &st, r);
		if (have_src_stats && src_stats.last_error[0] != '\0')
			cli_errorf(verb, src_uri, "source %s: %s",
				   src_stats.wrong_lun ? "refused" : "last error",
				   src_stats.last_error);
		if (r == 0)
			r = -EIO;
	}
	if (r_close < 0) {
		cli_errorf(verb, a->meta_path, "final commit failed: %s", strerror(-r_close));
		if (r == 0)
			r = r_close;
	}
	if (r == 0 && !a->quiet) {
		double secs = (double)elapsed_ns / 1e9;

		printf("hydrated '%s': %llu regions, %.1f MiB copied in %.2f s (%.1f MiB/s)\n",
		       a->dest_path, (unsigned long long)st.nr_regions,
		       (double)st.bytes_hydrated / MIB, secs,
		       secs > 0 ? (double)st.bytes_hydrated / MIB / secs : 0.0);
		if (have_src_stats)
			printf("source '%s': %llu logins, %llu failed; %llu reads retried, "
			       "%llu timed out\n",
			       src_uri, (unsigned long long)src_stats.nr_connects,
			       (unsigned long long)src_stats.nr_connect_failures,
			       (unsigned long long)src_stats.nr_retries,
			       (unsigned long long)src_stats.nr_timeouts);
	}

out_close_mdev:
	lc_backend_close(mdev);
out_close_sfd:
	(void)close(sfd);
	return r;
}

int cli_hydrate_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"source", required_argument, NULL, 's'},
	    {"dest", required_argument, NULL, 'd'},
	    {"meta", required_argument, NULL, 'm'},
	    {"format", no_argument, NULL, 'F'},
	    {"region-size", required_argument, NULL, 'r'},
	    {"workers", required_argument, NULL, 'w'},
	    {"batch", required_argument, NULL, 'b'},
	    {"max-inflight", required_argument, NULL, 'i'},
	    {"rate", required_argument, NULL, 'R'},
	    {"direct", no_argument, NULL, OPT_DIRECT},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_opts o = {
	    .verb = "hydrate",
	    .argc = argc,
	    .argv = argv,
	    .optstring = ":s:d:m:Fr:w:b:i:R:qh",
	    .longopts = longopts,
	};
	struct hydrate_args a = {0};
	uint64_t rate_mib;
	int c, r;

	lc_clone_config_default(&a.cfg);
	/* The copy is this command's whole job: no I/O to make room for. */
	a.cfg.worker_nice = 0;
	while ((c = cli_getopt(&o)) != -1) {
		switch (c) {
		case 's':
			a.source_path = optarg;
			break;
		case 'd':
			a.dest_path = optarg;
			break;
		case 'm':
			a.meta_path = optarg;
			break;
		case 'F':
			a.format = true;
			break;
		case 'r':
			if (!cli_opt_region_size(o.verb, optarg, &a.region_size_bytes))
				return CLI_EXIT_USAGE;
			break;
		case 'w':
			if (!cli_opt_u32(o.verb, "--workers", optarg, 1, 256, &a.cfg.nr_workers))
				return CLI_EXIT_USAGE;
			break;
		case 'b':
			if (!cli_opt_u32(o.verb, "--batch", optarg, 1, UINT32_MAX,
					 &a.cfg.batch_regions))
				return CLI_EXIT_USAGE;
			break;
		case 'i':
			if (!cli_opt_u32(o.verb, "--max-inflight", optarg, 1, UINT32_MAX,
					 &a.cfg.max_inflight_regions))
				return CLI_EXIT_USAGE;
			break;
		case 'R':
			if (!cli_opt_u64(o.verb, "--rate", optarg, &rate_mib))
				return CLI_EXIT_USAGE;
			if (rate_mib > UINT64_MAX >> 20)
				return cli_usage_error(o.verb, "--rate '%s': out of range", optarg);
			a.cfg.rate_limit_bytes = rate_mib << 20;
			break;
		case OPT_DIRECT:
			a.direct = true;
			break;
		case 'q':
			a.quiet = true;
			break;
		case 'h':
			fputs(hydrate_usage, stdout);
			return CLI_EXIT_OK;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (!cli_no_operands(&o))
		return CLI_EXIT_USAGE;
	if (!a.source_path || !a.dest_path || !a.meta_path)
		return cli_usage_error(o.verb, "--source, --dest and --meta are required");
	a.progress = !a.quiet && isatty(STDERR_FILENO);

	if (a.format) {
		struct cli_format_args fa = {
		    .source_path = a.source_path,
		    .dest_path = a.dest_path,
		    .meta_path = a.meta_path,
		    .region_size_bytes =
			a.region_size_bytes ? a.region_size_bytes : LC_REGION_SIZE_DEFAULT,
		    .only_if_invalid = true,
		    .quiet = a.quiet,
		};

		r = cli_format_store(o.verb, &fa, NULL);
		if (r < 0)
			return CLI_EXIT_FAIL;
	}
	r = run(o.verb, &a);
	return r < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
