/* SPDX-License-Identifier: MIT */
/*
 * lunclone dump: the hydrated bitmap of a store as JSON ranges.
 *
 *   {"region_size":65536,"nr_regions":N,"hydrated":[[first,last],...]}
 *
 * Ranges are inclusive region numbers, ascending, maximal (two ranges never
 * touch). Built with json-c from the in-core bitmap of a read-only open.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include <json-c/json.h>

#include <lunclone/lunclone.h>

#include "lunclone.h"

static const char dump_usage[] =
    "Usage: lunclone dump --meta M\n"
    "\n"
    "Print the hydrated regions of the metadata store M as JSON:\n"
    "  {\"region_size\":R,\"nr_regions\":N,\"hydrated\":[[first,last],...]}\n"
    "with inclusive, ascending, maximal ranges of region numbers.\n"
    "\n"
    "Options:\n"
    "  -m, --meta M   metadata file or block device\n"
    "  -h, --help     show this help\n";

/* Appends [first, last] to ranges; -ENOMEM on failure (nothing leaked). */
static int append_range(struct json_object *ranges, uint64_t first, uint64_t last)
{
	struct json_object *pair, *a, *b;

	pair = json_object_new_array_ext(2);
	a = json_object_new_uint64(first);
	b = json_object_new_uint64(last);
	if (!pair || !a || !b)
		goto out_put;
	if (json_object_array_add(pair, a) < 0)
		goto out_put;
	a = NULL; /* owned by pair now */
	if (json_object_array_add(pair, b) < 0)
		goto out_put;
	b = NULL;
	if (json_object_array_add(ranges, pair) < 0)
		goto out_put;
	return 0;

out_put:
	json_object_put(b);
	json_object_put(a);
	json_object_put(pair);
	return -ENOMEM;
}

static int build(const struct lc_meta *meta, struct json_object **ret_obj)
{
	const struct lc_bitmap *bm = lc_meta_bitmap(meta);
	uint64_t nr_regions = lc_meta_nr_regions(meta);
	struct json_object *obj, *ranges, *v;
	uint64_t first, end = 0;
	int r = -ENOMEM;

	obj = json_object_new_object();
	if (!obj)
		return -ENOMEM;
	v = json_object_new_int64(lc_meta_region_size(meta));
	if (!v || json_object_object_add(obj, "region_size", v) < 0)
		goto out_put_v;
	v = json_object_new_uint64(nr_regions);
	if (!v || json_object_object_add(obj, "nr_regions", v) < 0)
		goto out_put_v;
	ranges = json_object_new_array();
	if (!ranges || json_object_object_add(obj, "hydrated", ranges) < 0) {
		v = ranges;
		goto out_put_v;
	}
	/* ranges is owned by obj from here on. */
	for (first = lc_bitmap_find_next_set(bm, 0); first < nr_regions;
	     first = lc_bitmap_find_next_set(bm, end)) {
		end = lc_bitmap_find_next_zero(bm, first);
		if (end > nr_regions)
			end = nr_regions;
		r = append_range(ranges, first, end - 1);
		if (r < 0)
			goto out_put;
		if (end >= nr_regions)
			break;
	}
	*ret_obj = obj;
	return 0;

out_put_v:
	json_object_put(v);
out_put:
	json_object_put(obj);
	return r;
}

int cli_dump_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"meta", required_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_opts o = {
	    .verb = "dump",
	    .argc = argc,
	    .argv = argv,
	    .optstring = ":m:h",
	    .longopts = longopts,
	};
	const char *meta_path = NULL;
	struct json_object *obj = NULL;
	struct lc_backend *mdev;
	struct lc_meta *meta;
	const char *s;
	int c, r;

	while ((c = cli_getopt(&o)) != -1) {
		switch (c) {
		case 'm':
			meta_path = optarg;
			break;
		case 'h':
			fputs(dump_usage, stdout);
			return CLI_EXIT_OK;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (!cli_no_operands(&o))
		return CLI_EXIT_USAGE;
	if (!meta_path)
		return cli_usage_error(o.verb, "--meta is required");

	r = cli_open_store_ro(o.verb, meta_path, NULL, &mdev, &meta);
	if (r < 0)
		return CLI_EXIT_FAIL;
	r = build(meta, &obj);
	cli_close_store(mdev, meta);
	if (r < 0) {
		cli_error(o.verb, meta_path, r, NULL);
		return CLI_EXIT_FAIL;
	}
	s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
	if (!s) {
		json_object_put(obj);
		cli_error(o.verb, meta_path, -ENOMEM, NULL);
		return CLI_EXIT_FAIL;
	}
	printf("%s\n", s);
	json_object_put(obj);
	return CLI_EXIT_OK;
}
