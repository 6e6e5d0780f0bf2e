"""Quick gzip for the large answers partners wait on (the editor page, the live preview).

`quick_gzip_page` is Django's `gzip_page` at compression level 1 instead of 6: the editor's
317 KB of HTML compress in about 1 ms instead of 5, to about 30 KB instead of 21 (the target
is under 100 KB on the wire). Like Django's, it pads the gzip header with a random-length
file name (at most 100 bytes), so that the compressed length says less about the content
(BREACH); a view that uses it must not reflect request input beside a secret
(docs/decisions.md says which views may).
"""

from __future__ import annotations

import gzip
import secrets

from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware, re_accepts_gzip
from django.utils.cache import patch_vary_headers
from django.utils.decorators import decorator_from_middleware

QUICK_LEVEL = 1
MAX_RANDOM_BYTES = 100
SMALLEST = 200  # shorter answers are not worth compressing (Django's limit too)


def quick_compress(content: bytes) -> bytes:
    """gzip at level 1, with a random-length file name in the header."""
    packed = gzip.compress(content, compresslevel=QUICK_LEVEL, mtime=0)
    header = bytearray(packed[:10])
    header[3] = gzip.FNAME
    name = b"a" * secrets.randbelow(MAX_RANDOM_BYTES) + b"\x00"
    return bytes(header) + name + packed[10:]


class QuickGZipMiddleware(GZipMiddleware):
    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if response.streaming or response.has_header("Content-Encoding"):
            return super().process_response(request, response)
        content: bytes = response.content  # type: ignore[attr-defined]
        if len(content) < SMALLEST:
            return response
        patch_vary_headers(response, ("Accept-Encoding",))
        if not re_accepts_gzip.search(request.META.get("HTTP_ACCEPT_ENCODING", "")):
            return response
        packed = quick_compress(content)
        if len(packed) >= len(content):
            return response
        response.content = packed  # type: ignore[attr-defined]
        response.headers["Content-Length"] = str(len(packed))
        etag = response.get("ETag")
        if etag and etag.startswith('"'):
            response.headers["ETag"] = "W/" + etag
        response.headers["Content-Encoding"] = "gzip"
        return response


quick_gzip_page = decorator_from_middleware(QuickGZipMiddleware)
