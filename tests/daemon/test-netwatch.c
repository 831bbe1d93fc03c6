/* SPDX-License-Identifier: MIT */
/*
 * Test of daemon/netwatch.c against the real kernel: the program moves
 * into a network namespace of its own (unshare(CLONE_NEWNET): run as root)
 * and changes its addresses with ip(8). Each wait polls the netwatch fd
 * and dispatches until lcd_netwatch_has() gives the expected answer, or
 * fails after WAIT_MS.
 *
 * Checks: the first dump (127.0.0.1, ::1), wildcards, bracketed and bad
 * input; an IPv4 and an IPv6 (nodad) address appear and disappear, and
 * the dispatch that flips has() reports a change; a tentative IPv6
 * address (DAD held back: its veth has no carrier) is absent until DAD
 * completes; an address on two interfaces stays until both drop it; a
 * flood of events that overruns the socket is recovered by a resync.
 *
 * Without root, unshare(2), ip(8), veth or netlink the test FAILS saying
 * which: it never skips.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "netwatch.h"

/* Bounded waits: DAD takes about a second; valgrind slows everything. */
#define WAIT_MS 15000
/* Addresses in the flood: far more events than the socket buffer holds. */
#define FLOOD_NR 3000

static char tmpdir[] = "/tmp/test-daemon-netwatch.XXXXXX";

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int r;

	va_start(ap, fmt);
	(void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	if (r != 0)
		fail_msg("'%s' failed (status %d)", cmd, r);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Polls and dispatches until has(ip) == want; fails after WAIT_MS. The
 * dispatch that flips the answer must report a change.
 */
static void wait_for(struct lcd_netwatch *nw, const char *ip, bool want)
{
	int64_t deadline = now_ms() + WAIT_MS;

	while (lcd_netwatch_has(nw, ip) != want) {
		struct pollfd pfd = {.fd = lcd_netwatch_fd(nw), .events = POLLIN};
		int64_t left = deadline - now_ms();
		bool changed = false;
		int r;

		if (left <= 0)
			fail_msg("%s did not %s within %d ms", ip, want ? "appear" : "disappear",
				 WAIT_MS);
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		assert_true(r >= 0);
		if (r == 0)
			continue;
		r = lcd_netwatch_dispatch(nw, &changed);
		if (r < 0)
			fail_msg("lcd_netwatch_dispatch: %s", strerror(-r));
		if (lcd_netwatch_has(nw, ip) == want)
			assert_true(changed);
	}
}

/* Dispatches whatever is pending, without waiting. */
static void drain(struct lcd_netwatch *nw)
{
	struct pollfd pfd = {.fd = lcd_netwatch_fd(nw), .events = POLLIN};
	bool changed;

	while (poll(&pfd, 1, 0) > 0)
		assert_int_equal(lcd_netwatch_dispatch(nw, &changed), 0);
}

static struct lcd_netwatch *open_nw(void)
{
	struct lcd_netwatch *nw = NULL;
	int r = lcd_netwatch_open(&nw);

	if (r < 0)
		fail_msg("lcd_netwatch_open: %s (is netlink available?)", strerror(-r));
	assert_non_null(nw);
	assert_true(lcd_netwatch_fd(nw) >= 0);
	return nw;
}

static void test_initial_dump(void **state)
{
	struct lcd_netwatch *nw = open_nw();

	assert_true(lcd_netwatch_has(nw, "127.0.0.1"));
	assert_true(lcd_netwatch_has(nw, "::1"));
	assert_true(lcd_netwatch_has(nw, "[::1]"));
	assert_true(lcd_netwatch_has(nw, "0.0.0.0"));
	assert_true(lcd_netwatch_has(nw, "::"));
	assert_true(lcd_netwatch_has(nw, "[::]"));
	assert_false(lcd_netwatch_has(nw, "192.0.2.10"));
	assert_false(lcd_netwatch_has(nw, "2001:db8::10"));
	assert_false(lcd_netwatch_has(nw, "not-an-address"));
	assert_false(lcd_netwatch_has(nw, "127.0.0.1:3260"));
	assert_false(lcd_netwatch_has(nw, "[]"));
	assert_false(lcd_netwatch_has(nw, ""));
	assert_int_equal(lcd_netwatch_overruns(nw), 0);
	lcd_netwatch_close(nw);
	lcd_netwatch_close(NULL);
}

static void test_ipv4_comes_and_goes(void **state)
{
	struct lcd_netwatch *nw = open_nw();

	run("ip addr add 192.0.2.10/32 dev lo");
	wait_for(nw, "192.0.2.10", true);
	assert_false(lcd_netwatch_has(nw, "192.0.2.11"));
	run("ip addr del 192.0.2.10/32 dev lo");
	wait_for(nw, "192.0.2.10", false);
	assert_true(lcd_netwatch_has(nw, "127.0.0.1"));
	lcd_netwatch_close(nw);
}

/* Present at open: from the dump, not from an event. */
static void test_present_before_open(void **state)
{
	struct lcd_netwatch *nw;

	run("ip addr add 192.0.2.12/32 dev lo");
	run("ip addr add 2001:db8::12/128 dev lo nodad");
	nw = open_nw();
	assert_true(lcd_netwatch_has(nw, "192.0.2.12"));
	assert_true(lcd_netwatch_has(nw, "2001:db8::12"));
	run("ip addr del 192.0.2.12/32 dev lo");
	run("ip addr del 2001:db8::12/128 dev lo");
	wait_for(nw, "192.0.2.12", false);
	wait_for(nw, "2001:db8::12", false);
	lcd_netwatch_close(nw);
}

static void test_ipv6_comes_and_goes(void **state)
{
	struct lcd_netwatch *nw = open_nw();

	run("ip addr add 2001:db8::10/128 dev lo nodad");
	wait_for(nw, "2001:db8::10", true);
	assert_true(lcd_netwatch_has(nw, "[2001:db8::10]"));
	assert_true(lcd_netwatch_has(nw, "2001:0db8:0:0::10"));
	run("ip addr del 2001:db8::10/128 dev lo");
	wait_for(nw, "2001:db8::10", false);
	lcd_netwatch_close(nw);
}

/*
 * v0's peer is down: no carrier, so DAD does not start and the address
 * stays tentative. A marker added after it shows its event was read.
 */
static void test_tentative(void **state)
{
	struct lcd_netwatch *nw = open_nw();
	char out[4096];
	size_t n;
	FILE *f;

	run("ip link add v0 type veth peer name v1");
	run("ip link set v0 up");
	run("ip addr add 2001:db8:1::5/64 dev v0");
	run("ip addr add 192.0.2.77/32 dev lo");
	wait_for(nw, "192.0.2.77", true);
	f = popen("ip -6 addr show dev v0", "r");
	assert_non_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	assert_int_equal(pclose(f), 0);
	if (!strstr(out, "2001:db8:1::5/64") || !strstr(out, "tentative"))
		fail_msg("the test's premise: 2001:db8:1::5 should be tentative:\n%s", out);
	assert_false(lcd_netwatch_has(nw, "2001:db8:1::5"));
	/* Carrier: DAD runs (about a second) and the address becomes usable. */
	run("ip link set v1 up");
	wait_for(nw, "2001:db8:1::5", true);
	run("ip link del v0");
	wait_for(nw, "2001:db8:1::5", false);
	run("ip addr del 192.0.2.77/32 dev lo");
	wait_for(nw, "192.0.2.77", false);
	lcd_netwatch_close(nw);
}

/* One address on two interfaces: present until both drop it. */
static void test_two_interfaces(void **state)
{
	struct lcd_netwatch *nw = open_nw();

	run("ip link add v2 type veth peer name v3");
	run("ip addr add 192.0.2.20/32 dev lo");
	run("ip addr add 192.0.2.20/24 dev v2");
	wait_for(nw, "192.0.2.20", true);
	run("ip addr del 192.0.2.20/32 dev lo");
	run("ip addr add 192.0.2.78/32 dev lo");
	wait_for(nw, "192.0.2.78", true);
	assert_true(lcd_netwatch_has(nw, "192.0.2.20"));
	run("ip addr del 192.0.2.20/24 dev v2");
	wait_for(nw, "192.0.2.20", false);
	run("ip link del v2");
	run("ip addr del 192.0.2.78/32 dev lo");
	wait_for(nw, "192.0.2.78", false);
	lcd_netwatch_close(nw);
}

/* More events than the socket holds, unread: ENOBUFS, then a resync. */
static void test_overrun_resyncs(void **state)
{
	struct lcd_netwatch *nw = open_nw();
	char path[512], first[32], last[32];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/add.batch", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (unsigned i = 0; i < FLOOD_NR; i++)
		fprintf(f, "addr add 198.18.%u.%u/32 dev lo\n", i / 250, i % 250 + 1);
	assert_int_equal(fclose(f), 0);
	(void)snprintf(first, sizeof(first), "198.18.0.1");
	(void)snprintf(last, sizeof(last), "198.18.%u.%u", (FLOOD_NR - 1) / 250,
		       (FLOOD_NR - 1) % 250 + 1);
	run("ip -batch %s", path);
	wait_for(nw, last, true);
	drain(nw);
	assert_true(lcd_netwatch_overruns(nw) >= 1);
	for (unsigned i = 0; i < FLOOD_NR; i += 97) {
		char ip[32];

		(void)snprintf(ip, sizeof(ip), "198.18.%u.%u", i / 250, i % 250 + 1);
		if (!lcd_netwatch_has(nw, ip))
			fail_msg("%s missing after the resync", ip);
	}
	assert_true(lcd_netwatch_has(nw, first));
	assert_true(lcd_netwatch_has(nw, "127.0.0.1"));

	/* And back: every one of them gone. */
	f = fopen(path, "w");
	assert_non_null(f);
	for (unsigned i = 0; i < FLOOD_NR; i++)
		fprintf(f, "addr del 198.18.%u.%u/32 dev lo\n", i / 250, i % 250 + 1);
	assert_int_equal(fclose(f), 0);
	run("ip -batch %s", path);
	wait_for(nw, last, false);
	drain(nw);
	for (unsigned i = 0; i < FLOOD_NR; i += 97) {
		char ip[32];

		(void)snprintf(ip, sizeof(ip), "198.18.%u.%u", i / 250, i % 250 + 1);
		if (lcd_netwatch_has(nw, ip))
			fail_msg("%s still present", ip);
	}
	assert_true(lcd_netwatch_has(nw, "127.0.0.1"));
	lcd_netwatch_close(nw);
}

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_initial_dump),	cmocka_unit_test(test_ipv4_comes_and_goes),
	    cmocka_unit_test(test_present_before_open), cmocka_unit_test(test_ipv6_comes_and_goes),
	    cmocka_unit_test(test_tentative),		cmocka_unit_test(test_two_interfaces),
	    cmocka_unit_test(test_overrun_resyncs),
	};

	/* The host's addresses stay untouched: everything happens in here. */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr,
			"test-netwatch: FAILED: unshare(CLONE_NEWNET): %s: this test needs "
			"root (CAP_SYS_ADMIN) and network namespaces\n",
			strerror(errno));
		return 1;
	}
	if (system("ip -V >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test-netwatch: FAILED: ip(8) (iproute2) not found\n");
		return 1;
	}
	if (system("ip link set lo up") != 0) {
		fprintf(stderr, "test-netwatch: FAILED: 'ip link set lo up' in the new "
				"network namespace\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
