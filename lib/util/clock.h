/* SPDX-License-Identifier: MIT */
/* Monotonic time in nanoseconds, and conversions for pthread timed waits. */
#ifndef LC_UTIL_CLOCK_H
#define LC_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

#define LC_NSEC_PER_SEC 1000000000ull
#define LC_NSEC_PER_MSEC 1000000ull

static inline uint64_t lc_now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * LC_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Absolute CLOCK_MONOTONIC deadline for pthread_cond_timedwait on a
 * condition variable created with pthread_condattr_setclock(MONOTONIC). */
static inline struct timespec lc_deadline_ns(uint64_t when_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(when_ns / LC_NSEC_PER_SEC),
		.tv_nsec = (long)(when_ns % LC_NSEC_PER_SEC),
	};
	return ts;
}

#endif
