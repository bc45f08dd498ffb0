"""Reading multipart uploads with the checks the digit routes need (content type, field names, counts)."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile

from app.errors import InvalidInput, UnsupportedMediaType

MULTIPART = "multipart/form-data"


def _require_multipart(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith(MULTIPART):
        raise UnsupportedMediaType(f"send the image as {MULTIPART} (got {content_type or 'no content type'})")


async def read_files(request: Request, field: str, limit: int) -> list[bytes]:
    """The bytes of every file in `field` (at most `limit`); other fields are an error."""
    _require_multipart(request)
    try:
        form = await request.form(max_files=limit + 1, max_fields=16)
    except InvalidInput:
        raise
    except Exception as exc:  # python-multipart / starlette parse errors: a malformed body
        if type(exc).__name__ == "PayloadTooLarge":
            raise
        raise InvalidInput(f"malformed multipart body ({exc})") from None
    try:
        names = sorted(set(form.keys()) - {field})
        if names:
            raise InvalidInput(f"unexpected form field(s) {names}; send the image in the field {field!r}")
        items = form.getlist(field)
        if not items:
            raise InvalidInput(f"{field}: missing; send the image in the multipart field {field!r}")
        if len(items) > limit:
            raise InvalidInput(f"{field}: {len(items)} files, over the limit of {limit}")
        if not all(isinstance(item, UploadFile) for item in items):
            raise InvalidInput(f"{field}: expected a file upload, not a text field")
        return [await item.read() for item in items if isinstance(item, UploadFile)]
    finally:
        await form.close()
