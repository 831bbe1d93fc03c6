#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Boots Debian's User-Mode-Linux kernel over the host's root (read-only
# hostfs, tmpfs overlay inside the guest: uml-init.sh), runs a guest script as
# root there and exits with that script's exit status.
#
# usage: run-uml.sh GUEST-SCRIPT [TIMEOUT-SECONDS]
#
# Environment:
#   E2E_OUT    host dir mounted writable at /e2eout in the guest (results,
#              console.log, rc); default: a new dir under /tmp
#   E2E_CPU    host CPU to pin the guest to (UML is uniprocessor), default 0
#   E2E_MEM    guest memory, default 1024M
#   E2E_*, LC_*  every exported variable with these prefixes is written to
#              <out>/env and exported to the guest script
set -euo pipefail

die() {
	echo "run-uml.sh: $*" >&2
	exit 2
}

[[ $# -ge 1 ]] || die "usage: run-uml.sh GUEST-SCRIPT [TIMEOUT-SECONDS]"
SCRIPT=$(realpath "$1") # absolute: the guest's cwd is /
TMO=${2:-300}
[[ -r $SCRIPT ]] || die "guest script $1 not found"
HERE=$(cd "$(dirname "$0")" && pwd)
CPU=${E2E_CPU:-0}
MEM=${E2E_MEM:-1024M}

# shellcheck source=tests/e2e/uml-host-lib.sh
. "$HERE/uml-host-lib.sh"
uml_require run-uml.sh
command -v busybox >/dev/null || die "busybox missing (busybox-static)"
uml_out_dir

UMLDIR=$(mktemp -d /tmp/lunclone-uml.XXXXXX)
cleanup() { rm -rf "$UMLDIR"; }
trap cleanup EXIT
uml_boot run-uml.sh "lc-e2e-$$" "$TMO" \
	init="$HERE/uml-init.sh" \
	e2e.script="$SCRIPT" e2e.timeout="$TMO" e2e.out="$OUT"
