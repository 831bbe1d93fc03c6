/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for Debian's linux.uml (6.1) on hosts whose XSAVE area is
 * larger than UML's FP buffer (AVX-512, AMX: Intel Sapphire Rapids and
 * later). UML saves and restores each guest thread's FP state with
 * PTRACE_GETREGSET / PTRACE_SETREGSET (NT_X86_XSTATE) on a buffer of
 * sizeof(struct _xstate). GET accepts a short buffer, but the host kernel's
 * SET insists on the full size (xstateregs_set(): count != max_size ->
 * -EFAULT), so UML panics at the first guest process:
 *   "userspace - ptrace set fp regs failed, errno = 14"
 *   "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b"
 *
 * The shim keeps, per UML buffer (iov_base: one per guest thread), a full
 * size copy. GET reads the full state into it and gives UML its prefix; SET
 * lays UML's prefix over the copy and sets the full state. So the state
 * beyond UML's prefix (upper ZMM halves, ZMM16-31, opmasks, ...) follows
 * each guest thread as it would on a smaller CPU, instead of leaking between
 * threads of one host process. Every other ptrace request passes through.
 *
 * Built and preloaded by run-uml.sh and run-uml-systemd.sh (uml-host-lib.sh):
 *   LD_PRELOAD=/path/uml-xstate-shim.so linux.uml ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#define MAX_XSTATE (64 * 1024) /* well above AMX's ~11 KiB */
#define NR_SLOTS 8192          /* guest threads alive at once, with room */

struct slot {
	void *key;     /* UML's buffer */
	size_t len;    /* bytes of buf holding a full state; 0 = none yet */
	uint8_t *buf;  /* MAX_XSTATE bytes */
};

/* Protects slots: UML may call ptrace from more than one host thread. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[NR_SLOTS];

typedef long (*ptrace_fn)(int, pid_t, void *, void *);

/* The slot of KEY, created if missing; NULL when full or out of memory. */
static struct slot *slot_of_locked(void *key)
{
	size_t h = ((uintptr_t)key >> 4) % NR_SLOTS, i;

	for (i = 0; i < NR_SLOTS; i++) {
		struct slot *s = &slots[(h + i) % NR_SLOTS];

		if (s->key == key)
			return s;
		if (!s->key) {
			s->buf = malloc(MAX_XSTATE);
			if (!s->buf)
				return NULL;
			s->key = key;
			s->len = 0;
			return s;
		}
	}
	return NULL;
}

static long xstate(ptrace_fn real, int req, pid_t pid, void *addr, struct iovec *iov)
{
	struct iovec full;
	struct slot *s;
	long r;

	pthread_mutex_lock(&lock);
	s = slot_of_locked(iov->iov_base);
	if (!s) {
		pthread_mutex_unlock(&lock);
		return real(req, pid, addr, iov);
	}
	full.iov_base = s->buf;
	if (req == PTRACE_GETREGSET || s->len == 0) {
		full.iov_len = MAX_XSTATE;
		r = real(PTRACE_GETREGSET, pid, addr, &full);
		if (r < 0)
			goto out;
		s->len = full.iov_len;
		if (req == PTRACE_GETREGSET) {
			size_t n = iov->iov_len < s->len ? iov->iov_len : s->len;

			memcpy(iov->iov_base, s->buf, n);
			iov->iov_len = n;
			goto out;
		}
	}
	if (iov->iov_len >= s->len) {
		r = real(req, pid, addr, iov);
		goto out;
	}
	memcpy(s->buf, iov->iov_base, iov->iov_len);
	full.iov_len = s->len;
	r = real(PTRACE_SETREGSET, pid, addr, &full);
out:
	pthread_mutex_unlock(&lock);
	return r;
}

long ptrace(enum __ptrace_request req, ...)
{
	static ptrace_fn real;
	void *addr, *data;
	va_list ap;
	pid_t pid;

	va_start(ap, req);
	pid = va_arg(ap, pid_t);
	addr = va_arg(ap, void *);
	data = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		real = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	if ((req == PTRACE_GETREGSET || req == PTRACE_SETREGSET) &&
	    (uintptr_t)addr == NT_X86_XSTATE && data)
		return xstate(real, req, pid, addr, data);
	return real(req, pid, addr, data);
}
