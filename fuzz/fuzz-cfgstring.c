/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the handler's cfgstring parser (handler/cfgstring.c), inline
 * form. The input becomes the string up to its first NUL, as tcmu-runner
 * hands it over. A string naming an @file would make the parser read files
 * of this machine, which is not the parser's input: those are skipped.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lunclone/err.h>

#include "cfgstring.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lc_err err = {.msg = ""};
	struct hc_cfg cfg;
	char *s;

	s = fuzz_strndup(data, size);
	if (!s)
		return 0;
	if (!strchr(s, '@') && hc_cfg_parse(s, &cfg, &err) == 0) {
		/* What a success promises: the three paths, distinct. */
		if (!cfg.src || !cfg.dst || !cfg.meta || strcmp(cfg.src, cfg.dst) == 0)
			abort();
		hc_cfg_clear(&cfg);
	} else if (!err.msg[0] && !strchr(s, '@')) {
		abort(); /* every failure says why */
	}
	free(s);
	return 0;
}
