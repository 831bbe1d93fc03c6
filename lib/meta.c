/* SPDX-License-Identifier: MIT */
/*
 * The metadata store: on-disk format, loading, and the commit transaction.
 *
 * Layout
 * ------
 * The store is an array of 4096-byte blocks (LC_META_BLOCK_SIZE) on its own
 * file or device. With R = ceil(source_size / region_size) regions (the last
 * one may be partial) and B = ceil(R / 32768) bitmap blocks:
 *
 *     block 0            superblock slot 0
 *     block 1            superblock slot 1
 *     blocks 2 .. 2+B-1  bitmap copy 0
 *     blocks 2+B .. 2+2B-1  bitmap copy 1
 *
 * so lc_meta_required_size() is (2 + 2B) * 4096. A bitmap block is raw bits:
 * region r is bit r % 64 of the little-endian 64-bit word r / 64 of the copy
 * (32768 regions per block). Bits past the last region are zero; a copy that
 * has one set is refused.
 *
 * A superblock (struct lc_meta_sb_disk in meta_format.h: fixed-width,
 * little-endian, packed) sits at the start of its block, the rest of which is
 * zero. It holds magic "LUNCLNMD", version 1, flags (CLEAN), its own block
 * number, the generation, the uuid, the geometry (region_size, source_size,
 * dest_size, nr_regions, bitmap_blocks), bitmap_start (first block of the copy
 * this generation uses), bitmap_crc, the source's identity, and sb_crc: the
 * CRC32C of the whole block with sb_crc zeroed. The identity is opaque bytes
 * recorded at format (for an iscsi:// source, the VPD 0x83 designation
 * descriptor, see struct lc_backend; empty for a file), compared at open when
 * the caller passes one.
 *
 * Generation g lives in slot g % 2 and uses bitmap copy g % 2. bitmap_crc is
 * the CRC32C of the array of the copy's per-block CRC32Cs, each stored as
 * le32: a commit that rewrites only some blocks keeps the per-block CRCs of
 * both copies in memory (4 bytes per 4 KiB block) and folds them again,
 * without reading anything back. Format writes both copies zeroed and
 * generations 0 and 1, both valid and CLEAN.
 *
 * Open reads both slots. A slot is valid when magic, checksum, version,
 * location, generation parity, flags, the geometry (each field checked on its
 * own, as dm-clone's sb_check() does), the device's size and the checksum and
 * padding of its bitmap copy all check out; the valid slot with the highest
 * generation wins, the other copy is stale and will be rewritten entirely by
 * the next commit. When none is valid, the message names the defect of each
 * slot. The store keeps in memory one bit per region (the live bitmap, the
 * only full-size structure) plus per copy one dirty bit and one CRC per
 * bitmap block.
 *
 * Commit
 * ------
 * The seed rule (Linux "dm clone: Flush destination device before committing
 * metadata"): a region may be marked hydrated on disk only once its data is
 * durable on the destination. A commit of generation g + 1 into copy
 * c = (g + 1) % 2 runs:
 *
 *   1. take copy c's dirty set (atomic exchange of its words to zero) and
 *      snapshot the live bits of those blocks into the I/O buffer;
 *   2. flush the destination -- always, even with nothing to write;
 *   3. write the snapshot to copy c (runs of contiguous blocks);
 *   4. flush the metadata device;
 *   5. write superblock slot c with generation g + 1;
 *   6. flush the metadata device. Only now is g + 1 the current generation.
 *
 * Why the snapshot comes before the destination flush (dm-clone takes its
 * dirty bitmap in pre_commit, before the flush, for the same reason):
 * lc_meta_set_hydrated() runs concurrently with the commit, and its caller
 * only promises that the region's data write has *completed*, i.e. sits in the
 * destination's volatile cache. A bit read after the flush may belong to data
 * the flush did not cover. Every bit in a snapshot taken before the flush was
 * set by a call that began before the flush, so its data is covered.
 *
 * The buffer is fixed (META_BUF_BLOCKS blocks, allocated at open), so a
 * commit with more dirty blocks than that goes in chunks; a later chunk's
 * snapshot is taken after the flush. mark_seq counts set_hydrated calls begun
 * (incremented before the bits are set): if it has not moved since it was
 * read just before the last destination flush, every bit the chunk saw
 * comes from a call that began before that flush; otherwise the destination
 * is flushed again before the chunk is written. One flush in the usual case.
 *
 * When nothing was marked since the last commit and the CLEAN flag does not
 * change, steps 1 and 3-6 are skipped; step 2 never is (a SCSI SYNCHRONIZE
 * CACHE relies on it).
 *
 * Dirty sets. lc_meta_set_hydrated() sets the live bits, then marks the
 * affected blocks dirty in both copies' sets (each a struct lc_bitmap of B
 * bits). A commit into copy c exchanges c's dirty words before it reads live
 * bits, so a mark that lands after the exchange is simply picked up by the
 * next commit into c; copy c then holds everything up to the snapshot, the
 * other copy's set keeps the blocks it still has to catch up on. At open the
 * copy in use is clean and every block of the other copy is dirty.
 *
 * Group commit: commit_lock + commit_cond, counters commits_started and
 * commits_done. A caller waits for a commit that started after its call;
 * whoever finds none running runs the next one itself, without holding the
 * lock during I/O. One commit runs at a time.
 *
 * Failure, as dm-clone: any error in steps 2-6 switches the store to
 * LC_META_MODE_READ_ONLY for good; a failed flush is never retried as if it
 * had succeeded (its data may be gone). Which device failed (the destination's
 * flush of step 2, or the store itself) is kept for status
 * (lc_meta_failed_device()). The callers waiting for the failed commit get
 * its error; every later lc_meta_commit() returns -EROFS without
 * I/O; lc_meta_close() returns the original error. Marks are refused with
 * -EROFS, lookups keep working. A store opened with LC_META_OPEN_RDONLY is
 * read-only from the start and never writes.
 *
 * A writable open clears the in-memory CLEAN flag and commits at once, so the
 * store says "in use" on disk; lc_meta_close() commits with CLEAN set.
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <lunclone/backend.h>
#include <lunclone/bitmap.h>
#include <lunclone/err.h>
#include <lunclone/meta.h>

#include "meta_format.h"
#include "util/crc32c.h"

#define BLOCK LC_META_BLOCK_SIZE

/* I/O buffer for bitmap blocks: 64 blocks = 256 KiB, 2M regions per chunk. */
#define META_BUF_BLOCKS 64u

/* Room for one slot's defect, and for the message naming both. */
#define WHY_LEN 112u

/* The superblock in CPU byte order. */
struct sb_info {
	uint32_t version;
	uint32_t flags;
	uint64_t location;
	uint64_t generation;
	uint8_t uuid[16];
	uint32_t region_size;
	uint64_t source_size;
	uint64_t dest_size;
	uint64_t nr_regions;
	uint64_t bitmap_blocks;
	uint64_t bitmap_start;
	uint32_t bitmap_crc;
	uint16_t source_id_len;
	uint8_t source_id[LC_META_SOURCE_ID_MAX];
};

/* A run of bitmap blocks gathered into the I/O buffer by a commit. */
struct piece {
	uint64_t first_block;
	uint64_t nr_blocks;
	size_t buf_block; /* where in the buffer */
};

/*
 * Lock order: commit_lock only; nothing else here is a lock. The bitmaps and
 * counters are lock-free (atomics); the commit state is owned by the one
 * running commit (commit_running, under commit_lock, says whose turn it is).
 */
struct lc_meta {
	/* Set at open, immutable afterwards. */
	struct lc_backend *mdev;
	struct lc_backend *dest; /* NULL only when opened read-only */
	struct sb_info sb;	 /* geometry and identity of the store */
	unsigned region_shift;
	bool writable; /* opened without LC_META_OPEN_RDONLY */
	bool clean_at_open;

	/* Lock-free: set by lc_meta_set_hydrated() from any thread. */
	struct lc_bitmap live;	   /* one bit per region, only ever set */
	struct lc_bitmap dirty[2]; /* per bitmap copy, one bit per block */
	_Atomic uint64_t nr_hydrated;
	_Atomic uint64_t mark_seq;   /* set_hydrated calls begun; see "Commit" */
	_Atomic int mode;	     /* enum lc_meta_mode; WRITE -> READ_ONLY only */
	_Atomic uint64_t generation; /* current durable generation; set by commits */

	/* Owned by the running commit (and by open before publication). */
	bool disk_clean;	/* CLEAN flag of the current generation */
	uint32_t *block_crc[2]; /* per copy, CRC32C of each block as on disk */
	struct lc_bitmap taken; /* dirty blocks taken by the running commit */
	uint8_t *buf;		/* buf_blocks blocks, 4096-aligned */
	size_t buf_blocks;
	struct piece *pieces; /* buf_blocks entries */
	uint8_t *sb_buf;      /* one block, 4096-aligned */

	/* Mutex protecting the group-commit state below. */
	pthread_mutex_t commit_lock;
	pthread_cond_t commit_cond; /* signalled when a commit ends */
	bool sync_inited;
	bool commit_running;	  /* Protected by commit_lock */
	bool want_clean;	  /* CLEAN flag for the next commit; commit_lock */
	uint64_t commits_started; /* Protected by commit_lock */
	uint64_t commits_done;	  /* Protected by commit_lock */
	uint64_t failed_at;	  /* number of the failed commit, 0 = none; commit_lock */
	int fail_err;		  /* its error; commit_lock */
	bool run_dest_failed;	  /* its destination flush failed; the running commit's */
	_Atomic int failed_device; /* enum lc_meta_device; set once, with failed_at */
};

/* --- geometry --- */

static uint64_t nr_regions_of(uint32_t region_size, uint64_t source_size)
{
	return source_size ? (source_size - 1) / region_size + 1 : 0;
}

static uint64_t bitmap_blocks_of(uint64_t nr_regions)
{
	return nr_regions ? (nr_regions - 1) / LC_META_BITS_PER_BLOCK + 1 : 0;
}

static uint64_t copy_start_block(uint64_t bitmap_blocks, unsigned copy)
{
	return LC_META_BITMAP_FIRST_BLOCK + (uint64_t)copy * bitmap_blocks;
}

static bool is_power_of_two(uint64_t v)
{
	return v && !(v & (v - 1));
}

/*
 * (2 + 2B) blocks. Cannot overflow: region_size >= 1 gives at most 2^49
 * bitmap blocks, 2^62 bytes. Returns 0 for a region size of 0.
 */
uint64_t lc_meta_required_size(uint32_t region_size_bytes, uint64_t source_size_bytes)
{
	uint64_t nr_blocks;

	if (region_size_bytes == 0)
		return 0;
	nr_blocks = bitmap_blocks_of(nr_regions_of(region_size_bytes, source_size_bytes));
	return (LC_META_BITMAP_FIRST_BLOCK + 2 * nr_blocks) * BLOCK;
}

/* --- superblock encoding --- */

static void sb_encode(const struct sb_info *sb, uint8_t *block)
{
	struct lc_meta_sb_disk d;
	uint32_t crc;

	memset(block, 0, BLOCK);
	memset(&d, 0, sizeof(d));
	memcpy(d.magic, LC_META_MAGIC, LC_META_MAGIC_LEN);
	d.version = htole32(sb->version);
	d.flags = htole32(sb->flags);
	d.location = htole64(sb->location);
	d.generation = htole64(sb->generation);
	memcpy(d.uuid, sb->uuid, sizeof(d.uuid));
	d.region_size = htole32(sb->region_size);
	d.source_size = htole64(sb->source_size);
	d.dest_size = htole64(sb->dest_size);
	d.nr_regions = htole64(sb->nr_regions);
	d.bitmap_blocks = htole64(sb->bitmap_blocks);
	d.bitmap_start = htole64(sb->bitmap_start);
	d.bitmap_crc = htole32(sb->bitmap_crc);
	d.source_id_len = htole16(sb->source_id_len);
	memcpy(d.source_id, sb->source_id, sizeof(d.source_id));
	d.sb_crc = 0;
	memcpy(block, &d, sizeof(d));
	crc = htole32(lc_crc32c(0, block, BLOCK));
	memcpy(block + offsetof(struct lc_meta_sb_disk, sb_crc), &crc, sizeof(crc));
}

static void sb_decode(const uint8_t *block, struct sb_info *sb)
{
	struct lc_meta_sb_disk d;

	memcpy(&d, block, sizeof(d));
	sb->version = le32toh(d.version);
	sb->flags = le32toh(d.flags);
	sb->location = le64toh(d.location);
	sb->generation = le64toh(d.generation);
	memcpy(sb->uuid, d.uuid, sizeof(sb->uuid));
	sb->region_size = le32toh(d.region_size);
	sb->source_size = le64toh(d.source_size);
	sb->dest_size = le64toh(d.dest_size);
	sb->nr_regions = le64toh(d.nr_regions);
	sb->bitmap_blocks = le64toh(d.bitmap_blocks);
	sb->bitmap_start = le64toh(d.bitmap_start);
	sb->bitmap_crc = le32toh(d.bitmap_crc);
	sb->source_id_len = le16toh(d.source_id_len);
	memcpy(sb->source_id, d.source_id, sizeof(sb->source_id));
}

/* CRC32C of the block with its sb_crc field taken as zero. */
static uint32_t sb_block_crc(const uint8_t *block)
{
	static const uint8_t zero[4];
	size_t at = offsetof(struct lc_meta_sb_disk, sb_crc);
	uint32_t crc;

	crc = lc_crc32c(0, block, at);
	crc = lc_crc32c(crc, zero, sizeof(zero));
	return lc_crc32c(crc, block + at + 4, BLOCK - at - 4);
}

/* bitmap_crc: CRC32C over the le32 per-block CRCs of one copy. */
static uint32_t fold_block_crcs(const uint32_t *crcs, uint64_t nr_blocks)
{
	uint32_t crc = 0;

	for (uint64_t i = 0; i < nr_blocks; i++) {
		uint32_t le = htole32(crcs[i]);

		crc = lc_crc32c(crc, &le, sizeof(le));
	}
	return crc;
}

enum sb_verdict {
	SB_VALID,
	SB_BAD_MAGIC,
	SB_INVALID,
};

/*
 * Checks one slot's superblock, each defect with its own reason in why
 * (without the "superblock N: " prefix). Does not look at the bitmap.
 */
static enum sb_verdict sb_check(const uint8_t *block, unsigned slot, uint64_t mdev_size,
				struct sb_info *sb, char *why, size_t why_len)
{
	const struct lc_meta_sb_disk *d = (const void *)block;
	uint32_t stored_crc;
	uint64_t nr_regions, nr_blocks, need;

	if (memcmp(d->magic, LC_META_MAGIC, LC_META_MAGIC_LEN) != 0) {
		snprintf(why, why_len, "bad magic");
		return SB_BAD_MAGIC;
	}
	memcpy(&stored_crc, block + offsetof(struct lc_meta_sb_disk, sb_crc), sizeof(stored_crc));
	if (le32toh(stored_crc) != sb_block_crc(block)) {
		snprintf(why, why_len, "checksum mismatch");
		return SB_INVALID;
	}
	sb_decode(block, sb);
	if (sb->version != LC_META_VERSION) {
		snprintf(why, why_len, "unsupported version %" PRIu32, sb->version);
		return SB_INVALID;
	}
	if (sb->location != slot) {
		snprintf(why, why_len, "location %" PRIu64 ", expected %u", sb->location, slot);
		return SB_INVALID;
	}
	if (sb->generation % LC_META_NR_SB_SLOTS != slot) {
		snprintf(why, why_len, "generation %" PRIu64 " does not belong in this slot",
			 sb->generation);
		return SB_INVALID;
	}
	if (sb->flags & ~LC_META_SB_KNOWN_FLAGS) {
		snprintf(why, why_len, "unknown flags 0x%" PRIx32, sb->flags);
		return SB_INVALID;
	}
	if (!is_power_of_two(sb->region_size)) {
		snprintf(why, why_len, "region_size %" PRIu32 " is not a power of two",
			 sb->region_size);
		return SB_INVALID;
	}
	if (sb->region_size < LC_REGION_SIZE_MIN || sb->region_size > LC_REGION_SIZE_MAX) {
		snprintf(why, why_len, "region_size %" PRIu32 " is out of range", sb->region_size);
		return SB_INVALID;
	}
	if (sb->source_size == 0) {
		snprintf(why, why_len, "source_size is 0");
		return SB_INVALID;
	}
	if (sb->source_size % LC_SECTOR_SIZE) {
		snprintf(why, why_len, "source_size %" PRIu64 " is not a multiple of %u",
			 sb->source_size, LC_SECTOR_SIZE);
		return SB_INVALID;
	}
	nr_regions = nr_regions_of(sb->region_size, sb->source_size);
	if (sb->nr_regions != nr_regions) {
		snprintf(why, why_len, "nr_regions %" PRIu64 ", expected %" PRIu64, sb->nr_regions,
			 nr_regions);
		return SB_INVALID;
	}
	nr_blocks = bitmap_blocks_of(nr_regions);
	if (sb->bitmap_blocks != nr_blocks) {
		snprintf(why, why_len, "bitmap_blocks %" PRIu64 ", expected %" PRIu64,
			 sb->bitmap_blocks, nr_blocks);
		return SB_INVALID;
	}
	if (sb->bitmap_start != copy_start_block(nr_blocks, slot)) {
		snprintf(why, why_len, "bitmap_start %" PRIu64 ", expected %" PRIu64,
			 sb->bitmap_start, copy_start_block(nr_blocks, slot));
		return SB_INVALID;
	}
	if (sb->dest_size < sb->source_size) {
		snprintf(why, why_len, "dest_size: destination is smaller than source");
		return SB_INVALID;
	}
	if (sb->source_id_len > LC_META_SOURCE_ID_MAX) {
		snprintf(why, why_len, "source_id_len %u is too long", sb->source_id_len);
		return SB_INVALID;
	}
	for (size_t i = sizeof(struct lc_meta_sb_disk); i < BLOCK; i++) {
		if (block[i]) {
			snprintf(why, why_len, "reserved bytes not zero");
			return SB_INVALID;
		}
	}
	need = lc_meta_required_size(sb->region_size, sb->source_size);
	if (mdev_size < need) {
		snprintf(why, why_len, "metadata device: needs %" PRIu64 " bytes, has %" PRIu64,
			 need, mdev_size);
		return SB_INVALID;
	}
	return SB_VALID;
}

/* --- allocation --- */

static void *alloc_blocks(size_t nr_blocks)
{
	void *p;

	if (nr_blocks > SIZE_MAX / BLOCK || posix_memalign(&p, BLOCK, nr_blocks * BLOCK) != 0)
		return NULL;
	memset(p, 0, nr_blocks * BLOCK);
	return p;
}

/* Frees what geometry_alloc() allocated; accepts a partial allocation. */
static void geometry_free(struct lc_meta *m)
{
	lc_bitmap_destroy(&m->live);
	lc_bitmap_destroy(&m->dirty[0]);
	lc_bitmap_destroy(&m->dirty[1]);
	lc_bitmap_destroy(&m->taken);
	free(m->block_crc[0]);
	free(m->block_crc[1]);
	m->block_crc[0] = m->block_crc[1] = NULL;
	free(m->buf);
	m->buf = NULL;
	free(m->pieces);
	m->pieces = NULL;
}

/* Everything whose size depends on the superblock's geometry. */
static int geometry_alloc(struct lc_meta *m, const struct sb_info *sb)
{
	uint64_t nr_blocks = sb->bitmap_blocks;

	if (nr_blocks > SIZE_MAX / sizeof(uint32_t))
		return -ENOMEM;
	m->buf_blocks = nr_blocks < META_BUF_BLOCKS ? (size_t)nr_blocks : META_BUF_BLOCKS;
	if (lc_bitmap_init(&m->live, sb->nr_regions) < 0 ||
	    lc_bitmap_init(&m->dirty[0], nr_blocks) < 0 ||
	    lc_bitmap_init(&m->dirty[1], nr_blocks) < 0 || lc_bitmap_init(&m->taken, nr_blocks) < 0)
		goto out_with_geometry;
	m->block_crc[0] = calloc((size_t)nr_blocks, sizeof(uint32_t));
	m->block_crc[1] = calloc((size_t)nr_blocks, sizeof(uint32_t));
	m->buf = alloc_blocks(m->buf_blocks);
	m->pieces = calloc(m->buf_blocks, sizeof(*m->pieces));
	if (!m->block_crc[0] || !m->block_crc[1] || !m->buf || !m->pieces)
		goto out_with_geometry;
	return 0;

out_with_geometry:
	geometry_free(m);
	return -ENOMEM;
}

/* --- loading --- */

/*
 * Reads bitmap copy `copy` into the live bitmap and its per-block CRCs.
 * Returns 0, 1 with a defect in why, or -errno (I/O).
 */
static int load_copy(struct lc_meta *m, const struct sb_info *sb, unsigned copy, char *why,
		     size_t why_len)
{
	uint64_t nr_blocks = sb->bitmap_blocks, nr_words = lc_bitmap_nr_words(sb->nr_regions);
	uint64_t start = copy_start_block(nr_blocks, copy);
	/* Bits of the last word past the last region. */
	uint64_t tail_mask = sb->nr_regions % 64 ? ~0ull << (sb->nr_regions % 64) : 0;
	uint64_t blk = 0;
	int r;

	while (blk < nr_blocks) {
		uint64_t n = nr_blocks - blk < m->buf_blocks ? nr_blocks - blk : m->buf_blocks;

		r = lc_backend_pread(m->mdev, m->buf, (size_t)(n * BLOCK), (start + blk) * BLOCK);
		if (r < 0)
			return r;
		for (uint64_t i = 0; i < n; i++) {
			const uint8_t *p = m->buf + i * BLOCK;
			uint64_t w0 = (blk + i) * LC_META_WORDS_PER_BLOCK;

			m->block_crc[copy][blk + i] = lc_crc32c(0, p, BLOCK);
			for (uint64_t j = 0; j < LC_META_WORDS_PER_BLOCK; j++) {
				uint64_t v, past = ~0ull, w = w0 + j;

				memcpy(&v, p + j * 8, sizeof(v));
				v = le64toh(v);
				/* Not yet published: plain stores. */
				if (w < nr_words) {
					past = w == nr_words - 1 ? tail_mask : 0;
					m->live.words[w] = v & ~past;
				}
				if (v & past) {
					snprintf(why, why_len,
						 "bitmap: bits set past the last region (copy %u)",
						 copy);
					return 1;
				}
			}
		}
		blk += n;
	}
	if (fold_block_crcs(m->block_crc[copy], nr_blocks) != sb->bitmap_crc) {
		snprintf(why, why_len, "bitmap copy %u checksum mismatch", copy);
		return 1;
	}
	return 0;
}

/* Hex of the first bytes of id into out (room for ID_HEX_BYTES), "..." when cut. */
#define ID_HEX_BYTES 16u
static void id_hex(char out[2 * ID_HEX_BYTES + 4], const uint8_t *id, uint16_t len)
{
	static const char digits[] = "0123456789abcdef";
	unsigned n = len < ID_HEX_BYTES ? len : ID_HEX_BYTES, i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 0xf];
	}
	strcpy(out + 2 * n, len > n ? "..." : "");
}

/*
 * The expected geometry against the store's; each field its own message.
 * The source identity is compared only when both sides have one: a store
 * formatted before identities were recorded (or from a file, which has
 * none) still opens, and so does a source that cannot tell (the size still
 * has to match).
 */
static int check_expect(const struct sb_info *sb, const struct lc_meta_params *expect,
			struct lc_err *err)
{
	char have[2 * ID_HEX_BYTES + 4], want[2 * ID_HEX_BYTES + 4];

	if (!expect)
		return 0;
	if (expect->source_id_len && sb->source_id_len &&
	    (expect->source_id_len != sb->source_id_len ||
	     memcmp(expect->source_id, sb->source_id, sb->source_id_len) != 0)) {
		id_hex(have, sb->source_id, sb->source_id_len);
		id_hex(want, expect->source_id, expect->source_id_len);
		return lc_err_set(err, -EINVAL,
				  "source_id: store was formatted for source %s, this source is %s "
				  "(wrong LUN?)",
				  have, want);
	}
	if (expect->region_size_bytes && expect->region_size_bytes != sb->region_size)
		return lc_err_set(err, -EINVAL,
				  "region_size: store has %" PRIu32 ", device expects %" PRIu32,
				  sb->region_size, expect->region_size_bytes);
	if (expect->source_size_bytes && expect->source_size_bytes != sb->source_size)
		return lc_err_set(err, -EINVAL,
				  "source_size: store has %" PRIu64 ", device expects %" PRIu64,
				  sb->source_size, expect->source_size_bytes);
	if (expect->dest_size_bytes && expect->dest_size_bytes != sb->dest_size)
		return lc_err_set(err, -EINVAL,
				  "dest_size: store has %" PRIu64 ", device expects %" PRIu64,
				  sb->dest_size, expect->dest_size_bytes);
	return 0;
}

static int check_block_size(const struct lc_backend *mdev, struct lc_err *err)
{
	uint32_t lbs = mdev->logical_block_size;

	if (lbs > BLOCK || (lbs && BLOCK % lbs))
		return lc_err_set(err, -EINVAL,
				  "metadata device: logical block size %" PRIu32
				  " does not divide the %u-byte metadata block",
				  lbs, BLOCK);
	return 0;
}

static void meta_free(struct lc_meta *m)
{
	if (!m)
		return;
	geometry_free(m);
	free(m->sb_buf);
	if (m->sync_inited) {
		(void)pthread_cond_destroy(&m->commit_cond);
		(void)pthread_mutex_destroy(&m->commit_lock);
	}
	free(m);
}

/* --- commit --- */

/*
 * Copies the live bits of bitmap blocks [first, first + n) into dst, as on
 * disk, and records their CRCs for copy c. Atomic loads: set_hydrated runs
 * concurrently.
 */
static void snapshot_blocks(struct lc_meta *m, unsigned c, uint64_t first, uint64_t n, uint8_t *dst)
{
	uint64_t nr_words = lc_bitmap_nr_words(m->sb.nr_regions);

	for (uint64_t i = 0; i < n; i++) {
		uint8_t *p = dst + i * BLOCK;
		uint64_t w0 = (first + i) * LC_META_WORDS_PER_BLOCK;

		for (uint64_t j = 0; j < LC_META_WORDS_PER_BLOCK; j++) {
			uint64_t w = w0 + j, v = 0;

			if (w < nr_words)
				v = htole64(__atomic_load_n(&m->live.words[w], __ATOMIC_ACQUIRE));
			memcpy(p + j * 8, &v, sizeof(v));
		}
		m->block_crc[c][first + i] = lc_crc32c(0, p, BLOCK);
	}
}

/* Flushes the destination, noting a failure as the destination's. */
static int flush_dest(struct lc_meta *m)
{
	int r = lc_backend_flush(m->dest);

	if (r < 0)
		m->run_dest_failed = true;
	return r;
}

/*
 * Step 2 for one chunk: flush the destination before the chunk's metadata
 * writes. The first chunk always flushes; a later one only if a
 * set_hydrated call began since the last flush was issued (see "Commit").
 */
static int flush_dest_for_chunk(struct lc_meta *m, bool first_chunk, uint64_t *seq_at_flush)
{
#ifdef LC_META_MUTATE_REVERSED_COMMIT
	/* Mutant for the crash-consistency test only: flushes at the end. */
	(void)m;
	(void)first_chunk;
	(void)seq_at_flush;
	return 0;
#else
	uint64_t seq = atomic_load(&m->mark_seq);

	if (!first_chunk && seq == *seq_at_flush)
		return 0;
	*seq_at_flush = seq;
	return flush_dest(m);
#endif
}

/*
 * Steps 1-3: takes copy c's dirty blocks and writes them, destination
 * flushed before each chunk's writes. *ret_wrote says whether any block was
 * written.
 */
static int write_bitmap_copy(struct lc_meta *m, unsigned c, bool *ret_wrote)
{
	uint64_t nr_blocks = m->sb.bitmap_blocks, nr_words = lc_bitmap_nr_words(nr_blocks);
	uint64_t start = copy_start_block(nr_blocks, c), pos = 0, seq = 0;
	bool first_chunk = true;
	int r;

	/* Exchange before any live bit is read: a mark that misses the
	 * exchange goes to the next commit into this copy. */
	for (uint64_t w = 0; w < nr_words; w++)
		m->taken.words[w] = __atomic_exchange_n(&m->dirty[c].words[w], 0, __ATOMIC_SEQ_CST);

	*ret_wrote = false;
	for (;;) {
		size_t nr_pieces = 0, used = 0;

		while (used < m->buf_blocks) {
			uint64_t blk = lc_bitmap_find_next_set(&m->taken, pos), end, n;

			if (blk >= nr_blocks)
				break;
			end = lc_bitmap_find_next_zero(&m->taken, blk);
			n = end - blk;
			if (n > m->buf_blocks - used)
				n = m->buf_blocks - used;
			snapshot_blocks(m, c, blk, n, m->buf + used * BLOCK);
			m->pieces[nr_pieces++] =
			    (struct piece){.first_block = blk, .nr_blocks = n, .buf_block = used};
			used += (size_t)n;
			pos = blk + n;
		}
		if (nr_pieces == 0 && !first_chunk)
			break;
		r = flush_dest_for_chunk(m, first_chunk, &seq);
		if (r < 0)
			return r;
		first_chunk = false;
		for (size_t i = 0; i < nr_pieces; i++) {
			const struct piece *pc = &m->pieces[i];

			r = lc_backend_pwrite(m->mdev, m->buf + pc->buf_block * BLOCK,
					      (size_t)(pc->nr_blocks * BLOCK),
					      (start + pc->first_block) * BLOCK);
			if (r < 0)
				return r;
			*ret_wrote = true;
		}
		if (nr_pieces == 0)
			break;
	}
	return 0;
}

/* One commit; the caller made sure it is the only one running. */
static int commit_run(struct lc_meta *m, bool clean)
{
	uint64_t gen = atomic_load(&m->generation), next = gen + 1;
	unsigned c = (unsigned)(next % LC_META_NR_SB_SLOTS);
	struct sb_info sb;
	bool wrote;
	int r;

	/* Nothing marked since the last commit (its copy's set is empty) and
	 * the flag unchanged: only the destination flush, which is owed. */
	if (clean == m->disk_clean &&
	    lc_bitmap_find_next_set(&m->dirty[gen % LC_META_NR_SB_SLOTS], 0) >= m->sb.bitmap_blocks)
		return flush_dest(m);

	r = write_bitmap_copy(m, c, &wrote);
	if (r < 0)
		return r;
	if (wrote) {
		r = lc_backend_flush(m->mdev);
		if (r < 0)
			return r;
	}
	sb = m->sb;
	sb.flags = clean ? LC_META_SB_CLEAN : 0;
	sb.location = c;
	sb.generation = next;
	sb.bitmap_start = copy_start_block(sb.bitmap_blocks, c);
	sb.bitmap_crc = fold_block_crcs(m->block_crc[c], sb.bitmap_blocks);
	sb_encode(&sb, m->sb_buf);
	r = lc_backend_pwrite(m->mdev, m->sb_buf, BLOCK, (uint64_t)c * BLOCK);
	if (r < 0)
		return r;
	r = lc_backend_flush(m->mdev);
	if (r < 0)
		return r;
#ifdef LC_META_MUTATE_REVERSED_COMMIT
	/* Mutant for the crash-consistency test only: destination last. */
	r = flush_dest(m);
	if (r < 0)
		return r;
#endif
	atomic_store(&m->generation, next);
	m->disk_clean = clean;
	return 0;
}

/* What lc_meta_commit() returns to a caller that needed commit number n. */
static int commit_result_locked(const struct lc_meta *m, uint64_t n)
{
	if (!m->failed_at || n < m->failed_at)
		return 0;
	return n == m->failed_at ? m->fail_err : -EROFS;
}

int lc_meta_commit(struct lc_meta *m)
{
	uint64_t target;
	int r;

	pthread_mutex_lock(&m->commit_lock);
	if (atomic_load(&m->mode) != LC_META_MODE_WRITE) {
		pthread_mutex_unlock(&m->commit_lock);
		return -EROFS;
	}
	/* The next commit to start, whether or not one is running now. */
	target = m->commits_started + 1;
	while (m->commits_done < target) {
		uint64_t n;
		bool clean;

		if (m->commit_running) {
			pthread_cond_wait(&m->commit_cond, &m->commit_lock);
			continue;
		}
		if (m->failed_at)
			break;
		m->commit_running = true;
		n = ++m->commits_started;
		clean = m->want_clean;
		/* No lock during I/O: marks, lookups and new waiters go on. */
		m->run_dest_failed = false;
		pthread_mutex_unlock(&m->commit_lock);
		r = commit_run(m, clean);
		pthread_mutex_lock(&m->commit_lock);
		if (r < 0) {
			/* Never back: a failed flush may have lost data. */
			atomic_store(&m->failed_device,
				     m->run_dest_failed ? LC_META_DEV_DEST : LC_META_DEV_STORE);
			atomic_store(&m->mode, LC_META_MODE_READ_ONLY);
			m->failed_at = n;
			m->fail_err = r;
		}
		m->commits_done = n;
		m->commit_running = false;
		pthread_cond_broadcast(&m->commit_cond);
	}
	r = commit_result_locked(m, target);
	pthread_mutex_unlock(&m->commit_lock);
	return r;
}

/* --- open, close, format --- */

int lc_meta_open(struct lc_backend *mdev, struct lc_backend *dest,
		 const struct lc_meta_params *expect, unsigned flags, struct lc_meta **ret_meta,
		 struct lc_err *err)
{
	bool rdonly = flags & LC_META_OPEN_RDONLY;
	struct sb_info sbs[LC_META_NR_SB_SLOTS];
	enum sb_verdict verdict[LC_META_NR_SB_SLOTS];
	char why[LC_META_NR_SB_SLOTS][WHY_LEN];
	unsigned order[LC_META_NR_SB_SLOTS], nr_order = 0;
	int chosen = -1;
	struct lc_meta *m;
	uint8_t *slots;
	int r;

	if (!mdev || !ret_meta)
		return lc_err_set(err, -EINVAL, "open metadata: no device");
	if (flags & ~(unsigned)LC_META_OPEN_RDONLY)
		return lc_err_set(err, -EINVAL, "open metadata: unknown flags 0x%x", flags);
	if (!rdonly && !dest)
		return lc_err_set(err, -EINVAL,
				  "open metadata: a writable store needs its destination device");
	if (!rdonly && mdev->read_only)
		return lc_err_set(err, -EROFS,
				  "metadata device: read-only, cannot open the store writable");
	r = check_block_size(mdev, err);
	if (r < 0)
		return r;
	if (mdev->size_bytes < LC_META_NR_SB_SLOTS * BLOCK)
		return lc_err_set(err, -EINVAL,
				  "metadata device: needs at least %u bytes, has %" PRIu64,
				  LC_META_NR_SB_SLOTS * BLOCK, mdev->size_bytes);

	m = calloc(1, sizeof(*m));
	slots = alloc_blocks(LC_META_NR_SB_SLOTS);
	if (!m || !slots) {
		free(m);
		free(slots);
		return lc_err_set(err, -ENOMEM, "open metadata: out of memory");
	}
	m->mdev = mdev;
	m->dest = dest;
	m->writable = !rdonly;
	m->sb_buf = slots; /* both slots read here; later the commit's block */

	r = lc_backend_pread(mdev, slots, LC_META_NR_SB_SLOTS * BLOCK, 0);
	if (r < 0) {
		lc_err_set(err, r, "metadata device: reading the superblocks failed: %s",
			   strerror(-r));
		goto out_with_meta;
	}
	for (unsigned s = 0; s < LC_META_NR_SB_SLOTS; s++)
		verdict[s] = sb_check(slots + s * BLOCK, s, mdev->size_bytes, &sbs[s], why[s],
				      sizeof(why[s]));
	if (verdict[0] == SB_BAD_MAGIC && verdict[1] == SB_BAD_MAGIC) {
		r = lc_err_set(err, -EINVAL, "not a lunclone metadata store (bad magic)");
		goto out_with_meta;
	}
	/* Valid headers, newest generation first. */
	for (unsigned s = 0; s < LC_META_NR_SB_SLOTS; s++)
		if (verdict[s] == SB_VALID)
			order[nr_order++] = s;
	if (nr_order == 2 && sbs[order[1]].generation > sbs[order[0]].generation) {
		order[0] = 1;
		order[1] = 0;
	}
	for (unsigned i = 0; i < nr_order && chosen < 0; i++) {
		unsigned s = order[i];

		r = geometry_alloc(m, &sbs[s]);
		if (r < 0) {
			lc_err_set(err, r, "open metadata: out of memory for %" PRIu64 " regions",
				   sbs[s].nr_regions);
			goto out_with_meta;
		}
		r = load_copy(m, &sbs[s], s, why[s], sizeof(why[s]));
		if (r < 0) {
			lc_err_set(err, r, "metadata device: reading bitmap copy %u failed: %s", s,
				   strerror(-r));
			goto out_with_meta;
		}
		if (r == 0)
			chosen = (int)s;
		else
			geometry_free(m);
	}
	if (chosen < 0) {
		r = lc_err_set(err, -EINVAL, "superblock 0: %s; superblock 1: %s", why[0], why[1]);
		goto out_with_meta;
	}
	m->sb = sbs[chosen];
	r = check_expect(&m->sb, expect, err);
	if (r < 0)
		goto out_with_meta;

	m->region_shift = (unsigned)__builtin_ctz(m->sb.region_size);
	m->clean_at_open = m->sb.flags & LC_META_SB_CLEAN;
	m->disk_clean = m->clean_at_open;
	m->want_clean = false; /* in use: the store says dirty until close */
	atomic_init(&m->generation, m->sb.generation);
	atomic_init(&m->nr_hydrated, lc_bitmap_count(&m->live));
	atomic_init(&m->mark_seq, 0);
	atomic_init(&m->mode, rdonly ? LC_META_MODE_READ_ONLY : LC_META_MODE_WRITE);
	atomic_init(&m->failed_device, LC_META_DEV_NONE);
	/* The other copy is stale: the next commit rewrites all of it. */
	(void)lc_bitmap_set_range(&m->dirty[1 - chosen], 0, m->sb.bitmap_blocks);

	if (pthread_mutex_init(&m->commit_lock, NULL) != 0) {
		r = lc_err_set(err, -ENOMEM, "open metadata: cannot create a mutex");
		goto out_with_meta;
	}
	if (pthread_cond_init(&m->commit_cond, NULL) != 0) {
		(void)pthread_mutex_destroy(&m->commit_lock);
		r = lc_err_set(err, -ENOMEM, "open metadata: cannot create a condition variable");
		goto out_with_meta;
	}
	m->sync_inited = true;

	if (!rdonly) {
		r = lc_meta_commit(m);
		if (r < 0) {
			lc_err_set(err, r, "metadata: commit marking the store in use failed: %s",
				   strerror(-r));
			goto out_with_meta;
		}
	}
	*ret_meta = m;
	return 0;

out_with_meta:
	meta_free(m);
	return r;
}

int lc_meta_close(struct lc_meta *m)
{
	int r = 0;

	if (!m)
		return 0;
	if (m->writable) {
		pthread_mutex_lock(&m->commit_lock);
		m->want_clean = true;
		if (m->failed_at)
			r = m->fail_err;
		pthread_mutex_unlock(&m->commit_lock);
		if (r == 0)
			r = lc_meta_commit(m);
	}
	meta_free(m);
	return r;
}

/* Fills uuid with random bytes shaped as an RFC 4122 version 4 uuid. */
static int generate_uuid(uint8_t uuid[16])
{
	size_t got = 0;

	while (got < 16) {
		ssize_t n = getrandom(uuid + got, 16 - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
	return 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Checks format parameters; each field its own message. */
static int check_params(const struct lc_meta_params *p, struct lc_err *err)
{
	if (!is_power_of_two(p->region_size_bytes))
		return lc_err_set(err, -EINVAL, "region_size: %" PRIu32 " is not a power of two",
				  p->region_size_bytes);
	if (p->region_size_bytes < LC_REGION_SIZE_MIN || p->region_size_bytes > LC_REGION_SIZE_MAX)
		return lc_err_set(err, -EINVAL, "region_size: %" PRIu32 " is out of range [%u, %u]",
				  p->region_size_bytes, LC_REGION_SIZE_MIN, LC_REGION_SIZE_MAX);
	if (p->source_size_bytes == 0)
		return lc_err_set(err, -EINVAL, "source_size: must not be 0");
	if (p->source_size_bytes % LC_SECTOR_SIZE)
		return lc_err_set(err, -EINVAL, "source_size: %" PRIu64 " is not a multiple of %u",
				  p->source_size_bytes, LC_SECTOR_SIZE);
	if (p->dest_size_bytes < p->source_size_bytes)
		return lc_err_set(err, -EINVAL,
				  "dest_size: destination is smaller than source (%" PRIu64
				  " < %" PRIu64 ")",
				  p->dest_size_bytes, p->source_size_bytes);
	if (p->source_id_len > LC_META_SOURCE_ID_MAX)
		return lc_err_set(err, -EINVAL, "source_id_len: %u is more than %u",
				  p->source_id_len, LC_META_SOURCE_ID_MAX);
	return 0;
}

int lc_meta_format(struct lc_backend *mdev, const struct lc_meta_params *params, struct lc_err *err)
{
	struct sb_info sb;
	uint64_t need, nr_blocks;
	uint32_t zero_crc, bitmap_crc = 0;
	size_t buf_blocks;
	uint8_t *buf;
	int r;

	if (!mdev || !params)
		return lc_err_set(err, -EINVAL, "format metadata: no device or parameters");
	r = check_params(params, err);
	if (r < 0)
		return r;
	r = check_block_size(mdev, err);
	if (r < 0)
		return r;
	need = lc_meta_required_size(params->region_size_bytes, params->source_size_bytes);
	if (mdev->size_bytes < need)
		return lc_err_set(err, -EINVAL,
				  "metadata device: needs %" PRIu64 " bytes, has %" PRIu64, need,
				  mdev->size_bytes);

	memset(&sb, 0, sizeof(sb));
	sb.version = LC_META_VERSION;
	sb.flags = LC_META_SB_CLEAN;
	memcpy(sb.uuid, params->uuid, sizeof(sb.uuid));
	if (all_zero(sb.uuid, sizeof(sb.uuid))) {
		r = generate_uuid(sb.uuid);
		if (r < 0)
			return lc_err_set(err, r, "format metadata: generating a uuid: %s",
					  strerror(-r));
	}
	sb.region_size = params->region_size_bytes;
	sb.source_size = params->source_size_bytes;
	sb.dest_size = params->dest_size_bytes;
	sb.nr_regions = nr_regions_of(sb.region_size, sb.source_size);
	sb.bitmap_blocks = nr_blocks = bitmap_blocks_of(sb.nr_regions);
	sb.source_id_len = params->source_id_len;
	memcpy(sb.source_id, params->source_id, params->source_id_len);

	buf_blocks = nr_blocks < META_BUF_BLOCKS ? (size_t)nr_blocks : META_BUF_BLOCKS;
	buf = alloc_blocks(buf_blocks);
	if (!buf)
		return lc_err_set(err, -ENOMEM, "format metadata: out of memory");

	/* Both copies zeroed: the whole range after the superblocks. A device
	 * that reads back zeros after a discard (a sparse file) is zeroed in
	 * one call, so formatting for a huge source stays quick. */
	r = mdev->discard_zeroes ? lc_backend_discard(mdev, LC_META_BITMAP_FIRST_BLOCK * BLOCK,
						      2 * nr_blocks * BLOCK)
				 : -EOPNOTSUPP;
	if (r < 0 && r != -EOPNOTSUPP)
		goto out_with_io_error;
	for (uint64_t blk = r == 0 ? 2 * nr_blocks : 0; blk < 2 * nr_blocks;) {
		uint64_t n = 2 * nr_blocks - blk < buf_blocks ? 2 * nr_blocks - blk : buf_blocks;

		r = lc_backend_pwrite(mdev, buf, (size_t)(n * BLOCK),
				      (LC_META_BITMAP_FIRST_BLOCK + blk) * BLOCK);
		if (r < 0)
			goto out_with_io_error;
		blk += n;
	}
	zero_crc = htole32(lc_crc32c(0, buf, BLOCK));
	for (uint64_t i = 0; i < nr_blocks; i++)
		bitmap_crc = lc_crc32c(bitmap_crc, &zero_crc, sizeof(zero_crc));
	sb.bitmap_crc = bitmap_crc;
	r = lc_backend_flush(mdev);
	if (r < 0)
		goto out_with_io_error;

	for (unsigned s = 0; s < LC_META_NR_SB_SLOTS; s++) {
		sb.location = s;
		sb.generation = s;
		sb.bitmap_start = copy_start_block(nr_blocks, s);
		sb_encode(&sb, buf);
		r = lc_backend_pwrite(mdev, buf, BLOCK, (uint64_t)s * BLOCK);
		if (r < 0)
			goto out_with_io_error;
	}
	r = lc_backend_flush(mdev);
	if (r < 0)
		goto out_with_io_error;
	free(buf);
	return 0;

out_with_io_error:
	free(buf);
	return lc_err_set(err, r, "format metadata: %s", strerror(-r));
}

/* --- lookups --- */

uint64_t lc_meta_nr_regions(const struct lc_meta *m)
{
	return m->sb.nr_regions;
}

uint32_t lc_meta_region_size(const struct lc_meta *m)
{
	return m->sb.region_size;
}

unsigned lc_meta_region_shift(const struct lc_meta *m)
{
	return m->region_shift;
}

bool lc_meta_is_hydrated(const struct lc_meta *m, uint64_t region_nr)
{
	return region_nr < m->sb.nr_regions && lc_bitmap_test(&m->live, region_nr);
}

uint64_t lc_meta_nr_hydrated(const struct lc_meta *m)
{
	return atomic_load(&m->nr_hydrated);
}

uint64_t lc_meta_next_unhydrated(const struct lc_meta *m, uint64_t from)
{
	return lc_bitmap_find_next_zero(&m->live, from);
}

const struct lc_bitmap *lc_meta_bitmap(const struct lc_meta *m)
{
	return &m->live;
}

void lc_meta_get_info(const struct lc_meta *m, struct lc_meta_info *ret_info)
{
	memset(ret_info, 0, sizeof(*ret_info));
	ret_info->version = m->sb.version;
	memcpy(ret_info->uuid, m->sb.uuid, sizeof(ret_info->uuid));
	ret_info->region_size_bytes = m->sb.region_size;
	ret_info->source_size_bytes = m->sb.source_size;
	ret_info->dest_size_bytes = m->sb.dest_size;
	ret_info->nr_regions = m->sb.nr_regions;
	ret_info->nr_hydrated = atomic_load(&m->nr_hydrated);
	ret_info->generation = atomic_load(&m->generation);
	ret_info->clean = m->clean_at_open;
	memcpy(ret_info->source_id, m->sb.source_id, sizeof(ret_info->source_id));
	ret_info->source_id_len = m->sb.source_id_len;
}

enum lc_meta_mode lc_meta_mode(const struct lc_meta *m)
{
	return (enum lc_meta_mode)atomic_load(&m->mode);
}

enum lc_meta_device lc_meta_failed_device(const struct lc_meta *m)
{
	return (enum lc_meta_device)atomic_load(&m->failed_device);
}

const char *lc_meta_device_name(enum lc_meta_device dev)
{
	switch (dev) {
	case LC_META_DEV_NONE:
		return "none";
	case LC_META_DEV_DEST:
		return "destination";
	case LC_META_DEV_STORE:
		return "metadata";
	}
	return "unknown";
}

/*
 * Lock-free. Order matters: mark_seq, then the live bits, then the dirty
 * marks of both copies (see "Commit" and "Dirty sets" above). Returns
 * -EINVAL for a range past the last region.
 */
int64_t lc_meta_set_hydrated(struct lc_meta *m, uint64_t first_region, uint64_t nr)
{
	uint64_t newly, first_blk, last_blk;

	if (atomic_load(&m->mode) != LC_META_MODE_WRITE)
		return -EROFS;
	if (first_region > m->sb.nr_regions || nr > m->sb.nr_regions - first_region)
		return -EINVAL;
	if (nr == 0)
		return 0;
	atomic_fetch_add(&m->mark_seq, 1);
	newly = lc_bitmap_set_range(&m->live, first_region, nr);
	if (newly)
		atomic_fetch_add(&m->nr_hydrated, newly);
	/* Marked even when nothing was new: a racing setter may not have
	 * marked yet, and our caller's commit must still cover the bits. */
	first_blk = first_region / LC_META_BITS_PER_BLOCK;
	last_blk = (first_region + nr - 1) / LC_META_BITS_PER_BLOCK;
	(void)lc_bitmap_set_range(&m->dirty[0], first_blk, last_blk - first_blk + 1);
	(void)lc_bitmap_set_range(&m->dirty[1], first_blk, last_blk - first_blk + 1);
	return (int64_t)newly;
}
