/* SPDX-License-Identifier: MIT */
/*
 * Per-region serialization of the transition unhydrated -> hydrated.
 *
 * Only code that changes an unhydrated region (a hydration copy, a user
 * write or discard that must copy or mark it) holds the region; I/O to
 * hydrated regions never does, since a hydrated region never goes back.
 *
 * A hold is a small node owned by the caller (on its stack or in a worker's
 * preallocated array), linked into one of a fixed number of stripes chosen by
 * region number: no allocation, no I/O under the stripe mutex, and holders of
 * different regions never wait for each other. Lock order: a thread that
 * blocks in lc_region_lock() holds no other region (workers only trylock), so
 * holds cannot deadlock.
 */
#ifndef LC_REGION_LOCK_H
#define LC_REGION_LOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define LC_REGION_LOCK_STRIPES 64

struct lc_region_hold {
	uint64_t region_nr;
	struct lc_region_hold *next; /* Protected by the stripe's lock */
};

struct lc_region_stripe {
	pthread_mutex_t lock;  /* protects held */
	pthread_cond_t released;
	struct lc_region_hold *held;
} __attribute__((aligned(64)));

struct lc_region_locks {
	struct lc_region_stripe stripes[LC_REGION_LOCK_STRIPES];
};

int lc_region_locks_init(struct lc_region_locks *locks);
void lc_region_locks_destroy(struct lc_region_locks *locks);

/* Blocks until region_nr is free, then holds it with hold. */
void lc_region_lock(struct lc_region_locks *locks, struct lc_region_hold *hold,
		    uint64_t region_nr);
/* Never blocks on another holder: false if region_nr is held. */
bool lc_region_trylock(struct lc_region_locks *locks, struct lc_region_hold *hold,
		       uint64_t region_nr);
void lc_region_unlock(struct lc_region_locks *locks, struct lc_region_hold *hold);
/* Whether anyone holds region_nr now (a hint: may change at once). */
bool lc_region_is_held(struct lc_region_locks *locks, uint64_t region_nr);

#endif
