"""Compiled JSON templates: a syntax tree turned into one generated Python function.

`JsonTemplate` parses a template (or takes a parsed one) and generates the source of a
function that builds the rendered objects directly, for one value or for a whole batch of
users at once (`render_items`). The generated source only ever contains names this module
invents: template text and constants are passed in by reference, so nothing a partner
writes can become code. This keeps a 10,000-item batch close to hand-written code.

Version-2 templates add three things, each generated only where it is used, so that a
template without them compiles to exactly the code it always did:

- modifiers (`${n:number}`): the value is converted where it stands (`values.convert`);
- missing-value policies: a per-user variable's value passes through its field's policy
  (null, a default, or `OMITTED`) as it is read;
- omission: an object member or array element holding `OMITTED` is left out, and a text
  holding it is itself left out.
"""

from __future__ import annotations

import functools
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
from syncengine.core.template.values import (
    OMITTED,
    convert,
    dumps_json,
    fix_surrogates,
    text_of,
    value_as_text,
    value_of,
)

# A variable read per user (or once per batch), with the modifier it is written with.
_Slot = tuple[str, str, str]  # (name, modifier kind or "", separator)


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
    """Refuse an object whose interpolated keys collided: that would drop a member.

    Keys are compared as they will be sent: lone surrogates become U+FFFD on the way out,
    so "\\ud800" and "\\ufffd" are the same key."""
    if len(obj) != expected or len({fix_surrogates(key) for key in obj}) != expected:
        raise RenderError("two keys of an object rendered to the same text")
    return obj


def _members(*pairs: tuple[Any, Any]) -> dict[Any, Any]:
    """An object without the members whose key or value was left out."""
    kept = [(key, value) for key, value in pairs if key is not OMITTED and value is not OMITTED]
    obj = dict(kept)
    if len(obj) != len(kept) or len({fix_surrogates(key) for key in obj}) != len(kept):
        raise RenderError("two keys of an object rendered to the same text")
    return obj


def _elements(*items: Any) -> list[Any]:
    """An array without the elements that were left out."""
    return [item for item in items if item is not OMITTED]


def _interpolate(*pieces: Any) -> Any:
    """Text from its pieces, or `OMITTED` when one of them was left out."""
    if any(piece is OMITTED for piece in pieces):
        return OMITTED
    return "".join(pieces)


def _unless_omitted(value: Any, write: Callable[[Any], Any]) -> Any:
    return value if value is OMITTED else write(value)


def _slot_of(placeholder: Placeholder) -> _Slot:
    modifier = placeholder.modifier
    if modifier is None:
        return (placeholder.name, "", "")
    return (placeholder.name, modifier.kind, modifier.separator)


def _typed_batch_value(values: Mapping[str, Any], slot: _Slot) -> Any:
    name, kind, separator = slot
    value = value_of(values, name)
    return convert(value, kind, separator) if kind else value


def _text_batch_value(values: Mapping[str, Any], slot: _Slot) -> Any:
    name, kind, separator = slot
    value = values[name]
    if value is OMITTED:
        return OMITTED
    return text_of(value, kind, separator) if kind else value_as_text(value)


class _CodeGenerator:
    """Turns a JSON template tree into the source of one Python expression.

    Every name in the generated source is one this class invents (`k3`, `b0`, `u1`...):
    template text and constants are only ever referenced through the constants tuple, so
    nothing a partner writes can become code. Per-user variables are bound with `:=` at
    their first use in evaluation order, so each is looked up once per user. In text, runs
    of constants and batch-level values are folded into one string computed once per batch
    (`f0`), so an item only joins what really differs from user to user.
    """

    def __init__(
        self,
        per_user: frozenset[str],
        missing: Mapping[str, Callable[[Any], Any]],
        omittable: frozenset[str],
    ):
        self.per_user = per_user
        self.missing = missing
        self.omittable = omittable
        self.constants: list[Any] = []
        self.batch_slots: list[_Slot] = []
        self.folds: list[tuple[tuple[bool, str | _Slot], ...]] = []
        self.user_names: list[str] = []
        self.bound_user_slots: set[int] = set()
        self.policies: list[Callable[[Any], Any]] = []

    def constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"k{len(self.constants) - 1}"

    def slot(self, names: list[Any], name: Any) -> int:
        if name not in names:
            names.append(name)
        return names.index(name)

    def user_value(self, name: str) -> str:
        """The per-user value of `name`, read (through its missing policy) at first use."""
        index = self.slot(self.user_names, name)
        if index in self.bound_user_slots:
            return f"u{index}"
        self.bound_user_slots.add(index)
        policy = self.missing.get(name)
        if policy is None:
            return f"(u{index} := user.get(p{index}))"
        return f"(u{index} := {self.constant(policy)}(user.get(p{index})))"

    def typed(self, placeholder: Placeholder) -> str:
        modifier = placeholder.modifier
        if placeholder.name in self.per_user:
            value = self.user_value(placeholder.name)
            if modifier is None:
                return value
            writer = functools.partial(convert, kind=modifier.kind, separator=modifier.separator)
            return f"{self.constant(writer)}({value})"
        return f"b{self.slot(self.batch_slots, _slot_of(placeholder))}"

    def user_text(self, placeholder: Placeholder) -> str:
        value = self.user_value(placeholder.name)
        index = self.user_names.index(placeholder.name)
        modifier = placeholder.modifier
        if modifier is not None:
            writer = functools.partial(text_of, kind=modifier.kind, separator=modifier.separator)
            if placeholder.name in self.omittable:
                return f"_unless_omitted({value}, {self.constant(writer)})"
            return f"{self.constant(writer)}({value})"
        if placeholder.name in self.omittable:
            return f"_unless_omitted({value}, _text_or_str)"
        if value == f"u{index}":
            return f"(u{index} if u{index}.__class__ is _str else _text(u{index}))"
        return f"(u{index} if {value}.__class__ is _str else _text(u{index}))"

    def fold(self, run: list[tuple[bool, str | _Slot]]) -> str:
        """A run of (is_variable, literal text or slot) as one batch-level string."""
        if not any(is_variable for is_variable, _ in run):
            return self.constant("".join(str(text) for _, text in run))
        for is_variable, slot in run:
            if is_variable:
                self.slot(self.batch_slots, slot)
        self.folds.append(tuple(run))
        return f"f{len(self.folds) - 1}"

    def may_omit(self, node: JsonNode) -> bool:
        """Whether `node` itself can render to `OMITTED` (containers never do)."""
        if isinstance(node, JsonVariable):
            return node.placeholder.name in self.omittable
        if isinstance(node, JsonText):
            return any(
                isinstance(part, Placeholder) and part.name in self.omittable for part in node.parts
            )
        return False

    def interpolation(self, node: JsonText) -> str:
        pieces: list[str] = []
        run: list[tuple[bool, str | _Slot]] = []
        for part in node.parts:
            if isinstance(part, str):
                run.append((False, part))
            elif part.name in self.per_user:
                if run:
                    pieces.append(self.fold(run))
                    run = []
                pieces.append(self.user_text(part))
            else:
                run.append((True, _slot_of(part)))
        if run:
            pieces.append(self.fold(run))
        if self.may_omit(node):
            return "_interpolate(" + ", ".join(pieces) + ")"
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
            items = [self.expression(item) for item in node.items]
            if any(self.may_omit(item) for item in node.items):
                return "_elements(" + ", ".join(items) + ")"
            return "[" + ", ".join(items) + "]"
        assert isinstance(node, JsonObject)
        members = []
        for key, value in node.members:
            if isinstance(key, JsonLiteral):
                key_source = self.constant(key.value)
            else:
                key_source = self.interpolation(key)
            members.append((key_source, self.expression(value)))
        if any(self.may_omit(key) or self.may_omit(value) for key, value in node.members):
            return "_members(" + ", ".join(f"({k}, {v})" for k, v in members) + ")"
        source = "{" + ", ".join(f"{k}: {v}" for k, v in members) + "}"
        if any(isinstance(key, JsonText) for key, _ in node.members) and len(node.members) > 1:
            return f"_distinct_keys({source}, {len(node.members)})"
        return source


class JsonTemplate:
    """A compiled JSON template.

    `per_user` names the variables that take one value per user (mapping fields); a
    template with per-user variables is an item template and is rendered for a whole
    batch at once with `render_items`. `missing` maps a per-user variable to the policy
    that turns a missing value into what is sent (its field's `if_missing`); `omittable`
    names the variables whose value may be `OMITTED`, so that what holds them is left out.
    """

    def __init__(
        self,
        parsed: ParsedJsonTemplate | str,
        per_user: Iterable[str] = (),
        *,
        missing: Mapping[str, Callable[[Any], Any]] | None = None,
        omittable: Iterable[str] = (),
    ):
        if isinstance(parsed, str):
            parsed = parse_json_template(parsed)
        self.parsed = parsed
        self.placeholders = parsed.placeholders
        generator = _CodeGenerator(frozenset(per_user), missing or {}, frozenset(omittable))
        body = generator.expression(parsed.root)
        self._batch_slots = tuple(generator.batch_slots)
        self.batch_names = tuple(dict.fromkeys(name for name, _, _ in self._batch_slots))
        self.user_names = tuple(generator.user_names)
        self.root_may_omit = generator.may_omit(parsed.root)
        self._folds = tuple(generator.folds)
        self._function = self._build(generator, body)

    def _build(self, generator: _CodeGenerator, body: str) -> Callable[..., list[Any]]:
        batch_args = [f"b{index}" for index in range(len(self._batch_slots))]
        batch_args += [f"f{index}" for index in range(len(self._folds))]
        constant_args = [f"k{index}=_K[{index}]" for index in range(len(generator.constants))]
        helpers = [
            "_text=_text",
            "_str=_str",
            "_distinct_keys=_distinct_keys",
            "_members=_members",
            "_elements=_elements",
            "_interpolate=_interpolate",
            "_unless_omitted=_unless_omitted",
            "_text_or_str=_text_or_str",
        ]
        user_args = [f"p{index}" for index in range(len(self.user_names))]
        parameters = ", ".join(["users", *user_args, *batch_args, *constant_args, *helpers])
        source = f"def render({parameters}):\n    return [{body} for user in users]\n"
        namespace: dict[str, Any] = {
            "_K": tuple(generator.constants),
            "_text": value_as_text,
            "_str": str,
            "_distinct_keys": _distinct_keys,
            "_members": _members,
            "_elements": _elements,
            "_interpolate": _interpolate,
            "_unless_omitted": _unless_omitted,
            "_text_or_str": value_as_text,
            "__builtins__": {},
        }
        exec(compile(source, "<json template>", "exec"), namespace)  # noqa: S102 - names only
        function: Callable[..., list[Any]] = namespace["render"]
        return function

    def _batch_arguments(self, values: Mapping[str, Any]) -> list[Any]:
        typed = [_typed_batch_value(values, slot) for slot in self._batch_slots]
        folded = [self._fold(values, fold) for fold in self._folds]
        return typed + folded

    @staticmethod
    def _fold(values: Mapping[str, Any], fold: tuple[tuple[bool, str | _Slot], ...]) -> Any:
        pieces = [
            _text_batch_value(values, slot) if is_variable and isinstance(slot, tuple) else slot
            for is_variable, slot in fold
        ]
        return _interpolate(*pieces)

    def render(self, values: Mapping[str, Any]) -> Any:
        """The template's value (Python objects ready for `dumps_json`).

        Raises `RenderError` when the whole template was left out (its only value missing
        under `if_missing: omit`): there is nothing to send then.
        """
        if self.user_names:
            raise RenderError(
                "this template uses per-user variables: "
                + ", ".join(f"${name}" for name in self.user_names)
            )
        value = self._function((None,), *self._batch_arguments(values))[0]
        if value is OMITTED:
            raise RenderError("the whole template was left out: its value is missing")
        return value

    def render_items(
        self,
        users: Sequence[Mapping[str, Any]],
        values: Mapping[str, Any],
        properties: Mapping[str, str | None],
    ) -> list[Any]:
        """One rendered item per user.

        `properties` maps each per-user variable to the user property it reads (from the
        end user's mapping); a user without that property gets null, unless the
        variable's missing policy says otherwise. An item may be `OMITTED` when the whole
        template was left out (`root_may_omit`); callers skip those users first.
        """
        user_arguments = [properties.get(name) for name in self.user_names]
        return self._function(users, *user_arguments, *self._batch_arguments(values))

    def render_bytes(self, values: Mapping[str, Any]) -> bytes:
        """The rendered JSON document as UTF-8 bytes."""
        return dumps_json(self.render(values))
