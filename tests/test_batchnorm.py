"""classicnets' BatchNorm against torch.nn.BatchNorm: outputs, statistics, gradients, state_dicts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from classicnets.models.batchnorm import BatchNorm1d, BatchNorm2d

TOL = 1e-5

# (ours, torch's, input shape) for every accepted input layout
LAYOUTS = [
    pytest.param(BatchNorm1d, nn.BatchNorm1d, (16, 6), id="1d-NC"),
    pytest.param(BatchNorm1d, nn.BatchNorm1d, (8, 6, 5), id="1d-NCL"),
    pytest.param(BatchNorm2d, nn.BatchNorm2d, (4, 6, 5, 3), id="2d-NCHW"),
]
MOMENTA = [0.1, 0.5, 0.01, None]


def _max_diff(a: torch.Tensor | None, b: torch.Tensor | None) -> float:
    assert (a is None) == (b is None), f"one side is None: {a is None} vs {b is None}"
    if a is None:
        return 0.0
    return (a.double() - b.double()).abs().max().item()


def _assert_close(what: str, a: torch.Tensor | None, b: torch.Tensor | None, step: int) -> None:
    d = _max_diff(a, b)
    assert d <= TOL, f"step {step}: {what} differs from torch by {d:.3e} (tolerance {TOL})"


def _pair(ours_cls, torch_cls, c: int, gen: torch.Generator, **opts):
    """Ours and torch's with the same (random, non-trivial) affine parameters."""
    ours, ref = ours_cls(c, **opts), torch_cls(c, **opts)
    with torch.no_grad():
        if ours.weight is not None:
            ours.weight.copy_(torch.rand(c, generator=gen) + 0.5)
        if ours.bias is not None:
            ours.bias.copy_(torch.randn(c, generator=gen))
    ref.load_state_dict(ours.state_dict())
    return ours, ref


def _step(ours, ref, shape, gen, step: int) -> None:
    """One forward/backward on the same random batch; compare everything that matters."""
    # A shifted, scaled input so that mean and variance are far from 0 and 1.
    scale, shift = 1 + 3 * torch.rand(1, generator=gen), 2 * torch.randn(1, generator=gen)
    x = torch.randn(shape, generator=gen) * scale + shift
    g = torch.randn(shape, generator=gen)  # random upstream gradient
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = ours(xa), ref(xb)
    _assert_close("output", ya, yb, step)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        _assert_close(name, getattr(ours, name), getattr(ref, name), step)
    (ya * g).sum().backward()
    (yb * g).sum().backward()
    _assert_close("input grad", xa.grad, xb.grad, step)
    ref_params = dict(ref.named_parameters())
    assert list(ref_params) == [n for n, _ in ours.named_parameters()]
    with torch.no_grad():
        for name, p in ours.named_parameters():
            q = ref_params[name]
            _assert_close(f"{name} grad", p.grad, q.grad, step)
            # a small SGD step on both, so the affine parameters change between steps
            p -= 0.01 * p.grad
            q -= 0.01 * q.grad
            p.grad = q.grad = None


@pytest.mark.parametrize("momentum", MOMENTA)
@pytest.mark.parametrize(("ours_cls", "torch_cls", "shape"), LAYOUTS)
def test_matches_torch_train_then_eval(ours_cls, torch_cls, shape, momentum) -> None:
    gen = torch.Generator().manual_seed(0)
    ours, ref = _pair(ours_cls, torch_cls, shape[1], gen, momentum=momentum)
    for step in range(20):
        _step(ours, ref, shape, gen, step)
    assert int(ours.num_batches_tracked) == 20
    ours.eval()
    ref.eval()
    for step in range(5):
        _step(ours, ref, shape, gen, 100 + step)
    # eval mode leaves the running statistics alone
    assert int(ours.num_batches_tracked) == 20


@pytest.mark.parametrize(("ours_cls", "torch_cls", "shape"), LAYOUTS)
@pytest.mark.parametrize(
    "opts",
    [
        pytest.param({"affine": False}, id="no-affine"),
        pytest.param({"track_running_stats": False}, id="no-running-stats"),
        pytest.param({"affine": False, "track_running_stats": False, "eps": 1e-3}, id="neither"),
        pytest.param({"eps": 1e-3, "momentum": 0.0003}, id="inception-eps"),
        pytest.param({"bias": False, "momentum": None}, id="no-beta"),
    ],
)
def test_matches_torch_other_options(ours_cls, torch_cls, shape, opts) -> None:
    gen = torch.Generator().manual_seed(1)
    ours, ref = _pair(ours_cls, torch_cls, shape[1], gen, **opts)
    for step in range(8):
        _step(ours, ref, shape, gen, step)
    ours.eval()
    ref.eval()
    for step in range(3):
        _step(ours, ref, shape, gen, 100 + step)


def test_names_match_torch() -> None:
    for ours, ref in [
        (BatchNorm2d(7), nn.BatchNorm2d(7)),
        (BatchNorm1d(3, eps=1e-3, momentum=None, affine=False), nn.BatchNorm1d(3, 1e-3, None, False)),
        (BatchNorm2d(2, track_running_stats=False), nn.BatchNorm2d(2, track_running_stats=False)),
        (BatchNorm2d(4, bias=False), nn.BatchNorm2d(4, bias=False)),
    ]:
        assert list(ours.state_dict()) == list(ref.state_dict())
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
        assert [n for n, _ in ours.named_buffers()] == [n for n, _ in ref.named_buffers()]
        for k, v in ref.state_dict().items():
            assert torch.equal(ours.state_dict()[k], v), f"initial {k} differs from torch's"
            assert ours.state_dict()[k].dtype == v.dtype, f"{k}: {ours.state_dict()[k].dtype} vs {v.dtype}"


@pytest.mark.parametrize(("ours_cls", "torch_cls", "shape"), LAYOUTS)
def test_state_dict_interchange(ours_cls, torch_cls, shape) -> None:
    gen = torch.Generator().manual_seed(2)
    c = shape[1]
    # train torch's a little, load into ours (strict), and the other way round
    ref = torch_cls(c, momentum=0.3)
    with torch.no_grad():
        ref.weight.copy_(torch.rand(c, generator=gen) + 0.5)
        ref.bias.copy_(torch.randn(c, generator=gen))
    for _ in range(3):
        ref(torch.randn(shape, generator=gen) * 2 + 1)
    ours = ours_cls(c)
    ours.load_state_dict(ref.state_dict(), strict=True)
    for k, v in ref.state_dict().items():
        assert torch.equal(ours.state_dict()[k], v), f"{k} not copied from torch's"
    for _ in range(3):  # move ours's statistics on before loading them back
        ours(torch.randn(shape, generator=gen) * 3 - 1)
    back = torch_cls(c)
    back.load_state_dict(ours.state_dict(), strict=True)
    for k, v in ours.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), f"{k} not copied back into torch's"
    ours.eval()
    back.eval()
    x = torch.randn(shape, generator=gen)
    d = _max_diff(ours(x), back(x))
    assert d <= TOL, f"after the round trip the eval outputs differ by {d:.3e}"


def test_repr() -> None:
    assert repr(BatchNorm2d(7)) == (
        "BatchNorm2d(7, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    )
    assert repr(BatchNorm1d(3, eps=1e-3, momentum=None, affine=False)) == (
        "BatchNorm1d(3, eps=0.001, momentum=None, affine=False, bias=False, track_running_stats=True)"
    )


def test_old_state_dict_without_counter_loads() -> None:
    ref = nn.BatchNorm2d(3)
    sd = ref.state_dict()
    del sd["num_batches_tracked"]
    sd._metadata[""]["version"] = 1  # a checkpoint from before the counter existed
    ours = BatchNorm2d(3)
    ours.num_batches_tracked.fill_(5)
    ours.load_state_dict(sd, strict=True)
    assert int(ours.num_batches_tracked) == 0


def test_cumulative_average_is_algorithm_2() -> None:
    """momentum=None: E[x] = mean of batch means, Var[x] = m/(m-1) * mean of batch variances."""
    gen = torch.Generator().manual_seed(3)
    bn = BatchNorm2d(4, momentum=None)
    means, variances = [], []
    n, h, w = 5, 3, 2
    m = n * h * w
    for _ in range(12):
        x = torch.randn(n, 4, h, w, generator=gen) * 3 + 1
        bn(x)
        means.append(x.mean(dim=(0, 2, 3)))
        variances.append(x.var(dim=(0, 2, 3), unbiased=False))
    e_x = torch.stack(means).mean(0)
    var_x = m / (m - 1) * torch.stack(variances).mean(0)
    d_mean, d_var = _max_diff(bn.running_mean, e_x), _max_diff(bn.running_var, var_x)
    assert d_mean < 1e-5, f"running_mean is {d_mean:.3e} away from the mean of batch means"
    assert d_var < 1e-5, f"running_var is {d_var:.3e} away from m/(m-1) * mean of batch variances"


def test_eval_is_the_folded_affine() -> None:
    gen = torch.Generator().manual_seed(4)
    bn = BatchNorm2d(3, eps=1e-3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.5, 2.0, -1.0]))
        bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
        bn.running_mean.copy_(torch.tensor([1.0, -2.0, 0.5]))
        bn.running_var.copy_(torch.tensor([4.0, 0.25, 1.0]))
    bn.eval()
    x = torch.randn(2, 3, 4, 4, generator=gen)
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    expected = s.view(1, 3, 1, 1) * x + (bn.bias - s * bn.running_mean).view(1, 3, 1, 1)
    d = _max_diff(bn(x), expected)
    assert d < 1e-6, f"eval output differs from gamma/sqrt(Var+eps)*x + shift by {d:.3e}"


def test_input_errors() -> None:
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        BatchNorm2d(3)(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N, C, L\)"):
        BatchNorm1d(3)(torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="built for 3 channels but the input has 4"):
        BatchNorm2d(3)(torch.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match="built for 3 channels but the input has 5"):
        BatchNorm1d(3)(torch.randn(2, 5))
    # a single value per channel cannot give a batch variance in training mode
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm1d(3)(torch.randn(1, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm2d(3)(torch.randn(1, 3, 1, 1))
    with pytest.raises(ValueError, match="more than 1 value per channel"):  # no running stats: batch stats
        BatchNorm2d(3, track_running_stats=False).eval()(torch.randn(1, 3, 1, 1))
    # ... but is fine in eval mode, and one sample with several positions is fine in training
    assert BatchNorm1d(3).eval()(torch.randn(1, 3)).shape == (1, 3)
    assert BatchNorm1d(3)(torch.randn(1, 3, 2)).shape == (1, 3, 2)
    for bad in ({"num_features": 0}, {"num_features": 3, "momentum": 1.5}, {"num_features": 3, "eps": -1.0}):
        with pytest.raises(ValueError):
            BatchNorm2d(**bad)


def test_momentum_is_one_minus_tensorflow_decay() -> None:
    """Keras BatchNormalization(momentum=0.99) keeps 0.99 of the old statistic: torch momentum 0.01."""
    decay = 0.99
    bn = BatchNorm1d(2, momentum=1 - decay)
    x = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
    bn(x)
    expected = decay * torch.zeros(2) + (1 - decay) * x.mean(0)
    d = _max_diff(bn.running_mean, expected)
    assert d < 1e-7, f"running_mean after one step is {d:.3e} away from TF's decay formula"


@pytest.mark.parametrize("momentum", [0.1, None])
def test_export_matches_eager(momentum) -> None:
    """torch.export traces the training step (buffer updates included) without graph breaks."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 3, 5, 5, generator=gen) * 2 + 1
    eager, traced = BatchNorm2d(3, momentum=momentum), BatchNorm2d(3, momentum=momentum)
    module = torch.export.export(traced, (x,)).module()
    for step in range(3):
        x = torch.randn(4, 3, 5, 5, generator=gen) * 2 + 1
        _assert_close("exported output", module(x), eager(x), step)
    for name in ("running_mean", "running_var"):
        _assert_close(f"exported {name}", module.get_buffer(name), getattr(eager, name), 3)
