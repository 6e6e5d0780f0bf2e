"""Request body parsers of the API: DRF's, refusing JSON nested deeper than
`MAX_JSON_DEPTH` levels and text with the NUL character, and a CSV body parser for cohort
snapshots.

Deep JSON would otherwise stop the decoder (or a serializer after it) with a
`RecursionError`, a 500; refused here, the caller learns where the nesting went too far.

JSON may carry U+0000 as the escape `\\u0000`, and a form body as `%00`, but PostgreSQL
stores it neither in text nor in jsonb. Refused here, the caller learns where it is
instead of getting a 500. (Form POSTs are refused earlier, by
portal.middleware_input; these parsers also cover PUT and PATCH bodies.)
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from django.core.exceptions import SuspiciousOperation
from django.core.files.uploadedfile import UploadedFile
from django.utils.datastructures import MultiValueDict
from rest_framework import parsers
from rest_framework.exceptions import APIException, ParseError

from portal.middleware_input import nul_parameter_message
from syncengine.core.json_depth import TOO_DEEP_MESSAGE, find_too_deep
from syncengine.core.nul import NUL_MESSAGE, JsonPath, find_nul, shown_key

if TYPE_CHECKING:
    # The stubs' name for the read-only QueryDict that parsers return.
    from django.http.request import _ImmutableQueryDict

# A full snapshot sent as CSV is loaded while the request waits; larger files belong in
# an upload, which a worker loads.
MAX_CSV_BODY_BYTES = 20 * 1024 * 1024
CSV_SPOOL_IN_MEMORY = 1024 * 1024
CSV_READ_CHUNK = 64 * 1024


def json_path(path: JsonPath) -> str:
    """`("members", 0, "user_id")` as `members[0].user_id`."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else f"{'.' if text else ''}{shown_key(key)}"
    return text or "(body)"


class JSONParser(parsers.JSONParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"(body): {TOO_DEEP_MESSAGE}") from None
        path = find_too_deep(data)
        if path is not None:
            raise ParseError(f"{json_path(path)}: {TOO_DEEP_MESSAGE}")
        path = find_nul(data)
        if path is not None:
            raise ParseError(f"{json_path(path)}: {NUL_MESSAGE}")
        return data


class FormParser(parsers.FormParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> _ImmutableQueryDict:
        try:
            data = super().parse(stream, media_type, parser_context)
        except SuspiciousOperation as error:  # more fields than Django reads
            raise ParseError(f"The form data could not be read: {error}") from None
        message = nul_parameter_message(data)
        if message:
            raise ParseError(message)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> parsers.DataAndFiles[_ImmutableQueryDict, MultiValueDict[str, UploadedFile]]:
        try:
            result = super().parse(stream, media_type, parser_context)
        except SuspiciousOperation as error:
            raise ParseError(f"The form data could not be read: {error}") from None
        message = nul_parameter_message(result.data)
        if message:
            raise ParseError(message)
        return result


class PayloadTooLarge(APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "too_large"


class CSVParser(parsers.BaseParser):
    """A `text/csv` body, spooled to a temporary file as it arrives (never held whole in
    memory) and refused past MAX_CSV_BODY_BYTES, by its Content-Length when it gives one.
    The data is `{"csv": the file}`, at its start: the cohort loader reads the bytes."""

    media_type = "text/csv"

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> dict[str, IO[bytes]]:
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > MAX_CSV_BODY_BYTES:
            raise PayloadTooLarge(_too_large())
        spooled = tempfile.SpooledTemporaryFile(max_size=CSV_SPOOL_IN_MEMORY)  # noqa: SIM115
        received = 0
        while stream is not None and (chunk := stream.read(CSV_READ_CHUNK)):
            received += len(chunk)
            if received > MAX_CSV_BODY_BYTES:
                spooled.close()
                raise PayloadTooLarge(_too_large())
            spooled.write(chunk)
        spooled.seek(0)
        return {"csv": spooled}


def _too_large() -> str:
    return (
        f"A CSV body may hold at most {MAX_CSV_BODY_BYTES // (1024 * 1024)} MB; upload larger "
        "files on the cohort's page, where a worker loads them."
    )
