"""The dashboard in a real browser: headless Chromium driven by Selenium.

Needs Debian's ``python3-selenium``, ``chromium`` and ``chromium-driver``.
Outside CI the tests skip with that install line when one is missing; under
``CI=true`` they fail instead. ``PYRESQUE_SCREENSHOTS=docs/screenshots``
saves the README's screenshots of the seeded demo keyspace there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlencode

import pytest

from pyresque import Resque
from testsupport import free_port, wait_until

import webseed
from pyjobs_procs import Procs, env_for

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
INSTALL = "apt-get install python3-selenium chromium chromium-driver"


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "python3-selenium is not installed"
    for binary in ("chromium", "chromedriver"):
        if shutil.which(binary) is None:
            return f"{binary} is not on PATH"
    return None


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    problem = _missing()
    if problem:
        message = f"browser tests need headless Chromium: {problem}; run `{INSTALL}`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pyresque-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-extensions", "--window-size=1280,900",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def dashboard(r: Any, redis_server: str) -> Iterator[str]:
    """``pyresque web`` (waitress) on a free loopback port: its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pyresque", "web", "--port", str(port)],
                            env=env_for(redis_server), cwd=str(ROOT), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)

    def listening() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"pyresque web exited: {proc.stderr.read().decode()}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(listening, 30, "pyresque web to listen")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()


@pytest.fixture
def procs() -> Iterator[Procs]:
    p = Procs()
    try:
        yield p
    finally:
        p.kill_all()


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def visit(driver: Any, url: str) -> None:
    driver.get(url)
    wait_until(lambda: driver.execute_script("return document.readyState") == "complete", 10, f"{url} to load")


def click(driver: Any, css: str) -> None:
    """Click, accepting the confirmation dialog a dangerous action asks for, and wait for the next page."""
    from selenium.common.exceptions import NoAlertPresentException

    old = driver.find_element("css selector", "body")
    driver.find_element("css selector", css).click()
    try:
        driver.switch_to.alert.accept()
    except NoAlertPresentException:
        pass

    def reloaded() -> bool:
        try:
            old.tag_name
            return False
        except Exception:  # noqa: BLE001 - a stale element means the page changed
            return True

    wait_until(reloaded, 10, f"the page after clicking {css}")


def flash(driver: Any) -> str:
    found = driver.find_elements("css selector", "p.flash")
    return found[0].text if found else ""


def test_every_page_renders_without_console_errors_and_screenshots(chrome: Any, dashboard: str, resque: Resque) -> None:
    webseed.seed_demo(resque)
    webseed.seed_scheduler(resque)
    chrome.get_log("browser")  # drop anything earlier
    shots = os.environ.get("PYRESQUE_SCREENSHOTS")
    host = socket.gethostname()
    pages = {
        "overview": "/", "queues": "/queues", "queue": "/queue?q=mail", "failed": "/failed",
        "failure": "/failed/show?list=failed&index=1", "workers": "/workers",
        "worker": "/worker?" + urlencode({"id": f"{host}:4242:default,mail"}), "stats": "/stats",
        "delayed": "/delayed", "schedule": "/schedule",
    }
    for name, path in pages.items():
        visit(chrome, dashboard + path)
        assert "pyresque" in chrome.title, (name, chrome.title)
        assert chrome.find_elements("css selector", "main h1, main h2"), name
        if name == "overview":
            # The script draws the chart and marks the refresh: proof it ran under the CSP.
            wait_until(lambda: chrome.find_element("css selector", "body").get_attribute("data-refreshed"), 10,
                       "the overview's live refresh")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            chrome.save_screenshot(str(Path(shots) / f"{name}.png"))
        assert console_errors(chrome) == [], name


def test_overview_numbers_update_without_reloading(chrome: Any, dashboard: str, resque: Resque) -> None:
    visit(chrome, dashboard + "/")
    field = chrome.find_element("css selector", '[data-field="processed_total"]')
    assert field.text == "0"
    resque.redis.set(resque.layout.processed_stat(), 4321)
    wait_until(lambda: field.text == "4321", 15, "the processed total to update live")
    assert console_errors(chrome) == []


def test_retry_in_the_browser_runs_the_job_again_in_a_python_worker(
        chrome: Any, dashboard: str, resque: Resque, r: Any, redis_server: str, procs: Procs) -> None:
    webseed.add_failure(resque, "browser", "Quick", ["again"], "RuntimeError", "first try failed")
    webseed.add_failure(resque, "other", "Boom", ["x"], "ValueError", "boom x")
    procs.worker(redis_server, "-q", "browser", "-i", "0.1")
    visit(chrome, dashboard + "/failed?" + urlencode({"class": "Quick"}))
    rows = chrome.find_elements("css selector", "#failures tbody tr")
    assert len(rows) == 1 and "first try failed" in rows[0].text
    click(chrome, "#failures tbody tr form[action$='/failed/retry'] button")
    assert "Retried failure" in flash(chrome)
    wait_until(lambda: r.lrange("t:done", 0, -1) == [b"again"], 20, "the Python worker to run the retried job")
    record = [f for f in resque.failures.each() if f.data["payload"]["class"] == "Quick"][0]
    assert record.data["retried_at"]
    assert console_errors(chrome) == []


def test_pause_and_resume_workers_from_the_browser(
        chrome: Any, dashboard: str, resque: Resque, r: Any, redis_server: str, procs: Procs) -> None:
    procs.worker(redis_server, "-q", "paused", "-i", "0.1")
    wait_until(lambda: resque.workers(), 20, "the worker to register")
    visit(chrome, dashboard + "/workers")
    click(chrome, "#pause-state button")
    assert "Paused all workers" in flash(chrome)
    assert "All workers are paused" in chrome.find_element("id", "pause-state").text
    resque.enqueue_to("paused", "Quick", "held")
    # Paused, the worker leaves the job queued; the page says so until we resume.
    visit(chrome, dashboard + "/queue?q=paused")
    assert "held" in chrome.find_element("id", "jobs").text
    assert resque.size("paused") == 1
    visit(chrome, dashboard + "/workers")
    click(chrome, "#pause-state button")
    assert "Resumed all workers" in flash(chrome)
    wait_until(lambda: r.lrange("t:done", 0, -1) == [b"held"], 20, "the resumed worker to run the job")
    assert console_errors(chrome) == []


def test_filter_the_failed_list_and_remove_the_selected(chrome: Any, dashboard: str, resque: Resque) -> None:
    for i in range(3):
        webseed.add_failure(resque, "mail", "Mailer", [i], "Net::SMTPError", f"smtp down {i}")
    webseed.add_failure(resque, "files", "Archive", [9], "Errno::ENOENT", "missing file")
    visit(chrome, dashboard + "/failed")
    assert len(chrome.find_elements("css selector", "#failures tbody tr")) == 4
    box = chrome.find_element("css selector", "#filter input[name=exception]")
    box.send_keys("Net::SMTPError")
    click(chrome, "#filter button[type=submit]")
    rows = chrome.find_elements("css selector", "#failures tbody tr")
    assert len(rows) == 3 and all("smtp down" in row.text for row in rows)
    assert "exception=Net%3A%3ASMTPError" in chrome.current_url
    search = chrome.find_element("css selector", "#filter input[name=q]")
    search.send_keys("DOWN 1")
    click(chrome, "#filter button[type=submit]")
    rows = chrome.find_elements("css selector", "#failures tbody tr")
    assert len(rows) == 1 and "smtp down 1" in rows[0].text
    rows[0].find_element("css selector", "input[type=checkbox]").click()
    click(chrome, "#selected-form button[value=remove]")
    assert "Removed 1 selected failures" in flash(chrome)
    assert sorted(f.data["error"] for f in resque.failures.each()) == ["missing file", "smtp down 0", "smtp down 2"]
    assert console_errors(chrome) == []


def test_hostile_names_run_no_script_in_a_real_browser(chrome: Any, dashboard: str, resque: Resque) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    webseed.seed_hostile(resque)
    chrome.get_log("browser")
    name = webseed.HOSTILE[0]
    paths = ["/", "/queues", "/failed", "/workers", "/stats", "/queue?" + urlencode({"q": name}),
             "/worker?" + urlencode({"id": f"{name}:7:{name}"}), "/failed?" + urlencode({"class": name}),
             "/failed/show?list=failed&index=0"]
    for path in paths:
        visit(chrome, dashboard + path)
        with pytest.raises(NoAlertPresentException):
            chrome.switch_to.alert.text  # noqa: B018 - an alert() would mean injected script ran
        assert not chrome.find_elements("css selector", "main img, main iframe"), path
        assert console_errors(chrome) == [], path
    # The hostile name is shown as text, exactly.
    visit(chrome, dashboard + "/queue?" + urlencode({"q": name}))
    assert chrome.find_element("css selector", "h1 .name").text == name


def test_enqueue_a_delayed_job_now_from_the_browser_puts_it_on_its_queue(chrome: Any, dashboard: str, resque: Resque) -> None:
    ts = int(resque.redis.time()[0]) + 3600
    resque.enqueue_at_with_queue("later", ts, "Mailers::Reminder", 1)
    resque.enqueue_at_with_queue("later", ts, "Mailers::Reminder", 2)
    chrome.get_log("browser")
    visit(chrome, dashboard + "/delayed")
    rows = chrome.find_elements("css selector", "#delayed tbody tr")
    assert len(rows) == 1 and "2 jobs" in rows[0].text
    rows[0].find_element("css selector", "a").click()
    wait_until(lambda: "/delayed/at" in chrome.current_url, 10, "the timestamp's page")
    jobs = chrome.find_elements("css selector", "#jobs tbody tr")
    assert len(jobs) == 2 and "2" in jobs[1].text
    click(chrome, "#jobs tbody tr:nth-child(2) form[action$='/delayed/enqueue-now'] button")
    assert "Enqueued Mailers::Reminder on queue later" in flash(chrome)
    assert len(chrome.find_elements("css selector", "#jobs tbody tr")) == 1
    visit(chrome, dashboard + "/queue?q=later")
    assert "Mailers::Reminder" in chrome.find_element("id", "jobs").text
    assert resque.peek("later", 0, 5) == [{"class": "Mailers::Reminder", "args": [2]}]
    assert resque.delayed_timestamp_size(ts) == 1
    visit(chrome, dashboard + "/schedule")
    assert "No recurring schedules" in chrome.find_element("id", "schedules").text
    assert console_errors(chrome) == []
