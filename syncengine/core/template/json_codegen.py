"""Compiled JSON templates: a syntax tree turned into one generated Python function.

`JsonTemplate` parses a template (or takes a parsed one) and generates the source of a
function that builds the rendered objects directly, for one value or for a whole batch of
users at once (`render_items`). The generated source only ever contains names this module
invents: template text and constants are passed in by reference, so nothing a partner
writes can become code. This keeps a 10,000-item batch close to hand-written code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from syncengine.core.template.errors import RenderError
from syncengine.core.template.json_parser import (
    JsonArray,
    JsonLiteral,
    JsonNode,
    JsonObject,
    JsonText,
    JsonVariable,
    ParsedJsonTemplate,
    parse_json_template,
)
from syncengine.core.template.placeholders import Placeholder
from syncengine.core.template.values import dumps_json, value_as_text, value_of


def _is_static(node: JsonNode) -> bool:
    if isinstance(node, JsonLiteral):
        return True
    if isinstance(node, JsonArray):
        return all(_is_static(item) for item in node.items)
    if isinstance(node, JsonObject):
        return all(
            isinstance(key, JsonLiteral) and _is_static(value) for key, value in node.members
        )
    return False


def _static_value(node: JsonNode) -> Any:
    if isinstance(node, JsonLiteral):
        return node.value
    if isinstance(node, JsonArray):
        return [_static_value(item) for item in node.items]
    assert isinstance(node, JsonObject)
    static: dict[str, Any] = {}
    for key, value in node.members:
        # `_is_static` admits an object only when all of its keys are constants.
        assert isinstance(key, JsonLiteral)
        static[key.value] = _static_value(value)
    return static


def _distinct_keys(obj: dict[str, Any], expected: int) -> dict[str, Any]:
    """Refuse an object whose interpolated keys collided: that would drop a member."""
    if len(obj) != expected:
        raise RenderError("two keys of an object rendered to the same text")
    return obj


class _CodeGenerator:
    """Turns a JSON template tree into the source of one Python expression.

    Every name in the generated source is one this class invents (`k3`, `b0`, `u1`...):
    template text and constants are only ever referenced through the constants tuple, so
    nothing a partner writes can become code. Per-user variables are bound with `:=` at
    their first use in evaluation order, so each is looked up once per user. In text, runs
    of constants and batch-level values are folded into one string computed once per batch
    (`f0`), so an item only joins what really differs from user to user.
    """

    def __init__(self, per_user: frozenset[str]):
        self.per_user = per_user
        self.constants: list[Any] = []
        self.batch_names: list[str] = []
        self.folds: list[tuple[tuple[bool, str], ...]] = []
        self.user_names: list[str] = []
        self.bound_user_slots: set[int] = set()

    def constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"k{len(self.constants) - 1}"

    def slot(self, names: list[str], name: str) -> int:
        if name not in names:
            names.append(name)
        return names.index(name)

    def typed(self, placeholder: Placeholder) -> str:
        if placeholder.name in self.per_user:
            index = self.slot(self.user_names, placeholder.name)
            if index in self.bound_user_slots:
                return f"u{index}"
            self.bound_user_slots.add(index)
            return f"(u{index} := user.get(p{index}))"
        return f"b{self.slot(self.batch_names, placeholder.name)}"

    def user_text(self, placeholder: Placeholder) -> str:
        index = self.slot(self.user_names, placeholder.name)
        if index in self.bound_user_slots:
            return f"(u{index} if u{index}.__class__ is _str else _text(u{index}))"
        self.bound_user_slots.add(index)
        return (
            f"(u{index} if (u{index} := user.get(p{index})).__class__ is _str else _text(u{index}))"
        )

    def fold(self, run: list[tuple[bool, str]]) -> str:
        """A run of (is_variable, literal text or variable name) as one batch-level string."""
        if not any(is_variable for is_variable, _ in run):
            return self.constant("".join(text for _, text in run))
        for is_variable, name in run:
            if is_variable:
                self.slot(self.batch_names, name)
        self.folds.append(tuple(run))
        return f"f{len(self.folds) - 1}"

    def interpolation(self, node: JsonText) -> str:
        pieces: list[str] = []
        run: list[tuple[bool, str]] = []
        for part in node.parts:
            if isinstance(part, str):
                run.append((False, part))
            elif part.name in self.per_user:
                if run:
                    pieces.append(self.fold(run))
                    run = []
                pieces.append(self.user_text(part))
            else:
                run.append((True, part.name))
        if run:
            pieces.append(self.fold(run))
        if len(pieces) == 1:
            return pieces[0]
        # Every piece is already a str, so an f-string is a plain (and the fastest) join.
        return 'f"' + "".join("{" + piece + "}" for piece in pieces) + '"'

    def expression(self, node: JsonNode) -> str:
        if _is_static(node):
            value = _static_value(node)
            if value is None or value is True or value is False:
                return repr(value)
            return self.constant(value)
        if isinstance(node, JsonVariable):
            return self.typed(node.placeholder)
        if isinstance(node, JsonText):
            return self.interpolation(node)
        if isinstance(node, JsonArray):
            return "[" + ", ".join(self.expression(item) for item in node.items) + "]"
        assert isinstance(node, JsonObject)
        members = []
        for key, value in node.members:
            if isinstance(key, JsonLiteral):
                key_source = self.constant(key.value)
            else:
                key_source = self.interpolation(key)
            members.append(f"{key_source}: {self.expression(value)}")
        source = "{" + ", ".join(members) + "}"
        if any(isinstance(key, JsonText) for key, _ in node.members) and len(node.members) > 1:
            return f"_distinct_keys({source}, {len(node.members)})"
        return source


class JsonTemplate:
    """A compiled JSON template.

    `per_user` names the variables that take one value per user (mapping fields); a
    template with per-user variables is an item template and is rendered for a whole
    batch at once with `render_items`.
    """

    def __init__(self, parsed: ParsedJsonTemplate | str, per_user: Iterable[str] = ()):
        if isinstance(parsed, str):
            parsed = parse_json_template(parsed)
        self.parsed = parsed
        self.placeholders = parsed.placeholders
        generator = _CodeGenerator(frozenset(per_user))
        body = generator.expression(parsed.root)
        self.batch_names = tuple(generator.batch_names)
        self.user_names = tuple(generator.user_names)
        self._folds = tuple(generator.folds)
        self._function = self._build(generator, body)

    def _build(self, generator: _CodeGenerator, body: str) -> Callable[..., list[Any]]:
        batch_args = [f"b{index}" for index in range(len(self.batch_names))]
        batch_args += [f"f{index}" for index in range(len(self._folds))]
        constant_args = [f"k{index}=_K[{index}]" for index in range(len(generator.constants))]
        helpers = ["_text=_text", "_str=_str", "_distinct_keys=_distinct_keys"]
        user_args = [f"p{index}" for index in range(len(self.user_names))]
        parameters = ", ".join(["users", *user_args, *batch_args, *constant_args, *helpers])
        source = f"def render({parameters}):\n    return [{body} for user in users]\n"
        namespace: dict[str, Any] = {
            "_K": tuple(generator.constants),
            "_text": value_as_text,
            "_str": str,
            "_distinct_keys": _distinct_keys,
            "__builtins__": {},
        }
        exec(compile(source, "<json template>", "exec"), namespace)  # noqa: S102 - names only
        function: Callable[..., list[Any]] = namespace["render"]
        return function

    def _batch_arguments(self, values: Mapping[str, Any]) -> list[Any]:
        typed = [value_of(values, name) for name in self.batch_names]
        folded = [
            "".join(
                value_as_text(values[text]) if is_variable else text for is_variable, text in fold
            )
            for fold in self._folds
        ]
        return typed + folded

    def render(self, values: Mapping[str, Any]) -> Any:
        """The template's value (Python objects ready for `dumps_json`)."""
        if self.user_names:
            raise RenderError(
                "this template uses per-user variables: "
                + ", ".join(f"${name}" for name in self.user_names)
            )
        return self._function((None,), *self._batch_arguments(values))[0]

    def render_items(
        self,
        users: Sequence[Mapping[str, Any]],
        values: Mapping[str, Any],
        properties: Mapping[str, str | None],
    ) -> list[Any]:
        """One rendered item per user.

        `properties` maps each per-user variable to the user property it reads (from the
        end user's mapping); a user without that property gets null.
        """
        user_arguments = [properties.get(name) for name in self.user_names]
        return self._function(users, *user_arguments, *self._batch_arguments(values))

    def render_bytes(self, values: Mapping[str, Any]) -> bytes:
        """The rendered JSON document as UTF-8 bytes."""
        return dumps_json(self.render(values))
