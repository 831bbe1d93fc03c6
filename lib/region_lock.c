/* SPDX-License-Identifier: MIT */
/*
 * Region holds: see region_lock.h. Each stripe keeps a short singly linked
 * list of held regions (at most the number of threads copying at once that
 * hash to it), searched under the stripe mutex; waiters sleep on the stripe's
 * condition variable and re-check after every release.
 */
#include <errno.h>
#include <stddef.h>

#include "region_lock.h"

static struct lc_region_stripe *stripe_of(struct lc_region_locks *locks, uint64_t region_nr)
{
	/* Contiguous regions land on different stripes, so a batch spreads. */
	return &locks->stripes[region_nr % LC_REGION_LOCK_STRIPES];
}

static bool is_held_locked(const struct lc_region_stripe *s, uint64_t region_nr)
{
	for (const struct lc_region_hold *h = s->held; h; h = h->next)
		if (h->region_nr == region_nr)
			return true;
	return false;
}

int lc_region_locks_init(struct lc_region_locks *locks)
{
	for (unsigned i = 0; i < LC_REGION_LOCK_STRIPES; i++) {
		struct lc_region_stripe *s = &locks->stripes[i];
		int r = pthread_mutex_init(&s->lock, NULL);

		if (r == 0) {
			r = pthread_cond_init(&s->released, NULL);
			if (r != 0)
				(void)pthread_mutex_destroy(&s->lock);
		}
		if (r != 0) {
			while (i-- > 0) {
				(void)pthread_cond_destroy(&locks->stripes[i].released);
				(void)pthread_mutex_destroy(&locks->stripes[i].lock);
			}
			return -r;
		}
		s->held = NULL;
	}
	return 0;
}

void lc_region_locks_destroy(struct lc_region_locks *locks)
{
	for (unsigned i = 0; i < LC_REGION_LOCK_STRIPES; i++) {
		(void)pthread_cond_destroy(&locks->stripes[i].released);
		(void)pthread_mutex_destroy(&locks->stripes[i].lock);
	}
}

static void link_locked(struct lc_region_stripe *s, struct lc_region_hold *hold,
			uint64_t region_nr)
{
	hold->region_nr = region_nr;
	hold->next = s->held;
	s->held = hold;
}

void lc_region_lock(struct lc_region_locks *locks, struct lc_region_hold *hold,
		    uint64_t region_nr)
{
	struct lc_region_stripe *s = stripe_of(locks, region_nr);

	pthread_mutex_lock(&s->lock);
	while (is_held_locked(s, region_nr))
		pthread_cond_wait(&s->released, &s->lock);
	link_locked(s, hold, region_nr);
	pthread_mutex_unlock(&s->lock);
}

bool lc_region_trylock(struct lc_region_locks *locks, struct lc_region_hold *hold,
		       uint64_t region_nr)
{
	struct lc_region_stripe *s = stripe_of(locks, region_nr);
	bool got = false;

	pthread_mutex_lock(&s->lock);
	if (!is_held_locked(s, region_nr)) {
		link_locked(s, hold, region_nr);
		got = true;
	}
	pthread_mutex_unlock(&s->lock);
	return got;
}

void lc_region_unlock(struct lc_region_locks *locks, struct lc_region_hold *hold)
{
	struct lc_region_stripe *s = stripe_of(locks, hold->region_nr);

	pthread_mutex_lock(&s->lock);
	for (struct lc_region_hold **p = &s->held; *p; p = &(*p)->next) {
		if (*p == hold) {
			*p = hold->next;
			break;
		}
	}
	hold->next = NULL;
	pthread_cond_broadcast(&s->released);
	pthread_mutex_unlock(&s->lock);
}

bool lc_region_is_held(struct lc_region_locks *locks, uint64_t region_nr)
{
	struct lc_region_stripe *s = stripe_of(locks, region_nr);
	bool held;

	pthread_mutex_lock(&s->lock);
	held = is_held_locked(s, region_nr);
	pthread_mutex_unlock(&s->lock);
	return held;
}
