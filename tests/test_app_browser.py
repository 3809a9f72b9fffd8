"""The app in a real browser: headless Chromium (Playwright) chats and sees the ranked list."""

import gc
import importlib.util
import shutil
import struct
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if importlib.util.find_spec("playwright") is None:
    pytest.skip("playwright is not installed (pip install '.[dev]')", allow_module_level=True)
if CHROMIUM is None:
    pytest.skip("no chromium on PATH (apt-get install chromium)", allow_module_level=True)
if importlib.util.find_spec("gradio") is None:
    pytest.skip("gradio is not importable", allow_module_level=True)


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (raises when the file is not a PNG)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", head
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


@pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated")
@pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_browser_chat_shows_the_ranked_list(ml100k, loopback_only, free_port, tmp_path):
    from playwright.sync_api import sync_playwright

    from convrec import Recommender
    from convrec.ui import build_app, launch

    demo = build_app({"ml-100k": Recommender.build(ml100k)})
    launch(demo, port=free_port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{free_port}/"
    outside: list[str] = []
    shot = tmp_path / "chat.png"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1200})
                page.on(
                    "request",
                    lambda r: (
                        outside.append(r.url)
                        if urlsplit(r.url).hostname not in ("127.0.0.1", "localhost", None)
                        else None
                    ),
                )
                page.goto(url, wait_until="domcontentloaded")
                box = page.get_by_placeholder("I loved Star Wars and Fargo")
                box.fill("I loved Star Wars and Fargo")
                box.press("Enter")
                results = page.locator("#convrec-results")
                jedi = results.get_by_text("Return of the Jedi (1983)").filter(visible=True)
                jedi.first.wait_for(timeout=120_000)
                page.locator("#convrec-plot canvas, #convrec-plot svg").first.wait_for(
                    timeout=60_000
                )
                page.screenshot(path=str(shot), full_page=True)
                body = page.inner_text("body")
                domain = page.get_by_label("Domain").input_value()
            finally:
                browser.close()
    finally:
        demo.close()
        gc.collect()
    width, height = _png_size(shot)
    assert width >= 1200 and height >= 800
    assert shot.stat().st_size > 30_000  # text, a table and a chart, not a blank page
    assert "Because you like Star Wars (1977), Fargo (1996):" in body
    assert "Return of the Jedi (1983)" in body and "predicted rating" in body
    assert "share of the ranking score" in body  # the plot's title
    assert "alpha has no effect" in body  # no LLM loaded: the control says so
    assert domain.startswith("ml-100k")
    assert outside == [] and loopback_only == []
