"""The Gradio app end to end: launched on a free localhost port, two concurrent client sessions."""

import gc
import importlib.util
import ipaddress
import socket
import threading
from pathlib import Path

import pytest

# gradio is imported by the app module itself, which must set its privacy variables first
if importlib.util.find_spec("gradio") is None or importlib.util.find_spec("gradio_client") is None:
    pytest.skip("gradio / gradio_client is not importable", allow_module_level=True)

APP = Path(__file__).resolve().parents[1] / "app" / "app.py"


def _load_app():
    spec = importlib.util.spec_from_file_location("convrec_app_under_test", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def loopback_only(monkeypatch):
    """Sockets may connect to loopback only: the app must make no outbound connection."""
    refused = []
    connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None:
            try:
                ok = ipaddress.ip_address(host).is_loopback
            except ValueError:
                ok = host == "localhost"
            if not ok:
                refused.append(host)
                raise ConnectionRefusedError(f"test forbids connecting to {host}")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return refused


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# gradio's own threads: its queue statistics use a pandas option pandas 3 deprecates, and its
# event loops / sockets are closed by the garbage collector; neither is this app's code
@pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_two_concurrent_sessions_never_mix(ml100k, loopback_only):
    from convrec import Recommender

    app = _load_app()
    import gradio_client

    demo = app.build_app({"ml-100k": Recommender.build(ml100k)})
    port = _free_port()
    app.launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        conversations = {
            "a": ["I loved Star Wars", "no horror please", "why Fargo?"],
            "b": ["I loved Toy Story", "only comedies", "why Fargo?"],
        }
        answers: dict[str, list] = {}
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def session(name: str) -> None:
            try:
                client = gradio_client.Client(url, verbose=False)
                try:
                    start.wait(timeout=30)
                    answers[name] = [
                        client.predict(message=m, api_name="/chat") for m in conversations[name]
                    ]
                finally:
                    client.close()
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=session, args=(n,)) for n in conversations]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        a, b = answers["a"], answers["b"]
        text_a, table_a = a[0]
        assert "Because you like Star Wars (1977)" in text_a
        rows = table_a["data"] if isinstance(table_a, dict) else table_a
        assert [row[0] for row in rows] == [1, 2, 3, 4, 5]
        assert rows[0][1] in text_a and 1 <= rows[0][2] <= 5 and rows[0][3] > 0  # rating, cf
        assert "Because you like Toy Story (1995)" in b[0][0]
        assert "(no Horror)" in a[1][0] and "(Comedy)" in b[1][0]
        assert "Star Wars" in a[2][0] and "Toy Story" not in a[2][0]
        assert "Toy Story" in b[2][0] and "Star Wars" not in b[2][0]
        assert loopback_only == []
    finally:
        demo.close()
        gc.collect()  # gradio's closed loops and sockets are finalised here, under the filters
        assert not any("telemetry" in t.name for t in threading.enumerate())


def test_cli_chat_subcommand_parses():
    from convrec.cli import build_parser

    args = build_parser().parse_args(["chat", "--port", "7999"])
    assert args.command == "chat" and args.port == 7999 and args.data == "ml-100k"
    assert args.host is None  # 127.0.0.1 or GRADIO_SERVER_NAME, decided at launch
    assert args.func.__name__ == "_cmd_chat"
