"""Headless Chromium from Debian, driven by Selenium with the system chromedriver.

Nothing is downloaded and nothing phones home: Selenium Manager is never asked (the driver and
browser paths are given, and SE_MANAGER_PATH points at a program that fails), Selenium's
statistics are off, and Chromium runs with its background networking, updates, sync, metrics and
safe-browsing off and every host name except 127.0.0.1 unresolvable.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import debian

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_PACKAGES = ("chromium", "chromium-driver")

CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",  # the suite runs as root
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--window-size=1500,1000",
    "--lang=en-US",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--disable-field-trial-config",
    "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,"
    "CertificateTransparencyComponentUpdater,DialMediaRouteProvider,InterestFeedContentSuggestions",
    "--safebrowsing-disable-auto-update",
    "--metrics-recording-only",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
    "--password-store=basic",
    "--use-mock-keychain",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def ensure_installed() -> list[str]:
    """Installs Debian's chromium and chromium-driver when either is missing; returns the log."""
    return debian.ensure_installed(APT_PACKAGES, (CHROMIUM, CHROMEDRIVER))


@contextmanager
def chromium(workdir: Path) -> Iterator:
    """A fresh headless Chromium (own profile and download directory under `workdir`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_AVOID_STATS"] = "true"
    os.environ["SE_MANAGER_PATH"] = shutil.which("false") or "/bin/false"
    downloads = workdir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={workdir / 'profile'}")
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "download.directory_upgrade": True,
            "safebrowsing.enabled": False,
            "credentials_enable_service": False,
        },
    )
    service = Service(
        executable_path=str(CHROMEDRIVER), log_output=str(workdir / "chromedriver.log")
    )
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_file(directory: Path, name: str, timeout: float = 60.0) -> Path:
    """The downloaded file once Chromium has finished it (no `.crdownload` left)."""
    deadline = time.monotonic() + timeout
    target = directory / name
    while time.monotonic() < deadline:
        partial = list(directory.glob("*.crdownload"))
        if target.exists() and not partial:
            return target
        time.sleep(0.2)
    raise AssertionError(f"{name} not downloaded within {timeout}s: {sorted(directory.iterdir())}")


def screenshot(driver, directory: Path, name: str, record: Callable[[str], None]) -> Path:
    path = directory / f"{name}.png"
    driver.save_screenshot(str(path))
    record(f"screenshot: {path}")
    print(f"screenshot: {path}")
    return path
