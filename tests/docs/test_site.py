"""The built documentation site, opened in headless Chromium as a reader would.

Run by ``make docs`` after the build (marker ``docs``; not in the default suite, which does not
build the site). Pages are loaded over ``file://`` with Playwright driving Debian's chromium:
no console error, no page error, and every image of a rendered notebook actually decoded.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.docs

SITE = Path(__file__).resolve().parents[2] / "docs" / "_build" / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    if not (SITE / "index.html").exists():
        pytest.fail(f"no built site at {SITE}: run `make docs`")
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (apt-get install chromium): `make docs` installs it")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def _load(browser, relative: str):
    page = browser.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
    response = page.goto((SITE / relative).as_uri())
    page.wait_for_load_state("load")
    assert response is None or response.ok, relative
    return page, problems


def test_index(browser):
    page, problems = _load(browser, "index.html")
    assert "sofi_dask" in page.title()
    assert page.locator("a[href*='api/index.html']").count() > 0
    assert not problems, problems


def test_api_page_of_cumulants(browser):
    page, problems = _load(browser, "api/generated/sofi_dask.cumulants.html")
    text = page.inner_text("main")
    assert "cumulants" in text and "max_order" in text and "Examples" in text
    assert not problems, problems


def test_rendered_notebook_with_figures(browser):
    page, problems = _load(browser, "_generated_notebooks/sofi_walkthrough.html")
    sizes = page.eval_on_selector_all(
        "main img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(sizes) >= 3, f"expected the notebook's figures, found {len(sizes)} images"
    assert all(done and w > 0 and h > 0 for done, w, h in sizes), sizes
    assert not problems, problems
