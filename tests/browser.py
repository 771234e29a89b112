"""Open a results page in Debian's headless Chromium through Selenium and report what the browser saw.

Nothing is downloaded: the browser is /usr/bin/chromium driven by /usr/bin/chromedriver (both from Debian's
chromium and chromium-driver packages), Selenium Manager stays offline. A test that needs the browser calls
:func:`require_browser`, which skips it with the reason when Chromium, its driver or Selenium is missing, and
fails instead when GRADCTRL_REQUIRE_FIXTURES=1 (CI, whose .ci/run installs them).
"""
import json
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def require_browser():
    """Skip (or, with GRADCTRL_REQUIRE_FIXTURES=1, fail) unless Chromium, chromedriver and Selenium are installed."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    try:
        import selenium  # noqa: F401  (only checks that it is installed)
    except ImportError:
        missing.append("the selenium package")
    if missing:
        message = (f"browser test needs {', '.join(missing)}: apt-get install chromium chromium-driver; "
                   "pip install -r requirements-test.txt")
        if os.environ.get("GRADCTRL_REQUIRE_FIXTURES") == "1":
            pytest.fail(message)
        pytest.skip(message)


def open_page(page, screenshot, width=1400, height=1000):
    """Load ``page`` (an index.html) in headless Chromium, save a full-window PNG at ``screenshot`` and return
    {"requests": [every URL the page requested], "console": [browser log entries of level SEVERE],
    "images": [{"src", "naturalWidth", "complete"}], "tables": [{"className", "rows": body rows} per table, in order], "scripts": number of script elements,
    "links": [the absolute URL of every link],
    "text": the page's visible text, "title"}. Images below the fold are scrolled into view first."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look anything up
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}", "--disable-extensions", "--no-first-run"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(Path(page).resolve().as_uri())
        driver.execute_script("document.querySelectorAll('img').forEach(function (i) { i.loading = 'eager'; });")
        driver.execute_async_script(
            "var done = arguments[arguments.length - 1];"
            "Promise.all(Array.from(document.images).map(function (i) {"
            "  return i.complete ? null : new Promise(function (r) { i.onload = i.onerror = r; }); }))"
            ".then(function () { done(); });")
        images = driver.execute_script(
            "return Array.from(document.images).map(function (i) {"
            "  return {src: i.src, naturalWidth: i.naturalWidth, complete: i.complete}; });")
        tables = driver.execute_script(
            "return Array.from(document.querySelectorAll('table')).map(function (t) {"
            "  return {className: t.className, rows: t.tBodies.length ? t.tBodies[0].rows.length : t.rows.length}; });")
        scripts = driver.execute_script("return document.scripts.length;")
        links = driver.execute_script("return Array.from(document.links).map(function (a) { return a.href; });")
        text = driver.execute_script("return document.body.innerText;")
        title = driver.title
        driver.save_screenshot(str(screenshot))
        requests = [entry["params"]["request"]["url"] for entry in
                    (json.loads(e["message"])["message"] for e in driver.get_log("performance"))
                    if entry["method"] == "Network.requestWillBeSent"]
        console = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
    return {"requests": requests, "console": console, "images": images, "tables": tables, "scripts": scripts,
            "links": links, "text": text, "title": title}


def outside(requests, folder):
    """The requested URLs that are not files inside ``folder`` (data: URLs inline, they leave nothing)."""
    root = Path(folder).resolve().as_uri() + "/"
    return [url for url in requests if not url.startswith(root) and not url.startswith("data:")]
