"""Reading an uploaded file (a logo, a manifest) without trusting its size."""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile


def upload_bytes(upload: UploadedFile, limit: int) -> bytes:
    """At most `limit` + 1 bytes of `upload`, so that a huge file is never read whole; a
    result longer than `limit` means the file is over it."""
    data: bytes = upload.read(limit + 1)
    return data
