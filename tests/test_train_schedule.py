"""The learning-rate schedule of convrec train: pinned values, and how it relates to
transformers.get_scheduler("linear")."""

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from convrec.training.train import lr_factor  # noqa: E402


def _lrs(make, steps):
    """Learning rates of the first ``steps`` optimizer steps under scheduler ``make(opt)``."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_lr_factor_pins_the_shipped_schedule():
    assert [lr_factor(k, 3, 10) for k in range(11)] == pytest.approx(
        [1 / 3, 2 / 3, 1, 1, 6 / 7, 5 / 7, 4 / 7, 3 / 7, 2 / 7, 1 / 7, 0], abs=1e-15
    )
    assert [lr_factor(k, 0, 4) for k in range(5)] == [1, 0.75, 0.5, 0.25, 0]


@pytest.mark.parametrize(("warmup", "total"), [(3, 10), (50, 1000), (1, 5), (0, 7)])
def test_schedule_against_transformers_linear(warmup, total):
    ours = _lrs(
        lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda k: lr_factor(k, warmup, total)),
        total,
    )
    theirs = _lrs(
        lambda o: transformers.get_scheduler(
            "linear", o, num_warmup_steps=warmup, num_training_steps=total
        ),
        total + 1,
    )
    # from the end of warmup on the two are the same schedule
    assert ours[warmup:] == pytest.approx(theirs[warmup:total], rel=1e-12, abs=1e-15)
    # during warmup transformers trains step k at k / warmup: one step behind (0 at step 0)
    assert ours[:warmup] == pytest.approx(theirs[1 : warmup + 1], rel=1e-12)
    if warmup:
        assert theirs[0] == 0.0 and ours[0] == pytest.approx(0.5 / warmup)
