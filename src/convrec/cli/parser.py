"""The `convrec` command line (the only module that reads argv): its parser and entry point.

The subcommands (eval | train | data | recommend | chat) are carried out in convrec.cli.commands.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from convrec import __version__
from convrec.cli import commands
from convrec.cli.logs import add_log_options, configure, extra_hint
from convrec.cli.options import CommandParser, HelpFormatter
from convrec.cli.specs import add_export_args, add_train_args

EPILOG = (
    "--data takes 'ml-100k' (the copy shipped in the recbole wheel) or a path: a MovieLens "
    "directory (u.data, ratings.dat, ratings.csv or RecBole atomic files), an Amazon review "
    "JSON-lines file (.json / .json.gz), or a CSV / Parquet file with --columns."
)


NO_CONTENT_HELP = (
    "no content source (item text embedded by the shipped MiniLM encoder, cached after the "
    "first run): CF and the LLM only"
)


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data", required=True, metavar="SPEC", help="'ml-100k' or a path (see below)"
    )
    group.add_argument(
        "--columns",
        metavar="MAP",
        default=None,
        help="column mapping for CSV / Parquet, e.g. user=userId,item=movieId,rating=stars,"
        "timestamp=ts (rating may be omitted for implicit data)",
    )
    group.add_argument(
        "--meta", metavar="PATH", default=None, help="Amazon metadata JSON lines (titles)"
    )


ADAPTER_HELP = (
    "the LLM adapter: a directory from convrec train --out DIR or a shipped adapter's name "
    "(ml-100k, amazon-mi5); it adds the LLM score source (fused with CF) and LLM-written "
    "explanations, shown only when grounded. Default: the adapter shipped for this data, if "
    "any (it needs the [llm] extra); 'none': CF only"
)

LLM_CANDS_HELP = (
    "the LLM re-scores the CF engine's best N candidates (default: the adapter's validated "
    "setting, else 20; 0: all of them); each costs one LLM prompt"
)


def build_parser() -> argparse.ArgumentParser:
    """The ``convrec`` parser. Options that mirror a config dataclass are built from its fields
    (:mod:`convrec.cli.options`); ``train`` and ``export`` add theirs on first use, so that
    ``convrec --help`` and the CF commands import neither torch nor transformers."""
    parser = argparse.ArgumentParser(
        prog="convrec",
        description="convrec: a conversational recommender (LoRA-tuned seq2seq LLM + native CF).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"convrec {__version__}")
    add_log_options(parser)
    common = CommandParser(add_help=False)
    add_log_options(common, argparse.SUPPRESS)  # after the command too, e.g. convrec chat -v
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=CommandParser
    )

    p_eval = sub.add_parser(
        "eval",
        help="evaluate models with protocols A (rating), B (ranking), C (reviews), "
        "S (cold sessions)",
        description="Run the evaluation protocols of convrec (see docs/evaluation.md) and print "
        "a table of every model beside the references; --json writes the numbers.",
        epilog=EPILOG,
        parents=[common],
    )
    _add_data_args(p_eval)
    p_eval.add_argument(
        "--protocol",
        default="all",
        choices=["A", "B", "C", "S", "a", "b", "c", "s", "all"],
        help="A: rating RMSE/MAE; B: leave-last-out HR/NDCG@K; C: A + B + explanations on "
        "review data; S: cold sessions of N = 1, 3, 5 liked items from unseen users "
        "(Recall/NDCG/HR with standard errors, one table per N); all: A, B and C where the "
        "data supports them",
    )
    p_eval.add_argument(
        "--models",
        metavar="LIST",
        default="all",
        help="comma-separated model names and/or the groups 'references', 'cf', 'cbf', 'all'; "
        "e.g. --models references,cf_itemknn. A model runs under the protocols "
        "that score it (rating models: A, C; ranking models: B, C)",
    )
    p_eval.add_argument(
        "--json",
        metavar="PATH",
        default=None,
        help="write {'data', 'protocol', 'models': {name: {metric: value}}, ...} here "
        "(a list of such objects when several protocols run)",
    )
    p_eval.add_argument(
        "--adapter",
        metavar="DIR",
        default=None,
        help="a trained LLM adapter directory (convrec train --out DIR) or a shipped adapter's "
        "name (ml-100k, amazon-mi5): adds the 'llm' model "
        "(the LLM alone: ratings under A, re-ranking the CF top-50 under B, explanations "
        "under C) and the 'fused' model (alpha * CF + (1 - alpha) * LLM ratings under A; the "
        "LLM re-scoring the CF top-C, fused natively, under B; alpha and the fusion chosen "
        "on valid); 'all' includes them only when --adapter is given",
    )
    p_eval.add_argument(
        "--candidates",
        metavar="C",
        type=int,
        default=50,
        help="fused: CF candidates per user that the LLM re-scores",
    )
    p_eval.add_argument(
        "--mmr",
        metavar="D[,D...]",
        default=None,
        help="protocol B/C: add a NAME+mmrD twin of every ranking model but llm whose top-100 "
        "is re-ranked by maximal marginal relevance with diversity D in (0, 1], to measure "
        "the trade-off between NDCG and the diversity block",
    )
    p_eval.add_argument(
        "--limit",
        metavar="N",
        type=int,
        default=None,
        help="score the llm and fused models on seeded samples of at most N valid and test "
        "rows (reported as params.sample in the JSON)",
    )
    p_eval.add_argument(
        "--limit-all",
        action="store_true",
        help="with --limit: score every model on those samples, so that all are compared on "
        "the same rows",
    )
    p_eval.set_defaults(func=commands.cmd_eval)

    p_train = sub.add_parser(
        "train",
        help="train the LLM's LoRA adapter on rating, ranking and explanation prompts",
        description="Multi-task LoRA training of the seq2seq backbone (see docs/training.md). "
        "The output directory becomes a PEFT adapter (adapter_config.json, "
        "adapter_model.safetensors) plus convrec_config.json; checkpoints under "
        "DIR/checkpoints allow --resume. Runs on CPU as is, and on several GPUs with "
        "'accelerate launch -m convrec.cli train ...'.",
        epilog=EPILOG,
        parents=[common],
        options=add_train_args,
    )
    _add_data_args(p_train)
    p_train.set_defaults(func=commands.cmd_train)

    p_export = sub.add_parser(
        "export",
        help="copy a trained adapter (or one of its checkpoints) for shipping, weights in fp16",
        description="Write the adapter of a convrec train --out directory, or of one of its "
        "checkpoints, to --out without optimizer state, its weights cast to --dtype, "
        "optionally with the fusion chosen on validation (convrec eval's fused model) that "
        "Recommender.from_pretrained and convrec chat then use with it.",
        parents=[common],
        options=add_export_args,
    )
    p_export.set_defaults(func=commands.cmd_export)

    p_data = sub.add_parser(
        "data",
        help="load a dataset, validate it and print its statistics",
        description="Load and validate a dataset; print counts, rating range and fields found.",
        epilog=EPILOG,
        parents=[common],
    )
    _add_data_args(p_data)
    p_data.add_argument("--json", action="store_true", help="print JSON instead of text")
    p_data.set_defaults(func=commands.cmd_data)

    p_rec = sub.add_parser(
        "recommend",
        help="ranked, explained recommendations for a user or a list of liked titles",
        description="Fit the CF engine on the data (about a second for ml-100k) and print the "
        "top-k items for a known user and/or a session of liked titles, with per-source "
        "scores, predicted rating, evidence and a grounded explanation; or, with --all-users "
        "--out FILE, write every known user's top-k to a Parquet file (columns user, rank, "
        "item, score and one per source: cf, cbf, llm), shared among the processes of "
        "'torchrun' or 'accelerate launch -m convrec.cli recommend ...' when run under one.",
        epilog=EPILOG,
        parents=[common],
    )
    _add_data_args(p_rec)
    p_rec.add_argument("--user", default=None, metavar="ID", help="the dataset's user id")
    p_rec.add_argument(
        "--liked",
        default=None,
        metavar="TITLES",
        help="liked titles separated by ';' (fuzzy: typos and a missing year are fine)",
    )
    p_rec.add_argument("-k", "--k", type=int, default=10, help="how many items")
    batch = p_rec.add_argument_group("every user at once")
    batch.add_argument(
        "--all-users",
        action="store_true",
        help="score every known user (with --out; not with --user, --liked, --explain, --json)",
    )
    batch.add_argument(
        "--out", default=None, metavar="FILE", help="--all-users: the Parquet file written"
    )
    batch.add_argument(
        "--batch-size",
        type=int,
        default=1024,
        metavar="N",
        help="--all-users: users per scoring call (the output does not depend on it)",
    )
    p_rec.add_argument("--explain", action="store_true", help="add a grounded explanation")
    p_rec.add_argument("--json", action="store_true", help="print JSON instead of text")
    p_rec.add_argument("--adapter", default=None, metavar="DIR", help=ADAPTER_HELP)
    p_rec.add_argument("--llm-candidates", type=int, default=None, metavar="N", help=LLM_CANDS_HELP)
    p_rec.add_argument("--no-content", dest="content", action="store_false", help=NO_CONTENT_HELP)
    p_rec.set_defaults(func=commands.cmd_recommend)

    p_chat = sub.add_parser(
        "chat",
        help="launch the Gradio chat app (127.0.0.1:7860 by default, no share link)",
        description="Serve the chat app on --data (default ml-100k); GRADIO_SERVER_NAME / "
        "GRADIO_SERVER_PORT are honoured when --host / --port are not given.",
        parents=[common],
    )
    p_chat.add_argument("--data", default="ml-100k", metavar="SPEC", help="'ml-100k' or a path")
    p_chat.add_argument(
        "--domain",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="another domain to chat about (repeatable), e.g. amazon-mi5=path/to/"
        "reviews_Musical_Instruments_5.json.gz; review data without titles is named from "
        "its reviews",
    )
    p_chat.add_argument(
        "--domain-adapter",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="the LLM adapter of an extra domain (repeatable): a convrec train --out directory, "
        "a shipped adapter's name, or 'none'; default: the adapter shipped under the domain's "
        "name, if any (amazon-mi5)",
    )
    p_chat.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    p_chat.add_argument("--port", type=int, default=None, help="port (default 7860)")
    p_chat.add_argument("--adapter", default=None, metavar="DIR", help=ADAPTER_HELP)
    p_chat.add_argument(
        "--llm-candidates", type=int, default=None, metavar="N", help=LLM_CANDS_HELP
    )
    p_chat.add_argument("--no-content", dest="content", action="store_false", help=NO_CONTENT_HELP)
    p_chat.set_defaults(func=commands.cmd_chat)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convrec`` console script; returns the exit status."""
    import warnings

    from convrec.data import DataError

    parser = build_parser()
    with warnings.catch_warnings():
        restore = None
        try:
            args = parser.parse_args(argv)
            restore = configure(args.verbose, args.log_level, args.progress)
            return int(args.func(args))
        except ImportError as exc:  # an optional part used without its extra
            hint = extra_hint(exc)
            if hint is None:
                raise
            commands_ = next(a.choices for a in parser._actions if a.dest == "command")
            command = next((t for t in argv or sys.argv[1:] if t in (commands_ or ())), "")
            if "[llm]" in hint and command in ("recommend", "chat"):
                hint += " (or --adapter none: CF only)"
            print(f"convrec {command}: error: {hint}", file=sys.stderr)
            return 2
        except (DataError, ValueError, FileNotFoundError, KeyError, TimeoutError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            print(f"convrec {args.command}: error: {message}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"convrec {args.command}: interrupted", file=sys.stderr)
            return 130
        finally:
            if restore is not None:
                restore()


if __name__ == "__main__":
    raise SystemExit(main())
