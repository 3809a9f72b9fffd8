"""The Gradio chat app over Chat (imported by `convrec chat` and app/ only; needs gradio).

Importing this package first makes Gradio and the Hugging Face hub offline: no analytics,
version check or telemetry call is ever made, whatever is imported afterwards.
"""

from __future__ import annotations

import os
import sys

# before gradio is imported: no analytics, version check or model hub calls
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
if "huggingface_hub" in sys.modules:  # imported earlier: its constants were read already
    sys.modules["huggingface_hub"].constants.HF_HUB_OFFLINE = True
    sys.modules["huggingface_hub"].constants.HF_HUB_DISABLE_TELEMETRY = True

from convrec.ui.blocks import EXAMPLES, QUEUE_SIZE, build_app
from convrec.ui.respond import CONCURRENCY, MAX_WAITING, Responder, Views, busy_text
from convrec.ui.serve import DEFAULT_HOST, DEFAULT_PORT, launch, main

__all__ = [
    "CONCURRENCY",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "EXAMPLES",
    "MAX_WAITING",
    "QUEUE_SIZE",
    "Responder",
    "Views",
    "build_app",
    "busy_text",
    "launch",
    "main",
]
