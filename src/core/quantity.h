// Sizes and CPU amounts as people write them: Docker's `--memory 64m` / `1g` / `512mb` and
// Kubernetes' `512Mi` / `1Gi`, plain bytes; CPUs as `0.5` or Kubernetes millicores `500m`. One
// parser for the CLI and the deployment spec. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/error.h"

namespace zlayer {

struct ByteQuantityForm {
  // Docker's optional trailing "b"/"B" after the unit ("64mb", "1GiB", "100b"), as the docker
  // CLI's units.RAMInBytes reads. The deployment spec refuses it ("512MB" is a typo for 512Mi
  // there: upstream accepts only <int><Ki|Mi|Gi|Ti>).
  bool allow_byte_suffix = true;
};

// Parses a byte size: a non-negative decimal number (a fraction is allowed and truncated to
// whole bytes: "1.5g") followed by an optional unit. Units are binary, case-insensitive for the
// single letters as Docker does: k/K = KiB, m/M = MiB, g/G = GiB, t/T = TiB, p/P = PiB; and the
// Kubernetes binary suffixes Ki, Mi, Gi, Ti, Pi, Ei (any case in the docker form, as
// RAMInBytes; exact case when allow_byte_suffix is false). No unit = bytes. (Kubernetes reads a
// bare "M" as 10^6; we follow Docker, whose CLI the agent mirrors — docs/spec.md.) Returns bytes.
// Errors: kInvalidArgument with a message naming `text` and the expected form
// ("\"512MB\" is not a size like 64m, 512Mi or 1048576"), or when the value exceeds 2^63-1.
[[nodiscard]] Result<std::uint64_t> parse_byte_quantity(std::string_view text,
                                                        ByteQuantityForm form = {});

// Parses a CPU amount in cores: a positive decimal number ("2", "0.5") or Kubernetes millicores
// ("500m" = 0.5). Errors: kInvalidArgument naming `text` when it is not one of these forms, is
// zero, negative or not finite.
[[nodiscard]] Result<double> parse_cpu_quantity(std::string_view text);

}  // namespace zlayer
