"""Request body parsers of the API: DRF's, refusing JSON nested deeper than
`MAX_JSON_DEPTH` levels and text with the NUL character.

Deep JSON would otherwise stop the decoder (or a serializer after it) with a
`RecursionError`, a 500; refused here, the caller learns where the nesting went too far.

JSON may carry U+0000 as the escape `\\u0000`, and a form body as `%00`, but PostgreSQL
stores it neither in text nor in jsonb. Refused here, the caller learns where it is
instead of getting a 500. (Form POSTs are refused earlier, by
portal.middleware_input; these parsers also cover PUT and PATCH bodies.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from django.core.exceptions import SuspiciousOperation
from django.core.files.uploadedfile import UploadedFile
from django.utils.datastructures import MultiValueDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from portal.middleware_input import nul_parameter_message
from syncengine.core.json_depth import TOO_DEEP_MESSAGE, find_too_deep
from syncengine.core.nul import NUL_MESSAGE, JsonPath, find_nul, shown_key

if TYPE_CHECKING:
    # The stubs' name for the read-only QueryDict that parsers return.
    from django.http.request import _ImmutableQueryDict


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
