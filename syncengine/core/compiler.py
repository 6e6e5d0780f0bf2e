"""Compile a manifest once, then build each partner request fast.

`compile_manifest` refuses a manifest with errors (`ManifestError`); the result renders
requests for the sync protocol and the HTTP client:

    integration = compile_manifest(manifest)
    request = integration.build_request("add_users", context=context, users=batch,
                                        batch_id="b-42")

Rendering follows DESIGN §5: the URL with each value encoded for its part, the auth
header first, then the endpoint's headers (with `Content-Type: application/json` unless
the partner set one), and the body built as Python objects and serialised with one
`orjson.dumps`. Idempotency-Key, User-Agent and signatures are the HTTP client's job.

Every request of a version-2 manifest is built the same way and named after where it is:
`add_users` (the endpoint's own), `add_users.lookup`, `add_users.create` (the lookup's
create request) and `create_list.find`. `screen_users` says which users a request cannot
send (a missing or unusable value) before anything is rendered; `rendering` holds the
compiled templates of one request.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from syncengine.core.diagnostic_codes import CANNOT_COMPILE
from syncengine.core.kept import Kept
from syncengine.core.manifest.checks import check_manifest
from syncengine.core.manifest.normalize import ManifestError, normalize_manifest
from syncengine.core.manifest.schema import (
    ADD_USERS,
    BATCH,
    BATCH_ENDPOINTS,
    CREATE,
    CREATE_LIST,
    DEFAULT_BATCH_SIZE,
    DEFAULT_LIST_ID_PATH,
    DEFAULT_PARTNER_ID_PATH,
    ENDPOINT_ORDER,
    FIND,
    LOOKUP,
    MAIN,
    REMOVE_USERS,
)
from syncengine.core.manifest.variables import collect_auth_references, collect_declarations
from syncengine.core.rendering import (
    PARTNER_ID,
    PARTNER_ID_PROPERTY,
    Auth,
    FieldPolicy,
    ListFinding,
    RequestTemplate,
    ResultsReading,
)
from syncengine.core.slugify import slugify
from syncengine.core.template.errors import RenderError, TemplateSyntaxError
from syncengine.core.template.json_codegen import JsonTemplate
from syncengine.core.template.json_parser import parse_json_template
from syncengine.core.template.text import HeaderTemplate, TextTemplate, UrlTemplate
from syncengine.core.template.values import OMITTED, fix_surrogates, value_as_text
from syncengine.core.types import Diagnostic, PreparedRequest, RenderContext, SkippedUser, User

__all__ = [
    "CompiledIntegration",
    "ManifestError",
    "RenderError",
    "compile_manifest",
    "compile_manifest_partially",
    "request_name",
]

# What `$in_cohort` is on the endpoints where the protocol fixes it.
IN_COHORT_BY_ENDPOINT = {ADD_USERS: True, REMOVE_USERS: False}

# Requests compiled recently in this process, by everything compiling one reads: a live
# preview after an edit elsewhere (a help text, another endpoint) compiles only the
# requests the edit changed. Compiled requests are never changed once built.
COMPILED_REQUESTS_KEPT = 256
# An endpoint's other requests are compiled apart; their settings are no part of its own.
_OTHER_REQUESTS = frozenset({LOOKUP, CREATE, FIND})

_POLICY_FIELDS = dataclasses.fields(FieldPolicy)

_compiled_requests: Kept[bytes, RequestTemplate] = Kept(COMPILED_REQUESTS_KEPT)


def request_name(endpoint: str, role: str = MAIN) -> str:
    """The name of one of an endpoint's requests: `add_users`, `add_users.lookup`,
    `add_users.create`, `create_list.find`."""
    return endpoint if role == MAIN else f"{endpoint}.{role}"


def endpoint_of(name: str) -> str:
    """The endpoint a request name belongs to."""
    return name.split(".", 1)[0]


class CompiledIntegration:
    """A manifest turned into ready-to-render templates.

    Build it with `compile_manifest`. It is immutable and safe to share between threads.
    """

    def __init__(
        self,
        manifest: dict[str, Any],
        requests: dict[str, RequestTemplate],
        policies: tuple[FieldPolicy, ...],
        auth: Auth,
    ):
        self.manifest = manifest
        self.integration_type: str = manifest.get("integration_type", "")
        self.endpoint_names: tuple[str, ...] = tuple(
            name for name in ENDPOINT_ORDER if name in requests
        )
        self.request_names: tuple[str, ...] = tuple(requests)
        create_list = _endpoint_settings(manifest, CREATE_LIST)
        self.list_id_path: str | None = (
            create_list.get("list_id_path") if self.integration_type == "list" else None
        )
        self.delivery: dict[str, Any] = copy.deepcopy(manifest.get("delivery", {}))
        self.slugify_cohort_name: bool = manifest.get("slugify_cohort_name") is True
        self._requests = requests
        self._policies = policies
        self._policy_by_variable = {policy.variable: policy for policy in policies}
        self._auth = auth
        auth_variables = {use.variable for use in collect_auth_references(manifest)}
        # Auth values are secrets whether or not the partner ticked "secret".
        self._secret_variables = tuple(
            policy.variable
            for policy in policies
            if not policy.is_mapping and (policy.secret or policy.variable in auth_variables)
        )
        self._auths = [auth] + [
            request.auth for request in requests.values() if request.auth is not None
        ]

    # -- what the integration has --------------------------------------------------------

    def request(self, name: str) -> RequestTemplate:
        """The compiled request `name` (see `request_name`); ValueError if there is none."""
        try:
            return self._requests[name]
        except KeyError:
            if "." not in name:
                known = ", ".join(self.endpoint_names) or "none"
                raise ValueError(f"no endpoint {name!r} (this integration has {known})") from None
            known = ", ".join(self.request_names) or "none"
            raise ValueError(f"no request {name!r} (this integration has {known})") from None

    def lookup_of(self, endpoint: str) -> RequestTemplate | None:
        """The lookup `endpoint` sends before its own request, if any (version 2)."""
        return self._requests.get(request_name(endpoint, LOOKUP))

    def create_of(self, endpoint: str) -> RequestTemplate | None:
        """The request that creates users the lookup of `endpoint` did not find, if any."""
        return self._requests.get(request_name(endpoint, CREATE))

    def find_of_list(self) -> RequestTemplate | None:
        """create_list's find request, if any (version 2)."""
        return self._requests.get(request_name(CREATE_LIST, FIND))

    def is_per_user(self, name: str) -> bool:
        """Whether request `name` is sent once per user."""
        return self.request(name).per_user

    def batch_size(self, endpoint: str) -> int:
        """The most users one request (or one planned batch) of `endpoint` may carry."""
        request = self.request(endpoint)
        if endpoint_of(endpoint) not in BATCH_ENDPOINTS or request.role == FIND:
            raise ValueError(f"{endpoint} does not send batches of users")
        return request.batch_size

    def error_classifications(self, name: str) -> list[dict[str, Any]]:
        """The partner's classifications of error responses of request `name` (a copy)."""
        return [dict(error) for error in copy.deepcopy(self.request(name).errors)]

    def secret_values(self, context: RenderContext) -> tuple[str, ...]:
        """Every secret in clear, for masking: secret fields, auth values and the values
        derived from them (the Basic `user:password` and its base64, the auth header)."""
        values = self._field_values(context)
        secrets = [
            value_as_text(values[name])
            for name in self._secret_variables
            if values[name] is not OMITTED
        ]
        for auth in self._auths:
            secrets += auth.secrets(values)
        return tuple(dict.fromkeys(fix_surrogates(s) for s in secrets if s))

    # -- users ---------------------------------------------------------------------------

    def screen_users(
        self, name: str, users: Sequence[User], context: RenderContext
    ) -> dict[int, SkippedUser]:
        """The users (by position) request `name` cannot send, each with the reason: a
        value missing under `if_missing: skip` (or with nowhere to be left out), or one
        its placeholder's type refuses. Raises `RenderError` for a mapping choice missing
        from `context`, which concerns every user."""
        request = self.request(name)
        properties = self._mapped_properties(request, context)
        skipped: dict[int, SkippedUser] = {}
        if not request.may_skip_users(self._policy_by_variable):
            return skipped
        for index, user in enumerate(users):
            problem = request.screen(user, properties, self._policy_by_variable)
            if problem is not None:
                skipped[index] = problem
        return skipped

    def lookup_keys(
        self, endpoint: str, users: Sequence[User], context: RenderContext
    ) -> list[str]:
        """Each user's lookup key (what the lookup's results are matched by)."""
        lookup = self.lookup_of(endpoint)
        if lookup is None:
            raise ValueError(f"{endpoint} has no lookup")
        properties = self._mapped_properties(lookup, context)
        values = self._field_values(context)
        return [
            lookup.render_key(user, values, properties, self._policy_by_variable) for user in users
        ]

    def list_name_to_match(self, context: RenderContext) -> str | None:
        """The list name create_list's find request looks for, if it searches results."""
        find = self.find_of_list()
        if find is None or find.finding is None or find.finding.match is None:
            return None
        values = self._field_values(context)
        values.update(self._platform_values(find, context, None, None))
        try:
            return find.finding.match.render(values)
        except RenderError as error:
            raise error.at(f"{find.path}.match") from None

    # -- building requests ---------------------------------------------------------------

    def build_request(
        self,
        endpoint: str,
        *,
        context: RenderContext,
        users: Sequence[User] = (),
        in_cohort: bool | None = None,
        batch_id: str | None = None,
        partner_ids: Sequence[str | None] | None = None,
    ) -> PreparedRequest:
        """Render one request: `endpoint` names an endpoint or one of its requests
        (`add_users.lookup`, see `request_name`), for a batch of `users` (exactly one
        for a request sent per user).

        `in_cohort` is fixed for add_users (true) and remove_users (false) and must be
        given for update_users when its templates use `$in_cohort`. `partner_ids` holds
        each user's id from the lookup, for `$partner_id`. `batch_id` becomes
        `$batch_id` and the Idempotency-Key. Raises `RenderError` (with the manifest
        path of the failing template) when a value cannot be rendered: a header value
        with CR/LF, a host value that is not a host name, a missing list id, and so on.
        """
        request = self.request(endpoint)
        values = self._field_values(context)
        values.update(self._platform_values(request, context, in_cohort, batch_id))
        missing = next((name for name in sorted(request.variables) if name not in values), None)
        if missing is not None:
            raise RenderError(_missing_value_message(missing, request.name), request.path)
        self._check_required_fields(request, values)
        properties = self._mapped_properties(request, context)
        if partner_ids is not None:
            if len(partner_ids) != len(users):
                raise ValueError("give one partner id per user")
            users = [
                {**user, PARTNER_ID_PROPERTY: partner_id}
                for user, partner_id in zip(users, partner_ids, strict=True)
            ]
        auth = request.auth or self._inherited_auth(request)
        url, headers, body = request.render(
            values, users, properties, self._policy_by_variable, auth.headers
        )
        batch = endpoint_of(request.name) in BATCH_ENDPOINTS and request.role != FIND
        return PreparedRequest(
            endpoint=request.name,
            method=request.method,
            url=url,
            headers=tuple(headers),
            body=body,
            batch_id=batch_id,
            item_count=len(users) if batch else 0,
            secrets=self.secret_values(context),
        )

    # -- internals -----------------------------------------------------------------------

    def _inherited_auth(self, request: RequestTemplate) -> Auth:
        """A lookup, create or find request without its own auth uses its endpoint's."""
        if request.role in (LOOKUP, FIND):
            owner = self._requests.get(request.endpoint)
            if owner is not None and owner.auth is not None:
                return owner.auth
        if request.role == CREATE:
            for name in (request_name(request.endpoint, LOOKUP), request.endpoint):
                owner = self._requests.get(name)
                if owner is not None and owner.auth is not None:
                    return owner.auth
        return self._auth

    def _field_values(self, context: RenderContext) -> dict[str, Any]:
        """Connect-modal values by variable; an unset field falls back to its default,
        then to empty text (or, under `if_missing`, to null or nothing)."""
        values: dict[str, Any] = {}
        for policy in self._policies:
            if policy.is_mapping:
                continue
            values[policy.variable] = policy.connect_value(context.values.get(policy.variable))
        return values

    def _check_required_fields(self, request: RequestTemplate, values: Mapping[str, Any]) -> None:
        """A required field left empty would silently send an empty value: refuse it."""
        auth = request.auth or self._inherited_auth(request)
        used = request.variables | auth.variables()
        for policy in self._policies:
            if (
                policy.required
                and not policy.is_mapping
                and policy.variable in used
                and values.get(policy.variable) in ("", None, OMITTED)
            ):
                raise RenderError(
                    f"${policy.variable} is a required field but has no value", policy.path
                )

    def _platform_values(
        self,
        request: RequestTemplate,
        context: RenderContext,
        in_cohort: bool | None,
        batch_id: str | None,
    ) -> dict[str, Any]:
        name = request.endpoint
        cohort_name = context.cohort_name
        values: dict[str, Any] = {
            "cohort_id": context.cohort_id,
            "cohort_name": cohort_name,
            "amplitude_cohort_name": slugify(cohort_name)
            if self.slugify_cohort_name
            else cohort_name,
        }
        if name in {ADD_USERS, REMOVE_USERS} and context.list_id is not None:
            values["list_id"] = context.list_id
        if name in BATCH_ENDPOINTS:
            if batch_id is not None:
                values["batch_id"] = batch_id
            fixed = IN_COHORT_BY_ENDPOINT.get(name)
            if fixed is not None and in_cohort is not None and in_cohort != fixed:
                raise ValueError(f"$in_cohort is always {fixed} for {name}")
            chosen = fixed if fixed is not None else in_cohort
            if chosen is not None:
                values["in_cohort"] = bool(chosen)
        return values

    def _mapped_properties(
        self, request: RequestTemplate, context: RenderContext
    ) -> dict[str, str | None]:
        properties: dict[str, str | None] = {}
        for variable in request.user_variables:
            if variable == PARTNER_ID:
                properties[variable] = PARTNER_ID_PROPERTY
                continue
            prop = context.mapping.get(variable)
            policy = self._policy_by_variable.get(variable)
            if not prop and policy is not None and policy.required:
                where = "item_template" if request.item_template is not None else "url"
                raise RenderError(
                    f"no user property is chosen for the mapping field ${variable}",
                    f"{request.path}.{where}",
                )
            properties[variable] = prop or None
        return properties


def _missing_value_message(variable: str, name: str) -> str:
    if variable == "list_id":
        return "$list_id has no value yet: create_list has not returned a list id"
    if variable == "batch_id":
        return f"{name} needs a batch id for $batch_id"
    if variable == "in_cohort":
        return f"{name} needs in_cohort (true or false) for $in_cohort"
    return f"${variable} has no value"


def _endpoint_settings(manifest: Mapping[str, Any], name: str) -> dict[str, Any]:
    endpoints = manifest.get("endpoints")
    settings = endpoints.get(name) if isinstance(endpoints, dict) else None
    return settings if isinstance(settings, dict) else {}


def _compile_policies(manifest: dict[str, Any]) -> tuple[FieldPolicy, ...]:
    policies: dict[str, FieldPolicy] = {}
    for declaration in collect_declarations(manifest):
        if declaration.variable in policies:
            continue  # a duplicate is a reported error; the first declaration wins
        section_name, index = declaration.path.split(".")
        raw = manifest[section_name][int(index)]
        policies[declaration.variable] = FieldPolicy(
            variable=declaration.variable,
            path=declaration.path,
            is_mapping=declaration.source == "mapping_field",
            action=raw.get("if_missing"),
            default=raw.get("default"),
            required=raw.get("required") is True,
            secret=declaration.secret,
        )
    return tuple(policies.values())


def _request_key(
    endpoint: str,
    role: str,
    path: str,
    settings: dict[str, Any],
    policies: Mapping[str, FieldPolicy],
) -> bytes | None:
    """A digest of what compiling one request reads, or None for settings that are not
    plain JSON (those are compiled every time)."""
    own = {key: value for key, value in settings.items() if key not in _OTHER_REQUESTS}
    fields = [[getattr(policy, f.name) for f in _POLICY_FIELDS] for policy in policies.values()]
    try:
        text = json.dumps([endpoint, role, path, own, fields], sort_keys=True, ensure_ascii=True)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode("ascii")).digest()


def _compile_request(
    endpoint: str,
    role: str,
    path: str,
    settings: dict[str, Any],
    policies: Mapping[str, FieldPolicy],
) -> RequestTemplate:
    """One request, compiled, or the same request compiled a moment ago (see
    `COMPILED_REQUESTS_KEPT`)."""
    key = _request_key(endpoint, role, path, settings, policies)
    if key is None:
        return _compile_new_request(endpoint, role, path, settings, policies)
    return _compiled_requests.get_or_make(
        key, lambda: _compile_new_request(endpoint, role, path, settings, policies)
    )


def _compile_new_request(
    endpoint: str,
    role: str,
    path: str,
    settings: dict[str, Any],
    policies: Mapping[str, FieldPolicy],
) -> RequestTemplate:
    mapping_variables = {name for name, policy in policies.items() if policy.is_mapping}
    per_user_names = frozenset(mapping_variables | {PARTNER_ID})
    batch_endpoint = endpoint in BATCH_ENDPOINTS and role != FIND
    mode = settings.get("mode", BATCH) if batch_endpoint else BATCH
    missing = {
        name: policy.resolve
        for name, policy in policies.items()
        if policy.is_mapping and policy.action
    }
    omittable = {name for name, policy in policies.items() if policy.action == "omit"}
    url = UrlTemplate(settings["url"])
    headers = tuple(
        (header, HeaderTemplate(value)) for header, value in settings.get("headers", {}).items()
    )
    payload_text = settings.get("payload", "")
    payload = None
    if payload_text.strip():
        payload = JsonTemplate(
            parse_json_template(payload_text),
            per_user=per_user_names if mode != BATCH else (),
            missing=missing,
            omittable=omittable,
        )
    item_template = None
    item_text = settings.get("item_template", "") if batch_endpoint else ""
    if item_text.strip():
        item_template = JsonTemplate(
            parse_json_template(item_text),
            per_user=per_user_names,
            missing=missing,
            omittable=omittable,
        )
    key = TextTemplate(settings["key"]) if role == LOOKUP else None
    reading = None
    if role in (LOOKUP, CREATE):
        reading = ResultsReading(
            results_path=settings.get("results_path"),
            result_key_path=settings.get("result_key_path"),
            partner_id_path=settings.get("partner_id_path") or DEFAULT_PARTNER_ID_PATH,
            ignore_case=settings.get("ignore_case") is True,
        )
    finding = None
    if role == FIND:
        match = settings.get("match")
        finding = ListFinding(
            list_id_path=settings.get("list_id_path") or DEFAULT_PARTNER_ID_PATH,
            results_path=settings.get("results_path"),
            match_path=settings.get("match_path"),
            match=TextTemplate(match) if isinstance(match, str) else None,
            ignore_case=settings.get("ignore_case") is True,
        )
    elif role == MAIN and endpoint == CREATE_LIST:
        finding = ListFinding(list_id_path=settings.get("list_id_path") or DEFAULT_LIST_ID_PATH)
    auth = Auth.from_settings(settings["auth"], f"{path}.auth") if "auth" in settings else None
    request = RequestTemplate(
        name=request_name(endpoint, role),
        endpoint=endpoint,
        role=role,
        path=path,
        method=settings["method"],
        mode=mode,
        url=url,
        headers=headers,
        payload=payload,
        item_template=item_template,
        auth=auth,
        batch_size=settings.get("batch_size", DEFAULT_BATCH_SIZE),
        errors=tuple(settings.get("errors", [])),
        key=key,
        reading=reading,
        not_found=settings.get("not_found") if role == LOOKUP else None,
        finding=finding,
    )
    return request.finish(per_user_names)


def _endpoint_requests(
    name: str, settings: dict[str, Any], policies: Mapping[str, FieldPolicy]
) -> dict[str, RequestTemplate]:
    base = f"endpoints.{name}"
    requests = {name: _compile_request(name, MAIN, base, settings, policies)}
    lookup = settings.get("lookup")
    if name in BATCH_ENDPOINTS and isinstance(lookup, dict):
        requests[request_name(name, LOOKUP)] = _compile_request(
            name, LOOKUP, f"{base}.lookup", lookup, policies
        )
        create = lookup.get("create")
        if lookup.get("not_found") == "create" and isinstance(create, dict):
            requests[request_name(name, CREATE)] = _compile_request(
                name, CREATE, f"{base}.lookup.create", create, policies
            )
    find = settings.get("find")
    if name == CREATE_LIST and isinstance(find, dict):
        requests[request_name(name, FIND)] = _compile_request(
            name, FIND, f"{base}.find", find, policies
        )
    return requests


def _build(manifest: dict[str, Any], endpoint_names: Sequence[str]) -> CompiledIntegration:
    policies = _compile_policies(manifest)
    by_variable = {policy.variable: policy for policy in policies}
    auth = Auth.from_settings(manifest.get("auth"))
    requests: dict[str, RequestTemplate] = {}
    for name in endpoint_names:
        requests.update(_endpoint_requests(name, _endpoint_settings(manifest, name), by_variable))
    return CompiledIntegration(manifest, requests, policies, auth)


def compile_manifest(doc: dict[str, Any]) -> CompiledIntegration:
    """Compile a valid manifest; raises `ManifestError` listing its errors otherwise.

    Warnings (an unused variable, say) do not prevent compiling.
    """
    diagnostics = check_manifest(doc)
    errors = [diagnostic for diagnostic in diagnostics if diagnostic.is_error]
    if errors:
        raise ManifestError(errors)
    manifest = normalize_manifest(doc)
    return _build(manifest, [name for name in ENDPOINT_ORDER if name in manifest["endpoints"]])


def compile_manifest_partially(
    doc: Any, *, diagnostics: Sequence[Diagnostic] | None = None, normalized: bool = False
) -> tuple[CompiledIntegration, dict[str, list[Diagnostic]]]:
    """Compile whatever endpoints of a possibly invalid manifest can be compiled.

    For live previews while the partner types: an endpoint is left out when it, or the
    auth settings, have errors; those endpoints come back with their error diagnostics.
    `diagnostics`: what `check_manifest` already said of this manifest (so that a preview
    checks it once); checked here when not given. `normalized`: `doc` is
    `normalize_manifest`'s output already. Never raises.
    """
    if not isinstance(doc, dict):
        empty: dict[str, Any] = {"endpoints": {}}
        return CompiledIntegration(empty, {}, (), Auth("none")), {}
    manifest = doc if normalized else normalize_manifest(doc)
    if diagnostics is None:
        diagnostics = check_manifest(manifest, normalized=True)
    errors = [d for d in diagnostics if d.is_error]
    endpoints = manifest.get("endpoints")
    present = [n for n in ENDPOINT_ORDER if isinstance(endpoints, dict) and n in endpoints]
    auth_errors = [d for d in errors if d.path == "auth" or d.path.startswith("auth.")]
    global_errors = [d for d in errors if d.path.startswith(("mapping_fields.", "custom_fields."))]
    global_errors = [d for d in global_errors if d.path.endswith((".if_missing", ".default"))]
    blocked: dict[str, list[Diagnostic]] = {}
    for name in present:
        prefix = f"endpoints.{name}"
        own = [d for d in errors if d.path == prefix or d.path.startswith(prefix + ".")]
        if own or auth_errors or global_errors:
            blocked[name] = auth_errors + global_errors + own
    compilable = [name for name in present if name not in blocked]
    try:
        return _build(manifest, compilable), blocked
    except (TemplateSyntaxError, ValueError, KeyError, TypeError) as problem:
        # check_manifest let something through that the compiler cannot use: report it
        # on every endpoint rather than fail the preview.
        diagnostic = Diagnostic("error", CANNOT_COMPILE, str(problem), "")
        for name in compilable:
            blocked[name] = [diagnostic]
        return CompiledIntegration(manifest, {}, (), Auth("none")), blocked
