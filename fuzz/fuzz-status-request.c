/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the status socket's request parser
 * (handler/status_socket.c, hc_sock_parse_request), fed the raw bytes a
 * client may send, NULs included, and the status formatter, fed a status
 * built from the same bytes: the reply must always fit its buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lunclone/clone.h>
#include <lunclone/err.h>

#include "fuzz.h"
#include "status_socket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lc_err err = {.msg = ""};
	struct hc_sock_request req;
	struct lc_clone_status st;
	char reply[HC_SOCK_REPLY_MAX];
	int r;

	r = hc_sock_parse_request((const char *)data, size, &req, &err);
	if (r == 0 && req.verb != HC_SOCK_STATUS && req.verb != HC_SOCK_PAUSE &&
	    req.verb != HC_SOCK_RESUME && req.verb != HC_SOCK_THROTTLE)
		abort();
	if (r < 0 && !err.msg[0])
		abort(); /* every refusal says why */

	/* Any status, however odd, formats into the reply buffer. */
	memset(&st, 0, sizeof(st));
	memcpy(&st, data, size < sizeof(st) ? size : sizeof(st));
	st.state = (enum lc_clone_state)((unsigned)st.state % (LC_CLONE_READ_ONLY + 1u));
	if (hc_sock_format_status(&st, reply, sizeof(reply)) < 0)
		abort();
	return 0;
}
