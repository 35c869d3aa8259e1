#!/usr/bin/env bash
# Sets up and runs every test: installs the Debian packages, builds, runs the GoogleTest suites
# through CTest (real docker-registry, skopeo, umoci; needs root for snapshots and overlay).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh "$@"
ctest --test-dir build --output-on-failure -j2
