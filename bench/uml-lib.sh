# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Host-side helpers of the bench/uml-* commands. Source it.

# bench_uml_shim DIR: the UML xstate shim, built into DIR (its path on
# stdout). tests/e2e/run-uml.sh preloads it by itself now: kept so callers
# that still pass LD_PRELOAD=$(bench_uml_shim DIR) work (see
# tests/e2e/uml-host-lib.sh).
# shellcheck source=tests/e2e/uml-host-lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../tests/e2e/uml-host-lib.sh"
bench_uml_shim() { uml_xstate_shim "$1"; }
