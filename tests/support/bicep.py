"""Read Bicep with the real grammar (tree-sitter-bicep): syntax errors, declarations, and literal values.

No Bicep CLI can be installed here, so the infra tests read the templates through this parser. `literal` turns the
literal part of an expression into Python values (objects, arrays, strings, numbers, booleans); anything computed
stays an `Expr` holding its source text, which the tests compare as text where the wiring matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import tree_sitter_bicep
from tree_sitter import Language, Node, Parser


@cache
def _parser() -> Parser:
    return Parser(Language(tree_sitter_bicep.language()))


@dataclass(frozen=True)
class Expr:
    """An expression that is not a literal: its source text (e.g. `string(maxDeliveryCount)`)."""

    text: str


@dataclass(frozen=True)
class Resource:
    symbol: str
    type: str
    api_version: str
    body: Node | None  # the resource's object (inside `if` / `for` when there is one)
    existing: bool
    line: int
    declaration: Node


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Node | None
    decorators: tuple[str, ...]  # decorator names: description, secure, allowed, ...


@dataclass(frozen=True)
class Module:
    symbol: str
    path: str
    params: Node | None  # the `params` object


class BicepFile:
    """One parsed .bicep file."""

    def __init__(self, path: Path, source: bytes | None = None) -> None:
        self.path = path
        self.source = path.read_bytes() if source is None else source
        self.root = _parser().parse(self.source).root_node

    def syntax_errors(self) -> list[str]:
        """`file:line:column` of every ERROR and MISSING node the grammar produced."""
        problems: list[str] = []
        stack = [self.root]
        while stack:
            node = stack.pop()
            if node.type == "ERROR" or node.is_missing:
                row, column = node.start_point
                what = f"missing {node.type!r}" if node.is_missing else f"cannot parse {_text(node)[:40]!r}"
                problems.append(f"{self.path}:{row + 1}:{column + 1}: {what}")
            stack.extend(node.children)
        return sorted(problems)

    def _declarations(self, kind: str) -> list[tuple[Node, tuple[str, ...]]]:
        """Top-level declarations of `kind` with the names of the decorators written above them."""
        found: list[tuple[Node, tuple[str, ...]]] = []
        decorators: tuple[str, ...] = ()
        for node in self.root.named_children:
            if node.type == "decorators":
                decorators = tuple(
                    _text(call.child_by_field_name("function"))
                    for decorator in node.named_children
                    for call in decorator.named_children
                    if call.type == "call_expression"
                )
                continue
            if node.type == kind:
                found.append((node, decorators))
            decorators = ()
        return found

    def parameters(self) -> dict[str, Parameter]:
        params: dict[str, Parameter] = {}
        for node, decorators in self._declarations("parameter_declaration"):
            children = node.named_children
            name = _text(children[0])
            default = children[2] if len(children) > 2 else None
            params[name] = Parameter(name, default, decorators)
        return params

    def variables(self) -> dict[str, Node]:
        return {
            _text(node.named_children[0]): node.named_children[-1]
            for node, _ in self._declarations("variable_declaration")
        }

    def outputs(self) -> dict[str, Node]:
        return {
            _text(node.named_children[0]): node.named_children[-1]
            for node, _ in self._declarations("output_declaration")
        }

    def resources(self) -> list[Resource]:
        found = []
        for node, _ in self._declarations("resource_declaration"):
            symbol, type_string = node.named_children[0], node.named_children[1]
            resource_type, _, api_version = string_value(type_string).partition("@")
            existing = any(child.type == "existing" for child in node.children)
            found.append(
                Resource(
                    _text(symbol), resource_type, api_version, _body(node), existing, node.start_point[0] + 1, node
                )
            )
        return found

    def resource(self, symbol: str) -> Resource:
        return next(resource for resource in self.resources() if resource.symbol == symbol)

    def modules(self) -> list[Module]:
        found = []
        for node, _ in self._declarations("module_declaration"):
            body = _body(node)
            params = prop(body, "params") if body is not None else None
            found.append(Module(_text(node.named_children[0]), string_value(node.named_children[1]), params))
        return found

    def strings(self) -> list[str]:
        """The literal content of every string in the file (interpolations left out)."""
        found: list[str] = []
        stack = [self.root]
        while stack:
            node = stack.pop()
            if node.type == "string_content":
                found.append(_text(node))
            stack.extend(node.children)
        return found

    def object_entries(self, node: Node | None) -> dict[str, list[Node]]:
        """The properties an object expression can have, each with every value it may take: object literals,
        variables holding one, `union(...)` of such, and both branches of a `cond ? a : b`."""
        entries: dict[str, list[Node]] = {}
        if node is None:
            return entries
        if node.type == "parenthesized_expression":
            return self.object_entries(node.named_children[0])
        if node.type == "object":
            for name, value in properties(node).items():
                entries.setdefault(name, []).append(value)
        elif node.type == "identifier" and _text(node) in self.variables():
            entries = self.object_entries(self.variables()[_text(node)])
        elif node.type == "call_expression" and _text(node.child_by_field_name("function")) == "union":
            for argument in node.child_by_field_name("arguments").named_children:
                for name, values in self.object_entries(argument).items():
                    entries.setdefault(name, []).extend(values)
        elif node.type == "ternary_expression":
            for branch in ("consequence", "alternative"):
                for name, values in self.object_entries(node.child_by_field_name(branch)).items():
                    entries.setdefault(name, []).extend(values)
        else:
            raise ValueError(f"{self.path}: cannot list the properties of {_text(node)!r}")
        return entries

    def resolve(self, node: Node) -> Node:
        """A variable's value for an identifier naming one, else the node itself."""
        if node.type == "identifier" and _text(node) in self.variables():
            return self.resolve(self.variables()[_text(node)])
        return node


def _body(declaration: Node) -> Node | None:
    """The object of a resource or module declaration, looking inside `if (...)` and `[for ...: ...]`."""
    last = declaration.named_children[-1]
    if last.type == "object":
        return last
    if last.type == "if_statement":
        return last.named_children[-1]
    if last.type == "for_statement":
        return last.child_by_field_name("body")
    return None


def _text(node: Node | None) -> str:
    return "" if node is None or node.text is None else node.text.decode()


def text(node: Node | None) -> str:
    """Source text of a node, whitespace collapsed."""
    return " ".join(_text(node).split())


def properties(node: Node | None) -> dict[str, Node]:
    """Name -> value node of an object literal."""
    if node is None or node.type != "object":
        return {}
    found: dict[str, Node] = {}
    for entry in node.named_children:
        if entry.type != "object_property":
            continue
        key, value = entry.named_children[0], entry.named_children[-1]
        found[string_value(key) if key.type == "string" else _text(key)] = value
    return found


def prop(node: Node | None, *path: str) -> Node | None:
    """The value at a property path of nested object literals, or None."""
    for name in path:
        node = properties(node).get(name)
        if node is None:
            return None
    return node


def string_value(node: Node) -> str:
    """A string literal's value; ValueError for an interpolated string."""
    if node.type != "string" or any(child.type == "interpolation" for child in node.named_children):
        raise ValueError(f"not a plain string: {_text(node)!r}")
    return "".join(_text(child) for child in node.named_children if child.type == "string_content")


def literal(node: Node | None) -> Any:
    """Python value of a literal expression; `Expr(text)` for anything computed."""
    if node is None:
        return None
    if node.type == "object":
        return {name: literal(value) for name, value in properties(node).items()}
    if node.type == "array":
        return [literal(item) for item in node.named_children if item.type != "comment"]
    if node.type == "string":
        try:
            return string_value(node)
        except ValueError:
            return Expr(text(node))
    if node.type == "number":
        return int(_text(node))
    if node.type == "boolean":
        return _text(node) == "true"
    if node.type == "null":
        return None
    return Expr(text(node))
