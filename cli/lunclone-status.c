/* SPDX-License-Identifier: MIT */
/*
 * lunclone status: what a metadata store records, opened read-only.
 *
 * Fields come in a fixed order (STYLE.md section 9), in text or as one JSON
 * object with the same content:
 *
 *   uuid, version, region size, source size, destination size,
 *   regions hydrated/total and percent, clean/dirty, generation, source id,
 *   source designator
 *
 * The percentage is rounded down, so 100.0 means every region is hydrated.
 * The source id is the identity bytes recorded at format, in hex; the
 * designator is the same decoded for people when it is a SCSI designation
 * descriptor (what an iscsi:// source records: "naa.6001405...",
 * "eui.0123...", a SCSI name string, "t10.<vendor id>"), else none.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <lunclone/lunclone.h>

#include "lunclone.h"

static const char status_usage[] = "Usage: lunclone status --meta M [--json]\n"
				   "\n"
				   "Show what the metadata store M records (opened read-only).\n"
				   "\n"
				   "Options:\n"
				   "  -m, --meta M   metadata file or block device\n"
				   "  -j, --json     one JSON object instead of text\n"
				   "  -h, --help     show this help\n";

/* "12.3": hydrated/total in percent, rounded down to one decimal. */
static void format_percent(char *out, size_t size, uint64_t nr_hydrated, uint64_t nr_regions)
{
	uint64_t tenths;

	if (nr_regions == 0 || nr_hydrated >= nr_regions)
		tenths = 1000;
	else
		tenths = (uint64_t)((double)nr_hydrated * 1000.0 / (double)nr_regions);
	if (tenths >= 1000 && nr_hydrated < nr_regions)
		tenths = 999; /* never claim 100.0 before the last region */
	(void)snprintf(out, size, "%llu.%llu", (unsigned long long)(tenths / 10),
		       (unsigned long long)(tenths % 10));
}

/*
 * Decodes a SCSI designation descriptor (SPC-4 7.8.6.1: code set, association
 * and type, reserved, length, designator) into out; false when id is not one
 * of the types we name.
 */
static bool decode_designator(char *out, size_t size, const uint8_t *id, uint16_t len)
{
	static const char digits[] = "0123456789abcdef";
	const char *prefix;
	size_t used, dlen;
	bool text;

	if (len < 4 || (size_t)id[3] + 4 != len || size < 8)
		return false;
	dlen = id[3];
	switch (id[1] & 0xf) {
	case 1: /* T10 vendor ID: ASCII */
		prefix = "t10.";
		text = true;
		break;
	case 2:
		prefix = "eui.";
		text = false;
		break;
	case 3:
		prefix = "naa.";
		text = false;
		break;
	case 8: /* SCSI name string: already "iqn.", "naa." or "eui." */
		prefix = "";
		text = true;
		break;
	default:
		return false;
	}
	used = (size_t)snprintf(out, size, "%s", prefix);
	for (size_t i = 0; i < dlen && used + 3 < size; i++) {
		uint8_t b = id[4 + i];

		if (text) {
			if (b == '\0')
				break; /* SCSI name strings are NUL-padded */
			out[used++] = b >= 0x20 && b < 0x7f ? (char)b : '.';
		} else {
			out[used++] = digits[b >> 4];
			out[used++] = digits[b & 0xf];
		}
	}
	out[used] = '\0';
	return true;
}

static void print_text(const struct lc_meta_info *info, const char *uuid, const char *percent,
		       const char *source_id, const char *designator)
{
	printf("uuid:             %s\n", uuid);
	printf("version:          %u\n", info->version);
	printf("region size:      %u bytes\n", info->region_size_bytes);
	printf("source size:      %llu bytes\n", (unsigned long long)info->source_size_bytes);
	printf("destination size: %llu bytes\n", (unsigned long long)info->dest_size_bytes);
	printf("regions:          %llu/%llu hydrated (%s%%)\n",
	       (unsigned long long)info->nr_hydrated, (unsigned long long)info->nr_regions,
	       percent);
	printf("shutdown:         %s\n", info->clean ? "clean" : "dirty");
	printf("generation:       %llu\n", (unsigned long long)info->generation);
	printf("source id:        %s\n", source_id ? source_id : "none");
	printf("source designator: %s\n", designator ? designator : "none");
}

/* Adds key: val to obj, taking val's reference; false if val is NULL or the
 * add failed (then val is released). */
static bool add(struct json_object *obj, const char *key, struct json_object *val)
{
	if (!val)
		return false;
	if (json_object_object_add(obj, key, val) < 0) {
		json_object_put(val);
		return false;
	}
	return true;
}

static int print_json(const struct lc_meta_info *info, const char *uuid, const char *percent,
		      const char *source_id, const char *designator)
{
	struct json_object *obj;
	const char *s;
	bool ok;

	obj = json_object_new_object();
	if (!obj)
		return -ENOMEM;
	ok = add(obj, "uuid", json_object_new_string(uuid)) &&
	     add(obj, "version", json_object_new_int64(info->version)) &&
	     add(obj, "region_size", json_object_new_int64(info->region_size_bytes)) &&
	     add(obj, "source_size", json_object_new_uint64(info->source_size_bytes)) &&
	     add(obj, "dest_size", json_object_new_uint64(info->dest_size_bytes)) &&
	     add(obj, "nr_regions", json_object_new_uint64(info->nr_regions)) &&
	     add(obj, "nr_hydrated", json_object_new_uint64(info->nr_hydrated)) &&
	     add(obj, "percent", json_object_new_double_s(strtod(percent, NULL), percent)) &&
	     add(obj, "clean", json_object_new_boolean(info->clean)) &&
	     add(obj, "generation", json_object_new_uint64(info->generation));
	if (ok && source_id) {
		ok = add(obj, "source_id", json_object_new_string(source_id));
	} else if (ok) {
		/* No identity: JSON null, which json-c spells as a NULL value. */
		ok = json_object_object_add(obj, "source_id", NULL) == 0;
	}
	if (ok && designator)
		ok = add(obj, "source_designator", json_object_new_string(designator));
	else if (ok)
		ok = json_object_object_add(obj, "source_designator", NULL) == 0;
	s = ok ? json_object_to_json_string_ext(obj,
						JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED)
	       : NULL;
	if (!s) {
		json_object_put(obj);
		return -ENOMEM;
	}
	printf("%s\n", s);
	json_object_put(obj);
	return 0;
}

int cli_status_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"meta", required_argument, NULL, 'm'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_opts o = {
	    .verb = "status",
	    .argc = argc,
	    .argv = argv,
	    .optstring = ":m:jh",
	    .longopts = longopts,
	};
	const char *meta_path = NULL;
	struct lc_backend *mdev;
	struct lc_meta *meta;
	struct lc_meta_info info;
	char uuid[37], percent[32];
	char source_id[2 * LC_META_SOURCE_ID_MAX + 1];
	char designator[2 * LC_META_SOURCE_ID_MAX + 8];
	bool have_designator;
	bool json = false;
	int c, r;

	while ((c = cli_getopt(&o)) != -1) {
		switch (c) {
		case 'm':
			meta_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(status_usage, stdout);
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
	lc_meta_get_info(meta, &info);
	cli_close_store(mdev, meta);

	cli_uuid(uuid, info.uuid);
	format_percent(percent, sizeof(percent), info.nr_hydrated, info.nr_regions);
	if (info.source_id_len > LC_META_SOURCE_ID_MAX)
		info.source_id_len = LC_META_SOURCE_ID_MAX;
	cli_hex(source_id, info.source_id, info.source_id_len);
	have_designator =
	    decode_designator(designator, sizeof(designator), info.source_id, info.source_id_len);

	if (!json) {
		print_text(&info, uuid, percent, info.source_id_len ? source_id : NULL,
			   have_designator ? designator : NULL);
		return CLI_EXIT_OK;
	}
	r = print_json(&info, uuid, percent, info.source_id_len ? source_id : NULL,
		       have_designator ? designator : NULL);
	if (r < 0) {
		cli_error(o.verb, meta_path, r, NULL);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}
