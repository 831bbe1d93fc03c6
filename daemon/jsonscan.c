/* SPDX-License-Identifier: MIT */
/*
 * Scanner for what json-c's strict parser accepts but a configuration must
 * not (jsonscan.h). It runs only on text json-c has accepted, so it follows
 * the JSON grammar without reporting syntax errors of its own; it still
 * never reads past len, whatever the text.
 *
 * Keys are compared after decoding their escapes, so "a" and "\u0061" are
 * the same key, as they are to json-c.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "jsonscan.h"

struct scanner {
	const char *text;
	size_t len;
	size_t pos;
	const char *file;
	struct lcd_errors *errs;
	size_t nr_problems;
};

struct key {
	char *bytes;
	size_t len;
};

static bool is_identifier(const char *key)
{
	if (!(isalpha((unsigned char)key[0]) || key[0] == '_'))
		return false;
	for (const char *p = key; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return false;
	return true;
}

void lcd_jpath_key(char *buf, size_t size, const char *parent, const char *key)
{
	int n;

	if (is_identifier(key))
		n = snprintf(buf, size, "%s.%s", parent, key);
	else
		n = snprintf(buf, size, "%s[\"%s\"]", parent, key);
	if (n >= 0 && (size_t)n >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

void lcd_jpath_index(char *buf, size_t size, const char *parent, size_t index)
{
	int n = snprintf(buf, size, "%s[%zu]", parent, index);

	if (n >= 0 && (size_t)n >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

static void problem(struct scanner *s, const char *path, const char *what)
{
	lcd_errors_add(s->errs, "%s: %s: %s", s->file, path, what);
	s->nr_problems++;
}

static void skip_ws(struct scanner *s)
{
	while (s->pos < s->len && strchr(" \t\r\n", s->text[s->pos]) && s->text[s->pos] != '\0')
		s->pos++;
}

static int hex4(const char *p, const char *end, unsigned *ret)
{
	unsigned v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*ret = v;
	return 0;
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Skips the string at s->pos (opening quote q) and, when ret_key is not
 * NULL, returns its decoded bytes (NUL-terminated; NULL on out of memory).
 */
static void scan_string(struct scanner *s, struct key *ret_key)
{
	char q = s->text[s->pos];
	size_t start = ++s->pos;
	char *out = NULL;
	size_t n = 0;

	while (s->pos < s->len && s->text[s->pos] != q)
		s->pos += s->text[s->pos] == '\\' ? 2 : 1;
	if (s->pos > s->len)
		s->pos = s->len;
	if (ret_key) {
		const char *p = s->text + start, *end = s->text + s->pos;

		/* Decoding never grows the text: 6 bytes "\uXXXX" give at most 3. */
		out = malloc((size_t)(end - p) + 1);
		while (out && p < end) {
			unsigned cp, lo;

			if (*p != '\\') {
				out[n++] = *p++;
				continue;
			}
			if (p + 1 >= end)
				break;
			p++;
			switch (*p) {
			case 'b':
				out[n++] = '\b';
				p++;
				continue;
			case 'f':
				out[n++] = '\f';
				p++;
				continue;
			case 'n':
				out[n++] = '\n';
				p++;
				continue;
			case 'r':
				out[n++] = '\r';
				p++;
				continue;
			case 't':
				out[n++] = '\t';
				p++;
				continue;
			case 'u':
				break;
			default:
				out[n++] = *p++;
				continue;
			}
			if (hex4(p + 1, end, &cp) < 0) {
				out[n++] = *p++;
				continue;
			}
			p += 5;
			/* A surrogate pair is one code point. */
			if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' &&
			    p[1] == 'u' && hex4(p + 2, end, &lo) == 0 && lo >= 0xdc00 &&
			    lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
			n += put_utf8(out + n, cp);
		}
		if (out)
			out[n] = '\0';
		ret_key->bytes = out;
		ret_key->len = n;
	}
	if (s->pos < s->len)
		s->pos++; /* the closing quote */
}

static void scan_value(struct scanner *s, const char *path, unsigned depth);

static void scan_object(struct scanner *s, const char *path, unsigned depth)
{
	struct key *keys = NULL;
	size_t nr_keys = 0;
	char child[LCD_JPATH_MAX];

	s->pos++; /* '{' */
	for (;;) {
		struct key key = {NULL, 0};
		struct key *grown;
		bool dup = false;

		skip_ws(s);
		if (s->pos >= s->len || s->text[s->pos] == '}')
			break;
		if (s->text[s->pos] != '"' && s->text[s->pos] != '\'')
			break; /* cannot happen after json-c: stop rather than guess */
		if (s->text[s->pos] == '\'')
			problem(s, path, "single-quoted key: JSON strings use double quotes");
		scan_string(s, &key);
		if (!key.bytes) {
			lcd_errors_add(s->errs, "%s: %s: out of memory while checking keys",
				       s->file, path);
			s->nr_problems++;
			break;
		}
		lcd_jpath_key(child, sizeof(child), path, key.bytes);
		for (size_t i = 0; i < nr_keys && !dup; i++)
			dup = keys[i].len == key.len &&
			      memcmp(keys[i].bytes, key.bytes, key.len) == 0;
		if (dup) {
			problem(s, child, "duplicate key (only one is allowed per object)");
			free(key.bytes);
		} else {
			grown = realloc(keys, (nr_keys + 1) * sizeof(*keys));
			if (!grown) {
				free(key.bytes);
				lcd_errors_add(s->errs, "%s: %s: out of memory while checking keys",
					       s->file, path);
				s->nr_problems++;
				break;
			}
			keys = grown;
			keys[nr_keys++] = key;
		}
		skip_ws(s);
		if (s->pos < s->len && s->text[s->pos] == ':')
			s->pos++;
		scan_value(s, child, depth + 1);
		skip_ws(s);
		if (s->pos < s->len && s->text[s->pos] == ',')
			s->pos++;
		else
			break;
	}
	skip_ws(s);
	if (s->pos < s->len && s->text[s->pos] == '}')
		s->pos++;
	for (size_t i = 0; i < nr_keys; i++)
		free(keys[i].bytes);
	free(keys);
}

static void scan_array(struct scanner *s, const char *path, unsigned depth)
{
	char child[LCD_JPATH_MAX];
	size_t index = 0;

	s->pos++; /* '[' */
	for (;;) {
		skip_ws(s);
		if (s->pos >= s->len || s->text[s->pos] == ']')
			break;
		lcd_jpath_index(child, sizeof(child), path, index++);
		scan_value(s, child, depth + 1);
		skip_ws(s);
		if (s->pos < s->len && s->text[s->pos] == ',')
			s->pos++;
		else
			break;
	}
	skip_ws(s);
	if (s->pos < s->len && s->text[s->pos] == ']')
		s->pos++;
}

static void scan_value(struct scanner *s, const char *path, unsigned depth)
{
	size_t start;
	char c;

	skip_ws(s);
	if (s->pos >= s->len || depth > LCD_JSON_DEPTH_MAX)
		return;
	c = s->text[s->pos];
	if (c == '{') {
		scan_object(s, path, depth);
	} else if (c == '[') {
		scan_array(s, path, depth);
	} else if (c == '"') {
		scan_string(s, NULL);
	} else if (c == '\'') {
		problem(s, path, "single-quoted string: JSON strings use double quotes");
		scan_string(s, NULL);
	} else {
		start = s->pos;
		while (
		    s->pos < s->len &&
		    (isalnum((unsigned char)s->text[s->pos]) || strchr("+-.", s->text[s->pos])) &&
		    s->text[s->pos] != '\0')
			s->pos++;
		for (size_t i = start; i < s->pos; i++)
			if (strchr("nNiI", s->text[i]) && s->text[i] != '\0' &&
			    strncmp(s->text + start, "null", 4) != 0) {
				problem(s, path,
					"not a finite number (NaN and Infinity are not JSON)");
				break;
			}
		if (s->pos == start)
			s->pos++; /* never loop on an unexpected byte */
	}
}

size_t lcd_json_scan(const char *text, size_t len, const char *file, struct lcd_errors *errs)
{
	struct scanner s = {.text = text, .len = len, .file = file, .errs = errs};

	scan_value(&s, "$", 0);
	return s.nr_problems;
}

/* Line and column (from 1) of byte offset in text. */
static void line_col(const char *text, size_t offset, unsigned *ret_line, unsigned *ret_col)
{
	unsigned line = 1, col = 1;

	for (size_t i = 0; i < offset; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	*ret_line = line;
	*ret_col = col;
}

static int read_text(const char *path, size_t max_bytes, char **ret_text, size_t *ret_len,
		     struct stat *ret_stat, struct lcd_errors *errs)
{
	struct stat st;
	char *text;
	size_t used = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		lcd_errors_add(errs, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		lcd_errors_add(errs, "%s: cannot stat: %s", path, strerror(-r));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		lcd_errors_add(errs, "%s: not a regular file", path);
		goto out_close;
	}
	/* One byte more than allowed, to notice a file that is too large. */
	text = malloc(max_bytes + 1);
	if (!text) {
		r = -ENOMEM;
		lcd_errors_add(errs, "%s: out of memory", path);
		goto out_close;
	}
	for (;;) {
		ssize_t n = read(fd, text + used, max_bytes + 1 - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			lcd_errors_add(errs, "%s: cannot read: %s", path, strerror(-r));
			goto out_free;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > max_bytes) {
			r = -EINVAL;
			lcd_errors_add(errs, "%s: larger than %zu bytes", path, max_bytes);
			goto out_free;
		}
	}
	text[used] = '\0';
	(void)close(fd);
	if (ret_stat)
		*ret_stat = st;
	*ret_text = text;
	*ret_len = used;
	return 0;

out_free:
	free(text);
out_close:
	(void)close(fd);
	return r;
}

int lcd_json_load_file(const char *path, size_t max_bytes, struct json_object **ret_root,
		       struct stat *ret_stat, struct lcd_errors *errs)
{
	struct json_tokener *tok;
	struct json_object *root;
	unsigned line, col;
	size_t len = 0, end;
	char *text = NULL;
	int r;

	r = read_text(path, max_bytes, &text, &len, ret_stat, errs);
	if (r < 0)
		return r;
	if (memchr(text, '\0', len)) {
		lcd_errors_add(errs, "%s: contains a NUL byte: not a JSON text", path);
		explicit_bzero(text, len);
		free(text);
		return -EINVAL;
	}
	tok = json_tokener_new();
	if (!tok) {
		lcd_errors_add(errs, "%s: out of memory", path);
		explicit_bzero(text, len);
		free(text);
		return -ENOMEM;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, text, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (!root) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		/* Continue means the text ended inside a value. */
		line_col(text, end, &line, &col);
		lcd_errors_add(errs, "%s:%u:%u: JSON syntax: %s", path, line, col,
			       e == json_tokener_continue ? "unexpected end of file"
							  : json_tokener_error_desc(e));
		r = -EINVAL;
		goto out;
	}
	while (end < len && strchr(" \t\r\n", text[end]))
		end++;
	if (end < len) {
		line_col(text, end, &line, &col);
		lcd_errors_add(errs, "%s:%u:%u: JSON syntax: text after the end of the document",
			       path, line, col);
		r = -EINVAL;
		goto out;
	}
	if (lcd_json_scan(text, len, path, errs) > 0) {
		r = -EINVAL;
		goto out;
	}
	*ret_root = root;
	root = NULL;
	r = 0;
out:
	json_object_put(root);
	json_tokener_free(tok);
	/* The text may be the secrets file. */
	explicit_bzero(text, len);
	free(text);
	return r;
}
