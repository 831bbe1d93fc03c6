/* SPDX-License-Identifier: MIT */
/*
 * Shared by the block-level power-cut test's two programs: powercut-workload
 * (in the e2e guest, writes through the iSCSI LUN) and log-replay (on the
 * host, replays the dm-log-writes log). What they agree on:
 *
 * Stamps. Every 512-byte sector the workload writes holds
 *     bytes  0..7    "LCPCWRT\0"
 *     bytes  8..15   write id (le64, 0, 1, 2, ... in issue order)
 *     bytes 16..23   sector number on the LUN (le64)
 *     bytes 24..511  filler: 61 le64 words pc_filler(id, sector, j)
 * so a sector read back decodes to one write, in place, or to nothing.
 * (pc_decode() checks the header and the last filler word: a 512-byte
 * sector is written whole, and a wrong id or place fails the header.)
 *
 * Records (text, one line each, in issue order):
 *     W <id> <offset_bytes> <len_bytes> <fua 0|1>   before the write is issued
 *     U <id> <next_id>       after FUA write <id> completed; mark "u<id>:<next_id>"
 *     F <n> <next_id>        after fsync n returned;         mark "f<n>:<next_id>"
 *     R <next_id>            workload start (store up);       mark "ready:<next_id>"
 * next_id is the id the next write will get. Every mark is issued after the
 * event it names was acknowledged, and before the next write is issued.
 */
#ifndef LC_TESTS_POWERCUT_H
#define LC_TESTS_POWERCUT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define PC_SECTOR 512u
#define PC_MAGIC "LCPCWRT"

static inline uint64_t pc_mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#define PC_WORDS ((PC_SECTOR - 24u) / 8u)

static inline uint64_t pc_filler(uint64_t id, uint64_t sector, unsigned j)
{
	return pc_mix(pc_mix(id * 0x100000001b3ull ^ sector) + j);
}

static inline void pc_put_le64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t pc_get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline void pc_stamp(uint8_t *p, uint64_t id, uint64_t sector)
{
	memcpy(p, PC_MAGIC, 8);
	pc_put_le64(p + 8, id);
	pc_put_le64(p + 16, sector);
	for (unsigned j = 0; j < PC_WORDS; j++)
		pc_put_le64(p + 24 + 8 * j, pc_filler(id, sector, j));
}

/* True when p is a whole stamp of some write for this sector: *ret_id. */
static inline bool pc_decode(const uint8_t *p, uint64_t sector, uint64_t *ret_id)
{
	uint64_t id;

	if (memcmp(p, PC_MAGIC, 8) != 0 || pc_get_le64(p + 16) != sector)
		return false;
	id = pc_get_le64(p + 8);
	if (pc_get_le64(p + 24 + 8 * (PC_WORDS - 1)) != pc_filler(id, sector, PC_WORDS - 1))
		return false;
	*ret_id = id;
	return true;
}

#endif
