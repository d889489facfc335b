"""Factorized convolutions: savings against the paper, receptive fields measured by gradients."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from classicnets.models.factorized import AsymmetricConv, StackedConv, factorization_savings
from classicnets.reference import FACTORIZATION_SAVINGS

# (kernel_size, scheme, key in reference.FACTORIZATION_SAVINGS)
CASES = [
    (5, "3x3", "5x5->3x3,3x3"),
    (7, "3x3", "7x7->3x3,3x3,3x3"),
    (3, "2x2", "3x3->2x2,2x2"),
    (3, "asymmetric", "3x3->1x3,3x1"),
    (7, "asymmetric", "7x7->1x7,7x1"),
]


def _block(n: int, scheme: str, c_in: int, c_out: int, **kw: object) -> nn.Module:
    if scheme == "asymmetric":
        return AsymmetricConv(c_in, c_out, n, **kw)  # type: ignore[arg-type]
    return StackedConv(c_in, c_out, n, small_kernel=int(scheme[0]), **kw)  # type: ignore[arg-type]


def _n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("n, scheme, key", CASES)
def test_savings_match_reference(n: int, scheme: str, key: str) -> None:
    s = factorization_savings(n, scheme)
    ref = FACTORIZATION_SAVINGS[key]
    assert s["name"] == key
    assert math.isclose(s["saving"], ref.value, rel_tol=ref.rel_tol), (
        f"{key}: saving {s['saving']:.4f}, paper {ref.value}"
    )
    assert s["receptive_field"] == n
    assert s["original_params"] == n * n


@pytest.mark.parametrize("n, scheme, key", CASES)
def test_counts_match_real_modules(n: int, scheme: str, key: str) -> None:
    c = 8
    s = factorization_savings(n, scheme, channels=c)
    original = nn.Conv2d(c, c, n, padding=n // 2, bias=False)
    block = _block(n, scheme, c, c, bias=False)
    assert s["original_params"] == _n_params(original) == n * n * c * c
    assert s["factorized_params"] == _n_params(block), f"{key}: block has {_n_params(block)} weights"
    # Multiply-adds per output position, counted by PyTorch on a 9x9 map.
    x = torch.randn(1, c, 9, 9)
    for module, want in ((original, s["original_macs"]), (block, s["factorized_macs"])):
        with FlopCounterMode(display=False) as counter:
            y = module(x)
        per_pos = counter.get_total_flops() / 2 / (y.shape[2] * y.shape[3])
        assert per_pos == want, f"{key}: {type(module).__name__} {per_pos} MACs per position, expected {want}"
    saving = 1 - s["factorized_params"] / s["original_params"]
    assert math.isclose(saving, s["saving"])


def _measured_rf(block: nn.Module, size: int = 21) -> tuple[int, int, int, int, int, int]:
    """Rows and columns of the input that reach one central output pixel (via its gradient)."""
    x = torch.rand(1, block.in_channels, size, size).add_(0.1).requires_grad_(True)
    y = block(x)
    ci = y.shape[2] // 2
    y[0, 0, ci, ci].backward()
    nz = x.grad.abs().sum(dim=(0, 1)) != 0  # type: ignore[union-attr]
    rows = nz.any(dim=1).nonzero().flatten()
    cols = nz.any(dim=0).nonzero().flatten()
    return (int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1), int(rows[0]), int(cols[0]), ci, int(nz.sum()))


EXTRA = [(7, "2x2", "7x7->6 x 2x2"), (4, "2x2", "4x4->3 x 2x2"), (9, "3x3", "9x9->4 x 3x3")]


@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("n, scheme, key", CASES + EXTRA)
def test_receptive_field_by_gradient(n: int, scheme: str, key: str, activation: str) -> None:
    torch.manual_seed(0)
    block = _block(n, scheme, 2, 3, activation=activation)
    with torch.no_grad():  # positive weights and input: no ReLU is off, no cancellation
        for p in block.parameters():
            p.uniform_(0.1, 1.0)
    assert block.receptive_field == n and block.out_channels == 3
    h, w, top, left, centre, count = _measured_rf(block)
    assert (h, w) == (n, n), f"{key}: measured receptive field {h}x{w}, expected {n}x{n}"
    assert count == n * n, f"{key}: {count} input pixels reach the output, expected a full {n}x{n} window"
    # "same" padding: the window sits where a padded n x n conv's would (extra pixel top/left if n even).
    assert (top, left) == (centre - n // 2, centre - n // 2), f"{key}: window starts at {(top, left)}"


@pytest.mark.parametrize("n, scheme, key", CASES)
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_output_size_equals_replaced_conv(n: int, scheme: str, key: str, padding: str) -> None:
    x = torch.randn(2, 4, 11, 13)
    block = _block(n, scheme, 4, 6, padding=padding)
    original = nn.Conv2d(4, 6, n, padding=n // 2 if padding == "same" else 0)
    assert block(x).shape == original(x).shape, f"{key} ({padding})"


def test_activation_between_convs() -> None:
    """Figure 2's two variants: ReLU or nothing between the factorized convs, never after the last."""
    relu = StackedConv(4, 4, 7, activation="relu")
    linear = StackedConv(4, 4, 7, activation="linear")
    assert sum(isinstance(m, nn.ReLU) for m in relu.modules()) == 2
    assert sum(isinstance(m, nn.ReLU) for m in linear.modules()) == 0
    assert not isinstance(relu.layers[-1], nn.ReLU)
    assert sum(isinstance(m, nn.ReLU) for m in AsymmetricConv(4, 4, 7).modules()) == 1
    # A linear stack is a linear map: a single (composed) 5x5 conv.
    torch.manual_seed(0)
    lin = StackedConv(1, 1, 5, activation="linear", bias=False)
    x1, x2 = torch.randn(1, 1, 9, 9), torch.randn(1, 1, 9, 9)
    torch.testing.assert_close(lin(x1 + 2 * x2), lin(x1) + 2 * lin(x2))


def test_batch_norm_option_and_mid_channels() -> None:
    block = StackedConv(3, 8, 5, mid_channels=5, batch_norm=True)
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 5), (5, 8)]
    assert convs[0].bias is None and convs[1].bias is not None
    assert sum(isinstance(m, nn.BatchNorm2d) for m in block.modules()) == 1
    asym = AsymmetricConv(3, 8, 5, order="nx1")
    assert [c.kernel_size for c in asym.modules() if isinstance(c, nn.Conv2d)] == [(5, 1), (1, 5)]


@pytest.mark.parametrize("n, scheme", [(4, "3x3"), (6, "3x3"), (3, "3x3"), (2, "2x2"), (1, "asymmetric")])
def test_impossible_schemes_raise(n: int, scheme: str) -> None:
    with pytest.raises(ValueError, match=f"{n}x{n}|kernel_size"):
        factorization_savings(n, scheme)
    with pytest.raises(ValueError):
        _block(n, scheme, 2, 2)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="never 4"):
        StackedConv(2, 2, 4)
    with pytest.raises(ValueError, match="scheme"):
        factorization_savings(5, "winograd")
    with pytest.raises(ValueError, match="activation"):
        StackedConv(2, 2, 5, activation="tanh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="padding"):
        AsymmetricConv(2, 2, 7, padding="full")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="odd"):
        AsymmetricConv(2, 2, 4)
    assert AsymmetricConv(2, 2, 4, padding="valid")(torch.randn(1, 2, 6, 6)).shape == (1, 2, 3, 3)
