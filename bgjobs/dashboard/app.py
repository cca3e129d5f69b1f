"""The dashboard's ASGI app: routes, rendering, and the checks every request passes.

Pages are small functions in pages.py returning a template and its values;
actions in actions.py change jobs and say what they did. This module wraps
them: authentication, CSRF and read-only checks, the CSRF cookie, fragment
responses for the page's self-refresh, and the redirect after an action.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bgjobs.clock import SYSTEM_CLOCK, Clock
from bgjobs.dashboard import actions, formatting, pages
from bgjobs.dashboard.context import ActionHandler, Dashboard, PageError, PageHandler, View
from bgjobs.dashboard.reader import reader_for
from bgjobs.dashboard.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    AuthCheck,
    Guard,
    csrf_ok,
    csrf_token,
    signed_done,
    verified_done,
)
from bgjobs.errors import BgJobsError

#: Characters a path keeps unencoded (RFC 3986 pchar and "/"), so that quoting it
#: changes only what must be encoded.
_PATH_SAFE: Final = "/:@!$&'()*+,;=-._~"

#: The header the page's script sends to get only the refreshed part of a page.
FRAGMENT_HEADER: Final = "x-bgjobs-fragment"


def create_app(
    adapter: Any,
    *,
    read_only: bool = False,
    auth: str | AuthCheck | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Starlette:
    """The dashboard for `adapter` as a Starlette app (mount it anywhere, or serve it alone).

    `auth`: None (no login: keep it on 127.0.0.1 or behind your own auth), a
    token string (login form or `Authorization: Bearer`), or a callable
    `(request) -> bool`. `read_only` hides every action and refuses its POST.
    """
    dash = Dashboard(
        adapter=adapter,
        reader=reader_for(adapter),
        guard=Guard(auth),
        read_only=read_only,
        clock=clock,
        templates=_environment(),
    )
    routes = [
        Route("/", _page(dash, pages.overview), name="overview"),
        Route("/jobs", _page(dash, pages.jobs), name="jobs"),
        Route("/jobs/{job_id}", _page(dash, pages.job), name="job"),
        Route("/failed", _page(dash, pages.failed), name="failed"),
        Route("/scheduled", _page(dash, pages.scheduled), name="scheduled"),
        Route("/scheduled/{key:path}", _page(dash, pages.schedule), name="schedule"),
        Route("/queues", _page(dash, pages.queues), name="queues"),
        Route("/workers", _page(dash, pages.workers), name="workers"),
        Route("/metrics", _metrics(dash), name="metrics"),
        Route("/login", _page(dash, pages.login, public=True), name="login"),
        Route("/login", _login(dash), methods=["POST"]),
        Route("/logout", _logout(dash), methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("bgjobs.dashboard", "static")]), name="static"),
    ]
    for path, handler in actions.ACTIONS.items():
        routes.append(Route(f"/actions/{path}", _action(dash, handler), methods=["POST"]))
    return Starlette(routes=routes)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bgjobs.dashboard", "templates"),
        autoescape=True,  # every value is escaped: a payload holding <script> stays text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(formatting.FILTERS)
    return env


def base_path(request: Request) -> str:
    """Where the dashboard is mounted ("" when served on its own)."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def _page(dash: Dashboard, handler: PageHandler, *, public: bool = False) -> Callable[..., Any]:
    def endpoint(request: Request) -> Response:  # sync: Starlette runs it in a thread
        if not public and not dash.guard.allows(request):
            return _refuse_unauthenticated(request)
        token, new_token = csrf_token(request)
        try:
            view = handler(dash, request)
            status = 200
        except PageError as exc:
            view, status = View("error.html", {"message": str(exc)}), exc.status
        except BgJobsError as exc:  # the database is down or not migrated: say so, keep serving
            message = f"cannot read the database: {type(exc).__name__}: {exc}"
            view, status = View("error.html", {"message": message}), 503
        response = HTMLResponse(_render(dash, request, view, token), status_code=status)
        if new_token:
            _set_cookie(response, request, CSRF_COOKIE, token)
        return response

    return endpoint


def _render(dash: Dashboard, request: Request, view: View, token: str) -> str:
    template = dash.templates.get_template(view.template)
    values = {
        "base": base_path(request),
        "csrf_field": CSRF_FIELD,
        "csrf_token": token,
        "read_only": dash.read_only,
        "has_login": dash.guard.has_login,
        "path": request.url.path,
        "here": _here(request),
        "done": formatting.done_message(
            verified_done(request, request.query_params.get("done", ""))
        ),
        "now": dash.clock.now(),
        **view.values,
    }
    if request.headers.get(FRAGMENT_HEADER) == "1" and "live" in template.blocks:
        return "".join(template.blocks["live"](template.new_context(values)))
    return template.render(values)


def _here(request: Request) -> str:
    """This page's path and query, without the one-off `done` message: where an action returns."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "done"]
    # Percent-encoded again: decoded, a schedule key holding "%41" would come back
    # as another key ("A") after the redirect. The mount prefix stays as it is.
    base, path = base_path(request), request.url.path
    rest = path[len(base) :] if path.startswith(base) else path
    return base + quote(rest, safe=_PATH_SAFE) + (f"?{urlencode(query)}" if query else "")


def _refuse_unauthenticated(request: Request) -> Response:
    wants_page = request.method == "GET" and request.headers.get(FRAGMENT_HEADER) != "1"
    if wants_page and "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(f"{base_path(request)}/login", status_code=303)
    return PlainTextResponse(
        "authentication required: log in, or send Authorization: Bearer <token>\n",
        status_code=401,
        headers={"www-authenticate": "Bearer"},
    )


def _action(dash: Dashboard, handler: ActionHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if not dash.guard.allows(request):
            return _refuse_unauthenticated(request)
        form = await request.form()
        if not csrf_ok(request, form.get(CSRF_FIELD)):
            return PlainTextResponse("refused: missing or wrong CSRF token\n", status_code=403)
        if dash.read_only:
            return PlainTextResponse("refused: this dashboard is read-only\n", status_code=403)
        ids = [value for value in form.getlist("id") if isinstance(value, str) and value]
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        try:
            done = await run_in_threadpool(handler, dash, ids, fields)
        except PageError as exc:
            return PlainTextResponse(f"refused: {exc}\n", status_code=exc.status)
        return _back(request, fields.get("next", ""), done)

    return endpoint


def _back(request: Request, target: str, done: str) -> RedirectResponse:
    """Redirect (303) to `target` if it is a page of this dashboard, else to the overview."""
    base = base_path(request)
    safe = target.startswith(f"{base}/") and not target.startswith(("//", "/\\"))
    path = target if safe else f"{base}/"
    separator = "&" if "?" in path else "?"
    query = urlencode({"done": signed_done(request, done)})
    return RedirectResponse(f"{path}{separator}{query}", status_code=303)


def _login(dash: Dashboard) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request, form.get(CSRF_FIELD)):
            return PlainTextResponse("refused: missing or wrong CSRF token\n", status_code=403)
        given = form.get("token")
        if not dash.guard.has_login:
            return RedirectResponse(f"{base_path(request)}/", status_code=303)
        if not isinstance(given, str) or not dash.guard.token_matches(given):
            return RedirectResponse(f"{base_path(request)}/login?failed=1", status_code=303)
        response = RedirectResponse(f"{base_path(request)}/", status_code=303)
        _set_cookie(response, request, SESSION_COOKIE, dash.guard.session_value())
        return response

    return endpoint


def _logout(dash: Dashboard) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request, form.get(CSRF_FIELD)):
            return PlainTextResponse("refused: missing or wrong CSRF token\n", status_code=403)
        response = RedirectResponse(f"{base_path(request)}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=f"{base_path(request)}/")
        return response

    return endpoint


def _set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path=f"{base_path(request)}/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _metrics(dash: Dashboard) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        if not dash.guard.allows(request):
            return _refuse_unauthenticated(request)
        try:
            from bgjobs.dashboard.metrics_page import exposition
        except ImportError:
            return PlainTextResponse(
                "metrics need prometheus_client: pip install 'bgjobs[metrics]'\n", status_code=404
            )
        body, content_type = exposition(dash.adapter)
        return Response(body, media_type=content_type)

    return endpoint
