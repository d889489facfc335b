"""Pre-activation ResNets (He et al. 2016) and Wide ResNets (Zagoruyko & Komodakis 2016): exact
parameter counts against classicnets.reference, the units' structure as the papers define it, and
torchvision's wide_resnet50_2/101_2 layout and forward."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import classicnets
from classicnets.errors import InvalidInputError
from classicnets.models.preact_resnet import PreActBlock, preact_cifar_resnet
from classicnets.models.wide_resnet import wide_resnet
from classicnets.reference import PARAMS, PARAMS_PRINTED_M

PREACT = ["preact_resnet20", "preact_resnet32", "preact_resnet44", "preact_resnet56", "preact_resnet110",
          "preact_resnet164", "preact_resnet1001"]
WRN = ["wrn10_1", "wrn10_2", "wrn10_3", "wrn16_4", "wrn16_8", "wrn16_10", "wrn22_8", "wrn28_10", "wrn40_1", "wrn40_2",
       "wrn40_4", "wrn40_8"]


def _meta(name: str, **kw) -> nn.Module:
    with torch.device("meta"):
        return classicnets.create_model(name, **kw)


def _count(m: nn.Module, bn: bool = True) -> int:
    return sum(p.numel() for mod in m.modules() if bn or not isinstance(mod, nn.BatchNorm2d)
               for p in mod.parameters(recurse=False))


def test_every_new_model_is_registered() -> None:
    names = set(classicnets.list_models())
    assert set(PREACT + WRN + ["wide_resnet50_2", "wide_resnet101_2"]) <= names


@pytest.mark.parametrize("name", [n for n in PREACT + WRN + ["wide_resnet50_2", "wide_resnet101_2"] if n in PARAMS])
def test_exact_parameter_count(name: str) -> None:
    assert _count(_meta(name)) == int(PARAMS[name].value), PARAMS[name].source


@pytest.mark.parametrize("name", sorted(PARAMS_PRINTED_M))
def test_count_rounds_to_the_printed_figure(name: str) -> None:
    fig = PARAMS_PRINTED_M[name]
    got = _count(_meta(name), bn=fig.note != "bn=False")
    assert round(got / 1e6, 1) == fig.value, f"{name}: {got:,} does not round to {fig.value}M ({fig.source})"


def test_wrn16_4_is_about_2_7m() -> None:
    assert round(_count(_meta("wrn16_4")) / 1e6, 1) == 2.7


@pytest.mark.parametrize("depth,bottleneck,name", [(20, False, "preact_resnet20"), (110, False, "preact_resnet110"),
                                                   (164, True, "preact_resnet164")])
def test_generic_builder_matches_named(depth: int, bottleneck: bool, name: str) -> None:
    torch.manual_seed(0)
    a = preact_cifar_resnet(depth, bottleneck=bottleneck)
    torch.manual_seed(0)
    b = classicnets.create_model(name)
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("depth,bottleneck", [(21, False), (21, True), (2, False), (True, False), (1001.0, True)])
def test_bad_preact_depth_is_refused(depth, bottleneck) -> None:
    with pytest.raises(InvalidInputError, match="depth"):
        preact_cifar_resnet(depth, bottleneck=bottleneck)


@pytest.mark.parametrize("depth,k,msg", [(41, 4, "6N \\+ 4"), (4, 1, "6N \\+ 4"), (16, 0, "widen_factor"),
                                         (16, 2.5, "widen_factor")])
def test_bad_wrn_shape_is_refused(depth, k, msg) -> None:
    with pytest.raises(InvalidInputError, match=msg):
        wide_resnet(depth, k)


def test_wide_resnet_matches_named_and_widths() -> None:
    torch.manual_seed(1)
    a = wide_resnet(40, 4)
    torch.manual_seed(1)
    b = classicnets.create_model("wrn40_4")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert [s[0].conv2.out_channels for s in (b.layer1, b.layer2, b.layer3)] == [64, 128, 256]
    assert len(b.layer1) == len(b.layer2) == len(b.layer3) == 6  # (40 - 4) / 6


def test_shortcuts_follow_the_authors_code() -> None:
    """Pre-act ResNet: only the very first unit's projection reads the activated input; WRN: every one."""
    r164 = _meta("preact_resnet164")
    assert r164.layer1[0].preact_shortcut and r164.layer1[0].has_projection
    assert not r164.layer2[0].preact_shortcut and r164.layer2[0].has_projection
    assert not r164.layer1[1].has_projection and isinstance(r164.layer1[1].downsample, nn.Identity)
    wrn = _meta("wrn16_4")
    assert all(s[0].preact_shortcut for s in (wrn.layer1, wrn.layer2, wrn.layer3))
    assert all(not isinstance(b.downsample[0] if isinstance(b.downsample, nn.Sequential) else b.downsample,
                              nn.BatchNorm2d) for b in wrn.modules() if isinstance(b, PreActBlock))
    wrn40_1 = _meta("wrn40_1")  # 16 -> 16: the first unit keeps an identity shortcut
    assert isinstance(wrn40_1.layer1[0].downsample, nn.Identity)


def test_no_activation_after_the_addition_and_lesion_is_exact() -> None:
    torch.manual_seed(0)
    m = classicnets.create_model("preact_resnet20").eval()
    x = torch.randn(4, 16, 32, 32)
    unit = m.layer1[1]
    out = unit(x)
    assert (out < 0).any(), "a pre-activation unit adds without a ReLU: negative outputs must survive"
    assert torch.allclose(out, x + unit.residual_branch(x), atol=1e-5)
    unit.residual_enabled = False
    assert torch.equal(unit(x), x)


def test_final_bn_relu_and_interface() -> None:
    m = classicnets.create_model("preact_resnet56", num_classes=7).eval()
    x = torch.randn(2, 3, 32, 32)
    f = m.forward_features(x)
    assert f.shape == (2, 64, 8, 8) and (f >= 0).all()  # after bn_final + ReLU
    assert m(x).shape == (2, 7) and m.forward_head(f, pre_logits=True).shape == (2, 64)
    m.reset_classifier(3)
    assert m(x).shape == (2, 3) and m.get_classifier().out_features == 3
    with pytest.raises(InvalidInputError, match="at least 8x8"):
        m(torch.randn(1, 3, 4, 4))


def test_bottleneck_widths() -> None:
    m = _meta("preact_resnet164")
    u = m.layer3[0]
    assert (u.conv1.out_channels, u.conv2.out_channels, u.conv3.out_channels, u.conv2.stride) == (64, 64, 256, (2, 2))
    assert m.num_features == 256 and len(m.layer1) == 18


def test_dropout_sits_between_the_convs() -> None:
    m = classicnets.create_model("wrn16_4", drop_rate=0.3)
    u = m.layer2[1]
    assert isinstance(u.dropout, nn.Dropout) and u.dropout.p == 0.3
    assert sum(isinstance(x, nn.Dropout) for x in m.modules()) == 6
    x = torch.randn(2, 3, 32, 32)
    m.eval()
    assert torch.equal(m(x), m(x))
    m.train()
    assert not torch.equal(m(x), m(x))
    with pytest.raises(InvalidInputError, match="drop_rate"):
        classicnets.create_model("wrn16_4", drop_rate=1.0)


# -- torchvision's wide ResNets -------------------------------------------------------------------------
def _torchvision_wide_layout(layers: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """The keys and shapes of torchvision's wide_resnet*_2, from its definition (width_per_group=128)."""
    exp: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7)}

    def bn(name: str, c: int) -> None:
        exp.update({f"{name}.weight": (c,), f"{name}.bias": (c,), f"{name}.running_mean": (c,),
                    f"{name}.running_var": (c,), f"{name}.num_batches_tracked": ()})

    bn("bn1", 64)
    cin = 64
    for s, (n, planes) in enumerate(zip(layers, (64, 128, 256, 512), strict=True), start=1):
        width, out = planes * 2, planes * 4
        for i in range(n):
            p = f"layer{s}.{i}"
            exp[f"{p}.conv1.weight"] = (width, cin, 1, 1)
            bn(f"{p}.bn1", width)
            exp[f"{p}.conv2.weight"] = (width, width, 3, 3)
            bn(f"{p}.bn2", width)
            exp[f"{p}.conv3.weight"] = (out, width, 1, 1)
            bn(f"{p}.bn3", out)
            if i == 0:
                exp[f"{p}.downsample.0.weight"] = (out, cin, 1, 1)
                bn(f"{p}.downsample.1", out)
            cin = out
    exp["fc.weight"], exp["fc.bias"] = (1000, 2048), (1000,)
    return exp


def _torchvision_forward(sd: dict[str, torch.Tensor], layers: tuple[int, ...], x: torch.Tensor) -> torch.Tensor:
    """torchvision's ResNet forward (stride on the 3x3: v1.5), written from its definition with functional ops."""
    def bn(t: torch.Tensor, n: str) -> torch.Tensor:
        return F.batch_norm(t, sd[f"{n}.running_mean"], sd[f"{n}.running_var"], sd[f"{n}.weight"], sd[f"{n}.bias"],
                            False, 0.0, 1e-5)

    x = F.max_pool2d(F.relu(bn(F.conv2d(x, sd["conv1.weight"], stride=2, padding=3), "bn1")), 3, 2, 1)
    for s, n in enumerate(layers, start=1):
        for i in range(n):
            p, stride = f"layer{s}.{i}", 2 if (i == 0 and s > 1) else 1
            out = F.relu(bn(F.conv2d(x, sd[f"{p}.conv1.weight"]), f"{p}.bn1"))
            out = F.relu(bn(F.conv2d(out, sd[f"{p}.conv2.weight"], stride=stride, padding=1), f"{p}.bn2"))
            out = bn(F.conv2d(out, sd[f"{p}.conv3.weight"]), f"{p}.bn3")
            skip = bn(F.conv2d(x, sd[f"{p}.downsample.0.weight"], stride=stride), f"{p}.downsample.1") \
                if f"{p}.downsample.0.weight" in sd else x
            x = F.relu(out + skip)
    return F.linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), sd["fc.weight"], sd["fc.bias"])


@pytest.mark.parametrize("name,layers", [("wide_resnet50_2", (3, 4, 6, 3)), ("wide_resnet101_2", (3, 4, 23, 3))])
def test_torchvision_wide_resnet_layout(name: str, layers: tuple[int, ...]) -> None:
    got = {k: tuple(v.shape) for k, v in _meta(name).state_dict().items()}
    want = _torchvision_wide_layout(layers)
    assert list(got) == list(want) and got == want


def test_torchvision_wide_resnet50_2_loads_strictly_and_gives_the_same_logits() -> None:
    torch.manual_seed(0)
    src = classicnets.create_model("wide_resnet50_2", variant="v1.5")
    for m in src.modules():  # non-trivial BN statistics, so that a misplaced BN would show
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    sd = {k: v.clone() for k, v in src.state_dict().items()}
    model = classicnets.create_model("wide_resnet50_2", variant="v1.5")
    model.load_state_dict(sd, strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours, ref = model.eval()(x), _torchvision_forward(sd, (3, 4, 6, 3), x)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_width_factor_needs_a_bottleneck() -> None:
    from classicnets.models.resnet import BasicBlock, ResNet

    with pytest.raises(InvalidInputError, match="width_factor"):
        ResNet(BasicBlock, (2, 2, 2, 2), width_factor=2)


# -- the lesion switch and the path analysis work on the pre-activation units ----------------------------------
def test_block_lesions_on_a_preact_resnet() -> None:
    from classicnets.analysis.block_lesions import block_table, deletable, deleted

    torch.manual_seed(0)
    m = classicnets.create_model("preact_resnet20").eval()
    table = block_table(m)
    assert len(table) == 9 and sum(b.changes_shape for b in table) == 2
    keep = deletable(m, keep_shape=True)
    assert len(keep) == 7
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        full = m(x)
        with deleted(m, keep[:1]):
            lesioned = m(x)
        assert torch.equal(m(x), full) and not torch.equal(lesioned, full)
    # deleting an identity unit removes exactly its residual branch: the unit computes x + F(x)
    unit = m.layer1[1]
    with torch.no_grad():
        a = m.layer1[0](m.conv1(x))
        assert torch.allclose(unit(a) - unit.residual_branch(a), a, atol=1e-5)


def test_path_gradients_on_a_preact_resnet() -> None:
    """Veit et al. measured path lengths on a pre-activation ResNet: the probe's hooks fit the pre-act unit."""
    from classicnets.analysis.residual_paths import path_gradients

    torch.manual_seed(0)
    m = classicnets.create_model("preact_resnet20")
    batches = [(torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,)))]
    r = path_gradients(m, batches, lengths=[0, 1, 9], samples=1)
    assert r.n == 9 and r.lengths == [0, 1, 9]
    assert all(math.isfinite(g) and g > 0 for g in r.magnitude), r.magnitude


def test_recipes_of_the_two_papers() -> None:
    from classicnets.train.recipes import get_recipe

    wrn = get_recipe("wrn-cifar").values("wrn28_10")
    assert (wrn["optimizer"], wrn["lr"], wrn["momentum"], wrn["weight_decay"], wrn["batch_size"]) == \
        ("nesterov", 0.1, 0.9, 5e-4, 128)
    assert (wrn["milestones"], wrn["gamma"], wrn["epochs"]) == ([60.0, 120.0, 160.0], 0.2, 200)
    pre = get_recipe("preact-cifar")
    assert pre.values("preact_resnet164")["warmup_steps"] == 400  # 110 layers and deeper warm up at 0.01
    assert pre.values("preact_resnet56")["warmup_steps"] == 0
    assert pre.values("preact_resnet1001")["steps"] == 64000 and pre.values("preact_resnet1001")["warmup_lr"] == 0.01
