/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the metadata store loader (lib/meta.c, lc_meta_open) on a
 * device whose bytes come from the input.
 *
 * Random bytes alone never get past the CRC32C checks, so the first input
 * byte chooses a mode:
 *   bit 0 clear: the rest of the input is the device image, as it is;
 *   bit 0 set:   the same, then the checksums of both superblock slots and
 *                of the bitmap blocks they name are made right again, so
 *                that the fuzzer reaches the field checks behind them
 *                (sizes, region counts, bitmap locations, flags...).
 * Whatever opens must then survive being used: the regions are counted,
 * one is set and committed (on a writable open), and it closes.
 *
 * The seeds (fuzz/corpus/meta) are valid stores made by lc_meta_format, so
 * mutations start from real layouts.
 */
#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lunclone/backend.h>
#include <lunclone/err.h>
#include <lunclone/meta.h>

#include "fuzz.h"
#include "meta_format.h"
#include "util/crc32c.h"

/* Large enough for small stores, small enough to stay fast. */
#define IMAGE_MAX (64u * LC_META_BLOCK_SIZE)
/* The destination model lives in memory. */
#define DEST_MAX (16ull << 20)

static uint32_t block_crc_without_sb_crc(uint8_t *block)
{
	struct lc_meta_sb_disk *sb = (struct lc_meta_sb_disk *)block;

	sb->sb_crc = 0;
	return lc_crc32c(0, block, LC_META_BLOCK_SIZE);
}

/* Makes the checksums of the slots and of the bitmap copies they use
 * right again, where the fields point inside the image. */
static void fix_checksums(uint8_t *img, size_t size)
{
	for (unsigned slot = 0; slot < LC_META_NR_SB_SLOTS; slot++) {
		uint8_t *block = img + (size_t)slot * LC_META_BLOCK_SIZE;
		struct lc_meta_sb_disk *sb = (struct lc_meta_sb_disk *)block;
		uint32_t fold = 0, crc;
		uint64_t start, nr;

		if ((size_t)(slot + 1) * LC_META_BLOCK_SIZE > size)
			return;
		start = le64toh(sb->bitmap_start);
		nr = le64toh(sb->bitmap_blocks);
		if (nr <= size / LC_META_BLOCK_SIZE && start <= size / LC_META_BLOCK_SIZE - nr) {
			for (uint64_t b = 0; b < nr; b++) {
				uint32_t le = htole32(lc_crc32c(
				    0, img + (start + b) * LC_META_BLOCK_SIZE, LC_META_BLOCK_SIZE));

				fold = lc_crc32c(fold, &le, sizeof(le));
			}
			sb->bitmap_crc = htole32(fold);
		}
		crc = htole32(block_crc_without_sb_crc(block));
		memcpy(&sb->sb_crc, &crc, sizeof(crc));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lc_backend *mdev = NULL, *dst = NULL;
	struct lc_err err = {.msg = ""};
	struct lc_meta_info info;
	struct lc_meta *meta;
	size_t img_size;
	uint8_t *img;

	if (size < 1)
		return 0;
	/* Whole sectors: the device model works in them. */
	img_size = (size - 1 + LC_SECTOR_SIZE - 1) / LC_SECTOR_SIZE * LC_SECTOR_SIZE;
	if (img_size == 0 || img_size > IMAGE_MAX)
		return 0;
	img = calloc(1, img_size);
	if (!img)
		return 0;
	memcpy(img, data + 1, size - 1);
	if (data[0] & 1)
		fix_checksums(img, img_size);
	if (lc_volcache_new("meta", img_size, img, &mdev) < 0)
		goto out;

	/* Read-only: the loader's checks alone. */
	if (lc_meta_open(mdev, NULL, NULL, LC_META_OPEN_RDONLY, &meta, &err) == 0) {
		lc_meta_get_info(meta, &info);
		if (info.nr_hydrated > info.nr_regions)
			abort();
		(void)lc_meta_next_unhydrated(meta, 0);
		(void)lc_meta_close(meta);

		/* Writable, against a destination of the size it records. */
		if (info.dest_size_bytes <= DEST_MAX && info.dest_size_bytes % LC_SECTOR_SIZE == 0 &&
		    lc_volcache_new("dst", info.dest_size_bytes, NULL, &dst) == 0 &&
		    lc_meta_open(mdev, dst, NULL, 0, &meta, &err) == 0) {
			if (info.nr_regions > 0)
				(void)lc_meta_set_hydrated(meta, 0, 1);
			(void)lc_meta_commit(meta);
			(void)lc_meta_close(meta);
		}
	} else if (!err.msg[0]) {
		abort(); /* every refusal says why */
	}
out:
	lc_backend_close(dst);
	lc_backend_close(mdev);
	free(img);
	return 0;
}
