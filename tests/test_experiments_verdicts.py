"""Verdict logic of every experiment, on synthetic measurements: each outcome (supported, not supported,
inconclusive) is reached by the numbers that should reach it, and the line states the numbers."""

from __future__ import annotations

import pytest

from classicnets.experiments.framework import Verdict


def _deg():
    from classicnets.experiments import degradation

    return degradation


def _bn():
    from classicnets.experiments import batchnorm

    return batchnorm


def _gap():
    from classicnets.experiments import gap

    return gap


def e(train: float, test: float) -> dict[str, float]:
    return {"train_err": train, "test_err": test}


def test_verdict_line_and_status_check() -> None:
    v = Verdict("X beats Y.", "inconclusive", "X 1, Y 2.", "too few steps.")
    assert v.line() == "VERDICT (inconclusive): X beats Y. Measured: X 1, Y 2. Reason: too few steps."
    with pytest.raises(ValueError, match="status"):
        Verdict("c", "maybe", "e")


# -- degradation ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("shallow", "deep", "status", "phrase"), [
    (e(10.0, 12.0), e(14.0, 15.0), "supported", "not overfitting"),
    (e(10.0, 12.0), e(8.0, 14.0), "not supported", "overfitting"),
    (e(10.0, 12.0), e(10.3, 12.1), "inconclusive", "margin"),
    (e(60.0, 61.0), e(70.0, 71.0), "inconclusive", "plain-20's training error is above half the chance"),
    # the deep net stuck near chance while the shallow one learned: that is the degradation
    (e(25.8, 25.5), e(66.4, 65.0), "supported", "not overfitting"),
])
def test_verdict_plain(shallow, deep, status, phrase) -> None:
    v = _deg().verdict_plain(shallow, deep, depths=(20, 56))
    assert v.status == status, v.line()
    assert phrase in v.line()
    assert f"{shallow['train_err']:.2f}%" in v.evidence and f"{deep['train_err']:.2f}%" in v.evidence


@pytest.mark.parametrize(("shallow", "deep", "status"), [
    (e(10.0, 12.0), e(8.0, 10.0), "supported"),
    (e(10.0, 12.0), e(12.0, 13.0), "not supported"),
    (e(10.0, 12.0), e(9.8, 11.0), "inconclusive"),
    (e(50.0, 52.0), e(40.0, 45.0), "inconclusive"),
])
def test_verdict_residual(shallow, deep, status) -> None:
    v = _deg().verdict_residual(shallow, deep, depths=(20, 56))
    assert v.status == status, v.line()
    assert "ResNet-56" in v.claim and "ResNet-20" in v.claim


def test_verdict_residual_shortened_run_cannot_refute() -> None:
    """A deeper ResNet behind after a shortened schedule is inconclusive; after the full one, not supported."""
    shallow, deep = e(20.6, 21.6), e(28.4, 28.3)
    short = _deg().verdict_residual(shallow, deep, depths=(20, 56), schedule_fraction=3000 / 64000)
    assert short.status == "inconclusive", short.line()
    assert "4.7% of the paper's 64k iterations" in short.line()
    full = _deg().verdict_residual(shallow, deep, depths=(20, 56), schedule_fraction=1.0)
    assert full.status == "not supported", full.line()
    ahead = _deg().verdict_residual(shallow, e(18.0, 19.0), depths=(20, 56), schedule_fraction=0.05)
    assert ahead.status == "supported", ahead.line()


@pytest.mark.parametrize(("gaps", "status", "phrase"), [
    ([1.0, 2.0, 3.5, 5.0], "supported", "grows"),
    ([5.0, 3.0, 3.2, 1.0], "supported", "shrinks"),
    ([2.0, 2.2, 1.9, 2.3], "not supported", "within"),
    ([1.0, 4.0, 0.5, 4.5], "inconclusive", "up and down"),
])
def test_verdict_size_trend(gaps, status, phrase) -> None:
    v = _deg().verdict_size_trend("plain nets", [5000, 10000, 25000, 50000], gaps)
    assert v.status == status, v.line()
    assert phrase in v.line()
    assert "at 5,000" in v.evidence and "at 50,000" in v.evidence


def test_verdict_size_trend_needs_two_sizes_and_trained_nets() -> None:
    assert _deg().verdict_size_trend("plain", [50000], [3.0]).status == "inconclusive"
    v = _deg().verdict_size_trend("plain", [5000, 50000], [1.0, 5.0], trained=False)
    assert v.status == "inconclusive" and "barely started" in v.reason


# -- batchnorm ------------------------------------------------------------------------------------------------
T = (0.97, 0.98, 0.99)


@pytest.mark.parametrize(("bn", "plain", "status"), [
    ({0.97: 200, 0.98: 500, 0.99: 2000}, {0.97: 800, 0.98: 2000, 0.99: None}, "supported"),
    ({0.97: 800, 0.98: 2000, 0.99: None}, {0.97: 200, 0.98: 500, 0.99: 2000}, "not supported"),
    ({0.97: 200, 0.98: 500, 0.99: None}, {0.97: 300, 0.98: 500, 0.99: None}, "inconclusive"),  # within 250 steps
    ({0.97: None, 0.98: None, 0.99: None}, {0.97: None, 0.98: None, 0.99: None}, "inconclusive"),
])
def test_verdict_convergence(bn, plain, status) -> None:
    v = _bn().verdict_convergence("cnn3", bn, plain, total_steps=6000, resolution=250, context="lr 0.01")
    assert v.status == status, v.line()
    assert "97%" in v.evidence and "measured every 250 steps" in v.evidence


def test_verdict_convergence_states_ratio() -> None:
    v = _bn().verdict_convergence("cnn3", {0.97: 200}, {0.97: 800}, total_steps=6000, resolution=100)
    assert "ratio 4.00x" in v.evidence


@pytest.mark.parametrize(("bn", "plain", "status", "phrase"), [
    (0.99, None, "supported", "diverged"),
    (0.99, 0.90, "supported", "plain 90.00%"),
    (0.80, None, "not supported", "BN net itself"),
    (0.99, 0.985, "not supported", "plain net trains as well"),
])
def test_verdict_high_lr(bn, plain, status, phrase) -> None:
    v = _bn().verdict_high_lr("cnn3", 30, bn_acc=bn, plain_acc=plain, bn_base_acc=0.99, plain_base_acc=0.988, lr=0.3)
    assert v.status == status, v.line()
    assert phrase in v.line()


@pytest.mark.parametrize(("bn_base", "plain_base"), [(None, 0.98), (0.98, 0.2)])
def test_verdict_high_lr_inconclusive_without_a_working_base(bn_base, plain_base) -> None:
    v = _bn().verdict_high_lr("cnn3", 5, bn_acc=0.99, plain_acc=None, bn_base_acc=bn_base, plain_base_acc=plain_base,
                              lr=0.05)
    assert v.status == "inconclusive", v.line()


def test_percentile_range() -> None:
    track = [[-1.0, 0.0, 1.0], [-2.0, 0.5, 1.0], [-1.5, 0.25, 3.0]]
    assert _bn().percentile_range(track) == pytest.approx((1.0 + 0.5 + 2.0) / 3)


def test_prob_smaller() -> None:
    assert _bn().prob_smaller([0.9, 1.9, 2.9], [1.0, 2.0, 3.0]) == pytest.approx(6 / 9)
    assert _bn().prob_smaller([2.0], [2.0]) == 0.5


@pytest.mark.parametrize(("bn", "plain", "status", "share"), [
    ([0.1, 0.2, 0.3], [1.0, 2.0, 3.0], "supported", "100%"),
    ([2.0, 2.5, 3.0], [1.0, 2.0, 3.0], "not supported", "33%"),
    ([0.9, 1.9, 2.9], [1.0, 2.0, 3.0], "inconclusive", "67%"),
])
def test_verdict_stability(bn, plain, status, share) -> None:
    v = _bn().verdict_stability(bn, plain, unit_bn=bn[0], unit_plain=plain[0], steps=50000)
    assert v.status == status, v.line()
    assert f"{plain[1]:.3f} without BN" in v.evidence and f"{bn[1]:.3f} with BN" in v.evidence
    assert f"smaller one in {share} of" in v.evidence


def test_verdict_stability_needs_training() -> None:
    v = _bn().verdict_stability([0.1], [1.0], unit_bn=0.1, unit_plain=1.0, steps=40, trained=False)
    assert v.status == "inconclusive" and "barely" in v.reason


# -- gap ---------------------------------------------------------------------------------------------------------
def test_verdict_any_size() -> None:
    g = _gap()
    gap_ok = {96: 0.40, 128: 0.50, 160: 0.45}
    fc_ok = {96: None, 128: 0.45, 160: None}
    assert g.verdict_any_size(gap_ok, fc_ok, train_size=128, chance=1 / 17).status == "supported"
    assert g.verdict_any_size({**gap_ok, 96: None}, fc_ok, train_size=128, chance=1 / 17).status == "not supported"
    assert g.verdict_any_size(gap_ok, {**fc_ok, 96: 0.3}, train_size=128, chance=1 / 17).status == "not supported"
    low = {96: 0.06, 128: 0.07, 160: 0.06}
    assert g.verdict_any_size(low, fc_ok, train_size=128, chance=1 / 17).status == "inconclusive"


def test_verdict_size_robust() -> None:
    g = _gap()
    f = g.verdict_size_robust
    assert f({96: 0.45, 128: 0.50, 160: 0.47}, train_size=128, chance=1 / 17).status == "supported"
    assert f({96: 0.08, 128: 0.50, 160: 0.47}, train_size=128, chance=1 / 17).status == "not supported"
    v = f({96: 0.30, 128: 0.50, 160: 0.47}, train_size=128, chance=1 / 17)
    assert v.status == "inconclusive" and "20.0 points at 96x96" in v.reason


@pytest.mark.parametrize(("gap_acc", "fc_acc", "status"), [
    (0.60, 0.45, "supported"),
    (0.45, 0.60, "not supported"),
    (0.50, 0.48, "inconclusive"),
    (0.08, 0.07, "inconclusive"),
])
def test_verdict_regularization(gap_acc, fc_acc, status) -> None:
    v = _gap().verdict_regularization(gap_acc=gap_acc, fc_acc=fc_acc, gap_head=17425, fc_head=156689, n_test=340,
                                      chance=1 / 17)
    assert v.status == status, v.line()
    assert "17,425" in v.evidence and "156,689" in v.evidence and "9.0x" in v.evidence


def test_verdict_published() -> None:
    g = _gap()
    assert g.verdict_published(error_pct=11.0, published_pct=10.41, what="NIN").status == "supported"
    assert g.verdict_published(error_pct=12.0, published_pct=10.41, what="NIN").status == "not supported"
