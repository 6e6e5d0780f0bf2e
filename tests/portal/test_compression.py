"""The quick gzip of the editor page and the live preview (portal/compression.py)."""

from __future__ import annotations

import gzip

from django.http import HttpResponse
from django.test import RequestFactory

from portal.compression import quick_compress, quick_gzip_page

HTML = (
    "<li class='row-card'><input name='custom_fields.0.variable' value='region'></li>" * 400
).encode()


def test_quick_compress_is_gzip_with_a_header_of_random_length():
    packed = {quick_compress(HTML) for _ in range(20)}
    assert {gzip.decompress(each) for each in packed} == {HTML}
    assert len({len(each) for each in packed}) > 1  # the length says less about the content
    assert max(len(each) for each in packed) < len(HTML) / 5


def test_the_decorator_compresses_only_for_clients_that_accept_gzip():
    view = quick_gzip_page(lambda request: HttpResponse(HTML))
    factory = RequestFactory()
    packed = view(factory.get("/", headers={"Accept-Encoding": "gzip, br"}))
    assert packed["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed["Vary"]
    assert gzip.decompress(packed.content) == HTML
    assert packed["Content-Length"] == str(len(packed.content))
    plain = view(factory.get("/"))
    assert plain.content == HTML and not plain.has_header("Content-Encoding")
    assert "Accept-Encoding" in plain["Vary"]
