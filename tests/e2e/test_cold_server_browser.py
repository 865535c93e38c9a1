"""The first visitor of a freshly started server, in a real browser (Debian's chromium via Playwright)
against ``streamlit run app.py`` on a free port with a temporary data folder. No warm-up visit: each
test starts its own server and its browser session is the server's first.

- the first "Sign in" submit signs in (the navigation appears), first try;
- a deep link (/groups, the Clusters page) shows no "Page not found" and signing in lands on it.

Until app.py set Streamlit's pages-folder flag at import, the first session of a server ran
dashboard.py through Streamlit's legacy ``pages/``-folder router (``pages/`` sits next to
dashboard.py): its form got other widget ids than in the next run, so the first submit was dropped,
and /groups was "not found" by that router.

Run with ``python -m pytest -m browser tests/e2e/test_cold_server_browser.py``.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.serverproc import Server, base_env

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]


@pytest.fixture()
def cold(tmp_path: Path):
    """A freshly started server that no browser has visited yet: (base URL, admin password)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    password = "Cold-" + secrets.token_urlsafe(12)
    env = base_env(tmp_path, COHORTLENS_ADMIN_PASSWORD=password, CLUSTER_JOB_ENABLED="0")
    subprocess.run([sys.executable, "-c", "import io\nfrom storage import open_store\n"
                    "from ui.auth import ensure_admin\nensure_admin(open_store(), out=io.StringIO())\n"],
                   cwd=ROOT, env=env, check=True, timeout=120)
    server = Server(tmp_path, env)
    try:
        server.wait_ready(timeout=90)
    except RuntimeError as exc:
        pytest.fail(f"the server did not start: {exc}")
    yield {"base": server.base, "password": password, "chromium": chromium}
    server.stop(timeout=10)
    text = server.log()
    assert "Traceback" not in text, text[-3000:]
    assert password not in text


def _settle(page) -> None:
    """Wait until the script run ends (the running indicator is gone)."""
    page.wait_for_timeout(400)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=60_000)


def _sign_in_once(page, password: str) -> None:
    """What a person does: wait for the form, type, press Sign in ONCE (no retry)."""
    page.get_by_role("textbox", name="Username").wait_for(timeout=90_000)
    _settle(page)
    page.get_by_role("textbox", name="Username").fill("admin")
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _signed_in(page, heading: str) -> None:
    """Wait for the signed-in page: navigation, Sign out, the page's heading, no sign-in form. (The
    navigation can be drawn a moment before the rest of the run, so each is waited for.)"""
    page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=60_000)
    page.get_by_role("button", name="Sign out").wait_for(timeout=60_000)
    page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
    _settle(page)
    page.get_by_role("button", name="Sign out").wait_for(timeout=30_000)
    assert page.get_by_role("textbox", name="Password").count() == 0


def _not_found(page) -> int:
    return page.get_by_text("Page not found").count()


def test_first_sign_in_on_a_cold_server_works_first_try(cold):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=cold["chromium"], args=ARGS)
        page = browser.new_page()
        sent: list[tuple[str, str]] = []
        page.on("request", lambda r: sent.append((r.method, r.url)))
        page.goto(cold["base"] + "/")
        _sign_in_once(page, cold["password"])
        # a lost submit leaves the (cleared) form and no navigation: these waits then time out
        _signed_in(page, "Overview")
        # the cookie came from a POST of the one-time ticket: no URL the browser asked for carries it
        assert ("POST", cold["base"] + "/auth/session") in sent, sent
        assert not [u for _, u in sent if "ticket" in u], sent
        assert _not_found(page) == 0
        browser.close()


def test_deep_link_on_a_cold_server_signs_in_on_that_page(cold):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=cold["chromium"], args=ARGS)
        page = browser.new_page()
        page.goto(cold["base"] + "/groups")  # the Clusters page
        page.get_by_role("textbox", name="Username").wait_for(timeout=90_000)
        _settle(page)
        assert _not_found(page) == 0, "Streamlit's 'Page not found' over the sign-in form"
        assert "/groups" in page.url
        _sign_in_once(page, cold["password"])
        _signed_in(page, "Clusters")
        assert "/groups" in page.url
        assert _not_found(page) == 0
        browser.close()
