/* SPDX-License-Identifier: MIT */
/*
 * lunclone format: create the metadata store of a clone.
 *
 * The store is sized from the source (lc_meta_required_size). The metadata
 * path may name a block device (which must be large enough) or a regular
 * file, created when missing and extended when too small. A path holding a
 * valid store is refused unless --force: formatting forgets which regions are
 * hydrated, and the clone would copy the source over them again.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lunclone/lunclone.h>


#include "lunclone.h"

static const char format_usage[] =
    "Usage: lunclone format --source S --dest D --meta M [options]\n"
    "\n"
    "Create the metadata store M of a clone of source S onto destination D.\n"
    "S is opened read-only; D must be at least as large as S. M is created when\n"
    "missing and extended when it is a regular file that is too small.\n"
    "\n"
    "Options:\n"
    "  -s, --source S          read-only source (file, block device or iscsi:// URL)\n"
    "  -d, --dest D            destination (file or block device)\n"
    "  -m, --meta M            metadata file or block device\n"
    "  -r, --region-size SIZE  hydration granularity, a power of two from 512\n"
    "                          to 1G (suffixes K, M, G; default 64K)\n"
    "  -f, --force             overwrite a valid existing store\n"
    "  -q, --quiet             print nothing on success\n"
    "  -h, --help              show this help\n";

static bool same_file(const struct stat *a, const struct stat *b)
{
	if (S_ISBLK(a->st_mode) && S_ISBLK(b->st_mode))
		return a->st_rdev == b->st_rdev;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

int cli_check_distinct(const char *verb, const char *source_path, const char *dest_path,
		       const char *meta_path)
{
	struct stat src_st, dst_st, meta_st;

	if (stat(source_path, &src_st) < 0 || stat(dest_path, &dst_st) < 0)
		return 0; /* not a path (a URI): the backends vouch for themselves */
	if (same_file(&src_st, &dst_st)) {
		cli_errorf(verb, dest_path, "is the same file as the source '%s'", source_path);
		return -EINVAL;
	}
	if (stat(meta_path, &meta_st) < 0)
		return 0; /* to be created */
	if (same_file(&meta_st, &src_st) || same_file(&meta_st, &dst_st)) {
		cli_errorf(verb, meta_path, "is the same file as the %s",
			   same_file(&meta_st, &src_st) ? "source" : "destination");
		return -EINVAL;
	}
	return 0;
}

/* Creates or extends the regular file path to size_bytes (never shrinks). */
static int size_meta_file(const char *verb, const char *path, uint64_t size_bytes, bool create)
{
	struct stat st;
	int fd, r;

	fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
	if (fd < 0) {
		r = -errno;
		cli_errorf(verb, path, "%s: %s", create ? "cannot create" : "cannot open",
			   strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		cli_errorf(verb, path, "stat: %s", strerror(-r));
		goto out_close;
	}
	if ((uint64_t)st.st_size < size_bytes && ftruncate(fd, (off_t)size_bytes) < 0) {
		r = -errno;
		cli_errorf(verb, path, "cannot extend to %llu bytes: %s",
			   (unsigned long long)size_bytes, strerror(-r));
		goto out_close;
	}
	if (close(fd) < 0) {
		r = -errno;
		cli_errorf(verb, path, "close: %s", strerror(-r));
		return r;
	}
	return 0;

out_close:
	(void)close(fd);
	return r;
}

/* Opens the store read-only: 0 with *ret_info when mdev holds a valid one. */
static int probe_store(struct lc_backend *mdev, struct lc_meta_info *ret_info, struct lc_err *err)
{
	struct lc_meta *meta;
	int r;

	r = lc_meta_open(mdev, NULL, NULL, LC_META_OPEN_RDONLY, &meta, err);
	if (r < 0)
		return r;
	lc_meta_get_info(meta, ret_info);
	(void)lc_meta_close(meta); /* read-only: nothing to commit */
	return 0;
}

int cli_format_store(const char *verb, const struct cli_format_args *a, bool *ret_formatted)
{
	struct lc_backend *src = NULL, *dst = NULL, *mdev = NULL;
	struct lc_err err = {.msg = ""}, probe_err = {.msg = ""};
	struct lc_meta_params params;
	struct lc_meta_info info;
	char uuid[37];
	struct stat meta_st;
	bool created = false, formatted = false;
	uint64_t required;
	int r;

	r = cli_open_backend(verb, a->source_path, LC_BACKEND_RDONLY, &src);
	if (r < 0)
		return r;
	r = cli_open_backend(verb, a->dest_path, 0, &dst);
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
	if (a->region_size_bytes % src->logical_block_size != 0) {
		cli_errorf(verb, src->uri,
			   "logical block size %u does not divide the region size %u",
			   src->logical_block_size, a->region_size_bytes);
		r = -EINVAL;
		goto out_close;
	}
	required = lc_meta_required_size(a->region_size_bytes, src->size_bytes);
	r = cli_check_distinct(verb, a->source_path, a->dest_path, a->meta_path);
	if (r < 0)
		goto out_close;

	if (stat(a->meta_path, &meta_st) < 0) {
		r = -errno;
		if (r != -ENOENT) {
			cli_errorf(verb, a->meta_path, "stat: %s", strerror(-r));
			goto out_close;
		}
		r = size_meta_file(verb, a->meta_path, required, true);
		if (r < 0)
			goto out_close;
		created = true;
	} else if (!S_ISREG(meta_st.st_mode) && !S_ISBLK(meta_st.st_mode)) {
		cli_errorf(verb, a->meta_path, "neither a regular file nor a block device");
		r = -EINVAL;
		goto out_close;
	}

	r = cli_open_backend(verb, a->meta_path, 0, &mdev);
	if (r < 0)
		goto out_close;

	if (!created) {
		r = probe_store(mdev, &info, &probe_err);
		if (r == 0) {
			cli_uuid(uuid, info.uuid);
			if (a->only_if_invalid) {
				r = 0;
				goto out_close; /* keep it: the caller opens it */
			}
			if (!a->force) {
				cli_errorf(verb, a->meta_path,
					   "holds a valid metadata store (uuid %s); "
					   "use --force to overwrite it",
					   uuid);
				r = -EEXIST;
				goto out_close;
			}
		} else if (r != -EINVAL && !a->force) {
			/* Not "invalid content" but e.g. -EIO: it may well hold a store. */
			cli_errorf(verb, a->meta_path,
				   "cannot tell whether it holds a valid store (%s); "
				   "not formatting%s",
				   probe_err.msg[0] != '\0' ? probe_err.msg : strerror(-r),
				   a->only_if_invalid ? "" : " without --force");
			goto out_close;
		} else if (a->only_if_invalid && !a->quiet) {
			printf("'%s': no valid metadata store (%s), formatting\n", a->meta_path,
			       probe_err.msg[0] != '\0' ? probe_err.msg : strerror(-r));
		}
	}

	if (mdev->size_bytes < required) {
		if (created || !S_ISREG(meta_st.st_mode)) {
			cli_errorf(verb, a->meta_path,
				   "metadata device too small: %llu bytes, the store needs %llu",
				   (unsigned long long)mdev->size_bytes,
				   (unsigned long long)required);
			r = -ENOSPC;
			goto out_close;
		}
		/* The backend caches the size: reopen after extending. */
		lc_backend_close(mdev);
		mdev = NULL;
		r = size_meta_file(verb, a->meta_path, required, false);
		if (r < 0)
			goto out_close;
		r = cli_open_backend(verb, a->meta_path, 0, &mdev);
		if (r < 0)
			goto out_close;
	}

	memset(&params, 0, sizeof(params));
	params.region_size_bytes = a->region_size_bytes;
	params.source_size_bytes = src->size_bytes;
	params.dest_size_bytes = dst->size_bytes;
	/* What the source says it is (iSCSI: VPD 0x83), so that a later open
	 * can tell another LUN behind the same URL. */
	memcpy(params.source_id, src->ident, src->ident_len);
	params.source_id_len = src->ident_len;
	r = lc_meta_format(mdev, &params, &err);
	if (r < 0) {
		cli_error(verb, a->meta_path, r, &err);
		goto out_close;
	}
	formatted = true;

	/* Read it back: the store we report is the one a clone will open. */
	r = probe_store(mdev, &info, &err);
	if (r < 0) {
		cli_errorf(verb, a->meta_path, "store unreadable right after format: %s",
			   err.msg[0] != '\0' ? err.msg : strerror(-r));
		goto out_close;
	}
	if (!a->quiet) {
		cli_uuid(uuid, info.uuid);
		printf("formatted '%s': uuid %s, %llu regions of %u bytes\n", a->meta_path, uuid,
		       (unsigned long long)info.nr_regions, info.region_size_bytes);
	}

out_close:
	lc_backend_close(mdev);
	lc_backend_close(dst);
	lc_backend_close(src);
	/* Leave no half-made file behind: it would pass for a store next time. */
	if (r < 0 && created && !formatted)
		(void)unlink(a->meta_path);
	if (r == 0 && ret_formatted)
		*ret_formatted = formatted;
	return r;
}

int cli_format_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"source", required_argument, NULL, 's'}, {"dest", required_argument, NULL, 'd'},
	    {"meta", required_argument, NULL, 'm'},   {"region-size", required_argument, NULL, 'r'},
	    {"force", no_argument, NULL, 'f'},	      {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	struct cli_opts o = {
	    .verb = "format",
	    .argc = argc,
	    .argv = argv,
	    .optstring = ":s:d:m:r:fqh",
	    .longopts = longopts,
	};
	struct cli_format_args a = {.region_size_bytes = LC_REGION_SIZE_DEFAULT};
	int c, r;

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
		case 'r':
			if (!cli_opt_region_size(o.verb, optarg, &a.region_size_bytes))
				return CLI_EXIT_USAGE;
			break;
		case 'f':
			a.force = true;
			break;
		case 'q':
			a.quiet = true;
			break;
		case 'h':
			fputs(format_usage, stdout);
			return CLI_EXIT_OK;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (!cli_no_operands(&o))
		return CLI_EXIT_USAGE;
	if (!a.source_path || !a.dest_path || !a.meta_path)
		return cli_usage_error(o.verb, "--source, --dest and --meta are required");

	r = cli_format_store(o.verb, &a, NULL);
	return r < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
