"""Bearer tokens: the admin token of the model repository API, and the optional inference tokens.

The repository routes are off unless `PADDLE_SERVE_ADMIN_TOKEN` (or a file named by
`PADDLE_SERVE_ADMIN_TOKEN_FILE`, for Docker and Kubernetes secrets) gives a token. With
`PADDLE_SERVE_API_TOKENS` (comma-separated, so that a token can be rotated; or
`PADDLE_SERVE_API_TOKENS_FILE`, one per line), every inference request (`/predict/*`,
`/v2/models/*/infer`) needs one of them; `ServiceMiddleware` checks it.
Tokens are compared in constant time and never logged, echoed in an error or exported as a metric.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from pydantic import SecretStr

from app.errors import Forbidden, ServiceError, Unauthorized
from app.settings import Settings

TURN_ON = "set PADDLE_SERVE_ADMIN_TOKEN (or PADDLE_SERVE_ADMIN_TOKEN_FILE) to turn it on"


def _secret(value: SecretStr | None, file: Path | None, setting: str) -> str | None:
    """A setting's value, or the text of the file `setting` names (a Docker or Kubernetes secret),
    or None when neither is set; a file that cannot be read stops the start with its path."""
    if value is not None:
        return value.get_secret_value()
    if file is None:
        return None
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ValueError(f"PADDLE_SERVE_{setting}_FILE: cannot read {file}: {reason}") from None


def admin_token(settings: Settings) -> bytes | None:
    """The admin token from the environment or its file (surrounding whitespace dropped), or None."""
    token = _secret(settings.admin_token, settings.admin_token_file, "ADMIN_TOKEN")
    if token is None:
        return None
    token = token.strip()
    if not token:
        raise ValueError("the admin token is empty")
    return token.encode()


def bearer(authorization: str | None) -> bytes | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip().encode()


async def require_admin(request: Request) -> None:
    """403 while the API is off; 401 (with WWW-Authenticate) without a token; 403 for a wrong one."""
    expected: bytes | None = request.app.state.admin_token
    if expected is None:
        raise Forbidden(f"the model repository API is off; {TURN_ON}")
    sent = bearer(request.headers.get("authorization"))
    if sent is None:
        raise _no_token("send the admin token as Authorization: Bearer <token>")
    if not hmac.compare_digest(sent, expected):
        raise Forbidden("the admin token is not the one this server was given")


AdminDep = Annotated[None, Depends(require_admin)]


def _no_token(message: str) -> Unauthorized:
    """The 401 of a request without a bearer token, with the challenge that names the scheme."""
    return Unauthorized(message, headers={"WWW-Authenticate": "Bearer"})


def api_tokens(settings: Settings) -> tuple[bytes, ...]:
    """The inference tokens (separated by commas or new lines), or () when inference is open."""
    tokens = _secret(settings.api_tokens, settings.api_tokens_file, "API_TOKENS")
    if tokens is None:
        return ()
    found = tuple(t.strip().encode() for t in tokens.replace("\n", ",").split(",") if t.strip())
    if not found:
        raise ValueError("PADDLE_SERVE_API_TOKENS (or its file) holds no token")
    return found


def inference_refusal(authorization: str | None, tokens: tuple[bytes, ...]) -> ServiceError | None:
    """None if the `Authorization` header holds one of `tokens` (or none is required), else the
    401 (no token) or 403 (a wrong one) to answer."""
    if not tokens:
        return None
    sent = bearer(authorization)
    if sent is None:
        return _no_token("this server needs an API token: send Authorization: Bearer <token>")
    matches = [hmac.compare_digest(sent, token) for token in tokens]  # every one: no early exit
    return None if any(matches) else Forbidden("the API token is not one this server accepts")
