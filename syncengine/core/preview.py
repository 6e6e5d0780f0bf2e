"""Live previews of every endpoint's request, and copy-paste curl commands.

The editor shows them while the partner types, so `preview_manifest` works on any
manifest: endpoints that can be rendered are, the others carry their errors. Secrets are
masked everywhere unless the caller asks to reveal them (the partner's own test values).

A version-2 manifest previews every request, in the order a sync sends them: create_list's
find request before create_list, an endpoint's lookup and create requests before the
endpoint's own. Partner ids the lookup would find are samples (`sample-partner-id-1`); a
request sent per user is shown once for each sample user it would send (`per_user`), and
a note names the sample users a request would skip (a missing or unusable value).
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from syncengine.core.compiler import CompiledIntegration, compile_manifest_partially, endpoint_of
from syncengine.core.diagnostic_codes import RENDER_ERROR
from syncengine.core.manifest.normalize import normalize_manifest
from syncengine.core.manifest.schema import (
    ADD_USERS,
    BATCH_ENDPOINTS,
    CREATE,
    ENDPOINT_ORDER,
    FIND,
    LOOKUP,
    MAIN,
    REMOVE_USERS,
)
from syncengine.core.manifest.variables import collect_auth_references, collect_declarations
from syncengine.core.masking import MASK, mask_headers, mask_text, mask_url
from syncengine.core.template.errors import RenderError
from syncengine.core.types import Diagnostic, PreparedRequest, RenderContext, User
from syncengine.core.users import generate_users

PREVIEW_USER_COUNT = 3
SAMPLE_COHORT_ID = "5g3k2rq"
# An apostrophe, an ampersand and an accent show what slugify_cohort_name does.
SAMPLE_COHORT_NAME = "Saturday's power users & café"
SAMPLE_LIST_ID = "sample-list-id-123"
SAMPLE_BATCH_ID = "preview-batch-0001"
SAMPLE_PARTNER_ID = "sample-partner-id-{}"
# The order a sync sends an endpoint's requests in.
ROLE_ORDER = (FIND, LOOKUP, CREATE, MAIN)
SAMPLE_MAPPED_PROPERTY = "user_id"
SAMPLE_SECRET_HASH_LENGTH = 12
CURL_CONTINUATION = " \\\n  "


@dataclass(frozen=True, slots=True)
class EndpointPreview:
    """One endpoint's rendered request (secrets masked unless revealed), or its errors."""

    endpoint: str
    method: str | None = None
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    curl: str | None = None
    errors: tuple[Diagnostic, ...] = ()
    note: str = ""
    # A request sent per user: the sample user this one is for, and on the request as a
    # whole (whose own fields are the first user's) every sample user's request in order.
    user: str | None = None
    per_user: tuple[EndpointPreview, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "ok": self.ok,
            "method": self.method,
            "url": self.url,
            "headers": [list(header) for header in self.headers],
            "body": self.body,
            "curl": self.curl,
            "errors": [error.as_dict() for error in self.errors],
            "note": self.note,
            "user": self.user,
            "per_user": [each.as_dict() for each in self.per_user],
        }


@dataclass(frozen=True, slots=True)
class ManifestPreview:
    """Every endpoint's preview plus the sample values and users they were rendered with.

    `values` are the Connect-modal values used, secrets masked unless revealed.
    """

    endpoints: tuple[EndpointPreview, ...]
    values: dict[str, Any] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)
    users: tuple[User, ...] = ()

    def endpoint(self, name: str) -> EndpointPreview:
        """The preview of endpoint `name`; raises KeyError if the manifest has none."""
        for preview in self.endpoints:
            if preview.endpoint == name:
                return preview
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoints": [preview.as_dict() for preview in self.endpoints],
            "values": self.values,
            "mapping": self.mapping,
            "users": [dict(user) for user in self.users],
        }


def _sample_secret(variable: str) -> str:
    # A malformed name may hold a lone surrogate; the sample must still come out.
    digest = hashlib.sha256(variable.encode("utf-8", "replace")).hexdigest()[
        :SAMPLE_SECRET_HASH_LENGTH
    ]
    return f"sample-{variable.replace('_', '-')}-{digest}"


def _secret_variables(manifest: Mapping[str, Any]) -> set[str]:
    secret = {d.variable for d in collect_declarations(manifest) if d.secret}
    return secret | {use.variable for use in collect_auth_references(manifest)}


def sample_values(doc: Mapping[str, Any], given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Connect-modal values for a preview: `given` ones where non-empty, else a sample.

    The sample is the field's default, else its first option (selects), else a readable
    text (`sample-region`), or for a secret a sample that looks like one.
    """
    given = given or {}
    secret = _secret_variables(doc)
    values: dict[str, Any] = {}
    fields = doc.get("custom_fields")
    for raw in fields if isinstance(fields, list) else []:
        if not isinstance(raw, dict) or not isinstance(raw.get("variable"), str):
            continue
        variable = raw["variable"]
        if given.get(variable) not in (None, ""):
            values[variable] = given[variable]
        elif raw.get("default") is not None:
            values[variable] = raw["default"]
        elif _first_option_value(raw.get("options")) is not None:
            values[variable] = _first_option_value(raw.get("options"))
        elif variable in secret:
            values[variable] = _sample_secret(variable)
        else:
            values[variable] = f"sample-{variable.replace('_', '-')}"
    return values


def _first_option_value(options: Any) -> Any:
    if isinstance(options, list) and options:
        first = options[0]
        if isinstance(first, dict):
            return first.get("value")
        return first
    return None


def sample_mapping(
    doc: Mapping[str, Any], given: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The user property each mapping field reads in a preview: given, else the first
    option, else `user_id`."""
    given = given or {}
    mapping: dict[str, str] = {}
    fields = doc.get("mapping_fields")
    for raw in fields if isinstance(fields, list) else []:
        if not isinstance(raw, dict) or not isinstance(raw.get("variable"), str):
            continue
        variable = raw["variable"]
        first = _first_option_value(raw.get("options"))
        if given.get(variable):
            mapping[variable] = given[variable]
        elif isinstance(first, str) and first:
            mapping[variable] = first
        else:
            mapping[variable] = SAMPLE_MAPPED_PROPERTY
    return mapping


def sample_context(
    doc: Mapping[str, Any],
    *,
    values: Mapping[str, Any] | None = None,
    mapping: Mapping[str, str] | None = None,
) -> RenderContext:
    """A render context with sample cohort, list id and field values."""
    return RenderContext(
        values=sample_values(doc, values),
        mapping=sample_mapping(doc, mapping),
        cohort_id=SAMPLE_COHORT_ID,
        cohort_name=SAMPLE_COHORT_NAME,
        list_id=SAMPLE_LIST_ID,
    )


def pretty_body(body: bytes | None) -> str | None:
    """The body indented for reading (it is JSON by construction), or None."""
    if body is None:
        return None
    text = body.decode("utf-8", "replace")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def curl_command(request: PreparedRequest, *, reveal: bool = False) -> str:
    """A copy-paste curl command for `request`, every argument shell-quoted.

    Secrets are masked unless `reveal` is true; the body is sent exactly as rendered.
    """
    url, headers, body = request.url, list(request.headers), request.body
    body_text = body.decode("utf-8", "replace") if body is not None else None
    if not reveal:
        url = mask_url(url, request.secrets)
        headers = mask_headers(headers, request.secrets)
        if body_text is not None:
            body_text = mask_text(body_text, request.secrets)
    arguments = [f"curl -X {shlex.quote(request.method)} {shlex.quote(url)}"]
    arguments += [f"-H {shlex.quote(f'{name}: {value}')}" for name, value in headers]
    if body_text is not None:
        arguments.append(f"--data-raw {shlex.quote(body_text)}")
    return CURL_CONTINUATION.join(arguments)


def _render_preview(
    request: PreparedRequest, *, reveal: bool, note: str = "", user: str | None = None
) -> EndpointPreview:
    headers = list(request.headers)
    url = request.url
    body = pretty_body(request.body)
    if not reveal:
        headers = mask_headers(headers, request.secrets)
        url = mask_url(url, request.secrets)
        body = mask_text(body, request.secrets) if body is not None else None
    return EndpointPreview(
        endpoint=request.endpoint,
        method=request.method,
        url=url,
        headers=tuple(headers),
        body=body,
        curl=curl_command(request, reveal=reveal),
        note=note,
        user=user,
    )


def preview_manifest(
    doc: Any,
    *,
    values: Mapping[str, Any] | None = None,
    mapping: Mapping[str, str] | None = None,
    users: Sequence[User] | None = None,
    reveal: bool = False,
    compiled: tuple[CompiledIntegration, dict[str, list[Diagnostic]]] | None = None,
) -> ManifestPreview:
    """Render every endpoint of `doc` with sample values and `PREVIEW_USER_COUNT` users.

    Works on any manifest: an endpoint with errors (or whose auth settings have errors)
    is returned with those errors instead of a request. `values` and `mapping` override
    the samples (the partner's test values); secrets are masked unless `reveal`.
    `compiled`: what `compile_manifest_partially` gave for `doc`, already normalised (a
    live preview compiles once); compiled here when not given.
    """
    if not isinstance(doc, dict):
        return ManifestPreview(endpoints=())
    if compiled is None:
        manifest = normalize_manifest(doc)
        integration, blocked = compile_manifest_partially(manifest)
    else:
        manifest = doc
        integration, blocked = compiled
    context = sample_context(manifest, values=values, mapping=mapping)
    preview_users = tuple(users) if users is not None else tuple(generate_users(PREVIEW_USER_COUNT))
    previews: list[EndpointPreview] = []
    request_names = list(integration.request_names) + list(blocked)
    for name in sorted(request_names, key=_request_rank):
        if name in blocked:
            previews.append(EndpointPreview(endpoint=name, errors=tuple(blocked[name])))
            continue
        previews.append(_preview_request(integration, name, context, preview_users, reveal))
    secret_variables = _secret_variables(manifest)
    shown_values = {
        name: MASK if name in secret_variables and not reveal else value
        for name, value in context.values.items()
    }
    return ManifestPreview(
        endpoints=tuple(previews),
        values=shown_values,
        mapping=dict(context.mapping),
        users=preview_users,
    )


def _preview_request(
    integration: CompiledIntegration,
    name: str,
    context: RenderContext,
    users: Sequence[User],
    reveal: bool,
) -> EndpointPreview:
    endpoint = endpoint_of(name)
    request = integration.request(name)
    notes: list[str] = []
    sent: Sequence[User] = ()
    if endpoint in BATCH_ENDPOINTS and request.role != FIND:
        try:
            skipped = integration.screen_users(name, users, context)
        except RenderError as error:
            diagnostic = Diagnostic("error", RENDER_ERROR, error.message, error.path)
            return EndpointPreview(endpoint=name, errors=(diagnostic,))
        sent = [user for index, user in enumerate(users) if index not in skipped]
        if skipped:
            reasons = "; ".join(
                f"{users[index].get('user_id', index)}: {problem.message}"
                for index, problem in skipped.items()
            )
            notes.append(
                f"{len(skipped)} of {len(users)} sample users would be skipped ({reasons})."
            )
    partner_ids = None
    if request.role == MAIN and integration.lookup_of(endpoint) is not None:
        partner_ids = [SAMPLE_PARTNER_ID.format(index + 1) for index in range(len(sent))]
        notes.append("Partner ids are samples of what the lookup would find.")
    batches: list[tuple[Sequence[User], list[str] | None]] = [(sent, partner_ids)]
    if request.per_user:
        count = len(sent)
        notes.insert(
            0,
            f"Sent once per user: {count} request{'s' if count != 1 else ''}, one per sample user.",
        )
        batches = [
            ([user], [partner_ids[index]] if partner_ids is not None else None)
            for index, user in enumerate(sent)
        ]
    previews: list[EndpointPreview] = []
    for batch, ids in batches:
        try:
            prepared = integration.build_request(
                name,
                context=context,
                users=batch,
                in_cohort=None if endpoint in {ADD_USERS, REMOVE_USERS} else True,
                batch_id=SAMPLE_BATCH_ID if endpoint in BATCH_ENDPOINTS else None,
                partner_ids=ids,
            )
        except RenderError as error:
            diagnostic = Diagnostic("error", RENDER_ERROR, error.message, error.path)
            return EndpointPreview(endpoint=name, errors=(diagnostic,))
        except ValueError as error:
            diagnostic = Diagnostic("error", RENDER_ERROR, str(error), f"endpoints.{endpoint}")
            return EndpointPreview(endpoint=name, errors=(diagnostic,))
        user = str(batch[0].get("user_id", "")) if request.per_user else None
        previews.append(_render_preview(prepared, reveal=reveal, user=user))
    note = " ".join(notes)
    if not request.per_user:
        return replace(previews[0], note=note)
    if not previews:
        # Every sample user is skipped: there is no request to show, only why.
        return EndpointPreview(endpoint=name, method=request.method, note=note)
    return replace(previews[0], note=note, per_user=tuple(previews))


def _request_rank(name: str) -> tuple[int, int]:
    endpoint, _, role = name.partition(".")
    rank = ENDPOINT_ORDER.index(endpoint) if endpoint in ENDPOINT_ORDER else len(ENDPOINT_ORDER)
    role = role or MAIN
    return rank, ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)
