/* SPDX-License-Identifier: MIT */
/*
 * Socket I/O with a deadline, shared by the control socket's server
 * (control.c) and its client side towards the devices (control_req.c).
 * Internal to daemon/. Each blocks until the deadline at most, retries
 * EINTR and EAGAIN, and never raises SIGPIPE.
 */
#ifndef LCD_CONTROL_IO_H
#define LCD_CONTROL_IO_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds. */
int64_t lcd_ctl_now_ms(void);

/* Waits for events on fd: 0 ready, -ETIMEDOUT past deadline_ms, -errno. */
int lcd_ctl_wait(int fd, short events, int64_t deadline_ms);

/* Sends all len bytes of buf on the socket fd: 0, -ETIMEDOUT, -errno. */
int lcd_ctl_write_all(int fd, const char *buf, size_t len, int64_t deadline_ms);

#endif
