/* SPDX-License-Identifier: MIT */
/*
 * A bitmap with 64-bit bit numbers (more than 2^32 regions must work).
 *
 * Setting and testing bits is lock-free and may run concurrently from any
 * number of threads: bits are updated with atomic read-modify-write on 64-bit
 * words. Clearing is for single-threaded use (loading, tests).
 */
#ifndef LUNCLONE_BITMAP_H
#define LUNCLONE_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lc_bitmap {
	uint64_t nr_bits;
	uint64_t *words; /* nr_words(), bits past nr_bits always zero */
};

static inline uint64_t lc_bitmap_nr_words(uint64_t nr_bits)
{
	return (nr_bits + 63) / 64;
}

/* All bits clear. Returns 0 or -ENOMEM. */
int lc_bitmap_init(struct lc_bitmap *b, uint64_t nr_bits);
/* Accepts a zeroed or destroyed bitmap. */
void lc_bitmap_destroy(struct lc_bitmap *b);

bool lc_bitmap_test(const struct lc_bitmap *b, uint64_t bit);
/* Returns true when the bit was clear before (this call set it). */
bool lc_bitmap_set(struct lc_bitmap *b, uint64_t bit);
/* Sets [first, first + nr); returns how many were clear before. */
uint64_t lc_bitmap_set_range(struct lc_bitmap *b, uint64_t first, uint64_t nr);
void lc_bitmap_clear(struct lc_bitmap *b, uint64_t bit);
/* First clear (set) bit at or after from; nr_bits when there is none. */
uint64_t lc_bitmap_find_next_zero(const struct lc_bitmap *b, uint64_t from);
uint64_t lc_bitmap_find_next_set(const struct lc_bitmap *b, uint64_t from);
/* Number of set bits in [first, first + nr). */
uint64_t lc_bitmap_count_range(const struct lc_bitmap *b, uint64_t first, uint64_t nr);
uint64_t lc_bitmap_count(const struct lc_bitmap *b);

#endif
