"""The OpenAPI schema's shape: operations grouped by the app that serves them."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema

# The tag of each app's operations; SPECTACULAR_SETTINGS["TAGS"] describes each tag.
APP_TAGS: dict[str, str] = {
    "portal": "Organisations",
    "integrations": "Integrations",
    "syncengine": "Testing",
    "reviews": "Reviews",
    "syncs": "Syncs",
}


class AppTaggedSchema(AutoSchema):
    """Tags each operation with the app whose view serves it, not with the URL's first
    segment (which is `v1` for all of them)."""

    def get_tags(self) -> list[str]:
        app = type(self.view).__module__.split(".")[0]
        return [APP_TAGS.get(app, app)]
