"""fold_batchnorm: the folded copy computes what the model computes in eval mode, with no BN left."""

from __future__ import annotations

import doctest

import pytest
import torch
from torch import nn

import classicnets
from classicnets.models import batchnorm as our_bn
from classicnets.models import fold as fold_module
from classicnets.models.fold import fold_batchnorm
from classicnets.models.layers import BasicConv2d

REL_TOL = 1e-4
BN_TYPES = (nn.modules.batchnorm._BatchNorm, our_bn._BatchNorm)


def _bns(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, BN_TYPES)]


def _randomize_bns(model: nn.Module, seed: int = 0) -> None:
    """Non-trivial running statistics and affine parameters in every BN (a fresh BN folds to identity)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if not isinstance(m, BN_TYPES):
                continue
            c = m.num_features
            if m.running_mean is not None:
                m.running_mean.copy_(0.5 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))
            if m.weight is not None:
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
            if m.bias is not None:
                m.bias.copy_(0.2 * torch.randn(c, generator=gen))


def _numel(model: nn.Module) -> int:
    return sum(t.numel() for t in model.state_dict().values())


def _fold_and_compare(model: nn.Module, x: torch.Tensor) -> tuple[nn.Module, float]:
    """Fold, check the original is untouched, and return (folded, max relative error of the outputs)."""
    was_training = model.training
    flags = {name: m.training for name, m in model.named_modules()}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bn_names = _bns(model)

    folded = fold_batchnorm(model)

    assert folded is not model
    assert model.training == was_training, "fold_batchnorm changed the original's training flag"
    assert {name: m.training for name, m in model.named_modules()} == flags
    after = model.state_dict()
    assert list(after) == list(before), "fold_batchnorm changed the original's state_dict keys"
    for k, v in before.items():
        assert torch.equal(after[k], v), f"fold_batchnorm changed the original's {k}"
    assert _bns(model) == bn_names
    assert not any(m.training for m in folded.modules()), "the folded copy is not in eval mode"

    model.eval()
    with torch.no_grad():
        expected, got = model(x), folded(x)
    model.train(was_training)
    assert got.shape == expected.shape
    rel = ((got - expected).abs().max() / expected.abs().max()).item()
    return folded, rel


def _check_fully_folded(model: nn.Module, x: torch.Tensor, name: str) -> float:
    _randomize_bns(model)
    n_bn = len(_bns(model))
    assert n_bn > 0, f"{name} has no BatchNorm to fold"
    folded, rel = _fold_and_compare(model, x)
    assert rel < REL_TOL, f"{name}: folded output differs by {rel:.3e} relative (tolerance {REL_TOL})"
    left = _bns(folded)
    assert left == [], f"{name}: {len(left)} of {n_bn} BatchNorms left unfolded: {left[:5]}"
    before, after = _numel(model), _numel(folded)
    assert after < before, f"{name}: folded model has {after} parameter/buffer values, original {before}"
    return rel


# -- small hand-built models --------------------------------------------------
def test_sequential_conv_bn_and_linear_bn() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, bias=False),
        nn.BatchNorm2d(8),  # torch's
        nn.ReLU(),
        nn.Conv2d(8, 6, 3, padding=1, groups=2),  # with a bias of its own, grouped
        our_bn.BatchNorm2d(6, eps=1e-3),  # ours
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 10, bias=False),
        nn.BatchNorm1d(10),
        nn.Linear(10, 5),
        our_bn.BatchNorm1d(5),
    )
    rel = _check_fully_folded(model, torch.randn(4, 3, 6, 6), "Sequential")
    folded = fold_batchnorm(model)
    for i in (1, 4, 8, 10):
        assert isinstance(folded[i], nn.Identity), f"child {i} is {type(folded[i]).__name__}"
    for i in (0, 3, 7, 9):
        assert folded[i].bias is not None, f"child {i} got no bias"
    assert rel < REL_TOL


def test_basicconv2d_and_resnet_like_names() -> None:
    torch.manual_seed(1)

    class Block(nn.Module):  # ResNet's names: conv1/bn1, conv2/bn2, downsample.0/.1
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
            self.bn2 = our_bn.BatchNorm2d(8)
            self.downsample = nn.Sequential(nn.Conv2d(4, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(y + self.downsample(x))

    model = nn.Sequential(BasicConv2d(3, 4, 3, padding=1), Block(), BasicConv2d(8, 2, 1, bn_eps=1e-5))
    _check_fully_folded(model, torch.randn(2, 3, 8, 8), "BasicConv2d + block")


def test_not_folded_when_unsafe() -> None:
    """Pairs that are not 'conv then BN' in eval semantics stay as they are, outputs unchanged."""
    torch.manual_seed(2)

    class PreAct(nn.Module):  # bn1 -> relu -> conv1: BN before the conv, registered first
        def __init__(self) -> None:
            super().__init__()
            self.bn1 = nn.BatchNorm2d(4)
            self.conv1 = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv1(torch.relu(self.bn1(x)))

    class MyConv(nn.Conv2d):  # a subclass may change what forward computes
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) * 2

    shared = nn.Conv2d(4, 4, 1)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.BatchNorm2d(4),  # not right after the conv
        PreAct(),
        nn.Conv2d(4, 4, 1),
        nn.BatchNorm2d(4, track_running_stats=False),  # batch statistics even in eval mode
        MyConv(4, 4, 1),
        nn.BatchNorm2d(4),
        shared,
        nn.BatchNorm2d(4),
        shared,  # used twice: folding would change both uses
    )
    _randomize_bns(model)
    folded, rel = _fold_and_compare(model, torch.randn(3, 3, 5, 5))
    assert rel < REL_TOL, f"unfolded copy differs by {rel:.3e}"
    assert _bns(folded) == _bns(model), f"folded {set(_bns(model)) - set(_bns(folded))}"


def test_conv1d_untouched() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv1d(3, 4, 3), nn.BatchNorm1d(4))
    _randomize_bns(model)
    folded, rel = _fold_and_compare(model, torch.randn(2, 3, 7))
    assert rel < REL_TOL
    assert _bns(folded) == ["1"], "a Conv1d + BatchNorm1d pair was folded (only Conv2d is supported)"


def test_original_in_train_mode_and_no_grad() -> None:
    torch.manual_seed(4)
    model = nn.Sequential(BasicConv2d(3, 4, 3), nn.Flatten(), nn.Linear(4, 3, bias=False), nn.BatchNorm1d(3))
    _randomize_bns(model)
    model.train()
    with torch.no_grad():
        folded, rel = _fold_and_compare(model, torch.randn(2, 3, 3, 3))
    assert rel < REL_TOL
    assert model.training and all(m.training for m in model.modules())
    assert _bns(folded) == []
    # the new biases are ordinary trainable parameters, even when created under no_grad
    assert folded[0].conv.bias.requires_grad and folded[2].bias.requires_grad
    x = torch.randn(2, 3, 3, 3)
    folded(x).sum().backward()
    assert folded[0].conv.bias.grad is not None
    # folding a folded model changes nothing
    again = fold_batchnorm(folded)
    for k, v in folded.state_dict().items():
        assert torch.equal(again.state_dict()[k], v)


def test_new_bias_dtype_and_device_follow_the_conv() -> None:
    model = nn.Sequential(nn.Conv2d(2, 3, 1, bias=False), nn.BatchNorm2d(3)).double()
    _randomize_bns(model)
    folded = fold_batchnorm(model)
    assert folded[0].bias.dtype == torch.float64
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    d = (folded(x) - model.eval()(x)).abs().max().item()
    assert d < 1e-12, f"float64 fold differs by {d:.3e}"


def test_docstring_examples() -> None:
    for module in (fold_module, our_bn):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, f"{module.__name__}: {result.failed} doctest(s) failed"


# -- the registry's models ----------------------------------------------------
def test_small_registry_models() -> None:
    torch.manual_seed(5)
    for name, opts, shape in [
        ("resnet20", {}, (2, 3, 16, 16)),
        ("cnn3", {"batch_norm": True}, (2, 1, 12, 12)),
        ("mnist_mlp", {"batch_norm": True}, (3, 1, 28, 28)),
    ]:
        model = classicnets.create_model(name, **opts)
        _check_fully_folded(model, torch.randn(shape), name)


@pytest.mark.parametrize(
    ("name", "opts", "size"),
    [
        ("resnet50", {}, 64),
        ("googlenet", {"variant": "torchvision"}, 64),
        ("inception_v3", {}, 75),
    ],
)
def test_imagenet_models(name: str, opts: dict, size: int) -> None:
    torch.manual_seed(6)
    model = classicnets.create_model(name, **opts)
    size = max(size, model.min_input_size[1])
    x = torch.randn(2, model.in_chans, size, size)
    _check_fully_folded(model, x, name)
