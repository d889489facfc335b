"""Expected calibration error and reliability bins (classicnets.analysis.calibration) on hand-made predictions."""

from __future__ import annotations

import math

import pytest
import torch

from classicnets.analysis.calibration import (
    BINS,
    calibration,
    ece_bootstrap,
    expected_calibration_error,
    predict_probs,
    reliability_bins,
)
from classicnets.errors import InvalidInputError


def test_fifteen_bins_by_default() -> None:
    assert BINS == 15
    assert len(reliability_bins([0.5], [1])) == 15


def test_perfectly_calibrated_predictions_have_zero_ece() -> None:
    # ten predictions at 0.9, nine right; ten at 0.6, six right
    conf = [0.9] * 10 + [0.6] * 10
    ok = [1] * 9 + [0] + [1] * 6 + [0] * 4
    assert expected_calibration_error(conf, ok) == pytest.approx(0.0, abs=1e-12)


def test_overconfident_predictions_by_hand() -> None:
    # bin (0.8667, 0.9333]: 10 at 0.9, 5 right -> |0.5 - 0.9| = 0.4, weight 10/20
    # bin (0.2667, 0.3333]: 10 at 0.3, 6 right -> |0.6 - 0.3| = 0.3, weight 10/20
    conf = [0.9] * 10 + [0.3] * 10
    ok = [1] * 5 + [0] * 5 + [1] * 6 + [0] * 4
    assert expected_calibration_error(conf, ok) == pytest.approx(0.5 * 0.4 + 0.5 * 0.3)
    rows = reliability_bins(conf, ok)
    used = [r for r in rows if r["count"]]
    assert [(r["count"], r["accuracy"], r["confidence"]) for r in used] == [
        (10, pytest.approx(0.6), pytest.approx(0.3)), (10, pytest.approx(0.5), pytest.approx(0.9))]
    assert used[0]["lower"] == pytest.approx(4 / 15) and used[1]["upper"] == pytest.approx(14 / 15)
    assert all(math.isnan(r["accuracy"]) for r in rows if not r["count"])


def test_bins_average_within_and_weight_by_count() -> None:
    # one bin (0.6667, 0.7333] holding 0.67, 0.70, 0.73: mean confidence 0.70, 2 of 3 right
    conf = [0.67, 0.70, 0.73, 1.0]
    ok = [1, 1, 0, 1]
    expected = 3 / 4 * abs(2 / 3 - 0.70) + 1 / 4 * 0.0
    assert expected_calibration_error(conf, ok) == pytest.approx(expected)


def test_bin_edges_belong_to_the_lower_bin_and_zero_to_the_first() -> None:
    rows = reliability_bins([0.2, 0.0, 1.0], [1, 0, 1], bins=5)
    assert [r["count"] for r in rows] == [2, 0, 0, 0, 1]
    assert expected_calibration_error([0.2, 0.0, 1.0], [1, 0, 1], bins=5) == pytest.approx(2 / 3 * abs(0.5 - 0.1))


def test_calibration_from_softmax_probabilities() -> None:
    probs = torch.tensor([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.2, 0.2]])
    labels = torch.tensor([0, 1, 0, 1])
    c = calibration(probs, labels)
    assert c.n == 4 and c.accuracy == pytest.approx(0.5)
    assert c.confidence == pytest.approx((0.9 + 0.8 + 0.4 + 0.6) / 4)
    # bins: 0.9 right, 0.8 right, 0.4 wrong, 0.6 wrong -> each alone in its bin
    assert c.ece == pytest.approx((0.1 + 0.2 + 0.4 + 0.6) / 4)
    assert c.nll == pytest.approx(-(math.log(0.9) + math.log(0.8) + math.log(0.3) + math.log(0.2)) / 4)
    d = c.as_dict()
    assert set(d) >= {"ece", "mean_confidence", "accuracy", "reliability"} and len(d["reliability"]) == 15


@pytest.mark.parametrize(("conf", "ok", "match"), [
    ([0.5, 1.2], [1, 0], r"\[0, 1\]"),
    ([0.5], [1, 0], "1 confidences for 2"),
    ([], [], "no predictions"),
    ([[0.5]], [[1]], "one-dimensional"),
])
def test_bad_inputs_are_clear_errors(conf, ok, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        expected_calibration_error(conf, ok)


def test_calibration_refuses_logits() -> None:
    with pytest.raises(InvalidInputError, match="sum to 1"):
        calibration(torch.tensor([[2.0, 1.0]]), torch.tensor([0]))


def test_paired_bootstrap() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(300, 5, generator=g) * 2
    labels = torch.randint(0, 5, (300,), generator=g)
    a = calibration(torch.softmax(logits, 1), labels)
    b = calibration(torch.softmax(logits / 3, 1), labels)
    same = ece_bootstrap(a, a, resamples=50)
    assert same["se_diff"] == 0.0 and same["se_a"] > 0
    diff = ece_bootstrap(a, b, resamples=50)
    assert diff["se_diff"] > 0 and diff == ece_bootstrap(a, b, resamples=50)


def test_predict_probs_restores_the_train_flag() -> None:
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.Dropout(0.5)).train()
    batches = [(torch.randn(5, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1])) for _ in range(2)]
    p, y = predict_probs(m, batches)
    assert p.shape == (10, 3) and y.tolist() == [0, 1, 2, 0, 1] * 2
    assert torch.allclose(p.sum(1), torch.ones(10))
    assert m.training
