/* SPDX-License-Identifier: MIT */
/*
 * iSCSI names and portal addresses as the configuration writes them.
 *
 * Names (RFC 3720 section 3.2.6.3, RFC 3722): at most 223 bytes, one of
 *     iqn.YYYY-MM.reversed.domain[:anything]   lowercase a-z 0-9 - . :
 *     eui.<16 hex digits>
 *     naa.<16 or 32 hex digits>
 * RFC 3722's stringprep folds case and maps other characters; we take the
 * result only (lowercase ASCII), which is what LIO and open-iscsi compare.
 *
 * Portals: "a.b.c.d[:port]" or "[v6][:port]", port 3260 when omitted,
 * canonicalised through inet_pton/inet_ntop so that two spellings of one
 * address are one portal, named as LIO names its np/ directories
 * ("192.0.2.1:3260", "[2001:db8::1]:3260").
 */
#ifndef LCD_ISCSI_NAMES_H
#define LCD_ISCSI_NAMES_H

#define LCD_ISCSI_PORT_DEFAULT 3260u

/* NULL when name is a valid iSCSI name, else why not (a static string). */
const char *lcd_iqn_problem(const char *name);

/* 0 and *ret_canonical (caller frees), -EINVAL, or -ENOMEM. Never blocks. */
int lcd_portal_canonical(const char *text, char **ret_canonical);

#endif
