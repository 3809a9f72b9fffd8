"""What the `convrec` command shows on stderr: its own log lines, third-party noise only on request.

Library code logs through :mod:`logging` (``convrec.*`` loggers) and sets no handler; only the
command line decides what reaches the terminal. By default convrec's own INFO lines show (as bare
messages) and the known third-party chatter is silenced: Python warnings raised from inside
gradio, pandas, transformers, peft, accelerate, torch, bitsandbytes and huggingface_hub (e.g.
pandas deprecations from gradio at every chat message), those libraries' own loggers below ERROR
(bitsandbytes' "kernels" line at start, transformers / peft notices). ``-v`` shows all of it,
``--log-level`` sets the level of every logger. Progress bars (:mod:`convrec.progress`) show
when stderr is a terminal or with ``--progress``; ``--no-progress`` hides them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable

from convrec.progress import LOGGER_NAME as PROGRESS_LOGGER

NOISY = (
    "gradio", "gradio_client", "pandas", "transformers", "peft", "accelerate", "torch",
    "bitsandbytes", "huggingface_hub", "httpx", "urllib3", "safetensors",
)  # fmt: skip
"""Third-party packages whose warnings and log lines are hidden unless ``-v`` / ``--log-level``."""

EXTRAS = {
    "torch": "llm", "transformers": "llm", "peft": "llm", "accelerate": "llm",
    "safetensors": "llm", "bitsandbytes": "llm", "gradio": "app", "pandas": "app",
    "sacrebleu": "eval", "rouge_score": "eval",
}  # fmt: skip
"""Optional dependency (top-level module) -> the extra that installs it (see pyproject.toml)."""

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def add_log_options(parser: argparse.ArgumentParser, default: object = None) -> None:
    """``-v/--verbose`` and ``--log-level`` (``default=argparse.SUPPRESS`` on subcommands, so
    that they may come after the command without resetting a value given before it)."""
    group = parser.add_argument_group("output")
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if default is None else default,
        help="also show third-party warnings and log lines (hidden by default)",
    )
    group.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        default=default,
        metavar="LEVEL",
        help=f"level of every logger, convrec's and third-party ({', '.join(LEVELS)}); "
        "default: convrec INFO, third-party ERROR",
    )
    group.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=default,
        help="progress bars with a rate on stderr for the long stages (loading, model fits, "
        "scoring, training); default: shown when stderr is a terminal",
    )


class _Formatter(logging.Formatter):
    """convrec's INFO lines bare (they are the command's progress); others with level and name."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name.startswith("convrec") and record.levelno == logging.INFO:
            return record.getMessage()
        return f"{record.levelname.lower()}: {record.name}: {record.getMessage()}"


def configure(
    verbose: bool = False, level: str | None = None, progress: bool | None = None
) -> Callable[[], None]:
    """Route log records to stderr and silence third-party noise unless asked (see module).

    ``progress``: draw the progress bars (``None``: when stderr is a terminal).

    Call it inside ``warnings.catch_warnings()``; returns a function that puts the loggers and
    ``TRANSFORMERS_VERBOSITY`` back as they were (``main`` calls it when the command is done).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    names = ["", "convrec", PROGRESS_LOGGER, *NOISY]
    before = {name: logging.getLogger(name).level for name in names}
    env_before = os.environ.get("TRANSFORMERS_VERBOSITY")
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level or "WARNING")
    logging.getLogger("convrec").setLevel(level or "INFO")
    if progress is None:
        progress = sys.stderr.isatty()
    logging.getLogger(PROGRESS_LOGGER).setLevel("INFO" if progress else "WARNING")
    third_party = level or ("WARNING" if verbose else "ERROR")
    for name in NOISY:
        logging.getLogger(name).setLevel(third_party)
    # transformers sets its logger's level from this variable when it is first imported
    if verbose or level is not None:
        os.environ["TRANSFORMERS_VERBOSITY"] = third_party.lower()
        warnings.simplefilter("default")
    else:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        warnings.filterwarnings("ignore", module=r"(" + "|".join(NOISY) + r")(\..*)?$")

    def restore() -> None:
        root.removeHandler(handler)
        for name, old in before.items():
            logging.getLogger(name).setLevel(old)
        if env_before is None:
            os.environ.pop("TRANSFORMERS_VERBOSITY", None)
        else:
            os.environ["TRANSFORMERS_VERBOSITY"] = env_before

    return restore


def extra_hint(exc: ImportError) -> str | None:
    """The one-line message for an optional dependency that is not installed, else ``None``."""
    if 'pip install "convrec[' in str(exc):
        return str(exc)
    top = (exc.name or "").split(".")[0]
    if top not in EXTRAS:
        return None
    return f'this needs {top}, which is not installed: pip install "convrec[{EXTRAS[top]}]"'
