"""The web dashboard: an ASGI app (Starlette) over a bgjobs adapter, mountable in any ASGI app.

    from bgjobs.dashboard import create_app
    app = create_app(adapter, read_only=False, auth="a long secret token")

Needs the `dashboard` extra (starlette, jinja2, uvicorn, python-multipart).
The web modules are imported on the first `create_app` call, so the plain
modules of this package (the database reader the metrics use) need none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from bgjobs.dashboard.security import AuthCheck

__all__ = ["create_app"]


def create_app(
    adapter: Any, *, read_only: bool = False, auth: str | AuthCheck | None = None
) -> Starlette:
    """The dashboard app for `adapter`: see bgjobs.dashboard.app.create_app."""
    from bgjobs.dashboard.app import create_app as create

    return create(adapter, read_only=read_only, auth=auth)
