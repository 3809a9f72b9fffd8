"""Gradio UI, thin over Chat: `python app/app.py` serves ml-100k on 127.0.0.1:7860."""

from __future__ import annotations

from convrec.ui import EXAMPLES, Responder, build_app, launch, main

__all__ = ["EXAMPLES", "Responder", "build_app", "launch", "main"]

if __name__ == "__main__":
    main()
