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
"""

from __future__ import annotations

import base64
import contextlib
import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from syncengine.core.diagnostic_codes import CANNOT_COMPILE
from syncengine.core.manifest.checks import check_manifest
from syncengine.core.manifest.normalize import ManifestError, normalize_manifest
from syncengine.core.manifest.schema import (
    ADD_USERS,
    BATCH_ENDPOINTS,
    CREATE_LIST,
    DEFAULT_CONTENT_TYPE,
    ENDPOINT_ORDER,
    REMOVE_USERS,
)
from syncengine.core.manifest.variables import collect_declarations
from syncengine.core.slugify import slugify
from syncengine.core.template.errors import RenderError, TemplateSyntaxError
from syncengine.core.template.json_codegen import JsonTemplate
from syncengine.core.template.json_parser import parse_json_template
from syncengine.core.template.text import HeaderTemplate, UrlTemplate, check_header_value_text
from syncengine.core.template.values import fix_surrogates, value_as_text
from syncengine.core.types import Diagnostic, PreparedRequest, RenderContext, User

__all__ = [
    "CompiledIntegration",
    "ManifestError",
    "RenderError",
    "compile_manifest",
    "compile_manifest_partially",
]

# What `$in_cohort` is on the endpoints where the protocol fixes it.
IN_COHORT_BY_ENDPOINT = {ADD_USERS: True, REMOVE_USERS: False}


@dataclass(frozen=True, slots=True)
class _Field:
    variable: str
    path: str
    default: Any
    secret: bool
    required: bool
    is_mapping: bool


@dataclass(frozen=True, slots=True)
class _CompiledEndpoint:
    name: str
    method: str
    url: UrlTemplate
    headers: tuple[tuple[str, HeaderTemplate], ...]
    payload: JsonTemplate | None
    item_template: JsonTemplate | None
    partner_sets_content_type: bool
    variables: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Auth:
    method: str
    username_variable: str | None = None
    password_variable: str | None = None
    token_variable: str | None = None
    header_name: str | None = None
    value_template: HeaderTemplate | None = None

    def variables(self) -> frozenset[str]:
        names = {self.username_variable, self.password_variable, self.token_variable}
        if self.value_template is not None:
            names |= {p.name for p in self.value_template.placeholders}
        return frozenset(name for name in names if name)


class CompiledIntegration:
    """A manifest turned into ready-to-render templates.

    Build it with `compile_manifest`. It is immutable and safe to share between threads.
    """

    def __init__(
        self,
        manifest: dict[str, Any],
        endpoints: dict[str, _CompiledEndpoint],
        fields: tuple[_Field, ...],
        auth: _Auth,
    ):
        self.manifest = manifest
        self.integration_type: str = manifest.get("integration_type", "")
        self.endpoint_names: tuple[str, ...] = tuple(
            name for name in ENDPOINT_ORDER if name in endpoints
        )
        create_list = _endpoint_settings(manifest, CREATE_LIST)
        self.list_id_path: str | None = (
            create_list.get("list_id_path") if self.integration_type == "list" else None
        )
        self.delivery: dict[str, Any] = copy.deepcopy(manifest.get("delivery", {}))
        self.slugify_cohort_name: bool = manifest.get("slugify_cohort_name") is True
        self._endpoints = endpoints
        self._fields = fields
        self._auth = auth
        # Auth values are secrets whether or not the partner ticked "secret".
        self._secret_variables = tuple(
            field.variable
            for field in fields
            if not field.is_mapping and (field.secret or field.variable in auth.variables())
        )

    def batch_size(self, endpoint: str) -> int:
        """The most users one request of `endpoint` may carry."""
        self._endpoint(endpoint)
        if endpoint not in BATCH_ENDPOINTS:
            raise ValueError(f"{endpoint} does not send batches of users")
        size: int = _endpoint_settings(self.manifest, endpoint)["batch_size"]
        return size

    def error_classifications(self, endpoint: str) -> list[dict[str, Any]]:
        """The partner's classifications of error responses of `endpoint` (a copy)."""
        self._endpoint(endpoint)
        return copy.deepcopy(_endpoint_settings(self.manifest, endpoint).get("errors", []))

    def secret_values(self, context: RenderContext) -> tuple[str, ...]:
        """Every secret in clear, for masking: secret fields, auth values and the values
        derived from them (the Basic `user:password` and its base64, the auth header)."""
        values = self._field_values(context)
        secrets = [value_as_text(values[name]) for name in self._secret_variables]
        auth = self._auth
        if auth.method == "basic":
            credential = self._basic_credential(values)
            secrets += [credential, base64.b64encode(credential.encode()).decode()]
        elif auth.method == "api_key_header" and auth.value_template is not None:
            # If the header cannot be rendered it is never sent; its parts are masked above.
            with contextlib.suppress(RenderError):
                secrets.append(auth.value_template.render(values))
        return tuple(dict.fromkeys(fix_surrogates(s) for s in secrets if s))

    def build_request(
        self,
        endpoint: str,
        *,
        context: RenderContext,
        users: Sequence[User] = (),
        in_cohort: bool | None = None,
        batch_id: str | None = None,
    ) -> PreparedRequest:
        """Render one request of `endpoint` for a batch of `users`.

        `in_cohort` is fixed for add_users (true) and remove_users (false) and must be
        given for update_users when its item template uses `$in_cohort`. Raises
        `RenderError` (with the manifest path of the failing template) when a value
        cannot be rendered: a header value with CR/LF, a host value that is not a host
        name, a missing list id, and so on.
        """
        compiled = self._endpoint(endpoint)
        values = self._field_values(context)
        values.update(self._platform_values(compiled, context, in_cohort, batch_id))
        base = f"endpoints.{endpoint}"
        missing = next((name for name in sorted(compiled.variables) if name not in values), None)
        if missing is not None:
            raise RenderError(_missing_value_message(missing, endpoint), base)
        self._check_required_fields(compiled, values)
        try:
            url = compiled.url.render(values)
        except RenderError as error:
            raise error.at(f"{base}.url") from None
        body = self._render_body(compiled, context, users, values)
        headers = self._auth_headers(values)
        if body is not None and not compiled.partner_sets_content_type:
            headers.append(("Content-Type", DEFAULT_CONTENT_TYPE))
        for name, template in compiled.headers:
            try:
                headers.append((name, template.render(values)))
            except RenderError as error:
                raise error.at(f"{base}.headers.{name}") from None
        return PreparedRequest(
            endpoint=endpoint,
            method=compiled.method,
            url=url,
            headers=tuple(headers),
            body=body,
            batch_id=batch_id,
            item_count=len(users) if endpoint in BATCH_ENDPOINTS else 0,
            secrets=self.secret_values(context),
        )

    # -- internals

    def _endpoint(self, endpoint: str) -> _CompiledEndpoint:
        try:
            return self._endpoints[endpoint]
        except KeyError:
            known = ", ".join(self.endpoint_names) or "none"
            raise ValueError(f"no endpoint {endpoint!r} (this integration has {known})") from None

    def _field_values(self, context: RenderContext) -> dict[str, Any]:
        """Connect-modal values by variable; an unset field falls back to its default,
        then to empty text."""
        values: dict[str, Any] = {}
        for field in self._fields:
            if field.is_mapping:
                continue
            value = context.values.get(field.variable)
            if value is None:
                value = field.default if field.default is not None else ""
            values[field.variable] = value
        return values

    def _check_required_fields(
        self, compiled: _CompiledEndpoint, values: Mapping[str, Any]
    ) -> None:
        """A required field left empty would silently send an empty value: refuse it."""
        used = compiled.variables | self._auth.variables()
        for field in self._fields:
            if (
                field.required
                and not field.is_mapping
                and field.variable in used
                and values.get(field.variable) == ""
            ):
                raise RenderError(
                    f"${field.variable} is a required field but has no value", field.path
                )

    def _platform_values(
        self,
        compiled: _CompiledEndpoint,
        context: RenderContext,
        in_cohort: bool | None,
        batch_id: str | None,
    ) -> dict[str, Any]:
        name = compiled.name
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

    def _render_body(
        self,
        compiled: _CompiledEndpoint,
        context: RenderContext,
        users: Sequence[User],
        values: dict[str, Any],
    ) -> bytes | None:
        base = f"endpoints.{compiled.name}"
        if compiled.item_template is not None:
            properties = self._mapped_properties(compiled, context)
            try:
                values["items"] = compiled.item_template.render_items(users, values, properties)
            except RenderError as error:
                raise error.at(f"{base}.item_template") from None
        if compiled.payload is None:
            return None
        try:
            return compiled.payload.render_bytes(values)
        except RenderError as error:
            raise error.at(f"{base}.payload") from None

    def _mapped_properties(
        self, compiled: _CompiledEndpoint, context: RenderContext
    ) -> dict[str, str | None]:
        assert compiled.item_template is not None
        properties: dict[str, str | None] = {}
        required = {field.variable for field in self._fields if field.is_mapping and field.required}
        for variable in compiled.item_template.user_names:
            prop = context.mapping.get(variable)
            if not prop and variable in required:
                raise RenderError(
                    f"no user property is chosen for the mapping field ${variable}",
                    f"endpoints.{compiled.name}.item_template",
                )
            properties[variable] = prop or None
        return properties

    def _basic_credential(self, values: Mapping[str, Any]) -> str:
        auth = self._auth
        username = value_as_text(values.get(auth.username_variable or "", ""))
        password = (
            value_as_text(values.get(auth.password_variable, "")) if auth.password_variable else ""
        )
        return fix_surrogates(f"{username}:{password}")

    def _auth_headers(self, values: Mapping[str, Any]) -> list[tuple[str, str]]:
        auth = self._auth
        if auth.method == "basic":
            credential = base64.b64encode(self._basic_credential(values).encode()).decode()
            return [("Authorization", f"Basic {credential}")]
        if auth.method == "bearer":
            token = fix_surrogates(value_as_text(values.get(auth.token_variable or "", "")))
            problem = check_header_value_text(token)
            if problem:
                raise RenderError(f"the bearer token {problem}", "auth.token_variable")
            return [("Authorization", f"Bearer {token}")]
        if auth.method == "api_key_header" and auth.value_template and auth.header_name:
            try:
                return [(auth.header_name, auth.value_template.render(values))]
            except RenderError as error:
                raise error.at("auth.value_template") from None
        return []


def _missing_value_message(variable: str, endpoint: str) -> str:
    if variable == "list_id":
        return "$list_id has no value yet: create_list has not returned a list id"
    if variable == "batch_id":
        return f"{endpoint} needs a batch id for $batch_id"
    if variable == "in_cohort":
        return f"{endpoint} needs in_cohort (true or false) for $in_cohort"
    return f"${variable} has no value"


def _endpoint_settings(manifest: Mapping[str, Any], name: str) -> dict[str, Any]:
    endpoints = manifest.get("endpoints")
    settings = endpoints.get(name) if isinstance(endpoints, dict) else None
    return settings if isinstance(settings, dict) else {}


def _compile_fields(manifest: dict[str, Any]) -> tuple[_Field, ...]:
    fields: dict[str, _Field] = {}
    for declaration in collect_declarations(manifest):
        if declaration.variable in fields:
            continue  # a duplicate is a reported error; the first declaration wins
        section_name, index = declaration.path.split(".")
        raw = manifest[section_name][int(index)]
        fields[declaration.variable] = _Field(
            variable=declaration.variable,
            path=declaration.path,
            default=raw.get("default"),
            secret=declaration.secret,
            required=raw.get("required") is True,
            is_mapping=declaration.source == "mapping_field",
        )
    return tuple(fields.values())


def _compile_auth(manifest: dict[str, Any]) -> _Auth:
    auth = manifest.get("auth")
    method = auth.get("method") if isinstance(auth, dict) else None
    if not isinstance(auth, dict) or method in (None, "none"):
        return _Auth("none")
    if method == "basic":
        return _Auth(
            method,
            username_variable=auth.get("username_variable"),
            password_variable=auth.get("password_variable"),
        )
    if method == "bearer":
        return _Auth(method, token_variable=auth.get("token_variable"))
    if method == "api_key_header":
        return _Auth(
            method,
            header_name=auth.get("header_name"),
            value_template=HeaderTemplate(auth.get("value_template", "")),
        )
    raise ValueError(f"unknown auth method {method!r}")


def _compile_endpoint(
    name: str, settings: dict[str, Any], mapping_variables: frozenset[str]
) -> _CompiledEndpoint:
    url = UrlTemplate(settings["url"])
    headers = tuple(
        (header, HeaderTemplate(value)) for header, value in settings.get("headers", {}).items()
    )
    payload_text = settings.get("payload", "")
    payload = JsonTemplate(parse_json_template(payload_text)) if payload_text.strip() else None
    item_template = None
    if name in BATCH_ENDPOINTS:
        item_template = JsonTemplate(
            parse_json_template(settings["item_template"]), per_user=mapping_variables
        )
    variables = {p.name for p in url.placeholders}
    for _, template in headers:
        variables |= {p.name for p in template.placeholders}
    for json_template in (payload, item_template):
        if json_template is not None:
            variables |= set(json_template.batch_names)
    # `items` is produced by the item template, not given by the caller.
    variables.discard("items")
    return _CompiledEndpoint(
        name=name,
        method=settings["method"],
        url=url,
        headers=headers,
        payload=payload,
        item_template=item_template,
        partner_sets_content_type=any(h.lower() == "content-type" for h, _ in headers),
        variables=frozenset(variables),
    )


def _build(manifest: dict[str, Any], endpoint_names: Sequence[str]) -> CompiledIntegration:
    fields = _compile_fields(manifest)
    auth = _compile_auth(manifest)
    mapping_variables = frozenset(field.variable for field in fields if field.is_mapping)
    endpoints = {
        name: _compile_endpoint(name, _endpoint_settings(manifest, name), mapping_variables)
        for name in endpoint_names
    }
    return CompiledIntegration(manifest, endpoints, fields, auth)


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
    doc: Any,
) -> tuple[CompiledIntegration, dict[str, list[Diagnostic]]]:
    """Compile whatever endpoints of a possibly invalid manifest can be compiled.

    For live previews while the partner types: an endpoint is left out when it, or the
    auth settings, have errors; those endpoints come back with their error diagnostics.
    Never raises.
    """
    if not isinstance(doc, dict):
        empty: dict[str, Any] = {"endpoints": {}}
        return CompiledIntegration(empty, {}, (), _Auth("none")), {}
    manifest = normalize_manifest(doc)
    errors = [d for d in check_manifest(manifest) if d.is_error]
    endpoints = manifest.get("endpoints")
    present = [n for n in ENDPOINT_ORDER if isinstance(endpoints, dict) and n in endpoints]
    auth_errors = [d for d in errors if d.path == "auth" or d.path.startswith("auth.")]
    blocked: dict[str, list[Diagnostic]] = {}
    for name in present:
        prefix = f"endpoints.{name}"
        own = [d for d in errors if d.path == prefix or d.path.startswith(prefix + ".")]
        if own or auth_errors:
            blocked[name] = auth_errors + own
    compilable = [name for name in present if name not in blocked]
    try:
        return _build(manifest, compilable), blocked
    except (TemplateSyntaxError, ValueError, KeyError, TypeError) as problem:
        # check_manifest let something through that the compiler cannot use: report it
        # on every endpoint rather than fail the preview.
        diagnostic = Diagnostic("error", CANNOT_COMPILE, str(problem), "")
        for name in compilable:
            blocked[name] = [diagnostic]
        return CompiledIntegration(manifest, {}, (), _Auth("none")), blocked
