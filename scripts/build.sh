#!/usr/bin/env bash
# Configures and builds into a directory (default build/), warnings as errors.
# Usage: scripts/build.sh [BUILD_DIR] [CMAKE_BUILD_TYPE]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
type=${2:-RelWithDebInfo}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DLC_WERROR=ON >/dev/null
cmake --build "$dir" -j"$(nproc)"
