/* SPDX-License-Identifier: MIT */
/*
 * Corpus replay without libFuzzer: runs a fuzz target's entry point once on
 * every file named on the command line (directories: every file in them).
 * Built with the ordinary compiler, so that the seed corpus and every crash
 * ever found (kept in fuzz/corpus/<target>/ as regression inputs) run in
 * the normal test suite, under ASan/UBSan and valgrind too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "util/full_rw.h"

static int run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "replay: '%s': %s\n", path, strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		return -1;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		(void)close(fd);
		return -1;
	}
	r = lc_full_pread(fd, buf, (size_t)st.st_size, 0);
	(void)close(fd);
	if (r < 0) {
		fprintf(stderr, "replay: reading '%s': %s\n", path, strerror(-r));
		free(buf);
		return -1;
	}
	(void)LLVMFuzzerTestOneInput(buf, (size_t)st.st_size);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned nr = 0;
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: '%s': %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed |= run_file(argv[i]) < 0;
			nr++;
			continue;
		}
		struct dirent **names;
		int n = scandir(argv[i], &names, NULL, alphasort);

		if (n < 0) {
			fprintf(stderr, "replay: '%s': %s\n", argv[i], strerror(errno));
			return 1;
		}
		for (int j = 0; j < n; j++) {
			char path[4096];

			if (names[j]->d_name[0] != '.') {
				(void)snprintf(path, sizeof(path), "%s/%s", argv[i], names[j]->d_name);
				failed |= run_file(path) < 0;
				nr++;
			}
			free(names[j]);
		}
		free(names);
	}
	if (nr == 0) {
		fprintf(stderr, "replay: no inputs\n");
		return 1;
	}
	printf("replay: %u inputs, no crash\n", nr);
	return failed;
}
