/* SPDX-License-Identifier: MIT */
/*
 * lunclone check: is this metadata store usable?
 *
 * Opens the store read-only, which verifies the superblocks and the bitmap
 * checksums (lc_meta_open names the structure that failed). With --source
 * and/or --dest, also compares the recorded sizes with the devices' (the
 * source must have exactly the recorded size; the destination too, as a
 * writable open would demand). Prints "ok" and exits 0, or prints the reason
 * and exits 1.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <lunclone/lunclone.h>

#include "lunclone.h"

static const char check_usage[] =
    "Usage: lunclone check --meta M [--source S] [--dest D]\n"
    "\n"
    "Verify the metadata store M: superblocks and bitmap checksums, and, when\n"
    "given, the sizes it records against source S and destination D.\n"
    "Prints \"ok\" and exits 0, or prints the reason and exits 1.\n"
    "\n"
    "Options:\n"
    "  -m, --meta M     metadata file or block device\n"
    "  -s, --source S   source to compare sizes with (opened read-only)\n"
    "  -d, --dest D     destination to compare sizes with (opened read-only)\n"
    "  -h, --help       show this help\n";

int cli_check_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"meta", required_argument, NULL, 'm'},
	    {"source", required_argument, NULL, 's'},
	    {"dest", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_opts o = {
	    .verb = "check",
	    .argc = argc,
	    .argv = argv,
	    .optstring = ":m:s:d:h",
	    .longopts = longopts,
	};
	const char *meta_path = NULL, *source_path = NULL, *dest_path = NULL;
	struct lc_backend *src = NULL, *dst = NULL, *mdev;
	struct lc_meta_params expect;
	struct lc_meta *meta;
	int c, r, ret = CLI_EXIT_FAIL;

	while ((c = cli_getopt(&o)) != -1) {
		switch (c) {
		case 'm':
			meta_path = optarg;
			break;
		case 's':
			source_path = optarg;
			break;
		case 'd':
			dest_path = optarg;
			break;
		case 'h':
			fputs(check_usage, stdout);
			return CLI_EXIT_OK;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (!cli_no_operands(&o))
		return CLI_EXIT_USAGE;
	if (!meta_path)
		return cli_usage_error(o.verb, "--meta is required");

	memset(&expect, 0, sizeof(expect));
	if (source_path) {
		r = cli_open_backend(o.verb, source_path, LC_BACKEND_RDONLY, &src);
		if (r < 0)
			goto out_close;
		expect.source_size_bytes = src->size_bytes;
	}
	if (dest_path) {
		r = cli_open_backend(o.verb, dest_path, LC_BACKEND_RDONLY, &dst);
		if (r < 0)
			goto out_close;
		expect.dest_size_bytes = dst->size_bytes;
	}
	/* A zero-sized device would not be checked (zero means "any"): say so. */
	if ((src && src->size_bytes == 0) || (dst && dst->size_bytes == 0)) {
		cli_errorf(o.verb, src && src->size_bytes == 0 ? source_path : dest_path,
			   "device is empty");
		goto out_close;
	}

	r = cli_open_store_ro(o.verb, meta_path, &expect, &mdev, &meta);
	if (r < 0)
		goto out_close;
	cli_close_store(mdev, meta);
	printf("ok\n");
	ret = CLI_EXIT_OK;

out_close:
	lc_backend_close(dst);
	lc_backend_close(src);
	return ret;
}
