"""Sessions in a real browser (Debian's chromium via Playwright) against ``streamlit run app.py`` (the
st.App with the sign-in routes of ui/web.py) on a free port with a temporary data folder.

- a sign-in on a deep link returns to that page, sets an HttpOnly SameSite cookie and survives 10 reloads;
- a reload after an admin changed the user's password lands on the sign-in form;
- 10 wrong passwords lock the user: the right password is then refused too.

Run with ``python -m pytest -m browser tests/e2e/test_sessions_browser.py``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.serverproc import Server

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
USERS = {"teacher": "tch-" + secrets.token_urlsafe(10), "locky": "lck-" + secrets.token_urlsafe(10),
         "polyglot": "plg-" + secrets.token_urlsafe(10)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    data = tmp_path_factory.mktemp("cohortlens_sessions")
    admin = "adm-" + secrets.token_urlsafe(10)
    env = {**os.environ, "COHORTLENS_DATA_DIR": str(data), "COHORTLENS_ADMIN_PASSWORD": admin,
           "COHORTLENS_BOOTSTRAP": "0", "CLUSTER_JOB_ENABLED": "0", "COHORTLENS_LANGUAGE": "en",
           "COHORTLENS_SOURCE": "demo", "COHORTLENS_LLM_ENABLED": "0"}
    env.pop("MONGODB_URI", None)
    make = ("import io, sys\nfrom storage import open_store\nfrom ui.auth import ensure_admin, make_user\n"
            "s = open_store(); ensure_admin(s, out=io.StringIO())\n"
            "for name, pw in zip(sys.argv[1::2], sys.argv[2::2]):\n"
            "    s.users.upsert(make_user(name, pw, role='instructor', courses=[101]))\n")
    args = [a for kv in USERS.items() for a in kv]
    subprocess.run([sys.executable, "-c", make, *args], cwd=ROOT, env=env, check=True, timeout=120)
    server = Server(data, env)
    try:
        server.wait_ready(timeout=90)
    except RuntimeError as exc:
        pytest.fail(f"the server did not start: {exc}")
    yield {"base": server.base, "chromium": chromium, "env": env, "data": data}
    server.stop(timeout=10)
    text = (data / "server.log").read_text()
    assert "Traceback" not in text, text[-3000:]
    for pw in USERS.values():
        assert pw not in text


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=server["chromium"], args=ARGS)
        yield b
        b.close()


def _settle(page) -> None:
    page.wait_for_timeout(400)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=60_000)


def _sign_in(page, username: str, password: str) -> None:
    page.get_by_role("textbox", name="Username").wait_for(timeout=60_000)
    _settle(page)
    page.wait_for_timeout(500)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    # the form clears on submit: an empty password field means this attempt reached the server
    page.wait_for_function("() => { const e = document.querySelector('input[type=password]');"
                           " return !e || e.value === ''; }", timeout=60_000)
    _settle(page)


def _signed_in(page) -> bool:
    """True once the Sign out button is there; False when the sign-in form is shown instead."""
    signed = page.get_by_role("button", name="Sign out")
    form = page.get_by_role("textbox", name="Username")
    signed.or_(form).first.wait_for(timeout=60_000)
    _settle(page)
    page.wait_for_timeout(1500)  # a sign-in redirect (cookie route) may still be on its way
    _settle(page)
    signed.or_(form).first.wait_for(timeout=60_000)
    return signed.count() == 1 and form.count() == 0


def test_sign_in_returns_to_the_deep_link_and_survives_ten_reloads(server, browser):
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(server["base"] + "/usage")
    _sign_in(page, "teacher", USERS["teacher"])
    page.wait_for_url("**/usage*", timeout=30_000)
    assert _signed_in(page)
    cookie = next(c for c in ctx.cookies() if c["name"] == "cohortlens_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("cohortlens_session") == -1  # not readable by scripts
    for i in range(10):
        page.reload()
        assert _signed_in(page), f"signed out after reload {i + 1}"
        assert "/usage" in page.url
    ctx.close()


def test_the_language_survives_a_reload(server, browser):
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(server["base"] + "/moves")
    _sign_in(page, "polyglot", USERS["polyglot"])
    assert _signed_in(page)
    page.get_by_role("radio", name="Tiếng Việt").or_(page.get_by_text("Tiếng Việt")).first.click()
    page.get_by_role("button", name="Đăng xuất").wait_for(timeout=60_000)
    _settle(page)
    for _ in range(2):
        page.reload()
        page.get_by_role("button", name="Đăng xuất").wait_for(timeout=60_000)
        assert "/moves" in page.url
    ctx.close()


def test_reload_after_an_admin_changed_the_password_lands_on_the_form(server, browser):
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(server["base"] + "/")
    _sign_in(page, "teacher", USERS["teacher"])
    assert _signed_in(page)
    change = ("from storage import open_store\nfrom ui.users_admin import save_user\n"
              "save_user(open_store(), 'teacher', name='Teacher', password='new-' + 'Pass-12345', "
              "role='instructor', courses=[101])\n")
    subprocess.run([sys.executable, "-c", change], cwd=ROOT, env=server["env"], check=True, timeout=120)
    page.reload()
    assert not _signed_in(page)
    assert page.get_by_role("textbox", name="Password").count() == 1
    ctx.close()


def test_ten_wrong_passwords_lock_the_user(server, browser):
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(server["base"] + "/")
    for _ in range(10):
        _sign_in(page, "locky", "wrong-" + secrets.token_hex(4))
        page.get_by_text("Wrong username or password.").wait_for(timeout=30_000)
    _sign_in(page, "locky", USERS["locky"])
    page.get_by_text("Too many failed sign-ins").wait_for(timeout=30_000)
    assert not _signed_in(page)
    page.reload()
    assert not _signed_in(page)
    ctx.close()


def test_a_damaged_store_shows_the_maintenance_page_to_everyone(server, browser, tmp_path):
    """A truncated users file: the server starts, every visitor sees the maintenance message (no
    traceback, no server path), and the file is left exactly as it was."""
    import hashlib

    data = tmp_path / "damaged"
    env = {**server["env"], "COHORTLENS_DATA_DIR": str(data)}
    subprocess.run([sys.executable, "-c", "import io\nfrom storage import open_store\nfrom ui.auth import ensure_admin\n"
                    "ensure_admin(open_store(), out=io.StringIO())\n"], cwd=ROOT, env=env, check=True, timeout=120)
    users = data / "cohortlens" / "users"
    users.write_bytes(users.read_bytes()[:5000])
    digest = hashlib.sha256(users.read_bytes()).hexdigest()
    server = Server(data, env)
    try:
        server.wait_ready(timeout=90)
        page = browser.new_page()
        for path in ("/", "/groups", "/admin"):
            page.goto(server.base + path)
            page.get_by_text("CohortLens is under maintenance").wait_for(timeout=60_000)
            page.get_by_text("Damaged: users").wait_for(timeout=60_000)
            _settle(page)
            body = page.inner_text("body")
            assert "Traceback" not in body and str(tmp_path) not in body
            assert page.get_by_role("textbox", name="Password").count() == 0
        page.close()
    finally:
        server.stop(timeout=10)
    assert hashlib.sha256(users.read_bytes()).hexdigest() == digest
    text = server.log()
    assert str(users) in text  # the operator's log names the file
