"""Network in Network: exact parameter counts, MACs, head semantics, input sizes."""

from __future__ import annotations

import io
import pickle

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from classicnets import reference
from classicnets.models import create_model
from classicnets.models.nin import MlpConv, NiN, nin, nin_cifar10

META = torch.device("meta")

# The ImageNet model as the lecture builds it: (in, out, kernel, output side at 224x224).
NIN_IMAGENET_LAYERS = [
    (3, 96, 11, 54), (96, 96, 1, 54), (96, 96, 1, 54),              # 11x11/4 VALID
    (96, 256, 5, 26), (256, 256, 1, 26), (256, 256, 1, 26),         # after 3x3/2 VALID pool
    (256, 384, 3, 13), (384, 384, 1, 13), (384, 384, 1, 13),        # after 3x3/2 SAME pool
    (384, 1024, 3, 6), (1024, 1024, 1, 6), (1024, 1000, 1, 6),      # after 3x3/2 VALID pool
]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def macs(model: nn.Module, shape: tuple[int, ...]) -> float:
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(shape, device=META))
    return counter.get_total_flops() / 2


# -- counts -----------------------------------------------------------------------
def test_nin_cifar10_params_exact() -> None:
    with META:
        model = nin_cifar10()
    got, want = n_params(model), int(reference.PARAMS["nin_cifar10"].value)
    assert got == want, f"nin_cifar10 has {got:,} parameters, the paper's model has {want:,}"


@pytest.mark.parametrize("pool2", ["max", "avg"])
def test_nin_cifar10_pool2_choice_keeps_params(pool2: str) -> None:
    with META:
        model = nin_cifar10(pool2=pool2)
    assert n_params(model) == int(reference.PARAMS["nin_cifar10"].value)
    want = nn.MaxPool2d if pool2 == "max" else nn.AvgPool2d
    assert isinstance(model.features.pool2, want), type(model.features.pool2)
    assert isinstance(model.features.pool1, nn.MaxPool2d)


def test_nin_cifar10_macs() -> None:
    fig = reference.MACS["nin_cifar10"]
    with META:
        model = nin_cifar10().eval()
    got = macs(model, (1, 3, 32, 32))
    assert got == pytest.approx(fig.value, rel=fig.rel_tol), f"nin_cifar10: {got / 1e6:.2f} M MACs"


def test_nin_imagenet_params_and_macs_match_layer_table() -> None:
    want_params = sum(i * o * k * k + o for i, o, k, _ in NIN_IMAGENET_LAYERS)
    want_macs = sum(i * o * k * k * s * s for i, o, k, s in NIN_IMAGENET_LAYERS)
    with META:
        model = nin().eval()
    got_params = n_params(model)
    assert got_params == want_params == 7_595_176, f"nin has {got_params:,} parameters"
    got_macs = macs(model, (1, 3, 224, 224))
    assert got_macs == want_macs, f"nin: {got_macs:,.0f} MACs, layer table gives {want_macs:,}"


def test_registry_builds_both() -> None:
    with META:
        a = create_model("nin_cifar10")
        b = create_model("nin", num_classes=10)
    assert n_params(a) == int(reference.PARAMS["nin_cifar10"].value)
    assert b.num_classes == 10 and b.get_classifier().out_channels == 10


# -- the block --------------------------------------------------------------------
def test_mlpconv_structure() -> None:
    block = MlpConv(3, (192, 160, 96), 5, padding=2)
    assert block.out_channels == 96
    assert block.conv.kernel_size == (5, 5) and block.conv.out_channels == 192
    assert block.mlp1.kernel_size == (1, 1) and block.mlp1.out_channels == 160
    assert block.mlp2.kernel_size == (1, 1) and block.mlp2.out_channels == 96
    assert sum(isinstance(m, nn.ReLU) for m in block.modules()) == 3
    y = block(torch.randn(2, 3, 9, 9))
    assert y.shape == (2, 96, 9, 9) and (y >= 0).all()


def test_mlpconv_is_a_shared_mlp() -> None:
    """The 1x1 convolutions apply the same MLP to every position's channel vector."""
    torch.manual_seed(0)
    block = MlpConv(4, (6, 5, 3), 1, final_relu=False).eval()
    x = torch.randn(1, 4, 3, 3)
    fc = [nn.Linear(c.in_channels, c.out_channels) for c in (block.conv, block.mlp1, block.mlp2)]
    for lin, conv in zip(fc, (block.conv, block.mlp1, block.mlp2), strict=True):
        lin.weight.data = conv.weight.data.flatten(1)
        lin.bias.data = conv.bias.data
    v = x[0, :, 1, 2]
    mlp = fc[2](torch.relu(fc[1](torch.relu(fc[0](v)))))
    torch.testing.assert_close(block(x)[0, :, 1, 2], mlp)


def test_mlpconv_final_relu_off() -> None:
    torch.manual_seed(0)
    block = MlpConv(3, (8, 8, 8), 3, final_relu=False)
    assert isinstance(block.act2, nn.Identity)
    assert (block(torch.randn(4, 3, 5, 5)) < 0).any()


def test_mlpconv_rejects_wrong_widths() -> None:
    with pytest.raises(ValueError, match="three widths"):
        MlpConv(3, (8, 8), 3)


# -- head semantics ---------------------------------------------------------------
def test_forward_split_shapes_and_classifier() -> None:
    model = nin_cifar10().eval()
    x = torch.randn(2, 3, 32, 32)
    feats = model.forward_features(x)
    assert feats.shape == (2, 192, 8, 8)
    assert model.forward_head(feats, pre_logits=True).shape == (2, 192)
    logits = model(x)
    assert logits.shape == (2, 10)
    torch.testing.assert_close(model.forward_head(feats), logits)
    clf = model.get_classifier()
    assert isinstance(clf, nn.Conv2d) and clf.kernel_size == (1, 1)
    assert (clf.in_channels, clf.out_channels) == (192, 10)
    # The logits are the spatial means of the (ReLU'd) class maps.
    class_maps = torch.relu(clf(feats))
    torch.testing.assert_close(class_maps.mean((2, 3)), logits)


def test_linear_head_commutes_with_pooling() -> None:
    model = nin_cifar10(head_relu=False).eval()
    x = torch.randn(2, 3, 32, 32)
    pooled = model.forward_head(model.forward_features(x), pre_logits=True)
    clf = model.get_classifier()
    via_pooled = pooled @ clf.weight.flatten(1).T + clf.bias
    torch.testing.assert_close(model(x), via_pooled, rtol=1e-4, atol=1e-5)


def test_reset_classifier() -> None:
    model = nin_cifar10()
    model.reset_classifier(100)
    assert model.num_classes == 100
    assert model.get_classifier().out_channels == 100
    assert model.final_block.out_channels == 100
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 100)
    with pytest.raises(ValueError):
        model.reset_classifier(0)


def test_forward_returns_tensor_in_train_mode() -> None:
    model = nin_cifar10().train()
    out = model(torch.randn(2, 3, 32, 32))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)


# -- input sizes ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("builder", "sizes"),
    [(nin_cifar10, [(4, 4), (32, 32), (45, 37)]), (nin, [(51, 51), (64, 64), (100, 83)])],
)
def test_any_size_above_minimum(builder, sizes) -> None:
    model = builder(num_classes=7).eval()
    for h, w in sizes:
        out = model(torch.randn(1, 3, h, w))
        assert out.shape == (1, 7), f"{builder.__name__} at {h}x{w}: {tuple(out.shape)}"


@pytest.mark.parametrize(("builder", "side"), [(nin_cifar10, 4), (nin, 51)])
def test_min_input_size_is_honest(builder, side: int) -> None:
    model = builder().eval()
    assert model.min_input_size == (3, side, side)
    assert model.default_input_size == ((3, 32, 32) if builder is nin_cifar10 else (3, 224, 224))
    model(torch.randn(1, 3, side, side))  # runs at the minimum
    small = torch.randn(1, 3, side - 1, side - 1)
    with pytest.raises(ValueError, match="at least"):
        model(small)
    with pytest.raises(RuntimeError):  # and the layers really cannot run one pixel smaller
        model.forward_head(model.forward_features(small))


def test_in_chans_and_bad_input() -> None:
    model = nin_cifar10(in_chans=1)
    assert model.min_input_size[0] == 1
    assert model(torch.randn(1, 1, 28, 28)).shape == (1, 10)
    with pytest.raises(ValueError, match="input channel"):
        model(torch.randn(1, 3, 28, 28))


# -- serialization / export ------------------------------------------------------
def test_pickles() -> None:
    model = nin_cifar10(pool2="avg").eval()
    x = torch.randn(1, 3, 32, 32)
    buf = io.BytesIO()
    pickle.dump(model, buf)
    clone = pickle.loads(buf.getvalue())
    assert isinstance(clone, NiN)
    torch.testing.assert_close(clone(x), model(x))


@pytest.mark.slow
def test_torch_export() -> None:
    model = nin_cifar10().eval()
    x = torch.randn(1, 3, 32, 32)
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), model(x))
