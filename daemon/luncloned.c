/* SPDX-License-Identifier: MIT */
/*
 * luncloned: brings LIO in line with /etc/lunclone/lunclone.json
 * (luncloned(8), lunclone.json(5)).
 *
 * One reconcile = load and validate the file (config.h), read configfs and
 * the session files (lio_state.h), plan (plan.h), apply (cfs_exec.h).
 * Modes:
 *   --check [FILE]  validate only: exit 0 valid, 1 invalid, 2 usage;
 *   --once          reconcile once and exit (0: applied without conflicts);
 *   (default)       reconcile, tell systemd READY=1, then wait for signals:
 *                   SIGHUP reconciles again with the file as it is now (an
 *                   invalid file is logged and changes nothing), SIGTERM and
 *                   SIGINT stop the daemon. LIO keeps serving after it
 *                   stops: the daemon configures, tcmu-runner serves.
 *                   lunclonectl(8) talks to it on the control socket
 *                   (control.h).
 * --dry-run logs the plans instead of applying them.
 *
 * The main loop is poll() over a small table of fds (enum loop_fd), each
 * with its handler: signals (signalfd: they only wake the loop), the
 * control socket. All the work happens there, one thing at a time, so the
 * configuration needs no lock.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "cfs_exec.h"
#include "config.h"
#include "control.h"
#include "errors.h"
#include "lio_state.h"
#include "netwatch.h"
#include "plan.h"

#define EXIT_INVALID 1
#define EXIT_USAGE 2
#define CONFIGFS_ROOT_DEFAULT "/sys/kernel/config/target"

/* The host's addresses, for portals (luncloned(8) PORTALS); NULL when they
 * cannot be watched: every address is then taken as present. */
static struct lcd_netwatch *netwatch;

static const char usage[] =
    "Usage: luncloned [--config FILE] [--configfs-root DIR] [--once] [--dry-run]\n"
    "                 [--control-socket PATH] [--socket-dir DIR]\n"
    "       luncloned --check [FILE]\n"
    "\n"
    "Bring LIO in line with the configuration (lunclone.json(5)); see luncloned(8).\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE         configuration (default " LCD_CONFIG_PATH_DEFAULT ")\n"
    "  -t, --check [FILE]        validate the configuration and exit: 0 valid,\n"
    "                            1 invalid (one line per problem); changes nothing\n"
    "  -r, --configfs-root DIR   LIO's configfs (default " CONFIGFS_ROOT_DEFAULT ")\n"
    "  -1, --once                reconcile once and exit\n"
    "  -n, --dry-run             log the plan instead of applying it\n"
    "  -s, --control-socket PATH lunclonectl's socket\n"
    "                            (default " LCD_CTL_SOCKET_DEFAULT ")\n"
    "  -d, --socket-dir DIR      where the devices' status sockets are\n"
    "                            (default " LCD_SOCKET_DIR "; for tests)\n"
    "  -h, --help                show this help\n"
    "  -V, --version             show the version\n";

struct options {
	const char *config;
	const char *root;
	const char *control_socket;
	const char *socket_dir; /* NULL: the configuration's (LCD_SOCKET_DIR) */
	bool once;
	bool dry_run;
};

/* Under systemd, journald reads the priority from a "<N>" prefix. */
static void log_msg(const char *prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_msg(const char *prio, const char *fmt, ...)
{
	static int journal = -1;
	va_list ap;

	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	if (journal)
		(void)fputs(prio, stderr);
	else
		(void)fputs("luncloned: ", stderr);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fputc('\n', stderr);
}

static void log_errors(const char *prio, const struct lcd_errors *errs)
{
	for (size_t i = 0; i < errs->nr; i++)
		log_msg(prio, "%s", errs->msgs[i]);
	if (errs->oom)
		log_msg(prio, "out of memory: some errors were not recorded");
}

static int check(const char *path)
{
	struct lcd_config *cfg = NULL;
	struct lcd_errors errs = {0};
	int r;

	r = lcd_config_load(path, NULL, 0, &cfg, &errs);
	lcd_errors_print(&errs, stderr);
	lcd_errors_clear(&errs);
	lcd_config_free(cfg);
	return r == 0 ? EXIT_SUCCESS : EXIT_INVALID;
}

/*
 * One reconcile of a loaded configuration. Returns 0 when everything was
 * applied, 1 when something was left out (conflicts), -errno when reading
 * or applying failed (logged).
 */
static int reconcile(const struct options *opt, const struct lcd_config *cfg)
{
	struct lcd_lio_state *cur = NULL;
	struct lcd_errors errs = {0}, conflicts = {0}, pending = {0}, stranded = {0};
	struct lcd_addr_pred addrs = {.has = lcd_netwatch_has_cb, .ctx = netwatch};
	struct lcd_plan plan = {0};
	char what[2048];
	size_t done = 0;
	int r;

	r = lcd_lio_read(opt->root, cfg->state_dir, &cur, &errs);
	if (r < 0) {
		log_errors(SD_ERR, &errs);
		goto out;
	}
	r = lcd_plan_make_addrs(cfg, cur, netwatch ? &addrs : NULL, &plan, &conflicts, &pending,
				&stranded);
	if (r < 0) {
		log_msg(SD_ERR, "planning: %s", strerror(-r));
		goto out;
	}
	log_errors(SD_WARNING, &conflicts);
	log_errors(SD_WARNING, &pending);
	log_errors(SD_NOTICE, &stranded);
	for (size_t i = 0; i < plan.nr; i++) {
		lcd_op_describe(&plan.ops[i], what, sizeof(what));
		log_msg(SD_INFO, "%s%s", opt->dry_run ? "would " : "", what);
	}
	if (!opt->dry_run) {
		r = lcd_plan_apply(&plan, &lcd_cfs_posix_ops, (void *)opt->root, &done, &errs);
		/* Without a failure, what errs holds was passed over (", ignoring"). */
		log_errors(r < 0 ? SD_ERR : SD_WARNING, &errs);
		if (r < 0)
			goto out;
	}
	log_msg(SD_NOTICE, "%s: %zu operation%s %s%s", cfg->path, plan.nr, plan.nr == 1 ? "" : "s",
		opt->dry_run ? "planned" : "applied",
		conflicts.nr ? ", some items left out (see above)" : "");
	r = conflicts.nr ? 1 : 0;
out:
	lcd_plan_clear(&plan);
	lcd_errors_clear(&conflicts);
	lcd_errors_clear(&pending);
	lcd_errors_clear(&stranded);
	lcd_errors_clear(&errs);
	lcd_lio_state_free(cur);
	return r;
}

static int load(const struct options *opt, struct lcd_config **ret_cfg)
{
	struct lcd_errors errs = {0};
	struct lcd_config *cfg = NULL;
	char *dir;
	int r;

	r = lcd_config_load(opt->config, NULL, 0, &cfg, &errs);
	log_errors(SD_ERR, &errs);
	lcd_errors_clear(&errs);
	if (r < 0)
		return r;
	if (opt->socket_dir) {
		dir = strdup(opt->socket_dir);
		if (!dir) {
			log_msg(SD_ERR, "out of memory");
			lcd_config_free(cfg);
			return -ENOMEM;
		}
		free(cfg->socket_dir);
		cfg->socket_dir = dir;
	}
	*ret_cfg = cfg;
	return 0;
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* SIGHUP: the file as it is now; an invalid one changes nothing. */
static void reload(const struct options *opt, struct lcd_config **cfg)
{
	struct lcd_config *next = NULL;
	int r;

	(void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading %s",
			 (unsigned long long)now_usec(), opt->config);
	log_msg(SD_NOTICE, "reload: reading %s", opt->config);
	r = load(opt, &next);
	if (r < 0) {
		log_msg(SD_ERR,
			"reload: %s is invalid (see above): keeping the running "
			"configuration, nothing changed",
			opt->config);
		(void)sd_notify(0, "READY=1\nSTATUS=Reload refused: the configuration is invalid");
		return;
	}
	lcd_config_free(*cfg);
	*cfg = next;
	r = reconcile(opt, *cfg);
	(void)sd_notifyf(0, "READY=1\nSTATUS=%s",
			 r == 0	 ? "Configuration applied"
			 : r > 0 ? "Configuration applied, with conflicts"
				 : "Applying the configuration failed");
}

/* The main loop's fds: one more source is one more entry and its case. */
enum loop_fd {
	LOOP_SIGNAL,
	LOOP_CONTROL,
	LOOP_NETWATCH,
	LOOP_NR,
};

/* A signal: 0 to go on, 1 to stop, -errno when the signalfd failed. */
static int on_signal(const struct options *opt, int sfd, struct lcd_config **cfg)
{
	struct signalfd_siginfo si;
	ssize_t n;

	do
		n = read(sfd, &si, sizeof(si));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n != sizeof(si)) {
		int r = n < 0 ? -errno : -EIO;

		log_msg(SD_ERR, "signalfd: %s", strerror(-r));
		return r;
	}
	if (si.ssi_signo == SIGHUP) {
		reload(opt, cfg);
		return 0;
	}
	log_msg(SD_NOTICE, "stopping on signal %u; LIO keeps serving", si.ssi_signo);
	(void)sd_notify(0, "STOPPING=1");
	return 1;
}

static int serve(const struct options *opt)
{
	struct pollfd fds[LOOP_NR];
	struct lcd_config *cfg = NULL;
	struct lcd_ctl *ctl = NULL;
	char msg[512];
	sigset_t mask;
	int sfd, r;

	/* Blocked before anything else: a SIGHUP during start is not lost. */
	(void)sigemptyset(&mask);
	(void)sigaddset(&mask, SIGHUP);
	(void)sigaddset(&mask, SIGTERM);
	(void)sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
		log_msg(SD_ERR, "sigprocmask: %s", strerror(errno));
		return EXIT_FAILURE;
	}
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_msg(SD_ERR, "signalfd: %s", strerror(errno));
		return EXIT_FAILURE;
	}
	r = load(opt, &cfg);
	if (r < 0) {
		log_msg(SD_ERR, "%s is invalid (see above): not starting", opt->config);
		(void)sd_notify(0, "STATUS=The configuration is invalid");
		goto out;
	}
	/* LIO's configuration matters more than its client: without the
	 * socket, the daemon still reconciles and reloads. */
	if (lcd_ctl_open(opt->control_socket, log_msg, &ctl, msg, sizeof(msg)) < 0)
		log_msg(SD_ERR, "%s; lunclonectl cannot reach this daemon, continuing without it",
			msg);
	r = lcd_netwatch_open(&netwatch);
	if (r < 0)
		log_msg(SD_WARNING,
			"watching the host's addresses: %s; creating every portal as if its "
			"address were there",
			strerror(-r));
	r = reconcile(opt, cfg);
	if (r < 0) {
		(void)sd_notify(0, "STATUS=Applying the configuration failed");
		goto out;
	}
	(void)sd_notifyf(0, "READY=1\nSTATUS=%s",
			 r ? "Configuration applied, with conflicts" : "Configuration applied");

	fds[LOOP_SIGNAL] = (struct pollfd){.fd = sfd, .events = POLLIN};
	/* A negative fd is passed over by poll(). */
	fds[LOOP_CONTROL] = (struct pollfd){.fd = ctl ? lcd_ctl_fd(ctl) : -1, .events = POLLIN};
	fds[LOOP_NETWATCH] =
	    (struct pollfd){.fd = netwatch ? lcd_netwatch_fd(netwatch) : -1, .events = POLLIN};
	for (;;) {
		if (poll(fds, LOOP_NR, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			log_msg(SD_ERR, "poll: %s", strerror(-r));
			break;
		}
		if (fds[LOOP_SIGNAL].revents) {
			r = on_signal(opt, sfd, &cfg);
			if (r != 0)
				break;
		}
		if (fds[LOOP_CONTROL].revents && lcd_ctl_serve(ctl, cfg) < 0) {
			/* Keep configuring LIO without a client. */
			log_msg(SD_ERR, "control socket failed; continuing without it");
			lcd_ctl_close(ctl);
			ctl = NULL;
			fds[LOOP_CONTROL].fd = -1;
		}
		if (fds[LOOP_NETWATCH].revents) {
			bool changed = true; /* a failed dispatch may have changed the set */
			int e = lcd_netwatch_dispatch(netwatch, &changed);

			if (e < 0)
				log_msg(SD_WARNING, "watching the host's addresses: %s; resyncing",
					strerror(-e));
			if (changed) {
				log_msg(SD_NOTICE, "the host's addresses changed: reconciling");
				(void)reconcile(opt, cfg);
			}
		}
	}
	if (r > 0)
		r = 0;
out:
	lcd_netwatch_close(netwatch);
	netwatch = NULL;
	lcd_ctl_close(ctl);
	lcd_config_free(cfg);
	(void)close(sfd);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"check", no_argument, NULL, 't'},
	    {"config", required_argument, NULL, 'c'},
	    {"configfs-root", required_argument, NULL, 'r'},
	    {"once", no_argument, NULL, '1'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"control-socket", required_argument, NULL, 's'},
	    {"socket-dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct options opt = {
	    .config = LCD_CONFIG_PATH_DEFAULT,
	    .root = CONFIGFS_ROOT_DEFAULT,
	    .control_socket = LCD_CTL_SOCKET_DEFAULT,
	};
	struct lcd_config *cfg = NULL;
	bool do_check = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "tc:r:1ns:d:hV", options, NULL)) != -1) {
		switch (c) {
		case 't':
			do_check = true;
			break;
		case 'c':
			opt.config = optarg;
			break;
		case 'r':
			opt.root = optarg;
			break;
		case '1':
			opt.once = true;
			break;
		case 'n':
			opt.dry_run = true;
			break;
		case 's':
			opt.control_socket = optarg;
			break;
		case 'd':
			opt.socket_dir = optarg;
			break;
		case 'h':
			(void)fputs(usage, stdout);
			return EXIT_SUCCESS;
		case 'V':
			(void)puts("luncloned " LCD_VERSION);
			return EXIT_SUCCESS;
		default:
			(void)fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	/* "--check FILE": the file may follow the option. */
	if (do_check && optind == argc - 1)
		opt.config = argv[optind++];
	if (optind != argc || (do_check && (opt.once || opt.dry_run))) {
		(void)fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (do_check)
		return check(opt.config);
	if (!opt.once)
		return serve(&opt);
	if (load(&opt, &cfg) < 0)
		return EXIT_INVALID;
	r = lcd_netwatch_open(&netwatch);
	if (r < 0)
		log_msg(SD_WARNING,
			"watching the host's addresses: %s; creating every portal as if its "
			"address were there",
			strerror(-r));
	r = reconcile(&opt, cfg);
	lcd_netwatch_close(netwatch);
	lcd_config_free(cfg);
	return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
