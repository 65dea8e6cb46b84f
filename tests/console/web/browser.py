"""Debian's Chromium driven by Playwright, in a thread of its own for the whole session.

Playwright's sync API keeps an event loop running in the thread that starts it, which would stop
`asyncio.run` (used by fixtures and helpers) in the main thread; so the browser lives in its own
thread, and each scenario is a function run there with a fresh context and page.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "var" / "screenshots"
T = TypeVar("T")

Job = tuple[Callable[[Browser], Any], "Future[Any]"] | None


class BrowserThread:
    def __init__(self) -> None:
        self.jobs: queue.Queue[Job] = queue.Queue()
        self.ready: Future[str] = Future()
        self.thread = threading.Thread(target=self.serve, name="chromium", daemon=True)

    def start(self) -> BrowserThread:
        self.thread.start()
        self.ready.result(timeout=60)  # raises what stopped the launch
        return self

    def serve(self) -> None:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
                self.ready.set_result(browser.version)
                while (job := self.jobs.get()) is not None:
                    work, result = job
                    try:
                        result.set_result(work(browser))
                    except BaseException as error:  # handed to the test, in the main thread
                        result.set_exception(error)
                browser.close()
        except BaseException as error:
            if not self.ready.done():
                self.ready.set_exception(error)

    def run(self, work: Callable[[Browser], T]) -> T:
        result: Future[T] = Future()
        self.jobs.put((work, result))
        return result.result(timeout=180)

    def visit(self, base_url: str | None, scenario: Callable[[Page], T], name: str = "") -> T:
        """Run `scenario` on a new page of a new context (its own cookies) at `base_url`; on
        failure, a screenshot of where it stopped."""

        def work(browser: Browser) -> T:
            context = browser.new_context(
                base_url=base_url, viewport={"width": 1280, "height": 900}
            )
            context.set_default_timeout(10_000)
            page = context.new_page()
            try:
                return scenario(page)
            except BaseException:
                if name:
                    shoot(page, f"failed-{name}")
                raise
            finally:
                context.close()

        return self.run(work)

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=30)


def shoot(page: Page, name: str) -> Path:
    """A screenshot for people to review, under var/screenshots (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
