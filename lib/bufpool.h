/* SPDX-License-Identifier: MIT */
/*
 * A fixed set of equal, aligned buffers allocated once, so the data path
 * never allocates: user writes that copy a region and copy-on-read borrow one
 * and give it back. Thread-safe; lc_bufpool_get() blocks while all are lent.
 */
#ifndef LC_BUFPOOL_H
#define LC_BUFPOOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct lc_bufpool {
	pthread_mutex_t lock;     /* protects free_bufs, nr_free */
	pthread_cond_t returned;
	void **free_bufs;
	void **all_bufs;
	unsigned nr_bufs;
	unsigned nr_free;
	size_t buf_size;
};

/* nr_bufs buffers of buf_size bytes, aligned to align (a power of two). */
int lc_bufpool_init(struct lc_bufpool *pool, unsigned nr_bufs, size_t buf_size, size_t align);
/* Accepts a zeroed pool. All buffers must have been returned. */
void lc_bufpool_destroy(struct lc_bufpool *pool);

void *lc_bufpool_get(struct lc_bufpool *pool);
/* NULL when none is free at the moment. */
void *lc_bufpool_tryget(struct lc_bufpool *pool);
void lc_bufpool_put(struct lc_bufpool *pool, void *buf);

#endif
