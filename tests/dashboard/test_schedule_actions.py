"""The scheduled pages and the schedule actions over real HTTP: history and paused state
shown (escaped), pause and resume by key, CSRF and read-only refusals."""

from __future__ import annotations

from typing import Any

from bgjobs.dashboard import create_app
from bgjobs.dashboard.security import CSRF_COOKIE
from tests.dashboard.schedule_seed import ERROR, NOTE, seed_schedules
from tests.dashboard.server import fetch, serve
from tests.dashboard.test_queries import explain
from tests.dashboard.test_security import csrf_from, post


def paused(adapter: Any) -> dict[str, bool]:
    return {row.key: row.paused for row in adapter.schedules.list()}


def test_the_pages_show_history_and_paused_state_escaped(adapter: Any) -> None:
    seed_schedules(adapter)
    with serve(create_app(adapter)) as url:
        status, _, page = fetch(url + "/scheduled")
        assert status == 200
        assert page.count('<li class="succeeded"') == 1 and 'class="failed"' in page
        assert 'data-key="eu-report" class="paused"' in page and "added at runtime" in page
        assert 'data-schedule-action="resume" data-key="eu-report"' in page
        assert 'data-schedule-action="pause" data-key="nightly"' in page
        assert "<b>no data</b>" not in page and "&lt;b&gt;no data&lt;/b&gt;" in page
        status, _, page = fetch(url + "/scheduled/nightly")
        assert status == 200
        assert page.count('<tr class="run ') == 4
        assert "&lt;b&gt;no data&lt;/b&gt;" in page and "<b>no data</b>" not in page
        assert NOTE in page and ERROR.replace("<", "&lt;").replace(">", "&gt;") in page
        status, _, page = fetch(url + "/scheduled/eu-report")
        assert status == 200 and "not while paused" in page and "No run yet." in page
        status, _, page = fetch(url + "/scheduled/%3Cscript%3Ex")
        assert status == 404 and "<script>x" not in page and "&lt;script&gt;x" in page


def test_pause_and_resume_by_key(adapter: Any) -> None:
    seed_schedules(adapter)
    with serve(create_app(adapter)) as url:
        token = csrf_from(url + "/scheduled")
        cookies = {CSRF_COOKIE: token}
        browser = {"cookie": f"{CSRF_COOKIE}={token}"}  # the message is signed for it
        fields = {"key": "nightly", "csrf_token": token, "next": "/scheduled"}
        status, headers, _ = post(url + "/actions/pause-schedule", fields, cookies)
        assert status == 303
        assert headers["location"].startswith("/scheduled?done=schedule-paused%3Anightly~")
        assert paused(adapter) == {"eu-report": True, "nightly": True}
        _, _, page = fetch(url + headers["location"], headers=browser)
        assert "Paused schedule nightly." in page
        for key in ("nightly", "eu-report"):
            fields = {"key": key, "csrf_token": token, "next": "/scheduled"}
            status, _, _ = post(url + "/actions/resume-schedule", fields, cookies)
            assert status == 303
        assert paused(adapter) == {"eu-report": False, "nightly": False}
        fields = {"key": "gone", "csrf_token": token, "next": "/scheduled"}
        status, headers, _ = post(url + "/actions/pause-schedule", fields, cookies)
        assert status == 303 and "done=schedule-missing%3Agone~" in headers["location"]
        _, _, page = fetch(url + headers["location"], headers=browser)
        assert "No schedule gone (removed meanwhile, or its schedule ended)." in page
        status, _, body = post(url + "/actions/pause-schedule", {"csrf_token": token}, cookies)
        assert (status, body) == (400, "refused: no schedule key given\n")


def test_a_schedule_action_needs_the_csrf_token(adapter: Any) -> None:
    seed_schedules(adapter)
    with serve(create_app(adapter)) as url:
        token = csrf_from(url + "/scheduled")
        for action, key in (("pause-schedule", "nightly"), ("resume-schedule", "eu-report")):
            status, _, body = post(url + f"/actions/{action}", {"key": key}, {CSRF_COOKIE: token})
            assert (status, body) == (403, "refused: missing or wrong CSRF token\n")
            fields = {"key": key, "csrf_token": "x" * 43}
            assert post(url + f"/actions/{action}", fields, {CSRF_COOKIE: token})[0] == 403
        assert paused(adapter) == {"eu-report": True, "nightly": False}, "nothing changed"


def test_read_only_shows_no_schedule_buttons_and_refuses_their_post(adapter: Any) -> None:
    seed_schedules(adapter)
    with serve(create_app(adapter, read_only=True)) as url:
        for path in ("/scheduled", "/scheduled/nightly", "/scheduled/eu-report"):
            _, _, page = fetch(url + path)
            assert "/actions/" not in page and "data-schedule-action" not in page
            assert ('<span class="paused">paused</span>' in page) == (path != "/scheduled/nightly")
        token = csrf_from(url + "/scheduled", in_forms=False)
        status, _, body = post(
            url + "/actions/pause-schedule",
            {"key": "nightly", "csrf_token": token},
            {CSRF_COOKIE: token},
        )
        assert (status, body) == (403, "refused: this dashboard is read-only\n")
        assert paused(adapter) == {"eu-report": True, "nightly": False}


def test_the_scheduled_rows_statement_reads_jobs_through_an_index(adapter: Any) -> None:
    from bgjobs.dashboard.reader import reader_for
    from bgjobs.db.queries import load_query_file

    reader = reader_for(adapter)
    sql = load_query_file(reader.dialect, "dashboard.sql")["scheduled_rows"]
    plan = explain(adapter, reader, sql, {})
    # jobs may hold millions of rows: only its scheduled rows are read, by the unique index.
    # jobs_schedules and jobs_schedule_pauses hold one row per schedule, whatever is read.
    if reader.dialect == "sqlite":
        assert "SEARCH j USING INDEX jobs_scheduled_job_key" in plan, plan
    else:
        assert "Index Scan on jobs_scheduled_job_key" in plan, plan
        assert "Seq Scan on jobs j" not in plan, plan


def test_a_key_with_slashes_and_markup_links_to_its_own_page(adapter: Any) -> None:
    import html
    import re

    key = "reports/eu ?#<i>x</i>"
    adapter.schedules.add(key, "every 1 hour", "report")
    with serve(create_app(adapter)) as url:
        _, _, page = fetch(url + "/scheduled")
        assert "<i>x</i>" not in page
        [href] = re.findall(r'<a href="(/scheduled/[^"]+)">', page)
        status, _, page = fetch(url + html.unescape(href))
        assert status == 200 and "<i>x</i>" not in page
        assert f"<title>Schedule {html.escape(key)}" in page
        token = csrf_from(url + "/scheduled")
        fields = {"key": key, "csrf_token": token, "next": html.unescape(href)}
        status, headers, _ = post(url + "/actions/pause-schedule", fields, {CSRF_COOKIE: token})
        assert status == 303 and headers["location"].startswith(html.unescape(href) + "?done=")
        assert paused(adapter) == {key: True}


def test_an_action_returns_to_the_page_of_a_key_that_looks_percent_encoded(adapter: Any) -> None:
    import html
    import re

    key = "a%41"  # decoded once more, it would read "aA": another schedule
    adapter.schedules.add(key, "every 1 hour", "report")
    with serve(create_app(adapter)) as url:
        _, _, page = fetch(url + "/scheduled")
        [href] = re.findall(r'<a href="(/scheduled/[^"]+)">', page)
        assert html.unescape(href) == "/scheduled/a%2541"
        status, _, page = fetch(url + "/scheduled/a%2541")
        assert status == 200
        nexts = {html.unescape(v) for v in re.findall(r'name="next" value="([^"]*)"', page)}
        assert nexts == {"/scheduled/a%2541"}, nexts


def test_a_message_in_a_link_made_elsewhere_is_not_shown(adapter: Any) -> None:
    from urllib.parse import quote

    seed_schedules(adapter)
    forged = "schedule-missing:x. Your session expired: log in again at evil.example"
    with serve(create_app(adapter)) as url:
        token = csrf_from(url + "/scheduled")
        cookies = {CSRF_COOKIE: token}
        cookie_header = {"cookie": f"{CSRF_COOKIE}={token}"}
        for value in (forged, forged + "~" + "0" * 24, "retried:5:0"):
            status, _, page = fetch(url + "/queues?done=" + quote(value), headers=cookie_header)
            assert status == 200 and "session expired" not in page, value
            assert 'class="flash"' not in page, value
        # The dashboard's own redirect, signed for this browser, shows its message.
        fields = {"key": "nightly", "csrf_token": token, "next": "/scheduled"}
        _, headers, _ = post(url + "/actions/pause-schedule", fields, cookies)
        _, _, page = fetch(url + headers["location"], headers=cookie_header)
        assert "Paused schedule nightly." in page
        # ...and only for this browser: another CSRF cookie does not verify it.
        other = {"cookie": f"{CSRF_COOKIE}={'x' * 43}"}
        _, _, page = fetch(url + headers["location"], headers=other)
        assert "Paused schedule nightly." not in page


def test_a_done_value_with_any_characters_is_ignored_not_an_error(adapter: Any) -> None:
    from urllib.parse import quote

    with serve(create_app(adapter)) as url:
        token = csrf_from(url + "/", in_forms=False)
        cookie_header = {"cookie": f"{CSRF_COOKIE}={token}"}
        for value in ("x~é", "queue-paused:q~\u2603" * 3, "~", "x~" + "é" * 24):
            status, _, page = fetch(url + "/?done=" + quote(value), headers=cookie_header)
            assert status == 200 and 'class="flash"' not in page, value
