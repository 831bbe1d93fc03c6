/* SPDX-License-Identifier: MIT */
/* Rendering a session into the handler's cfgstring file (session_cfg.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_cfg.h"

#define MIB_SHIFT 20
/* The kernel's TCMU_CONFIG_LEN (256, NUL included) and the "clone/" prefix. */
#define CFGSTRING_MAX (255u - sizeof("clone/") + 1)

bool lcd_session_cfg_value_ok(const char *value)
{
	size_t len = strlen(value);

	if (len == 0 || strpbrk(value, ";\n\r"))
		return false;
	/* The file form drops blanks around an item. */
	return !strchr(" \t", value[0]) && !strchr(" \t", value[len - 1]);
}

static const char *on_off(bool b)
{
	return b ? "on" : "off";
}

int lcd_session_cfg_render(const struct lcd_session *s, char **ret_text)
{
	const struct lc_clone_config *h = &s->hydration;
	uint32_t given = s->hydration_given;
	char *text = NULL;
	size_t size = 0;
	FILE *f;

	if (!lcd_session_cfg_value_ok(s->source) || !lcd_session_cfg_value_ok(s->destination) ||
	    !lcd_session_cfg_value_ok(s->metadata) || !lcd_session_cfg_value_ok(s->name))
		return -EINVAL;
	f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;
	(void)fprintf(f, "# Written by luncloned for session %s: edits are overwritten.\n",
		      s->name);
	(void)fprintf(f, "name=%s\nsrc=%s\ndst=%s\nmeta=%s\n", s->name, s->source, s->destination,
		      s->metadata);
	if (s->region_size_bytes)
		(void)fprintf(f, "region_size=%u\n", s->region_size_bytes);
	if (s->format != LCD_FORMAT_DEFAULT)
		(void)fprintf(f, "format=%s\n", s->format == LCD_FORMAT_NEVER ? "never" : "auto");
	if (s->direct_io != LCD_UNSET)
		(void)fprintf(f, "direct=%s\n", on_off(s->direct_io == LCD_ON));
	if (given & (1u << LCD_HYD_WORKERS))
		(void)fprintf(f, "workers=%u\n", h->nr_workers);
	if (given & (1u << LCD_HYD_BATCH))
		(void)fprintf(f, "batch=%u\n", h->batch_regions);
	if (given & (1u << LCD_HYD_MAX_IN_FLIGHT))
		(void)fprintf(f, "max_inflight=%u\n", h->max_inflight_regions);
	if (given & (1u << LCD_HYD_RATE_LIMIT))
		(void)fprintf(f, "rate=%llu\n",
			      (unsigned long long)(h->rate_limit_bytes >> MIB_SHIFT));
	if (given & (1u << LCD_HYD_MIN_RATE))
		(void)fprintf(f, "min_rate=%llu\n",
			      (unsigned long long)(h->min_rate_bytes >> MIB_SHIFT));
	if (given & (1u << LCD_HYD_YIELD))
		(void)fprintf(f, "yield=%s\n", on_off(h->yield_to_user_io));
	if (given & (1u << LCD_HYD_YIELD_WINDOW))
		(void)fprintf(f, "yield_window=%u\n", h->yield_window_ms);
	if (given & (1u << LCD_HYD_COPY_ON_READ))
		(void)fprintf(f, "copy_on_read=%s\n", on_off(h->copy_on_read));
	if (given & (1u << LCD_HYD_START_PAUSED))
		(void)fprintf(f, "paused=%s\n", on_off(h->start_paused));
	if (given & (1u << LCD_HYD_COMMIT_INTERVAL))
		(void)fprintf(f, "commit_interval=%u\n", h->commit_interval_ms);
	if (given & (1u << LCD_HYD_RETRIES))
		(void)fprintf(f, "retries=%u\n", h->source_retries);
	if (given & (1u << LCD_HYD_RETRY_DELAY))
		(void)fprintf(f, "retry_delay=%u\n", h->retry_delay_ms);
	/* open_memstream reports failed writes (memory) at flush/close. */
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	*ret_text = text;
	return 0;
}

int lcd_session_cfg_path(const char *state_dir, const char *name, char **ret_path)
{
	return asprintf(ret_path, "%s/" LCD_SESSION_CFG_SUBDIR "/%s.conf", state_dir, name) < 0
		   ? -ENOMEM
		   : 0;
}

int lcd_session_cfgstring(const char *cfg_path, char **ret_cfgstring)
{
	if (cfg_path[0] != '/' || strlen(cfg_path) + 1 > CFGSTRING_MAX || strpbrk(cfg_path, ",\n"))
		return -EINVAL;
	return asprintf(ret_cfgstring, "@%s", cfg_path) < 0 ? -ENOMEM : 0;
}
