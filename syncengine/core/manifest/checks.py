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
    DUPLICATE_VARIABLE,
    INVALID_OPTIONS,
    INVALID_VALUE,
    INVALID_VARIABLE_NAME,
    LOOKUP_UNUSED,
    MISSING_ENDPOINT,
    REQUIRED,
    RESERVED_VARIABLE,
    TOO_MANY,
    UNEXPECTED_ENDPOINT,
    UNKNOWN_KEY,
    UNSUPPORTED_VERSION,
    UNUSED_VARIABLE,
)
from syncengine.core.json_depth import depth_diagnostic
from syncengine.core.manifest.normalize import normalize_manifest, not_an_object
from syncengine.core.manifest.requests import RequestChecker
from syncengine.core.manifest.schema import (
    AUTH,
    BATCH_ENDPOINTS,
    CREATE_LIST,
    CUSTOM_FIELD_KEYS,
    CUSTOM_FIELD_TYPES,
    CUSTOM_MISSING_ACTIONS,
    DELIVERY_KEYS,
    ENDPOINT_ORDER,
    FIND,
    INTEGRATION_TYPES,
    LOOKUP,
    MAIN,
    MANIFEST_VERSION,
    MANIFEST_VERSIONS,
    MAPPING_FIELD_KEYS,
    MAPPING_FIELD_TYPES,
    MAPPING_MISSING_ACTIONS,
    MAX_CONCURRENCY,
    MAX_DISPLAY_NAME_LENGTH,
    MAX_FIELDS,
    MAX_HELP_TEXT_LENGTH,
    MAX_OPTIONS,
    MAX_REQUESTS_PER_SECOND,
    MAX_VARIABLE_NAME_LENGTH,
    MIN_CONCURRENCY,
    MIN_REQUESTS_PER_SECOND,
    OPTION_KEYS,
    REQUIRED_ENDPOINTS,
    SELECT_TYPES,
    TOP_LEVEL_KEYS,
    VARIABLE_NAME,
    VERSION_2,
)
from syncengine.core.manifest.shapes import ShapeChecker, is_int, join_path
from syncengine.core.manifest.variables import (
    PREDEFINED_VARIABLES,
    VERSION_1_PREDEFINED,
    Declaration,
    collect_variable_uses,
    variable_use_problem,
)
from syncengine.core.nul import nul_diagnostic
from syncengine.core.types import Diagnostic


class _ManifestChecker(ShapeChecker):
    """Collects the diagnostics of one normalised manifest."""

    def __init__(self, doc: dict[str, Any]):
        super().__init__()
        self.doc = doc
        self.declared: dict[str, Declaration] = {}
        self.integration_type: str | None = None
        self.auth_header_name: str | None = None
        version = doc.get("manifest_version")
        self.version = (
            version
            if version in MANIFEST_VERSIONS and not isinstance(version, bool)
            else MANIFEST_VERSION
        )
        self.requests = RequestChecker(doc, self.declared, self.diagnostics, self.version)

    # -- the manifest

    def run(self) -> list[Diagnostic]:
        doc = self.doc
        self.unknown_keys(doc, TOP_LEVEL_KEYS, "")
        version = doc.get("manifest_version")
        if version not in MANIFEST_VERSIONS or isinstance(version, bool):
            self.error(
                "manifest_version",
                UNSUPPORTED_VERSION,
                f"manifest_version must be {' or '.join(map(str, MANIFEST_VERSIONS))}",
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
            self.check_if_missing(field, key, path)

    def check_if_missing(self, field: dict[str, Any], key: str, path: str) -> None:
        """What a missing value becomes (version 2)."""
        mapping = key == "mapping_fields"
        if mapping and "default" in field:
            self.requests.needs_version_2(f"{path}.default", "a mapping field's default")
        if "if_missing" not in field:
            if mapping and "default" in field:
                self.error(
                    f"{path}.if_missing",
                    REQUIRED,
                    'a mapping field\'s default is used with "if_missing": "default"',
                )
            return
        self.requests.needs_version_2(f"{path}.if_missing", "if_missing")
        actions = MAPPING_MISSING_ACTIONS if mapping else CUSTOM_MISSING_ACTIONS
        action = self.check_choice(field, "if_missing", actions, path, INVALID_VALUE)
        if mapping and action == "default" and "default" not in field:
            self.error(
                f"{path}.default",
                REQUIRED,
                'give the default a user without a value gets ("if_missing": "default")',
            )
        elif mapping and action != "default" and "default" in field:
            self.error(
                f"{path}.default",
                INVALID_VALUE,
                'a mapping field\'s default is only used with "if_missing": "default"',
            )

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
        if field_type not in SELECT_TYPES:
            if "options" in field:
                self.error(
                    options_path,
                    INVALID_OPTIONS,
                    "options only apply to single_select and button_group fields",
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
        header = self.requests.check_auth(auth, "auth")
        self.auth_header_name = header

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
        self.requests.check_request(name, MAIN, endpoint, path, auth_header=self.auth_header_name)
        if not isinstance(endpoint, dict):
            return
        auth_header = self.auth_header_name
        if isinstance(endpoint.get("auth"), dict):
            # The override's own header (reported with the override; not reported twice).
            auth_header = _auth_header(endpoint["auth"])
        if name in BATCH_ENDPOINTS and "lookup" in endpoint:
            self.requests.check_request(
                name, LOOKUP, endpoint["lookup"], f"{path}.lookup", auth_header=auth_header
            )
        if name == CREATE_LIST and "find" in endpoint:
            self.requests.check_request(
                name, FIND, endpoint["find"], f"{path}.find", auth_header=auth_header
            )

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
        partner_ids_used: set[str | None] = set()
        for use in collect_variable_uses(self.doc):
            used.add(use.variable)
            if use.variable == "partner_id":
                partner_ids_used.add(use.endpoint)
            if use.part == AUTH and not use.path.endswith(".value_template"):
                continue  # reported by check_auth, with an auth-specific message
            if (
                self.version != VERSION_2
                and use.variable in PREDEFINED_VARIABLES
                and use.variable not in VERSION_1_PREDEFINED
                and use.variable not in self.declared
            ):
                self.requests.needs_version_2(use.path, f"${use.variable}")
                continue
            message = variable_use_problem(use, self.declared, candidates)
            if message:
                code, text = message
                self.error(use.path, code, text, use.line, use.column)
        self.check_lookups_used(partner_ids_used)
        for declaration in self.declared.values():
            if declaration.variable not in used:
                self.warning(
                    f"{declaration.path}.variable",
                    UNUSED_VARIABLE,
                    f"${declaration.variable} is declared but not used in any template",
                )

    def check_lookups_used(self, partner_ids_used: set[str | None]) -> None:
        endpoints = self.doc.get("endpoints")
        if not isinstance(endpoints, dict):
            return
        for name in sorted(BATCH_ENDPOINTS & endpoints.keys(), key=ENDPOINT_ORDER.index):
            endpoint = endpoints[name]
            if isinstance(endpoint, dict) and "lookup" in endpoint and name not in partner_ids_used:
                self.warning(
                    f"endpoints.{name}.lookup",
                    LOOKUP_UNUSED,
                    f"{name} looks partner ids up but uses $partner_id nowhere, so the lookup "
                    "only costs requests",
                )


def _auth_header(auth: dict[str, Any]) -> str | None:
    method = auth.get("method")
    if method in ("basic", "bearer"):
        return "authorization"
    name = auth.get("header_name")
    return name.lower() if method == "api_key_header" and isinstance(name, str) else None


def check_manifest(doc: Any, *, normalized: bool = False) -> list[Diagnostic]:
    """Every problem in a manifest: structure, templates (§5 static checks), variables.

    Never raises, whatever JSON value it is given. Errors block compiling and submitting;
    warnings (an unused variable, an item template without user data) do not.
    `normalized`: `doc` is `normalize_manifest`'s output already, not to be redone.
    """
    if not isinstance(doc, dict):
        return [not_an_object()]
    too_deep = depth_diagnostic(doc)
    if too_deep is not None:
        # Nothing else can be checked: normalising would recurse that deep.
        return [too_deep]
    # Reported on the document as written, so the path is the one its author sees.
    nul = nul_diagnostic(doc)
    diagnostics = _ManifestChecker(doc if normalized else normalize_manifest(doc)).run()
    return [nul, *diagnostics] if nul else diagnostics


def manifest_errors(doc: Any) -> list[Diagnostic]:
    """Only the error diagnostics of `check_manifest`."""
    return [diagnostic for diagnostic in check_manifest(doc) if diagnostic.is_error]
