"""Rendering one request of a manifest: the compiled templates of one endpoint, lookup,
create or find request, the auth headers, and what each user's values become.

`compiler` builds a `RequestTemplate` for every request a manifest describes and hands it
the values of one batch; this module turns them into the URL, headers and body:

- batch mode: one request for the batch, `$items` the rendered item templates (in the
  payload, or joined into the URL);
- per-user mode (version 2): one request per user, whose values may stand anywhere in the
  URL, headers and payload, and `$item` is that user's rendered item template.

`FieldPolicy` is a field's `if_missing`: what a user's missing value becomes (or whether
the user is skipped), and what an empty Connect-modal value becomes. `screen` applies the
policies before anything is rendered, so that a user who cannot be sent is reported as
skipped with the reason, instead of failing the whole batch.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncengine.core.manifest.schema import (
    BATCH,
    DEFAULT_CONTENT_TYPE,
    PER_USER,
)
from syncengine.core.template.errors import RenderError
from syncengine.core.template.json_codegen import JsonTemplate
from syncengine.core.template.placeholders import Placeholder
from syncengine.core.template.text import (
    HeaderTemplate,
    TextTemplate,
    UrlTemplate,
    check_header_value_text,
)
from syncengine.core.template.values import (
    OMITTED,
    conversion_problem,
    describe_value,
    dumps_json,
    fix_surrogates,
    value_as_text,
)
from syncengine.core.types import SkippedUser, User

# The user property a resolved partner id travels in: user properties come from stored
# cohort members, which can never hold NUL, so no real property has this name.
PARTNER_ID_PROPERTY = "\x00partner_id"
PARTNER_ID = "partner_id"
# Modifiers whose conversion can fail on a user's value (string, json, base64 never do).
CHECKED_MODIFIERS = frozenset({"number", "boolean"})


def is_missing(value: Any) -> bool:
    """A value a policy treats as missing: absent, null or empty text."""
    return value is None or value == ""


@dataclass(frozen=True, slots=True)
class FieldPolicy:
    """A field's `if_missing` (None: version 1's behaviour) and what it needs."""

    variable: str
    path: str
    is_mapping: bool
    action: str | None = None
    default: Any = None
    required: bool = False
    secret: bool = False

    def resolve(self, value: Any) -> Any:
        """A user's value as sent: a missing one becomes null, the default or `OMITTED`."""
        if self.action is None or not is_missing(value):
            return value
        if self.action == "omit":
            return OMITTED
        if self.action == "default":
            return self.default
        return None

    def connect_value(self, value: Any) -> Any:
        """A Connect-modal value as sent: an empty one becomes the default (then empty
        text, as in version 1), null or `OMITTED`."""
        if self.action in (None, "default"):
            if value is None or (self.action == "default" and value == ""):
                return self.default if self.default is not None else ""
            return value
        if not is_missing(value):
            return value
        return OMITTED if self.action == "omit" else None


@dataclass(frozen=True, slots=True)
class Auth:
    """Auth settings: the integration's own, or an endpoint's override (version 2)."""

    method: str
    path: str = "auth"
    username_variable: str | None = None
    password_variable: str | None = None
    token_variable: str | None = None
    header_name: str | None = None
    value_template: HeaderTemplate | None = None

    @classmethod
    def from_settings(cls, auth: Any, path: str = "auth") -> Auth:
        method = auth.get("method") if isinstance(auth, dict) else None
        if not isinstance(auth, dict) or method in (None, "none"):
            return cls("none", path)
        if method == "basic":
            return cls(
                method,
                path,
                username_variable=auth.get("username_variable"),
                password_variable=auth.get("password_variable"),
            )
        if method == "bearer":
            return cls(method, path, token_variable=auth.get("token_variable"))
        if method == "api_key_header":
            return cls(
                method,
                path,
                header_name=auth.get("header_name"),
                value_template=HeaderTemplate(auth.get("value_template", "")),
            )
        raise ValueError(f"unknown auth method {method!r}")

    def variables(self) -> frozenset[str]:
        names = {self.username_variable, self.password_variable, self.token_variable}
        if self.value_template is not None:
            names |= {p.name for p in self.value_template.placeholders}
        return frozenset(name for name in names if name)

    def basic_credential(self, values: Mapping[str, Any]) -> str:
        username = value_as_text(values.get(self.username_variable or "", ""))
        password = (
            value_as_text(values.get(self.password_variable, "")) if self.password_variable else ""
        )
        return fix_surrogates(f"{username}:{password}")

    def secrets(self, values: Mapping[str, Any]) -> list[str]:
        """What this auth derives from secrets: the Basic credential and its base64, the
        header value of api_key_header (its parts are masked as fields already)."""
        if self.method == "basic":
            credential = self.basic_credential(values)
            return [credential, base64.b64encode(credential.encode()).decode()]
        if self.method == "api_key_header" and self.value_template is not None:
            # If the header cannot be rendered it is never sent.
            with contextlib.suppress(RenderError):
                return [self.value_template.render(values)]
        return []

    def headers(self, values: Mapping[str, Any]) -> list[tuple[str, str]]:
        if self.method == "basic":
            credential = base64.b64encode(self.basic_credential(values).encode()).decode()
            return [("Authorization", f"Basic {credential}")]
        if self.method == "bearer":
            token = fix_surrogates(value_as_text(values.get(self.token_variable or "", "")))
            problem = check_header_value_text(token)
            if problem:
                raise RenderError(f"the bearer token {problem}", f"{self.path}.token_variable")
            return [("Authorization", f"Bearer {token}")]
        if self.method == "api_key_header" and self.value_template and self.header_name:
            try:
                return [(self.header_name, self.value_template.render(values))]
            except RenderError as error:
                raise error.at(f"{self.path}.value_template") from None
        return []


@dataclass(frozen=True, slots=True)
class ResultsReading:
    """Where a lookup's or create's response has each user's partner id.

    `results_path` leads to the results: an array whose elements carry their key at
    `result_key_path`, or an object keyed by the users' keys; without it (per-user
    requests) the whole body is the one result. `partner_id_path` is the id inside a result.
    """

    results_path: str | None
    result_key_path: str | None
    partner_id_path: str
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class ListFinding:
    """create_list's find request: where the list is in the answer (version 2)."""

    list_id_path: str
    results_path: str | None = None
    match_path: str | None = None
    match: TextTemplate | None = None
    ignore_case: bool = False


@dataclass
class RequestTemplate:
    """One request of a manifest, compiled: an endpoint's own, its lookup, the lookup's
    create request, or create_list's find request (`role`)."""

    name: str
    endpoint: str
    role: str
    path: str
    method: str
    mode: str
    url: UrlTemplate
    headers: tuple[tuple[str, HeaderTemplate], ...]
    payload: JsonTemplate | None
    item_template: JsonTemplate | None
    auth: Auth | None
    batch_size: int
    errors: tuple[Mapping[str, Any], ...]
    key: TextTemplate | None = None
    reading: ResultsReading | None = None
    not_found: str | None = None
    finding: ListFinding | None = None
    # Computed by `finish`.
    variables: frozenset[str] = frozenset()
    user_variables: frozenset[str] = frozenset()
    partner_sets_content_type: bool = False
    _user_modifiers: dict[str, set[str]] = field(default_factory=dict)
    _skip_when_omitted: frozenset[str] = frozenset()

    @property
    def per_user(self) -> bool:
        return self.mode == PER_USER

    def finish(self, per_user_names: frozenset[str]) -> RequestTemplate:
        """Work out what the request reads: batch-level and per-user variables, the
        modifiers users' values must satisfy, the values whose omission skips a user."""
        placeholders: list[Placeholder] = list(self.url.placeholders)
        for _, template in self.headers:
            placeholders += template.placeholders
        for json_template in (self.payload, self.item_template):
            if json_template is not None:
                placeholders += json_template.placeholders
        if self.key is not None:
            placeholders += self.key.placeholders
        names = {placeholder.name for placeholder in placeholders}
        self.user_variables = frozenset(names & per_user_names)
        self.variables = frozenset(names - per_user_names - {"items", "item"})
        for placeholder in placeholders:
            modifier = placeholder.modifier
            if (
                placeholder.name in per_user_names
                and modifier is not None
                and modifier.kind in CHECKED_MODIFIERS
            ):
                self._user_modifiers.setdefault(placeholder.name, set()).add(modifier.kind)
        # Omitting a value needs a member to leave out: a user whose omitted value stands
        # in the URL, as the whole item, as the whole per-user payload or in the lookup
        # key has nothing to leave out, and is skipped instead.
        skipped = {p.name for p in self.url.placeholders}
        for whole in (self.item_template, self.payload if self.per_user else None):
            if whole is not None and whole.root_may_omit:
                skipped |= {p.name for p in whole.placeholders}
        if self.key is not None:
            skipped |= {p.name for p in self.key.placeholders}
        self._skip_when_omitted = frozenset(skipped & per_user_names)
        self.partner_sets_content_type = any(h.lower() == "content-type" for h, _ in self.headers)
        return self

    # -- users ---------------------------------------------------------------------------

    def screen(
        self,
        user: User,
        properties: Mapping[str, str | None],
        policies: Mapping[str, FieldPolicy],
    ) -> SkippedUser | None:
        """Why this user cannot be sent by this request (a missing or unusable value), or
        None when it can. Nothing is rendered yet."""
        for variable in sorted(self.user_variables - {PARTNER_ID}):
            prop = properties.get(variable)
            raw = user.get(prop) if prop else None
            policy = policies.get(variable)
            if is_missing(raw) and (
                variable in self._key_variables
                or (
                    policy is not None
                    and (
                        policy.action == "skip"
                        or (policy.action == "omit" and variable in self._skip_when_omitted)
                    )
                )
            ):
                return SkippedUser("missing_value", f"no value for {_shown(variable, prop)}")
            value = policy.resolve(raw) if policy is not None else raw
            for kind in sorted(self._user_modifiers.get(variable, ())):
                problem = conversion_problem(value, kind)
                if problem:
                    return SkippedUser("invalid_value", f"{_shown(variable, prop)}: {problem}")
        return None

    def may_skip_users(self, policies: Mapping[str, FieldPolicy]) -> bool:
        """Whether `screen` can skip anyone at all: a per-user value that is a lookup key,
        is typed, or whose field skips (or cannot leave out) a missing value. When not,
        a batch needs no screening."""
        for variable in self.user_variables - {PARTNER_ID}:
            if variable in self._key_variables or self._user_modifiers.get(variable):
                return True
            policy = policies.get(variable)
            if policy is not None and (
                policy.action == "skip"
                or (policy.action == "omit" and variable in self._skip_when_omitted)
            ):
                return True
        return False

    @property
    def _key_variables(self) -> frozenset[str]:
        if self.key is None:
            return frozenset()
        return frozenset(p.name for p in self.key.placeholders)

    def user_values(
        self,
        user: User,
        properties: Mapping[str, str | None],
        policies: Mapping[str, FieldPolicy],
    ) -> dict[str, Any]:
        """The user's per-user values (each through its field's policy), by variable."""
        values: dict[str, Any] = {}
        for variable in self.user_variables:
            prop = properties.get(variable)
            raw = user.get(prop) if prop else None
            policy = policies.get(variable)
            values[variable] = policy.resolve(raw) if policy is not None else raw
        return values

    def render_key(
        self,
        user: User,
        values: Mapping[str, Any],
        properties: Mapping[str, str | None],
        policies: Mapping[str, FieldPolicy],
    ) -> str:
        """The user's lookup key: what the lookup's results are matched by."""
        assert self.key is not None
        merged = {**values, **self.user_values(user, properties, policies)}
        try:
            return self.key.render(merged)
        except RenderError as error:
            raise error.at(f"{self.path}.key") from None

    # -- rendering -----------------------------------------------------------------------

    def render(
        self,
        values: dict[str, Any],
        users: Sequence[User],
        properties: Mapping[str, str | None],
        policies: Mapping[str, FieldPolicy],
        auth_headers: Callable[[Mapping[str, Any]], list[tuple[str, str]]],
    ) -> tuple[str, list[tuple[str, str]], bytes | None]:
        """(URL, headers, body) for `users` (exactly one in per-user mode)."""
        if self.per_user:
            if len(users) != 1:
                raise ValueError(f"{self.name} sends one request per user, not {len(users)}")
            values = {**values, **self.user_values(users[0], properties, policies)}
        elif self.mode != BATCH:
            raise ValueError(f"unknown mode {self.mode!r}")
        if self.item_template is not None:
            try:
                items = self.item_template.render_items(users, values, properties)
            except RenderError as error:
                raise error.at(f"{self.path}.item_template") from None
            if self.per_user:
                values["item"] = items[0]
            else:
                values["items"] = items
        try:
            url = self.url.render(values)
        except RenderError as error:
            raise error.at(f"{self.path}.url") from None
        body = self._body(values, users, properties)
        headers = auth_headers(values)
        if body is not None and not self.partner_sets_content_type:
            headers.append(("Content-Type", DEFAULT_CONTENT_TYPE))
        for name, template in self.headers:
            if template.omitted(values):
                continue
            try:
                headers.append((name, template.render(values)))
            except RenderError as error:
                raise error.at(f"{self.path}.headers.{name}") from None
        return url, headers, body

    def _body(
        self, values: dict[str, Any], users: Sequence[User], properties: Mapping[str, str | None]
    ) -> bytes | None:
        if self.payload is None:
            return None
        try:
            if self.per_user and self.payload.user_names:
                document = self.payload.render_items(users, values, properties)[0]
                if document is OMITTED:
                    raise RenderError("the whole payload was left out: its value is missing")
                return dumps_json(document)
            return self.payload.render_bytes(values)
        except RenderError as error:
            raise error.at(f"{self.path}.payload") from None


def describe_skip(user_key: str, skipped: SkippedUser) -> str:
    """One line about a skipped user, for logs and test output."""
    return f"{describe_value(user_key)}: {skipped.message}"


def _shown(variable: str, prop: str | None) -> str:
    """How a skipped user's note names the value: "$email (the user property mail)"."""
    return f"${variable} (the user property {prop})" if prop else f"${variable}"
