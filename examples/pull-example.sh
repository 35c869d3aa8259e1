#!/usr/bin/env bash
# The example job until `deploy` exists: shows the built agent. Replaced by pull + unpack of the
# example image as the image pipeline lands.
set -euo pipefail
cd "$(dirname "$0")/.."
./build/zlayer-agent version
