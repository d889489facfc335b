"""The batchnorm experiment's medium scale: the MNIST parts as at small scale plus a CIFAR-10 learning-rate sweep
of plain-20 with and without BN (its plan, its verdict on made-up accuracies, and the whole path on digits)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from classicnets.experiments import batchnorm as bn_exp
from classicnets.experiments import framework
from classicnets.experiments.framework import Context, get_experiment

LRS = (0.008, 0.018, 0.04, 0.09, 0.2, 0.45, 1.0)


def _ctx(tmp_path: Path, scale: str) -> Context:
    (tmp_path / "mnist").mkdir(exist_ok=True)
    (tmp_path / "cifar-10-python.tar.xz").write_bytes(b"")  # the lossless copy, beside the JPEG one
    (tmp_path / "cifar10-jpg.tar.gz").write_bytes(b"")
    return Context(experiment="batchnorm", scale=scale, out=tmp_path / "out", data_dir=str(tmp_path))


def test_medium_plan_keeps_the_small_mnist_runs_and_adds_the_plain20_sweep(tmp_path) -> None:
    exp = get_experiment("batchnorm")
    small = {s.key: s.config for s in exp.plan(_ctx(tmp_path, "small"))}
    specs = exp.plan(_ctx(tmp_path, "medium"))
    mnist = {s.key: s.config for s in specs if s.info["part"] != "sweep"}
    assert mnist == small  # the same keys and configs: a small-scale run's MNIST folders serve as they are
    sweep = [s for s in specs if s.info["part"] == "sweep"]
    assert [s.key for s in sweep] == [f"plain20{b}-lr{lr:g}" for b in ("", "-bn") for lr in LRS]
    assert sweep[0].key == "plain20-lr0.008" and sweep[-1].key == "plain20-bn-lr1"
    for s in sweep:
        c = s.config
        assert (c.model, c.dataset, c.recipe, c.epochs, c.batch_size, c.seed) == (
            "plain20", "cifar10", "fast-cifar", 15, 128, 0), s.key
        assert c.data_dir == str(tmp_path / "cifar-10-python.tar.xz")
        assert c.model_args == {"batch_norm": s.info["bn"], "init": "kaiming"} and c.lr == s.info["lr"]
        assert c.grad_clip is None and not c.snapshot_every_steps  # the recipe's (none); no snapshots
    assert exp.needs_data["medium"] == "mnist and cifar10"
    text = exp.scales["medium"]
    assert "14 runs x 15 epochs" in text and "3.5 hours" in text and "--jobs 2" in text
    for scale in ("smoke", "small", "paper"):  # the other scales train no sweep
        assert all(s.info["part"] != "sweep" for s in exp.plan(_ctx(tmp_path, scale)))


def test_the_grid_is_geometric_and_two_steps_are_the_claimed_factor() -> None:
    assert bn_exp.SWEEP_LRS == LRS and bn_exp.HIGH_LR_FACTOR == 5.0
    steps = [b / a for a, b in zip(LRS, LRS[1:], strict=False)]
    assert all(2.2 <= r <= 2.25 for r in steps), steps
    assert all(math.isclose(b / a, 5.0) for a, b in zip(LRS, LRS[2:], strict=False))


def test_trains_needs_no_divergence_more_than_twice_chance_and_the_margin() -> None:
    t = bn_exp.trains
    assert t(0.80, 0.82) and t(0.77, 0.82)  # within 5 points of the best
    assert not t(0.76, 0.82)
    assert not t(None, 0.82)  # diverged
    assert not t(0.19, 0.20)  # within the margin, but not above twice chance
    assert bn_exp.highest_training_rate({0.01: 0.8, 0.1: None, 1.0: 0.1}) == 0.01
    assert bn_exp.highest_training_rate({0.01: None, 0.1: None}) is None


def _accs(values) -> dict[float, float | None]:
    return dict(zip(LRS, values, strict=True))


BN_ALL = _accs([0.80, 0.84, 0.86, 0.87, 0.87, 0.86, 0.84])  # trains at every rate, the grid's highest too
BN_TO_045 = _accs([0.80, 0.84, 0.86, 0.87, 0.87, 0.85, None])  # diverges at 1.0: its limit is inside the grid


@pytest.mark.parametrize(("bn", "plain", "status", "phrase"), [
    # no BN: trains to 0.04, stuck near chance at 0.09, then diverges; BN to 1.0 (25x)
    (BN_ALL, _accs([0.76, 0.79, 0.80, 0.10, None, None, None]), "supported", "with BN 1, without 0.04 (ratio 25.00x)"),
    # exactly 5x, BN's own limit inside the grid
    (BN_TO_045, _accs([0.76, 0.79, 0.80, 0.79, None, None, None]), "supported", "ratio 5.00x"),
    # no BN loses 12 points at 0.2 (below the 5-point margin): it does not train there
    (BN_TO_045, _accs([0.76, 0.79, 0.80, 0.79, 0.68, None, None]), "supported", "0.2: 87.00% / 68.00%"),
    # the claim fails: BN's limit 0.45 (diverged at 1.0) is 2.25x the no-BN net's 0.2
    (BN_TO_045, _accs([0.76, 0.79, 0.80, 0.80, 0.78, None, None]), "not supported", "ratio 2.25x"),
    (_accs([0.80, 0.84, 0.86, 0.70, None, None, None]), _accs([0.76, 0.79, 0.80, 0.80, 0.78, None, None]),
     "not supported", "with BN 0.04, without 0.2"),
    # BN trains at the grid's top, 2.22x the no-BN limit: BN's limit is not bracketed
    (BN_ALL, _accs([0.76, 0.79, 0.80, 0.80, 0.78, 0.77, None]), "inconclusive", "lies above the grid"),
    # no BN trains at the grid's top: its limit is not bracketed
    (BN_ALL, _accs([0.76, 0.79, 0.80, 0.80, 0.78, 0.77, 0.76]), "inconclusive", "trains even at the grid's highest"),
    # every no-BN run diverged: diverged runs do not train
    (BN_ALL, _accs([None] * 7), "inconclusive", "trains at no rate of the grid, not even 0.008"),
    (_accs([None] * 7), _accs([0.76, 0.79, 0.80, 0.10, None, None, None]), "inconclusive", "BN net trains at no"),
])
def test_verdict_lr_range(bn, plain, status, phrase) -> None:
    v = bn_exp.verdict_lr_range("plain20", bn, plain, context="cifar10, 15 epochs")
    assert v.status == status, v.line()
    assert phrase in v.line(), v.line()
    assert "diverged" in v.evidence or all(a is not None for a in (*bn.values(), *plain.values()))


def test_verdict_lr_range_looks_past_a_diverged_lower_rate() -> None:
    # without the diverged 0.09 run the no-BN net's best is 0.80: 0.2 at 0.78 trains, 0.45 diverged
    plain = _accs([0.70, 0.76, 0.80, None, 0.78, None, None])
    v = bn_exp.verdict_lr_range("plain20", BN_ALL, plain)
    assert v.status == "supported" and "without 0.2 (ratio 5.00x)" in v.evidence and "0.09: 87.00% / diverged" \
        in v.evidence, v.line()


def test_medium_end_to_end_on_digits(tmp_path, monkeypatch) -> None:
    """The medium scale's whole path (plan, sweep, analysis, table, figure, summary) at smoke size on digits, with
    a no-BN rate so high that the run diverges (NaN loss) and must be recorded, not crash the analysis."""
    smoke = bn_exp.SCALES["smoke"]
    sweep = {"dataset": "digits", "model": "plain20", "lrs": (0.02, 0.1, 1e5),
             "train": {"recipe": "fast-cifar", "epochs": 1, "batch_size": 64}}
    monkeypatch.setitem(bn_exp.SCALES, "medium", {**smoke, "sweep": sweep})
    exp = get_experiment("batchnorm")
    monkeypatch.setitem(framework._EXPERIMENTS, "batchnorm", dataclasses.replace(exp, needs_data={}))
    out = tmp_path / "bn-medium"
    r = framework.run_experiment("batchnorm", scale="medium", out=out, verbose=False)
    keys = {f"plain20{b}-lr{lr:g}" for b in ("", "-bn") for lr in (0.02, 0.1, 1e5)}
    assert keys <= set(r["runs"]) and len(r["runs"]) == 8 + 6
    assert r["runs"]["plain20-lr100000"]["status"] == "diverged"
    m = r["measurements"]["lr_sweep"]
    assert m["final_test_acc"]["plain"]["100000.0"] is None and m["diverged"]["plain20-lr100000"] is True
    assert all(m["final_test_acc"][side][str(lr)] is not None for side in ("bn", "plain") for lr in (0.02, 0.1))
    assert len(r["verdicts"]) == 8 and r["verdicts"][-1]["claim"].startswith("BN allows a learning rate at least 5x")
    assert "100000: " in r["verdicts"][-1]["evidence"] and "/ diverged" in r["verdicts"][-1]["evidence"]
    assert (out / "figures" / "plain20_digits_lr_sweep.png").is_file()
    summary = (out / "summary.md").read_text()
    assert "plain20 on digits: final test accuracy (%) by peak learning rate" in summary
    assert "(does not train)" in summary and "Medium scale:" in summary
    data = json.loads((out / "results.json").read_text())
    assert data["verdicts"][-1]["line"] == r["verdicts"][-1]["line"]
