"""Multi-task LoRA training (accelerate): task mixing, fixed / uncertainty weighting, resume."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from transformers import get_scheduler

from convrec import progress
from convrec.cf.knn import ItemKNN
from convrec.data.dataset import Dataset
from convrec.evaluation.sessions import positive_threshold
from convrec.evaluation.splits import fingerprint
from convrec.llm import checkpoint as ckpt
from convrec.llm.backbone import Backbone, BackboneConfig, load_backbone
from convrec.llm.model import LLMConfig
from convrec.llm.prompt_examples import session_profile
from convrec.llm.prompts import PromptBuilder, PromptConfig, saved_prompt_config
from convrec.llm.scoring import RATING_VALUES, Scorer, answer_logits, keeps_logits
from convrec.llm.tasks import REGISTRY, PromptFields, Task
from convrec.training.config import TrainConfig, TrainResult, split_rows, task_rows
from convrec.training.validation import ValidationSet, build_validation, main_score, validate

__all__ = [
    "MultiTaskLoss", "StepHook", "TrainConfig", "TrainResult", "Trainer", "train",
]  # fmt: skip

logger = logging.getLogger(__name__)

StepHook = Callable[[int, float], None]
"""``hook(step, loss)`` called after every optimizer step (tests raise here to kill a run)."""


class MultiTaskLoss(nn.Module):
    """The peft model plus one log-variance per task; ``forward`` returns the weighted loss."""

    def __init__(
        self,
        model: Any,
        n_tasks: int,
        uncertainty: bool,
        rating_ids: list[int],
        keep_logits: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.keep_logits = keep_logits  # see scoring.keeps_logits
        self.log_vars = nn.Parameter(torch.zeros(n_tasks), requires_grad=uncertainty)
        self.uncertainty = uncertainty
        self.register_buffer("rating_ids", torch.tensor(rating_ids), persistent=False)

    def forward(
        self,
        task: int,
        batch: dict[str, torch.Tensor],
        rating_pos: int = -1,
        rating_true: torch.Tensor | None = None,
        rating_mse: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(weighted loss, raw task loss)."""
        with warnings.catch_warnings():  # EncoderDecoderModel's notice about computing the loss
            warnings.filterwarnings("ignore", message=".*introduces a better way to train.*")
            if "owner" in batch:  # several decoder rows per prompt: encode each prompt once
                inputs: dict[str, Any] = dict(batch)
                owner = inputs.pop("owner")
                mask = inputs.pop("attention_mask")
                hidden = self.model.get_encoder()(
                    input_ids=inputs.pop("input_ids"), attention_mask=mask
                ).last_hidden_state
                answers, last = inputs.pop("answers"), inputs.pop("answer_at")
                inputs["encoder_outputs"] = (hidden.index_select(0, owner),)
                inputs["attention_mask"] = mask.index_select(0, owner)
                logits = answer_logits(self.model, inputs, last, self.keep_logits)
                return self._weighted(task, F.cross_entropy(logits.float(), answers))
            out = self.model(**batch)
        raw = out.loss
        if rating_pos >= 0 and rating_true is not None and rating_mse > 0:
            logits = out.logits[:, rating_pos, :].float()[:, self.rating_ids]
            values = torch.arange(1, len(RATING_VALUES) + 1, device=logits.device)
            expected = (logits.softmax(-1) * values).sum(-1)
            raw = raw + rating_mse * ((expected - rating_true) ** 2).mean()
        return self._weighted(task, raw)

    def _weighted(self, task: int, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(weighted loss, raw task loss): uncertainty weighting or the raw loss itself."""
        if self.uncertainty:
            s = self.log_vars[task]
            return torch.exp(-s) * raw + s, raw
        return raw, raw


class Trainer:
    """One multi-task loop; see :func:`train`."""

    def __init__(
        self,
        data: Dataset,
        out_dir: Path,
        config: TrainConfig,
        backbone: Backbone,
        prompts: PromptConfig,
        quiet: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> None:
        from accelerate import Accelerator

        self.data, self.out_dir, self.config, self.backbone = data, Path(out_dir), config, backbone
        self.prompt_config = prompts
        self.acc = Accelerator()
        # every process has passed train()'s checks of out_dir before the main one writes there
        self.acc.wait_for_everyone()
        self._log = log or logger.info
        self.quiet = quiet or not self.acc.is_main_process
        self.tasks = [Task(t) for t in config.tasks]
        self.rows = task_rows(data, self.tasks, config.split)
        fitted: dict[int, PromptBuilder] = {}
        self.builders: dict[Task, PromptBuilder] = {}
        for task, rows in self.rows.items():
            key = id(rows)
            if key not in fitted:
                knn = ItemKNN(n_neighbours=prompts.n_neighbours).fit(data, rows)
                fitted[key] = PromptBuilder(prompts).fit(data, rows, knn)
            self.builders[task] = fitted[key]
        self.rerank_lists: dict[int, np.ndarray] = {}
        if Task.RERANK in self.rows:
            kept, lists = self.builders[Task.RERANK].rerank_lists(self.rows[Task.RERANK])
            if len(kept) == 0:
                raise ValueError("rerank: no training row's item is in its CF candidate list")
            self.rows[Task.RERANK] = kept
            self.rerank_lists = dict(zip(kept.tolist(), lists, strict=True))
        # session-shaped rerank profiles: what counts as liked, and the scale's top
        self.liked_at = (positive_threshold(data), float(data.rating.max()))
        p = np.asarray(config.weights, np.float64)
        self.probs = p / p.sum()
        self.scorer = scorer = Scorer(backbone)
        self.rating_pos = len(scorer._rating_prefix)
        self.module = MultiTaskLoss(
            backbone.model,
            len(self.tasks),
            config.weighting == "uncertainty",
            scorer._rating_ids,
            keeps_logits(backbone),
        )
        params = [p for p in self.module.model.parameters() if p.requires_grad]
        groups: list[dict[str, Any]] = [{"params": params, "weight_decay": config.weight_decay}]
        if config.weighting == "uncertainty":
            groups.append({"params": [self.module.log_vars], "weight_decay": 0.0})
        optimizer = torch.optim.AdamW(groups, lr=config.lr)
        self.total_steps = self._total_steps()
        self.module, self.optimizer = self.acc.prepare(self.module, optimizer)
        # linear warmup to ``lr`` over warmup_steps, then linear decay to 0 at the last step
        self.scheduler = get_scheduler(
            "linear",
            optimizer,
            num_warmup_steps=config.warmup_steps,
            num_training_steps=self.total_steps,
        )
        self.step = 0
        self.consumed = dict.fromkeys(self.tasks, 0)
        self.history: list[dict[str, Any]] = []
        self.valid_log: list[dict[str, Any]] = []
        self.best: tuple[float, int] | None = None
        self._perm: dict[Task, tuple[int, np.ndarray]] = {}
        self.valid: ValidationSet | None = None

    def log(self, message: str) -> None:
        """Log ``message`` once, from the main process."""
        if self.acc.is_main_process:
            self._log(message)

    # ------------------------------------------------------------------ schedule and data
    def _total_steps(self) -> int:
        c = self.config
        if c.epochs > 0:
            n = sum(len(r) for r in self.rows.values())
            per_step = c.batch_size * c.grad_accum * self.acc.num_processes
            return max(1, math.ceil(c.epochs * n / per_step))
        return c.max_steps

    def _order(self, task: Task, epoch: int) -> np.ndarray:
        cached = self._perm.get(task)
        if cached is None or cached[0] != epoch:
            k = list(Task).index(task)
            perm = np.random.default_rng([self.config.seed, k, epoch]).permutation(
                len(self.rows[task])
            )
            self._perm[task] = cached = (epoch, perm)
        return cached[1]

    def micro_batch(self, micro: int) -> tuple[Task, np.ndarray, int]:
        """(task, this process's interaction rows, template seed) of global micro-batch ``micro``.

        A pure function of (seed, micro, examples consumed so far): resuming replays it exactly.
        """
        c = self.config
        rng = np.random.default_rng([c.seed, micro])
        task = self.tasks[int(rng.choice(len(self.tasks), p=self.probs))]
        size = c.batch_size * self.acc.num_processes
        n = len(self.rows[task])
        start = self.consumed[task]
        positions = np.arange(start, start + size)
        self.consumed[task] = start + size
        picked = np.empty(size, np.int64)
        for epoch in np.unique(positions // n):
            sel = positions // n == epoch
            picked[sel] = self._order(task, int(epoch))[positions[sel] % n]
        mine = picked[
            self.acc.process_index * c.batch_size : (self.acc.process_index + 1) * c.batch_size
        ]
        return task, self.rows[task][mine], int(rng.integers(2**31))

    def encode(self, task: Task, rows: np.ndarray, seed: int) -> dict[str, torch.Tensor]:
        """Prompts (templates drawn from the training pool) and padded labels on the device."""
        if task is Task.RERANK:
            return self.encode_rerank(rows, seed)
        builder, bb = self.builders[task], self.backbone
        pool = self.config.template_pool(task)
        pick = np.random.default_rng(seed).integers(0, len(pool), len(rows))
        examples = builder.examples(task, rows, seed)
        sources = [
            REGISTRY[pool[k]].render(
                builder.fields(u, i, before, facts="facts" in REGISTRY[pool[k]].placeholders)
            )
            for k, (u, i, before, _) in zip(pick.tolist(), examples, strict=True)
        ]
        targets = [target for _, _, _, target in examples]
        batch = bb.encode_sources(sources)
        tgt = bb.encode_targets(targets)
        width = max(len(t) for t in tgt)
        batch["labels"] = torch.tensor([t + [-100] * (width - len(t)) for t in tgt])
        return {k: v.to(self.acc.device) for k, v in batch.items()}

    def encode_rerank(self, rows: np.ndarray, seed: int) -> dict[str, torch.Tensor]:
        """Rerank examples: per row one history prompt, read by ``1 + rerank_negatives``
        decoder rows (the row's item, answer yes; items drawn from the rest of its CF list,
        answer no); ``owner`` maps decoder rows to prompts, ``answers`` holds each row's answer
        token, read at its last position ``answer_at``."""
        builder, data = self.builders[Task.RERANK], self.data
        pool = self.config.template_pool(Task.RERANK)
        rng = np.random.default_rng(seed)
        yes, no = self.scorer._answer_ids[1], self.scorer._answer_ids[0]
        sources, texts, owner, answers = [], [], [], []
        share = self.config.session_share
        for b, r in enumerate(rows.tolist()):
            items, ratings = builder.history(int(data.user[r]), before_row=r)
            if share > 0 and rng.random() < share:
                items, ratings = session_profile(items, ratings, *self.liked_at, rng)
            tpl = REGISTRY[pool[int(rng.integers(len(pool)))]]
            sources.append(tpl.render(PromptFields(profile=builder.profile_text(items, ratings))))
            ranks = self.rerank_lists[r]
            target = int(data.item[r])
            others = np.flatnonzero((ranks >= 0) & (ranks != target))
            k = min(self.config.rerank_negatives, len(others))
            picked = [int(np.flatnonzero(ranks == target)[0]), *rng.choice(others, k, False)]
            for pos in picked:
                item = int(ranks[pos])  # the target's own review never describes it
                own = r if item == target else -1
                texts.append(builder.candidate_text(items, ratings, item, pos + 1, own))
                owner.append(b)
                answers.append(yes if int(ranks[pos]) == target else no)
        batch = self.backbone.encode_sources(sources)
        dec = self.scorer.cue_inputs(texts)
        width = max(len(x) for x in dec)
        pad = self.backbone.pad_id
        batch["decoder_input_ids"] = torch.tensor([x + [pad] * (width - len(x)) for x in dec])
        batch["decoder_attention_mask"] = torch.tensor(
            [[1] * len(x) + [0] * (width - len(x)) for x in dec]
        )
        batch["answers"] = torch.tensor(answers)
        batch["answer_at"] = torch.tensor([len(x) - 1 for x in dec])
        batch["owner"] = torch.tensor(owner)
        return {k: v.to(self.acc.device) for k, v in batch.items()}

    # ------------------------------------------------------------------ checkpoints
    def convrec_config(self) -> dict[str, Any]:
        rows = {t.value: fingerprint(self.data, r) for t, r in self.rows.items()}
        return {
            "backbone": asdict(self.backbone.config),
            "prompts": asdict(self.prompt_config),
            "train": asdict(self.config),
            "data": {"name": self.data.name, "train_rows": rows},
            "llm": {
                k: v
                for k, v in asdict(
                    LLMConfig(
                        n_candidates=self.config.n_candidates,
                        explain_max_tokens=self.config.max_target_length,  # what it learned
                        ranking=self.config.ranking,
                        templates=self.config.inference_templates,
                    )
                ).items()
                if k not in ("backbone", "prompts")
            },
            "best": None if self.best is None else {"step": self.best[1], "score": self.best[0]},
        }

    @property
    def peft_model(self) -> Any:
        return self.acc.unwrap_model(self.module).model

    def save_checkpoint(self) -> None:
        from safetensors.torch import save_file

        root = self.out_dir / "checkpoints"
        unwrapped = self.acc.unwrap_model(self.module)
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            for k, s in enumerate(torch.cuda.get_rng_state_all()):
                rng[f"cuda.{k}"] = s
        name = ckpt.checkpoint_name(self.step)
        rank = self.acc.process_index
        rng_dir = root / f".rng-{name}"
        if self.acc.num_processes > 1:  # every process leaves its RNG state for the main one
            rng_dir.mkdir(parents=True, exist_ok=True)
            save_file(rng, str(rng_dir / f"rng-{rank}.safetensors"))
            self.acc.wait_for_everyone()
        if self.acc.is_main_process:

            def fill(tmp: Path) -> None:
                ckpt.save_adapter_files(self.peft_model, tmp, self.convrec_config())
                tensors, rest = ckpt.optimizer_tensors(self.optimizer.state_dict())
                save_file(tensors, str(tmp / ckpt.OPTIMIZER_NAME))
                extra = {"log_vars": unwrapped.log_vars.detach().cpu().clone()}
                save_file(extra, str(tmp / "extra.safetensors"))
                if self.acc.num_processes > 1:
                    for f in rng_dir.iterdir():
                        os.replace(f, tmp / f.name)
                else:
                    save_file(rng, str(tmp / "rng-0.safetensors"))
                state = {
                    "step": self.step,
                    "consumed": {t.value: n for t, n in self.consumed.items()},
                    "optimizer": rest,
                    "scheduler": self.scheduler.state_dict(),
                    "history": self.history,
                    "valid": self.valid_log,
                    "best": self.best,
                    "num_processes": self.acc.num_processes,
                }
                ckpt.write_json(tmp / ckpt.STATE_NAME, state)

            ckpt.atomic_dir(root / name, fill)
            if rng_dir.exists():
                rng_dir.rmdir()
            keep = {self.best[1]} if self.best is not None else set()
            ckpt.prune_checkpoints(root, self.config.keep_last, keep)
        self.acc.wait_for_everyone()

    def load_checkpoint(self) -> bool:
        """Restore the newest intact checkpoint; False when there is none at all.

        A checkpoint that cannot be read back whole (a truncated or missing file) is named in
        a warning and the one before it is tried; when none is intact, a one-line ValueError.
        """
        from peft import set_peft_model_state_dict

        root = self.out_dir / "checkpoints"
        found = ckpt.checkpoint_dirs(root)
        if not found:
            return False
        broken = []
        for _, candidate in reversed(found):
            try:
                saved = ckpt.read_checkpoint(candidate, self.acc.process_index)
                break
            except ckpt.CorruptCheckpointError as err:
                broken.append(f"{candidate.name} ({err})")
                logger.warning(
                    "checkpoint %s is corrupt (%s); using an earlier one", candidate, err
                )
        else:
            raise ValueError(f"no intact checkpoint to resume from in {root}: {'; '.join(broken)}")
        path, state = saved.path, saved.state
        if saved.config is not None:
            before = saved_prompt_config(saved.config["prompts"])
            if before != self.prompt_config:
                raise ValueError(
                    f"checkpoint {path} was trained on other prompts ({before}) than this run "
                    f"builds ({self.prompt_config}): resume with the same prompt settings "
                    f"(convrec train --rerank-text {before.rerank_text}"
                    f"{' --fact-slots' if before.fact_slots else ''})"
                )
        if state.get("num_processes") != self.acc.num_processes:
            raise ValueError(
                f"checkpoint {path} was written by {state.get('num_processes')} processes, "
                f"this run has {self.acc.num_processes}: the data order would differ"
            )
        result = set_peft_model_state_dict(self.peft_model, saved.weights)
        if getattr(result, "unexpected_keys", None):
            raise ValueError(f"checkpoint {path} does not match this model")
        self.optimizer.load_state_dict(ckpt.optimizer_state(saved.optimizer, state["optimizer"]))
        self.scheduler.load_state_dict(state["scheduler"])
        with torch.no_grad():
            self.acc.unwrap_model(self.module).log_vars.copy_(saved.extra["log_vars"])
        rng = saved.rng
        torch.set_rng_state(rng["torch"])
        if torch.cuda.is_available() and "cuda.0" in rng:
            torch.cuda.set_rng_state_all(
                [rng[f"cuda.{k}"] for k in range(torch.cuda.device_count())]
            )
        self.step = int(state["step"])
        self.consumed = {Task(t): int(n) for t, n in state["consumed"].items()}
        self.history, self.valid_log = state["history"], state["valid"]
        best = state["best"]
        self.best = (float(best[0]), int(best[1])) if best else None
        self.log(f"resumed from {path} at step {self.step}")
        return True

    # ------------------------------------------------------------------ loop
    def run_validation(self) -> bool:
        """Validate on the main process; True when this step became the best one.

        Every process calls it at the same steps: the others receive the main process's
        result, so that all keep the same ``valid_log`` and ``best`` and agree on whether to
        checkpoint.
        """
        result: tuple[dict[str, Any], float] | None = None
        if self.acc.is_main_process and self.valid is not None:
            self.peft_model.eval()
            start = time.perf_counter()
            metrics = validate(self.backbone, self.valid)
            entry = {"step": self.step, **metrics, "seconds": time.perf_counter() - start}
            result = (entry, main_score(metrics, self.tasks))
            shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
            self.log(f"step {self.step}: valid {shown}")
            self.peft_model.train()
        if self.acc.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            result = broadcast_object_list([result], from_process=0)[0]
        if result is None:
            return False
        entry, score = result
        self.valid_log.append(entry)
        if self.best is None or score > self.best[0]:
            self.best = (score, self.step)
            return True
        return False

    def fit(self, resume: bool = False, hook: StepHook | None = None) -> TrainResult:
        c = self.config
        if resume:
            self.load_checkpoint()
        if c.eval_every > 0 and self.acc.is_main_process:
            b = self.builders
            parts = split_rows(self.data, c.split)
            self.valid = build_validation(
                self.data,
                self.tasks,
                {t: b.get(t, next(iter(b.values()))) for t in Task},
                parts.a_valid,
                parts.b_valid,
                c.valid_ratings,
                c.valid_users,
                c.valid_explanations,
                c.n_candidates,
                seed=c.seed,
                templates=c.inference_templates,
            )
        self.peft_model.train()
        bar = progress.bar(self.total_steps, desc="train", unit="steps", initial=self.step,
                           disable=self.quiet, leave=True)  # fmt: skip
        disable = bar.disable
        uncertainty = c.weighting == "uncertainty"
        while self.step < self.total_steps:
            last = 0.0
            for a in range(c.grad_accum):
                task, rows, seed = self.micro_batch(self.step * c.grad_accum + a)
                batch = self.encode(task, rows, seed)
                true = torch.tensor(
                    self.data.rating[rows], dtype=torch.float32, device=self.acc.device
                )
                is_rating = task is Task.RATING
                k = self.tasks.index(task)
                sync = a == c.grad_accum - 1
                ctx = self.acc.no_sync(self.module) if not sync else contextlib.nullcontext()
                with ctx:
                    loss, raw = self.module(
                        k,
                        batch,
                        self.rating_pos if is_rating else -1,
                        true if is_rating else None,
                        c.rating_mse,
                    )
                    self.acc.backward(loss / c.grad_accum)
                if self.acc.num_processes > 1:  # the loss of the global batch, the same on all
                    raw = self.acc.reduce(raw.detach(), "mean")
                last = float(raw.detach())
                self.history.append({"step": self.step + 1, "task": task.value, "loss": last})
            if c.max_grad_norm > 0:
                self.acc.clip_grad_norm_(self.module.parameters(), c.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            bar.update(1)
            if not disable:
                lv = self.acc.unwrap_model(self.module).log_vars
                post = {"loss": f"{last:.3f}"}
                if uncertainty:
                    post["s"] = ",".join(f"{v:.2f}" for v in lv.tolist())
                bar.set_postfix(post)
            improved = False
            if c.eval_every > 0 and self.step % c.eval_every == 0:
                improved = self.run_validation()
            if c.save_every > 0 and (self.step % c.save_every == 0 or improved):
                self.save_checkpoint()  # the best step always has a checkpoint to keep
            if hook is not None:
                hook(self.step, last)
        bar.close()
        if c.eval_every > 0 and (not self.valid_log or self.valid_log[-1]["step"] != self.step):
            self.run_validation()
        self.peft_model.eval()
        if self.acc.is_main_process:
            config = self.convrec_config()
            log = {"history": self.history, "valid": self.valid_log}

            def fill(tmp: Path) -> None:  # the output directory itself is the adapter
                ckpt.save_adapter_files(self.peft_model, tmp, config)
                ckpt.write_json(tmp / "train_log.json", log)

            ckpt.publish_dir(self.out_dir, fill)
        self.acc.wait_for_everyone()
        return TrainResult(
            self.out_dir,
            self.step,
            self.history,
            self.valid_log,
            self.acc.unwrap_model(self.module).log_vars.detach().cpu().tolist(),
        )


def start_from_adapter(config: TrainConfig) -> Backbone:
    """The backbone of ``config.init_adapter`` with its adapter loaded trainable (float32),
    token limits from ``config``: training continues from those weights."""
    from convrec.llm.backbone import adapter_backbone_config, load_adapter

    path = Path(str(config.init_adapter))
    adapter_backbone_config(path)  # a clear error when it is not an adapter directory
    bb = load_adapter(path, trainable=True)
    if bb.config.quantization == "none":
        bb.model.float()  # exported adapters may be float16
    bb.config = replace(
        bb.config,
        max_source_length=config.max_source_length,
        max_target_length=config.max_target_length,
    )
    return bb


def train(
    data: Dataset,
    out_dir: str | os.PathLike[str],
    config: TrainConfig | None = None,
    backbone: BackboneConfig | Backbone | None = None,
    prompts: PromptConfig | None = None,
    *,
    resume: bool = False,
    quiet: bool = False,
    hook: StepHook | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a LoRA adapter on the tasks of ``config`` and write it to ``out_dir``.

    ``out_dir`` ends up a PEFT adapter directory (``adapter_config.json``,
    ``adapter_model.safetensors``) plus ``convrec_config.json`` and ``train_log.json``;
    ``out_dir/checkpoints/step-*`` hold the resumable states. An existing non-empty
    ``out_dir`` is an error unless ``resume`` is set.
    """
    config = config or TrainConfig()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not resume:
        raise ValueError(f"--out {out} is not empty: pass --resume to continue its training")
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)  # LoRA initialisation draws from the global generator
    if isinstance(backbone, Backbone):
        bb = backbone
    elif config.init_adapter is not None:
        bb = start_from_adapter(config)
    else:
        cfg = replace(
            backbone or BackboneConfig(),
            max_source_length=config.max_source_length,
            max_target_length=config.max_target_length,
        )
        bb = load_backbone(cfg)
    if not hasattr(bb.model, "peft_config"):
        raise ValueError("training needs a LoRA backbone (lora_r > 0)")
    torch.manual_seed(config.seed)
    out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(data, out, config, bb, prompts or PromptConfig(), quiet=quiet, log=log)
    return trainer.fit(resume=resume, hook=hook)
