#!/usr/bin/env bash
# The one place that lists the Debian packages zlayer-agent needs to build, test, benchmark and
# run its example (docs/dependencies.md says why each is here). Idempotent; run as root.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # libraries (headers)
  libexpected-dev libfmt-dev libspdlog-dev nlohmann-json3-dev libcli11-dev
  libcurl4-openssl-dev libarchive-dev libssl-dev libsqlite3-dev libzstd-dev zlib1g-dev
  libyaml-cpp-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev
  docker-registry busybox-static skopeo umoci apache2-utils openssl ca-certificates
  hyperfine time python3 iproute2 util-linux curl
  # WebAssembly: the engine's interpreter (headers, libwabt.a) and the benchmark's peer wasm-interp
  wabt
  # OCI runtimes and the default seccomp profile (/usr/share/containers/seccomp.json)
  crun runc golang-github-containers-common
  # container networking: CNI plugins (bridge, host-local, portmap, firewall) and the iptables they call
  # (iproute2, listed above, gives the tests `ip netns`)
  containernetworking-plugins iptables
  # WASI test programs, compiled at test time: clang --target=wasm32-wasi (+ wasm-ld, wasi-libc,
  # compiler-rt builtins for wasm32)
  clang lld wasi-libc libclang-rt-14-dev-wasm32
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root (it calls apt-get)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "install-deps.sh: ${#packages[@]} packages present"
