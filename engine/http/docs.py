"""The API's interactive documentation (`/docs`): Swagger UI served from the vendored files in
`static/swagger-ui` (see `static/VENDORED.md`) and started by `static/docs.js`, so that the page
runs under the same strict CSP as every other (no inline script, nothing from a CDN). FastAPI's
own /docs and /redoc, which load their scripts from a CDN and start them inline, are off.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.http.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def api_docs(request: Request) -> Response:
    app = request.app
    return render(request, "docs.html", {"title": app.title, "openapi_url": app.openapi_url})
