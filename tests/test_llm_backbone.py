"""Backbone loading: checkpoints by path, LoRA adapters that reload exactly, the default, k-bit."""

import os
import subprocess
import sys
import time

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["HF_HUB_OFFLINE"] = "1"

torch = pytest.importorskip("torch")

from convrec.llm.backbone import (  # noqa: E402
    DEFAULT_BACKBONE,
    BackboneConfig,
    load_backbone,
    lora_settings,
)

PEFT_DEPRECATION = "ignore:.*is_gradient_checkpointing.*:FutureWarning"


def _logits(backbone, text="predict the rating of alpha bravo 3"):
    batch = backbone.encode_sources([text])
    dec = torch.tensor([[backbone.decoder_start_id, 7, 9]])
    with torch.no_grad():
        return backbone.model(**batch, decoder_input_ids=dec).logits


def _randomise_lora(model, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)


def test_config_json_round_trip(tmp_path):
    cfg = BackboneConfig(name_or_path="x", lora_r=4, quantization="4bit", max_source_length=64)
    cfg.save(tmp_path / "c.json")
    assert BackboneConfig.load(tmp_path / "c.json") == cfg
    with pytest.raises(ValueError, match="quantization"):
        BackboneConfig(quantization="3bit")  # type: ignore[arg-type]


def test_tiny_t5_loads_by_path_with_lora(tiny_t5_dir):
    bb = load_backbone(BackboneConfig(name_or_path=str(tiny_t5_dir), lora_r=4))
    assert bb.model_type == "t5"
    assert (bb.decoder_start_id, bb.pad_id, bb.eos_id) == tuple(
        bb.tokenizer.convert_tokens_to_ids(t) for t in ("[CLS]", "[PAD]", "[SEP]")
    )
    trainable = {n for n, p in bb.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert any(".q.lora_A" in n for n in trainable) and any(".wo.lora_B" in n for n in trainable)
    assert bb.encode_targets(["alpha bravo"])[0][-1] == bb.eos_id


@pytest.mark.filterwarnings(PEFT_DEPRECATION)
def test_adapter_reloads_with_plain_peft(tiny_t5_dir, tmp_path):
    from peft import PeftModel

    bb = load_backbone(BackboneConfig(name_or_path=str(tiny_t5_dir), lora_r=4))
    _randomise_lora(bb.model)
    before = _logits(bb)
    assert not torch.allclose(before, _logits(load_backbone(bb.config, lora=False)))
    bb.save_adapter(tmp_path / "adapter")
    assert {"adapter_config.json", "adapter_model.safetensors", "backbone_config.json"} <= set(
        os.listdir(tmp_path / "adapter")
    )
    base = load_backbone(bb.config, lora=False)
    base.model = PeftModel.from_pretrained(base.model, str(tmp_path / "adapter")).eval()
    assert torch.equal(_logits(base), before)


@pytest.mark.filterwarnings(PEFT_DEPRECATION)
def test_default_minilm_encoder_decoder_offline(tmp_path):
    """The embedded default: new cross-attention + LM transform saved in the adapter."""
    from peft import PeftModel

    start = time.perf_counter()
    bb = load_backbone(BackboneConfig(seed=0))
    tok = bb.tokenizer
    assert bb.model_type == "encoder-decoder" and DEFAULT_BACKBONE.startswith("builtin:")
    assert (bb.decoder_start_id, bb.pad_id, bb.eos_id) == (
        tok.cls_token_id,
        tok.pad_token_id,
        tok.sep_token_id,
    )
    base = bb.base_model
    for cfg in (base.config, base.generation_config):
        assert cfg.decoder_start_token_id == tok.cls_token_id
        assert cfg.eos_token_id == tok.sep_token_id and cfg.pad_token_id == tok.pad_token_id
    names = [n for n, _ in bb.model.named_modules() if n.endswith(".lora_A")]
    assert len(names) == 72  # 2 stacks x 6 layers x (q, k, v, attn out, ffn in, ffn out)
    assert not [n for n in names if "pooler" in n or "crossattention" in n or ".cls." in n]
    assert lora_settings("encoder-decoder", bb.config)[1] == ["crossattention", "transform"]
    _randomise_lora(bb.model)
    before = _logits(bb)
    bb.save_adapter(tmp_path / "adapter")
    other = load_backbone(BackboneConfig(seed=1), lora=False)  # differently initialised base
    assert (_logits(other) - before).abs().max() > 1.0
    other.model = PeftModel.from_pretrained(other.model, str(tmp_path / "adapter")).eval()
    assert torch.equal(_logits(other), before)
    assert time.perf_counter() - start < 60


def _bitsandbytes_or_skip():
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:  # missing wheel or native library
        pytest.skip(f"bitsandbytes cannot load here: {exc}")


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")
@pytest.mark.parametrize("bits", ["8bit", "4bit"])
def test_kbit_loading_runs_on_cpu(tiny_t5_dir, bits):
    _bitsandbytes_or_skip()
    import bitsandbytes as bnb

    bb = load_backbone(BackboneConfig(name_or_path=str(tiny_t5_dir), quantization=bits, lora_r=4))
    from peft.tuners.lora import bnb as lora_bnb

    layer = bnb.nn.Linear8bitLt if bits == "8bit" else bnb.nn.Linear4bit
    assert any(isinstance(m, layer) for m in bb.model.modules())
    # LoRA layers for k-bit weights, also after unquantized loads hid bitsandbytes from peft
    lora_layer = lora_bnb.Linear8bitLt if bits == "8bit" else lora_bnb.Linear4bit
    assert any(isinstance(m, lora_layer) for m in bb.model.modules())
    out = _logits(bb)
    assert out.shape[-1] == len(bb.tokenizer) and torch.isfinite(out).all()
    # one QLoRA step moves the adapter
    bb.model.train()
    batch = bb.encode_sources(["alpha bravo"])
    labels = torch.tensor([bb.encode_targets(["charlie"])[0]])
    loss = bb.model(**batch, labels=labels).loss
    loss.backward()
    grads = [p.grad for n, p in bb.model.named_parameters() if "lora_" in n and p.requires_grad]
    assert grads and any(g is not None and g.abs().sum() > 0 for g in grads)


def test_unquantized_lora_leaves_bitsandbytes_unimported(tiny_t5_dir):
    # peft imports bitsandbytes when it is installed: a second of start-up and a stderr line
    code = (
        "import sys\n"
        "from convrec.llm.backbone import BackboneConfig, load_backbone\n"
        f"bb = load_backbone(BackboneConfig(name_or_path={str(tiny_t5_dir)!r}, lora_r=4))\n"
        "assert hasattr(bb.model, 'peft_config')\n"
        "assert 'bitsandbytes' not in sys.modules, 'bitsandbytes was imported'\n"
        "import importlib.util, peft.import_utils as probes\n"  # the probe is not stuck
        "assert probes.is_bnb_available() == bool(importlib.util.find_spec('bitsandbytes'))\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]


def test_unknown_architecture_needs_explicit_targets():
    with pytest.raises(ValueError, match="target_modules"):
        lora_settings("gpt2", BackboneConfig())
