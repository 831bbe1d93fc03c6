/* SPDX-License-Identifier: MIT */
/* iSCSI names and portals (iscsi_names.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/parse.h"

#include "iscsi_names.h"

#define ISCSI_NAME_MAX 223u

static bool is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

static bool is_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static const char *iqn_problem(const char *name)
{
	const char *p = name + 4, *colon, *end;
	unsigned month;

	/* iqn.YYYY-MM. */
	if (strlen(p) < 8 || !is_digits(p, 4) || p[4] != '-' || !is_digits(p + 5, 2) || p[7] != '.')
		return "expected iqn.YYYY-MM.reversed.domain[:identifier]";
	month = (unsigned)(p[5] - '0') * 10 + (unsigned)(p[6] - '0');
	if (month < 1 || month > 12)
		return "the month of iqn.YYYY-MM is not 01 to 12";
	p += 8;
	colon = strchr(p, ':');
	end = colon ? colon : p + strlen(p);
	if (end == p)
		return "no naming authority after iqn.YYYY-MM.";
	for (const char *q = p; q < end; q++) {
		if (*q == '.' && (q == p || q[-1] == '.' || q + 1 == end))
			return "empty label in the naming authority";
		if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-' ||
		      *q == '.'))
			return *q >= 'A' && *q <= 'Z'
				   ? "uppercase letter: iSCSI names are lowercase (RFC 3722)"
				   : "the naming authority allows only a-z, 0-9, '-' and '.'";
	}
	if (colon) {
		if (colon[1] == '\0')
			return "empty identifier after ':'";
		for (const char *q = colon + 1; *q; q++) {
			if (*q >= 'A' && *q <= 'Z')
				return "uppercase letter: iSCSI names are lowercase (RFC 3722)";
			if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ||
			      strchr("-.:", *q)))
				return "the identifier allows only a-z, 0-9, '-', '.' and ':'";
		}
	}
	return NULL;
}

const char *lcd_iqn_problem(const char *name)
{
	size_t len = strlen(name);

	if (len > ISCSI_NAME_MAX)
		return "longer than 223 bytes (RFC 3720)";
	if (strncmp(name, "iqn.", 4) == 0)
		return iqn_problem(name);
	if (strncmp(name, "eui.", 4) == 0)
		return len == 20 && is_hex(name + 4, 16) ? NULL
							 : "eui. takes exactly 16 hex digits";
	if (strncmp(name, "naa.", 4) == 0)
		return (len == 20 || len == 36) && is_hex(name + 4, len - 4)
			   ? NULL
			   : "naa. takes 16 or 32 hex digits";
	return "must start with iqn., eui. or naa.";
}

int lcd_portal_canonical(const char *text, char **ret_canonical)
{
	char addr[INET6_ADDRSTRLEN + 1], out[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	unsigned port = LCD_ISCSI_PORT_DEFAULT;
	const char *port_text = NULL;
	size_t addr_len;
	bool v6;
	char *s;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close)
			return -EINVAL;
		addr_len = (size_t)(close - text - 1);
		if (addr_len >= sizeof(addr))
			return -EINVAL;
		memcpy(addr, text + 1, addr_len);
		if (close[1] == ':')
			port_text = close + 2;
		else if (close[1] != '\0')
			return -EINVAL;
		v6 = true;
	} else {
		const char *colon = strchr(text, ':');

		/* A bare IPv6 address would be ambiguous with a port: brackets. */
		if (colon && strchr(colon + 1, ':'))
			return -EINVAL;
		addr_len = colon ? (size_t)(colon - text) : strlen(text);
		if (addr_len >= sizeof(addr))
			return -EINVAL;
		memcpy(addr, text, addr_len);
		if (colon)
			port_text = colon + 1;
		v6 = false;
	}
	addr[addr_len] = '\0';
	if (port_text && (lc_parse_uint(port_text, &port) < 0 || port < 1 || port > 65535))
		return -EINVAL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, bin) != 1)
		return -EINVAL;
	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, bin, out, sizeof(out)))
		return -EINVAL;
	if (asprintf(&s, v6 ? "[%s]:%u" : "%s:%u", out, port) < 0)
		return -ENOMEM;
	*ret_canonical = s;
	return 0;
}
