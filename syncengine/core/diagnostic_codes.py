"""The codes of `types.Diagnostic`: one stable name per kind of problem.

The UI and the API key their help texts and links on these codes, so they never change
meaning. The template parser reports its syntax errors with the first group; the manifest
checks use all of them; compiling and previewing add the last two.
"""

# Syntax errors inside a template (see `template.errors.TemplateSyntaxError`).
INVALID_PLACEHOLDER = "invalid_placeholder"
INVALID_JSON = "invalid_json"
INVALID_URL = "invalid_url"
INVALID_HEADER_VALUE = "invalid_header_value"

# Problems in a manifest (see `manifest.checks`).
INVALID_TYPE = "invalid_type"
REQUIRED = "required"
UNKNOWN_KEY = "unknown_key"
INVALID_VALUE = "invalid_value"
UNSUPPORTED_VERSION = "unsupported_version"
TOO_MANY = "too_many"
INVALID_VARIABLE_NAME = "invalid_variable_name"
RESERVED_VARIABLE = "reserved_variable"
DUPLICATE_VARIABLE = "duplicate_variable"
INVALID_OPTIONS = "invalid_options"
MISSING_ENDPOINT = "missing_endpoint"
UNEXPECTED_ENDPOINT = "unexpected_endpoint"
INVALID_METHOD = "invalid_method"
INVALID_HEADER_NAME = "invalid_header_name"
RESERVED_HEADER = "reserved_header"
DUPLICATE_HEADER = "duplicate_header"
MISSING_ITEMS = "missing_items"
MISSING_ITEM_TEMPLATE = "missing_item_template"
INVALID_BATCH_SIZE = "invalid_batch_size"
INVALID_LIST_ID_PATH = "invalid_list_id_path"
INVALID_SUB_CODE_PATH = "invalid_sub_code_path"
DUPLICATE_ERROR_CLASSIFICATION = "duplicate_error_classification"
AUTH_VARIABLE_MISSING = "auth_variable_missing"
UNDECLARED_VARIABLE = "undeclared_variable"
VARIABLE_NOT_AVAILABLE = "variable_not_available"
UNUSED_VARIABLE = "unused_variable"
ITEM_WITHOUT_USER_DATA = "item_without_user_data"
NUL_CHARACTER = "nul_character"
TOO_DEEP = "too_deep"
# Version 2: a construct in a version-1 manifest, a GET with a body, a lookup whose ids
# nothing uses.
NEEDS_VERSION_2 = "needs_manifest_version_2"
BODY_NOT_ALLOWED = "body_not_allowed"
LOOKUP_UNUSED = "lookup_unused"
INVALID_PATH = "invalid_path"

# A manifest that cannot be compiled, and a template that cannot be rendered in a preview.
CANNOT_COMPILE = "cannot_compile"
RENDER_ERROR = "render_error"
