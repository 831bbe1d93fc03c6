/* SPDX-License-Identifier: MIT */
/*
 * powercut-workload: the initiator side of the block-level power-cut test
 * (e2e scenario 9, tests/e2e/guest-powercut.sh). Runs in the guest against
 * the clone's LUN (/dev/sdX), single-threaded so that write ids are a total
 * order: epochs of 1-3 O_DIRECT writes (partial regions, whole regions,
 * spanning writes, 512-byte writes into the short last region; every
 * --fua-every'th one with RWF_DSYNC, i.e. FUA), each epoch ended by fsync()
 * (SYNCHRONIZE CACHE). Every sector written is stamped (powercut.h). After
 * each acknowledged FUA write and fsync it records what became durable and
 * puts a mark with the same name into the dm-log-writes log below the clone
 * (DM_TARGET_MSG "mark NAME", the ioctl behind `dmsetup message`), so that
 * log-replay knows, at each point of the log, what the initiator had been
 * promised.
 *
 * usage: powercut-workload --dev DEV --dm LOGWRITES_NAME --size BYTES
 *            --fsyncs N --records FILE [--seed S] [--fua-every K]
 *            [--region-size BYTES] [--span PERCENT]
 *
 * --span (default 50): all writes but the 512-byte ones fall in the first
 * PERCENT of the LUN, so that the rest is hydrated by copying alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/dm-ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "powercut.h"

#define MAX_WRITE (192u * 1024u)

struct workload {
	int fd;		 /* the LUN, O_DIRECT */
	int ctl;	 /* /dev/mapper/control */
	const char *dm;	 /* the dm-log-writes device's name */
	FILE *rec;	 /* records */
	uint64_t size;	 /* LUN bytes */
	uint64_t region; /* region size, for whole-region writes */
	uint64_t span;	 /* bytes: writes (but the tail's) stay below this */
	uint64_t next_id;
	uint64_t rng;
	uint8_t *buf;
};

static int die(const char *what, int r)
{
	fprintf(stderr, "powercut-workload: %s: %s\n", what, strerror(-r));
	return r;
}

static uint64_t below(struct workload *w, uint64_t n)
{
	w->rng = pc_mix(w->rng);
	return n ? w->rng % n : 0;
}

/* mark NAME into the dm-log-writes log (what `dmsetup message DM 0 mark NAME` does). */
static int put_mark(struct workload *w, const char *name)
{
	union {
		struct dm_ioctl io;
		uint8_t raw[sizeof(struct dm_ioctl) + sizeof(struct dm_target_msg) + 128];
	} u;
	struct dm_target_msg *msg;

	memset(&u, 0, sizeof(u));
	u.io.version[0] = DM_VERSION_MAJOR;
	u.io.version[1] = 0;
	u.io.version[2] = 0;
	u.io.data_size = sizeof(u);
	u.io.data_start = sizeof(struct dm_ioctl);
	snprintf(u.io.name, sizeof(u.io.name), "%s", w->dm);
	msg = (struct dm_target_msg *)(u.raw + sizeof(struct dm_ioctl));
	msg->sector = 0;
	if ((size_t)snprintf(msg->message, 128, "mark %s", name) >= 128)
		return -ENAMETOOLONG;
	if (ioctl(w->ctl, DM_TARGET_MSG, &u) < 0)
		return -errno;
	return 0;
}

/* Picks the next write: *ret_off, *ret_len (multiples of 512). */
static void pick(struct workload *w, uint64_t *ret_off, uint64_t *ret_len)
{
	uint64_t size = w->size, region = w->region, off, len;
	uint64_t tail = size % region ? size - size % region : size - region / 2;
	uint64_t k = below(w, 100);

	if (k < 85)
		tail = w->span;
	if (k < 40) { /* partial: 4-16 KiB inside one region */
		len = 4096 * (1 + below(w, 4));
		off = below(w, tail / 4096) * 4096;
		if (off % region + len > region)
			off -= off % region + len - region;
	} else if (k < 60) { /* whole regions, aligned */
		len = region * (1 + below(w, 2));
		off = below(w, tail / region - 1) * region;
	} else if (k < 85) { /* spanning: 4-192 KiB, 4 KiB aligned */
		len = 4096 * (1 + below(w, MAX_WRITE / 4096));
		off = below(w, (tail - len) / 4096) * 4096;
	} else { /* 512-byte writes into the short last region */
		len = PC_SECTOR * (1 + below(w, 8));
		off = tail + below(w, (size - tail - len) / PC_SECTOR + 1) * PC_SECTOR;
	}
	*ret_off = off;
	*ret_len = len;
}

static int one_write(struct workload *w, bool fua)
{
	uint64_t off, len, id = w->next_id;
	struct iovec iov;
	ssize_t n;
	char name[64];
	int r;

	pick(w, &off, &len);
	for (uint64_t s = 0; s < len / PC_SECTOR; s++)
		pc_stamp(w->buf + s * PC_SECTOR, id, off / PC_SECTOR + s);
	/* recorded before it is issued: from here on it may reach the disk */
	if (fprintf(w->rec, "W %" PRIu64 " %" PRIu64 " %" PRIu64 " %d\n", id, off, len, fua) < 0)
		return -EIO;
	w->next_id++;
	iov.iov_base = w->buf;
	iov.iov_len = len;
	n = pwritev2(w->fd, &iov, 1, (off_t)off, fua ? RWF_DSYNC : 0);
	if (n < 0)
		return die("pwritev2", -errno);
	if ((uint64_t)n != len)
		return die("pwritev2 (short)", -EIO);
	if (!fua)
		return 0;
	snprintf(name, sizeof(name), "u%" PRIu64 ":%" PRIu64, id, w->next_id);
	if (fprintf(w->rec, "U %" PRIu64 " %" PRIu64 "\n", id, w->next_id) < 0)
		return -EIO;
	r = put_mark(w, name);
	return r < 0 ? die("mark", r) : 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -EINVAL;
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dev", required_argument, NULL, 'd'},
	    {"dm", required_argument, NULL, 'm'},
	    {"size", required_argument, NULL, 's'},
	    {"fsyncs", required_argument, NULL, 'n'},
	    {"records", required_argument, NULL, 'r'},
	    {"seed", required_argument, NULL, 'S'},
	    {"fua-every", required_argument, NULL, 'f'},
	    {"region-size", required_argument, NULL, 'R'},
	    {"span", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	struct workload w = {.fd = -1, .ctl = -1, .region = 65536};
	const char *dev = NULL, *records = NULL;
	uint64_t fsyncs = 0, seed = 1, fua_every = 7, nwrites = 0, span = 50;
	struct timespec t0, t1;
	char name[64];
	int c, r = -EINVAL;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dev = optarg;
			r = 0;
			break;
		case 'm':
			w.dm = optarg;
			r = 0;
			break;
		case 'r':
			records = optarg;
			r = 0;
			break;
		case 's':
			r = parse_u64(optarg, &w.size);
			break;
		case 'n':
			r = parse_u64(optarg, &fsyncs);
			break;
		case 'S':
			r = parse_u64(optarg, &seed);
			break;
		case 'f':
			r = parse_u64(optarg, &fua_every);
			break;
		case 'R':
			r = parse_u64(optarg, &w.region);
			break;
		case 'p':
			r = parse_u64(optarg, &span);
			break;
		default:
			r = -EINVAL;
		}
		if (r < 0)
			break;
	}
	if (r < 0 || optind != argc || !dev || !w.dm || !records || !fsyncs ||
	    w.size < 4 * w.region || w.size % PC_SECTOR || w.region < 8192 ||
	    w.region & (w.region - 1) || span < 1 || span > 100 ||
	    w.size / w.region * span / 100 < 4) {
		fprintf(stderr,
			"usage: powercut-workload --dev DEV --dm NAME --size BYTES --fsyncs N "
			"--records FILE [--seed S] [--fua-every K] [--region-size BYTES] "
			"[--span PERCENT]\n");
		return 2;
	}
	w.span = w.size / w.region * span / 100 * w.region;
	w.rng = seed;
	r = posix_memalign((void **)&w.buf, 4096,
			   MAX_WRITE > 2 * w.region ? MAX_WRITE : 2 * w.region);
	if (r) {
		w.buf = NULL;
		r = die("posix_memalign", -r);
		goto out;
	}
	w.fd = open(dev, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (w.fd < 0) {
		r = die(dev, -errno);
		goto out;
	}
	w.ctl = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (w.ctl < 0) {
		r = die("/dev/mapper/control", -errno);
		goto out;
	}
	w.rec = fopen(records, "we");
	if (!w.rec) {
		r = die(records, -errno);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (fprintf(w.rec, "R 0\n") < 0) {
		r = die(records, -EIO);
		goto out;
	}
	r = put_mark(&w, "ready:0");
	if (r < 0) {
		die("mark", r);
		goto out;
	}
	for (uint64_t e = 1; e <= fsyncs; e++) {
		uint64_t n = 1 + below(&w, 3);

		for (uint64_t i = 0; i < n; i++) {
			nwrites++;
			r = one_write(&w, fua_every && nwrites % fua_every == 0);
			if (r < 0)
				goto out;
		}
		if (fsync(w.fd) < 0) {
			r = die("fsync", -errno);
			goto out;
		}
		snprintf(name, sizeof(name), "f%" PRIu64 ":%" PRIu64, e, w.next_id);
		if (fprintf(w.rec, "F %" PRIu64 " %" PRIu64 "\n", e, w.next_id) < 0) {
			r = -EIO;
			goto out;
		}
		r = put_mark(&w, name);
		if (r < 0) {
			die("mark", r);
			goto out;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("powercut-workload: %" PRIu64 " writes, %" PRIu64 " fsyncs in %.1f s (seed %" PRIu64
	       ")\n",
	       w.next_id, fsyncs,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, seed);
	r = 0;
out:
	if (w.rec && fclose(w.rec) != 0 && r == 0)
		r = die(records, -errno);
	if (w.ctl >= 0)
		close(w.ctl);
	if (w.fd >= 0)
		close(w.fd);
	free(w.buf);
	return r < 0 ? 1 : 0;
}
