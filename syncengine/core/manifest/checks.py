"""The manifest checks (DESIGN §4, §5): structure, templates and variables.

`check_manifest` never raises: any JSON value gives a list of `Diagnostic`s, each with
the dotted path of the field (`endpoints.add_users.batch_size`, `custom_fields.1.variable`)
and, inside templates, the 1-based line and column. It normalises first (defaults filled
in), then checks structure, every template (§5 static checks) and every variable use.

This module is longer than most (about 650 lines) and stays one on purpose: it is one
checker class over one manifest whose rules share what they learn as they go (the
variables declared so far, the auth header's name, the integration type), and split
across modules that state would have to be passed around or mixed in. The generic shape
checks, which share nothing, live in `shapes`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from syncengine.core.diagnostic_codes import (
    AUTH_VARIABLE_MISSING,
    DUPLICATE_ERROR_CLASSIFICATION,
    DUPLICATE_HEADER,
    DUPLICATE_VARIABLE,
    INVALID_BATCH_SIZE,
    INVALID_HEADER_NAME,
    INVALID_HEADER_VALUE,
    INVALID_JSON,
    INVALID_LIST_ID_PATH,
    INVALID_METHOD,
    INVALID_OPTIONS,
    INVALID_SUB_CODE_PATH,
    INVALID_URL,
    INVALID_VALUE,
    INVALID_VARIABLE_NAME,
    ITEM_WITHOUT_USER_DATA,
    MISSING_ENDPOINT,
    MISSING_ITEM_TEMPLATE,
    MISSING_ITEMS,
    REQUIRED,
    RESERVED_HEADER,
    RESERVED_VARIABLE,
    TOO_MANY,
    UNEXPECTED_ENDPOINT,
    UNKNOWN_KEY,
    UNSUPPORTED_VERSION,
    UNUSED_VARIABLE,
)
from syncengine.core.jsonpath import PathSyntaxError, parse_path
from syncengine.core.manifest.normalize import normalize_manifest, not_an_object
from syncengine.core.manifest.schema import (
    AUTH,
    AUTH_KEYS,
    AUTH_METHODS,
    BATCH_ENDPOINTS,
    CUSTOM_FIELD_KEYS,
    CUSTOM_FIELD_TYPES,
    DELIVERY_KEYS,
    ENDPOINT_KEYS,
    ENDPOINT_METHODS,
    ENDPOINT_ORDER,
    ERROR_ACTIONS,
    ERROR_KEYS,
    INTEGRATION_TYPES,
    MANIFEST_VERSION,
    MAPPING_FIELD_KEYS,
    MAPPING_FIELD_TYPES,
    MAX_BATCH_SIZE,
    MAX_CONCURRENCY,
    MAX_DISPLAY_NAME_LENGTH,
    MAX_ERROR_CLASSIFICATIONS,
    MAX_ERROR_STATUS,
    MAX_FIELDS,
    MAX_HEADERS,
    MAX_HELP_TEXT_LENGTH,
    MAX_OPTIONS,
    MAX_REQUESTS_PER_SECOND,
    MAX_VARIABLE_NAME_LENGTH,
    MIN_BATCH_SIZE,
    MIN_CONCURRENCY,
    MIN_ERROR_STATUS,
    MIN_REQUESTS_PER_SECOND,
    OPTION_KEYS,
    PLATFORM_HEADERS,
    REQUIRED_ENDPOINTS,
    SELECT_TYPES,
    TOP_LEVEL_KEYS,
    URL_SAMPLE_VALUE,
    VARIABLE_NAME,
)
from syncengine.core.manifest.shapes import (
    ShapeChecker,
    is_hashable,
    is_int,
    is_one_of,
    join_path,
    shown_value,
)
from syncengine.core.manifest.variables import (
    PREDEFINED_VARIABLES,
    Declaration,
    collect_variable_uses,
    variable_use_problem,
)
from syncengine.core.nul import nul_diagnostic
from syncengine.core.template.errors import RenderError, TemplateSyntaxError
from syncengine.core.template.json_parser import parse_json_template
from syncengine.core.template.text import (
    HeaderTemplate,
    UrlTemplate,
    check_header_value_text,
    is_http_token,
)
from syncengine.core.types import Diagnostic


class _ManifestChecker(ShapeChecker):
    """Collects the diagnostics of one normalised manifest."""

    def __init__(self, doc: dict[str, Any]):
        super().__init__()
        self.doc = doc
        self.declared: dict[str, Declaration] = {}
        self.integration_type: str | None = None
        self.auth_header_name: str | None = None

    # -- the manifest

    def run(self) -> list[Diagnostic]:
        doc = self.doc
        self.unknown_keys(doc, TOP_LEVEL_KEYS, "")
        version = doc.get("manifest_version")
        if version != MANIFEST_VERSION or isinstance(version, bool):
            self.error(
                "manifest_version",
                UNSUPPORTED_VERSION,
                f"manifest_version must be {MANIFEST_VERSION}",
            )
        self.check_text(doc, "display_name", "", required=True, max_length=MAX_DISPLAY_NAME_LENGTH)
        logo = doc.get("logo_png_base64")
        if logo is not None:
            self.check_type(logo, str, "logo_png_base64")
        self.integration_type = self.check_choice(
            doc, "integration_type", INTEGRATION_TYPES, "", INVALID_VALUE
        )
        self.check_type(doc.get("slugify_cohort_name"), bool, "slugify_cohort_name")
        self.check_fields("custom_fields", CUSTOM_FIELD_KEYS, CUSTOM_FIELD_TYPES)
        self.check_fields("mapping_fields", MAPPING_FIELD_KEYS, MAPPING_FIELD_TYPES)
        self.check_auth(doc.get("auth"))
        self.check_endpoints(doc.get("endpoints"))
        self.check_delivery(doc.get("delivery"))
        self.check_variable_uses()
        return self.diagnostics

    # -- fields

    def check_fields(self, key: str, allowed: tuple[str, ...], types: tuple[str, ...]) -> None:
        fields = self.doc.get(key)
        if not self.check_type(fields, list, key):
            return
        if len(fields) > MAX_FIELDS:
            self.error(key, TOO_MANY, f"at most {MAX_FIELDS} fields")
            return
        for index, field in enumerate(fields):
            path = f"{key}.{index}"
            if not self.check_type(field, dict, path):
                continue
            self.unknown_keys(field, allowed, path)
            self.check_variable_name(field, path, key)
            self.check_text(
                field, "display_name", path, required=True, max_length=MAX_DISPLAY_NAME_LENGTH
            )
            field_type = self.check_choice(field, "type", types, path, INVALID_VALUE)
            self.check_type(field.get("required"), bool, join_path(path, "required"))
            self.check_text(
                field, "help_text", path, required=False, max_length=MAX_HELP_TEXT_LENGTH
            )
            if key == "custom_fields":
                self.check_custom_field_values(field, field_type, path)
            else:
                self.check_mapping_options(field, field_type, path)

    def check_variable_name(self, field: dict[str, Any], path: str, key: str) -> None:
        if not self.require(field, "variable", path):
            return
        variable_path = join_path(path, "variable")
        variable = field["variable"]
        if not self.check_type(variable, str, variable_path):
            return
        if not VARIABLE_NAME.fullmatch(variable) or len(variable) > MAX_VARIABLE_NAME_LENGTH:
            named = f"{variable!r} is not a valid variable name" if variable else "no variable name"
            self.error(
                variable_path,
                INVALID_VARIABLE_NAME,
                f"{named}: use lowercase letters, digits and _, not starting with a digit, "
                f"at most {MAX_VARIABLE_NAME_LENGTH} long",
            )
            return
        if variable in PREDEFINED_VARIABLES:
            self.error(
                variable_path,
                RESERVED_VARIABLE,
                f"${variable} is a pre-defined variable; choose another name",
            )
            return
        if variable in self.declared:
            self.error(
                variable_path,
                DUPLICATE_VARIABLE,
                f"${variable} is already declared at {self.declared[variable].path}",
            )
            return
        source: Literal["custom_field", "mapping_field"] = (
            "custom_field" if key == "custom_fields" else "mapping_field"
        )
        self.declared[variable] = Declaration(variable, source, path)

    def check_custom_field_values(
        self, field: dict[str, Any], field_type: str | None, path: str
    ) -> None:
        self.check_type(field.get("secret"), bool, join_path(path, "secret"))
        if field_type in SELECT_TYPES and field.get("secret") is True:
            self.error(join_path(path, "secret"), INVALID_VALUE, "only string fields can be secret")
        option_values: list[str] | None = None
        options_path = join_path(path, "options")
        if field_type in SELECT_TYPES:
            option_values = self.check_select_options(field.get("options"), options_path)
        elif "options" in field:
            self.error(
                options_path,
                INVALID_OPTIONS,
                "options only apply to single_select and button_group fields",
            )
        default = field.get("default")
        default_path = join_path(path, "default")
        if default is None:
            return
        if field_type == "string":
            self.check_type(default, str, default_path)
        elif option_values is not None and default not in option_values:
            self.error(default_path, INVALID_VALUE, "the default must be one of the options")

    def check_select_options(self, options: Any, path: str) -> list[str] | None:
        if not self.check_type(options, list, path):
            return None
        if not options:
            self.error(path, INVALID_OPTIONS, "a select field needs at least one option")
            return None
        if len(options) > MAX_OPTIONS:
            self.error(path, TOO_MANY, f"at most {MAX_OPTIONS} options")
            return None
        values: list[str] = []
        for index, option in enumerate(options):
            option_path = f"{path}.{index}"
            if not self.check_type(option, dict, option_path):
                continue
            self.unknown_keys(option, OPTION_KEYS, option_path)
            value = option.get("value")
            if not self.require(option, "value", option_path) or not self.check_type(
                value, str, join_path(option_path, "value")
            ):
                continue
            if not value:
                self.error(
                    join_path(option_path, "value"), REQUIRED, "an option value cannot be empty"
                )
            elif value in values:
                self.error(
                    join_path(option_path, "value"), INVALID_OPTIONS, f"duplicate option {value!r}"
                )
            values.append(value)
            self.check_text(
                option, "label", option_path, required=True, max_length=MAX_DISPLAY_NAME_LENGTH
            )
        return values

    def check_mapping_options(
        self, field: dict[str, Any], field_type: str | None, path: str
    ) -> None:
        options_path = join_path(path, "options")
        if field_type != "single_select":
            if "options" in field:
                self.error(
                    options_path, INVALID_OPTIONS, "options only apply to single_select fields"
                )
            return
        options = field.get("options")
        if not self.check_type(options, list, options_path):
            return
        if not options:
            self.error(
                options_path, INVALID_OPTIONS, "list the user properties the end user can pick"
            )
        if len(options) > MAX_OPTIONS:
            self.error(options_path, TOO_MANY, f"at most {MAX_OPTIONS} options")
            return
        seen: set[str] = set()
        for index, option in enumerate(options):
            option_path = f"{options_path}.{index}"
            if not self.check_type(option, str, option_path):
                continue
            if not option.strip():
                self.error(option_path, INVALID_OPTIONS, "a user property name cannot be empty")
            elif option in seen:
                self.error(option_path, INVALID_OPTIONS, f"duplicate option {option!r}")
            seen.add(option)

    # -- auth

    def check_auth(self, auth: Any) -> None:
        if not self.check_type(auth, dict, "auth"):
            return
        method = self.check_choice(auth, "method", AUTH_METHODS, "auth", INVALID_VALUE)
        if method is None:
            return
        self.unknown_keys(auth, AUTH_KEYS[method], "auth")
        if method == "api_key_header":
            self.check_auth_header(auth)
            return
        for key in AUTH_KEYS[method][1:]:
            path = f"auth.{key}"
            variable = auth.get(key)
            if key == "password_variable" and variable is None:
                continue  # Basic auth without a password
            if not self.check_type(variable, str, path):
                continue
            declaration = self.declared.get(variable)
            if declaration is None and key == "password_variable":
                # The password is optional: a partner who deleted the field sends none.
                self.warning(
                    path,
                    AUTH_VARIABLE_MISSING,
                    f"no custom field declares ${variable}, so Basic auth sends an empty "
                    "password (set password_variable to null to say so)",
                )
            elif declaration is None or declaration.source != "custom_field":
                self.error(
                    path,
                    AUTH_VARIABLE_MISSING,
                    f"{method} auth reads ${variable}, but no custom field declares it",
                )

    def check_auth_header(self, auth: dict[str, Any]) -> None:
        name = auth.get("header_name")
        if self.check_type(name, str, "auth.header_name"):
            self.check_header_name(name, "auth.header_name")
            self.auth_header_name = name.lower()
        template = auth.get("value_template")
        if self.check_type(template, str, "auth.value_template"):
            self.check_header_template(template, "auth.value_template")

    # -- endpoints

    def check_endpoints(self, endpoints: Any) -> None:
        if not self.check_type(endpoints, dict, "endpoints"):
            return
        for name in endpoints:
            if name not in ENDPOINT_ORDER:
                self.error(
                    join_path("endpoints", str(name)),
                    UNKNOWN_KEY,
                    f"unknown endpoint (expected: {', '.join(ENDPOINT_ORDER)})",
                )
        if self.integration_type is not None:
            required = REQUIRED_ENDPOINTS[self.integration_type]
            for name in ENDPOINT_ORDER:
                path = f"endpoints.{name}"
                if name in required and name not in endpoints:
                    self.error(
                        path,
                        MISSING_ENDPOINT,
                        f"a {self.integration_type}-based integration needs {name}",
                    )
                elif name not in required and name in endpoints:
                    self.error(
                        path,
                        UNEXPECTED_ENDPOINT,
                        f"a {self.integration_type}-based integration has no {name}",
                    )
        for name in ENDPOINT_ORDER:
            if name in endpoints:
                self.check_endpoint(name, endpoints[name])

    def check_endpoint(self, name: str, endpoint: Any) -> None:
        path = f"endpoints.{name}"
        if not self.check_type(endpoint, dict, path):
            return
        self.unknown_keys(endpoint, ENDPOINT_KEYS[name], path)
        method = endpoint.get("method")
        if method not in ENDPOINT_METHODS[name] or not isinstance(method, str):
            self.error(
                f"{path}.method",
                INVALID_METHOD,
                f"{name} must use {', '.join(ENDPOINT_METHODS[name])}, not {shown_value(method)}",
            )
        if self.require(endpoint, "url", path) and self.check_type(
            endpoint["url"], str, f"{path}.url"
        ):
            self.check_url(endpoint["url"], f"{path}.url")
        headers = endpoint.get("headers")
        if self.check_type(headers, dict, f"{path}.headers"):
            self.check_headers(headers, f"{path}.headers")
        self.check_payload(name, endpoint.get("payload"), f"{path}.payload")
        if name in BATCH_ENDPOINTS:
            self.check_item_template(endpoint.get("item_template"), f"{path}.item_template")
            self.check_batch_size(endpoint.get("batch_size"), f"{path}.batch_size")
        else:
            self.check_list_id_path(endpoint.get("list_id_path"), f"{path}.list_id_path")
        self.check_error_classifications(endpoint.get("errors"), f"{path}.errors")

    def check_url(self, url: str, path: str) -> None:
        if not url.strip():
            self.error(path, REQUIRED, "the URL is required")
            return
        try:
            template = UrlTemplate(url)
        except TemplateSyntaxError as error:
            self.template_error(path, error, INVALID_URL)
            return
        # A sample value that is valid in every part (host label, port, path, query) shows
        # whether the rest of the URL can ever be valid.
        sample = {placeholder.name: URL_SAMPLE_VALUE for placeholder in template.placeholders}
        try:
            template.render(sample)
        except RenderError as error:
            self.error(path, INVALID_URL, error.message)

    def check_header_name(self, name: str, path: str) -> None:
        if not is_http_token(name):
            self.error(
                path,
                INVALID_HEADER_NAME,
                f"{name!r} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)",
            )
        elif name.lower() in PLATFORM_HEADERS:
            self.error(path, RESERVED_HEADER, f"{name} is set by the platform")

    def check_header_template(self, template: str, path: str) -> None:
        try:
            HeaderTemplate(template)
        except TemplateSyntaxError as error:
            self.template_error(path, error, INVALID_HEADER_VALUE)
            return
        problem = check_header_value_text(template)
        if problem:
            offset = next(
                index
                for index, character in enumerate(template)
                if check_header_value_text(character)
            )
            self.error(path, INVALID_HEADER_VALUE, f"the header value {problem}", 1, offset + 1)

    def check_headers(self, headers: dict[Any, Any], path: str) -> None:
        if len(headers) > MAX_HEADERS:
            self.error(path, TOO_MANY, f"at most {MAX_HEADERS} headers")
            return
        seen: dict[str, str] = {}
        auth = self.doc.get("auth")
        auth_method = auth.get("method") if isinstance(auth, dict) else None
        for name, value in headers.items():
            header_path = join_path(path, str(name))
            if not isinstance(name, str):
                self.error(header_path, INVALID_HEADER_NAME, "a header name must be a string")
                continue
            self.check_header_name(name, header_path)
            lowered = name.lower()
            if lowered in seen:
                self.error(
                    header_path, DUPLICATE_HEADER, f"{name} is already set as {seen[lowered]}"
                )
            seen[lowered] = name
            if lowered == self.auth_header_name or (
                lowered == "authorization" and is_one_of(auth_method, {"basic", "bearer"})
            ):
                self.error(
                    header_path, RESERVED_HEADER, f"{name} is already set by the auth settings"
                )
            if self.check_type(value, str, header_path):
                self.check_header_template(value, header_path)

    def check_payload(self, name: str, payload: Any, path: str) -> None:
        if not self.check_type(payload, str, path):
            return
        if not payload.strip():
            if name in BATCH_ENDPOINTS:
                self.error(path, MISSING_ITEMS, "the payload is empty; it must contain $items")
            return
        try:
            parsed = parse_json_template(payload)
        except TemplateSyntaxError as error:
            self.template_error(path, error, INVALID_JSON)
            return
        if name in BATCH_ENDPOINTS and not any(
            placeholder.name == "items" for placeholder in parsed.placeholders
        ):
            self.error(
                path, MISSING_ITEMS, "a batch payload must contain $items (the batch's items)"
            )

    def check_item_template(self, template: Any, path: str) -> None:
        if not self.check_type(template, str, path):
            return
        if not template.strip():
            self.error(path, MISSING_ITEM_TEMPLATE, "the item template (one user) is required")
            return
        try:
            parsed = parse_json_template(template)
        except TemplateSyntaxError as error:
            self.template_error(path, error, INVALID_JSON)
            return
        mapping_variables = {
            declaration.variable
            for declaration in self.declared.values()
            if declaration.source == "mapping_field"
        }
        if not any(placeholder.name in mapping_variables for placeholder in parsed.placeholders):
            self.warning(
                path,
                ITEM_WITHOUT_USER_DATA,
                "the item template uses no mapping field, so every item will be the same",
            )

    def check_batch_size(self, batch_size: Any, path: str) -> None:
        if not is_int(batch_size) or not MIN_BATCH_SIZE <= batch_size <= MAX_BATCH_SIZE:
            self.error(
                path,
                INVALID_BATCH_SIZE,
                f"batch_size must be a whole number from {MIN_BATCH_SIZE} to {MAX_BATCH_SIZE}",
            )

    def check_list_id_path(self, list_id_path: Any, path: str) -> None:
        if not self.check_type(list_id_path, str, path):
            return
        try:
            parse_path(list_id_path)
        except PathSyntaxError as error:
            self.error(path, INVALID_LIST_ID_PATH, f"invalid path: {error}")

    def check_error_classifications(self, errors: Any, path: str) -> None:
        if not self.check_type(errors, list, path):
            return
        if len(errors) > MAX_ERROR_CLASSIFICATIONS:
            self.error(path, TOO_MANY, f"at most {MAX_ERROR_CLASSIFICATIONS} classifications")
            return
        seen: dict[tuple[Any, Any], int] = {}
        for index, error in enumerate(errors):
            error_path = f"{path}.{index}"
            if not self.check_type(error, dict, error_path):
                continue
            self.unknown_keys(error, ERROR_KEYS, error_path)
            status = error.get("status")
            if self.require(error, "status", error_path) and (
                not is_int(status) or not MIN_ERROR_STATUS <= status <= MAX_ERROR_STATUS
            ):
                self.error(
                    f"{error_path}.status",
                    INVALID_VALUE,
                    f"status must be an HTTP error status from {MIN_ERROR_STATUS} to "
                    f"{MAX_ERROR_STATUS}",
                )
            sub_code = error.get("sub_code")
            sub_code_path = error.get("sub_code_path")
            if sub_code is not None:
                self.check_type(sub_code, str, f"{error_path}.sub_code")
            if sub_code_path is not None and self.check_type(
                sub_code_path, str, f"{error_path}.sub_code_path"
            ):
                try:
                    parse_path(sub_code_path)
                except PathSyntaxError as problem:
                    self.error(
                        f"{error_path}.sub_code_path",
                        INVALID_SUB_CODE_PATH,
                        f"invalid path: {problem}",
                    )
            if sub_code is not None and sub_code_path is None:
                self.error(
                    f"{error_path}.sub_code_path",
                    REQUIRED,
                    "say where the sub-code is in the response body (e.g. error.code)",
                )
            elif sub_code is None and sub_code_path is not None:
                self.error(
                    f"{error_path}.sub_code",
                    REQUIRED,
                    "give the sub-code to match, or remove sub_code_path",
                )
            for key in ("reason", "message"):
                self.check_text(error, key, error_path, required=False, max_length=1_000)
            self.check_choice(error, "action", ERROR_ACTIONS, error_path, INVALID_VALUE)
            identity = (status, sub_code)
            if is_hashable(identity):
                if identity in seen:
                    self.error(
                        error_path,
                        DUPLICATE_ERROR_CLASSIFICATION,
                        f"status {status} with sub-code {sub_code!r} is already classified "
                        f"at {path}.{seen[identity]}",
                    )
                else:
                    seen[identity] = index

    # -- delivery

    def check_delivery(self, delivery: Any) -> None:
        if not self.check_type(delivery, dict, "delivery"):
            return
        self.unknown_keys(delivery, DELIVERY_KEYS, "delivery")
        concurrency = delivery.get("max_concurrency")
        if not is_int(concurrency) or not MIN_CONCURRENCY <= concurrency <= MAX_CONCURRENCY:
            self.error(
                "delivery.max_concurrency",
                INVALID_VALUE,
                f"max_concurrency must be a whole number from {MIN_CONCURRENCY} to "
                f"{MAX_CONCURRENCY}",
            )
        rate = delivery.get("requests_per_second")
        if rate is not None and (
            isinstance(rate, bool)
            or not isinstance(rate, int | float)
            or not math.isfinite(rate)
            or not MIN_REQUESTS_PER_SECOND <= rate <= MAX_REQUESTS_PER_SECOND
        ):
            self.error(
                "delivery.requests_per_second",
                INVALID_VALUE,
                f"requests_per_second must be null (no limit) or a number from "
                f"{MIN_REQUESTS_PER_SECOND} to {MAX_REQUESTS_PER_SECOND}",
            )
        self.check_type(delivery.get("sign_requests"), bool, "delivery.sign_requests")

    # -- variables

    def check_variable_uses(self) -> None:
        used: set[str] = set()
        candidates = [*self.declared, *PREDEFINED_VARIABLES]
        for use in collect_variable_uses(self.doc):
            used.add(use.variable)
            if use.part == AUTH and use.path != "auth.value_template":
                continue  # reported by check_auth, with an auth-specific message
            message = variable_use_problem(use, self.declared, candidates)
            if message:
                code, text = message
                self.error(use.path, code, text, use.line, use.column)
        for declaration in self.declared.values():
            if declaration.variable not in used:
                self.warning(
                    f"{declaration.path}.variable",
                    UNUSED_VARIABLE,
                    f"${declaration.variable} is declared but not used in any template",
                )


def check_manifest(doc: Any) -> list[Diagnostic]:
    """Every problem in a manifest: structure, templates (§5 static checks), variables.

    Never raises, whatever JSON value it is given. Errors block compiling and submitting;
    warnings (an unused variable, an item template without user data) do not.
    """
    if not isinstance(doc, dict):
        return [not_an_object()]
    # Reported on the document as written, so the path is the one its author sees.
    nul = nul_diagnostic(doc)
    diagnostics = _ManifestChecker(normalize_manifest(doc)).run()
    return [nul, *diagnostics] if nul else diagnostics


def manifest_errors(doc: Any) -> list[Diagnostic]:
    """Only the error diagnostics of `check_manifest`."""
    return [diagnostic for diagnostic in check_manifest(doc) if diagnostic.is_error]
