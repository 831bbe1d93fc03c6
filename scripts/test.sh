#!/usr/bin/env bash
# The README's test command: installs dependencies, builds with -Werror and
# runs every test with ctest: unit, CLI and crash consistency in parallel,
# then the end-to-end tests (two User-Mode-Linux guests with LIO,
# tcmu-runner and iSCSI initiators, pinned to separate CPUs), verbosely, so
# that each scenario's assertions and the iscsi-test-cu comparison table
# are printed. Runs as root (apt-get, the guests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
ctest --test-dir build --output-on-failure -j"$(nproc)" -LE e2e
ctest --test-dir build --output-on-failure -V -L e2e
