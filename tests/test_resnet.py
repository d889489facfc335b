"""ResNet (He et al. 2015): counts, layouts and MACs against classicnets.reference, shortcuts, lesions."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import classicnets
from classicnets.models.resnet import (
    BasicBlock,
    Bottleneck,
    CifarResNet,
    ResidualBlock,
    ResNet,
    ZeroPadShortcut,
    cifar_resnet,
)
from classicnets.reference import MACS, MACS_RESNET_V1_5, PARAMS, PARAMS_CIFAR_OPTION_B

IMAGENET = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
CIFAR = ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202"]
CIFAR_PLAIN = ["plain20", "plain32", "plain44", "plain56", "plain110"]

# He et al. 2015, Table 1: block type and blocks per stage; stage widths 64, 128, 256, 512.
TABLE1 = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}
WIDTHS = (64, 128, 256, 512)


def _meta(name: str, **kw) -> nn.Module:
    with torch.device("meta"):
        return classicnets.create_model(name, **kw)


def _n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _layout(m: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in m.state_dict().items()}


def _macs(m: nn.Module, size: tuple[int, int, int]) -> float:
    """Multiply-accumulates of one image, counted by FlopCounterMode on the meta device (flops / 2)."""
    with torch.device("meta"):
        x = torch.empty(1, *size)
    with FlopCounterMode(display=False) as counter:
        m(x)
    return counter.get_total_flops() / 2


# -- parameter counts ---------------------------------------------------------------
@pytest.mark.parametrize("name", IMAGENET + CIFAR + CIFAR_PLAIN)
def test_param_count_matches_reference(name: str) -> None:
    got = _n_params(_meta(name))
    want = int(PARAMS[name].value)
    assert got == want, f"{name}: {got:,} params, reference {want:,}"


@pytest.mark.parametrize("name", CIFAR)
def test_cifar_option_b_param_count(name: str) -> None:
    got = _n_params(_meta(name, shortcut="B"))
    want = int(PARAMS_CIFAR_OPTION_B[name].value)
    assert got == want, f"{name} option B: {got:,} params, reference {want:,}"


@pytest.mark.parametrize(("plain", "resnet"), [("plain18", "resnet18"), ("plain34", "resnet34")])
def test_imagenet_plain_is_resnet_minus_projections(plain: str, resnet: str) -> None:
    res = _meta(resnet)
    projection = sum(_n_params(b.downsample) for b in res.modules()
                     if isinstance(b, ResidualBlock) and b.downsample is not None)
    # three projections: 64->128, 128->256, 256->512 (1x1 conv + BN weight and bias)
    assert projection == sum(c * 2 * c + 2 * 2 * c for c in (64, 128, 256)), projection
    got = _n_params(_meta(plain))
    assert got == _n_params(res) - projection, f"{plain}: {got:,}, expected {_n_params(res) - projection:,}"
    assert set(_layout(_meta(plain))) == {k for k in _layout(res) if ".downsample." not in k}


@pytest.mark.parametrize("plain", CIFAR_PLAIN)
def test_cifar_plain_twin_has_resnet_keys(plain: str) -> None:
    """With option A the shortcuts hold nothing: plain and residual state dicts are identical."""
    assert _layout(_meta(plain)) == _layout(_meta(plain.replace("plain", "resnet")))


# -- state_dict layout: torchvision's keys and shapes, derived from Table 1 -----------
def _expected_imagenet_layout(block: str, layers: tuple[int, ...], num_classes: int = 1000):
    exp: dict[str, tuple[int, ...]] = {}

    def conv(name: str, cout: int, cin: int, k: int) -> None:
        exp[f"{name}.weight"] = (cout, cin, k, k)

    def bn(name: str, c: int) -> None:
        for t in ("weight", "bias", "running_mean", "running_var"):
            exp[f"{name}.{t}"] = (c,)
        exp[f"{name}.num_batches_tracked"] = ()

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    e = 1 if block == "basic" else 4
    cin = 64
    for s, (n, w) in enumerate(zip(layers, WIDTHS, strict=True), start=1):
        for i in range(n):
            p = f"layer{s}.{i}"
            if block == "basic":
                conv(f"{p}.conv1", w, cin, 3)
                bn(f"{p}.bn1", w)
                conv(f"{p}.conv2", w, w, 3)
                bn(f"{p}.bn2", w)
            else:
                conv(f"{p}.conv1", w, cin, 1)
                bn(f"{p}.bn1", w)
                conv(f"{p}.conv2", w, w, 3)
                bn(f"{p}.bn2", w)
                conv(f"{p}.conv3", w * e, w, 1)
                bn(f"{p}.bn3", w * e)
            stride = 2 if (i == 0 and s > 1) else 1
            if stride != 1 or cin != w * e:
                conv(f"{p}.downsample.0", w * e, cin, 1)
                bn(f"{p}.downsample.1", w * e)
            cin = w * e
    exp["fc.weight"] = (num_classes, 512 * e)
    exp["fc.bias"] = (num_classes,)
    return exp


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_state_dict_is_torchvision_layout(name: str) -> None:
    got = _layout(_meta(name))
    want = _expected_imagenet_layout(*TABLE1[name])
    assert set(got) == set(want), (sorted(set(got) - set(want)), sorted(set(want) - set(got)))
    wrong = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert not wrong, wrong
    assert list(got) == list(want), "key order differs from torchvision's"


@pytest.mark.parametrize("name", ["resnet50", "resnet101"])
def test_v1_and_v1_5_have_identical_layouts(name: str) -> None:
    v1, v15 = _meta(name), _meta(name, variant="v1.5")
    assert _layout(v1) == _layout(v15)
    # ... but the stride sits on the first 1x1 (v1) or on the 3x3 (v1.5)
    b1, b15 = v1.layer2[0], v15.layer2[0]
    assert (b1.conv1.stride, b1.conv2.stride) == ((2, 2), (1, 1))
    assert (b15.conv1.stride, b15.conv2.stride) == ((1, 1), (2, 2))
    assert b1.downsample[0].stride == b15.downsample[0].stride == (2, 2)


def test_torchvision_style_checkpoint_loads_strict() -> None:
    """A state dict with exactly the fact-derived layout loads with strict=True, into either variant."""
    layout = _expected_imagenet_layout(*TABLE1["resnet18"])
    sd = {k: torch.zeros(s) if s else torch.tensor(0) for k, s in layout.items()}
    for variant in ("v1", "v1.5"):
        m = classicnets.create_model("resnet18", variant=variant)
        m.load_state_dict(sd, strict=True)
        assert float(m.layer1[0].conv1.weight.detach().abs().sum()) == 0.0


# -- MACs ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_macs_v1(name: str) -> None:
    got = _macs(_meta(name).eval(), (3, 224, 224))
    want = MACS[name].value
    assert abs(got - want) <= 0.01e9, f"{name} v1: {got / 1e9:.4f} G MACs, reference {want / 1e9:.2f} G"


@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_macs_v1_5(name: str) -> None:
    got = _macs(_meta(name, variant="v1.5").eval(), (3, 224, 224))
    want = MACS_RESNET_V1_5[name].value
    assert abs(got - want) <= 0.01e9, f"{name} v1.5: {got / 1e9:.4f} G MACs, reference {want / 1e9:.2f} G"


@pytest.mark.parametrize("name", ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110"])
def test_cifar_macs(name: str) -> None:
    got = _macs(_meta(name).eval(), (3, 32, 32))
    want = MACS[name].value
    assert abs(got - want) <= 0.01e6, f"{name}: {got / 1e6:.3f} M MACs, reference {want / 1e6:.2f} M"


def test_cifar_macs_resnet20_exact() -> None:
    """Sum of the layers of Sec. 4.2, written out: stem, 6 convs per stage, fc."""
    hw = {16: 32 * 32, 32: 16 * 16, 64: 8 * 8}
    want = hw[16] * 16 * 3 * 9  # stem
    cin = 16
    for c in (16, 32, 64):
        want += hw[c] * c * cin * 9 + 5 * hw[c] * c * c * 9
        cin = c
    want += 64 * 10
    assert _macs(_meta("resnet20").eval(), (3, 32, 32)) == want == 40_551_040


@pytest.mark.slow
def test_resnet1202_macs() -> None:
    got = _macs(_meta("resnet1202").eval(), (3, 32, 32))
    assert abs(got - MACS["resnet1202"].value) <= 0.01e6, got


# -- shortcuts -------------------------------------------------------------------------
def test_option_a_zero_pads() -> None:
    sc = ZeroPadShortcut(16, 32, stride=2)
    assert list(sc.parameters()) == [] and list(sc.buffers()) == []
    x = torch.randn(2, 16, 8, 7)
    y = sc(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2])
    assert torch.equal(y[:, 16:], torch.zeros(2, 16, 4, 4))


def test_option_a_shortcuts_in_model() -> None:
    m = classicnets.create_model("resnet20")
    first = [m.layer2[0], m.layer3[0]]
    assert all(isinstance(b.downsample, ZeroPadShortcut) for b in first)
    assert all(not b.has_projection and b.changes_shape and b.is_downsampling for b in first)
    others = [b for b in m.modules() if isinstance(b, ResidualBlock) and b not in first]
    assert len(others) == 7 and all(isinstance(b.downsample, nn.Identity) for b in others)
    assert all(not b.changes_shape for b in others)


def _cifar_projection_params(cin: int, cout: int) -> int:
    return cin * cout + 2 * cout  # 1x1 conv (no bias) + BN weight and bias


def test_option_b_and_c_projection_counts() -> None:
    base = _n_params(_meta("resnet20"))
    b = _meta("resnet20", shortcut="B")
    c = _meta("resnet20", shortcut="C")
    assert _n_params(b) - base == _cifar_projection_params(16, 32) + _cifar_projection_params(32, 64)
    # option C: a projection on every one of the 9 blocks
    blocks = [m for m in c.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 9 and all(blk.has_projection for blk in blocks)
    pairs = [(16, 16)] * 3 + [(16, 32), (32, 32), (32, 32), (32, 64), (64, 64), (64, 64)]
    want = sum(_cifar_projection_params(i, o) for i, o in pairs)
    assert _n_params(c) - base == want, (_n_params(c) - base, want)
    assert [blk.has_projection for blk in b.modules() if isinstance(blk, ResidualBlock)] == \
        [False] * 3 + [True, False, False, True, False, False]


def test_option_c_imagenet_every_block_projects() -> None:
    m = _meta("resnet50", shortcut="C")
    blocks = [b for b in m.modules() if isinstance(b, Bottleneck)]
    assert len(blocks) == 16
    for b in blocks:
        conv = b.downsample[0]
        assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and conv.bias is None
    assert _meta("resnet50", shortcut="A").layer1[0].downsample.__class__ is ZeroPadShortcut


def test_bad_shortcut_and_variant_are_clear() -> None:
    with pytest.raises(ValueError, match="shortcut must be"):
        classicnets.create_model("resnet20", shortcut="D")
    with pytest.raises(ValueError, match="variant"):
        classicnets.create_model("resnet50", variant="v2")
    with pytest.raises(ValueError, match="stem"):
        classicnets.create_model("resnet18", stem="tiny")
    with pytest.raises(ValueError, match="init"):
        classicnets.create_model("resnet20", init="orthogonal")


# -- lesions ---------------------------------------------------------------------------
def test_residual_disabled_block_is_exactly_identity() -> None:
    m = classicnets.create_model("resnet20").train()
    block = m.layer2[1]
    assert not block.changes_shape and block.residual_enabled
    x = torch.relu(torch.randn(4, 32, 16, 16))  # a block's input is post-ReLU
    assert not torch.equal(block(x), x)
    block.residual_enabled = False
    assert torch.equal(block(x), x)
    # a shape-changing block keeps only its shortcut (option A: the zero-padded input)
    down = m.layer3[0]
    down.residual_enabled = False
    assert torch.equal(down(x), ZeroPadShortcut(32, 64, 2)(x))


def test_lesioned_model_trains() -> None:
    """Backward runs through disabled blocks (no in-place op on a saved tensor)."""
    m = classicnets.create_model("resnet20").train()
    for b in (m.layer1[1], m.layer2[0], m.layer3[2]):
        b.residual_enabled = False
    m(torch.randn(2, 3, 32, 32)).sum().backward()
    assert m.layer1[1].conv1.weight.grad is None  # the skipped branch is not used
    assert m.conv1.weight.grad is not None


def test_disabling_all_identity_blocks_equals_deleting_them() -> None:
    m = classicnets.create_model("resnet20").eval()
    x = torch.randn(2, 3, 32, 32)
    for stage in (m.layer1, m.layer2, m.layer3):
        for b in list(stage)[1:]:
            b.residual_enabled = False
    with torch.no_grad():
        lesioned = m(x)
        for stage in (m.layer1, m.layer2, m.layer3):
            del stage[1:]
        assert len(m.layer2) == 1
        assert torch.equal(m(x), lesioned)


def test_plain_block_refuses_lesion_and_checks_type() -> None:
    m = _meta("plain20")
    b = m.layer1[0]
    assert not b.has_shortcut and b.downsample is None
    with pytest.raises(ValueError, match="plain block"):
        b.residual_enabled = False
    with pytest.raises(ValueError, match="True or False"):
        classicnets.create_model("resnet20").layer1[0].residual_enabled = 0


def test_read_only_block_facts() -> None:
    m = _meta("resnet50")
    assert m.layer1[0].changes_shape and not m.layer1[0].is_downsampling  # 64 -> 256 channels
    assert m.layer2[0].is_downsampling and m.layer2[0].has_projection
    assert not m.layer2[1].changes_shape and not m.layer2[1].has_projection
    with pytest.raises(AttributeError):
        m.layer2[0].changes_shape = False


def test_reordering_blocks_keeps_working() -> None:
    m = classicnets.create_model("resnet20").eval()
    m.layer1 = nn.Sequential(m.layer1[2], m.layer1[0], m.layer1[1])
    with torch.no_grad():
        assert m(torch.randn(1, 3, 32, 32)).shape == (1, 10)


# -- generic CIFAR builder -------------------------------------------------------------
@pytest.mark.parametrize("depth", [20, 56])
def test_cifar_resnet_generic_builder_matches_named(depth: int) -> None:
    with torch.device("meta"):
        m = cifar_resnet(depth)
        p = cifar_resnet(depth, plain=True)
    assert _n_params(m) == int(PARAMS[f"resnet{depth}"].value)
    assert _n_params(p) == int(PARAMS[f"plain{depth}"].value)
    assert all(not b.has_shortcut for b in p.modules() if isinstance(b, ResidualBlock))


def test_cifar_resnet_any_depth() -> None:
    with torch.device("meta"):
        m = cifar_resnet(8)
        m26 = cifar_resnet(26, shortcut="B", num_classes=100)
    assert [len(s) for s in (m.layer1, m.layer2, m.layer3)] == [1, 1, 1]
    assert m26.blocks_per_stage == 4 and m26.fc.out_features == 100
    # each step of n adds one block per stage
    assert _n_params(m) == int(PARAMS["resnet20"].value) - 2 * 97_216


@pytest.mark.parametrize("depth", [2, 7, 21, 0, -4, 20.0, "20", True])
def test_cifar_resnet_bad_depth(depth) -> None:
    with pytest.raises(ValueError, match=r"6n \+ 2"):
        cifar_resnet(depth)


def test_cifar_resnet_plain_and_shortcut_conflict() -> None:
    with pytest.raises(ValueError, match="shortcut"):
        cifar_resnet(20, plain=True, shortcut="B")


# -- options ---------------------------------------------------------------------------
def test_cifar_stem_on_imagenet_resnet() -> None:
    m = classicnets.create_model("resnet18", stem="cifar", num_classes=10).eval()
    assert m.conv1.kernel_size == (3, 3) and m.conv1.stride == (1, 1) and isinstance(m.maxpool, nn.Identity)
    assert m.min_input_size == (3, 8, 8) and m.default_input_size == (3, 32, 32)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert m.forward_features(x).shape == (2, 512, 4, 4)
        assert m(x).shape == (2, 10)
    r50 = _meta("resnet50", stem="cifar", num_classes=10)
    with torch.device("meta"):
        assert r50.forward_features(torch.empty(2, 3, 32, 32)).shape == (2, 2048, 4, 4)
    assert _n_params(r50) == int(PARAMS["resnet50"].value) - 64 * 3 * (49 - 9) - 2048 * 990 - 990


def test_input_sizes() -> None:
    for name in ("resnet18", "resnet50", "plain34"):
        m = _meta(name)
        assert (m.default_input_size, m.min_input_size) == ((3, 224, 224), (3, 32, 32)), name
    m = _meta("resnet20", in_chans=1)
    assert (m.default_input_size, m.min_input_size) == ((1, 32, 32), (1, 8, 8))
    assert m.conv1.weight.shape == (16, 1, 3, 3)
    with pytest.raises(ValueError, match="at least 32x32"):
        classicnets.create_model("resnet18")(torch.randn(1, 3, 31, 32))


def test_batch_norm_false_has_no_bn() -> None:
    m = classicnets.create_model("resnet20", batch_norm=False, shortcut="B")
    assert not any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in m.modules())
    convs = [x for x in m.modules() if isinstance(x, nn.Conv2d)]
    assert len(convs) == 21 and all(c.bias is not None for c in convs)
    assert not any("running" in k or "bn" in k for k in m.state_dict())
    with torch.no_grad():
        assert torch.isfinite(m(torch.randn(2, 3, 32, 32))).all()
    p = classicnets.create_model("plain20", batch_norm=False)
    # plain20 without BN: the convs gain biases, the BNs' 2 x channels go
    bn_params = sum(_n_params(x) for x in _meta("plain20").modules() if isinstance(x, nn.BatchNorm2d))
    bias_params = sum(c.out_channels for c in p.modules() if isinstance(c, nn.Conv2d))
    assert _n_params(p) == int(PARAMS["plain20"].value) - bn_params + bias_params


@torch.no_grad()
def test_init_options() -> None:
    kaiming = classicnets.create_model("resnet56")
    glorot = classicnets.create_model("resnet56", init="glorot")
    w_k, w_g = kaiming.layer3[1].conv1.weight, glorot.layer3[1].conv1.weight  # 64 -> 64, 3x3
    fan = 64 * 9  # fan_in = fan_out for a 64 -> 64 conv
    assert abs(float(w_k.std()) / (2 / fan) ** 0.5 - 1) < 0.05, float(w_k.std())
    assert abs(float(w_g.std()) / (2 / (2 * fan)) ** 0.5 - 1) < 0.05, float(w_g.std())
    assert float(glorot.fc.bias.abs().sum()) == 0.0
    stem = kaiming.conv1.weight  # 3 -> 16: the CIFAR nets use fan_in (27), the ImageNet ones fan_out
    assert abs(float(stem.std()) / (2 / 27) ** 0.5 - 1) < 0.15, float(stem.std())
    assert all(float(b.weight.min()) == 1.0 for b in kaiming.modules() if isinstance(b, nn.BatchNorm2d))


@torch.no_grad()
def test_zero_init_residual() -> None:
    for name in ("resnet18", "resnet50", "resnet20"):
        m = classicnets.create_model(name, zero_init_residual=True)
        blocks = [b for b in m.modules() if isinstance(b, ResidualBlock)]
        assert blocks and all(float(b.last_norm.weight.abs().sum()) == 0 for b in blocks), name
        assert float(m.bn1.weight.min()) == 1.0
    # every non-downsampling block starts as the identity
    m = classicnets.create_model("resnet20", zero_init_residual=True).eval()
    x = torch.relu(torch.randn(1, 16, 32, 32))
    with torch.no_grad():
        assert torch.equal(m.layer1[1](x), x)
    with pytest.raises(ValueError, match="zero_init_residual"):
        classicnets.create_model("resnet20", zero_init_residual=True, batch_norm=False)
    with pytest.raises(ValueError, match="plain"):
        ResNet(BasicBlock, (2, 2, 2, 2), shortcut=None, zero_init_residual=True)


def test_head_split_and_classifier() -> None:
    m = classicnets.create_model("resnet20").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        f = m.forward_features(x)
        assert f.shape == (2, 64, 8, 8)
        assert m.forward_head(f, pre_logits=True).shape == (2, 64)
        assert torch.equal(m.forward_head(f), m(x))
    assert m.get_classifier() is m.fc
    m.reset_classifier(100)
    assert m.num_classes == 100 and m.fc.out_features == 100 and m.fc.in_features == 64
    r = _meta("resnet50")
    assert r.get_classifier().in_features == 2048


def test_registry_options_and_pickle() -> None:
    assert "variant" in classicnets.model_options("resnet50")
    assert "shortcut" not in classicnets.model_options("plain18")
    assert {"batch_norm", "init", "shortcut"} <= set(classicnets.model_options("resnet20"))
    assert isinstance(_meta("resnet110"), CifarResNet) and isinstance(_meta("plain34"), ResNet)
    m = classicnets.create_model("resnet20", shortcut="A").eval()
    m.layer2[2].residual_enabled = False
    m2 = pickle.loads(pickle.dumps(m))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))
    assert not m2.layer2[2].residual_enabled


# -- compilation ----------------------------------------------------------------------
def test_torch_compile_fullgraph_no_graph_breaks() -> None:
    """Dynamo captures resnet20 as one graph (no data-dependent control flow) and honours the lesion flag."""
    torch._dynamo.reset()
    m = classicnets.create_model("resnet20").eval()
    x = torch.randn(2, 3, 32, 32)
    compiled = torch.compile(m, backend="eager", fullgraph=True)
    with torch.no_grad():
        assert torch.allclose(compiled(x), m(x), atol=1e-6)
        m.layer2[1].residual_enabled = False
        assert torch.allclose(compiled(x), m(x), atol=1e-6)


@pytest.mark.slow
def test_torch_compile_inductor_resnet20() -> None:
    m = classicnets.create_model("resnet20").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(torch.compile(m)(x), m(x), atol=1e-4, rtol=1e-4)
