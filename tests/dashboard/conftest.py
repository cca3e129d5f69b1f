"""Fixtures of the dashboard tests: a seeded database of each kind, served by a real uvicorn,
and one headless Chromium per test module."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bgjobs.dashboard import create_app
from tests.dashboard.seed import Seeded, seed
from tests.dashboard.server import serve

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Set to 1 to write the screenshots into docs/images (what docs/dashboard.md shows).
WRITE_SCREENSHOTS = os.environ.get("BGJOBS_WRITE_SCREENSHOTS") == "1"
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture
def seeded(adapter: Any) -> Seeded:
    return seed(adapter)


@pytest.fixture
def dashboard_url(adapter: Any, seeded: Seeded) -> Iterator[str]:
    """The dashboard of a seeded database, served on a free 127.0.0.1 port."""
    with serve(create_app(adapter)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium through chromedriver, shared by a module's tests."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        reason = (
            f"{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """save(driver, name): a PNG of the page, into docs/images when asked for, else tmp."""

    def save(driver: Any, name: str) -> Path:
        folder = DOCS_IMAGES if WRITE_SCREENSHOTS else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"dashboard-{name}.png"
        assert driver.save_screenshot(str(path)), f"no screenshot written to {path}"
        assert path.stat().st_size > 1000
        return path

    return save
