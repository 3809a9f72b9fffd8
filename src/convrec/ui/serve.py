"""Serving the app: loopback by default (GRADIO_SERVER_NAME / _PORT honoured), no share link."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import gradio as gr

from convrec.ui.blocks import build_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def launch(demo: gr.Blocks, host: str | None = None, port: int | None = None, **kwargs: Any) -> Any:
    """Launch on 127.0.0.1 (or GRADIO_SERVER_NAME / GRADIO_SERVER_PORT), never with a share link."""
    host = host or os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    env_port = os.environ.get("GRADIO_SERVER_PORT")
    port = port or (int(env_port) if env_port else DEFAULT_PORT)
    return demo.launch(server_name=host, server_port=port, share=False, **kwargs)


def main(
    data: str = "ml-100k",
    domains: Sequence[str] = (),
    host: str | None = None,
    port: int | None = None,
    adapter: str | None = None,
    llm_candidates: int | None = None,
    domain_adapters: Sequence[str] = (),
) -> None:
    """Fit one recommender per domain (about a second for ml-100k) and serve the app.

    ``domains`` are extra ``NAME=PATH`` domains (:func:`convrec.recommender.domains.parse_domain`);
    ``adapter`` the main domain's LLM adapter (default: the one shipped for it, ``"none"``:
    CF only; see :func:`convrec.recommender.domains.resolve_adapter`), whose LLM re-scores the CF
    engine's best ``llm_candidates``; ``domain_adapters`` ``NAME=ADAPTER`` for extra domains.
    """
    from convrec.recommender.domains import load_domains
    from convrec.recommender.loading import collector_paused

    with collector_paused(freeze=True):  # the process serves from here on
        app = build_app(load_domains(data, domains, adapter, llm_candidates, domain_adapters))
    launch(app, host, port)
