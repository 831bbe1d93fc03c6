/* SPDX-License-Identifier: MIT */
/*
 * Crash-consistency replay: proves the seed rule ("flush destination, then
 * write the bitmap, then make metadata durable") by cutting the power at every
 * point of a recorded run, and proves the replay would notice if the order
 * were reversed (built a second time against LC_META_MUTATE_REVERSED_COMMIT,
 * run with --expect-violations).
 *
 * Run. A clone of a read-only source S (a memory image, every sector stamped
 * "SRC" + sector number + filler) onto a destination D and a metadata device M,
 * both volatile-cache models (lc_volcache) sharing one recorder. The recorder
 * appends every write, flush and discard that reaches either cache to one log,
 * under one mutex, in one total order. The workload (seeded, single thread;
 * hydration workers and periodic commits run beside it) adds its own marks to
 * the same log under the same mutex:
 *
 *     WRITE_ISSUED(w)   before lc_clone_write/lc_clone_discard of write w
 *     DURABLE(<= w)     after lc_clone_flush returned: every write issued
 *                       (hence completed) before it must survive any crash
 *     DURABLE(w)        after the FUA write w returned
 *
 * Every sector written by write w holds "WRT" + w + sector number + filler; a
 * discard is a write of zeros. D starts filled with "GRB" sectors, so anything
 * read back decodes to source | write w | zeros | garbage.
 *
 * Replay. For each prefix k of the log (0..L) the device operations of entries
 * [0, k) are applied to running copies of D and M, built from their images at
 * the start of recording. Each copy is cloned once per variant and power-cut
 * (lc_volcache_power_cut) keeping none, all, random sectors, random whole
 * writes or the oldest writes of what was pending, D and M chosen
 * independently. Each (k, variant) is a crash point: M' is opened read-only,
 * a clone is opened on (fresh S, D', M') with no workers, every sector is
 * read through lc_clone_read and checked against the model:
 *
 *     d = newest write to s made durable by a mark before k
 *     acceptable = { d } + { writes to s after d issued before k }
 *     no such d:   { source(s) } + { writes to s issued before k }
 *
 * Anything else (a stale value, garbage from D, zeros not written) is a
 * violation; so is a store that does not open. Output ends with
 * "crash points: N, violations: V" (V counts crash points with at least one
 * bad sector). Exit 0 iff V == 0 and N >= 10000; with --expect-violations,
 * iff V > 0 (the replay caught the mutant).
 *
 * Besides, the workload reads the whole clone now and then and checks it
 * against the newest write of each sector ("live mismatches"): the model must
 * agree with the running clone before its crash states mean anything.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lunclone/lunclone.h>

/* Geometry: a partial last region (5 sectors), a destination a bit larger. */
#define SECTOR LC_SECTOR_SIZE
#define REGION_SIZE 4096u
#define SECTORS_PER_REGION (REGION_SIZE / SECTOR)
#define NR_REGIONS 64u
#define LAST_REGION_SECTORS 5u
#define SOURCE_SECTORS ((NR_REGIONS - 1) * SECTORS_PER_REGION + LAST_REGION_SECTORS)
#define SOURCE_SIZE ((uint64_t)SOURCE_SECTORS * SECTOR)
#define DEST_SIZE ((uint64_t)(NR_REGIONS + 2) * REGION_SIZE)

#define DEFAULT_SEED 3u /* 2 workers, batch 2, commits every 5 ms, copy-on-read */
#define DEFAULT_STEPS 400u
#define LIVE_CHECK_EVERY 40u
#define TARGET_CRASH_POINTS 12000u
#define MIN_CRASH_POINTS 10000u
#define MIN_VARIANTS 6u
#define MAX_VARIANTS 24u
#define MAX_REPORTED 8u
#define EXCERPT_ENTRIES 16u

/* --- deterministic patterns ---------------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t s = a;

	s = splitmix64(&s) ^ b;
	s = splitmix64(&s) ^ c;
	return splitmix64(&s);
}

static uint64_t rng_below(uint64_t *rng, uint64_t n)
{
	return n ? splitmix64(rng) % n : 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static const uint8_t MAGIC_SRC[4] = {'S', 'R', 'C', 0};
static const uint8_t MAGIC_WRT[4] = {'W', 'R', 'T', 0};
static const uint8_t MAGIC_GRB[4] = {'G', 'R', 'B', 0};

/* Header {magic, write_id, sector_nr} (little-endian), then filler. */
static void fill_sector(uint8_t *buf, const uint8_t magic[4], uint32_t write_id, uint64_t sector_nr)
{
	uint64_t state = hash3(get_le32(magic), write_id, sector_nr);

	memcpy(buf, magic, 4);
	put_le32(buf + 4, write_id);
	put_le64(buf + 8, sector_nr);
	for (unsigned i = 16; i < SECTOR; i += 8)
		put_le64(buf + i, splitmix64(&state));
}

/* --- the log --------------------------------------------------------------- */

enum entry_kind {
	ENTRY_OP,	    /* a device operation, as the recorder saw it */
	ENTRY_WRITE_ISSUED, /* the workload is about to submit write_id */
	ENTRY_DURABLE,	    /* a flush (upto) or a FUA write returned */
};

enum dev {
	DEV_DST,
	DEV_META,
};

struct entry {
	enum entry_kind kind;
	enum dev dev;		/* ENTRY_OP */
	enum lc_volcache_op op; /* ENTRY_OP */
	uint64_t offset_bytes;	/* ENTRY_OP */
	uint64_t len_bytes;	/* ENTRY_OP */
	uint8_t *data;		/* ENTRY_OP write: a copy, owned */
	uint32_t write_id;	/* ENTRY_WRITE_ISSUED, ENTRY_DURABLE */
	bool upto;		/* ENTRY_DURABLE: every id <= write_id (flush), else only it */
};

struct crash_log {
	/*
	 * Serialises the recorder (called under D's or M's own lock, possibly
	 * from hydration threads) and the workload's marks: one total order.
	 * Lock order: a device's lock, then this one.
	 */
	pthread_mutex_t lock;
	struct entry *entries; /* protected by lock */
	size_t nr_entries;     /* protected by lock */
	size_t cap_entries;    /* protected by lock */
	bool failed;	       /* allocation failed, or unknown device; protected by lock */
	/* Set before recording starts, then read-only. */
	const struct lc_backend *dst;
	const struct lc_backend *mdev;
};

static struct entry *log_append_locked(struct crash_log *log)
{
	if (log->nr_entries == log->cap_entries) {
		size_t cap = log->cap_entries ? 2 * log->cap_entries : 1024;
		struct entry *e = realloc(log->entries, cap * sizeof(*e));

		if (!e) {
			log->failed = true;
			return NULL;
		}
		log->entries = e;
		log->cap_entries = cap;
	}
	return memset(&log->entries[log->nr_entries++], 0, sizeof(struct entry));
}

/* The volcache recorder: runs under the device's lock, so only copy. */
static void log_record(void *opaque, struct lc_backend *be, enum lc_volcache_op op,
		       uint64_t offset_bytes, const void *data, uint64_t len_bytes)
{
	struct crash_log *log = opaque;
	uint8_t *copy = NULL;
	struct entry *e;

	if (op == LC_VC_READ)
		return;
	if (op == LC_VC_WRITE && data) {
		copy = malloc(len_bytes ? len_bytes : 1);
		if (copy)
			memcpy(copy, data, len_bytes);
	}

	pthread_mutex_lock(&log->lock);
	e = log_append_locked(log);
	if (!e || (op == LC_VC_WRITE && data && !copy)) {
		log->failed = true;
		pthread_mutex_unlock(&log->lock);
		free(copy);
		return;
	}
	if (be != log->dst && be != log->mdev)
		log->failed = true; /* a device nobody asked to record */
	e->kind = ENTRY_OP;
	e->dev = be == log->dst ? DEV_DST : DEV_META;
	e->op = op;
	e->offset_bytes = offset_bytes;
	e->len_bytes = len_bytes;
	e->data = copy;
	pthread_mutex_unlock(&log->lock);
}

/* Appends a workload mark; returns its position in the log. */
static size_t log_mark(struct crash_log *log, enum entry_kind kind, uint32_t write_id, bool upto)
{
	struct entry *e;
	size_t pos;

	pthread_mutex_lock(&log->lock);
	pos = log->nr_entries;
	e = log_append_locked(log);
	if (e) {
		e->kind = kind;
		e->write_id = write_id;
		e->upto = upto;
	}
	pthread_mutex_unlock(&log->lock);
	return pos;
}

/* --- a read-only memory source --------------------------------------------- */

struct mem_backend {
	struct lc_backend be; /* first member */
	const uint8_t *image; /* borrowed, immutable */
};

static int mem_pread(struct lc_backend *be, void *buf, size_t len, uint64_t offset_bytes)
{
	const struct mem_backend *m = (const struct mem_backend *)be;

	if (offset_bytes > be->size_bytes || len > be->size_bytes - offset_bytes)
		return -EIO;
	memcpy(buf, m->image + offset_bytes, len);
	return 0;
}

static int mem_pwrite(struct lc_backend *be, const void *buf, size_t len, uint64_t offset_bytes)
{
	return -EROFS;
}

static int mem_flush(struct lc_backend *be)
{
	return 0;
}

static void mem_close(struct lc_backend *be)
{
	if (!be)
		return;
	free(be->uri);
	free(be);
}

static const struct lc_backend_ops mem_ops = {
    .name = "mem",
    .pread = mem_pread,
    .pwrite = mem_pwrite,
    .flush = mem_flush,
    .close = mem_close,
};

static int mem_backend_new(const uint8_t *image, uint64_t size_bytes, struct lc_backend **ret_be)
{
	struct mem_backend *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->be.uri = strdup("mem:source");
	if (!m->be.uri) {
		free(m);
		return -ENOMEM;
	}
	m->be.ops = &mem_ops;
	m->be.size_bytes = size_bytes;
	m->be.logical_block_size = SECTOR;
	m->be.read_only = true;
	m->image = image;
	*ret_be = &m->be;
	return 0;
}

/* --- the model --------------------------------------------------------------- */

struct model_write {
	uint64_t first_sector;
	uint64_t nr_sectors;
	bool discard; /* a write of zeros */
	bool fua;
	uint8_t *data;	    /* what was written; NULL for a discard */
	size_t issue_pos;   /* log position of its WRITE_ISSUED mark */
	size_t durable_pos; /* of the first DURABLE mark covering it; SIZE_MAX: none */
};

struct harness {
	uint64_t seed;
	unsigned nr_steps;
	bool expect_violations;
	bool verbose;

	uint8_t *source;      /* SOURCE_SIZE bytes, "SRC" sectors */
	uint8_t *dst_initial; /* DEST_SIZE bytes, "GRB" sectors */
	uint64_t meta_size;
	struct lc_backend *meta_initial; /* M as formatted, before recording */
	struct crash_log log;

	struct model_write *writes; /* index = write id; [0] unused */
	size_t nr_writes;	    /* including [0] */
	size_t cap_writes;
	uint32_t latest[SOURCE_SECTORS];	 /* newest write id per sector; 0 = source */
	uint32_t *sector_writes[SOURCE_SECTORS]; /* ids writing each sector, ascending */
	size_t sector_nr_writes[SOURCE_SECTORS];

	/* Counters. */
	unsigned nr_user_writes, nr_fua, nr_discards, nr_flushes, nr_hydrate_runs, nr_reads;
	unsigned hydrated_at_step; /* first step after which all were hydrated; 0 = none */
	uint64_t live_mismatches;
	uint64_t crash_points, violations, bad_sectors, open_failures;
	uint64_t nr_reopened; /* crash states cut, reopened and read */
	unsigned nr_variants;
	unsigned reported;
};

static uint64_t region_first_sector(uint64_t region_nr)
{
	return region_nr * SECTORS_PER_REGION;
}

static uint64_t region_nr_sectors(uint64_t region_nr)
{
	return region_nr == NR_REGIONS - 1 ? LAST_REGION_SECTORS : SECTORS_PER_REGION;
}

/* Allocates the next write id and its model entry (data generated). */
static int model_new_write(struct harness *h, uint64_t first_sector, uint64_t nr_sectors,
			   bool discard, bool fua, uint32_t *ret_id)
{
	struct model_write *w;
	uint32_t id;

	if (h->nr_writes == h->cap_writes) {
		size_t cap = h->cap_writes ? 2 * h->cap_writes : 256;
		struct model_write *n = realloc(h->writes, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		h->writes = n;
		h->cap_writes = cap;
	}
	if (h->nr_writes == 0)
		memset(&h->writes[h->nr_writes++], 0, sizeof(*w));

	id = (uint32_t)h->nr_writes;
	w = &h->writes[id];
	memset(w, 0, sizeof(*w));
	w->first_sector = first_sector;
	w->nr_sectors = nr_sectors;
	w->discard = discard;
	w->fua = fua;
	w->durable_pos = SIZE_MAX;
	if (!discard) {
		w->data = malloc(nr_sectors * SECTOR);
		if (!w->data)
			return -ENOMEM;
		for (uint64_t i = 0; i < nr_sectors; i++)
			fill_sector(w->data + i * SECTOR, MAGIC_WRT, id, first_sector + i);
	}
	h->nr_writes++;
	*ret_id = id;
	return 0;
}

static void model_free(struct harness *h)
{
	for (size_t i = 1; i < h->nr_writes; i++)
		free(h->writes[i].data);
	free(h->writes);
	for (size_t s = 0; s < SOURCE_SECTORS; s++)
		free(h->sector_writes[s]);
	for (size_t i = 0; i < h->log.nr_entries; i++)
		free(h->log.entries[i].data);
	free(h->log.entries);
}

/* After the run: per-sector write lists and the durable position of each write. */
static int model_finish(struct harness *h)
{
	for (size_t id = 1; id < h->nr_writes; id++) {
		const struct model_write *w = &h->writes[id];

		for (uint64_t s = w->first_sector; s < w->first_sector + w->nr_sectors; s++) {
			uint32_t *n =
			    realloc(h->sector_writes[s], (h->sector_nr_writes[s] + 1) * sizeof(*n));

			if (!n)
				return -ENOMEM;
			n[h->sector_nr_writes[s]++] = (uint32_t)id;
			h->sector_writes[s] = n;
		}
	}
	for (size_t pos = 0; pos < h->log.nr_entries; pos++) {
		const struct entry *e = &h->log.entries[pos];

		if (e->kind != ENTRY_DURABLE)
			continue;
		for (uint32_t id = e->upto ? 1 : e->write_id; id <= e->write_id; id++) {
			if (h->writes[id].durable_pos == SIZE_MAX)
				h->writes[id].durable_pos = pos;
		}
	}
	return 0;
}

/* --- decoding what was read ---------------------------------------------------- */

enum found_kind {
	FOUND_SOURCE,
	FOUND_WRITE,
	FOUND_ZERO,
	FOUND_GARBAGE,
};

struct found {
	enum found_kind kind;
	uint32_t write_id; /* FOUND_WRITE */
};

static const uint8_t zero_sector[SECTOR];

static struct found decode_sector(const struct harness *h, const uint8_t *buf, uint64_t s)
{
	struct found f = {.kind = FOUND_GARBAGE};

	if (!memcmp(buf, h->source + s * SECTOR, SECTOR)) {
		f.kind = FOUND_SOURCE;
	} else if (!memcmp(buf, zero_sector, SECTOR)) {
		f.kind = FOUND_ZERO;
	} else if (!memcmp(buf, MAGIC_WRT, 4) && get_le64(buf + 8) == s) {
		uint32_t id = get_le32(buf + 4);
		const struct model_write *w = id && id < h->nr_writes ? &h->writes[id] : NULL;

		if (w && w->data && s >= w->first_sector && s < w->first_sector + w->nr_sectors &&
		    !memcmp(buf, w->data + (s - w->first_sector) * SECTOR, SECTOR)) {
			f.kind = FOUND_WRITE;
			f.write_id = id;
		}
	}
	return f;
}

static void describe_sector(char *out, size_t size, const uint8_t *buf, uint64_t s)
{
	if (!memcmp(buf, MAGIC_SRC, 4) || !memcmp(buf, MAGIC_WRT, 4) || !memcmp(buf, MAGIC_GRB, 4))
		snprintf(out, size, "%.3s id=%" PRIu32 " sector=%" PRIu64 "%s", (const char *)buf,
			 get_le32(buf + 4), get_le64(buf + 8),
			 get_le64(buf + 8) == s ? "" : " (misplaced)");
	else if (!memcmp(buf, zero_sector, SECTOR))
		snprintf(out, size, "zeros");
	else
		snprintf(out, size, "unrecognised (%02x %02x %02x %02x ...)", buf[0], buf[1],
			 buf[2], buf[3]);
}

static void describe_entry(char *out, size_t size, const struct entry *e)
{
	static const char *const op_names[] = {
	    [LC_VC_READ] = "read",
	    [LC_VC_WRITE] = "write",
	    [LC_VC_FLUSH] = "flush",
	    [LC_VC_DISCARD] = "discard",
	};
	char what[96] = "";

	switch (e->kind) {
	case ENTRY_WRITE_ISSUED:
		snprintf(out, size, "WRITE_ISSUED w%" PRIu32, e->write_id);
		return;
	case ENTRY_DURABLE:
		snprintf(out, size, "DURABLE %s w%" PRIu32, e->upto ? "<=" : "only", e->write_id);
		return;
	case ENTRY_OP:
		break;
	}
	if (e->op == LC_VC_FLUSH) {
		snprintf(out, size, "%s flush", e->dev == DEV_DST ? "D" : "M");
		return;
	}
	if (e->op == LC_VC_WRITE && e->data && e->dev == DEV_DST && e->len_bytes >= SECTOR)
		describe_sector(what, sizeof(what), e->data, e->offset_bytes / SECTOR);
	snprintf(out, size, "%s %s sectors [%" PRIu64 ", %" PRIu64 ")%s%s",
		 e->dev == DEV_DST ? "D" : "M", op_names[e->op], e->offset_bytes / SECTOR,
		 (e->offset_bytes + e->len_bytes) / SECTOR, what[0] ? " first: " : "", what);
}

/* --- the workload ---------------------------------------------------------------- */

struct run {
	struct harness *h;
	struct lc_clone *clone;
	const struct lc_meta *meta; /* owned by clone; for picking regions only */
	uint64_t rng;
	uint8_t *buf; /* SOURCE_SIZE */
};

static int fail(const char *what, int r)
{
	fprintf(stderr, "crash: %s failed: %s\n", what, strerror(-r));
	return r;
}

static int do_write(struct run *run, uint64_t first_sector, uint64_t nr_sectors, bool fua)
{
	struct harness *h = run->h;
	uint32_t id;
	size_t pos;
	int r;

	if (first_sector + nr_sectors > SOURCE_SECTORS)
		nr_sectors = SOURCE_SECTORS - first_sector;
	r = model_new_write(h, first_sector, nr_sectors, false, fua, &id);
	if (r < 0)
		return fail("model", r);
	pos = log_mark(&h->log, ENTRY_WRITE_ISSUED, id, false);
	h->writes[id].issue_pos = pos;
	r = lc_clone_write(run->clone, h->writes[id].data, nr_sectors * SECTOR,
			   first_sector * SECTOR, fua ? LC_IO_FUA : 0);
	if (r < 0)
		return fail("lc_clone_write", r);
	if (fua) {
		(void)log_mark(&h->log, ENTRY_DURABLE, id, false);
		h->nr_fua++;
	}
	for (uint64_t s = first_sector; s < first_sector + nr_sectors; s++)
		h->latest[s] = id;
	h->nr_user_writes++;
	return 0;
}

static int do_discard(struct run *run, uint64_t first_region, uint64_t nr_regions)
{
	struct harness *h = run->h;
	uint64_t first_sector = region_first_sector(first_region);
	uint64_t nr_sectors = nr_regions * SECTORS_PER_REGION;
	uint32_t id;
	int r;

	r = model_new_write(h, first_sector, nr_sectors, true, false, &id);
	if (r < 0)
		return fail("model", r);
	h->writes[id].issue_pos = log_mark(&h->log, ENTRY_WRITE_ISSUED, id, false);
	r = lc_clone_discard(run->clone, first_sector * SECTOR, nr_sectors * SECTOR);
	if (r < 0)
		return fail("lc_clone_discard", r);
	for (uint64_t s = first_sector; s < first_sector + nr_sectors; s++)
		h->latest[s] = id;
	h->nr_discards++;
	return 0;
}

static int do_flush(struct run *run)
{
	struct harness *h = run->h;
	int r;

	r = lc_clone_flush(run->clone);
	if (r < 0)
		return fail("lc_clone_flush", r);
	/* Single-threaded workload: every write issued so far has completed. */
	(void)log_mark(&h->log, ENTRY_DURABLE, (uint32_t)(h->nr_writes ? h->nr_writes - 1 : 0),
		       true);
	h->nr_flushes++;
	return 0;
}

static void sleep_us(unsigned us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};

	(void)nanosleep(&ts, NULL);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Lets the workers hydrate a few more regions (or run out of time), then pauses. */
static int do_hydrate(struct run *run, unsigned max_us)
{
	struct lc_clone_status st;
	uint64_t target, deadline;

	lc_clone_get_status(run->clone, &st);
	if (st.last_error)
		return fail("hydration (status)", st.last_error);
	if (st.nr_hydrated >= st.nr_regions)
		return 0;
	target = st.nr_hydrated + 1;
	deadline = now_us() + max_us;
	lc_clone_resume(run->clone);
	do {
		sleep_us(200);
		lc_clone_get_status(run->clone, &st);
	} while (st.nr_hydrated < target && now_us() < deadline);
	lc_clone_pause(run->clone);
	run->h->nr_hydrate_runs++;
	/* Sometimes give a periodic commit the chance to run while paused. */
	if (rng_below(&run->rng, 2))
		sleep_us((unsigned)(1000 + rng_below(&run->rng, 4000)));
	return 0;
}

/* Reads sectors [first, first + nr) of the running clone and checks them
 * against the newest writes. */
static int live_check(struct run *run, uint64_t first_sector, uint64_t nr_sectors)
{
	struct harness *h = run->h;
	char found[96];
	int r;

	if (first_sector + nr_sectors > SOURCE_SECTORS)
		nr_sectors = SOURCE_SECTORS - first_sector;
	r = lc_clone_read(run->clone, run->buf, nr_sectors * SECTOR, first_sector * SECTOR);
	if (r < 0)
		return fail("lc_clone_read (live)", r);
	for (uint64_t i = 0; i < nr_sectors; i++) {
		const uint8_t *got = run->buf + i * SECTOR;
		uint64_t s = first_sector + i;
		uint32_t id = h->latest[s];
		const uint8_t *want =
		    !id ? h->source + s * SECTOR
		    : h->writes[id].discard
			? zero_sector
			: h->writes[id].data + (s - h->writes[id].first_sector) * SECTOR;

		if (!memcmp(got, want, SECTOR))
			continue;
		if (h->live_mismatches++ < MAX_REPORTED) {
			describe_sector(found, sizeof(found), got, s);
			printf("live mismatch: sector %" PRIu64 ": expected %s%" PRIu32
			       ", found %s\n",
			       s,
			       !id		       ? "source"
			       : h->writes[id].discard ? "discard w"
						       : "write w",
			       id, found);
		}
	}
	h->nr_reads++;
	return 0;
}

/* A random region in the state asked for; any region when none is. */
static uint64_t pick_region(struct run *run, bool want_hydrated)
{
	uint64_t start = rng_below(&run->rng, NR_REGIONS);

	for (uint64_t i = 0; i < NR_REGIONS; i++) {
		uint64_t r = (start + i) % NR_REGIONS;

		if (lc_meta_is_hydrated(run->meta, r) == want_hydrated)
			return r;
	}
	return start;
}

/*
 * One step. The mix keeps unhydrated regions around for most of the run
 * (hydration and copy-on-write interleaving with commits is where the order
 * matters), while most writes land on hydrated regions, in D's cache.
 */
static int workload_step(struct run *run)
{
	uint64_t roll = rng_below(&run->rng, 100);
	bool fua = rng_below(&run->rng, 100) < 12;
	uint64_t region, first, nr, n;

	if (roll < 12) {
		/* Partial-region write, often to a region not hydrated yet. */
		region = pick_region(run, rng_below(&run->rng, 100) >= 25);
		n = region_nr_sectors(region);
		nr = 1 + rng_below(&run->rng, n > 1 ? n - 1 : 1);
		first = region_first_sector(region) + rng_below(&run->rng, n - nr + 1);
		return do_write(run, first, nr, fua);
	}
	if (roll < 17) {
		region = pick_region(run, rng_below(&run->rng, 100) >= 25);
		return do_write(run, region_first_sector(region), region_nr_sectors(region), fua);
	}
	if (roll < 25) {
		/* Multi-region, unaligned, mostly starting on a hydrated region. */
		region = pick_region(run, rng_below(&run->rng, 100) >= 10);
		first = region_first_sector(region) + rng_below(&run->rng, SECTORS_PER_REGION);
		if (first >= SOURCE_SECTORS)
			first = SOURCE_SECTORS - 1;
		nr = SECTORS_PER_REGION + 1 + rng_below(&run->rng, 2 * SECTORS_PER_REGION);
		return do_write(run, first, nr, fua);
	}
	if (roll < 37)
		return do_flush(run);
	if (roll < 41) {
		/* Whole regions only, never the partial last one. */
		region = pick_region(run, rng_below(&run->rng, 100) >= 25);
		if (region >= NR_REGIONS - 1)
			region = NR_REGIONS - 2;
		nr = 1 + rng_below(&run->rng, 2);
		if (region + nr > NR_REGIONS - 1)
			nr = NR_REGIONS - 1 - region;
		return do_discard(run, region, nr);
	}
	if (roll < 48)
		return do_hydrate(run, 20000);
	if (roll < 52) {
		/* A read, unaligned, up to two regions (with copy-on-read: a copy). */
		region = pick_region(run, rng_below(&run->rng, 100) >= 60);
		first = region_first_sector(region) + rng_below(&run->rng, SECTORS_PER_REGION);
		if (first >= SOURCE_SECTORS)
			first = SOURCE_SECTORS - 1;
		return live_check(run, first, 1 + rng_below(&run->rng, 2 * SECTORS_PER_REGION));
	}
	/* Write inside a hydrated region (over the destination's cache). */
	region = pick_region(run, true);
	n = region_nr_sectors(region);
	nr = 1 + rng_below(&run->rng, roll < 75 ? 3 : n);
	if (nr > n)
		nr = n;
	first = region_first_sector(region) + rng_below(&run->rng, n - nr + 1);
	return do_write(run, first, nr, fua);
}

static int run_workload(struct harness *h)
{
	struct lc_backend *dst = NULL, *mdev = NULL, *src = NULL;
	struct lc_meta_params params = {
	    .region_size_bytes = REGION_SIZE,
	    .source_size_bytes = SOURCE_SIZE,
	    .dest_size_bytes = DEST_SIZE,
	};
	struct lc_clone_config cfg;
	struct lc_clone_status st;
	struct lc_err err = {.msg = ""};
	struct lc_meta *meta = NULL;
	struct run run = {.h = h, .rng = h->seed};
	int r;

	run.buf = malloc(SOURCE_SIZE);
	if (!run.buf)
		return fail("malloc", -ENOMEM);

	h->meta_size = lc_meta_required_size(REGION_SIZE, SOURCE_SIZE);
	h->meta_size =
	    (h->meta_size + LC_META_BLOCK_SIZE - 1) / LC_META_BLOCK_SIZE * LC_META_BLOCK_SIZE;
	r = lc_volcache_new("meta", h->meta_size, NULL, &mdev);
	if (r < 0)
		goto out;
	r = lc_meta_format(mdev, &params, &err);
	if (r < 0) {
		fprintf(stderr, "crash: lc_meta_format: %s\n", err.msg);
		goto out;
	}
	/* The state recording starts from; the replay's M grows from it. */
	r = lc_volcache_clone(mdev, &h->meta_initial);
	if (r < 0)
		goto out;
	r = lc_volcache_new("dest", DEST_SIZE, h->dst_initial, &dst);
	if (r < 0)
		goto out;
	r = mem_backend_new(h->source, SOURCE_SIZE, &src);
	if (r < 0)
		goto out;

	h->log.dst = dst;
	h->log.mdev = mdev;
	lc_volcache_set_recorder(dst, log_record, &h->log);
	lc_volcache_set_recorder(mdev, log_record, &h->log);

	r = lc_meta_open(mdev, dst, &params, 0, &meta, &err);
	if (r < 0) {
		fprintf(stderr, "crash: lc_meta_open: %s\n", err.msg);
		goto out;
	}
	run.meta = meta;

	lc_clone_config_default(&cfg);
	cfg.nr_workers = 1 + (unsigned)rng_below(&run.rng, 2);
	cfg.batch_regions = 1 + (uint32_t)rng_below(&run.rng, 4);
	cfg.max_inflight_regions = 2 * cfg.nr_workers * cfg.batch_regions;
	cfg.rate_limit_bytes = 2u << 20; /* ~2 ms a region: commits interleave */
	cfg.yield_to_user_io = false;
	cfg.copy_on_read = rng_below(&run.rng, 2);
	cfg.start_paused = true;
	cfg.commit_interval_ms = 2 + (unsigned)rng_below(&run.rng, 4);

	/* From here on the clone owns src, dst and meta (not mdev). */
	r = lc_clone_open(src, dst, meta, &cfg, &run.clone, &err);
	src = NULL;
	dst = NULL;
	meta = NULL;
	if (r < 0) {
		fprintf(stderr, "crash: lc_clone_open: %s\n", err.msg);
		goto out;
	}
	printf("workload: seed %" PRIu64 ", %u steps, %u workers, batch %" PRIu32
	       ", commit every %u ms, copy-on-read %s\n",
	       h->seed, h->nr_steps, cfg.nr_workers, cfg.batch_regions, cfg.commit_interval_ms,
	       cfg.copy_on_read ? "on" : "off");

	for (unsigned step = 0; step < h->nr_steps; step++) {
		r = workload_step(&run);
		if (r < 0)
			goto out_close;
		if (!h->hydrated_at_step && lc_meta_nr_hydrated(run.meta) == NR_REGIONS)
			h->hydrated_at_step = step + 1;
		/* A whole read would copy every region with copy-on-read. */
		if (!cfg.copy_on_read && step % LIVE_CHECK_EVERY == LIVE_CHECK_EVERY - 1) {
			r = live_check(&run, 0, SOURCE_SECTORS);
			if (r < 0)
				goto out_close;
		}
	}

	/* Hydrate the rest, then I/O goes straight to the destination. */
	lc_clone_resume(run.clone);
	r = lc_clone_wait(run.clone, 30000);
	if (r < 0) {
		(void)fail("lc_clone_wait", r);
		goto out_close;
	}
	for (unsigned i = 0; i < 6; i++) {
		r = workload_step(&run);
		if (r < 0)
			goto out_close;
	}
	r = do_write(&run, rng_below(&run.rng, SOURCE_SECTORS), 3, true);
	if (r < 0)
		goto out_close;
	r = live_check(&run, 0, SOURCE_SECTORS);
	if (r < 0)
		goto out_close;
	lc_clone_get_status(run.clone, &st);
	printf(
	    "workload: %u writes (%u FUA), %u discards, %u flushes, %u reads, %u hydration runs, "
	    "%" PRIu64 " regions copied by workers, %" PRIu64 " commits, all hydrated after "
	    "step %u, state %s\n",
	    h->nr_user_writes, h->nr_fua, h->nr_discards, h->nr_flushes, h->nr_reads,
	    h->nr_hydrate_runs, st.bytes_hydrated / REGION_SIZE, st.commits, h->hydrated_at_step,
	    lc_clone_state_name(st.state));

out_close : {
	int rc = lc_clone_close(run.clone);

	if (rc < 0 && r >= 0) {
		r = fail("lc_clone_close", rc);
	} else if (r >= 0) {
		/* The final commit made everything durable. */
		(void)log_mark(&h->log, ENTRY_DURABLE,
			       (uint32_t)(h->nr_writes ? h->nr_writes - 1 : 0), true);
	}
}
	run.clone = NULL;
out:
	lc_meta_close(meta);
	lc_backend_close(src);
	lc_backend_close(dst);
	/* The store never owns its device: closed last, after the clone. */
	lc_backend_close(mdev);
	if (r < 0 && err.msg[0])
		fprintf(stderr, "crash: %s\n", err.msg);
	free(run.buf);
	if (h->log.failed)
		r = fail("recording", -ENOMEM);
	return r;
}

/* --- the replay ------------------------------------------------------------------ */

enum keep_kind {
	KEEP_NONE,
	KEEP_ALL,
	KEEP_RANDOM_SECTORS,
	KEEP_RANDOM_WRITES,
	KEEP_OLDEST,
};

static const char *const keep_names[] = {
    [KEEP_NONE] = "none",
    [KEEP_ALL] = "all",
    [KEEP_RANDOM_SECTORS] = "random-sectors",
    [KEEP_RANDOM_WRITES] = "random-writes",
    [KEEP_OLDEST] = "oldest",
};

struct keep {
	enum keep_kind kind;
	uint64_t seed;
	uint64_t nr_oldest; /* KEEP_OLDEST */
};

static bool keep_fn(void *opaque, uint64_t write_idx, uint64_t sector_nr)
{
	const struct keep *k = opaque;

	switch (k->kind) {
	case KEEP_NONE:
		return false;
	case KEEP_ALL:
		return true;
	case KEEP_RANDOM_SECTORS:
		return hash3(k->seed, write_idx, sector_nr) & 1;
	case KEEP_RANDOM_WRITES:
		return hash3(k->seed, write_idx, 0) & 1;
	case KEEP_OLDEST:
		return write_idx < k->nr_oldest;
	}
	return false;
}

static void power_cut(struct lc_backend *be, struct keep *k)
{
	if (k->kind == KEEP_OLDEST)
		k->nr_oldest = k->seed % (lc_volcache_nr_pending(be) + 1);
	lc_volcache_power_cut(be, k->kind == KEEP_NONE ? NULL : keep_fn, k);
}

/* Variants 0-3 are the corners (none/all on each device), then random ones. */
static void variant_keeps(const struct harness *h, size_t epoch, unsigned v, struct keep *ret_d,
			  struct keep *ret_m)
{
	static const enum keep_kind corners[4][2] = {
	    {KEEP_NONE, KEEP_NONE},
	    {KEEP_ALL, KEEP_ALL},
	    {KEEP_NONE, KEEP_ALL},
	    {KEEP_ALL, KEEP_NONE},
	};
	uint64_t x = hash3(h->seed, epoch, v);

	ret_d->seed = hash3(x, 1, 0);
	ret_m->seed = hash3(x, 2, 0);
	if (v < 4) {
		ret_d->kind = corners[v][0];
		ret_m->kind = corners[v][1];
	} else {
		ret_d->kind = KEEP_RANDOM_SECTORS + (enum keep_kind)(x % 3);
		ret_m->kind = (enum keep_kind)((x >> 8) % 5);
	}
}

static void print_excerpt(const struct harness *h, size_t k)
{
	size_t from = k > EXCERPT_ENTRIES ? k - EXCERPT_ENTRIES : 0;
	char line[192];

	printf("  log before the cut (entries %zu..%zu):\n", from, k ? k - 1 : 0);
	for (size_t i = from; i < k; i++) {
		describe_entry(line, sizeof(line), &h->log.entries[i]);
		printf("    #%zu %s\n", i, line);
	}
}

static void report_violation(struct harness *h, size_t k, unsigned v, const struct keep *kd,
			     const struct keep *km, const char *what)
{
	if (h->reported >= MAX_REPORTED)
		return;
	printf("violation: k=%zu variant=%u (D:%s M:%s): %s\n", k, v, keep_names[kd->kind],
	       keep_names[km->kind], what);
	if (h->reported++ == 0)
		print_excerpt(h, k);
}

/* Returns true when sector s, read after a cut at k, holds an acceptable value. */
static bool sector_ok(const struct harness *h, size_t k, uint64_t s, const uint8_t *buf,
		      uint32_t *ret_durable_id)
{
	const uint32_t *ids = h->sector_writes[s];
	size_t n = h->sector_nr_writes[s];
	uint32_t d = 0; /* newest durable write to s; 0 = none */
	struct found f = decode_sector(h, buf, s);

	for (size_t i = 0; i < n; i++) {
		if (h->writes[ids[i]].durable_pos < k)
			d = ids[i];
	}
	*ret_durable_id = d;
	switch (f.kind) {
	case FOUND_SOURCE:
		return d == 0;
	case FOUND_WRITE:
		return f.write_id >= d && h->writes[f.write_id].issue_pos < k;
	case FOUND_ZERO:
		for (size_t i = 0; i < n; i++) {
			const struct model_write *w = &h->writes[ids[i]];

			if (ids[i] >= d && w->discard && w->issue_pos < k)
				return true;
		}
		return false;
	case FOUND_GARBAGE:
		return false;
	}
	return false;
}

static void describe_expected(const struct harness *h, size_t k, uint64_t s, uint32_t d, char *out,
			      size_t size)
{
	size_t len = 0;

	len += (size_t)snprintf(out, size, "one of {%s", d ? "" : "source");
	for (size_t i = 0; i < h->sector_nr_writes[s] && len < size; i++) {
		uint32_t id = h->sector_writes[s][i];

		if (id < d || h->writes[id].issue_pos >= k)
			continue;
		/* With a durable write, it is the first one listed. */
		len += (size_t)snprintf(out + len, size - len, "%s%s%" PRIu32, id == d ? "" : ", ",
					h->writes[id].discard ? "discard w" : "w", id);
	}
	if (len < size && d)
		snprintf(out + len, size - len, "} (w%" PRIu32 " was made durable)", d);
	else if (len < size)
		snprintf(out + len, size - len, "} (none made durable)");
}

/*
 * What a cut of copies of D and M reads back through a reopened clone. Kept
 * per variant: a workload mark changes the model, not the devices, and the
 * cut of a variant depends only on the device operations applied (epoch), so
 * at a prefix ending in a mark each variant's state is bit for bit the one
 * just read, and is checked again against the new model without reopening.
 */
struct cut {
	struct keep kd, km;
	char error[384]; /* empty: buf holds the whole clone as read */
	uint8_t *buf;	 /* SOURCE_SIZE */
};

static int cut_and_read(struct harness *h, size_t epoch, unsigned v, struct lc_backend *d_run,
			struct lc_backend *m_run, struct cut *cut)
{
	struct lc_meta_params expect = {
	    .region_size_bytes = REGION_SIZE,
	    .source_size_bytes = SOURCE_SIZE,
	};
	struct lc_backend *d = NULL, *m = NULL, *src = NULL;
	struct lc_meta *meta = NULL;
	struct lc_clone *clone = NULL;
	struct lc_clone_config cfg;
	struct lc_err err = {.msg = ""};
	int r;

	cut->error[0] = 0;
	variant_keeps(h, epoch, v, &cut->kd, &cut->km);
	r = lc_volcache_clone(d_run, &d);
	if (r < 0)
		return fail("lc_volcache_clone", r);
	r = lc_volcache_clone(m_run, &m);
	if (r < 0) {
		lc_backend_close(d);
		return fail("lc_volcache_clone", r);
	}
	power_cut(d, &cut->kd);
	power_cut(m, &cut->km);

	r = lc_meta_open(m, NULL, &expect, LC_META_OPEN_RDONLY, &meta, &err);
	if (r < 0) {
		snprintf(cut->error, sizeof(cut->error), "metadata does not open: %s (%s)",
			 strerror(-r), err.msg);
		lc_backend_close(d);
		lc_backend_close(m);
		return 0;
	}
	r = mem_backend_new(h->source, SOURCE_SIZE, &src);
	if (r < 0) {
		lc_meta_close(meta);
		lc_backend_close(d);
		lc_backend_close(m);
		return fail("mem_backend_new", r);
	}
	lc_clone_config_default(&cfg);
	cfg.nr_workers = 0;
	cfg.start_paused = true;
	cfg.copy_on_read = false;
	cfg.commit_interval_ms = 0;
	/* Takes src, d and meta, also on failure; the store's device stays ours. */
	r = lc_clone_open(src, d, meta, &cfg, &clone, &err);
	if (r < 0) {
		snprintf(cut->error, sizeof(cut->error), "clone does not open: %s (%s)",
			 strerror(-r), err.msg);
		lc_backend_close(m);
		return 0;
	}
	r = lc_clone_read(clone, cut->buf, SOURCE_SIZE, 0);
	if (r < 0)
		snprintf(cut->error, sizeof(cut->error), "read failed: %s", strerror(-r));
	/* Read-only store: the final commit may refuse; nothing to check there. */
	(void)lc_clone_close(clone);
	lc_backend_close(m);
	return 0;
}

/* Checks one crash point (k, v) against the model. */
static void check_cut(struct harness *h, size_t k, unsigned v, const struct cut *cut)
{
	char what[512], found[96], expected[256];
	uint64_t bad = 0;

	h->crash_points++;
	if (cut->error[0]) {
		h->violations++;
		if (!strncmp(cut->error, "metadata", 8) || !strncmp(cut->error, "clone", 5))
			h->open_failures++;
		report_violation(h, k, v, &cut->kd, &cut->km, cut->error);
		return;
	}
	for (uint64_t s = 0; s < SOURCE_SECTORS; s++) {
		uint32_t d_id;

		if (sector_ok(h, k, s, cut->buf + s * SECTOR, &d_id))
			continue;
		if (bad++ == 0) {
			describe_sector(found, sizeof(found), cut->buf + s * SECTOR, s);
			describe_expected(h, k, s, d_id, expected, sizeof(expected));
			snprintf(what, sizeof(what),
				 "sector %" PRIu64 " (region %" PRIu64 "): found %s, expected %s",
				 s, s / SECTORS_PER_REGION, found, expected);
		}
	}
	if (bad) {
		h->violations++;
		h->bad_sectors += bad;
		if (h->reported < MAX_REPORTED) {
			report_violation(h, k, v, &cut->kd, &cut->km, what);
			printf("  (%" PRIu64 " bad sectors at this crash point)\n", bad);
		}
	}
}

static int apply_entry(const struct entry *e, struct lc_backend *d, struct lc_backend *m)
{
	struct lc_backend *be = e->dev == DEV_DST ? d : m;

	if (e->kind != ENTRY_OP)
		return 0;
	switch (e->op) {
	case LC_VC_WRITE:
		return lc_backend_pwrite(be, e->data, e->len_bytes, e->offset_bytes);
	case LC_VC_FLUSH:
		return lc_backend_flush(be);
	case LC_VC_DISCARD:
		return lc_backend_discard(be, e->offset_bytes, e->len_bytes);
	case LC_VC_READ:
		break;
	}
	return 0;
}

static int replay(struct harness *h)
{
	size_t nr = h->log.nr_entries, epoch = 0;
	struct lc_backend *d_run = NULL, *m_run = h->meta_initial;
	struct cut *cuts;
	int r = 0;

	h->meta_initial = NULL;
	h->nr_variants = (unsigned)((TARGET_CRASH_POINTS + nr) / (nr + 1));
	if (h->nr_variants < MIN_VARIANTS)
		h->nr_variants = MIN_VARIANTS;
	if (h->nr_variants > MAX_VARIANTS)
		h->nr_variants = MAX_VARIANTS;

	cuts = calloc(h->nr_variants, sizeof(*cuts));
	if (!cuts) {
		r = fail("calloc", -ENOMEM);
		goto out;
	}
	for (unsigned v = 0; v < h->nr_variants; v++) {
		cuts[v].buf = malloc(SOURCE_SIZE);
		if (!cuts[v].buf) {
			r = fail("malloc", -ENOMEM);
			goto out;
		}
	}
	r = lc_volcache_new("dest-replay", DEST_SIZE, h->dst_initial, &d_run);
	if (r < 0) {
		(void)fail("lc_volcache_new", r);
		goto out;
	}
	for (size_t k = 0; k <= nr; k++) {
		/* Prefix k = entries [0, k); the devices change only with an op. */
		bool devices_changed = k == 0 || h->log.entries[k - 1].kind == ENTRY_OP;

		if (k > 0 && devices_changed) {
			r = apply_entry(&h->log.entries[k - 1], d_run, m_run);
			if (r < 0) {
				(void)fail("replaying the log", r);
				goto out;
			}
			epoch++;
		}
		for (unsigned v = 0; v < h->nr_variants; v++) {
			if (devices_changed) {
				r = cut_and_read(h, epoch, v, d_run, m_run, &cuts[v]);
				if (r < 0)
					goto out;
				h->nr_reopened++;
			}
			check_cut(h, k, v, &cuts[v]);
		}
	}
out:
	for (unsigned v = 0; cuts && v < h->nr_variants; v++)
		free(cuts[v].buf);
	free(cuts);
	lc_backend_close(d_run);
	lc_backend_close(m_run);
	return r;
}

/* --- main ------------------------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *ret_value)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret_value = v;
	return 0;
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [--expect-violations] [--seed N] [--steps N] [--verbose]\n",
		argv0);
}

static int parse_args(struct harness *h, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		uint64_t v;

		if (!strcmp(argv[i], "--expect-violations")) {
			h->expect_violations = true;
		} else if (!strcmp(argv[i], "--verbose")) {
			h->verbose = true;
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			if (parse_u64(argv[++i], &h->seed) < 0)
				return -EINVAL;
		} else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
			if (parse_u64(argv[++i], &v) < 0 || v == 0 || v > 100000)
				return -EINVAL;
			h->nr_steps = (unsigned)v;
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

static void print_log_stats(const struct harness *h)
{
	size_t d_writes = 0, d_flushes = 0, d_discards = 0, m_writes = 0, m_flushes = 0;
	size_t marks = 0;

	for (size_t i = 0; i < h->log.nr_entries; i++) {
		const struct entry *e = &h->log.entries[i];

		if (e->kind != ENTRY_OP) {
			marks++;
			continue;
		}
		if (e->dev == DEV_DST) {
			d_writes += e->op == LC_VC_WRITE;
			d_flushes += e->op == LC_VC_FLUSH;
			d_discards += e->op == LC_VC_DISCARD;
		} else {
			m_writes += e->op == LC_VC_WRITE;
			m_flushes += e->op == LC_VC_FLUSH;
		}
	}
	printf("log: %zu entries: D %zu writes, %zu flushes, %zu discards; M %zu writes, "
	       "%zu flushes; %zu marks\n",
	       h->log.nr_entries, d_writes, d_flushes, d_discards, m_writes, m_flushes, marks);
	if (h->verbose) {
		char line[192];

		for (size_t i = 0; i < h->log.nr_entries; i++) {
			describe_entry(line, sizeof(line), &h->log.entries[i]);
			printf("  #%zu %s\n", i, line);
		}
	}
}

int main(int argc, char **argv)
{
	static struct harness h; /* large; zeroed */
	uint64_t t0, t1;
	bool ok;
	int r;

	h.seed = DEFAULT_SEED;
	h.nr_steps = DEFAULT_STEPS;
	if (parse_args(&h, argc, argv) < 0) {
		usage(argv[0]);
		return 2;
	}
	r = pthread_mutex_init(&h.log.lock, NULL);
	if (r) {
		fprintf(stderr, "crash: pthread_mutex_init: %s\n", strerror(r));
		return 2;
	}

	h.source = malloc(SOURCE_SIZE);
	h.dst_initial = malloc(DEST_SIZE);
	if (!h.source || !h.dst_initial) {
		r = fail("malloc", -ENOMEM);
		goto out;
	}
	for (uint64_t s = 0; s < SOURCE_SECTORS; s++)
		fill_sector(h.source + s * SECTOR, MAGIC_SRC, 0, s);
	for (uint64_t s = 0; s < DEST_SIZE / SECTOR; s++)
		fill_sector(h.dst_initial + s * SECTOR, MAGIC_GRB, 0, s);

	t0 = now_us();
	r = run_workload(&h);
	if (r < 0)
		goto out;
	t1 = now_us();
	r = model_finish(&h);
	if (r < 0) {
		(void)fail("model", r);
		goto out;
	}
	print_log_stats(&h);
	r = replay(&h);
	if (r < 0)
		goto out;
	printf("time: workload %" PRIu64 " ms, replay %" PRIu64 " ms\n", (t1 - t0) / 1000,
	       (now_us() - t1) / 1000);

	printf("variants per prefix: %u; states reopened: %" PRIu64 "; bad sectors: %" PRIu64
	       "; open failures: %" PRIu64 "; live mismatches: %" PRIu64 "\n",
	       h.nr_variants, h.nr_reopened, h.bad_sectors, h.open_failures, h.live_mismatches);
	printf("crash points: %" PRIu64 ", violations: %" PRIu64 "\n", h.crash_points,
	       h.violations);
out:
	lc_backend_close(h.meta_initial);
	model_free(&h);
	free(h.source);
	free(h.dst_initial);
	pthread_mutex_destroy(&h.log.lock);
	if (r < 0)
		return 2;
	if (h.expect_violations) {
		ok = h.violations > 0 && h.live_mismatches == 0;
		printf("%s: the reversed commit order was %s\n", ok ? "PASS" : "FAIL",
		       h.violations ? "caught" : "NOT caught");
	} else {
		ok = h.violations == 0 && h.live_mismatches == 0 &&
		     h.crash_points >= MIN_CRASH_POINTS;
		printf("%s\n", ok ? "PASS" : "FAIL");
	}
	return ok ? 0 : 1;
}
