/* SPDX-License-Identifier: MIT */
/* One-line error messages for callers that show them to an admin. */
#include <stdarg.h>
#include <stdio.h>

#include <lunclone/err.h>

int lc_err_set(struct lc_err *err, int r, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return r;
	va_start(ap, fmt);
	(void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return r;
}
