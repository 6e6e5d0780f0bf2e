"""The manifest version a document's constructs need.

A version-1 manifest stays version 1 for as long as it uses nothing of version 2, so that
its export stays byte-identical; the editor, which builds manifests from a form, asks
`needed_version` whether what the partner just typed (a lookup, `${in_cohort:string}`,
`$partner_id`) makes it a version-2 manifest. The answer agrees with the checks: a
document holding a construct listed here is refused as version 1 ("… needs
manifest_version 2"), and one holding none of them is not refused for its version.
"""

from __future__ import annotations

from typing import Any

from syncengine.core.manifest.schema import (
    ENDPOINT_ORDER,
    MANIFEST_VERSION,
    VERSION_2,
    VERSION_2_ENDPOINT_KEYS,
    VERSION_2_FIELD_KEYS,
)
from syncengine.core.manifest.variables import (
    PREDEFINED_VARIABLES,
    VERSION_1_PREDEFINED,
    collect_variable_uses,
)


def _fields_need_version_2(doc: dict[str, Any]) -> bool:
    for key in ("custom_fields", "mapping_fields"):
        fields = doc.get(key)
        for field in fields if isinstance(fields, list) else []:
            if not isinstance(field, dict):
                continue
            if VERSION_2_FIELD_KEYS & field.keys():
                return True
            # A mapping field's default is what `if_missing: default` sends.
            if key == "mapping_fields" and "default" in field:
                return True
    return False


def _endpoints_need_version_2(doc: dict[str, Any]) -> bool:
    endpoints = doc.get("endpoints")
    if not isinstance(endpoints, dict):
        return False
    return any(
        isinstance(endpoints.get(name), dict) and VERSION_2_ENDPOINT_KEYS & endpoints[name].keys()
        for name in ENDPOINT_ORDER
    )


def _templates_need_version_2(doc: dict[str, Any]) -> bool:
    """A placeholder with a modifier, or a pre-defined variable version 1 does not know
    (`$partner_id`, `$item`; a field may not take its name, whatever the version)."""
    return any(
        use.modifier is not None
        or (use.variable in PREDEFINED_VARIABLES and use.variable not in VERSION_1_PREDEFINED)
        for use in collect_variable_uses(doc)
    )


def needed_version(doc: Any) -> int:
    """The lowest manifest version whose constructs `doc` uses (1 or 2), for any JSON
    value; the version `doc` declares plays no part."""
    if not isinstance(doc, dict):
        return MANIFEST_VERSION
    if (
        _fields_need_version_2(doc)
        or _endpoints_need_version_2(doc)
        or _templates_need_version_2(doc)
    ):
        return VERSION_2
    return MANIFEST_VERSION
