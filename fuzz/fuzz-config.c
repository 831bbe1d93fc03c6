/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: luncloned's configuration loader and validator
 * (daemon/config.c), on a file whose bytes are the input. The host pass
 * (files, sizes, iSCSI probes, the secrets file) is off: it would read this
 * machine, not the input. What is refused must say why; what loads must
 * hold what validation promises.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "util/full_rw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lcd_errors errs = {0};
	struct lcd_config *config;
	char path[64];
	int fd, r;

	fd = memfd_create("lunclone.json", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (lc_full_pwrite(fd, data, size, 0) < 0) {
		(void)close(fd);
		return 0;
	}
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = lcd_config_load(path, NULL, LCD_LOAD_NO_HOST, &config, &errs);
	if (r == 0) {
		if (errs.nr != 0)
			abort(); /* valid, yet errors */
		/* Names are unique: validation promised it. */
		for (size_t i = 0; i < config->nr_sessions; i++)
			if (lcd_config_find_session(config, config->sessions[i].name) != (ssize_t)i)
				abort();
		lcd_config_free(config);
	} else if (errs.nr == 0 && !errs.oom) {
		abort(); /* every refusal says why */
	}
	lcd_errors_clear(&errs);
	(void)close(fd);
	return 0;
}
