/* SPDX-License-Identifier: MIT */
/*
 * lunclone verify: does the destination hold the source's data wherever the
 * store says a region is hydrated?
 *
 * Walks the hydrated runs of the bitmap and reads source and destination in
 * chunks of CHUNK_BYTES into two buffers allocated once, comparing region by
 * region (memcmp: exact, and faster than checksumming both sides). The last
 * region may be partial: only the bytes up to the source's size count. A
 * region larger than a chunk spans several reads and is reported once.
 *
 * Only meaningful for a clone whose destination took no writes of its own
 * (hydrate, tests, benchmarks): a written region differs from the source by
 * design.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lunclone/lunclone.h>

#include "lunclone.h"

/* A multiple of every region size up to it; regions above span chunks. */
#define CHUNK_BYTES (4u << 20)
#define BUF_ALIGN 4096u
#define REPORT_MAX 16u

static const char verify_usage[] =
    "Usage: lunclone verify --source S --dest D --meta M\n"
    "\n"
    "Compare every region the metadata store M marks hydrated on destination D\n"
    "with source S. Lists the first mismatching regions and their count; exits 0\n"
    "when there are none, 1 otherwise. All three are opened read-only.\n"
    "\n"
    "Options:\n"
    "  -s, --source S   source (file or block device)\n"
    "  -d, --dest D     destination (file or block device)\n"
    "  -m, --meta M     metadata file or block device\n"
    "  -h, --help       show this help\n";

struct verify {
	const char *verb;
	struct lc_backend *src, *dst;
	uint64_t size_bytes; /* the source's: the clone's size */
	uint32_t region_size;
	uint8_t *src_buf, *dst_buf;
	uint64_t nr_checked;
	uint64_t bytes_checked;
	uint64_t nr_bad;
	uint64_t last_bad; /* UINT64_MAX: none yet */
};

static void note_bad(struct verify *v, uint64_t region_nr)
{
	uint64_t start;

	if (v->last_bad == region_nr)
		return; /* same region, next chunk */
	v->last_bad = region_nr;
	if (v->nr_bad < REPORT_MAX) {
		start = region_nr * v->region_size;
		printf("region %llu (bytes %llu-%llu) differs\n", (unsigned long long)region_nr,
		       (unsigned long long)start,
		       (unsigned long long)(v->size_bytes - start < v->region_size
						? v->size_bytes - 1
						: start + v->region_size - 1));
	}
	v->nr_bad++;
}

/* Compares bytes [start, end) of both devices; start is region-aligned. */
static int verify_range(struct verify *v, uint64_t start, uint64_t end)
{
	uint64_t off, len, i, step;
	int r;

	step = v->region_size < CHUNK_BYTES ? v->region_size : CHUNK_BYTES;
	for (off = start; off < end; off += len) {
		len = end - off < CHUNK_BYTES ? end - off : CHUNK_BYTES;
		r = lc_backend_pread(v->src, v->src_buf, len, off);
		if (r < 0) {
			cli_errorf(v->verb, v->src->uri, "read of %llu bytes at %llu: %s",
				   (unsigned long long)len, (unsigned long long)off, strerror(-r));
			return r;
		}
		r = lc_backend_pread(v->dst, v->dst_buf, len, off);
		if (r < 0) {
			cli_errorf(v->verb, v->dst->uri, "read of %llu bytes at %llu: %s",
				   (unsigned long long)len, (unsigned long long)off, strerror(-r));
			return r;
		}
		for (i = 0; i < len; i += step) {
			uint64_t n = len - i < step ? len - i : step;

			if (memcmp(v->src_buf + i, v->dst_buf + i, n) != 0)
				note_bad(v, (off + i) / v->region_size);
		}
		v->bytes_checked += len;
	}
	return 0;
}

static int verify_all(struct verify *v, const struct lc_meta *meta)
{
	const struct lc_bitmap *bm = lc_meta_bitmap(meta);
	uint64_t nr_regions = lc_meta_nr_regions(meta);
	uint64_t first, end, start_bytes, end_bytes;
	int r;

	for (first = lc_bitmap_find_next_set(bm, 0); first < nr_regions;
	     first = lc_bitmap_find_next_set(bm, end)) {
		end = lc_bitmap_find_next_zero(bm, first);
		if (end > nr_regions)
			end = nr_regions;
		start_bytes = first * v->region_size;
		end_bytes = end * v->region_size;
		if (end_bytes > v->size_bytes)
			end_bytes = v->size_bytes; /* partial last region */
		r = verify_range(v, start_bytes, end_bytes);
		if (r < 0)
			return r;
		v->nr_checked += end - first;
		if (end >= nr_regions)
			break;
	}
	return 0;
}

int cli_verify_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"source", required_argument, NULL, 's'},
	    {"dest", required_argument, NULL, 'd'},
	    {"meta", required_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_opts o = {
	    .verb = "verify",
	    .argc = argc,
	    .argv = argv,
	    .optstring = ":s:d:m:h",
	    .longopts = longopts,
	};
	const char *source_path = NULL, *dest_path = NULL, *meta_path = NULL;
	struct verify v = {.verb = "verify", .last_bad = UINT64_MAX};
	struct lc_backend *mdev = NULL;
	struct lc_meta *meta = NULL;
	struct lc_meta_params expect;
	int c, r, ret = CLI_EXIT_FAIL;

	while ((c = cli_getopt(&o)) != -1) {
		switch (c) {
		case 's':
			source_path = optarg;
			break;
		case 'd':
			dest_path = optarg;
			break;
		case 'm':
			meta_path = optarg;
			break;
		case 'h':
			fputs(verify_usage, stdout);
			return CLI_EXIT_OK;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (!cli_no_operands(&o))
		return CLI_EXIT_USAGE;
	if (!source_path || !dest_path || !meta_path)
		return cli_usage_error(o.verb, "--source, --dest and --meta are required");

	r = cli_open_backend(o.verb, source_path, LC_BACKEND_RDONLY, &v.src);
	if (r < 0)
		goto out_close;
	r = cli_open_backend(o.verb, dest_path, LC_BACKEND_RDONLY, &v.dst);
	if (r < 0)
		goto out_close;
	memset(&expect, 0, sizeof(expect));
	expect.source_size_bytes = v.src->size_bytes;
	expect.dest_size_bytes = v.dst->size_bytes;
	r = cli_open_store_ro(o.verb, meta_path, &expect, &mdev, &meta);
	if (r < 0)
		goto out_close;
	v.size_bytes = v.src->size_bytes;
	v.region_size = lc_meta_region_size(meta);

	r = -posix_memalign((void **)&v.src_buf, BUF_ALIGN, CHUNK_BYTES);
	if (r == 0)
		r = -posix_memalign((void **)&v.dst_buf, BUF_ALIGN, CHUNK_BYTES);
	if (r < 0) {
		cli_error(o.verb, NULL, r, NULL);
		goto out_close;
	}

	r = verify_all(&v, meta);
	if (r < 0)
		goto out_close;
	if (v.nr_bad > REPORT_MAX)
		printf("... and %llu more\n", (unsigned long long)(v.nr_bad - REPORT_MAX));
	printf("%llu of %llu hydrated regions differ (%llu bytes compared)\n",
	       (unsigned long long)v.nr_bad, (unsigned long long)v.nr_checked,
	       (unsigned long long)v.bytes_checked);
	ret = v.nr_bad == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;

out_close:
	free(v.dst_buf);
	free(v.src_buf);
	cli_close_store(mdev, meta);
	lc_backend_close(v.dst);
	lc_backend_close(v.src);
	return ret;
}
