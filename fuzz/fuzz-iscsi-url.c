/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: our part of iscsi:// URI parsing (lib/util/iscsi_url.c):
 * the query keys, the split into libiscsi's URL and the redacted copy.
 * Whatever parses must never let a password through into the redacted copy.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lunclone/err.h>

#include "fuzz.h"
#include "util/iscsi_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lc_err err = {.msg = ""};
	struct lc_iscsi_url url;
	char *s;

	s = fuzz_strndup(data, size);
	if (!s)
		return 0;
	memset(&url, 0, sizeof(url));
	if (lc_iscsi_url_parse(s, &url, &err) == 0) {
		if (!url.libiscsi_url || !url.redacted)
			abort();
		lc_iscsi_url_free(&url);
	} else if (!err.msg[0]) {
		abort(); /* every refusal says why */
	}
	free(s);
	return 0;
}
