"""The scheduled pages in a real headless Chromium, against SQLite and PostgreSQL: history
and paused state render, Pause and Resume clicks change the database, read-only has no
buttons.

The live part of a page is replaced every few seconds, so these tests never hold an
element across a wait: each look finds the element again, and a look that meets a
replaced one (stale) simply tries again until the bounded wait runs out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bgjobs.dashboard import create_app
from tests.dashboard.schedule_seed import ERROR, NOTE, seed_schedules
from tests.dashboard.server import serve

WAIT_SECONDS = 20


def wait_for(driver: Any, condition: Callable[[Any], Any], what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS).until(condition, message=f"waited for {what}")


def text_now(driver: Any, css: str) -> str | None:
    """The text of the first element matching `css` as the page is now; None if there is
    none, or it was replaced while being read."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        found = driver.find_elements(By.CSS_SELECTOR, css)
        return str(found[0].text) if found else None
    except StaleElementReferenceException:
        return None


def wait_text(driver: Any, css: str, wanted: Callable[[str], bool], what: str) -> str:
    def seen(d: Any) -> str | None:
        text = text_now(d, css)
        return text if text is not None and wanted(text) else None

    return str(wait_for(driver, seen, what))


def count_now(driver: Any, css: str) -> int:
    from selenium.webdriver.common.by import By

    return len(driver.find_elements(By.CSS_SELECTOR, css))


def click(driver: Any, css: str) -> None:
    """Click the element matching `css`, found afresh on each try."""
    from selenium.common.exceptions import (
        ElementClickInterceptedException,
        ElementNotInteractableException,
        StaleElementReferenceException,
    )
    from selenium.webdriver.common.by import By

    def clicked(d: Any) -> bool:
        try:
            found = d.find_elements(By.CSS_SELECTOR, css)
            if not found:
                return False
            found[0].click()
            return True
        except (
            StaleElementReferenceException,
            ElementClickInterceptedException,
            ElementNotInteractableException,
        ):
            return False

    wait_for(driver, clicked, f"a click on {css}")


def flash_is(driver: Any, message: str) -> None:
    wait_text(driver, "p.flash", lambda text: text == message, f"the message {message!r}")


def paused(adapter: Any) -> dict[str, bool]:
    return {row.key: row.paused for row in adapter.schedules.list()}


def is_sqlite(adapter: Any) -> bool:
    return "sqlite" in repr(adapter).lower()


def test_the_scheduled_pages_show_history_and_paused_state(
    browser: Any, dashboard_url: str, adapter: Any, screenshot: Any
) -> None:
    seed_schedules(adapter)
    browser.get(dashboard_url + "/scheduled")
    wait_text(
        browser,
        "tr[data-key=eu-report] td.state",
        lambda text: text.startswith("paused"),
        "the runtime schedule shown paused",
    )
    assert "added at runtime" in (text_now(browser, "tr[data-key=eu-report]") or "")
    assert count_now(browser, "tr[data-key=nightly] ul.runs li") == 3  # the last three
    runs = text_now(browser, "tr[data-key=nightly] ul.runs") or ""
    assert [line.split(": ")[-1] for line in runs.splitlines()] == [
        "succeeded",
        "skipped",
        "failed",
    ]
    assert count_now(browser, "button[data-schedule-action=resume][data-key=eu-report]") == 1
    if is_sqlite(adapter):
        screenshot(browser, "scheduled")

    click(browser, "tr[data-key=nightly] td.runs a")
    wait_for(
        browser,
        lambda d: count_now(d, "table.history tr.run") == 4,
        "the schedule's page with its four runs",
    )
    assert text_now(browser, "h1") == "Schedule nightly"
    assert text_now(browser, "table.history tr.run.failed td.error") == ERROR  # text, not markup
    assert text_now(browser, "table.history tr.run.skipped td.note") == NOTE
    if is_sqlite(adapter):
        screenshot(browser, "schedule")


def test_pause_and_resume_clicks_change_the_schedule(
    browser: Any, dashboard_url: str, adapter: Any
) -> None:
    seed_schedules(adapter)
    browser.get(dashboard_url + "/scheduled")
    click(browser, "button[data-schedule-action=pause][data-key=nightly]")
    flash_is(browser, "Paused schedule nightly.")
    wait_for(browser, lambda _: paused(adapter)["nightly"], "nightly paused in the database")
    wait_text(
        browser,
        "tr[data-key=nightly] td.state",
        lambda text: text.startswith("paused"),
        "nightly shown paused",
    )

    click(browser, "button[data-schedule-action=resume][data-key=nightly]")
    flash_is(browser, "Resumed schedule nightly.")
    wait_for(browser, lambda _: not paused(adapter)["nightly"], "nightly active in the database")
    wait_text(
        browser,
        "tr[data-key=nightly] td.state",
        lambda text: text.startswith("waiting"),
        "nightly shown waiting",
    )

    # From a schedule's own page, back to that page.
    browser.get(dashboard_url + "/scheduled/eu-report")
    click(browser, "button[data-schedule-action=resume][data-key=eu-report]")
    flash_is(browser, "Resumed schedule eu-report.")
    wait_for(browser, lambda _: not paused(adapter)["eu-report"], "eu-report active")
    assert browser.current_url.startswith(dashboard_url + "/scheduled/eu-report?done=")


def test_read_only_has_no_schedule_buttons(browser: Any, adapter: Any) -> None:
    seed_schedules(adapter)
    with serve(create_app(adapter, read_only=True)) as url:
        for path in ("/scheduled", "/scheduled/eu-report"):
            browser.get(url + path)
            wait_text(browser, "#live", lambda text: "paused" in text, f"{path} rendered")
            assert count_now(browser, "button[data-schedule-action]") == 0
            assert count_now(browser, "form[action*='/actions/']") == 0
