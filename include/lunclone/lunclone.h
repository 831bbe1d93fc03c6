/* SPDX-License-Identifier: MIT */
/* The core library in one include. */
#ifndef LUNCLONE_LUNCLONE_H
#define LUNCLONE_LUNCLONE_H

#include <lunclone/err.h>
#include <lunclone/backend.h>
#include <lunclone/bitmap.h>
#include <lunclone/meta.h>
#include <lunclone/clone.h>

#endif
