"""The dashboard's guards over real HTTP: CSRF on every action, read-only, the token, escaping,
and a dashboard mounted under a prefix of another ASGI app."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.routing import Mount

from bgjobs.dashboard import create_app
from bgjobs.dashboard.security import CSRF_COOKIE, SESSION_COOKIE
from bgjobs.db.adapter import FinishedJob
from tests.dashboard.seed import Seeded
from tests.dashboard.server import fetch, serve

HTML = {"accept": "text/html"}


def cookies_of(headers: dict[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    jar.load(headers.get("set-cookie", headers.get("Set-Cookie", "")))
    return {name: morsel.value for name, morsel in jar.items()}


def csrf_from(url: str, *, in_forms: bool = True) -> str:
    status, response_headers, body = fetch(url)
    assert status == 200, body
    token = cookies_of(response_headers)[CSRF_COOKIE]
    if in_forms:
        assert f'value="{token}"' in body, "the page's forms carry the cookie's token"
    return token


def post(url: str, fields: dict[str, Any], cookies: dict[str, str], **headers: str) -> Any:
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return fetch(
        url,
        data=urlencode(fields, doseq=True).encode(),
        headers={"content-type": "application/x-www-form-urlencoded", "cookie": cookie, **headers},
    )


def test_an_action_needs_the_csrf_token(adapter: Any, seeded: Seeded) -> None:
    job_id = seeded.failed[0]
    with serve(create_app(adapter)) as url:
        token = csrf_from(url + "/failed")
        status, _, body = post(url + "/actions/retry", {"id": job_id}, {CSRF_COOKIE: token})
        assert (status, body) == (403, "refused: missing or wrong CSRF token\n")
        status, _, _ = post(
            url + "/actions/retry", {"id": job_id, "csrf_token": "x" * 43}, {CSRF_COOKIE: token}
        )
        assert status == 403
        status, _, _ = post(url + "/actions/delete", {"id": job_id, "csrf_token": token}, {})
        assert status == 403
        assert isinstance(adapter.get_job(job_id), FinishedJob), "nothing changed"

        status, headers, _ = post(
            url + "/actions/retry",
            {"id": job_id, "csrf_token": token, "next": "/failed"},
            {CSRF_COOKIE: token},
        )
        assert status == 303 and headers["location"].startswith("/failed?done=retried%3A1%3A0~")
        assert not isinstance(adapter.get_job(job_id), FinishedJob)


def test_an_action_never_redirects_off_the_dashboard(adapter: Any, seeded: Seeded) -> None:
    with serve(create_app(adapter)) as url:
        token = csrf_from(url + "/failed")
        fields = {"id": seeded.failed[0], "csrf_token": token, "next": "//evil.example/x"}
        status, headers, _ = post(url + "/actions/retry", fields, {CSRF_COOKIE: token})
        assert status == 303 and headers["location"].startswith("/?done=")


def test_read_only_refuses_actions(adapter: Any, seeded: Seeded) -> None:
    with serve(create_app(adapter, read_only=True)) as url:
        token = csrf_from(url + "/failed", in_forms=False)
        for action in ("retry", "delete"):
            status, _, body = post(
                url + f"/actions/{action}",
                {"id": seeded.failed[0], "csrf_token": token},
                {CSRF_COOKIE: token},
            )
            assert (status, body) == (403, "refused: this dashboard is read-only\n")
        assert isinstance(adapter.get_job(seeded.failed[0]), FinishedJob)
        _, _, page = fetch(url + "/failed")
        assert "/actions/" not in page


def test_a_token_protects_pages_actions_and_metrics(adapter: Any, seeded: Seeded) -> None:
    with serve(create_app(adapter, auth="s3cret-token")) as url:
        status, headers, _ = fetch(url + "/failed", headers=HTML)
        assert status == 303 and headers["location"] == "/login"
        assert fetch(url + "/failed")[0] == 401
        assert fetch(url + "/metrics")[0] == 401
        assert fetch(url + "/failed", headers={"authorization": "Bearer wrong"})[0] == 401
        bearer = {"authorization": "Bearer s3cret-token"}
        assert fetch(url + "/failed", headers=bearer)[0] == 200

        token = csrf_from(url + "/login")
        status, headers, _ = post(
            url + "/login", {"token": "nope", "csrf_token": token}, {CSRF_COOKIE: token}
        )
        assert status == 303 and headers["location"] == "/login?failed=1"
        assert SESSION_COOKIE not in cookies_of(headers)
        status, headers, _ = post(
            url + "/login", {"token": "s3cret-token", "csrf_token": token}, {CSRF_COOKIE: token}
        )
        assert status == 303
        session = cookies_of(headers)[SESSION_COOKIE]
        assert "s3cret-token" not in session
        jar = {CSRF_COOKIE: token, SESSION_COOKIE: session}
        cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
        assert fetch(url + "/failed", headers={"cookie": cookie})[0] == 200

        fields = {"id": seeded.failed[0], "csrf_token": token}
        assert post(url + "/actions/delete", fields, {CSRF_COOKIE: token})[0] == 401
        assert post(url + "/actions/delete", fields, jar)[0] == 303
        assert adapter.get_job(seeded.failed[0]) is None


def test_everything_shown_is_escaped(adapter: Any, seeded: Seeded) -> None:
    with serve(create_app(adapter)) as url:
        for path in (f"/jobs/{seeded.script_job}", "/jobs?state=waiting"):
            _, _, body = fetch(url + path)
            assert "<script>window" not in body
            assert "&lt;script&gt;window.__pwned" in body
        _, _, body = fetch(url + "/failed")
        assert "<b>too</b>" not in body and "&lt;b&gt;too&lt;/b&gt;" in body
        _, _, body = fetch(url + "/jobs?name=%3Cscript%3Ex")
        assert "<script>x" not in body and "&lt;script&gt;x" in body


def test_the_refresh_gets_only_the_live_fragment(adapter: Any, seeded: Seeded) -> None:
    with serve(create_app(adapter)) as url:
        status, _, body = fetch(url + "/queues", headers={"x-bgjobs-fragment": "1"})
        assert status == 200
        assert "<html" not in body and "<table" in body and "images" in body


def test_bad_requests_get_a_clear_page(adapter: Any, seeded: Seeded) -> None:
    with serve(create_app(adapter)) as url:
        status, _, body = fetch(url + "/jobs?state=lost")
        assert status == 400 and "state must be one of waiting, running, succeeded, failed" in body
        status, _, body = fetch(url + "/jobs?state=failed&after=nonsense")
        assert status == 400 and "not a page cursor of the failed list" in body
        status, _, body = fetch(url + "/jobs/no-such-id")
        assert status == 404 and "no job with id no-such-id" in body
        token = csrf_from(url + "/failed")
        status, _, body = post(url + "/actions/retry", {"csrf_token": token}, {CSRF_COOKIE: token})
        assert (status, body) == (400, "refused: no job selected\n")


def test_mounted_under_a_prefix_of_another_app(adapter: Any, seeded: Seeded) -> None:
    host = Starlette(routes=[Mount("/ops/jobs", app=create_app(adapter))])
    with serve(host) as url:
        status, _, body = fetch(url + "/ops/jobs/failed")
        assert status == 200
        assert 'href="/ops/jobs/static/dashboard.css"' in body
        assert fetch(url + "/ops/jobs/static/dashboard.js")[0] == 200
        assert re.search(r'action="/ops/jobs/actions/retry"', body)
        token = csrf_from(url + "/ops/jobs/failed")
        fields = {"id": seeded.failed[0], "csrf_token": token, "next": "/ops/jobs/failed"}
        status, headers, _ = post(url + "/ops/jobs/actions/retry", fields, {CSRF_COOKIE: token})
        assert status == 303 and headers["location"].startswith("/ops/jobs/failed?done=")


def test_a_callable_decides_who_may_use_it(adapter: Any, seeded: Seeded) -> None:
    def only_ops(request: Any) -> bool:
        return bool(request.headers.get("x-user") == "ops")

    with serve(create_app(adapter, auth=only_ops)) as url:
        assert fetch(url + "/failed")[0] == 401
        assert fetch(url + "/failed", headers={"x-user": "ops"})[0] == 200
        assert fetch(url + "/metrics", headers={"x-user": "guest"})[0] == 401


def test_a_database_without_tables_gets_a_503_page(tmp_path: Any) -> None:
    from bgjobs.db import SqliteAdapter

    adapter = SqliteAdapter(str(tmp_path / "empty.db"))
    try:
        with serve(create_app(adapter)) as url:
            status, _, body = fetch(url + "/")
            assert status == 503 and "cannot read the database: SchemaError" in body
            assert "bgjobs migrate" in body
    finally:
        adapter.close()
