/* SPDX-License-Identifier: MIT */
/*
 * luncloned: brings LIO in line with /etc/lunclone/lunclone.json (see
 * luncloned(8) and lunclone.json(5)).
 *
 * --check FILE validates the file (every pass of config.h, the host checks
 * included) and changes nothing: exit 0 valid, 1 invalid (one line per
 * problem on stderr), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errors.h"

#define EXIT_INVALID 1
#define EXIT_USAGE 2

static const char usage[] =
    "Usage: luncloned --check [FILE]\n"
    "\n"
    "Options:\n"
    "  -t, --check        validate the configuration (default " LCD_CONFIG_PATH_DEFAULT ")\n"
    "                     and exit: 0 valid, 1 invalid; changes nothing\n"
    "  -c, --config FILE  the configuration file\n"
    "  -h, --help         show this help\n";

static int check(const char *path)
{
	struct lcd_config *cfg = NULL;
	struct lcd_errors errs = {0};
	int r;

	r = lcd_config_load(path, NULL, 0, &cfg, &errs);
	lcd_errors_print(&errs, stderr);
	lcd_errors_clear(&errs);
	lcd_config_free(cfg);
	return r == 0 ? EXIT_SUCCESS : EXIT_INVALID;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"check", no_argument, NULL, 't'},
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = LCD_CONFIG_PATH_DEFAULT;
	bool do_check = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "tc:h", options, NULL)) != -1) {
		switch (opt) {
		case 't':
			do_check = true;
			break;
		case 'c':
			path = optarg;
			break;
		case 'h':
			(void)fputs(usage, stdout);
			return EXIT_SUCCESS;
		default:
			(void)fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	/* "--check FILE": the file may follow the option. */
	if (do_check && optind == argc - 1)
		path = argv[optind++];
	if (optind != argc || !do_check) {
		(void)fputs(usage, stderr);
		return EXIT_USAGE;
	}
	return check(path);
}
