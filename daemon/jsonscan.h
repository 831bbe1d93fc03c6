/* SPDX-License-Identifier: MIT */
/*
 * What json-c lets through and a configuration must not: json-c's parser
 * keeps the last of two equal keys in an object without a word, and its
 * strict mode still takes single-quoted strings and NaN/Infinity. This
 * scanner walks text that json-c has already accepted in strict mode and
 * reports those, each with its JSONPath ("$.sessions[1].name").
 *
 * Paths: ".key" when key is an identifier, ["key"] otherwise; "[i]" for
 * array elements. Paths longer than LCD_JPATH_MAX are cut (with "...").
 */
#ifndef LCD_JSONSCAN_H
#define LCD_JSONSCAN_H

#include <stddef.h>

#include "errors.h"

#define LCD_JPATH_MAX 512u
/* json-c's default nesting limit; the scanner stops at the same depth. */
#define LCD_JSON_DEPTH_MAX 32u

/* buf = parent + key, as above (buf may not alias parent). */
void lcd_jpath_key(char *buf, size_t size, const char *parent, const char *key);
/* buf = parent + "[index]". */
void lcd_jpath_index(char *buf, size_t size, const char *parent, size_t index);

/*
 * Scans text[0..len) and adds "FILE: PATH: problem" to errs for each
 * duplicate key, single-quoted string and non-finite number. Returns the
 * number of problems found. Never blocks; allocates only small key lists.
 */
size_t lcd_json_scan(const char *text, size_t len, const char *file, struct lcd_errors *errs);

struct json_object;
struct stat;

/*
 * Reads path (a regular file of at most max_bytes), parses it as strict JSON
 * and scans it as above. Returns 0 and *ret_root (the caller puts it) when
 * the text is clean; -EINVAL with errors in errs ("FILE:LINE:COL: JSON
 * syntax: ..." or the scanner's); -errno when the file cannot be read
 * (reported too). When ret_stat is not NULL it receives the fstat() of the
 * opened file (permission checks without a race against a rename). Blocks.
 */
int lcd_json_load_file(const char *path, size_t max_bytes, struct json_object **ret_root,
		       struct stat *ret_stat, struct lcd_errors *errs);

#endif
