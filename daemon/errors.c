/* SPDX-License-Identifier: MIT */
/* Collected error lines (errors.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

void lcd_errors_add(struct lcd_errors *errs, const char *fmt, ...)
{
	char **msgs;
	char *msg;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0) {
		errs->oom = true;
		return;
	}
	msgs = realloc(errs->msgs, (errs->nr + 1) * sizeof(*msgs));
	if (!msgs) {
		free(msg);
		errs->oom = true;
		return;
	}
	msgs[errs->nr++] = msg;
	errs->msgs = msgs;
}

void lcd_errors_print(const struct lcd_errors *errs, FILE *f)
{
	for (size_t i = 0; i < errs->nr; i++)
		(void)fprintf(f, "%s\n", errs->msgs[i]);
	if (errs->oom)
		(void)fprintf(f, "out of memory: some errors were not recorded\n");
}

void lcd_errors_clear(struct lcd_errors *errs)
{
	for (size_t i = 0; i < errs->nr; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->nr = 0;
	errs->oom = false;
}

bool lcd_errors_contain(const struct lcd_errors *errs, const char *needle)
{
	for (size_t i = 0; i < errs->nr; i++)
		if (strstr(errs->msgs[i], needle))
			return true;
	return false;
}
