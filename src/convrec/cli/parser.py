"""The `convrec` command line (the only module that reads argv): its parser and entry point.

The subcommands (eval | train | data | recommend | chat) are carried out in convrec.cli.commands.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from convrec import __version__
from convrec.cli import commands

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


ADAPTER_HELP = (
    "the LLM adapter: a directory from convrec train --out DIR or a shipped adapter's name "
    "(ml-100k, amazon-mi5); it adds the LLM score source (fused with CF) and LLM-written "
    "explanations, shown only when grounded. Default: the adapter shipped for this data, if "
    "any; 'none': CF only"
)

LLM_CANDS_HELP = (
    "the LLM re-scores the CF engine's best N candidates (default: the adapter's validated "
    "setting, else 20; 0: all of them); each costs one LLM prompt"
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
        help="fused: CF candidates per user that the LLM re-scores (default 50)",
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
        description="Multi-task LoRA training of the seq2seq backbone (see README: Training). "
        "The output directory becomes a PEFT adapter (adapter_config.json, "
        "adapter_model.safetensors) plus convrec_config.json; checkpoints under "
        "DIR/checkpoints allow --resume. Runs on CPU as is, and on several GPUs with "
        "'accelerate launch -m convrec.cli train ...'.",
        epilog=EPILOG,
    )
    _add_data_args(p_train)
    _add_train_args(p_train)
    p_train.set_defaults(func=commands.cmd_train)

    p_export = sub.add_parser(
        "export",
        help="copy a trained adapter (or one of its checkpoints) for shipping, weights in fp16",
        description="Write the adapter of a convrec train --out directory, or of one of its "
        "checkpoints, to --out without optimizer state, its weights cast to --dtype, "
        "optionally with the fusion chosen on validation (convrec eval's fused model) that "
        "Recommender.from_pretrained and convrec chat then use with it.",
    )
    p_export.add_argument("adapter", metavar="SRC", help="adapter or checkpoint directory")
    p_export.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p_export.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    p_export.add_argument("--alpha", type=float, default=None, help="CF weight of rankings")
    p_export.add_argument(
        "--fusion", default="zscore", choices=["zscore", "minmax", "rrf"], help="with --alpha"
    )
    p_export.add_argument(
        "--rating-alpha", type=float, default=None, help="CF weight of ratings (with --alpha)"
    )
    p_export.add_argument(
        "--llm-candidates", type=int, default=20, metavar="N", help="with --alpha (default 20)"
    )
    p_export.add_argument(
        "--explain-beams", type=int, default=None, metavar="N",
        help="beam search for explanations (default: as trained, greedy)",
    )  # fmt: skip
    p_export.add_argument(
        "--explain-length-penalty", type=float, default=1.0, metavar="X",
        help="with --explain-beams (default 1.0)",
    )  # fmt: skip
    p_export.add_argument(
        "--explain-no-repeat-ngram", type=int, default=0, metavar="N",
        help="with --explain-beams: no repeated n-gram of this size (default 0: off)",
    )  # fmt: skip
    p_export.set_defaults(func=commands.cmd_export)

    p_data = sub.add_parser(
        "data",
        help="load a dataset, validate it and print its statistics",
        description="Load and validate a dataset; print counts, rating range and fields found.",
        epilog=EPILOG,
    )
    _add_data_args(p_data)
    p_data.add_argument("--json", action="store_true", help="print JSON instead of text")
    p_data.set_defaults(func=commands.cmd_data)

    p_rec = sub.add_parser(
        "recommend",
        help="ranked, explained recommendations for a user or a list of liked titles",
        description="Fit the CF engine on the data (about a second for ml-100k) and print the "
        "top-k items for a known user and/or a session of liked titles, with per-source "
        "scores, predicted rating, evidence and a grounded explanation.",
        epilog=EPILOG,
    )
    _add_data_args(p_rec)
    p_rec.add_argument("--user", default=None, metavar="ID", help="the dataset's user id")
    p_rec.add_argument(
        "--liked",
        default=None,
        metavar="TITLES",
        help="liked titles separated by ';' (fuzzy: typos and a missing year are fine)",
    )
    p_rec.add_argument("-k", type=int, default=10, help="how many items (default 10)")
    p_rec.add_argument("--explain", action="store_true", help="add a grounded explanation")
    p_rec.add_argument("--json", action="store_true", help="print JSON instead of text")
    p_rec.add_argument("--adapter", default=None, metavar="DIR", help=ADAPTER_HELP)
    p_rec.add_argument("--llm-candidates", type=int, default=None, metavar="N", help=LLM_CANDS_HELP)
    p_rec.set_defaults(func=commands.cmd_recommend)

    p_chat = sub.add_parser(
        "chat",
        help="launch the Gradio chat app (127.0.0.1:7860 by default, no share link)",
        description="Serve the chat app on --data (default ml-100k); GRADIO_SERVER_NAME / "
        "GRADIO_SERVER_PORT are honoured when --host / --port are not given.",
    )
    p_chat.add_argument("--data", default="ml-100k", metavar="SPEC", help="default ml-100k")
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
    p_chat.set_defaults(func=commands.cmd_chat)
    return parser


def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="DIR", help="output adapter directory")
    p.add_argument(
        "--backbone",
        default="builtin:minilm-l6",
        metavar="NAME|PATH",
        help="seq2seq checkpoint: builtin:minilm-l6 (default, offline) or a local path / id",
    )
    p.add_argument(
        "--tasks",
        default="rating,ranking,explanation",
        metavar="LIST",
        help="comma-separated tasks (default rating,ranking,explanation); 'rerank' re-ranks "
        "CF candidates with one encoder pass per user (the decoder reads each candidate and "
        "its CF evidence): an adapter trained on it scores candidates that way; 'next' is "
        "ranking as title generation (used when neither 'rerank' nor 'ranking' is trained)",
    )
    p.add_argument(
        "--rerank-negatives",
        type=int,
        default=3,
        metavar="K",
        help="rerank: CF-list negatives per positive, read after one encoder pass (default 3)",
    )
    p.add_argument(
        "--rerank-text",
        default="short",
        choices=["short", "full"],
        help="rerank: what the decoder reads of a candidate: short (title, year, CF rank, "
        "steps back and rating of its 2 nearest history items; default) or full (genres, "
        "rating count and those items' titles too: about 2.5x slower to score)",
    )
    p.add_argument(
        "--init-adapter",
        default=None,
        metavar="DIR|NAME",
        help="start from this adapter's weights (a directory or a shipped adapter's name); "
        "its backbone and LoRA settings are used",
    )
    p.add_argument(
        "--weights",
        default=None,
        metavar="LIST",
        help="one positive weight per task (default all 1): the probability of drawing "
        "each task for a batch is proportional to it",
    )
    p.add_argument(
        "--weighting",
        default="fixed",
        choices=["fixed", "uncertainty"],
        help="fixed: the drawn task's loss as is; uncertainty: learned log-variances s_t, "
        "loss exp(-s_t) L_t + s_t (Kendall et al.)",
    )
    p.add_argument("--max-steps", type=int, default=1000, metavar="N", help="optimizer steps")
    p.add_argument(
        "--epochs", type=float, default=0.0, metavar="E", help="if > 0, overrides --max-steps"
    )
    p.add_argument("--batch-size", type=int, default=16, metavar="B", help="per process")
    p.add_argument("--grad-accum", type=int, default=1, metavar="K", help="micro-batches/step")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW)")
    p.add_argument("--warmup", type=int, default=50, metavar="N", help="warmup steps")
    p.add_argument(
        "--eval-every", type=int, default=200, metavar="N", help="validate every N steps (0: off)"
    )
    p.add_argument(
        "--save-every", type=int, default=200, metavar="N", help="checkpoint every N steps"
    )
    p.add_argument("--keep", type=int, default=2, metavar="N", help="checkpoints kept (+ best)")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoints")
    p.add_argument(
        "--split",
        default=None,
        choices=["A", "B", "C"],
        help="train every task on that protocol's train rows; default: protocol A's train "
        "rows for rating / explanation and B's for ranking / next",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lora-r", type=int, default=8, metavar="R", help="LoRA rank")
    p.add_argument(
        "--cross-init",
        default="self",
        choices=["random", "self"],
        help="builtin backbone: new cross-attention copied from the same layer's pretrained "
        "self-attention (default; it trains far faster) or drawn at random",
    )
    p.add_argument("--max-source-length", type=int, default=256, metavar="N")
    p.add_argument("--max-target-length", type=int, default=32, metavar="N")
    p.add_argument(
        "--templates",
        default="",
        metavar="IDS",
        help="comma-separated training template ids (default: all but the held-out ones and "
        "the opt-in rating-5); the first one named for a task is the one validation and the "
        "trained adapter use",
    )
    p.add_argument(
        "--rating-mse",
        type=float,
        default=1.0,
        metavar="W",
        help="weight of the squared error of the expected rating added to the rating loss",
    )
    p.add_argument(
        "--valid-ratings", type=int, default=300, metavar="N", help="validation sample (A)"
    )
    p.add_argument("--valid-users", type=int, default=30, metavar="N", help="validation users (B)")
    p.add_argument(
        "--valid-explanations", type=int, default=16, metavar="N", help="generated in validation"
    )
    p.add_argument("--threads", type=int, default=2, metavar="N", help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convrec`` console script; returns the exit status."""
    from convrec.data import DataError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")
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
