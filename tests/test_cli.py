"""The convrec console script: help on every subcommand, eval JSON, clear errors, light import."""

import json
import subprocess
import sys

import pytest

from convrec.cli import build_parser, main


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


@pytest.mark.parametrize("command", [None, *_subcommands()])
def test_help_on_every_subcommand(command, capsys):
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "usage: convrec" in capsys.readouterr().out


def test_eval_protocol_a_writes_the_documented_json(tmp_path, capsys):
    out = tmp_path / "a.json"
    argv = ["eval", "--data", "ml-100k", "--protocol", "A", "--models", "references"]
    assert main([*argv, "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["data"] == "ml-100k" and payload["protocol"] == "A"
    assert round(payload["models"]["bias_baseline"]["rmse"], 4) == 0.9439
    assert "bias_baseline" in capsys.readouterr().out


def test_eval_models_selects_names_and_groups(tmp_path, capsys):
    out = tmp_path / "b.json"
    argv = ["eval", "--data", "ml-100k", "--protocol", "B", "--json", str(out)]
    assert main([*argv, "--models", "most_popular, cf_itemknn,cf_bpmf"]) == 0
    payload = json.loads(out.read_text())
    assert set(payload["models"]) == {"most_popular", "cf_itemknn"}  # cf_bpmf rates: A only
    assert round(payload["models"]["cf_itemknn"]["ndcg@10"], 4) == 0.0347
    for key in ("seconds", "fit_seconds", "score_seconds"):  # every model timed
        assert set(payload[key]) == set(payload["models"]), key
        assert all(v >= 0 for v in payload[key].values())
    for name, total in payload["seconds"].items():
        assert payload["fit_seconds"][name] + payload["score_seconds"][name] <= total + 1e-3
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("model"))
    assert header.split()[-4:] == ["fit", "s", "score", "s"]
    assert "cf_itemknn" in out


def test_eval_models_groups_expand_per_protocol():
    from convrec.evaluation import select_models

    names = [s.name for s in select_models("A", "references,cf")]
    assert names == [s.name for s in select_models("A", "all")]
    assert "cf_knn_item" in names and "cf_itemknn" not in names
    assert [s.name for s in select_models("B", ["cf"])] == [
        "cf_itemknn",
        "cf_userknn",
        "cf_recency_itemknn",
        "cf_seqknn",
        "cf_seqlinear",
    ]


def test_eval_unknown_model_is_a_clear_error(capsys):
    assert main(["eval", "--data", "ml-100k", "--models", "references,cf_itemknnn"]) == 2
    err = capsys.readouterr().err
    assert "unknown model(s) 'cf_itemknnn'" in err and "cf_userknn" in err
    assert "references" in err and "Traceback" not in err


def test_missing_data_path_is_a_one_line_error(tmp_path, capsys):
    assert main(["eval", "--data", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert "nope.csv" in err and "Traceback" not in err


def test_bad_columns_option_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("u,i,r\n1,2,3\n")
    assert main(["data", "--data", str(path), "--columns", "user"]) == 2
    assert "--columns" in capsys.readouterr().err


def test_importing_convrec_does_not_import_torch_or_gradio():
    code = (
        "import sys, convrec, convrec.data, convrec.evaluation, convrec.cli; "
        "print([m for m in ('torch', 'gradio', 'transformers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_recommend_for_a_user_and_a_session(capsys):
    assert main(["recommend", "--data", "ml-100k", "--user", "42", "-k", "3", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["user"] == "42" and len(payload["items"]) == 3
    assert {"cf"} <= set(payload["items"][0]["components"])
    assert main(["recommend", "--data", "ml-100k", "--liked", "Star Wars; Alien", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "Top 10 for this session" in out
    why = [line for line in out.splitlines() if line.startswith("    ")]  # each cites a like
    assert len(why) == 10 and all("Star Wars (1977)" in w or "Alien (1979)" in w for w in why)


def test_recommend_unknown_title_or_user_is_a_one_line_error(capsys):
    assert main(["recommend", "--data", "ml-100k", "--liked", "alein"]) == 2
    assert "did you mean Alien (1979)" in capsys.readouterr().err
    assert main(["recommend", "--data", "ml-100k", "--user", "99999"]) == 2
    assert "unknown user id '99999'" in capsys.readouterr().err
    assert main(["recommend", "--data", "ml-100k"]) == 2
    assert "--user" in capsys.readouterr().err


def test_train_options_are_the_config_fields_with_their_defaults(capsys):
    from dataclasses import fields

    from convrec.cli.options import config_values
    from convrec.cli.specs import TRAIN_GROUPS, TRAIN_OPTIONS
    from convrec.training.config import TrainConfig

    names = [name for group in TRAIN_GROUPS.values() for name in group]
    assert sorted(names) == sorted(f.name for f in fields(TrainConfig))  # each field once
    args = build_parser().parse_args(["train", "--data", "ml-100k", "--out", "x"])
    assert TrainConfig(**config_values(args, TrainConfig, names, TRAIN_OPTIONS)) == TrainConfig()
    argv = ["train", "--data", "d", "--out", "x", "--tasks", "rating,next", "--warmup", "7"]
    args = build_parser().parse_args([*argv, "--weights", "2, 1", "--keep", "5"])
    config = TrainConfig(**config_values(args, TrainConfig, names, TRAIN_OPTIONS))
    assert config.tasks == ("rating", "next") and config.weights == (2.0, 1.0)
    assert (config.warmup_steps, config.keep_last, config.lr) == (7, 5, 1e-3)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for group in ("tasks and losses:", "optimisation:", "validation and checkpoints:", "model:"):
        assert group in out
    assert "--warmup N" in out and "(default: 50)" in out and "(default: builtin:minilm-l6)" in out


def test_help_does_not_import_torch():
    code = (
        "import sys\nfrom convrec.cli import main\n"
        "for argv in (['--help'], ['recommend', '--help'], ['eval', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print([m for m in ('torch', 'transformers', 'gradio') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("adapter", [["--adapter", "none"], []], ids=["cf", "shipped-adapter"])
def test_recommend_prints_no_warnings(adapter):
    if adapter == []:
        pytest.importorskip("peft")
    argv = ["recommend", "--data", "ml-100k", "--user", "42", "-k", "3", "--explain", *adapter]
    code = f"from convrec.cli import main; raise SystemExit(main({argv!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Top 3 for user 42" in out.stdout
    assert "warning" not in out.stderr.lower(), out.stderr


def test_chat_prints_no_warnings():
    """gradio's pandas deprecations (one pair per message) stay hidden without -v."""
    import os
    import socket
    import time

    pytest.importorskip("gradio")
    from gradio_client import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    argv = ["chat", "--adapter", "none", "--host", "127.0.0.1", "--port", str(port)]
    code = f"from convrec.cli import main; raise SystemExit(main({argv!r}))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[1]
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        for message in ("I liked Star Wars and Alien", "something more recent"):
            assert "Star Wars" in str(client.predict(message=message, api_name="/chat"))
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert "warning" not in err.lower(), err


def test_option_help_comes_from_metadata_or_the_numpydoc_attributes(capsys):
    from convrec.cli.options import attribute_docs
    from convrec.training.config import TrainConfig

    docs = attribute_docs(TrainConfig)
    assert docs["lr"] == docs["warmup_steps"] and "linear warmup" in docs["lr"]
    assert docs["init_adapter"].startswith("An adapter directory")
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    out = capsys.readouterr().out
    assert "fusion chosen on validation" in out and "decoding of explanations" in out
    assert "Beam scores are divided by length ** length_penalty" in out  # Decoding's docstring
    assert "(default: zscore)" in out and "(default: 20)" in out


def test_log_options_before_or_after_the_command():
    parse = build_parser().parse_args
    rec = ["recommend", "--data", "ml-100k", "--user", "1"]
    assert parse(rec).verbose is False and parse(rec).log_level is None
    assert parse(["-v", *rec]).verbose and parse([*rec, "-v"]).verbose
    assert parse(["--log-level", "debug", *rec]).log_level == "DEBUG"
    assert parse([*rec, "--log-level", "info"]).log_level == "INFO"
    assert parse(rec).progress is None  # default: bars when stderr is a terminal
    assert parse([*rec, "--progress"]).progress is True
    assert parse(["--no-progress", *rec]).progress is False


def test_progress_bars_show_when_asked_and_not_by_default(capsys):
    from convrec.data import load_dataset
    from convrec.recommender import Recommender

    argv = ["recommend", "--data", "ml-100k", "--user", "1", "-k", "2", "--adapter", "none"]
    assert main(argv) == 0  # stderr is no terminal here: no bar
    assert "similarity" not in capsys.readouterr().err
    assert main([*argv, "--progress"]) == 0
    err = capsys.readouterr().err
    assert "read ml-100k.inter" in err and "rows/s" in err  # rows read, with a rate
    assert "cosine similarity: 100%" in err and "1.68k/1.68k" in err and "cols/s" in err
    ev = ["eval", "--data", "ml-100k", "--protocol", "B", "--models", "most_popular"]
    assert main([*ev, "--progress"]) == 0
    err = capsys.readouterr().err
    assert "most_popular test:" in err and "/943" in err and "users/s" in err  # users scored
    Recommender.build(load_dataset("ml-100k"))  # the library alone draws nothing
    assert capsys.readouterr().err == ""


def test_a_running_bar_redraws_while_the_call_runs_and_ends_with_its_rate(monkeypatch, capsys):
    """A call that reports nothing shows its elapsed time, then its rate when it returns."""
    import logging
    import time

    from convrec import progress

    monkeypatch.setattr(progress, "TICK_SECONDS", 0.02)
    with progress.running(500, desc="solve", unit="items"):  # hidden: the logger is at WARNING
        pass
    assert capsys.readouterr().err == ""
    logger = logging.getLogger(progress.LOGGER_NAME)
    before = logger.level
    logger.setLevel(logging.INFO)  # what --progress does
    try:
        with progress.running(500, desc="solve", unit="items"):
            time.sleep(0.3)  # releases the GIL, as the native kernels and LAPACK do
        with pytest.raises(KeyError), progress.running(500, desc="fails", unit="items"):
            raise KeyError("x")  # an error leaves its bar unfilled and propagates
    finally:
        logger.setLevel(before)
    err, failed = capsys.readouterr().err.split("fails", 1)
    draws = err.split("\r")
    assert sum("0/500" in d for d in draws) >= 2  # the first draw and at least one redraw
    assert "solve: 100%" in err and "500/500" in err and "items/s" in err
    assert "0.00/500" in failed and "500/500" not in failed
