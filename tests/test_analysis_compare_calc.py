"""Model comparison (fc-parameter shares, ratios) and the calculators."""

from __future__ import annotations

import pytest

from classicnets import reference
from classicnets.analysis import compare, factorization, factorization_table, inception_vs_conv, naive_vs_reduced
from classicnets.analysis.compare import model_figures
from classicnets.errors import InvalidInputError


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "vgg19"])
def test_fc_share(name: str) -> None:
    f = model_figures(name)
    fig = reference.FC_PARAM_SHARE[name]
    assert abs(f.fc_share - fig.value) <= fig.rel_tol * fig.value, f"{name}: fc share {f.fc_share:.4f}"
    assert f.params == reference.PARAMS[name].value


def test_compare_ratios() -> None:
    t = compare(["resnet50", "resnet101", "alexnet"])
    r50, r101, alex = t.records
    assert r101["params_diff"] == reference.PARAMS["resnet101"].value - reference.PARAMS["resnet50"].value
    assert abs(r101["params_diff"] / 1e6 - 19.0) < 0.05, "ResNet-101 adds about 19.0M parameters to ResNet-50"
    assert abs(r101["macs_ratio"] - 7.57 / 3.86) < 0.01
    assert abs(1 / alex["params_ratio"] - 0.42) < 0.005, "ResNet-50 has about 0.42x AlexNet's parameters"
    assert r50["params_ratio"] == 1.0
    assert r50["fc_share"] < 0.1  # global average pooling: a small classifier
    text = t.to_text()
    assert "params / resnet50" in text and "96.0%" in text


def test_compare_needs_models() -> None:
    with pytest.raises(InvalidInputError):
        compare([])


@pytest.mark.parametrize("kernel,scheme", [(5, "3x3"), (7, "3x3"), (3, "2x2"), (3, "asymmetric"), (7, "asymmetric")])
def test_factorization_savings(kernel: int, scheme: str) -> None:
    f = factorization(kernel, scheme)
    fig = reference.FACTORIZATION_SAVINGS[f["name"]]
    assert abs(f["saving"] - fig.value) <= fig.rel_tol * fig.value, f"{f['name']}: {f['saving']:.4f}"
    t = factorization_table()
    assert [r["name"] for r in t.records] == list(reference.FACTORIZATION_SAVINGS)
    assert all(r["published_saving"] is not None for r in t.records)


def test_factorization_errors() -> None:
    with pytest.raises(InvalidInputError):
        factorization(4, "3x3")
    with pytest.raises(InvalidInputError):
        factorization(5, "4x4")


def test_naive_vs_reduced() -> None:
    t = naive_vs_reduced(192, 64, 128, 32, reduce3=96, reduce5=16, pool_proj=32, size=28)
    naive, red = t.records
    assert naive["out_channels"] == 192 + 64 + 128 + 32
    assert red["out_channels"] == 64 + 128 + 32 + 32
    w_naive = 192 * 64 + 192 * 128 * 9 + 192 * 32 * 25
    w_red = 192 * (64 + 96 + 16 + 32) + 96 * 128 * 9 + 16 * 32 * 25
    assert naive["weights"] == w_naive and red["weights"] == w_red
    assert naive["params"] == w_naive + 64 + 128 + 32  # plus biases
    assert naive["macs"] == w_naive * 28 * 28 and red["macs"] == w_red * 28 * 28
    assert red["weights"] == 163_328  # GoogLeNet's inception (3a): 159.5K in Table 1
    with pytest.raises(InvalidInputError):
        naive_vs_reduced(0, 64, 128, 32, reduce3=96, reduce5=16, pool_proj=32)


def test_inception_vs_conv() -> None:
    t = inception_vs_conv(192, 64, 96, 128, 16, 32, 32, kernels=(3, 5), size=28)
    inc, c3, c5 = t.records
    assert c3["params"] == 192 * 256 * 9 + 256 and c5["params"] == 192 * 256 * 25 + 256
    assert c3["out_channels"] == c5["out_channels"] == inc["out_channels"] == 256
    assert inc["params"] < c3["params"] < c5["params"]
