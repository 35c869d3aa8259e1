#!/usr/bin/env bash
# The peers and tools only the benchmarks need, on top of scripts/install-deps.sh: Docker Engine
# (run_bench.sh starts its own dockerd), Node 20 (wasm_bench.sh's node:wasi peer) and the sqlite3
# shell (deploy_bench.sh reads replica health from state.db). Kept out of the main install so the
# tests and the example never get a host dockerd and its iptables rules.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends docker.io nodejs sqlite3 >/dev/null
