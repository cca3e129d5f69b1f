"""The dashboard in a real headless Chromium, against SQLite and PostgreSQL: every page renders
with data, clicks change the database, payloads stay text, the live part refreshes in place."""

from __future__ import annotations

from typing import Any

import pytest

from bgjobs import JobRequest
from bgjobs.db.adapter import FinishedJob
from bgjobs.jobs import Job
from tests.dashboard.seed import Seeded, seed_busy_hour

WAIT_SECONDS = 20


def wait_for(driver: Any, condition: Any, what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS).until(condition, message=f"waited for {what}")


def _retrying_stale(driver: Any, action: Any, what: str) -> Any:
    """`action(driver)`, again if the page's refresh replaced an element between finding it
    and using it (the live part is swapped every few seconds)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    def attempt(d: Any) -> Any:
        try:
            return action(d)
        except (StaleElementReferenceException, NoSuchElementException):
            return None

    return wait_for(driver, attempt, what)


def text_of(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    def read(d: Any) -> list[str]:
        return [str(d.find_element(By.CSS_SELECTOR, css).text)]

    return str(_retrying_stale(driver, read, f"the text of {css}")[0])


def click(driver: Any, css: str, *, confirm: bool = False) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    def press(d: Any) -> bool:
        d.find_element(By.CSS_SELECTOR, css).click()
        return True

    _retrying_stale(driver, press, f"a click on {css}")
    if confirm:
        wait_for(driver, expected_conditions.alert_is_present(), "the confirm dialog")
        driver.switch_to.alert.accept()


def flash(driver: Any, expected: str) -> str:
    """Wait for the message an action's page shows to read `expected` (the page before the
    click may still show the previous action's message for a moment); return what it read."""
    from selenium.webdriver.common.by import By

    seen: list[str] = []

    def shown(d: Any) -> bool:
        texts = [str(each.text) for each in d.find_elements(By.CSS_SELECTOR, "p.flash")]
        seen[:] = texts
        return expected in texts

    try:
        _retrying_stale(driver, shown, f"the message {expected!r} after an action")
    except Exception as exc:
        raise AssertionError(f"expected the message {expected!r}, the page shows {seen}") from exc
    return expected


def test_every_page_renders_with_data(
    browser: Any, dashboard_url: str, seeded: Seeded, screenshot: Any, adapter: Any
) -> None:
    browser.get(dashboard_url + "/")
    assert "Overview" in browser.title
    overview = text_of(browser, "#live")
    assert "images" in overview and "web" in overview
    assert "3 failed" in overview and "3 succeeded" in overview  # the chart's legend
    assert text_of(browser, "tr[data-queue=images] td.running") == "1"

    browser.get(dashboard_url + "/jobs?state=waiting")
    assert seeded.waiting[1] in text_of(browser, "#live")
    assert "send_email" in text_of(browser, "#live")
    if "sqlite" in repr(adapter).lower():
        screenshot(browser, "jobs")

    browser.get(dashboard_url + "/jobs?state=running")
    assert seeded.running[0] in text_of(browser, "#live")

    browser.get(dashboard_url + "/jobs?state=succeeded&name=resize")
    assert all(job_id in text_of(browser, "#live") for job_id in seeded.succeeded)

    browser.get(dashboard_url + "/failed")
    live = text_of(browser, "#live")
    assert all(job_id in live for job_id in seeded.failed)
    assert "ValueError: image <b>too</b> large" in live  # the error as text, not markup
    if "sqlite" in repr(adapter).lower():
        screenshot(browser, "failed")

    browser.get(dashboard_url + f"/jobs/{seeded.failed[0]}")
    assert "Traceback (most recent call last)" in text_of(browser, "pre.traceback")
    assert '"image"' in text_of(browser, "pre.payload")
    if "sqlite" in repr(adapter).lower():
        screenshot(browser, "job")

    browser.get(dashboard_url + "/scheduled")
    scheduled = text_of(browser, "#live")
    assert "nightly_report" in scheduled and "every 5 minutes" in scheduled
    assert len(browser.find_elements("css selector", "ul.fires li")) == 3

    browser.get(dashboard_url + "/queues")
    assert "images" in text_of(browser, "#live")

    browser.get(dashboard_url + "/workers")
    assert "seed-host" in text_of(browser, "#live") and "4242" in text_of(browser, "#live")
    assert text_of(browser, "td.queues") == "images, web"
    assert text_of(browser, "td.job-names") == "render, resize"


def test_a_busy_hour_on_a_laptop_and_a_phone(
    browser: Any, dashboard_url: str, screenshot: Any, adapter: Any
) -> None:
    seed_busy_hour(adapter)
    browser.get(dashboard_url + "/")
    # Read every bar in one script: the page's refresh may swap the chart between two reads.
    heights = browser.execute_script(
        "return Array.from(document.querySelectorAll('.chart rect.ok'), "
        "bar => Number(bar.getAttribute('height')))"
    )
    assert len(heights) == 60
    assert sum(height > 0 for height in heights) >= 59
    if "sqlite" in repr(adapter).lower():
        screenshot(browser, "overview")
    browser.set_window_size(390, 844)
    try:
        browser.get(dashboard_url + "/")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        # Wide tables scroll inside their own box; the page itself fits the phone.
        assert width <= 400, f"the page is {width} px wide on a 390 px screen"
        if "sqlite" in repr(adapter).lower():
            screenshot(browser, "phone")
    finally:
        browser.set_window_size(1200, 900)


def test_retry_and_delete_clicks_change_the_database(
    browser: Any, dashboard_url: str, seeded: Seeded, adapter: Any
) -> None:
    first, second = seeded.failed[0], seeded.failed[1]
    browser.get(dashboard_url + "/failed")
    click(browser, f"button[data-action=retry][data-job='{first}']")
    flash(browser, "Retried 1 job.")
    retried = adapter.get_job(first)
    assert isinstance(retried, Job) and retried.attempts == 0

    click(browser, f"button[data-action=delete][data-job='{second}']", confirm=True)
    flash(browser, "Deleted 1 job.")
    assert adapter.get_job(second) is None
    assert seeded.failed[2] in text_of(browser, "#live")


def test_bulk_retry_of_a_selection(
    browser: Any, dashboard_url: str, seeded: Seeded, adapter: Any
) -> None:
    browser.get(dashboard_url + "/failed")
    click(browser, "input.select-all")
    click(browser, "button[data-bulk=retry]")
    flash(browser, f"Retried {len(seeded.failed)} jobs.")
    for job_id in seeded.failed:
        assert isinstance(adapter.get_job(job_id), Job)
    assert "No jobs here." in text_of(browser, "#live")


def test_a_script_payload_renders_as_text(browser: Any, dashboard_url: str, seeded: Seeded) -> None:
    browser.get(dashboard_url + f"/jobs/{seeded.script_job}")
    assert "<script>window.__pwned = 1</script>" in text_of(browser, "pre.payload")
    browser.get(dashboard_url + "/jobs?state=waiting")
    assert "<script>window.__pwned" in text_of(browser, "#live")
    assert browser.execute_script("return window.__pwned === undefined")


def test_the_live_part_refreshes_without_a_reload(
    browser: Any, dashboard_url: str, adapter: Any
) -> None:
    browser.get(dashboard_url + "/queues")
    assert text_of(browser, "tr[data-queue=web] td.waiting") == "1"
    browser.execute_script("window.__same_page = true")
    adapter.enqueue_many([JobRequest("render", {"i": i}).on_queue("web") for i in range(4)])
    wait_for(
        browser,
        lambda d: text_of(d, "tr[data-queue=web] td.waiting") == "5",
        "the queue table to show the new jobs",
    )
    assert browser.execute_script("return window.__same_page === true"), "the page was reloaded"


def test_a_finished_job_page_after_retry_shows_it_waiting(
    browser: Any, dashboard_url: str, seeded: Seeded, adapter: Any
) -> None:
    job_id = seeded.failed[0]
    browser.get(dashboard_url + f"/jobs/{job_id}")
    assert text_of(browser, "dd.state") == "failed"
    click(browser, f"button[data-action=retry][data-job='{job_id}']")
    flash(browser, "Retried 1 job.")
    assert not isinstance(adapter.get_job(job_id), FinishedJob)


@pytest.mark.parametrize("path", ["/", "/failed"])
def test_read_only_pages_have_no_action_buttons(
    browser: Any, adapter: Any, seeded: Seeded, path: str
) -> None:
    from bgjobs.dashboard import create_app
    from tests.dashboard.server import serve

    with serve(create_app(adapter, read_only=True)) as url:
        browser.get(url + path)
        assert "read-only" in text_of(browser, "h1")
        assert browser.find_elements("css selector", "button[data-action], button[data-bulk]") == []


def test_bulk_delete_of_waiting_jobs(
    browser: Any, dashboard_url: str, seeded: Seeded, adapter: Any
) -> None:
    browser.get(dashboard_url + "/jobs?state=waiting&name=send_email")
    doomed = seeded.waiting[1:]
    for job_id in doomed:
        click(browser, f"input[type=checkbox][value='{job_id}']")
    click(browser, "button[data-bulk=delete]", confirm=True)
    flash(browser, "Deleted 2 jobs.")
    assert all(adapter.get_job(job_id) is None for job_id in doomed)
    assert adapter.get_job(seeded.script_job) is not None


def test_cancel_clicks_cancel_waiting_and_running_jobs(
    browser: Any, dashboard_url: str, seeded: Seeded, adapter: Any
) -> None:
    waiting, running = seeded.waiting[1], seeded.running[0]
    browser.get(dashboard_url + "/jobs?state=waiting")
    click(browser, f"button[data-action=cancel][data-job='{waiting}']", confirm=True)
    flash(browser, "Cancelled 1 job.")
    cancelled = adapter.get_job(waiting)
    assert isinstance(cancelled, FinishedJob) and cancelled.state == "failed"

    browser.get(dashboard_url + f"/jobs/{running}")
    click(browser, f"button[data-action=cancel][data-job='{running}']", confirm=True)
    flash(browser, "Asked the processes running 1 job to stop.")
    still = adapter.get_job(running)
    assert isinstance(still, Job) and still.cancel_requested


def test_a_succeeded_job_shows_its_result(browser: Any, dashboard_url: str, adapter: Any) -> None:
    from bgjobs.db.adapter import Lease, Succeeded

    job = adapter.enqueue(JobRequest("compute", {"x": 2}))
    (claimed,) = adapter.reserve_jobs(
        ["compute"], queue="q", limit=1, owner="w", now=job.created_at
    )
    lease = Lease(claimed.id, "w", claimed.attempts)
    result = '{"answer": "<b>42</b>"}'
    assert adapter.finish_jobs([Succeeded(lease, result=result)], now=job.created_at) == [True]
    browser.get(dashboard_url + f"/jobs/{job.id}")
    assert '"answer": "<b>42</b>"' in text_of(browser, "pre.result")


def test_pause_and_resume_clicks_change_the_queue(
    browser: Any, dashboard_url: str, adapter: Any, screenshot: Any
) -> None:
    from datetime import UTC, datetime

    adapter.register_queues(["images", "web"], now=datetime.now(UTC))
    browser.get(dashboard_url + "/queues")
    assert text_of(browser, "tr[data-queue=images] td.state").startswith("active")
    click(browser, "tr[data-queue=images] button[data-queue-action=pause]")
    flash(browser, "Paused queue images.")
    assert adapter.paused_queues() == ["images"]
    assert text_of(browser, "tr[data-queue=images] td.state").startswith("paused")
    if "sqlite" in repr(adapter).lower():
        screenshot(browser, "queues")
    click(browser, "tr[data-queue=images] button[data-queue-action=resume]")
    flash(browser, "Resumed queue images.")
    assert adapter.paused_queues() == []


def test_a_queue_no_worker_registered_can_be_paused(
    browser: Any, dashboard_url: str, adapter: Any
) -> None:
    # Jobs were enqueued on "reports" but no worker for it ever started: an operator can
    # still stop it before the first worker comes up.
    adapter.enqueue(JobRequest("build_report", {"month": 3}).on_queue("reports"))
    browser.get(dashboard_url + "/queues")
    assert text_of(browser, "tr[data-queue=reports] td.state").startswith("active")
    click(browser, "tr[data-queue=reports] button[data-queue-action=pause]")
    flash(browser, "Paused queue reports.")
    assert adapter.paused_queues() == ["reports"]
    assert text_of(browser, "tr[data-queue=reports] td.state").startswith("paused")
