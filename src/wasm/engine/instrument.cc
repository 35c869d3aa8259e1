#include "wasm/engine/instrument.h"

#include <memory>
#include <utility>

#include "wabt/cast.h"

namespace zlayer::wasm::detail {
namespace {

using wabt::Expr;
using wabt::ExprList;
using wabt::ExprType;
using wabt::Index;

// Instructions charged for `exprs`: every instruction, descending into block/if/try bodies but
// not into loop bodies (a loop header charges its own body each iteration).
std::uint64_t straight_line_cost(const ExprList& exprs) {
  std::uint64_t cost = 0;
  for (const Expr& expr : exprs) {
    ++cost;
    switch (expr.type()) {
      case ExprType::Block:
        cost += straight_line_cost(wabt::cast<wabt::BlockExpr>(&expr)->block.exprs);
        break;
      case ExprType::If: {
        const auto* if_expr = wabt::cast<wabt::IfExpr>(&expr);
        cost += straight_line_cost(if_expr->true_.exprs) + straight_line_cost(if_expr->false_);
        break;
      }
      case ExprType::Try: {
        const auto* try_expr = wabt::cast<wabt::TryExpr>(&expr);
        cost += straight_line_cost(try_expr->block.exprs);
        for (const wabt::Catch& c : try_expr->catches) cost += straight_line_cost(c.exprs);
        break;
      }
      default:
        break;
    }
  }
  return cost;
}

void insert_check(ExprList& exprs, std::uint64_t cost, const Instrumentation& ins) {
  const wabt::Location loc;
  ExprList check;
  check.push_back(std::make_unique<wabt::GlobalGetExpr>(wabt::Var(ins.budget_global, loc)));
  check.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I64(cost)));
  check.push_back(std::make_unique<wabt::BinaryExpr>(wabt::Opcode::I64Sub));
  check.push_back(std::make_unique<wabt::GlobalSetExpr>(wabt::Var(ins.budget_global, loc)));
  check.push_back(std::make_unique<wabt::GlobalGetExpr>(wabt::Var(ins.budget_global, loc)));
  check.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I64(0)));
  check.push_back(std::make_unique<wabt::CompareExpr>(wabt::Opcode::I64LtS));
  auto if_expr = std::make_unique<wabt::IfExpr>();
  if_expr->true_.exprs.push_back(std::make_unique<wabt::CallExpr>(wabt::Var(ins.check_func, loc)));
  check.push_back(std::move(if_expr));
  exprs.splice(exprs.begin(), check);
}

bool shift_var(wabt::Var& var, Index first, std::string* error) {
  if (!var.is_index()) {
    *error = "unresolved function reference " + var.name();
    return false;
  }
  if (var.index() >= first) var.set_index(var.index() + 1);
  return true;
}

// Instruments every loop in `exprs` (recursively) and shifts function indices >= `first`.
bool rewrite_body(ExprList& exprs, Index first, const Instrumentation& ins, std::string* error) {
  for (Expr& expr : exprs) {
    switch (expr.type()) {
      case ExprType::Call:
      case ExprType::ReturnCall:
      case ExprType::RefFunc: {
        wabt::Var* var = nullptr;
        if (expr.type() == ExprType::ReturnCall) {
          var = &wabt::cast<wabt::ReturnCallExpr>(&expr)->var;
        } else if (expr.type() == ExprType::RefFunc) {
          var = &wabt::cast<wabt::RefFuncExpr>(&expr)->var;
        } else {
          var = &wabt::cast<wabt::CallExpr>(&expr)->var;
        }
        if (!shift_var(*var, first, error)) return false;
        break;
      }
      case ExprType::Block:
        if (!rewrite_body(wabt::cast<wabt::BlockExpr>(&expr)->block.exprs, first, ins, error))
          return false;
        break;
      case ExprType::Loop: {
        ExprList& body = wabt::cast<wabt::LoopExpr>(&expr)->block.exprs;
        if (!rewrite_body(body, first, ins, error)) return false;
        insert_check(body, straight_line_cost(body) + 1, ins);
        break;
      }
      case ExprType::If: {
        auto* if_expr = wabt::cast<wabt::IfExpr>(&expr);
        if (!rewrite_body(if_expr->true_.exprs, first, ins, error) ||
            !rewrite_body(if_expr->false_, first, ins, error))
          return false;
        break;
      }
      case ExprType::Try: {
        auto* try_expr = wabt::cast<wabt::TryExpr>(&expr);
        if (!rewrite_body(try_expr->block.exprs, first, ins, error)) return false;
        for (wabt::Catch& c : try_expr->catches) {
          if (!rewrite_body(c.exprs, first, ins, error)) return false;
        }
        break;
      }
      default:
        break;
    }
  }
  return true;
}

// Index of a () -> () function type, appending one when the module has none.
Index void_func_type(wabt::Module& module) {
  for (Index i = 0; i < module.types.size(); ++i) {
    const auto* type = wabt::dyn_cast<wabt::FuncType>(module.types[i]);
    if (type != nullptr && type->sig.param_types.empty() && type->sig.result_types.empty()) {
      return i;
    }
  }
  auto field = std::make_unique<wabt::TypeModuleField>();
  field->type = std::make_unique<wabt::FuncType>();
  module.AppendField(std::move(field));
  return static_cast<Index>(module.types.size() - 1);
}

}  // namespace

bool instrument_module(wabt::Module& module, Instrumentation* out, std::string* error) {
  Instrumentation ins;
  const Index first = module.num_func_imports;  // the check import's function index
  ins.check_func = first;
  // Appended below; imported globals are part of module.globals, so this is the new index.
  ins.budget_global = static_cast<Index>(module.globals.size());

  // Shift every function reference and instrument loops; each loop's check (which calls `first`)
  // is inserted after its body was shifted, so it is never shifted itself.
  for (Index i = first; i < module.funcs.size(); ++i) {
    if (!rewrite_body(module.funcs[i]->exprs, first, ins, error)) return false;
  }
  for (wabt::Global* global : module.globals) {
    if (!rewrite_body(global->init_expr, first, ins, error)) return false;
  }
  for (wabt::ElemSegment* segment : module.elem_segments) {
    for (wabt::ExprList& elem : segment->elem_exprs) {
      if (!rewrite_body(elem, first, ins, error)) return false;
    }
  }
  for (wabt::Export* exp : module.exports) {
    if (exp->kind == wabt::ExternalKind::Func && !shift_var(exp->var, first, error)) return false;
  }
  for (wabt::Var* start : module.starts) {
    if (!shift_var(*start, first, error)) return false;
  }
  for (auto& binding : module.func_bindings) {
    if (binding.second.index >= first) ++binding.second.index;
  }

  // The budget: a new mutable i64 global, appended (global indices do not move).
  auto global_field = std::make_unique<wabt::GlobalModuleField>();
  global_field->global.type = wabt::Type::I64;
  global_field->global.mutable_ = true;
  global_field->global.init_expr.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I64(0)));
  module.AppendField(std::move(global_field));

  // The check import, placed after the last existing import field so the binary writer's import
  // order matches the function index space.
  const Index type_index = void_func_type(module);
  auto import = std::make_unique<wabt::FuncImport>();
  import->module_name = kCheckModule;
  import->field_name = kCheckName;
  import->func.decl.has_func_type = true;
  import->func.decl.type_var = wabt::Var(type_index, wabt::Location());
  import->func.decl.sig = wabt::FuncSignature();
  wabt::FuncImport* raw_import = import.get();
  auto import_field = std::make_unique<wabt::ImportModuleField>(std::move(import));
  auto pos = module.fields.begin();
  auto insert_at = module.fields.begin();
  for (; pos != module.fields.end(); ++pos) {
    if (pos->type() == wabt::ModuleFieldType::Import) insert_at = std::next(pos);
  }
  module.fields.insert(insert_at, std::move(import_field));
  ins.check_import = static_cast<Index>(module.imports.size());
  module.imports.push_back(raw_import);
  module.funcs.insert(module.funcs.begin() + first, &raw_import->func);
  ++module.num_func_imports;

  // Checks at function entries.
  for (Index i = module.num_func_imports; i < module.funcs.size(); ++i) {
    wabt::Func* func = module.funcs[i];
    insert_check(func->exprs, straight_line_cost(func->exprs) + 1, ins);
  }
  *out = ins;
  return true;
}

}  // namespace zlayer::wasm::detail
