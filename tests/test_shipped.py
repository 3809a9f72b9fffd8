"""The adapters shipped inside the package: plain PEFT directories with a validated fusion."""

import dataclasses
import json
import os

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["HF_HUB_OFFLINE"] = "1"

torch = pytest.importorskip("torch")

from convrec.dialogue import Chat  # noqa: E402
from convrec.llm.shipped import shipped_adapter, shipped_adapters, shipped_fusion  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")


def test_both_domains_ship_an_adapter():
    assert shipped_adapters() == ["amazon-mi5", "ml-100k"]
    assert shipped_adapter("no-such-domain") is None


@pytest.mark.parametrize("name", ["ml-100k", "amazon-mi5"])
def test_a_shipped_adapter_is_a_small_plain_peft_adapter(name):
    from peft import PeftModel
    from safetensors.torch import load_file

    from convrec.llm.backbone import adapter_backbone_config, load_backbone

    folder = shipped_adapter(name)
    assert folder is not None
    weights = folder / "adapter_model.safetensors"
    assert weights.stat().st_size < 10_000_000  # float16
    config = json.loads((folder / "convrec_config.json").read_text())
    assert config["export"]["dtype"] == "float16" and config["export"]["source_step"] > 0
    tasks = set(config["train"]["tasks"])  # all three: rating, explanation and a ranking task
    assert {"rating", "explanation"} <= tasks and tasks & {"ranking", "next", "rerank"}
    trained = {"pointwise": "ranking", "next": "next", "rerank": "rerank"}
    assert trained[config["llm"].get("ranking", "pointwise")] in tasks  # scores as it learned
    assert shipped_fusion(folder) is not None  # chosen on validation (README: Training)
    base = load_backbone(adapter_backbone_config(folder), lora=False).model
    model = PeftModel.from_pretrained(base, str(folder))  # plain peft, nothing of convrec's
    saved = load_file(weights)
    params = dict(model.named_parameters())
    lora = [k for k in saved if "lora_A" in k]
    assert lora
    for key in lora[:3]:
        loaded = params[key.replace("lora_A.weight", "lora_A.default.weight")]
        torch.testing.assert_close(loaded, saved[key].float())
    explainer = config["llm"].get("explainer")
    if explainer:  # a second plain adapter that writes the explanations
        inner = json.loads((folder / explainer / "convrec_config.json").read_text())
        assert "explanation" in inner["train"]["tasks"]
        assert inner["data"]["name"] == config["data"]["name"]
        assert (folder / explainer / "adapter_model.safetensors").stat().st_size < 10_000_000


def test_shipped_explanation_decoding_loads():
    # amazon-mi5 explains by beam search (chosen on valid rows: README "The shipped adapters")
    from convrec.llm.model import LLMModel
    from convrec.llm.scoring import Decoding

    folder = shipped_adapter("amazon-mi5")
    assert folder is not None
    config = json.loads((folder / "convrec_config.json").read_text())["llm"]
    model = LLMModel.from_pretrained(folder)
    assert model.config.decoding() == Decoding(
        config["explain_beams"],
        config["explain_length_penalty"],
        config["explain_no_repeat_ngram"],
        config.get("explain_copy_numbers", True),  # numbers copied from the prompt by default
    )
    assert model.config.decoding().num_beams == 4


def test_amazon_mi5_sessions_rank_with_their_own_session_model_and_content():
    """Protocol S chose the session model on amazon-mi5's valid sessions (a prior that counts
    every interaction once, unlike the default); an adapter that had not seen them added
    nothing measurable to sessions (docs/evaluation.md), so none is asked."""
    fusion = shipped_fusion(shipped_adapter("amazon-mi5"))
    assert fusion is not None
    assert fusion.session_cf == {"k": 50, "popularity": 0.5, "activity": 0.0}
    assert (fusion.session_alpha, fusion.session_fusion) == (1.0, "minmax")
    assert fusion.alpha < 1.0  # known users still fuse the LLM (protocol B)


def test_the_main_command_chats_with_the_shipped_adapter():
    """`convrec chat` serves ml-100k with its shipped adapter: its fusions and checked text."""
    from convrec.recommender.domains import load_domains

    rec = load_domains("ml-100k")["ml-100k"]
    fusion = shipped_fusion(shipped_adapter("ml-100k"))
    assert rec.llm is not None and rec.config.llm_candidates == fusion.llm_candidates
    assert rec.config.rating_alpha == fusion.rating_alpha
    assert rec.config.llm_explanations is fusion.llm_explanations is True
    assert rec.llm.explainer is not None and rec.llm.fact_slots  # its explainer writes slots
    # sessions fuse as protocol S chose (CF and content alone); known users with the LLM
    assert (rec.config.session_alpha, rec.config.session_fusion) == (1.0, "minmax")
    assert (fusion.session_alpha, fusion.session_fusion) == (1.0, "minmax")
    known = rec.recommend(user=rec.data.users.external[0], k=3, explain=False)
    assert all("llm" in item.components for item in known.items)
    reply = Chat(rec).respond("I loved Star Wars and Fargo, give me 3", [])
    assert len(reply.items) == 3
    for item in reply.items:
        assert "llm" not in item.components and "cf" in item.components and item.explanation
        assert item.title in reply.text
        assert "[" not in item.explanation  # every slot filled in
    sources = [item.explanation_source for item in reply.items]
    assert set(sources) <= {"llm", "template"} and sources.count("llm") >= 2
    assert rec.grounding.checked == 3  # each item's texts went through the check once
    rec.config = dataclasses.replace(rec.config, llm_explanations=False)
    reply = Chat(rec).respond("I loved Heat and Alien, give me 3", [])
    assert {item.explanation_source for item in reply.items} == {"template"}
    assert rec.grounding.checked == 3  # rendered facts, nothing generated


def _broken_copy(tmp_path, how):
    """A copy of the shipped ml-100k adapter, broken one way."""
    import shutil

    out = tmp_path / "adapter"
    shutil.copytree(shipped_adapter("ml-100k"), out)
    weights = out / "adapter_model.safetensors"
    if how == "pickle":
        weights.rename(out / "adapter_model.bin")
    elif how == "garbage":
        weights.write_bytes(b"\x00\x01not a safetensors file" * 10)
    elif how == "unknown-key":
        config = json.loads((out / "convrec_config.json").read_text())
        config["backbone"]["frobnicate"] = 1
        (out / "convrec_config.json").write_text(json.dumps(config))
    elif how == "not-json":
        (out / "convrec_config.json").write_text("{not json")
    elif how == "no-explainer":
        shutil.rmtree(out / "explainer")
    return out


BROKEN = {
    "pickle": "pickled weights are not loaded",
    "garbage": "not a readable safetensors file",
    "unknown-key": "unknown backbone settings",
    "not-json": "not valid JSON",
    "no-explainer": "llm.explainer 'explainer' is not an adapter directory",
}


@pytest.mark.parametrize("how", sorted(BROKEN))
def test_a_broken_adapter_directory_is_a_one_line_error(tmp_path, how):
    from convrec.llm.model import LLMModel

    adapter = _broken_copy(tmp_path, how)
    with pytest.raises(ValueError, match=BROKEN[how]) as info:
        LLMModel.from_pretrained(adapter)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


@pytest.mark.parametrize("how", ["pickle", "garbage"])
def test_the_cli_names_a_broken_adapter_in_one_line(tmp_path, how, capsys):
    from convrec.cli import main

    adapter = _broken_copy(tmp_path, how)
    assert main(["recommend", "--data", "ml-100k", "--user", "1", "-k", "2",
                 "--adapter", str(adapter)]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert BROKEN[how] in err and "Traceback" not in err and len(err.splitlines()) == 1
