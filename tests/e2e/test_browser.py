"""The dashboard in a real browser: Debian's chromium driven by Playwright (no `playwright install`).

Starts ``streamlit run app.py`` on a free port with a temporary data folder filled by the real
pipeline, signs in, opens every page, presses Run now and waits for the new run, checks that the
plotly charts drew, and saves a screenshot of each page (test-results/screenshots/, or COHORTLENS_SCREENSHOTS).
Run with ``python -m pytest -m browser tests/e2e``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.server.serverproc import Server

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
#: where screenshots go: test-results/screenshots by default (git-ignored); set
#: COHORTLENS_SCREENSHOTS=docs/screenshots to refresh the ones the README shows.
SHOTS = ROOT / os.environ.get("COHORTLENS_SCREENSHOTS", "test-results/screenshots")
ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
#: navigation label -> (screenshot name, minimum number of drawn plotly charts)
PAGES = {
    "Overview": ("overview", 0),
    "Clusters": ("clusters", 3),
    "Transitions": ("transitions", 2),
    "Diagnostics": ("diagnostics", 4),
    "Activity": ("activity", 1),
    "Jobs": ("jobs", 0),
    "Import": ("import", 0),
    "Settings": ("settings", 0),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    data = tmp_path_factory.mktemp("cohortlens_e2e")
    password = "e2e-" + secrets.token_urlsafe(10)
    teacher_password = "e2e-t-" + secrets.token_urlsafe(10)
    env = {**os.environ, "COHORTLENS_DATA_DIR": str(data), "COHORTLENS_ADMIN_PASSWORD": password,
           "COHORTLENS_COOKIE_KEY": secrets.token_urlsafe(40), "COHORTLENS_BOOTSTRAP": "0",
           "CLUSTER_JOB_ENABLED": "0", "COHORTLENS_LANGUAGE": "en", "COHORTLENS_SOURCE": "demo", "COHORTLENS_TIMEZONE": "UTC",
           "COHORTLENS_LLM_ENABLED": "0"}
    env.pop("MONGODB_URI", None)
    env.pop("MOODLE_URL", None)
    # fill the store with real runs first (a subprocess, so this test process holds no store open)
    fill = ("import sys; from datetime import UTC, datetime, timedelta\n"
            "from jobs.config import load_config\nfrom jobs.pipeline import run_course\n"
            "from storage import open_store\n"
            "s = open_store(); c = load_config(); now = datetime.now(UTC)\n"
            "for w in (3, 2, 1): run_course(101, source='demo', store=s, as_of=now - timedelta(weeks=w), config=c)\n"
            "run_course(102, source='demo', store=s, as_of=now - timedelta(weeks=1), config=c)\n"
            "import os\nfrom ui.auth import make_user\n"
            "s.users.upsert(make_user('teacher', os.environ['E2E_TEACHER_PASSWORD'], role='instructor',"
            " name='Lan Nguyen', courses=[101]))\n")
    subprocess.run([sys.executable, "-c", fill], cwd=ROOT, env={**env, "E2E_TEACHER_PASSWORD": teacher_password},
                   check=True, timeout=600)
    server = Server(data, env)
    try:
        server.wait_ready(timeout=60)
    except RuntimeError as exc:
        pytest.fail(f"streamlit did not start: {exc}")
    yield {"base": server.base, "password": password, "chromium": chromium, "data": data,
           "teacher_password": teacher_password}
    server.stop(timeout=10)
    assert "Traceback" not in (data / "server.log").read_text(), (data / "server.log").read_text()[-3000:]


def _settle(page) -> None:
    """Wait until the script run ends (the running indicator is gone)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=60_000)


def _charts_drawn(page, n: int) -> None:
    if n:
        page.wait_for_function(
            "n => document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot .main-svg').length >= n",
            arg=n, timeout=60_000)


def test_every_page_run_now_and_screenshots(server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=server["chromium"], args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1700})
        page.goto(server["base"])
        # the first run adds ?lang= to the URL and reruns: type once the form has settled (as a person does)
        page.get_by_role("textbox", name="Username").wait_for(timeout=90_000)
        _settle(page)
        page.get_by_role("textbox", name="Username").fill("admin")
        page.get_by_role("textbox", name="Password").fill(server["password"])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Overview").wait_for(timeout=60_000)
        _settle(page)
        assert page.get_by_text("Traceback").count() == 0

        for label, (name, charts) in PAGES.items():
            page.locator('[data-testid="stSidebarNav"] a', has_text=label).first.click()
            heading = "Import a Moodle log" if label == "Import" else label
            page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
            _settle(page)
            _charts_drawn(page, charts)
            assert page.locator('[data-testid="stException"]').count() == 0, label
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

        # Run now: the job id shows at once, the progress follows, then the new run
        page.locator('[data-testid="stSidebarNav"] a', has_text="Jobs").first.click()
        page.get_by_role("button", name=re.compile(r"Run now for 101")).click()
        page.get_by_text(re.compile(r"Job queued: ")).first.wait_for(timeout=30_000)
        page.get_by_text(re.compile(r"finished: succeeded")).first.wait_for(timeout=240_000)
        page.get_by_text(re.compile(r"New run: k = \d+")).first.wait_for(timeout=30_000)
        _settle(page)
        page.screenshot(path=str(SHOTS / "jobs_run_now.png"), full_page=True)
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        page.locator('[data-testid="stSidebarNav"] a', has_text="Clusters").first.click()
        page.get_by_text(re.compile(rf"Run of {today}")).first.wait_for(timeout=60_000)
        _charts_drawn(page, 3)
        browser.close()
    assert all((SHOTS / f"{n}.png").stat().st_size > 10_000 for n, _ in PAGES.values())
    assert (datetime.now(UTC) - timedelta(minutes=30)).timestamp() < (SHOTS / "jobs_run_now.png").stat().st_mtime


def _nav(page, label: str, heading: str, charts: int = 0) -> None:
    link = page.locator('[data-testid="stSidebarNav"] a', has_text=re.compile(rf"{re.escape(label)}\s*$")).first
    for attempt in range(3):  # a click during a rerun that is still drawing the page can be lost
        link.click()
        try:
            page.get_by_role("heading", name=heading).first.wait_for(timeout=20_000 * (attempt + 1))
            break
        except Exception:
            if attempt == 2:
                raise
    _settle(page)
    _charts_drawn(page, charts)
    assert page.locator('[data-testid="stException"]').count() == 0, label


def _texts(page, selector: str) -> list[str]:
    return [x.strip() for x in page.locator(selector).all_inner_texts() if x.strip()]


def _pick_options(page, label: str, n: int) -> None:
    box = page.locator('[data-testid="stMultiSelect"]', has_text=label)
    for _ in range(n):
        box.locator("input").click()
        page.get_by_role("option").filter(has_text=" · ").first.click()  # not "Select all"
        page.keyboard.press("Escape")
        _settle(page)


def test_instructor_acts_in_both_languages(server):
    """Sign in as an instructor, message two students from the action list through the demo Moodle, see
    the contacts logged, switch to Vietnamese and see every generated text change (and survive a reload),
    open a student page and download the course report PDF."""
    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=server["chromium"], args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1500}, accept_downloads=True)
        page.goto(server["base"] + "/?lang=en")
        page.get_by_role("textbox", name="Username").fill("teacher")
        page.get_by_role("textbox", name="Password").fill(server["teacher_password"])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Overview").wait_for(timeout=60_000)
        _settle(page)

        # English texts generated by the runs, to compare after the switch
        _nav(page, "Clusters", "Clusters", 3)
        groups_en = _texts(page, '[data-testid="stMarkdownContainer"] h4')
        assert groups_en
        _nav(page, "Diagnostics", "Diagnostics", 4)
        vote_en = page.get_by_text(re.compile(r"^Why k = ")).first.inner_text()
        _nav(page, "Transitions", "Transitions", 2)
        page.screenshot(path=str(SHOTS / "transitions.png"), full_page=True)
        _nav(page, "Activity", "Activity", 1)
        page.get_by_text(re.compile(r"Report period: \d{4}-\d\d-\d\d to ")).first.wait_for(timeout=30_000)
        _nav(page, "Jobs", "Jobs")
        page.get_by_text(re.compile(r"Schedule: every day at \d\d:\d\d")).first.wait_for(timeout=30_000)  # no cron

        # the action list: message two students through the demo Moodle
        _nav(page, "Action list", "Action list")
        page.get_by_text(re.compile(r"students need attention")).first.wait_for()
        page.screenshot(path=str(SHOTS / "actions.png"), full_page=True)
        _pick_options(page, "Students to message", 2)
        chips_en = _texts(page, '[data-testid="stMultiSelect"] [data-tag] > span[title]')
        assert len(chips_en) == 2
        page.get_by_role("button", name="Send to 2 students").click()
        page.get_by_text("Sent 2 messages").first.wait_for(timeout=60_000)
        _settle(page)
        contacted = page.locator('[data-testid="stMetric"]', has_text="Students contacted")
        assert contacted.locator('[data-testid="stMetricValue"]').inner_text().strip() == "2"
        page.screenshot(path=str(SHOTS / "actions_sent.png"), full_page=True)

        # switch to Vietnamese: every generated text changes, and a reload keeps the language and the page
        page.locator('[data-testid="stSidebar"]').get_by_role("radio", name="Tiếng Việt").click()
        page.get_by_role("heading", name="Danh sách cần liên hệ").first.wait_for(timeout=60_000)
        _settle(page)
        page.wait_for_function(  # the English widget (a stale element) leaves once the rerun has drawn
            "() => document.querySelectorAll('[data-testid=\"stMultiSelect\"] [data-tag] > span[title]').length == 2",
            timeout=30_000)
        chips_vi = _texts(page, '[data-testid="stMultiSelect"] [data-tag] > span[title]')
        assert len(chips_vi) == 2 and chips_vi != chips_en
        assert page.locator('[data-testid="stMetric"]', has_text="Sinh viên đã liên hệ").count() == 1
        page.reload()
        page.get_by_role("heading", name="Danh sách cần liên hệ").first.wait_for(timeout=60_000)
        _settle(page)
        page.screenshot(path=str(SHOTS / "actions_vi.png"), full_page=True)
        with page.expect_download(timeout=120_000) as download:
            page.get_by_role("button", name="Báo cáo khóa học (PDF)").click()
        pdf_path = server["data"] / "report_vi.pdf"
        download.value.save_as(pdf_path)
        reader = PdfReader(str(pdf_path))
        text = " ".join(p.extract_text() for p in reader.pages)
        assert len(reader.pages) >= 2 and "Báo cáo khóa học" in text and "Sinh viên cần liên hệ" in text

        _nav(page, "Nhóm sinh viên", "Nhóm sinh viên", 3)
        groups_vi = _texts(page, '[data-testid="stMarkdownContainer"] h4')
        assert groups_vi and not set(groups_vi) & set(groups_en), (groups_en, groups_vi)
        _nav(page, "Chẩn đoán", "Chẩn đoán", 4)
        vote_vi = page.get_by_text(re.compile(r"^Vì sao k = ")).first.inner_text()
        assert "được chọn" in vote_vi and "chosen" not in vote_vi and vote_vi != vote_en

        # one student's page, in Vietnamese: a student contacted above, with that contact listed
        _nav(page, "Sinh viên", "Sinh viên", 5)
        # The demo's names repeat (about 300 first/last name pairs), and the action list's chips show no
        # id: try every student of that name ("Name (id)" options) until the one contacted is shown.
        name = chips_en[0].split(" · ")[0]
        same_name = re.compile(rf"^{re.escape(name)} \(\d+\)$")
        listed = []
        for attempt in range(4):
            page.locator('[data-testid="stSelectbox"]', has_text="Sinh viên").last.locator("input").fill(name)
            options = page.get_by_role("option", name=same_name)
            options.first.wait_for(timeout=30_000)
            if attempt >= options.count():
                break
            options.nth(attempt).click()
            _settle(page)
            page.get_by_role("heading", name=name).first.wait_for(timeout=30_000)
            _charts_drawn(page, 5)
            assert page.get_by_role("heading", name="Các lần liên hệ").count() == 1
            listed.append(page.get_by_text("Chưa liên hệ sinh viên nào.").count() == 0)
            if listed[-1]:
                break
        assert listed and listed[-1], f"no student named {name!r} shows the contact ({len(listed)} tried)"
        page.screenshot(path=str(SHOTS / "student.png"), full_page=True)
        browser.close()
