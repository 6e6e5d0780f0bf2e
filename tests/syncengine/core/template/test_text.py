"""Header value and URL templates, one rule per test."""

from __future__ import annotations

import pytest

from syncengine.core.template.errors import RenderError, TemplateSyntaxError
from syncengine.core.template.text import HeaderTemplate, UrlTemplate, is_http_token


def test_header_values_are_text():
    assert HeaderTemplate("Klaviyo-API-Key $key").render({"key": "pk_1"}) == "Klaviyo-API-Key pk_1"
    assert HeaderTemplate("v=$n").render({"n": 2}) == "v=2"


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb"])
def test_it_refuses_header_values_with_line_breaks(value):
    with pytest.raises(RenderError, match="line break"):
        HeaderTemplate("x $v").render({"v": value})


def test_it_refuses_header_values_with_other_control_characters_or_non_ascii():
    with pytest.raises(RenderError, match="U\\+0000"):
        HeaderTemplate("$v").render({"v": "a\x00"})
    with pytest.raises(RenderError, match="must be ASCII"):
        HeaderTemplate("$v").render({"v": "café"})


def test_a_header_template_cannot_contain_a_line_break():
    with pytest.raises(TemplateSyntaxError) as caught:
        HeaderTemplate("a\nb")
    assert (caught.value.line, caught.value.column) == (1, 2)


@pytest.mark.parametrize(
    ("name", "valid"),
    [("X-API-Key", True), ("Content-Type", True), ("X Key", False), ("X:Y", False), ("", False)],
)
def test_header_names_must_be_http_tokens(name, valid):
    assert is_http_token(name) is valid


def test_a_path_value_cannot_add_a_segment_a_query_or_a_fragment():
    url = UrlTemplate("https://api.acme.test/lists/$id/add").render({"id": "a/b?c=1#d"})
    assert url == "https://api.acme.test/lists/a%2Fb%3Fc%3D1%23d/add"


def test_a_query_value_cannot_add_a_parameter():
    url = UrlTemplate("https://api.acme.test/x?list=$id&v=1").render({"id": "1&admin=true#x"})
    assert url == "https://api.acme.test/x?list=1%26admin%3Dtrue%23x&v=1"


def test_a_fragment_value_is_encoded_too():
    url = UrlTemplate("https://api.acme.test/x#$f").render({"f": "a#b c"})
    assert url == "https://api.acme.test/x#a%23b%20c"


def test_a_url_value_is_utf8_percent_encoded():
    assert UrlTemplate("https://a.test/$n").render({"n": "héllo wörld"}) == (
        "https://a.test/h%C3%A9llo%20w%C3%B6rld"
    )


def test_a_placeholder_in_the_host_accepts_a_host_name_fragment():
    template = UrlTemplate("https://$region.api.acme.test:8443/v1")
    assert template.render({"region": "eu-1"}) == "https://eu-1.api.acme.test:8443/v1"


@pytest.mark.parametrize("value", ["evil.test/", "a@b", "x:1", "a b", "evil.test#"])
def test_a_placeholder_in_the_host_refuses_anything_else(value):
    with pytest.raises(RenderError, match="host name"):
        UrlTemplate("https://$sub.acme.test/").render({"sub": value})


def test_a_host_value_must_leave_a_valid_host():
    with pytest.raises(RenderError, match="invalid host name"):
        UrlTemplate("https://$sub.acme.test/").render({"sub": ""})


def test_a_placeholder_cannot_set_the_scheme():
    with pytest.raises(TemplateSyntaxError, match="cannot set the URL scheme"):
        UrlTemplate("$base/lists")


@pytest.mark.parametrize(
    ("template", "message", "column"),
    [
        ("ftp://a.test/", "must start with https:// or http://", 1),
        ("https://", "the URL has no host", 9),
        ("https:///x", "the URL has no host", 9),
        ("https://user:$pw@a.test/", "user:password@", 17),
        ("https://a.test/a b", "cannot contain spaces", 17),
        ("", "the URL is empty", 1),
    ],
)
def test_it_reports_bad_urls(template, message, column):
    with pytest.raises(TemplateSyntaxError) as caught:
        UrlTemplate(template)
    assert message in caught.value.message
    assert caught.value.column == column
    assert caught.value.code == "invalid_url"


def test_the_rendered_url_must_be_valid():
    with pytest.raises(RenderError, match="not valid"):
        UrlTemplate("https://a.test:99999/").render({})


def test_http_urls_and_ip_hosts_are_allowed():
    assert UrlTemplate("http://127.0.0.1:8000/$p").render({"p": "x"}) == "http://127.0.0.1:8000/x"
