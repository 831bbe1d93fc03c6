/* SPDX-License-Identifier: MIT */
/* Buffer pool: a stack of free buffers under one mutex (held for a pop). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bufpool.h"

int lc_bufpool_init(struct lc_bufpool *pool, unsigned nr_bufs, size_t buf_size, size_t align)
{
	int r;

	memset(pool, 0, sizeof(*pool));
	pool->buf_size = buf_size;
	pool->all_bufs = calloc(nr_bufs, sizeof(void *));
	pool->free_bufs = calloc(nr_bufs, sizeof(void *));
	if (!pool->all_bufs || !pool->free_bufs) {
		r = -ENOMEM;
		goto out_free;
	}
	for (unsigned i = 0; i < nr_bufs; i++) {
		r = -posix_memalign(&pool->all_bufs[i], align, buf_size);
		if (r < 0) {
			pool->all_bufs[i] = NULL;
			goto out_free;
		}
		pool->free_bufs[i] = pool->all_bufs[i];
		pool->nr_bufs++;
	}
	pool->nr_free = nr_bufs;
	r = -pthread_mutex_init(&pool->lock, NULL);
	if (r < 0)
		goto out_free;
	r = -pthread_cond_init(&pool->returned, NULL);
	if (r < 0)
		goto out_mutex;
	return 0;

out_mutex:
	(void)pthread_mutex_destroy(&pool->lock);
out_free:
	for (unsigned i = 0; i < pool->nr_bufs; i++)
		free(pool->all_bufs[i]);
	free(pool->all_bufs);
	free(pool->free_bufs);
	memset(pool, 0, sizeof(*pool));
	return r;
}

void lc_bufpool_destroy(struct lc_bufpool *pool)
{
	if (!pool->all_bufs)
		return;
	for (unsigned i = 0; i < pool->nr_bufs; i++)
		free(pool->all_bufs[i]);
	free(pool->all_bufs);
	free(pool->free_bufs);
	(void)pthread_cond_destroy(&pool->returned);
	(void)pthread_mutex_destroy(&pool->lock);
	memset(pool, 0, sizeof(*pool));
}

void *lc_bufpool_get(struct lc_bufpool *pool)
{
	void *buf;

	pthread_mutex_lock(&pool->lock);
	while (pool->nr_free == 0)
		pthread_cond_wait(&pool->returned, &pool->lock);
	buf = pool->free_bufs[--pool->nr_free];
	pthread_mutex_unlock(&pool->lock);
	return buf;
}

void *lc_bufpool_tryget(struct lc_bufpool *pool)
{
	void *buf = NULL;

	pthread_mutex_lock(&pool->lock);
	if (pool->nr_free > 0)
		buf = pool->free_bufs[--pool->nr_free];
	pthread_mutex_unlock(&pool->lock);
	return buf;
}

void lc_bufpool_put(struct lc_bufpool *pool, void *buf)
{
	pthread_mutex_lock(&pool->lock);
	pool->free_bufs[pool->nr_free++] = buf;
	pthread_cond_signal(&pool->returned);
	pthread_mutex_unlock(&pool->lock);
}
