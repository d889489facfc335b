"""Gradient flow in plain and residual CIFAR nets (the direction of the effect), path lengths, and
the model left unchanged by both measurements.

Small batches of random 32x32 inputs keep this fast; the figures measured on real CIFAR-10 are
in docs/analysis.md.
"""

from __future__ import annotations

import math

import pytest
import torch

from classicnets import create_model
from classicnets.analysis import (
    covering_range,
    gradient_flow,
    path_gradients,
    path_length_distribution,
    random_batches,
)
from classicnets.analysis.gradflow import measure_models
from classicnets.analysis.residual_paths import PathProbe, parse_lengths
from classicnets.errors import InvalidInputError


def _snapshot(model: torch.nn.Module) -> tuple:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    flags = [(n, m.training) for n, m in model.named_modules()]
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    return state, flags, hooks, [p.grad for p in model.parameters()]


def assert_unchanged(model: torch.nn.Module, before: tuple) -> None:
    state, flags, hooks, grads = before
    after = model.state_dict()
    assert list(after) == list(state), "state_dict keys changed"
    for k, v in state.items():
        assert torch.equal(after[k], v), f"{k} changed (BatchNorm statistics must stay untouched)"
    assert [(n, m.training) for n, m in model.named_modules()] == flags, "train/eval flags changed"
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()) == hooks, "hooks left"
    assert all(p.grad is g for p, g in zip(model.parameters(), grads, strict=True)), "a .grad was written"


def _flow(name: str, **options: object):
    torch.manual_seed(0)
    model = create_model(name, **options)
    return gradient_flow(model, random_batches(model, 1, 16, seed=0), name=name)


def test_bn_kaiming_plain_grows_residual_stays() -> None:
    """(a) With BN and Kaiming init the plain nets' first/last conv gradient ratio grows geometrically with
    depth; the residual twins' stays within a small factor."""
    plain = {d: _flow(f"plain{d}").ratio for d in (20, 56, 110)}
    res = {d: _flow(f"resnet{d}").ratio for d in (20, 110)}
    assert plain[20] < plain[56] < plain[110], plain
    assert plain[110] / plain[20] > 1e3, plain
    assert plain[56] / plain[20] > 10, plain
    assert res[110] < 100 and res[110] / res[20] < 30, res
    assert plain[110] > 1e3 * res[110], (plain, res)


def test_no_bn_glorot_plain_vanishes_residual_does_not() -> None:
    """(b) Without BN and with Glorot init the plain nets' first-layer gradient falls by orders of magnitude
    with depth; the residual twins' does not."""
    opts = {"batch_norm": False, "init": "glorot"}
    plain = {d: _flow(f"plain{d}", **opts).first_conv for d in (20, 56, 110)}
    res = {d: _flow(f"resnet{d}", **opts).first_conv for d in (20, 56, 110)}
    assert plain[56] < 1e-3 * plain[20] and plain[110] < 1e-3 * plain[56], plain
    assert plain[110] < 1e-12, plain
    assert min(res.values()) > 1e-2, res
    assert res[110] > 0.1 * res[20], res


def test_gradflow_report_shape_and_model_unchanged() -> None:
    model = create_model("resnet20")
    model.eval()
    before = _snapshot(model)
    r = gradient_flow(model, random_batches(model, 2, 4, seed=1), name="resnet20")
    assert_unchanged(model, before)  # BN statistics, flags, hooks, .grad
    assert r.batches == 2 and r.batch_size == 4
    assert len(r.layers) == 20  # 19 convs + fc, in forward order
    assert r.layers[0][0] == "conv1" and r.layers[-1][0] == "fc"
    assert len(r.blocks) == 9 and r.blocks[0][0] == "layer1.0"
    assert all(g > 0 for _, _, g in r.layers)
    lines = r.to_csv().splitlines()
    assert lines[0] == "model,kind,index,name,shape,grad_norm" and len(lines) == 1 + 20 + 9


def test_measure_models_both_regimes() -> None:
    results = measure_models(["plain20", "alexnet"], batches=1, batch_size=2)
    names = [r.model for r in results]
    assert names == ["plain20 [BN, Kaiming]", "plain20 [no BN, Glorot]", "alexnet"]
    assert "random inputs" in results[0].data
    with pytest.raises(InvalidInputError):
        measure_models(["plain20", "resnet20"], checkpoint="x.safetensors")


def test_measure_models_on_digits(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSICNETS_CACHE", str(tmp_path))
    (r,) = measure_models(["resnet20"], regime="as-built", dataset="digits", batch_size=8)
    assert "digits test split, 8 real images" in r.data
    assert r.layers[0][1] == (16, 1, 3, 3)  # built for the dataset's single channel


def test_measure_from_checkpoint(tmp_path) -> None:
    from classicnets import save_weights

    torch.manual_seed(3)
    model = create_model("resnet20")
    path = save_weights(model, tmp_path / "w.safetensors")
    (a,) = measure_models(["resnet20"], checkpoint=str(path), batch_size=4, seed=7)
    b = gradient_flow(model, random_batches(model, 1, 4, seed=7), name="resnet20")
    assert "checkpoint" in a.source
    assert a.layers[0][2] == pytest.approx(b.layers[0][2], rel=1e-5)


def test_path_length_distribution() -> None:
    d = path_length_distribution(54)
    assert len(d) == 55 and math.isclose(sum(d), 1.0)
    assert d[27] == max(d)
    a, b = covering_range(d, 0.95)
    assert sum(d[a: b + 1]) >= 0.95 and 19 <= a and b <= 35  # Veit: 95% of paths are 19..35 blocks long
    assert covering_range([0, 0, 5, 1, 0], 0.8) == (2, 2)
    assert covering_range([1, 1, 1, 1], 0.5, start=3) == (3, 4)


def test_path_gradients_and_model_unchanged() -> None:
    model = create_model("resnet20")
    before = _snapshot(model)
    r = path_gradients(model, random_batches(model, 1, 4, seed=0), lengths=[0, 3, 9], samples=2, name="resnet20")
    assert_unchanged(model, before)
    assert r.n == 9 and r.lengths == [0, 3, 9]
    assert all(m > 0 for m in r.magnitude)
    assert math.isclose(sum(r.total_share), 1.0)
    a, b = r.gradient_range(0.9)
    assert 0 <= a <= b <= 9
    assert len(r.to_csv().splitlines()) == 4
    assert "residual blocks" in r.to_text()


@pytest.mark.parametrize("train_mode", [True, False])
def test_paths_sum_to_the_full_gradient(train_mode: bool) -> None:
    """Backprop is linear given the forward values, and each block's Jacobian is (branch + skip), so the
    gradients of all 2^n single paths add up to the ordinary gradient: a check that the hooks cut
    exactly one of the two routes per block and leave the forward values alone."""
    import itertools

    from classicnets.models.resnet import cifar_resnet

    torch.manual_seed(0)
    model = cifar_resnet(8)  # 3 residual blocks (one per stage, two of them downsampling): 8 paths
    (x, y), = random_batches(model, 1, 4, seed=0)
    with PathProbe(model, train_mode=train_mode) as probe:
        full = probe.gradient(x, y, None)
        total = torch.zeros_like(full)
        for k in range(4):
            for subset in itertools.combinations(range(3), k):
                total += probe.gradient(x, y, subset)
        one = probe.gradient(x, y, [1])
    assert torch.allclose(total, full, rtol=1e-4, atol=1e-6 * float(full.abs().max())), \
        float((total - full).abs().max())
    assert not torch.allclose(one, full)


def test_paths_errors() -> None:
    with pytest.raises(InvalidInputError, match="plain"):
        path_gradients(create_model("plain20"), [])
    model = create_model("resnet20")
    with pytest.raises(InvalidInputError):
        path_gradients(model, random_batches(model, 1, 2), lengths=[10])
    assert parse_lengths("0:9:3", 9) == [0, 3, 6, 9]
    with pytest.raises(InvalidInputError):
        parse_lengths("5:2", 9)
