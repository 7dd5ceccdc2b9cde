"""Rollback criteria and steady-state tolerances: small expressions over measured figures,
such as `identity_mismatch_share > 0.005 or max_overrun > 0.5`.

Evaluated by walking Python's own parse tree with a whitelist of node kinds (numbers,
figure names, arithmetic, comparisons, and/or/not, min/max/abs): never eval(). A dotted
name (`overrun.final_sync`) is one figure's name, not an attribute. What a script names is
checked when it is loaded (`Expression.parse`), so a wrong criterion is refused before the
drill starts, not when it would have tripped.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from dataclasses import dataclass

from snapshots.errors import ToolkitError

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv}
_COMPARE = {ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt,
            ast.LtE: operator.le, ast.Eq: operator.eq, ast.NotEq: operator.ne}
_FUNCTIONS = {"min": min, "max": max, "abs": abs}


class ExpressionError(ToolkitError):
    reason = "drill-expression"
    exit_status = 3


class NotMeasured(ToolkitError):  # noqa: N818 - a state, not a failure
    """A figure the expression names has not been measured yet (its step has not run):
    the criterion cannot trip yet (the runner catches it; a user never sees it)."""

    reason = "drill-not-measured"


@dataclass(frozen=True)
class Expression:
    text: str
    tree: ast.Expression
    figures: tuple[str, ...]  # the figure names it reads, in order of appearance

    @classmethod
    def parse(cls, text: str) -> Expression:
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as e:
            raise ExpressionError(f"{text!r} is not an expression ({e.msg})") from None
        names: list[str] = []
        _check(tree.body, names)
        return cls(text, tree, tuple(dict.fromkeys(names)))

    def value(self, figures: Mapping[str, float]) -> float | bool:
        """The expression over `figures`; NotMeasured when one it names is not there."""
        missing = [f for f in self.figures if f not in figures]
        if missing:
            raise NotMeasured(", ".join(missing))
        return _eval(self.tree.body, figures)


def dotted(node: ast.AST) -> str | None:
    """`a.b.c` as one name, or None when the node is not a plain dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _check(node: ast.AST, names: list[str]) -> None:
    name = dotted(node)
    if name is not None:
        if name in ("True", "False") or name in _FUNCTIONS:
            raise ExpressionError(f"{name!r} is not a figure")
        names.append(name)
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExpressionError(f"{node.value!r}: only numbers may be written in a criterion")
        return
    if isinstance(node, ast.BoolOp | ast.Compare | ast.BinOp | ast.UnaryOp | ast.Call):
        _check_operator(node)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.operator | ast.cmpop | ast.boolop | ast.unaryop):
                if not (isinstance(node, ast.Call) and child is node.func):
                    _check(child, names)
        return
    raise ExpressionError(f"{ast.unparse(node)!r}: a criterion may use figures, numbers, "
                          "+ - * /, comparisons, and/or/not, min() max() abs()")


def _check_operator(node: ast.AST) -> None:
    if isinstance(node, ast.BinOp) and type(node.op) not in _BINARY:
        raise ExpressionError(f"{ast.unparse(node)!r}: only + - * / are allowed")
    if isinstance(node, ast.Compare) and any(type(op) not in _COMPARE for op in node.ops):
        raise ExpressionError(f"{ast.unparse(node)!r}: only < <= > >= == != are allowed")
    if isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.Not | ast.USub):
        raise ExpressionError(f"{ast.unparse(node)!r}: only `not` and `-` are allowed")
    if isinstance(node, ast.Call) and (not isinstance(node.func, ast.Name) or
                                       node.func.id not in _FUNCTIONS or node.keywords):
        raise ExpressionError(f"{ast.unparse(node)!r}: only min(), max() and abs() are "
                              "allowed")


def _eval(node: ast.AST, figures: Mapping[str, float]) -> float | bool:
    name = dotted(node)
    if name is not None:
        return figures[name]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, figures) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, figures)
        return (not value) if isinstance(node.op, ast.Not) else -value
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, figures), _eval(node.right, figures)
        if isinstance(node.op, ast.Div) and right == 0:
            return 0.0  # a share of nothing is nothing (no charts sampled: none lacking)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, figures)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, figures)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Call):
        return _FUNCTIONS[node.func.id](*(_eval(a, figures) for a in node.args))
    raise AssertionError(f"unchecked node {type(node).__name__}")  # parse() refused it
