/* SPDX-License-Identifier: MIT */
/*
 * Hydration against a source that fails in two ways: it cannot be reached
 * (the transport: -ETIMEDOUT, as the iscsi backend says when the target is
 * gone) or it answers that a range cannot be read (-EIO, a medium error).
 * The first must make hydration wait, quarantining nothing, and resume by
 * itself; the second must still quarantine the region.
 *
 * The source is a "flaky" backend wrapping a volcache model: a switch takes
 * the whole device off the network; medium errors are the volcache's
 * injected faults. The destination is wrapped the same way, with a switch
 * that makes it refuse writes (a full disk).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "clone-fixture.h"
#include "util/clock.h"

#define REGION 4096u
/* 40 regions and a half: the last region is short. */
#define SIZE (40u * REGION + 2048u)
#define BAD_REGION 17u
#define WAIT_MS 10000u

/* ---- the flaky devices ---- */

struct flaky {
	struct lc_backend be; /* first: close() frees the whole object */
	struct lc_backend *inner;
	atomic_int fail_with; /* 0: reachable; else every read fails with it */
	atomic_uint nr_failed_reads;
	atomic_int write_fail_with; /* 0: writes pass; else they fail with it */
	atomic_uint nr_failed_writes;
};

/* The error a switch injects (counted), or 0 to pass the call on. */
static int fault(atomic_int *fail_with, atomic_uint *nr_failed)
{
	int e = atomic_load(fail_with);

	if (e)
		atomic_fetch_add(nr_failed, 1);
	return e;
}

static int flaky_pread(struct lc_backend *be, void *buf, size_t len, uint64_t offset_bytes)
{
	struct flaky *f = (struct flaky *)be;
	int e = fault(&f->fail_with, &f->nr_failed_reads);

	return e ? e : lc_backend_pread(f->inner, buf, len, offset_bytes);
}

static int flaky_pwrite(struct lc_backend *be, const void *buf, size_t len, uint64_t off)
{
	struct flaky *f = (struct flaky *)be;
	int e = fault(&f->write_fail_with, &f->nr_failed_writes);

	return e ? e : lc_backend_pwrite(f->inner, buf, len, off);
}

static int flaky_discard(struct lc_backend *be, uint64_t off, uint64_t len)
{
	struct flaky *f = (struct flaky *)be;
	int e = fault(&f->write_fail_with, &f->nr_failed_writes);

	return e ? e : lc_backend_discard(f->inner, off, len);
}

static int flaky_flush(struct lc_backend *be)
{
	return lc_backend_flush(((struct flaky *)be)->inner);
}

static void flaky_close(struct lc_backend *be)
{
	struct flaky *f = (struct flaky *)be;

	if (!f)
		return;
	lc_backend_close(f->inner);
	free(f->be.uri);
	free(f);
}

static const struct lc_backend_ops flaky_ops = {
    .name = "flaky",
    .pread = flaky_pread,
    .pwrite = flaky_pwrite,
    .flush = flaky_flush,
    .discard = flaky_discard,
    .close = flaky_close,
};

/* Wraps inner (taken over, also on failure). */
static struct flaky *flaky_new(struct lc_backend *inner, bool read_only)
{
	struct flaky *f = calloc(1, sizeof(*f));

	if (!f || !(f->be.uri = strdup("flaky"))) {
		free(f);
		lc_backend_close(inner);
		return NULL;
	}
	f->be.ops = &flaky_ops;
	f->be.size_bytes = inner->size_bytes;
	f->be.logical_block_size = inner->logical_block_size;
	f->be.read_only = read_only;
	f->be.discard_zeroes = inner->discard_zeroes;
	f->inner = inner;
	return f;
}

/* ---- what on_source_change saw ---- */

#define MAX_EVENTS 16

struct events {
	pthread_mutex_t lock;
	unsigned n;
	bool reachable[MAX_EVENTS];
	int err[MAX_EVENTS];
	bool src_ok; /* every call got the source */
};

static void record_event(void *opaque, struct lc_backend *src, bool reachable, int err)
{
	struct events *ev = opaque;

	pthread_mutex_lock(&ev->lock);
	if (!src || strcmp(src->ops->name, "flaky") != 0)
		ev->src_ok = false;
	if (ev->n < MAX_EVENTS) {
		ev->reachable[ev->n] = reachable;
		ev->err[ev->n] = err;
	}
	ev->n++;
	pthread_mutex_unlock(&ev->lock);
}

static unsigned nr_events(struct events *ev)
{
	unsigned n;

	pthread_mutex_lock(&ev->lock);
	n = ev->n;
	pthread_mutex_unlock(&ev->lock);
	return n;
}

/* ---- fixture ---- */

struct hfix {
	struct fixture f;
	struct flaky *flaky;
	struct lc_backend *inner; /* the volcache under flaky: medium errors */
	struct flaky *dst_flaky;  /* the destination */
	struct events ev;
};

static void hfix_setup(struct hfix *h, unsigned retry_delay_ms)
{
	struct lc_meta_params p = {.region_size_bytes = REGION,
				   .source_size_bytes = SIZE,
				   .dest_size_bytes = SIZE};
	struct lc_err err = {{0}};
	struct lc_clone_config cfg;
	struct fixture *f = &h->f;

	memset(h, 0, sizeof(*h));
	assert_int_equal(pthread_mutex_init(&h->ev.lock, NULL), 0);
	h->ev.src_ok = true;
	f->size_bytes = SIZE;
	f->region_size = REGION;
	f->source_image = make_source_image(SIZE, 0, 0);
	assert_non_null(f->source_image);
	assert_int_equal(lc_volcache_new("src", SIZE, f->source_image, &h->inner), 0);
	h->flaky = flaky_new(h->inner, true);
	assert_non_null(h->flaky);
	f->src = &h->flaky->be;
	assert_int_equal(lc_volcache_new("dst", SIZE, NULL, &f->dst), 0);
	h->dst_flaky = flaky_new(f->dst, false);
	assert_non_null(h->dst_flaky);
	f->dst = &h->dst_flaky->be;
	assert_int_equal(lc_volcache_new("meta", lc_meta_required_size(REGION, SIZE), NULL, &f->mdev),
			 0);
	assert_int_equal(lc_meta_format(f->mdev, &p, &err), 0);

	lc_clone_config_default(&cfg);
	cfg.nr_workers = 2;
	cfg.batch_regions = 4;
	cfg.commit_interval_ms = 10;
	cfg.source_retries = 2;
	cfg.retry_delay_ms = retry_delay_ms;
	cfg.start_paused = true;
	cfg.on_source_change = record_event;
	cfg.on_source_change_opaque = &h->ev;
	assert_int_equal(fixture_open_clone(f, &cfg), 0);
}

static void hfix_teardown(struct hfix *h)
{
	fixture_teardown(&h->f);
	(void)pthread_mutex_destroy(&h->ev.lock);
}

static void assert_dst_equals_source(struct fixture *f)
{
	uint8_t *buf = malloc(f->size_bytes);

	assert_non_null(buf);
	assert_int_equal(lc_backend_pread(f->dst, buf, f->size_bytes, 0), 0);
	assert_memory_equal(buf, f->source_image, f->size_bytes);
	free(buf);
}

/* Polls status until it shows state, or fails after WAIT_MS. */
static void wait_for_state(struct lc_clone *c, enum lc_clone_state state)
{
	uint64_t deadline = lc_now_ns() + (uint64_t)WAIT_MS * LC_NSEC_PER_MSEC;
	struct lc_clone_status st;

	for (;;) {
		lc_clone_get_status(c, &st);
		if (st.state == state)
			return;
		if (lc_now_ns() > deadline)
			fail_msg("state is %s, waited %u ms for %s", lc_clone_state_name(st.state),
				 WAIT_MS, lc_clone_state_name(state));
		usleep(2000);
	}
}

/* ---- tests ---- */

/*
 * Unreachable while a region also has a medium error: hydration waits,
 * quarantines nothing (not even the bad region: nothing is known about it),
 * marks nothing, probes with bounded backoff, and tells once. Back: it
 * resumes by itself, says so once, and only the medium error is quarantined.
 */
static void test_unreachable_source_waits_then_resumes(void **state)
{
	struct lc_clone_status st;
	struct hfix h;
	uint8_t buf[REGION];
	unsigned probes;
	uint64_t t0;

	(void)state;
	hfix_setup(&h, 5);
	lc_volcache_inject(h.inner, LC_VC_READ, BAD_REGION * REGION + 512, 512, EIO, -1);
	atomic_store(&h.flaky->fail_with, -ETIMEDOUT);
	lc_clone_resume(h.f.clone);
	wait_for_state(h.f.clone, LC_CLONE_WAITING_SOURCE);
	assert_string_equal(lc_clone_state_name(LC_CLONE_WAITING_SOURCE), "waiting-for-source");

	/* Far longer than the retry budget that used to quarantine regions
	 * (2 retries 5 ms apart). */
	usleep(400 * 1000);
	lc_clone_get_status(h.f.clone, &st);
	assert_int_equal(st.state, LC_CLONE_WAITING_SOURCE);
	assert_int_equal(st.nr_quarantined, 0);
	assert_int_equal(st.nr_hydrated, 0);
	assert_int_equal(st.last_error, -ETIMEDOUT);
	assert_int_equal(st.eta_seconds, UINT64_MAX);
	/* Not an end state: waiting goes on. */
	assert_int_equal(lc_clone_wait(h.f.clone, 50), -ETIMEDOUT);
	/* Probes back off (5, 10, 20, ... ms), one at a time: about 7 in
	 * 400 ms, plus the first failures of each worker. A worker that kept
	 * reading would have made hundreds. */
	probes = atomic_load(&h.flaky->nr_failed_reads);
	assert_in_range(probes, 2, 20);
	/* And they go on (waits double up to 5 s: the next is due within
	 * 640 ms). */
	usleep(800 * 1000);
	assert_true(atomic_load(&h.flaky->nr_failed_reads) > probes);
	/* A user read of an unhydrated region fails; never zeros. */
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(lc_clone_read(h.f.clone, buf, sizeof(buf), 3 * REGION), -ETIMEDOUT);
	/* Told once, with the reason and the source. */
	assert_int_equal(nr_events(&h.ev), 1);
	assert_false(h.ev.reachable[0]);
	assert_int_equal(h.ev.err[0], -ETIMEDOUT);

	/* Back: resumes by itself within the longest wait (5 s). */
	t0 = lc_now_ns();
	atomic_store(&h.flaky->fail_with, 0);
	assert_int_equal(lc_clone_wait(h.f.clone, WAIT_MS), -EIO);
	assert_true(lc_now_ns() - t0 < 6 * LC_NSEC_PER_SEC);
	lc_clone_get_status(h.f.clone, &st);
	/* The medium error, and only it, is quarantined. */
	assert_int_equal(st.state, LC_CLONE_DEGRADED);
	assert_int_equal(st.nr_quarantined, 1);
	assert_int_equal(st.quarantined[0], BAD_REGION);
	assert_int_equal(st.nr_hydrated, st.nr_regions - 1);
	assert_int_equal(st.last_error, -EIO);
	assert_int_equal(nr_events(&h.ev), 2);
	assert_true(h.ev.reachable[1]);
	assert_int_equal(h.ev.err[1], 0);
	assert_true(h.ev.src_ok);

	/* The medium heals; resume copies the last region. */
	lc_volcache_inject(h.inner, LC_VC_READ, 0, 0, 0, 0);
	lc_clone_resume(h.f.clone);
	assert_int_equal(lc_clone_wait(h.f.clone, WAIT_MS), 0);
	assert_dst_equals_source(&h.f);
	hfix_teardown(&h);
}

/* Every transport errno counts as unreachable, not just -ETIMEDOUT. */
static void test_connection_errnos_wait(void **state)
{
	static const int errs[] = {-ENOTCONN, -ECONNREFUSED, -ECONNRESET, -EHOSTUNREACH, -EPIPE};
	struct lc_clone_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		struct hfix h;

		hfix_setup(&h, 1);
		atomic_store(&h.flaky->fail_with, errs[i]);
		lc_clone_resume(h.f.clone);
		wait_for_state(h.f.clone, LC_CLONE_WAITING_SOURCE);
		usleep(50 * 1000);
		lc_clone_get_status(h.f.clone, &st);
		assert_int_equal(st.nr_quarantined, 0);
		assert_int_equal(st.last_error, errs[i]);
		atomic_store(&h.flaky->fail_with, 0);
		assert_int_equal(lc_clone_wait(h.f.clone, WAIT_MS), 0);
		assert_dst_equals_source(&h.f);
		assert_int_equal(nr_events(&h.ev), 2);
		hfix_teardown(&h);
	}
}

/* Media errors alone: quarantined as before, no wait, nothing told. */
static void test_medium_error_quarantines_without_waiting(void **state)
{
	struct lc_clone_status st;
	struct hfix h;

	(void)state;
	hfix_setup(&h, 1);
	lc_volcache_inject(h.inner, LC_VC_READ, BAD_REGION * REGION, 512, EIO, -1);
	lc_clone_resume(h.f.clone);
	assert_int_equal(lc_clone_wait(h.f.clone, WAIT_MS), -EIO);
	lc_clone_get_status(h.f.clone, &st);
	assert_int_equal(st.state, LC_CLONE_DEGRADED);
	assert_int_equal(st.nr_quarantined, 1);
	assert_int_equal(st.quarantined[0], BAD_REGION);
	assert_int_equal(nr_events(&h.ev), 0);
	hfix_teardown(&h);
}

/* A source that answers as another device (-ESTALE: the iscsi LUN swapped
 * behind its URL) is no outage: hydration does not wait for it, it ends
 * degraded with that error and copies nothing from it. */
static void test_wrong_device_is_not_waited_for(void **state)
{
	struct lc_clone_status st;
	struct hfix h;

	(void)state;
	hfix_setup(&h, 1);
	atomic_store(&h.flaky->fail_with, -ESTALE);
	lc_clone_resume(h.f.clone);
	assert_int_equal(lc_clone_wait(h.f.clone, WAIT_MS), -EIO);
	lc_clone_get_status(h.f.clone, &st);
	assert_int_equal(st.state, LC_CLONE_DEGRADED);
	assert_int_equal(st.nr_hydrated, 0);
	assert_int_equal(st.nr_quarantined, st.nr_regions);
	assert_int_equal(st.last_error, -ESTALE);
	assert_int_equal(nr_events(&h.ev), 0);
	hfix_teardown(&h);
}

/*
 * A full destination: every hydration write fails. Hydration marks and
 * quarantines nothing, says why, and tries again after waits that double
 * (5, 10, 20... ms here), not every retry_delay_ms per worker; once space is
 * back it completes by itself.
 */
static void test_destination_failures_back_off(void **state)
{
	struct lc_clone_status st;
	unsigned tries;
	struct hfix h;

	(void)state;
	hfix_setup(&h, 5);
	atomic_store(&h.dst_flaky->write_fail_with, -ENOSPC);
	lc_clone_resume(h.f.clone);
	usleep(600 * 1000);
	lc_clone_get_status(h.f.clone, &st);
	assert_int_equal(st.state, LC_CLONE_HYDRATING);
	assert_int_equal(st.nr_hydrated, 0);
	assert_int_equal(st.nr_quarantined, 0);
	assert_int_equal(st.last_error, -ENOSPC);
	/* Waits of 5 + 10 + ... + 320 ms fill 600 ms: about 7 rounds of at
	 * most two batches per worker (one written, one read ahead). A fixed
	 * 5 ms pause per worker would have made about 240. */
	tries = atomic_load(&h.dst_flaky->nr_failed_writes);
	assert_in_range(tries, 2, 40);
	/* The source was not blamed. */
	assert_int_equal(nr_events(&h.ev), 0);

	/* Space is freed: it completes without being told (next try within
	 * the longest wait, 5 s). */
	atomic_store(&h.dst_flaky->write_fail_with, 0);
	assert_int_equal(lc_clone_wait(h.f.clone, WAIT_MS), 0);
	assert_dst_equals_source(&h.f);
	hfix_teardown(&h);
}

/* Resume cuts a destination's wait short, as it does a source's. */
static void test_resume_retries_destination_at_once(void **state)
{
	struct hfix h;

	(void)state;
	hfix_setup(&h, 3000); /* a long first wait: only resume can cut it */
	atomic_store(&h.dst_flaky->write_fail_with, -EIO);
	lc_clone_resume(h.f.clone);
	while (atomic_load(&h.dst_flaky->nr_failed_writes) == 0)
		usleep(1000);
	atomic_store(&h.dst_flaky->write_fail_with, 0);
	assert_int_equal(lc_clone_wait(h.f.clone, 500), -ETIMEDOUT);
	lc_clone_resume(h.f.clone);
	assert_int_equal(lc_clone_wait(h.f.clone, 2000), 0);
	assert_dst_equals_source(&h.f);
	hfix_teardown(&h);
}

/* Paused while waiting: paused wins in status; resume probes at once. */
static void test_pause_while_waiting(void **state)
{
	struct lc_clone_status st;
	struct hfix h;

	(void)state;
	hfix_setup(&h, 2000); /* a long first wait: only resume can cut it */
	atomic_store(&h.flaky->fail_with, -ETIMEDOUT);
	lc_clone_resume(h.f.clone);
	wait_for_state(h.f.clone, LC_CLONE_WAITING_SOURCE);
	lc_clone_pause(h.f.clone);
	lc_clone_get_status(h.f.clone, &st);
	assert_int_equal(st.state, LC_CLONE_PAUSED);
	atomic_store(&h.flaky->fail_with, 0);
	lc_clone_resume(h.f.clone);
	assert_int_equal(lc_clone_wait(h.f.clone, 1500), 0);
	assert_dst_equals_source(&h.f);
	hfix_teardown(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unreachable_source_waits_then_resumes),
	    cmocka_unit_test(test_connection_errnos_wait),
	    cmocka_unit_test(test_medium_error_quarantines_without_waiting),
	    cmocka_unit_test(test_wrong_device_is_not_waited_for),
	    cmocka_unit_test(test_pause_while_waiting),
	    cmocka_unit_test(test_destination_failures_back_off),
	    cmocka_unit_test(test_resume_retries_destination_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
