"""GET / serves the web page in app/static/ (the static files are mounted at /static in main)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from app.errors import NotFound

router = APIRouter(tags=["ui"])
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


@router.get("/", include_in_schema=False)
async def index() -> Response:
    page = STATIC_DIR / "index.html"
    if not page.is_file():
        raise NotFound("the web page is not installed (app/static/index.html); see /docs for the API")
    return FileResponse(page, media_type="text/html")
