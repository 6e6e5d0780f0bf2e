"""The API reference: operations grouped by app, a way back, and nothing from a CDN."""

from __future__ import annotations

from django.conf import settings
from django.test import Client
from django.urls import reverse


def test_operations_are_tagged_by_the_app_that_serves_them(db):
    schema = Client().get(reverse("api_schema"), HTTP_ACCEPT="application/json").json()
    described = [tag["name"] for tag in schema["tags"]]
    assert described == [tag["name"] for tag in settings.SPECTACULAR_SETTINGS["TAGS"]]
    used = {
        (path.split("/")[3], tag)
        for path, operations in schema["paths"].items()
        for operation in operations.values()
        for tag in operation["tags"]
    }
    tags = {tag for _, tag in used}
    assert {"Organisations", "Integrations", "Testing", "Reviews"} <= tags
    assert tags <= set(described)
    assert ("integrations", "Integrations") in used
    assert ("test-runs", "Testing") in used
    assert ("reviews", "Reviews") in used
    assert ("access-requests", "Organisations") in used
    assert "[← Back to the Cohort Portal](/)" in schema["info"]["description"]


def test_redoc_is_served_without_its_cdn_logo(db):
    page = Client().get(reverse("api_redoc")).content.decode()
    assert reverse("api_redoc_bundle") in page
    assert "← Back to the Cohort Portal" in page
    bundle = Client().get(reverse("api_redoc_bundle"))
    assert bundle.status_code == 200
    assert bundle["Content-Type"].startswith("text/javascript")
    text = b"".join(bundle.streaming_content) if bundle.streaming else bundle.content
    assert b"cdn.redoc.ly" not in text
    assert b"redocly logo" in text  # the same bundle, only the image source changed
