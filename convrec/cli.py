"""The `convrec` command line (the only module that reads argv): eval | data."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from convrec import __version__
from convrec._io import write_json_atomic

EPILOG = (
    "--data takes 'ml-100k' (the copy shipped in the recbole wheel) or a path: a MovieLens "
    "directory (u.data, RecBole atomic files, or ratings.csv), an Amazon review JSON-lines file "
    "(.json / .json.gz), or a CSV / Parquet file with --columns."
)


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", required=True, metavar="SPEC", help="'ml-100k' or a path (see below)"
    )
    parser.add_argument(
        "--columns",
        metavar="MAP",
        default=None,
        help="column mapping for CSV / Parquet, e.g. user=userId,item=movieId,rating=stars,"
        "timestamp=ts (rating may be omitted for implicit data)",
    )
    parser.add_argument(
        "--meta", metavar="PATH", default=None, help="Amazon metadata JSON lines (titles)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convrec",
        description="convrec: a conversational recommender (LoRA-tuned seq2seq LLM + native CF).",
    )
    parser.add_argument("--version", action="version", version=f"convrec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_eval = sub.add_parser(
        "eval",
        help="evaluate models with protocols A (rating), B (ranking), C (reviews)",
        description="Run the evaluation protocols of convrec (see README: Evaluation) and print "
        "a table of every model beside the references; --json writes the numbers.",
        epilog=EPILOG,
    )
    _add_data_args(p_eval)
    p_eval.add_argument(
        "--protocol",
        default="all",
        choices=["A", "B", "C", "a", "b", "c", "all"],
        help="A: rating RMSE/MAE; B: leave-last-out HR/NDCG@K; C: A + B + explanations on "
        "review data; all (default): every protocol the data supports",
    )
    p_eval.add_argument(
        "--models",
        metavar="LIST",
        default="all",
        help="comma-separated model names and/or the groups 'references', 'cf', 'cbf', 'all' "
        "(default all); e.g. --models references,cf_itemknn. A model runs under the protocols "
        "that score it (rating models: A, C; ranking models: B, C)",
    )
    p_eval.add_argument(
        "--json",
        metavar="PATH",
        default=None,
        help="write {'data', 'protocol', 'models': {name: {metric: value}}, ...} here "
        "(a list of such objects when several protocols run)",
    )
    p_eval.set_defaults(func=_cmd_eval)

    p_data = sub.add_parser(
        "data",
        help="load a dataset, validate it and print its statistics",
        description="Load and validate a dataset; print counts, rating range and fields found.",
        epilog=EPILOG,
    )
    _add_data_args(p_data)
    p_data.add_argument("--json", action="store_true", help="print JSON instead of text")
    p_data.set_defaults(func=_cmd_data)
    return parser


def _parse_columns(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"--columns: expected name=column pairs, got {part!r}")
        out[key.strip()] = value.strip()
    return out


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from convrec.data import load_dataset

    options: dict[str, object] = dict(_parse_columns(args.columns))
    if args.meta:
        options["meta"] = Path(args.meta)
    return load_dataset(args.data, **options)


def _cmd_data(args: argparse.Namespace) -> int:
    data = _load(args)
    info = data.describe()
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        for key, value in info.items():
            print(f"{key:>16}: {value}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from convrec.evaluation import parse_model_selection, run_protocol, select_models

    selection = parse_model_selection(args.models)  # before loading: fail fast on a typo
    data = _load(args)
    if args.protocol == "all":
        protocols = ["A", "B"] + (["C"] if data.summary is not None else [])
    else:
        protocols = [args.protocol.upper()]
    reports = []
    for protocol in protocols:
        specs = select_models(protocol, selection)
        if not specs:
            print(f"protocol {protocol}: none of --models {args.models} is scored here, skipped")
            continue
        start = time.perf_counter()
        report = run_protocol(
            data, protocol, specs, log=lambda msg: print(f"  {msg}", file=sys.stderr, flush=True)
        )
        print(report.table())
        print(f"protocol {protocol}: {time.perf_counter() - start:.1f} s")
        print()
        reports.append(report)
    if not reports:
        raise ValueError(f"--models {args.models}: no selected model runs under {protocols}")
    if args.json:
        payload = reports[0].to_json() if len(reports) == 1 else [r.to_json() for r in reports]
        print(f"wrote {write_json_atomic(args.json, payload)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convrec`` console script; returns the exit status."""
    from convrec.data import DataError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            return int(args.func(args))
    except (DataError, ValueError, FileNotFoundError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"convrec {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"convrec {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
