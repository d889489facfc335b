"""GoogLeNet: exact parameter counts, torchvision key layout, Table 1, aux heads, input sizes."""

from __future__ import annotations

import io
import pickle

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from classicnets import reference
from classicnets.models import create_model
from classicnets.models.googlenet import (
    AUX_LOSS_WEIGHT,
    GoogLeNet,
    Inception,
    InceptionNaive,
    googlenet,
)

META = torch.device("meta")
TABLE1 = reference.GOOGLENET_TABLE1
INCEPTIONS = [k for k in TABLE1 if k.startswith("inception")]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_meta(**kwargs) -> GoogLeNet:
    with META:
        return googlenet(**kwargs)


# -- the expected torchvision state dict, written from Table 1 and the layout ----------
def _basic_conv(prefix: str, cin: int, cout: int, k: int) -> dict[str, tuple[int, ...]]:
    """BasicConv2d with BatchNorm: a bias-free conv and a BN with its buffers."""
    return {
        f"{prefix}.conv.weight": (cout, cin, k, k),
        f"{prefix}.bn.weight": (cout,),
        f"{prefix}.bn.bias": (cout,),
        f"{prefix}.bn.running_mean": (cout,),
        f"{prefix}.bn.running_var": (cout,),
        f"{prefix}.bn.num_batches_tracked": (),
    }


def expected_torchvision_state(num_classes: int = 1000) -> dict[str, tuple[int, ...]]:
    keys: dict[str, tuple[int, ...]] = {}
    keys |= _basic_conv("conv1", 3, 64, 7)
    keys |= _basic_conv("conv2", 64, TABLE1["conv2"]["reduce3"], 1)
    keys |= _basic_conv("conv3", TABLE1["conv2"]["reduce3"], TABLE1["conv2"]["n3"], 3)
    cin = TABLE1["conv2"]["output"][2]
    for name in INCEPTIONS:
        r = TABLE1[name]
        keys |= _basic_conv(f"{name}.branch1", cin, r["n1"], 1)
        keys |= _basic_conv(f"{name}.branch2.0", cin, r["reduce3"], 1)
        keys |= _basic_conv(f"{name}.branch2.1", r["reduce3"], r["n3"], 3)
        keys |= _basic_conv(f"{name}.branch3.0", cin, r["reduce5"], 1)
        keys |= _basic_conv(f"{name}.branch3.1", r["reduce5"], r["n5"], 3)  # torchvision's "5x5" is 3x3
        keys |= _basic_conv(f"{name}.branch4.1", cin, r["pool"], 1)
        assert r["n1"] + r["n3"] + r["n5"] + r["pool"] == r["output"][2]
        cin = r["output"][2]
    for aux, at in (("aux1", "inception4a"), ("aux2", "inception4d")):
        keys |= _basic_conv(f"{aux}.conv", TABLE1[at]["output"][2], 128, 1)
        keys |= {
            f"{aux}.fc1.weight": (1024, 128 * 4 * 4), f"{aux}.fc1.bias": (1024,),
            f"{aux}.fc2.weight": (num_classes, 1024), f"{aux}.fc2.bias": (num_classes,),
        }
    keys |= {"fc.weight": (num_classes, cin), "fc.bias": (num_classes,)}
    return keys


def _learnable(state: dict[str, tuple[int, ...]]) -> int:
    n = 0
    for key, shape in state.items():
        if key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue
        size = 1
        for s in shape:
            size *= s
        n += size
    return n


@pytest.fixture(scope="module")
def torchvision_state() -> dict[str, tuple[int, ...]]:
    state = expected_torchvision_state()
    # The fixture itself must add up to the published count.
    assert _learnable(state) == int(reference.PARAMS["googlenet_torchvision_aux"].value)
    return state


# -- parameter counts ----------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "kwargs"),
    [
        ("googlenet", {}),
        ("googlenet_torchvision", {"variant": "torchvision"}),
        ("googlenet_torchvision_aux", {"variant": "torchvision", "aux_logits": True}),
    ],
)
def test_params_exact(key: str, kwargs: dict) -> None:
    got, want = n_params(build_meta(**kwargs)), int(reference.PARAMS[key].value)
    assert got == want, f"googlenet({kwargs}) has {got:,} parameters, expected {want:,} ({key})"


def test_paper_aux_heads_params() -> None:
    # Each head: 1x1 conv 128 with bias, fc 2048 -> 1024, fc 1024 -> 1000.
    def head(cin: int) -> int:
        return cin * 128 + 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000

    want = int(reference.PARAMS["googlenet"].value) + head(512) + head(528)
    got = n_params(build_meta(aux_logits=True))
    assert got == want == 13_378_280, f"paper googlenet with aux heads: {got:,} parameters"


def test_registry() -> None:
    with META:
        model = create_model("googlenet", variant="torchvision")
    assert n_params(model) == int(reference.PARAMS["googlenet_torchvision"].value)
    with pytest.raises(ValueError, match="variant"):
        googlenet(variant="caffe")  # type: ignore[arg-type]


# -- key layout -----------------------------------------------------------------
def test_torchvision_state_dict_keys_and_shapes(torchvision_state) -> None:
    model = build_meta(variant="torchvision", aux_logits=True)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(torchvision_state) - set(got))
    extra = sorted(set(got) - set(torchvision_state))
    assert not missing and not extra, f"missing {missing[:8]}... extra {extra[:8]}..."
    wrong = {k: (got[k], v) for k, v in torchvision_state.items() if got[k] != v}
    assert not wrong, f"shape mismatches (got, expected): {wrong}"


def test_paper_keys_follow_the_same_layout(torchvision_state) -> None:
    model = build_meta(aux_logits=True)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    want: dict[str, tuple[int, ...]] = {}
    for key, shape in torchvision_state.items():
        if ".bn." in key:
            continue
        if key.endswith("branch3.1.conv.weight"):
            shape = (*shape[:2], 5, 5)  # the paper's true 5x5
        want[key] = shape
        if key.endswith(".conv.weight"):
            want[key.replace(".weight", ".bias")] = (shape[0],)
    assert got == want, f"differences: {sorted(set(got) ^ set(want))[:10]}"


# -- Table 1 -------------------------------------------------------------------
def test_table1_ops_and_params_recomputed() -> None:
    """Per-layer weights (no biases) and multiply-adds of the paper variant vs Table 1.

    The ops column matches to the printed 1M except two rows the paper misprints
    (conv1: 2.7K/34M do not fit a 7x7x3x64 conv; inception 5a's row does not fit
    its own widths, 1.04M weights and 51M ops).  The params column also prints
    4c as 463K (its widths give 497.5K); the other rows agree within 2%.
    """
    model = build_meta()
    for name, row in TABLE1.items():
        if name in ("conv1", "inception5a"):
            continue
        mods = [model.conv2, model.conv3] if name == "conv2" else [getattr(model, name)]
        weights = sum(p.numel() for m in mods for p in m.parameters() if p.dim() > 1)
        h, w, _ = row["output"]
        ops_m = weights * h * w / 1e6
        assert abs(ops_m - row["ops_m"]) <= 1.0, f"{name}: {ops_m:.2f}M ops, Table 1 says {row['ops_m']}M"
        if name != "inception4c":
            k = weights / 1024
            assert k == pytest.approx(row["params_k"], rel=0.02), f"{name}: {k:.1f}K, Table 1 {row['params_k']}K"


def test_output_shapes_follow_table1() -> None:
    model = build_meta().eval()
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))
        )
        for name in INCEPTIONS
    ]
    model(torch.empty(1, 3, 224, 224, device=META))
    for h in hooks:
        h.remove()
    for name in INCEPTIONS:
        h, w, c = TABLE1[name]["output"]
        assert shapes[name] == (c, h, w), f"{name}: {shapes[name]}, Table 1 says {(c, h, w)}"


def test_macs_at_224() -> None:
    fig = reference.MACS["googlenet"]
    model = build_meta().eval()
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, 224, 224, device=META))
    got = counter.get_total_flops() / 2
    assert got == pytest.approx(fig.value, rel=fig.rel_tol), f"googlenet: {got / 1e9:.3f} G MACs"


# -- modules -------------------------------------------------------------------
def test_inception_naive_channel_explosion() -> None:
    block = InceptionNaive(192, 64, 128, 32)
    assert block.out_channels == 192 + 64 + 128 + 32
    assert block(torch.randn(1, 192, 6, 6)).shape == (1, 416, 6, 6)
    stacked = InceptionNaive(block.out_channels, 64, 128, 32)
    assert stacked.out_channels == 416 + 224  # the pass-through keeps piling up


def test_inception_v1_module() -> None:
    r = TABLE1["inception3a"]
    block = Inception(192, r["n1"], r["reduce3"], r["n3"], r["reduce5"], r["n5"], r["pool"])
    assert block.out_channels == 256
    assert block(torch.randn(1, 192, 6, 6)).shape == (1, 256, 6, 6)
    assert block.branch3[1].conv.kernel_size == (5, 5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in block.modules())
    tv = Inception(192, 64, 96, 128, 16, 32, 32, batch_norm=True, branch3_kernel=3)
    assert tv.branch3[1].conv.kernel_size == (3, 3)
    assert tv.branch1.bn.eps == pytest.approx(1e-3)


def test_paper_stem_has_lrn_torchvision_does_not() -> None:
    lrn = [n for n, m in build_meta().named_modules() if isinstance(m, nn.LocalResponseNorm)]
    assert lrn == ["lrn1", "lrn2"]
    tv = build_meta(variant="torchvision")
    assert not any(isinstance(m, nn.LocalResponseNorm) for m in tv.modules())
    assert build_meta().dropout.p == pytest.approx(0.4)


# -- forward / aux -------------------------------------------------------------
def test_paper_aux_forward_at_224() -> None:
    assert AUX_LOSS_WEIGHT == 0.3
    torch.manual_seed(0)
    model = googlenet(aux_logits=True, num_classes=10).train()
    x = torch.randn(1, 3, 224, 224)
    out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (1, 10)
    logits, aux = model.forward_aux(x)
    assert logits.shape == (1, 10)
    assert len(aux) == 2 and all(a.shape == (1, 10) for a in aux)


def test_torchvision_aux_forward_small() -> None:
    model = googlenet(variant="torchvision", aux_logits=True, num_classes=5).train()
    x = torch.randn(2, 3, 64, 64)
    out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5)
    logits, aux = model.forward_aux(x)
    assert [t.shape for t in (logits, *aux)] == [(2, 5)] * 3
    model.eval()
    assert isinstance(model(x), torch.Tensor)


def test_forward_aux_without_heads() -> None:
    model = googlenet(variant="torchvision", num_classes=3).eval()
    logits, aux = model.forward_aux(torch.randn(1, 3, 32, 32))
    assert logits.shape == (1, 3) and aux == []


def test_forward_split_and_reset_classifier() -> None:
    model = googlenet(variant="torchvision", aux_logits=True).eval()
    x = torch.randn(1, 3, 64, 64)
    feats = model.forward_features(x)
    assert feats.shape == (1, 1024, 2, 2)
    assert model.forward_head(feats, pre_logits=True).shape == (1, 1024)
    assert model.get_classifier() is model.fc
    model.reset_classifier(7)
    assert model.num_classes == 7 and model.fc.out_features == 7
    logits, aux = model.forward_aux(x)
    assert logits.shape == (1, 7) and all(a.shape == (1, 7) for a in aux)


# -- input sizes ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "side"),
    [({}, 31), ({"variant": "torchvision"}, 15), ({"variant": "torchvision", "aux_logits": True}, 15)],
)
def test_min_input_size_is_honest(kwargs: dict, side: int) -> None:
    model = googlenet(num_classes=4, **kwargs).eval()
    assert model.default_input_size == (3, 224, 224)
    assert model.min_input_size == (3, side, side)
    assert model(torch.randn(1, 3, side, side)).shape == (1, 4)
    if model.aux_logits:
        assert len(model.forward_aux(torch.randn(1, 3, side, side))[1]) == 2
    small = torch.randn(1, 3, side - 1, side - 1)
    with pytest.raises(ValueError, match="at least"):
        model(small)
    with pytest.raises(RuntimeError):  # the layers really cannot run one pixel smaller
        model.forward_features(small)


def test_paper_aux_min_input_is_where_4a_is_14x14() -> None:
    model = build_meta(aux_logits=True).eval()
    assert model.min_input_size == (3, 223, 223)
    seen: list[tuple[int, ...]] = []
    model.inception4a.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape[2:])))
    for side in (222, 223):
        model.forward_features(torch.empty(1, 3, side, side, device=META))
    assert seen == [(13, 13), (14, 14)]
    # 14x14 -> 5x5/3 average pool -> exactly the 4x4 that fc1's 2048 inputs expect.
    pooled = model.aux1.pool[0](torch.empty(1, 512, 14, 14, device=META))
    assert tuple(pooled.shape[2:]) == (4, 4)
    with pytest.raises(ValueError, match="at least"):
        model(torch.empty(1, 3, 222, 222, device=META))


# -- serialization / export ----------------------------------------------------
def test_pickles() -> None:
    model = googlenet(variant="torchvision", aux_logits=True, num_classes=3).eval()
    x = torch.randn(1, 3, 32, 32)
    buf = io.BytesIO()
    pickle.dump(model, buf)
    clone = pickle.loads(buf.getvalue())
    torch.testing.assert_close(clone(x), model(x))


@pytest.mark.slow
def test_torch_export() -> None:
    model = googlenet(num_classes=3).eval()
    x = torch.randn(1, 3, 64, 64)
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), model(x))
