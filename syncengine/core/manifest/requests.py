"""The checks of one request of a manifest: an endpoint's own, its lookup, its create.

Every request a manifest describes has the same parts (method, URL, headers, payload, item
template, batch size, error classifications, and in version 2 an auth override and a mode)
and is checked by the same rules, whether it is an endpoint, a lookup before it, the create
request for users the lookup did not find, or create_list's find request. `RequestChecker`
holds those rules; `checks._ManifestChecker` calls it for every request, sharing its list
of diagnostics and what it learnt about the manifest (the declared variables, the version).
"""

from __future__ import annotations

from typing import Any

from syncengine.core.diagnostic_codes import (
    AUTH_VARIABLE_MISSING,
    BODY_NOT_ALLOWED,
    DUPLICATE_ERROR_CLASSIFICATION,
    DUPLICATE_HEADER,
    INVALID_BATCH_SIZE,
    INVALID_HEADER_NAME,
    INVALID_HEADER_VALUE,
    INVALID_JSON,
    INVALID_LIST_ID_PATH,
    INVALID_METHOD,
    INVALID_PATH,
    INVALID_SUB_CODE_PATH,
    INVALID_URL,
    INVALID_VALUE,
    ITEM_WITHOUT_USER_DATA,
    MISSING_ITEM_TEMPLATE,
    MISSING_ITEMS,
    NEEDS_VERSION_2,
    REQUIRED,
    RESERVED_HEADER,
    TOO_MANY,
    UNKNOWN_KEY,
)
from syncengine.core.jsonpath import PathSyntaxError, parse_path
from syncengine.core.manifest.schema import (
    AUTH_KEYS,
    AUTH_METHODS,
    BATCH,
    BATCH_ENDPOINTS,
    CREATE,
    CREATE_KEYS,
    CREATE_METHODS,
    ENDPOINT_KEYS,
    ENDPOINT_METHODS,
    ERROR_ACTIONS,
    ERROR_KEYS,
    FIND,
    FIND_KEYS,
    FIND_METHODS,
    LOOKUP,
    LOOKUP_KEYS,
    LOOKUP_METHODS,
    MAIN,
    MAX_BATCH_SIZE,
    MAX_ERROR_CLASSIFICATIONS,
    MAX_ERROR_STATUS,
    MAX_HEADERS,
    MIN_BATCH_SIZE,
    MIN_ERROR_STATUS,
    MODES,
    NOT_FOUND_ACTIONS,
    PER_USER,
    PLATFORM_HEADERS,
    URL_SAMPLE_VALUE,
    VERSION_2,
    VERSION_2_ENDPOINT_KEYS,
)
from syncengine.core.manifest.shapes import (
    ShapeChecker,
    is_hashable,
    is_int,
    join_path,
    shown_value,
)
from syncengine.core.manifest.variables import Declaration
from syncengine.core.template.errors import RenderError, TemplateSyntaxError
from syncengine.core.template.json_parser import parse_json_template
from syncengine.core.template.placeholders import Placeholder
from syncengine.core.template.text import (
    HeaderTemplate,
    UrlTemplate,
    check_header_value_text,
    is_http_token,
)
from syncengine.core.types import Diagnostic

# Modifiers that write a list into a URL; `$items` in a URL needs one of them.
URL_LIST_MODIFIERS = ("join", "json")


class RequestChecker(ShapeChecker):
    """The rules of one request, writing into the manifest checker's diagnostics."""

    def __init__(
        self,
        doc: dict[str, Any],
        declared: dict[str, Declaration],
        diagnostics: list[Diagnostic],
        version: int,
    ):
        super().__init__()
        self.diagnostics = diagnostics
        self.doc = doc
        self.declared = declared
        self.version = version

    def needs_version_2(self, path: str, what: str) -> None:
        """An error unless the manifest is version 2 (the construct at `path` needs it)."""
        if self.version != VERSION_2:
            self.error(
                path,
                NEEDS_VERSION_2,
                f"{what} needs manifest_version 2 (this manifest is version {self.version})",
            )

    # -- auth ----------------------------------------------------------------------------

    def check_auth(self, auth: Any, path: str) -> str | None:
        """Check an auth settings object; the lower-cased header it sets, if any."""
        if not self.check_type(auth, dict, path):
            return None
        method = self.check_choice(auth, "method", AUTH_METHODS, path, INVALID_VALUE)
        if method is None:
            return None
        self.unknown_keys(auth, AUTH_KEYS[method], path)
        if method == "api_key_header":
            return self.check_auth_header(auth, path)
        for key in AUTH_KEYS[method][1:]:
            key_path = f"{path}.{key}"
            variable = auth.get(key)
            if key == "password_variable" and variable is None:
                continue  # Basic auth without a password
            if not self.check_type(variable, str, key_path):
                continue
            declaration = self.declared.get(variable)
            if declaration is None and key == "password_variable":
                # The password is optional: a partner who deleted the field sends none.
                self.warning(
                    key_path,
                    AUTH_VARIABLE_MISSING,
                    f"no custom field declares ${variable}, so Basic auth sends an empty "
                    "password (set password_variable to null to say so)",
                )
            elif declaration is None or declaration.source != "custom_field":
                self.error(
                    key_path,
                    AUTH_VARIABLE_MISSING,
                    f"{method} auth reads ${variable}, but no custom field declares it",
                )
        return "authorization" if method in ("basic", "bearer") else None

    def check_auth_header(self, auth: dict[str, Any], path: str) -> str | None:
        name = auth.get("header_name")
        header = None
        if self.check_type(name, str, f"{path}.header_name"):
            self.check_header_name(name, f"{path}.header_name")
            header = name.lower()
        template = auth.get("value_template")
        if self.check_type(template, str, f"{path}.value_template"):
            self.check_header_template(template, f"{path}.value_template")
        return header

    # -- one request ---------------------------------------------------------------------

    def check_request(
        self, endpoint: str, role: str, settings: Any, path: str, *, auth_header: str | None
    ) -> None:
        """Check a request of `endpoint`: its own (`main`), its `lookup`, the lookup's
        `create` or create_list's `find`. `auth_header` is the header the integration's
        auth sets, which an endpoint may not set itself (unless it overrides auth)."""
        if not self.check_type(settings, dict, path):
            return
        keys = {MAIN: ENDPOINT_KEYS.get(endpoint, ()), LOOKUP: LOOKUP_KEYS}
        keys |= {CREATE: CREATE_KEYS, FIND: FIND_KEYS}
        self.unknown_keys(settings, keys[role], path)
        if role == MAIN:
            for key in sorted(VERSION_2_ENDPOINT_KEYS & settings.keys()):
                self.needs_version_2(f"{path}.{key}", f"{key} on an endpoint")
        if "auth" in settings:
            auth_header = self.check_auth(settings["auth"], f"{path}.auth")
        mode = self.check_mode(settings, path, role, endpoint)
        method = self.check_method(endpoint, role, settings.get("method"), f"{path}.method")
        if self.require(settings, "url", path) and self.check_type(
            settings["url"], str, f"{path}.url"
        ):
            self.check_url(settings["url"], f"{path}.url")
        headers = settings.get("headers")
        if self.check_type(headers, dict, f"{path}.headers"):
            self.check_headers(headers, f"{path}.headers", auth_header)
        batch = endpoint in BATCH_ENDPOINTS and role != FIND and mode == BATCH
        payload = settings.get("payload")
        self.check_payload(payload, f"{path}.payload", batch=batch, url=settings.get("url"))
        if method == "GET" and isinstance(payload, str) and payload.strip():
            self.error(
                f"{path}.payload", BODY_NOT_ALLOWED, "a GET request has no body: leave it empty"
            )
        if endpoint in BATCH_ENDPOINTS and role != FIND:
            self.check_item_template(
                settings.get("item_template"), f"{path}.item_template", required=batch, role=role
            )
            self.check_batch_size(settings.get("batch_size"), f"{path}.batch_size")
        elif role == MAIN:
            self.check_list_id_path(settings.get("list_id_path"), f"{path}.list_id_path")
        self.check_error_classifications(settings.get("errors"), f"{path}.errors")
        if role == LOOKUP:
            self.check_lookup(settings, path, mode, auth_header)
        elif role == CREATE:
            self.check_results(settings, path, mode)
        elif role == FIND:
            self.check_find(settings, path)

    def check_mode(self, settings: dict[str, Any], path: str, role: str, endpoint: str) -> str:
        if "mode" not in settings:
            return BATCH
        if endpoint not in BATCH_ENDPOINTS or role == FIND:
            self.error(f"{path}.mode", UNKNOWN_KEY, "only add/remove/update requests have a mode")
            return BATCH
        mode = settings["mode"]
        if not isinstance(mode, str) or mode not in MODES:
            self.error(
                f"{path}.mode",
                INVALID_VALUE,
                f"mode must be one of {', '.join(MODES)}, not {shown_value(mode)}",
            )
            return BATCH
        return mode

    def check_method(self, endpoint: str, role: str, method: Any, path: str) -> str | None:
        allowed = {
            MAIN: ENDPOINT_METHODS.get(endpoint, ()),
            LOOKUP: LOOKUP_METHODS,
            CREATE: CREATE_METHODS,
            FIND: FIND_METHODS,
        }[role]
        what = endpoint if role == MAIN else f"{endpoint}'s {role} request"
        if method not in allowed or not isinstance(method, str):
            self.error(
                path,
                INVALID_METHOD,
                f"{what} must use {', '.join(allowed)}, not {shown_value(method)}",
            )
            return None
        return method

    # -- templates -----------------------------------------------------------------------

    def check_modifiers(self, placeholders: tuple[Placeholder, ...], path: str) -> None:
        for placeholder in placeholders:
            if placeholder.modifier is not None:
                self.needs_version_2(path, f"the modifier of {placeholder.spelled}")
                return

    def check_url(self, url: str, path: str) -> None:
        if not url.strip():
            self.error(path, REQUIRED, "the URL is required")
            return
        try:
            template = UrlTemplate(url)
        except TemplateSyntaxError as error:
            self.template_error(path, error, INVALID_URL)
            return
        self.check_modifiers(template.placeholders, path)
        for placeholder in template.placeholders:
            modifier = placeholder.modifier
            if placeholder.name == "items" and (
                modifier is None or modifier.kind not in URL_LIST_MODIFIERS
            ):
                self.error(
                    path,
                    INVALID_URL,
                    "in a URL the batch is written ${items:join(,)} (any separator) or "
                    "${items:json}, so that each value is encoded on its own",
                    placeholder.line,
                    placeholder.column,
                )
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
            parsed = HeaderTemplate(template)
        except TemplateSyntaxError as error:
            self.template_error(path, error, INVALID_HEADER_VALUE)
            return
        self.check_modifiers(parsed.placeholders, path)
        problem = check_header_value_text(template)
        if problem:
            offset = next(
                index
                for index, character in enumerate(template)
                if check_header_value_text(character)
            )
            self.error(path, INVALID_HEADER_VALUE, f"the header value {problem}", 1, offset + 1)

    def check_headers(self, headers: dict[Any, Any], path: str, auth_header: str | None) -> None:
        if len(headers) > MAX_HEADERS:
            self.error(path, TOO_MANY, f"at most {MAX_HEADERS} headers")
            return
        seen: dict[str, str] = {}
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
            if lowered == auth_header:
                self.error(
                    header_path, RESERVED_HEADER, f"{name} is already set by the auth settings"
                )
            if self.check_type(value, str, header_path):
                self.check_header_template(value, header_path)

    def check_text_template(self, template: Any, path: str, what: str) -> None:
        """A text template (a lookup key, a name to match): placeholders inserted as text."""
        if not self.check_type(template, str, path):
            return
        if not template.strip():
            self.error(path, REQUIRED, f"{what} cannot be empty")
            return
        try:
            parsed = HeaderTemplate(template)
        except TemplateSyntaxError as error:
            self.template_error(path, error, INVALID_VALUE)
            return
        self.check_modifiers(parsed.placeholders, path)

    def check_payload(self, payload: Any, path: str, *, batch: bool, url: Any) -> None:
        if not self.check_type(payload, str, path):
            return
        in_url = isinstance(url, str) and "items" in _url_variables(url)
        if not payload.strip():
            if batch and not (in_url and self.version == VERSION_2):
                self.error(path, MISSING_ITEMS, "the payload is empty; it must contain $items")
            return
        try:
            parsed = parse_json_template(payload)
        except TemplateSyntaxError as error:
            self.template_error(path, error, INVALID_JSON)
            return
        self.check_modifiers(parsed.placeholders, path)
        in_payload = any(placeholder.name == "items" for placeholder in parsed.placeholders)
        if batch and not in_payload and not (in_url and self.version == VERSION_2):
            self.error(
                path, MISSING_ITEMS, "a batch payload must contain $items (the batch's items)"
            )

    def check_item_template(self, template: Any, path: str, *, required: bool, role: str) -> None:
        if not self.check_type(template, str, path):
            return
        if not template.strip():
            if required:
                self.error(path, MISSING_ITEM_TEMPLATE, "the item template (one user) is required")
            return
        try:
            parsed = parse_json_template(template)
        except TemplateSyntaxError as error:
            self.template_error(path, error, INVALID_JSON)
            return
        self.check_modifiers(parsed.placeholders, path)
        user_variables = {
            declaration.variable
            for declaration in self.declared.values()
            if declaration.source == "mapping_field"
        }
        if role == MAIN:
            user_variables.add("partner_id")
        if not any(placeholder.name in user_variables for placeholder in parsed.placeholders):
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

    def check_path(self, value: Any, path: str, code: str = INVALID_PATH) -> None:
        if not self.check_type(value, str, path):
            return
        try:
            parse_path(value)
        except PathSyntaxError as error:
            self.error(path, code, f"invalid path: {error}")

    def check_list_id_path(self, list_id_path: Any, path: str) -> None:
        self.check_path(list_id_path, path, INVALID_LIST_ID_PATH)

    # -- lookups, creates and finds ------------------------------------------------------

    def check_lookup(
        self, lookup: dict[str, Any], path: str, mode: str, auth_header: str | None
    ) -> None:
        key = lookup.get("key")
        if self.require(lookup, "key", path):
            self.check_text_template(key, f"{path}.key", "the lookup key")
            if isinstance(key, str) and key.strip():
                mapping = {
                    declaration.variable
                    for declaration in self.declared.values()
                    if declaration.source == "mapping_field"
                }
                if not mapping & _text_variables(key):
                    self.error(
                        f"{path}.key",
                        REQUIRED,
                        "the key must use a mapping field: it is what each user is matched "
                        "by in the lookup's results (e.g. $email)",
                    )
        self.check_results(lookup, path, mode)
        self.check_type(lookup.get("ignore_case"), bool, f"{path}.ignore_case")
        not_found = self.check_choice(lookup, "not_found", NOT_FOUND_ACTIONS, path, INVALID_VALUE)
        create = lookup.get("create")
        if not_found == "create":
            if self.require(lookup, "create", path):
                endpoint = path.split(".")[1]
                self.check_request(
                    endpoint, CREATE, create, f"{path}.create", auth_header=auth_header
                )
        elif "create" in lookup:
            self.error(
                f"{path}.create",
                INVALID_VALUE,
                'a create request is only sent when not_found is "create"',
            )

    def check_results(self, settings: dict[str, Any], path: str, mode: str) -> None:
        """Where a lookup's or create's response has each user's partner id."""
        wants_results = mode == BATCH or settings.get("results_path") is not None
        if wants_results and self.require(settings, "results_path", path):
            self.check_path(settings["results_path"], f"{path}.results_path")
        if settings.get("result_key_path") is not None:
            self.check_path(settings["result_key_path"], f"{path}.result_key_path")
        if self.require(settings, "partner_id_path", path):
            self.check_path(settings["partner_id_path"], f"{path}.partner_id_path")
        if (
            mode == PER_USER
            and settings.get("results_path") is None
            and settings.get("result_key_path") is not None
        ):
            self.error(
                f"{path}.result_key_path",
                INVALID_VALUE,
                "result_key_path matches results by key: set results_path too",
            )

    def check_find(self, find: dict[str, Any], path: str) -> None:
        self.check_path(find.get("list_id_path"), f"{path}.list_id_path", INVALID_LIST_ID_PATH)
        self.check_type(find.get("ignore_case"), bool, f"{path}.ignore_case")
        results_path = find.get("results_path")
        if results_path is None:
            for key in ("match_path", "match"):
                if find.get(key) is not None:
                    self.error(
                        f"{path}.{key}",
                        INVALID_VALUE,
                        f"{key} picks one of several results: set results_path too",
                    )
            return
        self.check_path(results_path, f"{path}.results_path")
        for key in ("match_path", "match"):
            if find.get(key) is None:
                self.error(
                    f"{path}.{key}",
                    REQUIRED,
                    "with results_path, say which result is the list: match_path (where "
                    "each result has its name) and match (the name, e.g. $cohort_name)",
                )
        if find.get("match_path") is not None:
            self.check_path(find["match_path"], f"{path}.match_path")
        if find.get("match") is not None:
            self.check_text_template(find["match"], f"{path}.match", "the name to match")

    # -- error classifications -----------------------------------------------------------

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


def _url_variables(url: str) -> set[str]:
    try:
        return {placeholder.name for placeholder in UrlTemplate(url).placeholders}
    except TemplateSyntaxError:
        return set()


def _text_variables(text: str) -> set[str]:
    try:
        return {placeholder.name for placeholder in HeaderTemplate(text).placeholders}
    except TemplateSyntaxError:
        return set()
