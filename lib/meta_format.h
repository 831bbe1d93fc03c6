/* SPDX-License-Identifier: MIT */
/*
 * On-disk format of the metadata store (private to lib/meta.c and its tests;
 * the layout and the commit protocol are described at the top of meta.c).
 *
 * Every multi-byte field is little-endian on disk and converted explicitly
 * (htole64(), le64toh() and their kin); the struct is packed so that its
 * layout is the same on every compiler and architecture. The static
 * assertions below pin it.
 */
#ifndef LC_META_FORMAT_H
#define LC_META_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include <lunclone/meta.h>

#define LC_META_MAGIC "LUNCLNMD" /* 8 bytes, no terminating NUL on disk */
#define LC_META_MAGIC_LEN 8u
#define LC_META_VERSION 1u

/* superblock.flags */
#define LC_META_SB_CLEAN (1u << 0) /* last writer closed the store cleanly */
#define LC_META_SB_KNOWN_FLAGS LC_META_SB_CLEAN

/* Blocks 0 and 1 hold the two superblock slots; bitmap copy 0 starts at 2. */
#define LC_META_NR_SB_SLOTS 2u
#define LC_META_BITMAP_FIRST_BLOCK 2u

/* Regions (bits) per bitmap block, and 64-bit words per bitmap block. */
#define LC_META_BITS_PER_BLOCK (LC_META_BLOCK_SIZE * 8u)
#define LC_META_WORDS_PER_BLOCK (LC_META_BLOCK_SIZE / 8u)

/*
 * One superblock, at the start of its 4096-byte block; the rest of the block
 * is zero. sb_crc is the CRC32C of the whole block with sb_crc itself zeroed.
 */
struct lc_meta_sb_disk {
	uint8_t magic[LC_META_MAGIC_LEN]; /* LC_META_MAGIC */
	uint32_t version;		  /* le32, LC_META_VERSION */
	uint32_t flags;			  /* le32, LC_META_SB_* */
	uint64_t location;		  /* le64, block number of this superblock */
	uint64_t generation;		  /* le64, lives in slot generation % 2 */
	uint8_t uuid[16];
	uint32_t region_size;	/* le32, bytes */
	uint64_t source_size;	/* le64, bytes */
	uint64_t dest_size;	/* le64, bytes */
	uint64_t nr_regions;	/* le64, ceil(source_size / region_size) */
	uint64_t bitmap_blocks; /* le64, blocks per bitmap copy */
	uint64_t bitmap_start;	/* le64, first block of the copy in use */
	uint32_t bitmap_crc;	/* le32, CRC32C of the le32 per-block CRCs */
	uint16_t source_id_len; /* le16, <= LC_META_SOURCE_ID_MAX */
	uint8_t source_id[LC_META_SOURCE_ID_MAX];
	uint32_t sb_crc; /* le32 */
} __attribute__((packed));

_Static_assert(offsetof(struct lc_meta_sb_disk, version) == 8, "sb layout");
_Static_assert(offsetof(struct lc_meta_sb_disk, location) == 16, "sb layout");
_Static_assert(offsetof(struct lc_meta_sb_disk, uuid) == 32, "sb layout");
_Static_assert(offsetof(struct lc_meta_sb_disk, region_size) == 48, "sb layout");
_Static_assert(offsetof(struct lc_meta_sb_disk, bitmap_crc) == 92, "sb layout");
_Static_assert(offsetof(struct lc_meta_sb_disk, source_id) == 98, "sb layout");
_Static_assert(offsetof(struct lc_meta_sb_disk, sb_crc) == 354, "sb layout");
_Static_assert(sizeof(struct lc_meta_sb_disk) == 358, "sb layout");
_Static_assert(sizeof(struct lc_meta_sb_disk) <= LC_META_BLOCK_SIZE, "sb fits its block");

#endif
