"""Accessibility basics checked in the browser, from the DOM and computed styles: every control
labelled, buttons that are buttons, headings in order, a skip link, live regions, and text
contrast of at least WCAG AA (4.5:1; 3:1 for large text)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

CHECKS = Path(__file__).with_name("a11y.js")


def problems(page: Page) -> list[str]:
    found: list[str] = page.evaluate(CHECKS.read_text())
    return [f"{page.url}: {problem}" for problem in found]


def focused(page: Page) -> str:
    return str(page.evaluate("document.activeElement ? document.activeElement.id : ''"))


def tab_to(page: Page, element_id: str, limit: int = 40) -> None:
    """Press Tab until the element has focus, as a keyboard user would reach it."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page) == element_id:
            return
    raise AssertionError(f"#{element_id} cannot be reached with Tab on {page.url}")


def focus_is_visible(page: Page) -> bool:
    """The focused element is drawn with a focus indicator (outline or ring)."""
    style: dict[str, str] = page.evaluate(
        """() => {
          const style = getComputedStyle(document.activeElement);
          return {outline: style.outlineStyle, width: style.outlineWidth, shadow: style.boxShadow};
        }"""
    )
    outlined = style["outline"] != "none" and style["width"] not in ("0px", "")
    return outlined or style["shadow"] != "none"
