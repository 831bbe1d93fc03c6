/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: luncloned's control socket (daemon/control_req.c), both
 * sides of what it parses:
 *   - a client's request (lcd_ctl_parse_request), fed the raw bytes, NULs
 *     included: it is accepted with a valid verb and a session name the
 *     configuration could hold, or refused with a reason;
 *   - a device's status reply (lcd_ctl_session_from_reply), fed the same
 *     bytes: it is refused, or becomes an object whose JSON text parses
 *     back (what lunclonectl reads) and whose source never holds the
 *     URL's password.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "control.h"
#include "fuzz.h"

static void check_request(const uint8_t *data, size_t size)
{
	struct lcd_ctl_request req;
	char why[256] = "";
	int r;

	r = lcd_ctl_parse_request((const char *)data, size, &req, why, sizeof(why));
	if (r < 0) {
		if (!why[0])
			abort(); /* every refusal says why */
		return;
	}
	if (req.verb != LCD_CTL_STATUS && req.verb != LCD_CTL_PAUSE && req.verb != LCD_CTL_RESUME &&
	    req.verb != LCD_CTL_THROTTLE)
		abort();
	if (strnlen(req.name, sizeof(req.name)) == sizeof(req.name))
		abort();
	if (req.verb != LCD_CTL_STATUS && !req.name[0])
		abort();
	if (strspn(req.name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	    strlen(req.name))
		abort();
	if (req.mib > (UINT64_MAX >> 20))
		abort();
}

static void check_reply(const uint8_t *data, size_t size)
{
	struct lcd_session s = {
	    .name = (char *)"vol",
	    .source = (char *)"iscsi://user%s3cr3tpass@192.0.2.1/iqn.2003-01.org.example:t/0",
	    .destination = (char *)"/dev/dst",
	    .metadata = (char *)"/dev/meta",
	};
	struct json_object *obj = NULL, *back;
	const char *text;
	char *reply = fuzz_strndup(data, size);

	if (!reply)
		return;
	if (lcd_ctl_session_from_reply(&s, reply, &obj) == 0) {
		text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
		if (text) {
			struct json_object *src = NULL;

			/* The reply may hold anything, the source field not. */
			if (!json_object_object_get_ex(obj, "source", &src) ||
			    strstr(json_object_get_string(src), "s3cr3tpass"))
				abort();
			back = json_tokener_parse(text);
			if (!back)
				abort(); /* lunclonectl could not read it */
			json_object_put(back);
		}
		json_object_put(obj);
	}
	free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);
	check_reply(data, size);
	return 0;
}
