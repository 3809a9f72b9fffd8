"""The README's Python examples run as written, as a user runs them: from the repository root, in
a fresh interpreter that imports the installed package (not the source folder)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# ```python blocks run; ```py blocks (e.g. a client of a running app) are shown, not run
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _python_blocks() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def _user_env() -> dict[str, str]:
    """The environment minus PYTHONPATH, so that ``import convrec`` finds the installed package.

    ``CONVREC_TEST_PYTHONPATH``, when set, becomes the PYTHONPATH instead: a way to try the
    examples against a source tree whose package is not installed (e.g. ``=src``)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if os.environ.get("CONVREC_TEST_PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["CONVREC_TEST_PYTHONPATH"]
    return env


def test_readme_has_python_examples():
    assert len(_python_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_readme_python_example_runs(index):
    block = _python_blocks()[index]
    before = set(os.listdir(ROOT))
    run = subprocess.run(
        [sys.executable, "-c", block],
        cwd=ROOT,
        env=_user_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"README example {index} failed:\n{block}\n{run.stderr[-4000:]}"
    assert run.stdout.strip(), f"README example {index} printed nothing"
    # an example run from the root must leave the clone as it was
    assert set(os.listdir(ROOT)) == before
