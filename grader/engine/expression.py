"""Target expressions such as ``x**2 + y**2``, evaluated on numpy arrays without eval()."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log": np.log,
    "log10": np.log10,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "tanh": np.tanh,
    "abs": np.abs,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "where": np.where,
    "floor": np.floor,
    "pick": lambda index, *choices: _pick(index, choices),
}
CONSTANTS = {"pi": np.pi, "e": np.e}
BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}
COMPARE = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}  # fmt: skip


def _pick(index: Any, choices: tuple[Any, ...]) -> Any:
    """``pick(k, a, b, c)``: a where k == 0, b where k == 1, ... (k is rounded to an integer)."""
    if not choices:
        raise ExpressionError("pick(k, v0, v1, ...) needs at least one value to pick from")
    k = np.rint(np.asarray(index)).astype(np.int64)
    if k.size and (k.min() < 0 or k.max() >= len(choices)):
        raise ExpressionError(f"pick() got an index outside 0..{len(choices) - 1}")
    return np.choose(k, np.broadcast_arrays(*[np.asarray(c, dtype=np.float64) for c in choices]))


class ExpressionError(ValueError):
    pass


def parse(text: str, names: set[str]) -> ast.Expression:
    """Parse and check an expression; every error says what is allowed."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"does not parse: {exc.msg} (column {exc.offset})") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in names | set(FUNCTIONS) | set(CONSTANTS):
            allowed = ", ".join(sorted(names))
            raise ExpressionError(f"unknown name {node.id!r}; the inputs are {allowed}")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            raise ExpressionError(f"only these functions may be called: {', '.join(FUNCTIONS)}")
        allowed_nodes = (
            ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Call, ast.Load,
            ast.USub, ast.UAdd, ast.Compare, ast.BoolOp, ast.And, ast.Or, *BINARY, *COMPARE,
        )  # fmt: skip
        if not isinstance(node, allowed_nodes):
            raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise ExpressionError("only numeric constants are allowed")
    return tree


def is_condition(tree: ast.Expression) -> bool:
    return isinstance(tree.body, (ast.Compare, ast.BoolOp))


def evaluate(tree: ast.Expression, values: dict[str, np.ndarray]) -> np.ndarray:
    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return values[node.id] if node.id in values else CONSTANTS[node.id]
        if isinstance(node, ast.BinOp):
            return BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp):
            operand = walk(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Compare):  # chained, as in 1 <= x2 <= x1
            left, result = walk(node.left), True
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = walk(right_node)
                result = np.logical_and(result, COMPARE[type(op)](left, right))
                left = right
            return result
        if isinstance(node, ast.BoolOp):
            parts = [walk(v) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = parts[0]
            for part in parts[1:]:
                out = combine(out, part)
            return out
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return FUNCTIONS[node.func.id](*[walk(a) for a in node.args])
        raise ExpressionError(f"cannot evaluate {type(node).__name__}")

    with np.errstate(all="ignore"):
        return np.asarray(walk(tree), dtype=np.float64)
