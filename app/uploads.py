"""Reading multipart uploads with the checks the digit routes need (content type, field names, counts).

The common, canonical body (what httpx, requests, curl and browsers send) is split by `fast_parse`
with `bytes.find`; anything it is not sure about goes through `request.form()` (python-multipart),
so both paths give the same answers and the same errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from fastapi import Request
from starlette.datastructures import UploadFile

from app.errors import InvalidInput, UnsupportedMediaType

MULTIPART = "multipart/form-data"
MAX_FIELDS = 16  # text fields; more is a parse error in python-multipart
MAX_FAST_PARTS = 256  # a body with more parts takes the python-multipart path
MAX_FAST_HEADER_LINE = 1024  # python-multipart refuses lines past 4224 bytes
MAX_FAST_TEXT_PART = 64 * 1024  # Starlette refuses text parts past 1 MiB
MAX_FILES = 1024  # files in one request, whatever a route's own limit (PADDLE_SERVE_MAX_DIGIT_BATCH)
UPLOAD_FORMATS = "PNG, JPEG, BMP, GIF, WebP, TIFF, AVIF or HEIC"

# Only `multipart/form-data; boundary=...` with no other parameter (a charset would change name decoding).
_BCHARS = r"[0-9A-Za-z'()+_,./:=?-]{1,70}"
_CONTENT_TYPE = re.compile(
    rf'multipart/form-data; ?boundary=(?:"({_BCHARS})"|({_BCHARS}))', re.IGNORECASE | re.ASCII
)
# No quote, backslash, percent or semicolon inside the values: no escapes for python-multipart to undo.
_DISPOSITION = re.compile(
    rb'(?i:content-disposition): *form-data; name="([^"\\%;\r\n]*)"(?:; filename="([^"\\%;\r\n]*)")?'
)
_PART_CONTENT_TYPE = re.compile(rb"(?i:content-type):[^\r\n]*")

Part = tuple[str, bytes, bool]  # (field name, payload, is_file)


def require_multipart(request: Request) -> None:
    """415 unless the body is multipart/form-data."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith(MULTIPART):
        raise UnsupportedMediaType(f"send the image as {MULTIPART} (got {content_type or 'no content type'})")


def _decode_name(raw: bytes) -> str:
    """A field name as Starlette decodes it: UTF-8, or Latin-1 when that fails."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _part_headers(block: bytes) -> tuple[str, bool] | None:
    """(name, is_file) from a part's header lines, or None unless they are one plain disposition + type."""
    lines = block.split(b"\r\n")
    if len(lines) > 2 or any(len(line) > MAX_FAST_HEADER_LINE for line in lines):
        return None
    dispositions = [match for line in lines if (match := _DISPOSITION.fullmatch(line))]
    if len(dispositions) != 1:
        return None
    if len(lines) == 2 and not any(_PART_CONTENT_TYPE.fullmatch(line) for line in lines):
        return None
    name, filename = dispositions[0].groups()
    # Starlette makes an UploadFile whenever a filename parameter is present, even `filename=""`.
    return _decode_name(name), filename is not None


def fast_parse(content_type: str, body: bytes) -> list[Part] | None:
    """The parts of a canonical multipart body, or None when python-multipart should decide."""
    match = _CONTENT_TYPE.fullmatch(content_type)
    if match is None:
        return None
    boundary = (match.group(1) or match.group(2)).encode("ascii")
    delimiter = b"\r\n--" + boundary
    if not body.startswith(b"--" + boundary + b"\r\n"):
        return None  # a preamble, LF line endings or another boundary
    parts: list[Part] = []
    start = len(boundary) + 4
    while len(parts) < MAX_FAST_PARTS:
        if body.startswith(b"\r\n", start):
            return None  # a part with no headers
        headers_end = body.find(b"\r\n\r\n", start)
        header = _part_headers(body[start:headers_end]) if headers_end != -1 else None
        end = body.find(delimiter, headers_end + 4) if header is not None else -1
        if header is None or end == -1:
            return None
        name, is_file = header
        payload = body[headers_end + 4 : end]
        if not is_file and len(payload) > MAX_FAST_TEXT_PART:
            return None
        parts.append((name, payload, is_file))
        after = end + len(delimiter)
        if body.startswith(b"--", after):
            return parts  # python-multipart ignores the epilogue too
        if not body.startswith(b"\r\n", after):
            return None  # the delimiter followed by padding or other bytes
        start = after + 2
    return None


def _check(field: str, limit: int, names: Iterable[str], is_file: list[bool]) -> None:
    """Raise InvalidInput unless the form holds 1 to `limit` files in `field` and nothing else."""
    unexpected = sorted(set(names) - {field})
    if unexpected:
        raise InvalidInput(f"unexpected form field(s) {unexpected}; send the image in the field {field!r}")
    if not is_file:
        raise InvalidInput(f"{field}: missing; send the image in the multipart field {field!r}")
    if len(is_file) > limit:
        raise InvalidInput(f"{field}: {len(is_file)} files, over the limit of {limit}")
    if not all(is_file):
        raise InvalidInput(f"{field}: expected a file upload, not a text field")


def _malformed(exc: Exception) -> Exception:
    """What to raise for an error reading or parsing the body: ours pass through, the rest are a 422."""
    if isinstance(exc, InvalidInput) or type(exc).__name__ == "PayloadTooLarge":
        return exc
    return InvalidInput(f"malformed multipart body ({exc})")


async def _read_form(request: Request, field: str, limit: int) -> list[bytes]:
    """The python-multipart path, for every body `fast_parse` is not sure about."""
    try:
        form = await request.form(max_files=limit + 1, max_fields=MAX_FIELDS)
    except Exception as exc:  # python-multipart / starlette parse errors: a malformed body
        raise _malformed(exc) from None
    try:
        items = form.getlist(field)
        _check(field, limit, form.keys(), [isinstance(item, UploadFile) for item in items])
        return [await item.read() for item in items if isinstance(item, UploadFile)]
    finally:
        await form.close()


async def read_files(request: Request, field: str, limit: int) -> list[bytes]:
    """The bytes of every file in `field` (at most `limit`); other fields are an error."""
    require_multipart(request)
    try:
        body = await request.body()  # cached: request.form() parses the same bytes
    except Exception as exc:
        raise _malformed(exc) from None
    parts = fast_parse(request.headers.get("content-type", ""), body)
    if parts is None:
        return await _read_form(request, field, limit)
    files = sum(is_file for _, _, is_file in parts)
    if files > limit + 1 or len(parts) - files > MAX_FIELDS:
        return await _read_form(request, field, limit)  # python-multipart's own "too many" errors
    items = [(payload, is_file) for name, payload, is_file in parts if name == field]
    _check(field, limit, (name for name, _, _ in parts), [is_file for _, is_file in items])
    return [payload for payload, _ in items]
