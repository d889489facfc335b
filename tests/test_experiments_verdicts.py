"""Verdict logic of every experiment (degradation, batchnorm, gap, lesion, paths, factorization, inception), on
synthetic measurements: each outcome (supported, not supported, inconclusive) is reached by the numbers that
should reach it, and the line states the numbers; and the one rule for "has learned"."""

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


def _lesion():
    from classicnets.experiments import lesion

    return lesion


def _paths():
    from classicnets.experiments import paths

    return paths


def _fact():
    from classicnets.experiments import factorization

    return factorization


def _inc():
    from classicnets.experiments import inception

    return inception


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
    (e(85.0, 86.0), e(88.0, 89.0), "inconclusive", "plain-20 has barely started to learn"),
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
    (e(85.0, 86.0), e(75.0, 77.0), "inconclusive"),
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


# -- lesion ---------------------------------------------------------------------------------------------------
def _blocks(changes: list[float], base: float = 10.0) -> dict[str, float]:
    return {f"layer1.{i}": base + c for i, c in enumerate(changes)}


@pytest.mark.parametrize(("base", "changes", "status"), [
    (10.0, [0.5, -0.3, 1.2, 0.1, 0.9, 0.2, 0.0, 0.4, 1.5, 0.3], "supported"),  # all within 2 points
    (10.0, [0.5, 3.0, 1.2, 0.1, 0.9, 0.2, 0.0, 0.4, 1.5, 0.3], "supported"),  # 9 of 10 within
    (10.0, [5.0, 3.0, 2.5, 8.0, 0.9, 0.2, 4.0, 6.0, 1.5, 3.3], "not supported"),  # 3 of 10 within
    (10.0, [5.0, 3.0, 1.2, 0.1, 0.9, 0.2, 4.0, 0.4, 1.5, 3.3], "inconclusive"),  # 6 of 10 within
    (85.0, [0.1] * 10, "inconclusive"),  # not trained
])
def test_verdict_single_deletion(base, changes, status) -> None:
    v = _lesion().verdict_single_deletion(base, _blocks(changes, base), {"layer2.0": base + 7.0})
    assert v.status == status, v.line()
    assert f"{base:.2f}%" in v.evidence and "layer2.0 +7.00" in v.evidence
    assert "downsampling ones cost more" in v.evidence


@pytest.mark.parametrize(("plain_base", "errs", "status"), [
    (20.0, [88.0, 90.0, 85.0, 60.0], "supported"),  # median 86.5 >= 80
    (20.0, [21.0, 20.5, 22.5, 19.0], "not supported"),  # median change < 2 points
    (20.0, [50.0, 60.0, 85.0, 40.0], "inconclusive"),  # big drop, not to chance
    (85.0, [90.0, 90.0], "inconclusive"),  # never learned
    (None, {}, "inconclusive"),  # no twin
])
def test_verdict_plain_deletion(plain_base, errs, status) -> None:
    d = {f"b{i}": e for i, e in enumerate(errs)}
    v = _lesion().verdict_plain_deletion(plain_base, d, res_changes=[0.5, 1.0])
    assert v.status == status, v.line()
    if errs:
        assert f"{plain_base:.2f}%" in v.evidence


@pytest.mark.parametrize(("means", "status"), [
    ([12, 14, 17, 20, 24, 29, 35, 42], "supported"),  # gradual: steepest step 7/32 of the rise
    ([11, 11.5, 12, 60, 61, 62, 62.5, 63], "not supported"),  # one deletion carries 48/53
    ([12, 14, 16, 30, 33, 35, 37, 40], "inconclusive"),  # steepest 14/30: between a third and a half
    ([10.5, 10.8, 11.0, 11.2, 11.1, 11.3, 11.5, 11.9], "inconclusive"),  # rise within the margin
])
def test_verdict_smooth(means, status) -> None:
    ks = list(range(1, len(means) + 1))
    v = _lesion().verdict_smooth(10.0, ks, [float(m) for m in means], plain=(20.0, [1, 2], [88.0, 89.0]))
    assert v.status == status, v.line()
    assert "k=1:" in v.evidence and "Plain twin" in v.evidence


def test_cliff_share_by_hand() -> None:
    rise, share, at = _lesion().cliff_share(10.0, [1, 2, 4], [12.0, 20.0, 30.0])
    assert rise == 20.0 and at == 2 and share == pytest.approx(8 / 20)


def test_verdict_smooth_untrained_is_inconclusive() -> None:
    v = _lesion().verdict_smooth(85.0, [1, 2], [87.0, 89.0])
    assert v.status == "inconclusive" and "barely learned" in v.reason


@pytest.mark.parametrize(("rows", "status"), [
    ([(1, 0.95, 11.0), (1, 0.93, 11.5), (4, 0.8, 15.0), (8, 0.6, 25.0)], "supported"),
    ([(1, 0.95, 60.0), (4, 0.8, 80.0)], "not supported"),  # one swap costs half the way to chance
    ([(1, 0.95, 16.0), (4, 0.8, 20.0)], "inconclusive"),  # one swap costs 6 points
    ([], "inconclusive"),
])
def test_verdict_reorder(rows, status) -> None:
    v = _lesion().verdict_reorder(10.0, rows, plain=(20.0, [(1, 0.95, 89.0)]))
    assert v.status == status, v.line()


# -- paths ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("grad_range", "below", "trained", "status"), [
    ((5, 17), 0.99, True, "supported"),  # Veit et al.'s ResNet-110
    ((20, 34), 0.45, True, "not supported"),  # spread like the paths
    ((10, 30), 0.8, True, "inconclusive"),
    ((5, 17), 0.99, False, "inconclusive"),
])
def test_verdict_short_paths(grad_range, below, trained, status) -> None:
    v = _paths().verdict_short_paths("trained", 54, grad_range, (19, 35), below, paths_share=0.0045,
                                     trained=trained)
    assert v.status == status, v.line()
    assert f"paths {grad_range[0]}..{grad_range[1]} blocks long" in v.evidence and "54 residual blocks" in v.evidence


def test_share_below_half() -> None:
    assert _paths().share_below_half([0.1, 0.2, 0.3, 0.4], [0, 1, 2, 3], 3) == pytest.approx(0.3)


# -- factorization --------------------------------------------------------------------------------------------
def test_accuracy_margin() -> None:
    m = _fact().accuracy_margin(0.8, 0.8, 10_000)
    assert m == pytest.approx(2 * (0.16 * 2 / 10_000) ** 0.5)
    assert _fact().accuracy_margin(0.999, 0.999, 10_000_000) == 0.005


@pytest.mark.parametrize(("params", "acc", "status"), [
    ((800_000, 590_000), (0.80, 0.797), "supported"),  # within the margin
    ((800_000, 590_000), (0.80, 0.83), "supported"),  # better
    ((800_000, 590_000), (0.80, 0.75), "not supported"),  # loses accuracy
    ((800_000, 900_000), (0.80, 0.80), "not supported"),  # no fewer parameters
    ((800_000, 590_000), (0.15, 0.16), "inconclusive"),  # untrained
])
def test_verdict_fewer_params(params, acc, status) -> None:
    v = _fact().verdict_fewer_params("a 5x5 convolution", "two 3x3 convolutions", params=params,
                                     macs=(107_000_000, 80_000_000), acc=acc, n_test=10_000, chance=0.1)
    assert v.status == status, v.line()
    assert f"{params[0]:,} -> {params[1]:,}" in v.evidence and f"{100 * acc[1]:.2f}%" in v.evidence


@pytest.mark.parametrize(("relu", "linear", "status"), [
    (0.80, 0.77, "supported"), (0.77, 0.80, "not supported"), (0.80, 0.795, "inconclusive"),
    (0.12, 0.11, "inconclusive")])
def test_verdict_nonlinear(relu, linear, status) -> None:
    v = _fact().verdict_nonlinear(relu_acc=relu, linear_acc=linear, n_test=10_000, chance=0.1)
    assert v.status == status, v.line()


# -- inception ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("w", "wo", "status"), [
    (0.75, 0.72, "supported"), (0.72, 0.75, "not supported"), (0.75, 0.748, "inconclusive"),
    (0.15, 0.12, "inconclusive")])
def test_verdict_accuracy(w, wo, status) -> None:
    v = _inc().verdict_accuracy("X helps.", with_acc=w, without_acc=wo, names=("with", "without"), n_test=10_000,
                                chance=0.1)
    assert v.status == status, v.line()
    assert f"with {100 * w:.2f}%" in v.evidence


def _cal(acc: float, conf: float, ece: float) -> dict[str, float]:
    return {"accuracy": acc, "mean_confidence": conf, "ece": ece}


@pytest.mark.parametrize(("plain", "smoothed", "status", "phrase"), [
    (_cal(0.80, 0.90, 0.10), _cal(0.80, 0.82, 0.03), "supported", "overconfident"),
    (_cal(0.70, 0.65, 0.05), _cal(0.71, 0.55, 0.16), "not supported", "not overconfident"),
    (_cal(0.80, 0.85, 0.05), _cal(0.80, 0.84, 0.045), "inconclusive", "two standard errors"),
    (_cal(0.12, 0.2, 0.08), _cal(0.11, 0.15, 0.04), "inconclusive", "twice chance"),
])
def test_verdict_calibration(plain, smoothed, status, phrase) -> None:
    v = _inc().verdict_calibration(plain=plain, smoothed=smoothed, ece_se_diff=0.01, chance=0.1)
    assert v.status == status, v.line()
    assert phrase in v.line()
    assert f"ECE {100 * plain['ece']:.2f}%" in v.evidence


def _mod(params: int, macs: float, acc: float, out: int) -> dict[str, float]:
    return {"params": params, "macs": macs, "test_acc": acc, "out_channels": out}


@pytest.mark.parametrize(("naive", "reduced", "status"), [
    (_mod(559_274, 57.4e6, 0.76, 416), _mod(88_494, 12.8e6, 0.755, 128), "supported"),
    (_mod(559_274, 57.4e6, 0.80, 416), _mod(88_494, 12.8e6, 0.74, 128), "not supported"),
    (_mod(88_000, 12e6, 0.76, 416), _mod(88_494, 12.8e6, 0.76, 128), "not supported"),
    (_mod(559_274, 57.4e6, 0.15, 416), _mod(88_494, 12.8e6, 0.14, 128), "inconclusive"),
])
def test_verdict_reductions(naive, reduced, status) -> None:
    v = _inc().verdict_reductions(naive=naive, reduced=reduced, n_test=10_000, chance=0.1)
    assert v.status == status, v.line()
    assert f"{naive['params']:,.0f} parameters" in v.evidence


# -- the one rule for "has learned" ------------------------------------------------------------------------------
def test_has_learned_is_more_than_twice_chance_in_any_unit() -> None:
    from classicnets.experiments.framework import has_learned

    assert has_learned(0.21, 0.1) and not has_learned(0.2, 0.1) and not has_learned(0.15, 0.1)
    assert has_learned(100 - 79.5, 100 - 90.0) and not has_learned(100 - 80.0, 100 - 90.0)  # errors in percent
    assert has_learned(0.12, 1 / 17) and not has_learned(0.11, 1 / 17)
    # every verdict draws the line there: degradation (errors in %), lesion's "near chance", accuracies 0..1
    assert _deg().verdict_plain(e(79.0, 80.0), e(90.0, 90.0), depths=(20, 56)).status == "supported"
    assert _deg().verdict_plain(e(80.0, 80.0), e(90.0, 90.0), depths=(20, 56)).status == "inconclusive"
    assert _lesion().verdict_plain_deletion(80.0, {"b0": 90.0}).status == "inconclusive"
    assert _lesion().verdict_plain_deletion(79.0, {"b0": 80.0}).status == "supported"
    assert _fact().verdict_nonlinear(relu_acc=0.2, linear_acc=0.5, n_test=10_000, chance=0.1).status == "inconclusive"


# -- a difference against a margin -------------------------------------------------------------------------------
def test_by_difference_is_symmetric_around_the_margin() -> None:
    from classicnets.experiments.findings import by_difference

    verdict = [by_difference("A beats B.", "a vs b.", d, 0.5, tie="a tie.") for d in (0.6, -0.6, 0.5, -0.5, 0.0)]
    assert [v.status for v in verdict] == ["supported", "not supported", "inconclusive", "inconclusive",
                                           "inconclusive"]
    assert verdict[2].reason == "a tie." and verdict[0].reason == verdict[1].reason == ""
    assert verdict[0].line() == "VERDICT (supported): A beats B. Measured: a vs b."


# -- width ---------------------------------------------------------------------------------------------
def _net(label: str, test_err: float, params: int = 600_000, macs: float = 9e7, epoch_s: float = 100.0) -> dict:
    return {"label": label, "test_err": test_err, "params": params, "macs": macs, "epoch_s": epoch_s}


def test_width_matched_verdict_margin_and_untrained() -> None:
    from classicnets.experiments.width import MARGIN_PP, verdict_matched

    thin = _net("deep", 20.0)
    assert verdict_matched(thin, _net("wide", 18.0), matched="parameters").status == "supported"
    assert verdict_matched(thin, _net("wide", 20.0 + MARGIN_PP), matched="parameters").status == "supported"
    v = verdict_matched(thin, _net("wide", 21.0), matched="parameters")
    assert v.status == "not supported" and "+1.00 points" in v.evidence
    assert verdict_matched(_net("deep", 85.0), _net("wide", 70.0), matched="parameters").status == "inconclusive"


def test_width_speed_verdict() -> None:
    from classicnets.experiments.width import verdict_speed

    wide = _net("wide", 20.0, epoch_s=100.0)
    assert verdict_speed(_net("deep", 20.0, epoch_s=150.0), wide, device="CPU").status == "supported"
    assert verdict_speed(_net("deep", 20.0, epoch_s=105.0), wide, device="CPU").status == "inconclusive"
    v = verdict_speed(_net("deep", 20.0, epoch_s=80.0), wide, device="CPU")
    assert v.status == "not supported" and "0.80x" in v.evidence


def test_width_per_parameter_verdict() -> None:
    from classicnets.experiments.width import verdict_per_parameter

    base = _net("base", 30.0, params=80_000)
    deep = [base, _net("deep", 24.0, params=660_000)]
    assert verdict_per_parameter(deep, [base, _net("wide", 21.0, params=680_000)]).status == "supported"
    assert verdict_per_parameter(deep, [base, _net("wide", 24.2, params=680_000)]).status == "inconclusive"
    assert verdict_per_parameter(deep, [base, _net("wide", 26.0, params=680_000)]).status == "not supported"


# -- seeds ---------------------------------------------------------------------------------------------------
def test_spread_mean_sd_se_and_text() -> None:
    from classicnets.experiments.findings import spread

    s = spread([91.0, 91.5, 92.0])
    assert s.n == 3 and s.mean == pytest.approx(91.5) and s.sd == pytest.approx(0.5)
    assert s.se == pytest.approx(0.5 / 3**0.5)
    assert s.text(unit="%") == "91.50% (sd 0.50, n=3)" and spread([90.0]).text() == "90.00"


@pytest.mark.parametrize("a, b, status", [
    ([92.0, 92.2, 91.9], [90.0, 90.1, 89.8], "supported"),      # far apart, small spread
    ([90.0, 90.1, 89.8], [92.0, 92.2, 91.9], "not supported"),
    ([91.0, 93.0, 89.0], [90.0, 90.2, 89.8], "inconclusive"),   # the mean is 1 point higher, the spread wide
    ([91.0], [90.0], "supported"),                              # one seed each: the margin alone decides
])
def test_by_seeds_needs_the_difference_beyond_two_standard_errors(a, b, status) -> None:
    from classicnets.experiments.findings import by_seeds, spread

    v = by_seeds("A beats B.", "numbers", spread(a), spread(b), 0.5, tie="within the noise")
    assert v.status == status
    if status == "inconclusive":
        assert "two standard errors" in v.reason and "3 and 3 seeds" in v.reason


def test_seeded_plan_keeps_the_first_key_and_groups_back(tmp_path) -> None:
    from classicnets.experiments.framework import RunRecord, RunSpec, by_base, seeded
    from classicnets.train import TrainConfig

    specs = [RunSpec("plain20", TrainConfig(model="plain20", seed=5)),
             RunSpec("resnet20", TrainConfig(model="resnet20"))]
    out = seeded(specs, 3)
    assert [s.key for s in out] == ["plain20", "plain20-s1", "plain20-s2", "resnet20", "resnet20-s1", "resnet20-s2"]
    assert [s.config.seed for s in out] == [5, 6, 7, 0, 1, 2]
    assert seeded(specs, 1) == [s.__class__(s.key, s.config, s.label, {"base": s.key, "seed": s.config.seed})
                                for s in specs]
    recs = {s.key: RunRecord(s.key, s.label, s.info, tmp_path, "finished", {}, {}, []) for s in out}
    groups = by_base(recs)
    assert list(groups) == ["plain20", "resnet20"] and [r.info["seed"] for r in groups["plain20"]] == [5, 6, 7]
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        seeded(specs, 0)
