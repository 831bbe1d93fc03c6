/* SPDX-License-Identifier: MIT */
/*
 * lunclone ctl: the status socket client (lunclone-ctl.c) and its watch loop
 * (lunclone-ctl-watch.c).
 */
#ifndef LUNCLONE_CLI_CTL_H
#define LUNCLONE_CLI_CTL_H

/* One request on the socket at path; the NUL-terminated reply in *ret_reply
 * (caller frees). Errors are reported under verb, then returned as -errno. */
int cli_ctl_exchange(const char *verb, const char *path, const char *request, char **ret_reply);

/* Progress bar until the clone is complete; returns the exit code. Blocks. */
int cli_ctl_watch(const char *verb, const char *path, unsigned interval_ms);

#endif
