/* SPDX-License-Identifier: MIT */
/*
 * A list of one-line error messages, collected so that a validation reports
 * every problem at once instead of the first. Running out of memory while
 * adding is remembered (oom) and reported as one more line by whoever prints
 * the list; it never loses the errors already collected.
 */
#ifndef LCD_ERRORS_H
#define LCD_ERRORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct lcd_errors {
	char **msgs; /* owned */
	size_t nr;
	bool oom;
};

/* Appends one formatted line. Never fails: see oom. */
void lcd_errors_add(struct lcd_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes each line followed by a newline (and one for oom). */
void lcd_errors_print(const struct lcd_errors *errs, FILE *f);

/* Frees the lines; errs can be used again. */
void lcd_errors_clear(struct lcd_errors *errs);

/* True when errs holds a line containing needle (tests). */
bool lcd_errors_contain(const struct lcd_errors *errs, const char *needle);

#endif
