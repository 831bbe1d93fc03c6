/* SPDX-License-Identifier: MIT */
/*
 * Bitmap with 64-bit bit numbers, stored as an array of uint64_t words; bit n
 * lives in words[n / 64] at position n % 64 (least significant first).
 *
 * Concurrency: set and test are lock-free. Setting is an atomic fetch-or with
 * sequential consistency, so exactly one of several racing setters learns
 * that it flipped a bit, and a reader that sees the bit (acquire load) also
 * sees what the setter wrote before setting it. find_next_*, count_* read
 * word by word with acquire loads: they see a consistent value per word, not
 * a snapshot of the whole map. Clearing is for single-threaded use only.
 *
 * Invariant: bits at and past nr_bits in the last word are always zero (init
 * zeroes, set_range never touches them), so counting whole words is exact.
 *
 * Memory: the words come from calloc, which for large maps hands out fresh
 * anonymous pages that are only backed when written. A map of 2^32 bits costs
 * 512 MiB of address space but only the pages actually set.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include <lunclone/bitmap.h>

#define WORD_BITS 64u

static inline uint64_t word_of(uint64_t bit)
{
	return bit / WORD_BITS;
}

static inline uint64_t mask_of(uint64_t bit)
{
	return 1ull << (bit % WORD_BITS);
}

static inline uint64_t load_word(const struct lc_bitmap *b, uint64_t w)
{
	return __atomic_load_n(&b->words[w], __ATOMIC_ACQUIRE);
}

/* Mask of the bits [lo, hi) of one word, 0 <= lo < hi <= 64. */
static inline uint64_t range_mask(unsigned lo, unsigned hi)
{
	uint64_t m = hi == WORD_BITS ? ~0ull : (1ull << hi) - 1;

	return m & (~0ull << lo);
}

int lc_bitmap_init(struct lc_bitmap *b, uint64_t nr_bits)
{
	uint64_t nr_words;
	uint64_t *words;

	/* lc_bitmap_nr_words() would wrap; no machine has that much memory. */
	if (nr_bits > UINT64_MAX - (WORD_BITS - 1))
		return -ENOMEM;
	nr_words = lc_bitmap_nr_words(nr_bits);
	if (nr_words > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	/* At least one word, so that words is never NULL after success. */
	words = calloc(nr_words ? (size_t)nr_words : 1, sizeof(uint64_t));
	if (!words)
		return -ENOMEM;
	b->nr_bits = nr_bits;
	b->words = words;
	return 0;
}

void lc_bitmap_destroy(struct lc_bitmap *b)
{
	if (!b)
		return;
	free(b->words);
	b->words = NULL;
	b->nr_bits = 0;
}

bool lc_bitmap_test(const struct lc_bitmap *b, uint64_t bit)
{
	assert(bit < b->nr_bits);
	return (load_word(b, word_of(bit)) & mask_of(bit)) != 0;
}

bool lc_bitmap_set(struct lc_bitmap *b, uint64_t bit)
{
	uint64_t m = mask_of(bit);

	assert(bit < b->nr_bits);
	return (__atomic_fetch_or(&b->words[word_of(bit)], m, __ATOMIC_SEQ_CST) & m) == 0;
}

uint64_t lc_bitmap_set_range(struct lc_bitmap *b, uint64_t first, uint64_t nr)
{
	uint64_t end, w, last_w, newly = 0;

	assert(first <= b->nr_bits && nr <= b->nr_bits - first);
	if (nr == 0)
		return 0;
	end = first + nr;
	last_w = word_of(end - 1);
	for (w = word_of(first); w <= last_w; w++) {
		unsigned lo = w == word_of(first) ? (unsigned)(first % WORD_BITS) : 0;
		unsigned hi = w == last_w ? (unsigned)((end - 1) % WORD_BITS) + 1 : WORD_BITS;
		uint64_t m = range_mask(lo, hi);
		uint64_t old;

		/* Skip the atomic (and the page fault) when all are set already. */
		if ((load_word(b, w) & m) == m)
			continue;
		old = __atomic_fetch_or(&b->words[w], m, __ATOMIC_SEQ_CST);
		newly += (uint64_t)__builtin_popcountll(m & ~old);
	}
	return newly;
}

void lc_bitmap_clear(struct lc_bitmap *b, uint64_t bit)
{
	assert(bit < b->nr_bits);
	/* Atomic anyway: costs nothing here and keeps sanitizers quiet. */
	(void)__atomic_fetch_and(&b->words[word_of(bit)], ~mask_of(bit), __ATOMIC_SEQ_CST);
}

/*
 * Shared scan: invert = ~0 finds zeros, 0 finds ones. Whole words with
 * nothing to find are skipped with one comparison each.
 */
static uint64_t find_next(const struct lc_bitmap *b, uint64_t from, uint64_t invert)
{
	uint64_t nr_words = lc_bitmap_nr_words(b->nr_bits);
	uint64_t w, v, bit;

	if (from >= b->nr_bits)
		return b->nr_bits;
	w = word_of(from);
	v = (load_word(b, w) ^ invert) & (~0ull << (from % WORD_BITS));
	while (v == 0) {
		if (++w >= nr_words)
			return b->nr_bits;
		v = load_word(b, w) ^ invert;
	}
	bit = w * WORD_BITS + (uint64_t)__builtin_ctzll(v);
	/* The padding past nr_bits reads as zeros: never report it. */
	return bit < b->nr_bits ? bit : b->nr_bits;
}

uint64_t lc_bitmap_find_next_zero(const struct lc_bitmap *b, uint64_t from)
{
	return find_next(b, from, ~0ull);
}

uint64_t lc_bitmap_find_next_set(const struct lc_bitmap *b, uint64_t from)
{
	return find_next(b, from, 0);
}

uint64_t lc_bitmap_count_range(const struct lc_bitmap *b, uint64_t first, uint64_t nr)
{
	uint64_t end, w, last_w, count = 0;

	assert(first <= b->nr_bits && nr <= b->nr_bits - first);
	if (nr == 0)
		return 0;
	end = first + nr;
	last_w = word_of(end - 1);
	for (w = word_of(first); w <= last_w; w++) {
		unsigned lo = w == word_of(first) ? (unsigned)(first % WORD_BITS) : 0;
		unsigned hi = w == last_w ? (unsigned)((end - 1) % WORD_BITS) + 1 : WORD_BITS;

		count += (uint64_t)__builtin_popcountll(load_word(b, w) & range_mask(lo, hi));
	}
	return count;
}

uint64_t lc_bitmap_count(const struct lc_bitmap *b)
{
	uint64_t nr_words = lc_bitmap_nr_words(b->nr_bits);
	uint64_t w, count = 0;

	for (w = 0; w < nr_words; w++)
		count += (uint64_t)__builtin_popcountll(load_word(b, w));
	return count;
}
