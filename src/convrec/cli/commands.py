"""What each `convrec` subcommand does, given its parsed arguments (see convrec.cli)."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from convrec.cli.options import config_values
from convrec.storage import write_json_atomic


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def cmd_train(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from convrec.cli.specs import BACKBONE_OPTIONS, PROMPT_OPTIONS, TRAIN_GROUPS, TRAIN_OPTIONS
    from convrec.llm.tasks import Task

    names = [name for group in TRAIN_GROUPS.values() for name in group]
    from convrec.training.config import TrainConfig

    values = config_values(args, TrainConfig, names, TRAIN_OPTIONS)
    known = [t.value for t in Task]
    bad = [t for t in values["tasks"] if t not in known]
    if bad or not values["tasks"]:
        raise ValueError(f"--tasks: unknown task(s) {bad}; choose from {', '.join(known)}")
    out = Path(args.out)
    if out.is_dir() and any(out.iterdir()) and not args.resume:
        raise ValueError(f"--out {out} is not empty: pass --resume to continue its training")
    values["init_adapter"] = _init_adapter(values["init_adapter"])
    config = TrainConfig(**values)
    data = _load(args)
    from convrec.llm.backbone import BackboneConfig
    from convrec.llm.prompts import PromptConfig
    from convrec.training.train import train

    backbone = config_values(args, BackboneConfig, list(BACKBONE_OPTIONS))
    start = time.perf_counter()
    result = train(
        data,
        out,
        config,
        BackboneConfig(**backbone),
        PromptConfig(**config_values(args, PromptConfig, list(PROMPT_OPTIONS))),
        resume=args.resume,
        quiet=args.quiet,
    )
    if int(os.environ.get("RANK", "0")) != 0:  # one report from `accelerate launch`
        return 0
    last = result.valid[-1] if result.valid else {}
    shown = ", ".join(f"{k}={v:.4f}" for k, v in last.items() if k not in ("step", "seconds"))
    print(f"trained {result.step} steps in {time.perf_counter() - start:.1f} s -> {out}")
    if shown:
        print(f"valid at step {last['step']}: {shown}")
    return 0


def _init_adapter(name: str | None) -> str | None:
    """``--init-adapter``: a directory as given, a shipped adapter's name its directory."""
    if name is None:
        return None
    from convrec.recommender.domains import resolve_adapter

    found = resolve_adapter(None, name)
    if found is None or not Path(found).is_dir():
        raise ValueError(f"--init-adapter {name}: no such adapter directory or shipped adapter")
    return str(found)


COLUMN_ROLES = ("user", "item", "rating", "timestamp", "title", "year", "genres", "text",
                "review", "summary")  # fmt: skip
"""The roles ``--columns`` maps to a table's columns (see :func:`convrec.data.load_table`)."""


def _parse_session_cf(text: str | None) -> dict[str, float | int | None] | None:
    """``"k=50,popularity=0.5"`` -> ``{"k": 50, "popularity": 0.5}`` (``tau=none``: no
    recency weighting)."""
    if not text:
        return None
    out: dict[str, float | int | None] = {}
    for part in text.split(","):
        key, sep, value = (x.strip() for x in part.partition("="))
        if not sep or not key or not value:
            raise ValueError(f"--session-cf: expected name=value pairs, got {part[:80]!r}")
        try:
            number = None if value.lower() == "none" else float(value)
        except ValueError:
            raise ValueError(
                f"--session-cf: {key[:40]} must be a number, got {value[:40]!r}"
            ) from None
        out[key] = int(number) if key == "k" and number is not None else number
    return out


def _parse_columns(text: str | None) -> dict[str, str | None]:
    """``"user=uid,item=iid"`` -> ``{"user": "uid", "item": "iid", "rating": None}``: a table
    given without a rating column is implicit data (every interaction weighs 1)."""
    if not text:
        return {}
    out: dict[str, str | None] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ValueError(f"--columns: expected role=column pairs, got {part[:80]!r}")
        if key not in COLUMN_ROLES:
            raise ValueError(
                f"--columns: unknown role {key[:40]!r}; roles: {', '.join(COLUMN_ROLES)}"
            )
        if key in out:
            raise ValueError(f"--columns: role {key!r} given twice")
        out[key] = value
    out.setdefault("rating", None)
    return out


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from convrec.data import load_dataset

    options: dict[str, object] = dict(_parse_columns(args.columns))
    if args.meta:
        options["meta"] = Path(args.meta)
    return load_dataset(args.data, **options)


def cmd_data(args: argparse.Namespace) -> int:
    data = _load(args)
    info = data.describe()
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        for key, value in info.items():
            print(f"{key:>16}: {value}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from convrec.evaluation import EvalReport, parse_model_selection, run_protocol, select_models
    from convrec.evaluation.sessions import run_sessions
    from convrec.evaluation.specs import ADAPTER_MODELS
    from convrec.recommender.domains import resolve_adapter

    selection = parse_model_selection(args.models)  # before loading: fail fast on a typo
    if args.adapter is not None:  # a shipped adapter's name -> its directory; "none" -> None
        args.adapter = resolve_adapter(None, args.adapter)
    if args.adapter is not None and not (Path(args.adapter) / "convrec_config.json").is_file():
        raise ValueError(f"--adapter {args.adapter}: not an adapter directory (convrec train)")
    if args.adapter is None:
        for name in (n for n in ADAPTER_MODELS if n in selection):
            print(f"{name}: skipped, it needs --adapter DIR (an adapter from convrec train)",
                  file=sys.stderr)  # fmt: skip
            selection.remove(name)
        if not selection:
            raise ValueError(f"--models {args.models} needs --adapter DIR (from convrec train)")
    if args.limit is not None and args.limit < 1:
        raise ValueError("--limit must be >= 1")
    if args.candidates < 1:
        raise ValueError("--candidates must be >= 1")
    try:
        mmr = [float(d) for d in _split_list(args.mmr or "")]
    except ValueError:
        raise ValueError(f"--mmr: expected numbers in (0, 1], got {args.mmr!r}") from None
    data = _load(args)
    if args.protocol == "all":
        protocols = ["A", "B"] + (["C"] if data.summary is not None else [])
    else:
        protocols = [args.protocol.upper()]
    reports = []
    for protocol in protocols:
        specs = select_models(
            protocol, selection, args.adapter, args.limit, mmr=mmr, candidates=args.candidates,
            sample_all=args.limit_all,
        )  # fmt: skip
        if not specs:
            print(f"protocol {protocol}: none of --models {args.models} is scored here, skipped")
            continue
        start = time.perf_counter()
        log = lambda msg: print(f"  {msg}", file=sys.stderr, flush=True)  # noqa: E731
        done: list[EvalReport]
        if protocol == "S":
            done = list(run_sessions(data, specs, log=log))
        else:
            done = [run_protocol(data, protocol, specs, log=log)]
        for report in done:
            print(report.table())
            print()
        print(f"protocol {protocol}: {time.perf_counter() - start:.1f} s")
        print()
        reports += done
    if not reports:
        raise ValueError(f"--models {args.models}: no selected model runs under {protocols}")
    if args.json:
        payload = reports[0].to_json() if len(reports) == 1 else [r.to_json() for r in reports]
        print(f"wrote {write_json_atomic(args.json, payload)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from convrec.cli.specs import EXPORT_DECODING_OPTIONS
    from convrec.llm.shipped import EXPLAINER, ShippedFusion, export_adapter

    fusion = None
    if args.alpha is not None:
        rating_alpha = args.alpha if args.rating_alpha is None else args.rating_alpha
        fusion = ShippedFusion(
            args.alpha, args.fusion, rating_alpha, args.llm_candidates, args.llm_explanations,
            args.session_alpha, _parse_session_cf(args.session_cf), args.session_fusion,
        )  # fmt: skip
    elif args.rating_alpha is not None:
        raise ValueError("--rating-alpha needs --alpha")
    elif args.session_alpha is not None:
        raise ValueError("--session-alpha needs --alpha")
    elif args.session_cf is not None:
        raise ValueError("--session-cf needs --alpha")
    elif args.session_fusion is not None:
        raise ValueError("--session-fusion needs --alpha")
    elif not args.llm_explanations:
        raise ValueError("--no-llm-explanations needs --alpha")
    decoding = None
    given = {name: getattr(args, name) for name in EXPORT_DECODING_OPTIONS}
    if any(value is not None for value in given.values()):
        from convrec.llm.scoring import Decoding

        decoding = Decoding(**{k: v for k, v in given.items() if v is not None})
    out = export_adapter(
        args.adapter, args.out, args.dtype, fusion, decoding, args.inference, args.explainer
    )
    for folder in (out, out / EXPLAINER):
        if not (folder / "convrec_config.json").is_file():
            continue
        size = (folder / "adapter_model.safetensors").stat().st_size
        step = json.loads((folder / "convrec_config.json").read_text())["export"]["source_step"]
        source = "" if step is None else f" from step {step}"
        print(f"wrote {folder}{source} (adapter_model.safetensors {size / 1e6:.1f} MB)")
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from convrec.recommender.loading import collector_paused

    liked = [t.strip() for t in (args.liked or "").split(";") if t.strip()]
    if args.all_users:
        return _recommend_all(args, liked)
    if args.out is not None:
        raise ValueError("--out writes every user's list: add --all-users")
    if args.user is None and not liked:
        raise ValueError("give --user ID and/or --liked 'Title; Title' (or --all-users --out FILE)")
    with collector_paused(freeze=True):  # this process ends with the command
        from convrec.recommender.domains import fitted, resolve_adapter, with_adapter

        data = _load(args)
        adapter = resolve_adapter(data.name, args.adapter)
        recommender = with_adapter(fitted(data, args.content), adapter, args.llm_candidates)
    result = recommender.recommend(user=args.user, liked=liked, k=args.k, explain=args.explain)
    if args.json:
        print(json.dumps({"user": result.user, "history": list(result.history),
                          "items": [asdict(item) for item in result]}, indent=1))  # fmt: skip
        return 0
    who = f"user {result.user}" if result.user is not None else "this session"
    print(f"Top {len(result)} for {who}:")
    for rank, item in enumerate(result, 1):
        rating = "" if item.predicted_rating is None else f"  predicted {item.predicted_rating:.1f}"
        print(f"{rank:>2}. {item.title}  (score {item.score:.3f}{rating})")
        if item.explanation:
            print(f"    {item.explanation}")
    return 0


def _recommend_all(args: argparse.Namespace, liked: list[str]) -> int:
    """``recommend --all-users --out FILE``: every known user's top-k to Parquet."""
    from convrec.recommender.batch import Shard, write_all_users
    from convrec.recommender.loading import collector_paused

    given = {"--user": args.user is not None, "--liked": bool(liked), "--explain": args.explain,
             "--json": args.json}  # fmt: skip
    clash = [flag for flag, on in given.items() if on]
    if clash:
        raise ValueError(f"--all-users scores every user: drop {', '.join(clash)}")
    if args.out is None:
        raise ValueError("--all-users needs --out FILE (a Parquet file)")
    if args.k <= 0 or args.batch_size <= 0:
        raise ValueError("-k and --batch-size must be >= 1")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: no such directory {out.parent}")
    shard = Shard.from_env()
    with collector_paused(freeze=True):
        from convrec.recommender import Recommender
        from convrec.recommender.domains import resolve_adapter, with_adapter

        data = _load(args)
        adapter = resolve_adapter(data.name, args.adapter)
        recommender = with_adapter(Recommender.build(data), adapter, args.llm_candidates)
    start = time.perf_counter()
    write_all_users(recommender, out, args.k, args.batch_size, shard)
    if shard.rank == 0:
        n = len(recommender.user_ids())
        who = "" if shard.world_size == 1 else f" over {shard.world_size} processes"
        print(f"wrote {out}: top-{args.k} of {n} users in "
              f"{time.perf_counter() - start:.1f} s{who}")  # fmt: skip
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from convrec.recommender.loading import collector_paused

    with collector_paused(freeze=True):  # convrec.ui.main, its loading apart from serving
        from convrec.recommender.domains import load_domains
        from convrec.ui import build_app, launch  # gradio is imported here only

        recommenders = load_domains(args.data, args.domain, args.adapter, args.llm_candidates,
                                    args.domain_adapter, args.content)  # fmt: skip
        app = build_app(recommenders)
    warnings.filterwarnings("ignore", category=ResourceWarning)  # gradio's per-request loops
    launch(app, args.host, args.port)
    return 0
