// Load-time instrumentation of a wabt IR module for instruction budgets (internal, C++17).
//
// Adds one mutable i64 global, the budget, and one function import, the budget check, then at
// every function entry and every loop header charges the instructions of the straight-line code
// that follows (the block's own instructions, nested blocks and ifs included, nested loops
// excluded — they charge themselves):
//
//   global.get $budget  i64.const K  i64.sub  global.set $budget
//   global.get $budget  i64.const 0  i64.lt_s
//   if  call $check  end
//
// The host check runs only when the budget goes negative: it accounts the instructions, refills
// the budget by the check interval (bounded by the remaining fuel), and ends the run when a stop
// was requested, the deadline passed or the fuel ran out. Stop latency is therefore at most one
// check interval of instructions (or one loop iteration / one call), whatever the guest does.
//
// The new import is inserted after the module's own function imports, so every function index at
// or above the old import count moves up by one: calls, return calls, ref.func (in code, global
// initialisers and element segments), exports, the start function and name bindings are shifted.
#pragma once

#include <cstdint>
#include <string>

#include "wabt/ir.h"

namespace zlayer::wasm::detail {

inline constexpr const char* kCheckModule = "zlayer:engine";
inline constexpr const char* kCheckName = "budget_exhausted";

struct Instrumentation {
  wabt::Index check_func = 0;      // function index of the check import
  wabt::Index check_import = 0;    // position of the check import among all imports
  wabt::Index budget_global = 0;   // global index of the budget
};

// Rewrites `module` in place (it must have validated, with every Var resolved to an index).
// Returns false with `error` set when the module cannot be instrumented.
bool instrument_module(wabt::Module& module, Instrumentation* out, std::string* error);

}  // namespace zlayer::wasm::detail
