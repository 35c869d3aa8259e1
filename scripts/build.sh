#!/usr/bin/env bash
# Configures (once) and builds zlayer-agent into ./build with Ninja. Extra arguments go to CMake's
# configure step, e.g. -DZLAYER_WERROR=ON. ZLAYER_TARGET=<target> builds only that target (and
# what it needs) instead of everything, tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja "$@" >/dev/null
cmake --build build ${ZLAYER_TARGET:+--target "$ZLAYER_TARGET"}
