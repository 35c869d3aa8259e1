#!/usr/bin/env bash
# Sets up and runs the main job: installs the Debian packages, builds zlayer-agent, then runs the
# example (examples/README.md), whose state goes to ./example-state.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
ZLAYER_TARGET=zlayer-agent bash scripts/build.sh  # the tests are built by scripts/test.sh
bash examples/demo.sh
