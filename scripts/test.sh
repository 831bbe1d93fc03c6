#!/usr/bin/env bash
# The README's test command: installs dependencies, builds with -Werror and
# runs every test (unit, CLI, crash consistency) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
ctest --test-dir build --output-on-failure -j"$(nproc)"
