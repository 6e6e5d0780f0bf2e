"""The integration manifest's schema (DESIGN §4): names, limits, key orders and defaults.

Everything here is data: the endpoints and what each requires, the auth methods and field
types, the limits the checks enforce, and, for every object of the manifest, its known
keys in the documented order with their defaults (what normalisation fills in).

Version 2 adds keys (a lookup before add/remove/update, per-user requests, find-or-create
lists, per-endpoint auth, missing-value policies). They have no defaults at the level
where a version-1 manifest could hold them, so normalising a version-1 manifest adds
nothing and its export stays byte-identical; inside a version-2 object (a lookup, its
create request, a find request) the defaults are filled in as usual.
"""

from __future__ import annotations

import re
from typing import Any, Literal

MANIFEST_VERSION = 1
# The versions a manifest may declare; version 2 is needed by the constructs listed above.
MANIFEST_VERSIONS = (1, 2)
VERSION_2 = 2
MIN_BATCH_SIZE = 1
MAX_BATCH_SIZE = 10_000
DEFAULT_BATCH_SIZE = MAX_BATCH_SIZE
MIN_CONCURRENCY = 1
MAX_CONCURRENCY = 4
MAX_REQUESTS_PER_SECOND = 10_000
# One request every 100 s at the slowest: a run waiting longer between requests would look
# to the platform like one whose worker went away.
MIN_REQUESTS_PER_SECOND = 0.01
DEFAULT_LIST_ID_PATH = "listId"
MAX_DISPLAY_NAME_LENGTH = 100
MAX_HELP_TEXT_LENGTH = 1_000
MAX_VARIABLE_NAME_LENGTH = 64
MAX_FIELDS = 100
MAX_OPTIONS = 500
MAX_HEADERS = 50
MAX_ERROR_CLASSIFICATIONS = 200
MIN_ERROR_STATUS = 400
MAX_ERROR_STATUS = 599
# A lookup or create request answers for this many users by default: the page size of
# most partners' search endpoints.
DEFAULT_LOOKUP_BATCH_SIZE = 100
DEFAULT_PARTNER_ID_PATH = "id"
DEFAULT_FIND_LIST_ID_PATH = "id"

INTEGRATION_TYPES = ("list", "property")
CREATE_LIST, ADD_USERS, REMOVE_USERS, UPDATE_USERS = (
    "create_list",
    "add_users",
    "remove_users",
    "update_users",
)
ENDPOINT_ORDER = (CREATE_LIST, ADD_USERS, REMOVE_USERS, UPDATE_USERS)
BATCH_ENDPOINTS = frozenset({ADD_USERS, REMOVE_USERS, UPDATE_USERS})
REQUIRED_ENDPOINTS = {
    "list": (CREATE_LIST, ADD_USERS, REMOVE_USERS),
    "property": (UPDATE_USERS,),
}
ENDPOINT_METHODS = {
    CREATE_LIST: ("POST", "PATCH", "PUT"),
    ADD_USERS: ("POST", "PUT", "PATCH", "DELETE"),
    REMOVE_USERS: ("POST", "PUT", "PATCH", "DELETE"),
    UPDATE_USERS: ("POST", "PUT", "PATCH", "DELETE"),
}
# The requests a batch endpoint may make before its own (version 2): a lookup of partner
# ids and, for users the lookup does not find, a create (upsert) request; create_list
# may look the list up by name first (find).
LOOKUP, CREATE, FIND = "lookup", "create", "find"
MAIN = "main"
REQUEST_ROLES = (MAIN, LOOKUP, CREATE, FIND)
BATCH, PER_USER = "batch", "per_user"
MODES = (BATCH, PER_USER)
LOOKUP_METHODS = ("GET", "POST", "PUT", "PATCH")
CREATE_METHODS = ("POST", "PUT", "PATCH")
FIND_METHODS = ("GET", "POST")
NOT_FOUND_ACTIONS = ("skip", "fail", "create")
# What a user's missing value becomes (mapping fields) and what an empty Connect-modal
# value becomes (custom fields). Without `if_missing` a field behaves as in version 1.
MAPPING_MISSING_ACTIONS = ("null", "omit", "default", "skip")
CUSTOM_MISSING_ACTIONS = ("default", "null", "omit")

AUTH_METHODS = ("none", "basic", "bearer", "api_key_header")
CUSTOM_FIELD_TYPES = ("string", "single_select", "button_group")
MAPPING_FIELD_TYPES = ("string", "single_select", "button_group")
SELECT_TYPES = frozenset({"single_select", "button_group"})
ERROR_ACTIONS = ("retry", "fail", "ignore")
DEFAULT_CONTENT_TYPE = "application/json"
URL_SAMPLE_VALUE = "1"

# Where a variable can be used. "auth" is the api_key_header value template.
URL, HEADERS, PAYLOAD, ITEM_TEMPLATE, AUTH = "url", "headers", "payload", "item_template", "auth"
# The lookup's user key and the find request's name to match are text templates too.
KEY, MATCH = "key", "match"
TEMPLATE_PARTS = (URL, HEADERS, PAYLOAD, ITEM_TEMPLATE)
Part = Literal["url", "headers", "payload", "item_template", "auth", "key", "match"]

VARIABLE_NAME = re.compile(r"[a-z_][a-z0-9_]*")

# Headers the HTTP client or the platform sets; a partner value would conflict with them.
PLATFORM_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "idempotency-key",
        "user-agent",
    }
)

TOP_LEVEL_KEYS = (
    "manifest_version",
    "display_name",
    "logo_png_base64",
    "integration_type",
    "slugify_cohort_name",
    "auth",
    "custom_fields",
    "mapping_fields",
    "endpoints",
    "delivery",
)
AUTH_KEYS = {
    "none": ("method",),
    "basic": ("method", "username_variable", "password_variable"),
    "bearer": ("method", "token_variable"),
    "api_key_header": ("method", "header_name", "value_template"),
}
AUTH_DEFAULTS: dict[str, Any] = {
    "username_variable": "api_key",
    "password_variable": "secret_key",
    "token_variable": "bearer_token",
    "header_name": "X-API-Key",
    "value_template": "$api_key",
}
CUSTOM_FIELD_KEYS = (
    "variable",
    "display_name",
    "type",
    "required",
    "secret",
    "help_text",
    "options",
    "default",
    "if_missing",
)
CUSTOM_FIELD_DEFAULTS: dict[str, Any] = {
    "type": "string",
    "required": False,
    "secret": False,
    "help_text": "",
    "default": None,
}
MAPPING_FIELD_KEYS = (
    "variable",
    "display_name",
    "type",
    "required",
    "help_text",
    "options",
    "if_missing",
    "default",
)
# A mapping field says where each user's identifier comes from; without an answer every
# item would carry null, so mapping fields are required unless the partner says otherwise.
MAPPING_FIELD_DEFAULTS: dict[str, Any] = {"type": "string", "required": True, "help_text": ""}
OPTION_KEYS = ("value", "label")
_BATCH_ENDPOINT_KEYS = (
    "method",
    "url",
    "headers",
    "payload",
    "item_template",
    "batch_size",
    "errors",
    "mode",
    "auth",
    "lookup",
)
ENDPOINT_KEYS = {
    CREATE_LIST: ("method", "url", "headers", "payload", "list_id_path", "errors", "auth", "find"),
    ADD_USERS: _BATCH_ENDPOINT_KEYS,
    REMOVE_USERS: _BATCH_ENDPOINT_KEYS,
    UPDATE_USERS: _BATCH_ENDPOINT_KEYS,
}
# Keys that only a version-2 manifest may use, wherever they appear.
VERSION_2_ENDPOINT_KEYS = frozenset({"mode", "auth", "lookup", "find"})
VERSION_2_FIELD_KEYS = frozenset({"if_missing"})
ENDPOINT_DEFAULTS: dict[str, Any] = {
    "method": "POST",
    "headers": {},
    "payload": "",
    "item_template": "",
    "batch_size": DEFAULT_BATCH_SIZE,
    "list_id_path": DEFAULT_LIST_ID_PATH,
    "errors": [],
}
LOOKUP_KEYS = (
    "method",
    "url",
    "headers",
    "payload",
    "item_template",
    "batch_size",
    "mode",
    "key",
    "results_path",
    "result_key_path",
    "partner_id_path",
    "ignore_case",
    "not_found",
    "errors",
    "auth",
    "create",
)
LOOKUP_DEFAULTS: dict[str, Any] = {
    "method": "POST",
    "headers": {},
    "payload": "",
    "item_template": "",
    "batch_size": DEFAULT_LOOKUP_BATCH_SIZE,
    "mode": BATCH,
    "result_key_path": None,
    "partner_id_path": DEFAULT_PARTNER_ID_PATH,
    "ignore_case": False,
    "not_found": "skip",
    "errors": [],
}
CREATE_KEYS = (
    "method",
    "url",
    "headers",
    "payload",
    "item_template",
    "batch_size",
    "mode",
    "results_path",
    "result_key_path",
    "partner_id_path",
    "errors",
    "auth",
)
CREATE_DEFAULTS: dict[str, Any] = {
    "method": "POST",
    "headers": {},
    "payload": "",
    "item_template": "",
    "batch_size": DEFAULT_LOOKUP_BATCH_SIZE,
    "mode": BATCH,
    "result_key_path": None,
    "partner_id_path": DEFAULT_PARTNER_ID_PATH,
    "errors": [],
}
FIND_KEYS = (
    "method",
    "url",
    "headers",
    "payload",
    "results_path",
    "match_path",
    "match",
    "list_id_path",
    "ignore_case",
    "errors",
    "auth",
)
FIND_DEFAULTS: dict[str, Any] = {
    "method": "GET",
    "headers": {},
    "payload": "",
    "results_path": None,
    "match_path": None,
    "match": None,
    "list_id_path": DEFAULT_FIND_LIST_ID_PATH,
    "ignore_case": False,
    "errors": [],
}
ERROR_KEYS = ("status", "sub_code", "sub_code_path", "reason", "message", "action")
ERROR_DEFAULTS: dict[str, Any] = {
    "sub_code": None,
    "sub_code_path": None,
    "reason": "",
    "message": "",
    "action": "fail",
}
DELIVERY_KEYS = ("max_concurrency", "requests_per_second", "sign_requests")
DELIVERY_DEFAULTS: dict[str, Any] = {
    "max_concurrency": MAX_CONCURRENCY,
    "requests_per_second": None,
    "sign_requests": False,
}
TOP_LEVEL_DEFAULTS: dict[str, Any] = {
    "manifest_version": MANIFEST_VERSION,
    "logo_png_base64": None,
    "slugify_cohort_name": False,
    "auth": {"method": "none"},
    "custom_fields": [],
    "mapping_fields": [],
    "endpoints": {},
    "delivery": DELIVERY_DEFAULTS,
}
