"""A real browser for the web view's tests: Debian's chromium, driven by Playwright.

Chromium is installed with apt-get when it is missing (``tests.services.debian_package``: a
machine that cannot install it skips these tests, saying why, unless
CLOUDBRAIN_REQUIRE_SERVICES=1, where that is a failure). A failing test leaves a screenshot of
its page in ``tests/artifacts/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Dialog, Page, async_playwright

from tests.services import debian_package

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# As root in a container chromium needs --no-sandbox; the rest keeps it from reaching out to
# the network, which this machine does not have.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def ensure_chromium() -> Path:
    """Debian's chromium, installed now if it is missing."""
    return debian_package(
        "chromium",
        lambda: CHROMIUM if CHROMIUM.exists() else None,
        f"a browser for the web view's tests, {CHROMIUM},",
    )


@dataclass
class Tab:
    """A page, and the messages of every dialog (alert, confirm) it tried to show."""

    page: Page
    dialogs: list[str] = field(default_factory=list)

    async def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()


async def open_tab(request: pytest.FixtureRequest) -> AsyncIterator[Tab]:
    """A fresh headless chromium page; a screenshot of it is kept if the test fails."""
    executable = ensure_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=ARGS
        )
        tab = Tab(await browser.new_page(viewport={"width": 1280, "height": 900}))
        tab.page.on("dialog", tab._dialog)
        page = tab.page
        try:
            yield tab
        finally:
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(
                    path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True
                )
            await browser.close()
