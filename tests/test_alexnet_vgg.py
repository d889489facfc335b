"""AlexNet and VGG: exact parameter counts, fc share, torchvision key layout, shapes, input limits."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import classicnets
from classicnets.models.alexnet import AlexNet
from classicnets.models.vgg import CFGS, VGG
from classicnets.reference import FC_PARAM_SHARE, PARAMS

VGG_NAMES = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


def _meta(name: str, **kw) -> nn.Module:
    with torch.device("meta"):
        return classicnets.create_model(name, **kw)


def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# -- parameter counts -----------------------------------------------------------


@pytest.mark.parametrize("name", ["alexnet", *VGG_NAMES])
def test_parameter_count_is_exact(name: str) -> None:
    got = _count(_meta(name))
    want = int(PARAMS[name].value)
    assert got == want, f"{name}: {got:,} parameters, reference {want:,} ({PARAMS[name].source})"


def test_bn_variants_add_two_parameters_per_conv_channel() -> None:
    for plain in ("vgg11", "vgg13", "vgg16", "vgg19"):
        channels = sum(c for c in CFGS[{"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}[plain]]
                       if c != "M")
        diff = _count(_meta(plain + "_bn")) - _count(_meta(plain))
        assert diff == 2 * channels, f"{plain}_bn adds {diff:,} parameters, expected 2 x {channels}"


def test_configurations_have_the_papers_depths() -> None:
    # Weight layers = convs + 3 fc: A 11, B 13, D 16, E 19 (Table 1).
    depths = {k: sum(1 for c in v if c != "M") + 3 for k, v in CFGS.items()}
    assert depths == {"A": 11, "B": 13, "D": 16, "E": 19}, depths
    assert all(sum(1 for c in v if c == "M") == 5 for v in CFGS.values())


@pytest.mark.parametrize("name", sorted(FC_PARAM_SHARE))
def test_fc_share_of_parameters(name: str) -> None:
    m = _meta(name)
    fc = sum(p.numel() for mod in m.modules() if isinstance(mod, nn.Linear) for p in mod.parameters())
    share = fc / _count(m)
    fig = FC_PARAM_SHARE[name]
    assert math.isclose(share, fig.value, rel_tol=fig.rel_tol), f"{name}: fc share {share:.4f} vs {fig.value}"


def test_fc_share_exact_values() -> None:
    # By hand: fc6 + fc7 + fc8 over the total.
    alex_fc = (9216 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert alex_fc == 58_631_144
    vgg_fc = (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert vgg_fc == 123_642_856
    assert round(alex_fc / PARAMS["alexnet"].value, 4) == 0.9596
    assert round(vgg_fc / PARAMS["vgg16"].value, 4) == 0.8936
    assert round(vgg_fc / PARAMS["vgg19"].value, 4) == 0.8606


# -- key layout ---------------------------------------------------------------


def _wb(prefixes: list[str]) -> set[str]:
    return {f"{p}.{s}" for p in prefixes for s in ("weight", "bias")}


def test_alexnet_keys_and_shapes() -> None:
    sd = _meta("alexnet").state_dict()
    expected_shapes = {
        "features.0.weight": (64, 3, 11, 11),
        "features.3.weight": (192, 64, 5, 5),
        "features.6.weight": (384, 192, 3, 3),
        "features.8.weight": (256, 384, 3, 3),
        "features.10.weight": (256, 256, 3, 3),
        "classifier.1.weight": (4096, 9216),
        "classifier.4.weight": (4096, 4096),
        "classifier.6.weight": (1000, 4096),
    }
    prefixes = [k.rsplit(".", 1)[0] for k in expected_shapes]
    assert set(sd) == _wb(prefixes), sorted(set(sd) ^ _wb(prefixes))
    for k, shape in expected_shapes.items():
        assert tuple(sd[k].shape) == shape, (k, tuple(sd[k].shape))
        bias = k.replace("weight", "bias")
        assert tuple(sd[bias].shape) == (shape[0],), (bias, tuple(sd[bias].shape))
    m = _meta("alexnet")
    assert isinstance(m.avgpool, nn.AdaptiveAvgPool2d) and m.avgpool.output_size == (6, 6)
    conv1 = m.features[0]
    assert (conv1.kernel_size, conv1.stride, conv1.padding) == ((11, 11), (4, 4), (2, 2))


# Configuration D: conv indices in the flat features list (a pool after each stage).
VGG16_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
VGG16_BN_CONVS = [0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40]
VGG16_WIDTHS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]


def test_vgg16_keys_and_shapes() -> None:
    sd = _meta("vgg16").state_dict()
    prefixes = [f"features.{i}" for i in VGG16_CONVS] + ["classifier.0", "classifier.3", "classifier.6"]
    assert set(sd) == _wb(prefixes), sorted(set(sd) ^ _wb(prefixes))
    c_in = 3
    for i, c in zip(VGG16_CONVS, VGG16_WIDTHS, strict=True):
        assert tuple(sd[f"features.{i}.weight"].shape) == (c, c_in, 3, 3), i
        c_in = c
    assert tuple(sd["classifier.0.weight"].shape) == (4096, 512 * 7 * 7)
    assert tuple(sd["classifier.3.weight"].shape) == (4096, 4096)
    assert tuple(sd["classifier.6.weight"].shape) == (1000, 4096)


def test_vgg16_bn_keys() -> None:
    sd = _meta("vgg16_bn").state_dict()
    convs = _wb([f"features.{i}" for i in VGG16_BN_CONVS])
    bns = {f"features.{i + 1}.{s}" for i in VGG16_BN_CONVS
           for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    fcs = _wb(["classifier.0", "classifier.3", "classifier.6"])
    expected = convs | bns | fcs
    assert set(sd) == expected, sorted(set(sd) ^ expected)


# -- forward shapes -----------------------------------------------------------


@pytest.fixture(scope="module")
def alex() -> AlexNet:
    torch.manual_seed(0)
    return classicnets.create_model("alexnet", num_classes=10).eval()


@pytest.fixture(scope="module")
def vgg11_model() -> VGG:
    torch.manual_seed(0)
    return classicnets.create_model("vgg11", num_classes=10).eval()


def test_alexnet_shapes_at_64(alex: AlexNet) -> None:
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        f = alex.forward_features(x)
        assert tuple(f.shape) == (2, 256, 1, 1)
        assert tuple(alex.forward_head(f, pre_logits=True).shape) == (2, 4096)
        assert tuple(alex(x).shape) == (2, 10)
    alex.train()
    try:
        assert tuple(alex(x).shape) == (2, 10)
    finally:
        alex.eval()


def test_vgg11_shapes_at_64(vgg11_model: VGG) -> None:
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        f = vgg11_model.forward_features(x)
        assert tuple(f.shape) == (2, 512, 2, 2)
        assert tuple(vgg11_model.forward_head(f, pre_logits=True).shape) == (2, 4096)
        y = vgg11_model(x)
        assert tuple(y.shape) == (2, 10) and torch.isfinite(y).all()


def test_vgg_bn_forward_small_input() -> None:
    # Features only (the classifier alone is 120M weights): BN sits between conv and ReLU.
    with torch.device("meta"):
        m = classicnets.create_model("vgg11_bn")
    f = m.features
    assert isinstance(f[0], nn.Conv2d) and isinstance(f[1], nn.BatchNorm2d) and isinstance(f[2], nn.ReLU)
    out = f(torch.empty(2, 3, 32, 32, device="meta"))
    assert tuple(out.shape) == (2, 512, 1, 1)


# -- input limits -------------------------------------------------------------


def _out_side(layers: nn.Sequential, side: int) -> int:
    """The spatial side after the conv/pool stack, by the output-size formula."""
    for layer in layers:
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            k, s, p = (v if isinstance(v, int) else v[0]
                       for v in (layer.kernel_size, layer.stride, layer.padding))
            side = (side + 2 * p - k) // s + 1
            if side < 1:
                return 0
    return side


@pytest.mark.parametrize("name,expected", [("alexnet", 63), ("vgg11", 32), ("vgg19_bn", 32)])
def test_min_input_is_smallest_size_with_a_nonempty_map(name: str, expected: int) -> None:
    m = _meta(name)
    smallest = next(s for s in range(1, 512) if _out_side(m.features, s) >= 1)
    assert smallest == expected, f"{name}: smallest workable side by computation is {smallest}"
    assert m.min_input_size == (3, expected, expected), m.min_input_size
    assert _out_side(m.features, expected - 1) == 0
    # The real layers agree (shape inference on the meta device).
    assert m.features(torch.empty(1, 3, expected, expected, device="meta")).shape[-1] == 1


def test_alexnet_runs_at_its_minimum(alex: AlexNet) -> None:
    with torch.no_grad():
        assert tuple(alex(torch.randn(1, 3, 63, 63)).shape) == (1, 10)


@pytest.mark.parametrize("name,side", [("alexnet", 63), ("vgg16", 32)])
def test_too_small_input_is_a_clear_error(name: str, side: int) -> None:
    m = _meta(name)  # the check runs before any layer, so a meta model is enough
    with pytest.raises(ValueError, match=rf"at least {side}x{side}.*got {side - 1}x{side}"):
        m(torch.randn(1, 3, side - 1, side))
    with pytest.raises(ValueError, match=r"3 input channel.*in_chans=1"):
        m(torch.randn(1, 1, side, side))


# -- options ------------------------------------------------------------------


def test_dropout_option() -> None:
    a = _meta("alexnet", drop_rate=0.2)
    assert [mod.p for mod in a.classifier if isinstance(mod, nn.Dropout)] == [0.2, 0.2]
    assert isinstance(a.classifier[0], nn.Dropout) and isinstance(a.classifier[3], nn.Dropout)
    v = _meta("vgg16", drop_rate=0.3)
    assert isinstance(v.classifier[2], nn.Dropout) and isinstance(v.classifier[5], nn.Dropout)
    assert v.classifier[2].p == 0.3 and v.classifier[5].p == 0.3
    with pytest.raises(ValueError, match="drop_rate"):
        _meta("alexnet", drop_rate=1.0)
    with pytest.raises(ValueError, match="drop_rate"):
        _meta("vgg11", drop_rate=-0.1)


@pytest.mark.parametrize("name", ["alexnet", "vgg13"])
def test_in_chans_and_reset_classifier(name: str) -> None:
    m = _meta(name, in_chans=1, num_classes=7)
    assert m.min_input_size[0] == 1 and m.default_input_size[0] == 1
    assert m.features[0].in_channels == 1
    assert m.get_classifier().out_features == 7
    m.reset_classifier(5)
    assert m.num_classes == 5 and m.get_classifier().out_features == 5
    assert m.get_classifier() is m.classifier[6]


def test_vgg_init() -> None:
    torch.manual_seed(0)
    m = VGG([64, "M", 64, "M", 64, "M", 64, "M", 64, "M"], num_classes=10)
    fc = m.classifier[0].weight
    assert abs(fc.std().item() - 0.01) < 1e-3, fc.std().item()
    conv = m.features[3].weight  # fan_out = 64 * 9
    assert abs(conv.std().item() - math.sqrt(2 / (64 * 9))) < 0.01, conv.std().item()
    biases = [mod.bias for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.Linear))]
    assert all(float(b.detach().abs().max()) == 0.0 for b in biases)
