"""The learning-rate schedule of convrec train: transformers' linear warmup and decay."""

import pytest

torch = pytest.importorskip("torch")

from convrec.llm.backbone import BackboneConfig, load_backbone  # noqa: E402
from convrec.llm.prompts import PromptConfig  # noqa: E402
from convrec.training.train import TrainConfig, Trainer  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")


def test_trainer_schedule_is_linear_warmup_then_decay(llm_data, tiny_t5_dir, tmp_path):
    config = TrainConfig(
        tasks=("rating",), max_steps=10, warmup_steps=3, batch_size=2, lr=0.5,
        eval_every=0, save_every=0,
    )  # fmt: skip
    backbone = load_backbone(BackboneConfig(name_or_path=str(tiny_t5_dir), lora_r=4))
    trainer = Trainer(llm_data, tmp_path / "out", config, backbone, PromptConfig(), quiet=True)
    assert trainer.total_steps == 10
    lrs = []
    for _ in range(11):
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.optimizer.step()
        trainer.scheduler.step()
    # warmup k / 3 from 0, the peak 0.5 at step 3, then linear to 0 at step 10
    expected = [0.5 * k / 3 for k in range(3)] + [0.5 * (10 - k) / 7 for k in range(3, 11)]
    assert lrs == pytest.approx(expected, abs=1e-12)
