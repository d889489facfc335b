"""The summary engine: MACs and parameters against the published figures, the op classes counted
beside them, receptive fields, the renderings, and the model left unchanged."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
from torch import nn

from classicnets import create_model, reference
from classicnets.analysis import build_meta, summarize
from classicnets.analysis.summary import OP_CLASSES
from classicnets.errors import InvalidInputError, UserError

G = 1e9
M = 1e6


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
def test_resnet_v1_macs_within_0_01_g(name: str) -> None:
    s = summarize(build_meta(name))
    want = reference.MACS[name].value
    assert abs(s.macs - want) <= 0.01 * G, f"{name}: {s.macs / G:.4f} G MACs, paper variant {want / G:.2f} G"
    assert s.params == reference.PARAMS[name].value, f"{name}: {s.params:,} params"
    assert s.flops == 2 * s.macs


@pytest.mark.parametrize("name", ["resnet50", "resnet101", "resnet152"])
def test_resnet_v1_5_macs(name: str) -> None:
    s = summarize(build_meta(name, variant="v1.5"))
    want = reference.MACS_RESNET_V1_5[name].value
    assert abs(s.macs - want) <= 0.01 * G, f"{name} v1.5: {s.macs / G:.4f} G, want {want / G:.2f} G"


@pytest.mark.parametrize("name", ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "plain56"])
def test_cifar_resnet_macs(name: str) -> None:
    s = summarize(build_meta(name))
    want = reference.MACS[name.replace("plain", "resnet")].value
    assert abs(s.macs - want) <= 0.01 * M, f"{name}: {s.macs / M:.3f} M MACs, want {want / M:.2f} M"


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "vgg19", "nin_cifar10", "googlenet", "inception_v3"])
def test_other_models_macs_and_params(name: str) -> None:
    s = summarize(build_meta(name))
    fig = reference.MACS[name]
    assert abs(s.macs - fig.value) <= fig.rel_tol * fig.value, f"{name}: {s.macs / G:.4f} G MACs"
    assert s.params == reference.PARAMS[name].value, f"{name}: {s.params:,} params"


def test_op_classes_counted_not_dropped() -> None:
    """resnet18: every BN, ReLU, pooling and residual add appears, and the rows add up to the totals."""
    s = summarize(build_meta("resnet18"))
    assert sum(r.macs for r in s.rows) == s.macs
    for k in OP_CLASSES:
        assert sum(r.ops.get(k, 0) for r in s.rows) == s.ops.get(k, 0)
    adds = [r for r in s.rows if r.kind == "(add)"]
    assert len(adds) == 8, f"resnet18 has 8 residual adds, found {len(adds)} add rows"
    # each add has one op per output element: 2 blocks each at 64x56x56, 128x28x28, 256x14x14, 512x7x7
    want_add = 2 * (64 * 56 * 56 + 128 * 28 * 28 + 256 * 14 * 14 + 512 * 7 * 7)
    assert s.ops["add"] == want_add, f"add ops {s.ops['add']:,}, want {want_add:,}"
    # BN: 2 ops per element of every BN output (20 BN layers)
    bn_elems = sum(int(torch.Size(r.output_shape).numel()) for r in s.rows if r.kind == "BatchNorm2d")
    assert s.ops["bn"] == 2 * bn_elems
    assert s.ops["pool"] > 0 and s.ops["act"] > 0
    assert s.activation_bytes > 0


def test_receptive_fields() -> None:
    s = summarize(build_meta("resnet18"), depth=1)
    rf = {r.name: r.rf for r in s.rows}
    assert rf["conv1"] == (7, 7) and rf["maxpool"] == (11, 11)
    assert rf["layer4"] == (435, 435), f"ResNet-18's last block sees {rf['layer4']}"
    assert rf["fc"] is None  # 'full'
    v = summarize(build_meta("vgg16"))
    convs = [r for r in v.rows if r.kind == "Conv2d"]
    assert convs[0].rf == (3, 3) and convs[-1].rf == (196, 196), convs[-1].rf
    a = summarize(build_meta("inception_v3"), depth=2)
    asym = [r for r in a.rows if r.rf is not None and r.rf[0] != r.rf[1]]
    assert asym, "the 1x7 / 7x1 branches of Inception v3 have non-square receptive fields"


def test_depth_grouping_keeps_totals() -> None:
    model = build_meta("resnet50")
    flat = summarize(model)
    for depth in (0, 1, 2):
        s = summarize(model, depth=depth)
        assert sum(r.macs for r in s.rows) == flat.macs
        assert sum(r.params for r in s.rows) == flat.params, f"depth {depth}"
        assert all(r.depth <= depth for r in s.rows)
    s1 = summarize(model, depth=1)
    names = [r.name for r in s1.rows]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    assert s1.rows[names.index("layer3")].output_shape == (1024, 14, 14)


@pytest.mark.parametrize("name,size", [("resnet20", (3, 32, 32)), ("googlenet", (3, 64, 64)),
                                       ("inception_v3", (3, 80, 80)), ("alexnet", (3, 64, 64))])
def test_meta_counts_equal_real_counts(name: str, size: tuple[int, int, int]) -> None:
    """The meta-device pass (with its shape shortcuts) gives exactly the rows of a real CPU pass."""
    model = create_model(name)
    meta = summarize(model, size)
    real = summarize(model, size, meta=False)
    assert meta.device == "meta" and real.device == "cpu"
    assert len(meta.rows) == len(real.rows)
    for a, b in zip(meta.rows, real.rows, strict=True):
        assert (a.name, a.kind, a.output_shape, a.macs, a.ops, a.rf) == \
               (b.name, b.kind, b.output_shape, b.macs, b.ops, b.rf), a.name
    assert meta.activation_bytes == real.activation_bytes


def _snapshot(model: nn.Module) -> tuple:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    flags = [(n, m.training) for n, m in model.named_modules()]
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
                for m in model.modules())
    grads = [p.grad for p in model.parameters()]
    return state, flags, hooks, grads


def assert_unchanged(model: nn.Module, before: tuple) -> None:
    state, flags, hooks, grads = before
    after = model.state_dict()
    assert list(after) == list(state), "state_dict keys changed"
    for k, v in state.items():
        assert torch.equal(after[k], v), f"{k} changed"
    assert [(n, m.training) for n, m in model.named_modules()] == flags, "train/eval flags changed"
    now = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())
    assert now == hooks, "hooks left behind"
    assert all(p.grad is g for p, g in zip(model.parameters(), grads, strict=True)), "a .grad was written"


@pytest.mark.parametrize("meta", [True, False])
def test_summary_leaves_model_unchanged(meta: bool) -> None:
    model = create_model("resnet20")
    model.train()
    model.layer2.eval()  # mixed flags must come back exactly
    before = _snapshot(model)
    summarize(model, meta=meta)
    summarize(model, depth=1, meta=meta)
    assert_unchanged(model, before)


def test_formats() -> None:
    s = summarize(build_meta("resnet20"), depth=1, name="resnet20")
    data = json.loads(s.render("json"))
    assert data["totals"]["macs"] == s.macs and data["totals"]["flops"] == 2 * s.macs
    assert "MACs = multiply-accumulates" in data["convention"]
    rows = list(csv.DictReader(io.StringIO(s.render("csv"))))
    assert rows[-1]["name"] == "TOTAL" and int(rows[-1]["macs"]) == s.macs
    assert int(rows[-1]["add_ops"]) == s.ops["add"]
    md = s.render("markdown")
    assert md.startswith("| layer |") and "convention:" in md
    text = s.render("table")
    assert "layer1" in text and "FLOPs (2 x MACs)" in text and "add" in text
    with pytest.raises(InvalidInputError):
        s.render("xml")


def test_bad_input_size() -> None:
    model = build_meta("resnet50")
    with pytest.raises(UserError, match="at least"):
        summarize(model, (3, 16, 16))
    with pytest.raises(InvalidInputError):
        summarize(model, (3, 224))
    with pytest.raises(InvalidInputError):
        summarize(model, depth=-1)


def test_plain_module_with_input_size() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    s = summarize(net, (3, 4, 4))
    assert s.macs == 8 * 27 * 16 + 128 * 2
    assert s.ops["act"] == 8 * 16
    with pytest.raises(InvalidInputError, match="input_size"):
        summarize(net)


def test_modules_not_run_by_forward_are_reported() -> None:
    s = summarize(build_meta("googlenet", aux_logits=True), depth=1)
    assert set(s.unused) == {"aux1", "aux2"}
    assert sum(r.params for r in s.rows) + sum(s.unused.values()) == s.params
    assert "not run by forward()" in s.render("table")
    assert summarize(build_meta("googlenet")).unused == {}
