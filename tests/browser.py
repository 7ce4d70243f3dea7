"""Debian's Chromium for the tests that render pages in a real headless browser."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

TIMEOUT_MS = 60_000
"""Playwright's waits in the browser tests (launch, page loads, selectors, clicks).

A page is ready within a second or two on a quiet machine and took up to 15 s at load 7
on 2 cores; 60 s leaves room for a machine 5x slower. Only a page that never gets there
waits this long.
"""
