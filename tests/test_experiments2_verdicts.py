"""Verdict logic of the lesion, paths, factorization and inception experiments on synthetic measurements:
each outcome (supported, not supported, inconclusive) is reached by the numbers that should reach it, and
the line states the numbers."""

from __future__ import annotations

import pytest


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


# -- lesion ---------------------------------------------------------------------------------------------------
def _blocks(changes: list[float], base: float = 10.0) -> dict[str, float]:
    return {f"layer1.{i}": base + c for i, c in enumerate(changes)}


@pytest.mark.parametrize(("base", "changes", "status"), [
    (10.0, [0.5, -0.3, 1.2, 0.1, 0.9, 0.2, 0.0, 0.4, 1.5, 0.3], "supported"),  # all within 2 points
    (10.0, [0.5, 3.0, 1.2, 0.1, 0.9, 0.2, 0.0, 0.4, 1.5, 0.3], "supported"),  # 9 of 10 within
    (10.0, [5.0, 3.0, 2.5, 8.0, 0.9, 0.2, 4.0, 6.0, 1.5, 3.3], "not supported"),  # 3 of 10 within
    (10.0, [5.0, 3.0, 1.2, 0.1, 0.9, 0.2, 4.0, 0.4, 1.5, 3.3], "inconclusive"),  # 6 of 10 within
    (60.0, [0.1] * 10, "inconclusive"),  # not trained
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
    v = _lesion().verdict_smooth(60.0, [1, 2], [70.0, 80.0])
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
