"""Multi-task training: loss goes down, adapters reload exactly, configs round-trip, resume."""

import dataclasses
import json
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["HF_HUB_OFFLINE"] = "1"

torch = pytest.importorskip("torch")

from convrec.evaluation.sessions import cold_items, user_split  # noqa: E402
from convrec.llm import checkpoint as ckpt  # noqa: E402
from convrec.llm.backbone import BackboneConfig, load_adapter, load_backbone  # noqa: E402
from convrec.llm.model import LLMModel  # noqa: E402
from convrec.llm.prompts import PromptConfig  # noqa: E402
from convrec.llm.tasks import Task  # noqa: E402
from convrec.recommender.neighbours import item_neighbours  # noqa: E402
from convrec.training.config import split_rows, task_rows  # noqa: E402
from convrec.training.train import TrainConfig, train  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")

SMALL = {
    "batch_size": 8,
    "lr": 3e-3,
    "warmup_steps": 2,
    "max_source_length": 128,
    "valid_ratings": 16,
    "valid_users": 4,
    "valid_explanations": 2,
    "n_candidates": 10,
}


def _backbone(tiny_t5_dir, seed=0):
    torch.manual_seed(seed)
    return load_backbone(BackboneConfig(name_or_path=str(tiny_t5_dir), lora_r=4))


def _logits(backbone, text="predict the rating of alpha bravo 3"):
    batch = backbone.encode_sources([text])
    dec = torch.tensor([[backbone.decoder_start_id, 7, 9]])
    with torch.no_grad():
        return backbone.model(**batch, decoder_input_ids=dec).logits


@pytest.mark.parametrize("weighting", ["fixed", "uncertainty"])
def test_training_reduces_the_loss(llm_data, tiny_t5_dir, tmp_path, weighting):
    config = TrainConfig(
        tasks=("rating", "explanation"),
        weights=(1.0, 1.0),
        weighting=weighting,
        rating_mse=0.0,  # token loss only: the tiny ratings are noise to the MSE term
        max_steps=40,
        eval_every=0,
        save_every=0,
        **SMALL,
    )
    result = train(llm_data, tmp_path / "out", config, BackboneConfig(str(tiny_t5_dir), lora_r=4))
    assert result.step == 40 and len(result.history) == 40
    for task in ("rating", "explanation"):
        losses = [h["loss"] for h in result.history if h["task"] == task]
        assert len(losses) >= 8
        assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4]), (task, losses)
    if weighting == "uncertainty":
        assert all(v > 0.0 for v in result.log_vars)  # losses > 1: log-variances grow
    else:
        assert result.log_vars == [0.0, 0.0]


def _train_one_task(llm_data, tiny_t5_dir, task, out):
    """30 steps of one task, validated at 15 and 30; the loss must fall."""
    config = TrainConfig(
        tasks=(task,), weights=(1.0,), max_steps=30, eval_every=15, save_every=0, **SMALL
    )
    result = train(llm_data, out, config, BackboneConfig(str(tiny_t5_dir), lora_r=4))
    losses = [h["loss"] for h in result.history]
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4]), losses
    return result


def test_training_the_next_task_learns_titles_and_ranks_by_them(llm_data, tiny_t5_dir, tmp_path):
    out = tmp_path / "next"
    result = _train_one_task(llm_data, tiny_t5_dir, "next", out)
    assert [v["step"] for v in result.valid] == [15, 30]
    assert {"next_ndcg@10", "cf_ndcg@10"} <= set(result.valid[0]) and "ndcg@10" not in result.valid[
        0
    ]
    saved = json.loads((out / "convrec_config.json").read_text())
    assert saved["llm"]["ranking"] == "next" and set(saved["data"]["train_rows"]) == {"next"}
    model = LLMModel.from_pretrained(out)
    assert model.config.ranking == "next"  # scores candidates by title likelihood
    assert TrainConfig(tasks=("ranking", "next"), weights=(1.0, 1.0)).ranking == "pointwise"


@pytest.fixture(scope="module")
def trained(llm_data, tiny_t5_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "adapter"
    bb = _backbone(tiny_t5_dir)
    config = TrainConfig(max_steps=6, eval_every=3, save_every=3, keep_last=1, **SMALL)
    result = train(llm_data, out, config, bb, PromptConfig(n_recent=2))
    return out, bb, config, result


def test_adapter_loads_with_plain_peft_and_convrec(trained, tiny_t5_dir):
    from peft import PeftModel

    out, bb, _, result = trained
    names = set(os.listdir(out))
    assert {"adapter_config.json", "adapter_model.safetensors", "convrec_config.json"} <= names
    assert [v["step"] for v in result.valid] == [3, 6] and "rmse" in result.valid[0]
    assert {"ndcg@10", "cf_ndcg@10", "rougeL", "bleu4"} <= set(result.valid[0])
    before = _logits(bb)
    base = load_backbone(BackboneConfig(name_or_path=str(tiny_t5_dir), lora_r=4), lora=False)
    base.model = PeftModel.from_pretrained(base.model, str(out)).eval()
    assert torch.equal(_logits(base), before)
    assert torch.equal(_logits(load_adapter(out)), before)
    model = LLMModel.from_pretrained(out)
    assert model.config.prompts == PromptConfig(n_recent=2) and model.config.n_candidates == 10
    assert torch.equal(_logits(model.backbone), before)
    # keep_last=1 plus the best checkpoint; no temp directories left
    steps = [s for s, _ in ckpt.list_checkpoints(out / "checkpoints")]
    assert steps[-1] == 6 and len(steps) <= 2
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]


def test_convrec_config_round_trip(trained, tmp_path):
    out, bb, config, _ = trained
    text = (out / "convrec_config.json").read_text()
    saved = json.loads(text)
    assert text == json.dumps(saved, indent=1, sort_keys=True) + "\n"
    assert TrainConfig(**saved["train"]) == config
    assert BackboneConfig(**saved["backbone"]) == bb.config
    assert PromptConfig(**saved["prompts"]) == PromptConfig(n_recent=2)
    assert saved["data"]["name"] == "tiny" and saved["llm"]["ranking"] == "pointwise"
    assert set(saved["data"]["train_rows"]) == {"rating", "ranking", "explanation"}
    assert len(saved["data"]["train_rows"]["rating"]["sha256"]) == 64
    model = LLMModel.from_pretrained(out, batch_size=4)
    again = model.save_pretrained(tmp_path / "copy")
    reloaded = LLMModel.from_pretrained(again)
    assert reloaded.config == model.config and reloaded.config.batch_size == 4
    assert torch.equal(_logits(reloaded.backbone), _logits(model.backbone))


def test_train_config_validation():
    with pytest.raises(ValueError, match="weights"):
        TrainConfig(weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="positive"):
        TrainConfig(weights=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="held out"):
        TrainConfig(templates=("rating-4",))
    with pytest.raises(ValueError, match="weighting"):
        TrainConfig(weighting="magic")
    from convrec.llm.tasks import Task

    assert TrainConfig(templates=("rating-2",)).template_pool(Task.RATING) == ["rating-2"]
    assert TrainConfig(templates=("rating-2",)).template_pool(Task.RANKING) == [
        "ranking-1",
        "ranking-2",
        "ranking-3",
    ]


def test_a_chosen_template_is_validated_and_recorded_for_inference(llm_data, tiny_t5_dir, tmp_path):
    """--templates: the first template named for a task is the one validation renders and
    the trained adapter scores with."""
    from convrec.evaluation.splits import leave_last_out_split, random_split
    from convrec.llm.prompts import PromptBuilder
    from convrec.llm.tasks import Task
    from convrec.training.validation import build_validation

    config = TrainConfig(
        tasks=("rating", "explanation"),
        weights=(1.0, 1.0),
        templates=("rating-5", "rating-2", "rerank-2"),
        max_steps=2,
        eval_every=2,
        save_every=0,
        **SMALL,
    )
    assert config.inference_templates == {"rating": "rating-5"}  # rerank is not trained
    assert "rating-5" not in TrainConfig().template_pool(Task.RATING)  # opt-in
    assert config.template_pool(Task.RATING) == ["rating-5", "rating-2"]
    assert TrainConfig().inference_templates == {}
    result = train(llm_data, tmp_path / "r5", config, _backbone(tiny_t5_dir))
    assert "rmse" in result.valid[0]
    saved = json.loads((tmp_path / "r5" / "convrec_config.json").read_text())
    assert saved["llm"]["templates"] == {"rating": "rating-5"}
    assert LLMModel.from_pretrained(tmp_path / "r5").config.templates == {"rating": "rating-5"}

    split = random_split(llm_data)
    builder = PromptBuilder().fit(llm_data, split.train, item_neighbours(llm_data, split.train))
    sets = [
        build_validation(
            llm_data,
            [Task.RATING],
            dict.fromkeys(Task, builder),
            split.valid,
            leave_last_out_split(llm_data).valid,
            8,
            0,
            0,
            10,
            templates=chosen,
        )
        for chosen in ({"rating": "rating-5"}, None)
    ]
    chosen, default = (v.rating_prompts for v in sets)
    assert len(chosen) == len(default) == 8
    assert all(p.startswith("predict the rating of") for p in default)
    for short, long in zip(chosen, default, strict=True):
        assert short.endswith("rating:") and not short.startswith("predict")
        assert short.split(".")[0] == long.removeprefix("predict the rating of ").split(".")[0]


class Killed(Exception):
    pass


def test_kill_and_resume_continues_exactly(llm_data, tiny_t5_dir, tmp_path):
    from safetensors.torch import load_file

    config = TrainConfig(max_steps=8, eval_every=0, save_every=2, weighting="uncertainty", **SMALL)
    tiny = BackboneConfig(name_or_path=str(tiny_t5_dir), lora_r=4)
    full = train(llm_data, tmp_path / "full", config, tiny)

    def kill_after_5(step, loss):
        if step == 5:
            raise Killed

    with pytest.raises(Killed):
        train(llm_data, tmp_path / "cut", config, tiny, hook=kill_after_5)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "cut" / "checkpoints")] == [2, 4]
    assert not (tmp_path / "cut" / "adapter_model.safetensors").exists()
    with pytest.raises(ValueError, match="--resume"):
        train(llm_data, tmp_path / "cut", config, tiny)
    resumed = train(llm_data, tmp_path / "cut", config, tiny, resume=True)
    assert resumed.step == 8
    assert resumed.history == full.history  # steps, task order and losses, bit for bit
    assert resumed.log_vars == full.log_vars
    a = load_file(str(tmp_path / "full" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_other_prompt_settings(llm_data, tiny_t5_dir, tmp_path):
    config = TrainConfig(max_steps=4, eval_every=0, save_every=2, **SMALL)
    tiny = BackboneConfig(name_or_path=str(tiny_t5_dir), lora_r=4)

    def kill_after_3(step, loss):
        if step == 3:
            raise Killed

    with pytest.raises(Killed):
        train(llm_data, tmp_path / "cut", config, tiny, hook=kill_after_3)
    with pytest.raises(ValueError, match=r"other prompts.*rerank_text='full'"):
        train(
            llm_data, tmp_path / "cut", config, tiny, PromptConfig(rerank_text="full"), resume=True
        )
    assert train(llm_data, tmp_path / "cut", config, tiny, resume=True).step == 4


def test_checkpoint_write_is_atomic(tmp_path):
    root = tmp_path / "checkpoints"

    def good(tmp):
        (tmp / ckpt.STATE_NAME).write_text("{}")
        (tmp / "weights").write_bytes(b"x" * 100)

    ckpt.atomic_dir(root / ckpt.checkpoint_name(2), good)

    def interrupted(tmp):
        (tmp / "weights").write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ckpt.atomic_dir(root / ckpt.checkpoint_name(4), interrupted)
    with pytest.raises(KeyboardInterrupt):  # over an existing checkpoint: the old one survives
        ckpt.atomic_dir(root / ckpt.checkpoint_name(2), interrupted)
    assert [s for s, _ in ckpt.list_checkpoints(root)] == [2]
    assert (root / ckpt.checkpoint_name(2) / "weights").read_bytes() == b"x" * 100
    assert sorted(p.name for p in root.iterdir()) == [ckpt.checkpoint_name(2)]
    # a directory left by a killed process (no os.replace happened) is never listed
    (root / ".tmp-step-00000006-999").mkdir()
    (root / ckpt.checkpoint_name(8)).mkdir()  # no trainer_state.json: incomplete
    assert [s for s, _ in ckpt.list_checkpoints(root)] == [2]
    ckpt.prune_checkpoints(root, keep_last=1, keep=set())
    assert not (root / ".tmp-step-00000006-999").exists()


def test_cli_train_resume_and_eval_llm(ratings_csv, tiny_t5_dir, tmp_path, capsys):
    from convrec.cli import main

    out = tmp_path / "adapter"
    data = ["--data", str(ratings_csv), "--columns", "user=u,item=i,rating=r,timestamp=t"]
    argv = [
        "train",
        *data,
        "--out",
        str(out),
        "--backbone",
        str(tiny_t5_dir),
        "--lora-r",
        "4",
        "--batch-size",
        "4",
        "--max-source-length",
        "128",
        "--eval-every",
        "2",
        "--save-every",
        "2",
        "--valid-ratings",
        "8",
        "--valid-users",
        "3",
        "--valid-explanations",
        "2",
        "--quiet",
    ]
    assert main([*argv, "--max-steps", "2"]) == 0
    assert "trained 2 steps" in capsys.readouterr().out
    assert main([*argv, "--max-steps", "4"]) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and len(err.strip().splitlines()) == 1
    assert main([*argv, "--max-steps", "4", "--resume"]) == 0
    assert json.loads((out / "convrec_config.json").read_text())["train"]["max_steps"] == 4
    assert main([*argv[:-1], "--weights", "1,x", "--out", str(tmp_path / "w")]) == 2
    assert "--weights" in capsys.readouterr().err

    js = tmp_path / "eval.json"
    ev = ["eval", *data, "--models", "references,llm", "--adapter", str(out)]
    assert main([*ev, "--protocol", "A", "--limit", "15", "--json", str(js)]) == 0
    payload = json.loads(js.read_text())
    assert 0 < payload["models"]["llm"]["rmse"] < 5 and payload["params"]["llm"]["sample"] == 15
    assert main([*ev, "--protocol", "B", "--json", str(js)]) == 0
    payload = json.loads(js.read_text())
    assert {"llm", "most_popular"} <= set(payload["models"])
    assert 0 <= payload["models"]["llm"]["ndcg@10"] <= 1
    capsys.readouterr()
    assert main(["eval", *data, "--models", "llm"]) == 2
    assert "--adapter" in capsys.readouterr().err


def test_the_best_validation_step_always_has_a_checkpoint(llm_data, tiny_t5_dir, tmp_path):
    """Validation every 2 steps, checkpoints every 5: a best step between saves is saved too."""
    import json

    from convrec.llm.shipped import export_adapter, training_adapter

    out = tmp_path / "run"
    config = TrainConfig(max_steps=6, eval_every=2, save_every=5, keep_last=1, **SMALL)
    train(llm_data, out, config, _backbone(tiny_t5_dir), PromptConfig(n_recent=2))
    steps = [s for s, _ in ckpt.list_checkpoints(out / "checkpoints")]
    newest = out / "checkpoints" / ckpt.checkpoint_name(steps[-1])
    best = json.loads((newest / "convrec_config.json").read_text())["best"]["step"]
    assert best in (2, 4, 6) and best in steps

    def exported_step(source):
        exported = export_adapter(source, tmp_path / "exported")
        return json.loads((exported / "convrec_config.json").read_text())["export"]["source_step"]

    assert training_adapter(out) == out and exported_step(out) == 6  # the finished run
    # a run stopped early is not an adapter yet: export takes its best checkpoint
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (out / name).unlink()
    assert training_adapter(out) == out / "checkpoints" / ckpt.checkpoint_name(best)
    assert exported_step(out) == best
    # exporting an exported adapter again (to add its fusion, say) keeps the step it came from
    assert exported_step(tmp_path / "exported") == best


def test_training_the_rerank_task_reads_lists_and_starts_from_an_adapter(
    llm_data, tiny_t5_dir, tmp_path
):
    from safetensors.torch import load_file

    from convrec.training.train import start_from_adapter

    out = tmp_path / "rerank"
    result = _train_one_task(llm_data, tiny_t5_dir, "rerank", out)
    assert {"rerank_ndcg@10", "cf_ndcg@10"} <= set(result.valid[0])
    saved = json.loads((out / "convrec_config.json").read_text())
    assert saved["llm"]["ranking"] == "rerank"
    assert LLMModel.from_pretrained(out).config.ranking == "rerank"
    assert TrainConfig(tasks=("ranking", "rerank"), weights=(1.0, 1.0)).ranking == "rerank"
    # a second run starts from that adapter's weights (and its backbone settings)
    more = TrainConfig(
        tasks=("rating", "rerank"), weights=(1.0, 1.0), init_adapter=str(out), **SMALL
    )
    bb = start_from_adapter(more)
    want = load_file(str(out / "adapter_model.safetensors"))
    got = {k: v for k, v in bb.model.state_dict().items() if "lora_" in k}
    assert len(got) == len(want) > 0
    for key, value in want.items():
        match = [k for k in got if k.replace(".default", "") == key]
        assert len(match) == 1 and torch.equal(got[match[0]], value.float()), key
    assert all(p.requires_grad for n, p in bb.model.named_parameters() if "lora_" in n)
    quick = dataclasses.replace(more, max_steps=4, eval_every=0, save_every=0)
    result = train(llm_data, tmp_path / "more", quick)
    assert result.step == 4
    with pytest.raises(FileNotFoundError, match="not a convrec adapter"):
        start_from_adapter(TrainConfig(init_adapter=str(tmp_path)))
    with pytest.raises(ValueError, match="rerank_negatives"):
        TrainConfig(rerank_negatives=0)


@pytest.mark.parametrize("default", [False, True])
def test_rerank_loss_is_the_cross_entropy_at_the_answer(tiny_t5_dir, default):
    """The rerank loss (each prompt encoded once, the LM head at the answer position only where
    the decoder allows it) equals the model's own label loss over the expanded batch."""
    from convrec.llm.scoring import keeps_logits
    from convrec.training.train import MultiTaskLoss

    bb = load_backbone(BackboneConfig(seed=0)) if default else _backbone(tiny_t5_dir)
    assert keeps_logits(bb) == default
    src = bb.encode_sources(["alpha bravo charlie", "delta echo"])
    dec = [[bb.decoder_start_id, 7, 9, 11], [bb.decoder_start_id, 5], [bb.decoder_start_id, 8, 6]]
    owner = torch.tensor([0, 1, 1])
    answers = torch.tensor([12, 30, 14])
    width = max(len(x) for x in dec)
    ids = torch.tensor([x + [bb.pad_id] * (width - len(x)) for x in dec])
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in dec])
    last = torch.tensor([len(x) - 1 for x in dec])
    batch = {
        **src,
        "decoder_input_ids": ids,
        "decoder_attention_mask": mask,
        "owner": owner,
        "answers": answers,
        "answer_at": last,
    }
    loss_fn = MultiTaskLoss(bb.model, 1, False, [1, 2, 3, 4, 5], keeps_logits(bb))
    loss, raw = loss_fn(0, batch)
    labels = torch.full_like(ids, -100)
    labels[torch.arange(3), last] = answers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        want = bb.model(
            input_ids=src["input_ids"][owner],
            attention_mask=src["attention_mask"][owner],
            decoder_input_ids=ids,
            decoder_attention_mask=mask,
            labels=labels,
        ).loss
    assert float(loss.detach()) == pytest.approx(float(want.detach()), abs=1e-5)
    assert torch.equal(loss, raw)
    loss.backward()  # gradients reach the LoRA weights
    assert any(p.grad is not None for n, p in bb.model.named_parameters() if "lora_" in n)


def test_session_profiles_are_the_earliest_liked_items_rated_the_top():
    from convrec.llm.prompt_examples import session_profile

    items = np.array([10, 11, 12, 13, 14, 15], np.int32)  # newest first
    ratings = np.array([5, 2, 4, 5, 1, 4], np.float32)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(60):
        got, rated = session_profile(items, ratings, 3.4, 5.0, rng)
        liked_oldest_first = [15, 13, 12, 10]
        assert got[::-1].tolist() == liked_oldest_first[: len(got)]
        assert (rated == 5.0).all()
        seen.add(len(got))
    assert seen == {1, 2, 3, 4}  # 1..5 drawn, at most the 4 liked ones
    flat = np.ones(6, np.float32)
    got, rated = session_profile(items, flat, 3.4, 5.0, rng)  # nothing liked: unchanged
    assert got.tolist() == items.tolist() and rated.tolist() == flat.tolist()
    with pytest.raises(ValueError, match="session_share must be in"):
        TrainConfig(session_share=1.5)


def test_split_s_keeps_protocol_s_valid_and_test_users_and_cold_items_unseen(llm_data):
    split = user_split(llm_data)
    unseen = np.r_[split.valid_users, split.test_users]
    cold = cold_items(llm_data)
    rows = dataclasses.astuple(split_rows(llm_data, "S"))
    default = dataclasses.astuple(split_rows(llm_data, None))
    for part, full in zip(rows, default, strict=True):
        assert len(part) and not np.isin(llm_data.user[part], unseen).any()
        assert not np.isin(llm_data.item[part], cold).any()
        # every train user's row of that part on a warm item is kept
        mine = full[
            np.isin(llm_data.user[full], split.train_users) & ~np.isin(llm_data.item[full], cold)
        ]
        assert sorted(part.tolist()) == sorted(mine.tolist())
    assert np.isin(llm_data.item[default[0]], cold).any()  # so the cold filter did drop rows
    got = task_rows(llm_data, [Task.RATING, Task.RERANK], "S")
    assert got[Task.RATING].tolist() == rows[0].tolist()
    assert got[Task.RERANK].tolist() == rows[1].tolist()
    with pytest.raises(ValueError, match="split must be one of A, B, C, S"):
        TrainConfig(split="D")


def test_rerank_trains_on_session_shaped_profiles(llm_data, tiny_t5_dir, tmp_path):
    config = TrainConfig(
        tasks=("rerank",), weights=(1.0,), max_steps=4, eval_every=2, save_every=0,
        session_share=1.0, split="S", **SMALL,
    )  # fmt: skip
    result = train(llm_data, tmp_path / "s", config, BackboneConfig(str(tiny_t5_dir), lora_r=4))
    assert result.step == 4 and all(np.isfinite(h["loss"]) for h in result.history)
    assert len(result.valid) == 2
    saved = json.loads((tmp_path / "s" / "convrec_config.json").read_text())
    assert saved["train"]["session_share"] == 1.0 and saved["train"]["split"] == "S"
    # explanations are generated as long as the targets it learned
    assert saved["llm"]["explain_max_tokens"] == saved["train"]["max_target_length"]


def test_a_fact_slot_adapter_is_saved_loaded_and_prompted_with_slots(tiny_t5_dir, tmp_path):
    """--fact-slots: the prompts setting is saved, the loaded LLM says it writes slot names,
    and its explanation prompts name slots in place of values."""
    from convrec.llm.tasks import Task

    from .conftest import make_llm_data

    data = make_llm_data(reviews=False)
    config = TrainConfig(
        tasks=("explanation",),
        templates=("explanation-5",),
        max_steps=2,
        eval_every=0,
        save_every=0,
        **SMALL,
    )
    tiny = BackboneConfig(name_or_path=str(tiny_t5_dir), lora_r=4)
    train(data, tmp_path / "slots", config, tiny, PromptConfig(fact_slots=True))
    saved = json.loads((tmp_path / "slots" / "convrec_config.json").read_text())
    assert saved["prompts"]["fact_slots"] is True
    llm = LLMModel.from_pretrained(tmp_path / "slots")
    llm.fit(data, np.arange(len(data.user)), item_neighbours(data, np.arange(len(data.user))))
    assert llm.fact_slots
    prompts = llm.builder.prompts(Task.EXPLANATION, np.arange(4), np.arange(4), "explanation-5")
    assert all("citing these facts: " in p for p in prompts)
    facts = [p.split("citing these facts: ", 1)[1] for p in prompts]
    assert any("[ta]" in f for f in facts) and not any(c.isdigit() for f in facts for c in f)
    assert len(llm.explain(np.arange(2), np.arange(2))) == 2
    llm.config = dataclasses.replace(llm.config, templates={"explanation": "explanation-1"})
    assert not llm.fact_slots  # a template without facts: nothing to fill
