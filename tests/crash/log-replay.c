/* SPDX-License-Identifier: MIT */
/*
 * log-replay: power cuts replayed at the block layer (e2e scenario 9).
 *
 * In the guest, the clone's destination and metadata store are two dm-linear
 * devices carved from one dm-log-writes device, so every write, flush and
 * FUA that reached either is in one ordered log; powercut-workload wrote
 * stamped data through the LUN (powercut.h) and marked the log after every
 * acknowledged fsync and FUA write. This program reads that log, written by
 * the kernel as Documentation/admin-guide/device-mapper/log-writes.rst says:
 *
 *     sector 0           super: le64 magic 0x6a736677736872, le64 version 1,
 *                        le64 nr_entries, le32 sectorsize
 *     then per entry     one sectorsize block: le64 sector, le64 nr_sectors,
 *                        le64 flags (FLUSH 1, FUA 2, DISCARD 4, MARK 8,
 *                        METADATA 16), le64 data_len, then a MARK's name;
 *                        then nr_sectors blocks of data (none for a discard)
 *
 * Writes are logged in the order they reached stable storage: a plain write
 * once a FLUSH issued after its completion completes (just before that
 * FLUSH), a FUA write when it completes, a mark when it is made. Applying
 * entries [0, k) to a zeroed device is therefore a state the disk could hold
 * after a power cut: a crash point. We take one after every FLUSH and FUA
 * entry (and after the marks right behind it: the same state, checked
 * against more promises), and one random point inside every run of plain
 * writes between them (the cache wrote back part of what it held).
 *
 * At each point the device is split by the dm-linear offsets into the
 * destination and the store, written to DIR/dest.img and DIR/meta.img, and
 *   - `lunclone check --meta DIR/meta.img --source SRC --dest DIR/dest.img`
 *     must pass, and the store must open here too (read-only); only before
 *     the workload's first write may it be absent (8 KiB of zeros: the
 *     handler formats such a store);
 *   - every sector of the clone as a reopened handler would serve it
 *     (destination where the store says hydrated, source elsewhere) must be
 *     one the initiator may see after that power cut. With d the newest
 *     write to the sector made durable by a mark before the point (an fsync
 *     mark covers every write issued before it, a FUA mark its own write)
 *     and B the write ids issued before the first mark after the point (a
 *     later write cannot have reached the log before it):
 *         acceptable = { d } + { writes w to the sector, d < w < B }
 *         no such d:   { source } + { writes w to the sector, w < B }
 *     Anything else (an older write, the source under a durable write,
 *     zeros or a copy that never landed) is a violation.
 * The store's verdict depends on its bytes only, so it is computed again
 * only when they changed.
 *
 * usage: log-replay --log LOG --source SRC --records REC
 *            --dest START,SECTORS --meta START,SECTORS  (512-byte sectors of
 *                                                       the logged device)
 *            [--lunclone PATH] [--work DIR] [--seed N] [--min-flushes N]
 *            [--expect-violations]
 * Output ends with "points: N (...), violations: V". Exit 0 iff V == 0 and
 * the log has at least --min-flushes FLUSH entries; with
 * --expect-violations, iff V > 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lunclone/lunclone.h>

#include "powercut.h"

#define LOG_MAGIC 0x6a736677736872ull
#define LOG_FLUSH 1u
#define LOG_FUA 2u
#define LOG_DISCARD 4u
#define LOG_MARK 8u
#define NO_WRITE UINT64_MAX
#define CLS_SOURCE (UINT64_MAX - 1)
#define CLS_ZEROS (UINT64_MAX - 2)
#define CLS_OTHER (UINT64_MAX - 3)
#define MAX_REPORTED 10u

struct entry {
	uint64_t sector, nr_sectors, flags; /* in the log's sectorsize */
	const uint8_t *data;		    /* in the mapped log; NULL if none */
	char mark[64];			    /* MARK: its name */
};

struct wr {
	uint64_t off, len;
};

struct replay {
	/* inputs */
	const uint8_t *log;
	size_t log_len;
	uint32_t lsec; /* the log's sectorsize */
	struct entry *ent;
	uint64_t nr_ent;
	uint8_t *src;
	uint64_t src_len, src_sectors;
	struct wr *wr;
	uint64_t nr_wr, nr_fsync_rec, nr_fua_rec;
	/* writes per source sector, ascending ids (CSR) */
	uint64_t *sec_first, *sec_ids;
	uint8_t *region_written;
	/*
	 * What the destination holds, decoded once per change: per region
	 * dirty (rewritten since decoded); per sector of a written region its
	 * class (CLS_* or a write id); per region never written, whether it
	 * equals the source.
	 */
	uint8_t *region_dirty, *region_is_src;
	uint64_t *cls;
	/* geometry of the logged device, bytes */
	uint64_t d_start, d_len, m_start, m_len;
	uint32_t region;
	uint64_t nr_regions;
	/* the rebuilt devices */
	uint8_t *dest, *meta;
	int dest_fd, meta_fd;
	char dest_path[4096], meta_path[4096];
	const char *lunclone, *src_path;
	/* promises, as of the marks applied so far */
	uint64_t durable_below; /* every write id < this is durable (fsync) */
	uint8_t *fua_durable;	/* FUA writes durable by their own mark */
	uint64_t *bound;	/* per entry index: ids issued before the next mark */
	/* the store at the current point */
	bool meta_dirty, store_opens, store_absent_ok;
	uint8_t *hydrated;
	uint64_t nr_hydrated;
	char store_why[320];
	/* counts */
	uint64_t n_writes, n_write_bytes, n_flush, n_fua, n_mark, n_discard, n_other;
	uint64_t points, flush_points, sample_points, store_states, check_runs;
	uint64_t violations, bad_sectors, reported, max_hydrated, unformatted_points;
	uint64_t partial_points, copied_only,
	    max_copied_only; /* copied_only: hydrated, never written */
};

static int fail(const char *what, int r)
{
	fprintf(stderr, "log-replay: %s: %s\n", what, strerror(-r));
	return r;
}

static uint64_t le64(const uint8_t *p)
{
	return pc_get_le64(p);
}

static int read_file(const char *path, uint8_t **ret_buf, uint64_t *ret_len)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(path, -errno);
	if (fstat(fd, &st) < 0) {
		r = fail(path, -errno);
		goto out_close;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		r = fail(path, -ENOMEM);
		goto out_close;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = fail(path, n < 0 ? -errno : -EIO);
			free(buf);
			goto out_close;
		}
		done += (size_t)n;
	}
	*ret_buf = buf;
	*ret_len = (uint64_t)st.st_size;
	r = 0;
out_close:
	close(fd);
	return r;
}

static int full_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* --- the log ---------------------------------------------------------------- */

static int parse_log(struct replay *rp)
{
	uint64_t nr, pos;

	if (rp->log_len < 28 || le64(rp->log) != LOG_MAGIC || le64(rp->log + 8) != 1) {
		fprintf(stderr, "log-replay: not a dm-log-writes log (magic/version)\n");
		return -EINVAL;
	}
	nr = le64(rp->log + 16);
	rp->lsec = (uint32_t)rp->log[24] | (uint32_t)rp->log[25] << 8 |
		   (uint32_t)rp->log[26] << 16 | (uint32_t)rp->log[27] << 24;
	if (rp->lsec < 512 || rp->lsec & (rp->lsec - 1) || nr > rp->log_len / rp->lsec) {
		fprintf(stderr, "log-replay: bad super: sectorsize %u, %" PRIu64 " entries\n",
			rp->lsec, nr);
		return -EINVAL;
	}
	rp->ent = calloc(nr ? nr : 1, sizeof(*rp->ent));
	if (!rp->ent)
		return fail("calloc", -ENOMEM);
	pos = rp->lsec;
	for (uint64_t i = 0; i < nr; i++) {
		struct entry *e = &rp->ent[i];
		const uint8_t *h = rp->log + pos;
		uint64_t dlen;

		if (pos + rp->lsec > rp->log_len) {
			fprintf(stderr, "log-replay: log truncated at entry %" PRIu64 "\n", i);
			return -EINVAL;
		}
		e->sector = le64(h);
		e->nr_sectors = le64(h + 8);
		e->flags = le64(h + 16);
		dlen = le64(h + 24);
		pos += rp->lsec;
		if (e->flags & LOG_MARK) {
			if (dlen >= sizeof(e->mark) || dlen > rp->lsec - 32) {
				fprintf(stderr, "log-replay: entry %" PRIu64 ": mark too long\n",
					i);
				return -EINVAL;
			}
			memcpy(e->mark, h + 32, dlen);
			rp->n_mark++;
			continue;
		}
		if (dlen) {
			fprintf(stderr,
				"log-replay: entry %" PRIu64 ": inline data not supported\n", i);
			return -EINVAL;
		}
		if (e->flags & LOG_DISCARD) {
			rp->n_discard++;
			continue;
		}
		if (e->nr_sectors > (rp->log_len - pos) / rp->lsec) {
			fprintf(stderr,
				"log-replay: entry %" PRIu64 ": data past the end of the log\n", i);
			return -EINVAL;
		}
		if (e->nr_sectors) {
			e->data = rp->log + pos;
			pos += e->nr_sectors * rp->lsec;
			rp->n_writes++;
			rp->n_write_bytes += e->nr_sectors * rp->lsec;
		}
		if (e->flags & LOG_FLUSH)
			rp->n_flush++;
		if (e->flags & LOG_FUA)
			rp->n_fua++;
		if (!e->nr_sectors && !(e->flags & (LOG_FLUSH | LOG_FUA)))
			rp->n_other++;
	}
	rp->nr_ent = nr;
	return 0;
}

/* --- the records ------------------------------------------------------------- */

static int parse_records(struct replay *rp, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[256];
	size_t cap = 0;
	int r = 0;

	if (!f)
		return fail(path, -errno);
	while (fgets(line, sizeof(line), f)) {
		uint64_t a, b, c;
		int fua;

		if (line[0] == 'W') {
			if (sscanf(line, "W %" SCNu64 " %" SCNu64 " %" SCNu64 " %d", &a, &b, &c,
				   &fua) != 4 ||
			    a != rp->nr_wr || b % PC_SECTOR || c % PC_SECTOR || !c ||
			    b + c > rp->src_len) {
				fprintf(stderr, "log-replay: %s: bad line: %s", path, line);
				r = -EINVAL;
				break;
			}
			if (rp->nr_wr == cap) {
				struct wr *n;

				cap = cap ? 2 * cap : 1024;
				n = realloc(rp->wr, cap * sizeof(*n));
				if (!n) {
					r = fail("realloc", -ENOMEM);
					break;
				}
				rp->wr = n;
			}
			rp->wr[rp->nr_wr++] = (struct wr){.off = b, .len = c};
		} else if (line[0] == 'F') {
			rp->nr_fsync_rec++;
		} else if (line[0] == 'U') {
			rp->nr_fua_rec++;
		}
	}
	if (!r && ferror(f))
		r = fail(path, -EIO);
	fclose(f);
	return r;
}

/* Per source sector, the ids of the writes that covered it (ascending). */
static int index_writes(struct replay *rp)
{
	uint64_t total = 0, *fill;

	rp->sec_first = calloc(rp->src_sectors + 1, sizeof(uint64_t));
	rp->region_written = calloc(rp->nr_regions, 1);
	rp->fua_durable = calloc(rp->nr_wr ? rp->nr_wr : 1, 1);
	if (!rp->sec_first || !rp->region_written || !rp->fua_durable)
		return fail("calloc", -ENOMEM);
	for (uint64_t w = 0; w < rp->nr_wr; w++)
		for (uint64_t s = rp->wr[w].off / PC_SECTOR;
		     s < (rp->wr[w].off + rp->wr[w].len) / PC_SECTOR; s++) {
			rp->sec_first[s + 1]++;
			rp->region_written[s * PC_SECTOR / rp->region] = 1;
		}
	for (uint64_t s = 0; s < rp->src_sectors; s++) {
		total += rp->sec_first[s + 1];
		rp->sec_first[s + 1] = total;
	}
	rp->sec_ids = malloc((total ? total : 1) * sizeof(uint64_t));
	fill = calloc(rp->src_sectors ? rp->src_sectors : 1, sizeof(uint64_t));
	if (!rp->sec_ids || !fill) {
		free(fill);
		return fail("malloc", -ENOMEM);
	}
	for (uint64_t w = 0; w < rp->nr_wr; w++)
		for (uint64_t s = rp->wr[w].off / PC_SECTOR;
		     s < (rp->wr[w].off + rp->wr[w].len) / PC_SECTOR; s++)
			rp->sec_ids[rp->sec_first[s] + fill[s]++] = w;
	free(fill);
	return 0;
}

/* "f<n>:<next>", "u<id>:<next>", "ready:<next>": *ret_next; else false. */
static bool our_mark(const char *m, char *ret_kind, uint64_t *ret_a, uint64_t *ret_next)
{
	if (sscanf(m, "f%" SCNu64 ":%" SCNu64, ret_a, ret_next) == 2) {
		*ret_kind = 'f';
		return true;
	}
	if (sscanf(m, "u%" SCNu64 ":%" SCNu64, ret_a, ret_next) == 2) {
		*ret_kind = 'u';
		return true;
	}
	if (sscanf(m, "ready:%" SCNu64, ret_next) == 1) {
		*ret_kind = 'r';
		*ret_a = 0;
		return true;
	}
	return false;
}

/* bound[i]: the writes issued before the first of our marks at index >= i. */
static int compute_bounds(struct replay *rp)
{
	uint64_t b = rp->nr_wr, nf = 0, nu = 0;

	rp->bound = malloc((rp->nr_ent + 1) * sizeof(uint64_t));
	if (!rp->bound)
		return fail("malloc", -ENOMEM);
	rp->bound[rp->nr_ent] = b;
	for (uint64_t i = rp->nr_ent; i-- > 0;) {
		char kind;
		uint64_t a, next;

		if ((rp->ent[i].flags & LOG_MARK) && our_mark(rp->ent[i].mark, &kind, &a, &next)) {
			if (next > rp->nr_wr || (kind == 'u' && a >= rp->nr_wr)) {
				fprintf(stderr,
					"log-replay: mark '%s' names writes not in the records\n",
					rp->ent[i].mark);
				return -EINVAL;
			}
			b = next;
			nf += kind == 'f';
			nu += kind == 'u';
		}
		rp->bound[i] = b;
	}
	/* every promise the workload recorded must be in the log */
	if (nf != rp->nr_fsync_rec || nu != rp->nr_fua_rec) {
		fprintf(stderr,
			"log-replay: the log has %" PRIu64 " fsync and %" PRIu64
			" FUA marks, the records "
			"%" PRIu64 " and %" PRIu64 " (log incomplete? logging disabled?)\n",
			nf, nu, rp->nr_fsync_rec, rp->nr_fua_rec);
		return -EINVAL;
	}
	return 0;
}

/* --- replay ------------------------------------------------------------------- */

/* Applies the data of one logged write (or discard: zeros) to dest/meta. */
static int apply(struct replay *rp, uint64_t i)
{
	const struct entry *e = &rp->ent[i];
	uint64_t off = e->sector * rp->lsec, len = e->nr_sectors * rp->lsec;
	int r;

	if (e->flags & LOG_MARK || !len)
		return 0;
	if (off >= rp->d_start && off + len <= rp->d_start + rp->d_len) {
		uint64_t o = off - rp->d_start;

		if (e->data)
			memcpy(rp->dest + o, e->data, len);
		else
			memset(rp->dest + o, 0, len);
		r = full_pwrite(rp->dest_fd, rp->dest + o, len, o);
		for (uint64_t g = o / rp->region;
		     g <= (o + len - 1) / rp->region && g < rp->nr_regions; g++)
			rp->region_dirty[g] = 1;
	} else if (off >= rp->m_start && off + len <= rp->m_start + rp->m_len) {
		uint64_t o = off - rp->m_start;

		if (e->data)
			memcpy(rp->meta + o, e->data, len);
		else
			memset(rp->meta + o, 0, len);
		r = full_pwrite(rp->meta_fd, rp->meta + o, len, o);
		rp->meta_dirty = true;
	} else {
		fprintf(stderr,
			"log-replay: entry %" PRIu64 " writes bytes [%" PRIu64 ", +%" PRIu64
			") of the logged "
			"device, outside the destination and the store\n",
			i, off, len);
		return -EINVAL;
	}
	return r < 0 ? fail("writing the rebuilt images", r) : 0;
}

/* Promises made by a mark at index i (applied in log order). */
static void take_mark(struct replay *rp, uint64_t i)
{
	char kind;
	uint64_t a, next;

	if (!(rp->ent[i].flags & LOG_MARK) || !our_mark(rp->ent[i].mark, &kind, &a, &next))
		return;
	if (kind == 'f' && next > rp->durable_below)
		rp->durable_below = next;
	else if (kind == 'u')
		rp->fua_durable[a] = 1;
}

static int run_check(struct replay *rp, bool *ret_ok)
{
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		return fail("fork", -errno);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execl(rp->lunclone, rp->lunclone, "check", "--meta", rp->meta_path, "--source",
		      rp->src_path, "--dest", rp->dest_path, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return fail("waitpid", -errno);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return fail(rp->lunclone, -ENOEXEC);
	*ret_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	rp->check_runs++;
	return 0;
}

/* The store as it is now: opens? hydrated bits. */
static int load_store(struct replay *rp)
{
	struct lc_meta_params expect = {.source_size_bytes = rp->src_len,
					.dest_size_bytes = rp->d_len};
	struct lc_backend *mdev = NULL;
	struct lc_meta *meta = NULL;
	struct lc_err err = {{0}};
	bool check_ok = true, zero = true;
	int r;

	rp->store_states++;
	rp->meta_dirty = false;
	rp->store_why[0] = 0;
	for (uint64_t o = 0; o < 8192 && o < rp->m_len; o++)
		zero = zero && !rp->meta[o];
	rp->store_absent_ok = zero;
	if (rp->lunclone) {
		r = run_check(rp, &check_ok);
		if (r < 0)
			return r;
	}
	r = lc_backend_file_open(rp->meta_path, LC_BACKEND_RDONLY, &mdev, &err);
	if (r < 0)
		return fail(err.msg, r);
	r = lc_meta_open(mdev, NULL, &expect, LC_META_OPEN_RDONLY, &meta, &err);
	if (r < 0) {
		snprintf(rp->store_why, sizeof(rp->store_why), "store does not open: %s (%s)",
			 strerror(-r), err.msg);
		rp->store_opens = false;
		lc_backend_close(mdev);
		if (rp->lunclone && check_ok) {
			fprintf(stderr,
				"log-replay: lunclone check passes on a store that does not open "
				"here: %s\n",
				rp->store_why);
			return -EINVAL;
		}
		return 0;
	}
	if (!check_ok) {
		snprintf(rp->store_why, sizeof(rp->store_why),
			 "lunclone check fails on a store that opens");
		rp->store_opens = false;
		goto out;
	}
	if (lc_meta_region_size(meta) != rp->region || lc_meta_nr_regions(meta) != rp->nr_regions) {
		snprintf(rp->store_why, sizeof(rp->store_why),
			 "store has region size %u, %" PRIu64 " regions", lc_meta_region_size(meta),
			 lc_meta_nr_regions(meta));
		rp->store_opens = false;
		goto out;
	}
	rp->store_opens = true;
	rp->nr_hydrated = 0;
	rp->copied_only = 0;
	for (uint64_t g = 0; g < rp->nr_regions; g++) {
		rp->hydrated[g] = lc_meta_is_hydrated(meta, g);
		rp->nr_hydrated += rp->hydrated[g];
		rp->copied_only += rp->hydrated[g] && !rp->region_written[g];
	}
	if (rp->nr_hydrated > rp->max_hydrated)
		rp->max_hydrated = rp->nr_hydrated;
	if (rp->copied_only > rp->max_copied_only)
		rp->max_copied_only = rp->copied_only;
out:
	lc_meta_close(meta);
	lc_backend_close(mdev);
	return 0;
}

static void report(struct replay *rp, uint64_t k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(struct replay *rp, uint64_t k, const char *fmt, ...)
{
	va_list ap;

	if (rp->reported >= MAX_REPORTED)
		return;
	rp->reported++;
	printf("  VIOLATION at point %" PRIu64 " (after %" PRIu64 " of %" PRIu64
	       " entries; durable: ids < %" PRIu64 ", issued: ids < %" PRIu64 "): ",
	       k, k, rp->nr_ent, rp->durable_below, rp->bound[k]);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Decodes what the destination holds in region g. */
static void refresh_region(struct replay *rp, uint64_t g)
{
	uint64_t s0 = g * rp->region / PC_SECTOR, s1 = (g + 1) * rp->region / PC_SECTOR;

	if (s1 > rp->src_sectors)
		s1 = rp->src_sectors;
	rp->region_dirty[g] = 0;
	if (!rp->region_written[g]) {
		rp->region_is_src[g] = memcmp(rp->dest + s0 * PC_SECTOR, rp->src + s0 * PC_SECTOR,
					      (s1 - s0) * PC_SECTOR) == 0;
		if (rp->region_is_src[g])
			return; /* else: sector by sector, for the report */
	}
	for (uint64_t s = s0; s < s1; s++) {
		const uint8_t *p = rp->dest + s * PC_SECTOR;
		uint64_t w;
		bool zero = true;

		if (pc_decode(p, s, &w)) {
			rp->cls[s] = w;
			continue;
		}
		if (memcmp(p, rp->src + s * PC_SECTOR, PC_SECTOR) == 0) {
			rp->cls[s] = CLS_SOURCE;
			continue;
		}
		for (unsigned i = 0; i < PC_SECTOR && zero; i++)
			zero = !p[i];
		rp->cls[s] = zero ? CLS_ZEROS : CLS_OTHER;
	}
}

/* One sector the clone serves: ok? (first: report it when not) */
static bool sector_ok(struct replay *rp, uint64_t k, uint64_t s, bool hyd, bool first)
{
	const uint64_t *ids = rp->sec_ids + rp->sec_first[s];
	uint64_t n = rp->sec_first[s + 1] - rp->sec_first[s], d = NO_WRITE;
	uint64_t c = hyd ? rp->cls[s] : CLS_SOURCE;
	const char *what = "neither the source nor a write";
	char buf[64];

	for (uint64_t i = n; i-- > 0;)
		if (ids[i] < rp->durable_below || rp->fua_durable[ids[i]]) {
			d = ids[i];
			break;
		}
	if (c == CLS_SOURCE) {
		if (d == NO_WRITE)
			return true;
		what = "the source";
	} else if (c == CLS_ZEROS) {
		what = "zeros";
	} else if (c != CLS_OTHER) {
		bool mine = false;

		for (uint64_t i = 0; i < n && !mine; i++)
			mine = ids[i] == c;
		if (mine && c < rp->bound[k] && (d == NO_WRITE || c >= d))
			return true;
		snprintf(buf, sizeof(buf), "write %" PRIu64, c);
		what = buf;
	}
	if (first) {
		if (d == NO_WRITE)
			report(rp, k,
			       "sector %" PRIu64 " (region %" PRIu64
			       ", %s) reads as %s; no write to it durable",
			       s, s * PC_SECTOR / rp->region, hyd ? "hydrated" : "not hydrated",
			       what);
		else
			report(rp, k,
			       "sector %" PRIu64 " (region %" PRIu64
			       ", %s) reads as %s; write %" PRIu64
			       " to it was acknowledged durable",
			       s, s * PC_SECTOR / rp->region, hyd ? "hydrated" : "not hydrated",
			       what, d);
	}
	return false;
}

static int check_point(struct replay *rp, uint64_t k)
{
	uint64_t bad = 0;

	if (rp->meta_dirty) {
		int r = load_store(rp);

		if (r < 0)
			return r;
	}
	if (!rp->store_opens) {
		if (rp->store_absent_ok && rp->bound[k] == 0) {
			rp->unformatted_points++;
			return 0;
		}
		rp->violations++;
		report(rp, k, "%s", rp->store_why);
		return 0;
	}
	if (rp->nr_hydrated && rp->nr_hydrated < rp->nr_regions)
		rp->partial_points++;
	for (uint64_t g = 0; g < rp->nr_regions; g++) {
		uint64_t s0 = g * rp->region / PC_SECTOR, s1 = (g + 1) * rp->region / PC_SECTOR;

		if (s1 > rp->src_sectors)
			s1 = rp->src_sectors;
		if (rp->hydrated[g] && rp->region_dirty[g])
			refresh_region(rp, g);
		/* never written: the source, wherever it is read from */
		if (!rp->region_written[g] && (!rp->hydrated[g] || rp->region_is_src[g]))
			continue;
		for (uint64_t s = s0; s < s1; s++)
			if (!sector_ok(rp, k, s, rp->hydrated[g], bad == 0))
				bad++;
	}
	if (bad) {
		rp->violations++;
		rp->bad_sectors += bad;
	}
	return 0;
}

static uint64_t nr_unwritten(const struct replay *rp)
{
	uint64_t n = 0;

	for (uint64_t g = 0; g < rp->nr_regions; g++)
		n += !rp->region_written[g];
	return n;
}

static int parse_range(const char *s, uint64_t *ret_start, uint64_t *ret_len)
{
	uint64_t a, b;
	char c;

	if (sscanf(s, "%" SCNu64 ",%" SCNu64 "%c", &a, &b, &c) != 2 || !b)
		return -EINVAL;
	*ret_start = a * 512;
	*ret_len = b * 512;
	return 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno || end == s || *end || s[0] == '-' ? -EINVAL : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"log", required_argument, NULL, 'l'},
	    {"source", required_argument, NULL, 's'},
	    {"records", required_argument, NULL, 'r'},
	    {"dest", required_argument, NULL, 'd'},
	    {"meta", required_argument, NULL, 'm'},
	    {"lunclone", required_argument, NULL, 'L'},
	    {"work", required_argument, NULL, 'w'},
	    {"seed", required_argument, NULL, 'S'},
	    {"min-flushes", required_argument, NULL, 'F'},
	    {"expect-violations", no_argument, NULL, 'x'},
	    {NULL, 0, NULL, 0},
	};
	struct replay rp = {.dest_fd = -1, .meta_fd = -1, .region = 65536};
	const char *log_path = NULL, *rec_path = NULL, *work = ".";
	uint64_t seed = 1, min_flushes = 0, log_len = 0, rng, batch = 0;
	uint8_t *logbuf = NULL, *is_point = NULL;
	bool expect = false, usage = false;
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			log_path = optarg;
			break;
		case 's':
			rp.src_path = optarg;
			break;
		case 'r':
			rec_path = optarg;
			break;
		case 'd':
			usage |= parse_range(optarg, &rp.d_start, &rp.d_len) < 0;
			break;
		case 'm':
			usage |= parse_range(optarg, &rp.m_start, &rp.m_len) < 0;
			break;
		case 'L':
			rp.lunclone = optarg;
			break;
		case 'w':
			work = optarg;
			break;
		case 'S':
			usage |= parse_u64(optarg, &seed) < 0;
			break;
		case 'F':
			usage |= parse_u64(optarg, &min_flushes) < 0;
			break;
		case 'x':
			expect = true;
			break;
		default:
			usage = true;
		}
	}
	if (usage || optind != argc || !log_path || !rp.src_path || !rec_path || !rp.d_len ||
	    !rp.m_len) {
		fprintf(
		    stderr,
		    "usage: log-replay --log LOG --source SRC --records REC --dest START,SECTORS "
		    "--meta START,SECTORS [--lunclone PATH] [--work DIR] [--seed N] "
		    "[--min-flushes N] [--expect-violations]\n");
		return 2;
	}
	rng = seed;

	/* the log is read whole: a few hundred MiB at most */
	r = read_file(log_path, &logbuf, &log_len);
	if (r < 0)
		goto out;
	rp.log = logbuf;
	rp.log_len = (size_t)log_len;
	r = read_file(rp.src_path, &rp.src, &rp.src_len);
	if (r < 0)
		goto out;
	rp.src_sectors = rp.src_len / PC_SECTOR;
	if (rp.src_len % PC_SECTOR || rp.src_len > rp.d_len) {
		fprintf(stderr,
			"log-replay: source of %" PRIu64 " bytes does not fit the destination\n",
			rp.src_len);
		r = -EINVAL;
		goto out;
	}
	rp.nr_regions = (rp.src_len + rp.region - 1) / rp.region;
	r = parse_log(&rp);
	if (r < 0)
		goto out;
	r = parse_records(&rp, rec_path);
	if (r < 0)
		goto out;
	r = index_writes(&rp);
	if (r < 0)
		goto out;
	r = compute_bounds(&rp);
	if (r < 0)
		goto out;

	rp.dest = calloc(1, rp.d_len);
	rp.meta = calloc(1, rp.m_len);
	rp.hydrated = calloc(rp.nr_regions, 1);
	rp.region_dirty = malloc(rp.nr_regions);
	rp.region_is_src = calloc(rp.nr_regions, 1);
	rp.cls = calloc(rp.src_sectors ? rp.src_sectors : 1, sizeof(uint64_t));
	is_point = calloc(rp.nr_ent + 1, 1);
	if (!rp.dest || !rp.meta || !rp.hydrated || !rp.region_dirty || !rp.region_is_src ||
	    !rp.cls || !is_point) {
		r = fail("calloc", -ENOMEM);
		goto out;
	}
	memset(rp.region_dirty, 1, rp.nr_regions); /* nothing decoded yet */
	snprintf(rp.dest_path, sizeof(rp.dest_path), "%s/dest.img", work);
	snprintf(rp.meta_path, sizeof(rp.meta_path), "%s/meta.img", work);
	rp.dest_fd = open(rp.dest_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rp.meta_fd = open(rp.meta_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (rp.dest_fd < 0 || rp.meta_fd < 0) {
		r = fail(work, -errno);
		goto out;
	}
	if (ftruncate(rp.dest_fd, (off_t)rp.d_len) < 0 ||
	    ftruncate(rp.meta_fd, (off_t)rp.m_len) < 0) {
		r = fail("ftruncate", -errno);
		goto out;
	}

	/* Crash points: 1 = after a FLUSH/FUA (and the marks behind it), 2 = sampled. */
	for (uint64_t i = 0; i < rp.nr_ent; i++) {
		const struct entry *e = &rp.ent[i];
		bool plain = e->nr_sectors && !(e->flags & (LOG_FLUSH | LOG_FUA | LOG_MARK));

		if (plain || (e->flags & LOG_DISCARD)) {
			batch++;
			continue;
		}
		if (batch >= 2) {
			uint64_t k = i - batch + 1 + (rng = pc_mix(rng)) % (batch - 1);

			if (!is_point[k])
				is_point[k] = 2;
		}
		batch = 0;
		if (e->flags & (LOG_FLUSH | LOG_FUA)) {
			uint64_t k = i + 1;

			while (k < rp.nr_ent && (rp.ent[k].flags & LOG_MARK))
				k++;
			is_point[k] = 1;
		}
	}
	rp.meta_dirty = true;
	for (uint64_t k = 0; k <= rp.nr_ent; k++) {
		if (is_point[k]) {
			rp.points++;
			if (is_point[k] == 1)
				rp.flush_points++;
			else
				rp.sample_points++;
			r = check_point(&rp, k);
			if (r < 0)
				goto out;
		}
		if (k < rp.nr_ent) {
			r = apply(&rp, k);
			if (r < 0)
				goto out;
			take_mark(&rp, k);
		}
	}

	printf("log-replay: log: %" PRIu64 " entries: %" PRIu64 " writes (%.1f MiB), %" PRIu64
	       " FLUSH, %" PRIu64 " FUA, %" PRIu64 " marks, %" PRIu64 " discards\n",
	       rp.nr_ent, rp.n_writes, (double)rp.n_write_bytes / 1048576.0, rp.n_flush, rp.n_fua,
	       rp.n_mark, rp.n_discard);
	printf("log-replay: workload: %" PRIu64 " writes, %" PRIu64 " acknowledged fsyncs, %" PRIu64
	       " acknowledged FUA writes; store: %" PRIu64 " regions (%" PRIu64 " never written)\n",
	       rp.nr_wr, rp.nr_fsync_rec, rp.nr_fua_rec, rp.nr_regions, nr_unwritten(&rp));
	printf("log-replay: crash points mid-hydration: %" PRIu64
	       "; hydrated at a crash point: up to %" PRIu64 " regions, of them up to %" PRIu64
	       " never written (copied from the source alone)\n",
	       rp.partial_points, rp.max_hydrated, rp.max_copied_only);
	printf("log-replay: store states: %" PRIu64 " (lunclone check runs: %" PRIu64
	       "); points before the store "
	       "existed: %" PRIu64 "\n",
	       rp.store_states, rp.check_runs, rp.unformatted_points);
	printf("log-replay: points: %" PRIu64 " (%" PRIu64 " after FLUSH/FUA, %" PRIu64
	       " sampled between), "
	       "violations: %" PRIu64 " (%" PRIu64 " bad sectors)\n",
	       rp.points, rp.flush_points, rp.sample_points, rp.violations, rp.bad_sectors);
	if (expect) {
		r = rp.violations ? 0 : -EINVAL;
		printf("log-replay: %s\n",
		       rp.violations ? "the replay caught the mutant (violations > 0): PASS"
				     : "FAIL: no violation found, the mutant went unnoticed");
	} else if (rp.violations) {
		r = -EINVAL;
		printf("log-replay: FAIL: %" PRIu64 " crash points violate the model\n",
		       rp.violations);
	} else if (rp.n_flush < min_flushes) {
		r = -EINVAL;
		printf("log-replay: FAIL: only %" PRIu64
		       " FLUSH entries in the log, want >= %" PRIu64 "\n",
		       rp.n_flush, min_flushes);
	} else {
		r = 0;
		printf("log-replay: PASS\n");
	}
out:
	if (rp.dest_fd >= 0)
		close(rp.dest_fd);
	if (rp.meta_fd >= 0)
		close(rp.meta_fd);
	free(is_point);
	free(rp.cls);
	free(rp.region_is_src);
	free(rp.region_dirty);
	free(rp.hydrated);
	free(rp.dest);
	free(rp.meta);
	free(rp.bound);
	free(rp.fua_durable);
	free(rp.sec_ids);
	free(rp.sec_first);
	free(rp.region_written);
	free(rp.wr);
	free(rp.ent);
	free(rp.src);
	free(logbuf);
	return r < 0 ? 1 : 0;
}
