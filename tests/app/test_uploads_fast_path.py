"""app.uploads.fast_parse against python-multipart: the same parts, or None, and the same answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartParser

from app import uploads
from app.errors import ServiceError
from tests.app.conftest import drawn_digit_png

PNG = drawn_digit_png(size=28, offset=(2, 2))
WEBKIT = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
GECKO = "----geckoformboundary1d6a9b0e6f1c2a3b4c5d6e7f8a9b0c1d"
CURL = "------------------------d74496d66958873e"
UNEXPECTED = "unexpected form field(s) {}; send the image in the field 'file'"


@dataclass(frozen=True)
class Body:
    """A request body, its content type, and whether the fast path must take it."""

    name: str
    content_type: str
    body: bytes
    fast: bool


def encoded(name: str, files: Any = None, data: Any = None, fast: bool = True) -> Body:
    """A body from httpx's own multipart encoder."""
    request = httpx.Request("POST", "http://test/", files=files, data=data)
    return Body(name, request.headers["content-type"], request.read(), fast)


def handmade(name: str, parts: list[bytes], fast: bool, boundary: str = WEBKIT, **kw: Any) -> Body:
    """A body from raw parts (header lines + blank line + payload), joined the canonical way."""
    b = boundary.encode()
    body = kw.get("preamble", b"") + b"".join(b"--" + b + b"\r\n" + part + b"\r\n" for part in parts)
    body += kw.get("ending", b"--" + b + b"--\r\n")
    content_type = kw.get("content_type", f"multipart/form-data; boundary={boundary}")
    return Body(name, content_type, body, fast)


def part(name: bytes, payload: bytes, filename: bytes | None = b"d.png", mime: bytes = b"image/png") -> bytes:
    """One part the way Chrome writes it."""
    disposition = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is None:
        return disposition + b"\r\n\r\n" + payload
    return disposition + b'; filename="' + filename + b'"\r\nContent-Type: ' + mime + b"\r\n\r\n" + payload


FILE = part(b"file", PNG)
TEXT = part(b"file", b"hello", filename=None)
CD = b'Content-Disposition: form-data; name="file"; filename="d.png"'

CORPUS = [
    encoded("httpx_png", files={"file": ("d.png", PNG, "image/png")}),
    encoded("httpx_no_mime", files={"file": ("blob", PNG)}),
    encoded("httpx_two_files", files=[("files", ("a.png", PNG, "image/png")), ("files", ("b.png", PNG))]),
    encoded("httpx_three_files", files=[("files", (f"{i}.png", PNG, "image/png")) for i in range(3)]),
    encoded("httpx_five_files", files=[("files", (f"{i}.png", PNG, "image/png")) for i in range(5)]),
    encoded("httpx_many_files", files=[("files", ("d.png", b"x", "image/png")) for _ in range(70)]),
    encoded("httpx_file_and_text", files={"file": ("d.png", PNG)}, data={"note": "hi"}),
    encoded("httpx_twenty_texts", files={"file": ("d.png", PNG)}, data={f"t{i}": "x" for i in range(20)}),
    encoded("httpx_empty_file", files={"file": ("e.png", b"", "image/png")}),
    encoded("httpx_wrong_field", files={"image": ("d.png", PNG, "image/png")}),
    encoded("httpx_unicode_filename", files={"file": ("ü.png", PNG, "image/png")}),
    encoded("httpx_unicode_field", files={"fïle": ("d.png", PNG, "image/png")}),
    encoded("httpx_quote_in_field", files={'fi"le': ("d.png", PNG)}, fast=False),
    encoded("httpx_boundary_like_payload", files={"file": ("d.png", b"\r\n--x\r\n--\r\n" + PNG + b"\r\n")}),
    encoded("httpx_big_text", files={"file": ("d.png", PNG)}, data={"t": "x" * 70_000}, fast=False),
    encoded("httpx_huge_text", files={"file": ("d.png", PNG)}, data={"t": "x" * 1_100_000}, fast=False),
    CHROME := handmade("chrome", [FILE], True),
    handmade("chrome_two_files", [part(b"files", PNG), part(b"files", b"\x00\xff")], True),
    handmade("firefox", [FILE], True, boundary=GECKO),
    handmade("curl", [FILE], True, boundary=CURL),
    handmade("quoted_boundary", [FILE], True, content_type=f'multipart/form-data; boundary="{WEBKIT}"'),
    handmade("no_space_in_type", [FILE], True, content_type=f"multipart/form-data;boundary={WEBKIT}"),
    handmade("upper_case_type", [FILE], True, content_type=f"Multipart/Form-Data; Boundary={WEBKIT}"),
    handmade(
        "charset_in_type",
        [FILE],
        False,
        content_type=f"multipart/form-data; charset=utf-8; boundary={WEBKIT}",
    ),
    handmade("no_boundary", [FILE], False, content_type="multipart/form-data"),
    handmade("other_media_type", [FILE], False, content_type=f"multipart/form-dataX; boundary={WEBKIT}"),
    handmade("wrong_boundary", [FILE], False, content_type="multipart/form-data; boundary=other"),
    handmade("preamble", [FILE], False, preamble=b"this is a preamble\r\n"),
    handmade("leading_crlf", [FILE], False, preamble=b"\r\n"),
    handmade("epilogue", [FILE], True, ending=f"--{WEBKIT}--\r\nan epilogue\r\n".encode()),
    handmade("no_crlf_after_end", [FILE], True, ending=f"--{WEBKIT}--".encode()),
    handmade("missing_end", [FILE], False, ending=b""),
    handmade("half_end", [FILE], False, ending=f"--{WEBKIT}-".encode()),
    handmade("zero_parts", [], False),
    handmade("text_field", [TEXT], True),
    handmade("empty_filename", [part(b"file", PNG, filename=b"")], True),
    handmade("boundary_mid_line", [part(b"file", b"xx--" + WEBKIT.encode() + b"\r\n" + PNG)], True),
    handmade("delimiter_then_x", [part(b"file", PNG + b"\r\n--" + WEBKIT.encode() + b"X" + PNG)], False),
    handmade(
        "delimiter_then_fake_part", [part(b"file", PNG + b"\r\n--" + WEBKIT.encode() + b"XY" + TEXT)], False
    ),
    handmade("crlf_dashes_in_payload", [part(b"file", b"\r\n--other\r\n\r\n" + PNG)], True),
    handmade("lower_case_headers", [CD.lower() + b"\r\ncontent-type: image/png\r\n\r\n" + PNG], True),
    handmade("upper_case_headers", [b"CONTENT-DISPOSITION" + CD[19:] + b"\r\n\r\n" + PNG], True),
    handmade("no_space_after_colon", [CD.replace(b": ", b":") + b"\r\n\r\n" + PNG], True),
    handmade("space_before_colon", [CD.replace(b":", b" :") + b"\r\n\r\n" + PNG], False),
    handmade("extra_header", [CD + b"\r\nX-Extra: 1\r\n\r\n" + PNG], False),
    handmade("transfer_encoding", [CD + b"\r\nContent-Transfer-Encoding: binary\r\n\r\n" + PNG], False),
    handmade("duplicate_disposition", [CD + b"\r\n" + CD + b"\r\n\r\n" + PNG], False),
    handmade("no_disposition", [b"Content-Type: image/png\r\n\r\n" + PNG], False),
    handmade("no_headers", [b"\r\n" + PNG], False),
    handmade("attachment", [CD.replace(b"form-data", b"attachment") + b"\r\n\r\n" + PNG], False),
    handmade("filename_star", [CD + b"; filename*=UTF-8''x.png\r\n\r\n" + PNG], False),
    handmade("escaped_quote_name", [part(b'fi\\"le', PNG)], False),
    handmade("percent_name", [part(b"fi%6Ce", PNG)], False),
    handmade("unquoted_name", [b"Content-Disposition: form-data; name=file\r\n\r\n" + PNG], False),
    handmade("latin1_name", [part(b"fil\xe9", PNG)], True),
    handmade("continuation_line", [CD + b"\r\n Content-Type: image/png\r\n\r\n" + PNG], False),
    handmade("padding_after_delimiter", [FILE], False, ending=f"--{WEBKIT}  \r\n".encode() + TEXT),
]
CORPUS += [
    Body("lf_only", CHROME.content_type, CHROME.body.replace(b"\r\n", b"\n"), False),
    Body("empty_body", CHROME.content_type, b"", False),
]
ROUTES = [("file", 1), ("files", 3)]


def by_name(name: str) -> Body:
    return next(body for body in CORPUS if body.name == name)


async def chunks(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


def text(raw: bytes) -> str:
    """A text field's value as Starlette decodes it (UTF-8, else Latin-1)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def reference(content_type: str, body: bytes) -> list[tuple[str, bytes | str, bool]]:
    """What Starlette's MultiPartParser (python-multipart) makes of the body, without limits."""
    parser = MultiPartParser(Headers({"content-type": content_type}), chunks(body), max_fields=10**6)
    form = asyncio.run(parser.parse())
    return [
        (name, value.file.read(), True) if isinstance(value, UploadFile) else (name, value, False)
        for name, value in form.multi_items()
    ]


def make_request(content_type: str, body: bytes) -> Request:
    """A Request over `body`, sent in two chunks, with "app" in the scope as in the service."""
    messages = [body[: len(body) // 2], body[len(body) // 2 :]]

    async def receive() -> dict[str, Any]:
        chunk = messages.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(messages)}

    headers = [(b"content-type", content_type.encode("latin-1"))]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "app": None}
    return Request(scope, receive)


def read(body: Body, field: str, limit: int) -> tuple[Any, ...]:
    """read_files' answer: the payloads, or the error's status, code and message."""
    try:
        return (
            "ok",
            asyncio.run(uploads.read_files(make_request(body.content_type, body.body), field, limit)),
        )
    except ServiceError as exc:
        return (exc.status, exc.code, exc.message)


def slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "fast_parse", lambda content_type, body: None)


def test_the_corpus_covers_both_paths() -> None:
    assert len(CORPUS) >= 30 and len({body.name for body in CORPUS}) == len(CORPUS)
    assert {body.fast for body in CORPUS} == {True, False}


@pytest.mark.parametrize("body", CORPUS, ids=lambda body: body.name)
def test_fast_parse_agrees_with_python_multipart(body: Body) -> None:
    parsed = uploads.fast_parse(body.content_type, body.body)
    assert (parsed is not None) == body.fast
    if parsed is not None:
        as_form = [(name, raw if is_file else text(raw), is_file) for name, raw, is_file in parsed]
        assert as_form == reference(body.content_type, body.body)


@pytest.mark.parametrize("body", CORPUS, ids=lambda body: body.name)
@pytest.mark.parametrize(("field", "limit"), ROUTES)
def test_read_files_answers_the_same_on_both_paths(
    body: Body, field: str, limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = read(body, field, limit)
    slow_path(monkeypatch)
    assert read(body, field, limit) == fast


@pytest.mark.parametrize(
    ("name", "field", "limit", "expected"),
    [
        ("httpx_png", "file", 1, ("ok", [PNG])),
        ("httpx_two_files", "files", 3, ("ok", [PNG, PNG])),
        ("chrome_two_files", "files", 3, ("ok", [PNG, b"\x00\xff"])),
        ("httpx_empty_file", "file", 1, ("ok", [b""])),
        ("empty_filename", "file", 1, ("ok", [PNG])),
        ("boundary_mid_line", "file", 1, ("ok", [b"xx--" + WEBKIT.encode() + b"\r\n" + PNG])),
        ("text_field", "file", 1, (422, "invalid_input", "file: expected a file upload, not a text field")),
        ("httpx_wrong_field", "file", 1, (422, "invalid_input", UNEXPECTED.format("['image']"))),
        ("httpx_three_files", "files", 2, (422, "invalid_input", "files: 3 files, over the limit of 2")),
        ("latin1_name", "file", 1, (422, "invalid_input", UNEXPECTED.format("['filé']"))),
    ],
)
def test_fast_path_answers_without_python_multipart(
    name: str, field: str, limit: int, expected: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_form(*args: object) -> None:
        raise AssertionError("took the python-multipart path")

    monkeypatch.setattr(uploads, "_read_form", no_form)
    assert read(by_name(name), field, limit) == expected


def test_too_many_parts_for_the_route_go_to_python_multipart(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    read_form: Callable[..., Any] = uploads._read_form

    async def counting(request: Request, field: str, limit: int) -> list[bytes]:
        calls.append(limit)
        return await read_form(request, field, limit)

    monkeypatch.setattr(uploads, "_read_form", counting)
    assert read(by_name("httpx_many_files"), "files", 3)[0] == 422
    assert read(by_name("httpx_twenty_texts"), "file", 1)[0] == 422
    assert calls == [3, 1]


@pytest.mark.parametrize("name", ["httpx_png", "chrome", "text_field", "httpx_quote_in_field", "preamble"])
@pytest.mark.parametrize("route", ["/predict/digit", "/predict/digit/batch"])
def test_routes_answer_the_same_on_both_paths(
    client: TestClient, name: str, route: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = by_name(name)

    def post() -> tuple[int, Any]:
        response = client.post(route, content=body.body, headers={"content-type": body.content_type})
        answer = response.json()
        return response.status_code, answer.get("error", answer)

    fast = post()
    slow_path(monkeypatch)
    assert post() == fast
