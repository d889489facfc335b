"""Inception v3: exact counts, torchvision key layout, input limits, aux head, label smoothing."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from classicnets.models import inception_v3 as iv3
from classicnets.reference import MACS, PARAMS

BN_SUFFIXES = ("weight", "bias", "running_mean", "running_var")


# -- the expected state_dict, from the filter counts of each branch -----------
def _basic(prefix: str, cin: int, cout: int, kh: int, kw: int | None = None) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of one conv (no bias) + BatchNorm layer."""
    keys: dict[str, tuple[int, ...]] = {f"{prefix}.conv.weight": (cout, cin, kh, kh if kw is None else kw)}
    keys.update({f"{prefix}.bn.{s}": (cout,) for s in BN_SUFFIXES})
    keys[f"{prefix}.bn.num_batches_tracked"] = ()
    return keys


def _module(prefix: str, convs: list[tuple[str, int, int, int, int]]) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for name, cin, cout, kh, kw in convs:
        out.update(_basic(f"{prefix}.{name}", cin, cout, kh, kw))
    return out


def _fig5(prefix: str, cin: int, pool: int) -> dict[str, tuple[int, ...]]:
    # 1x1 64 | 1x1 48 -> 5x5 64 | 1x1 64 -> 3x3 96 -> 3x3 96 | avg pool -> 1x1 pool
    return _module(
        prefix,
        [
            ("branch1x1", cin, 64, 1, 1),
            ("branch5x5_1", cin, 48, 1, 1),
            ("branch5x5_2", 48, 64, 5, 5),
            ("branch3x3dbl_1", cin, 64, 1, 1),
            ("branch3x3dbl_2", 64, 96, 3, 3),
            ("branch3x3dbl_3", 96, 96, 3, 3),
            ("branch_pool", cin, pool, 1, 1),
        ],
    )


def _reduce35(prefix: str, cin: int) -> dict[str, tuple[int, ...]]:
    # 3x3/2 384 | 1x1 64 -> 3x3 96 -> 3x3/2 96 | max pool
    return _module(
        prefix,
        [
            ("branch3x3", cin, 384, 3, 3),
            ("branch3x3dbl_1", cin, 64, 1, 1),
            ("branch3x3dbl_2", 64, 96, 3, 3),
            ("branch3x3dbl_3", 96, 96, 3, 3),
        ],
    )


def _fig6(prefix: str, cin: int, c7: int) -> dict[str, tuple[int, ...]]:
    # 1x1 192 | 1x1 c7 -> 1x7 c7 -> 7x1 192 | 1x1 c7 -> 7x1 -> 1x7 -> 7x1 -> 1x7 192 | avg pool -> 1x1 192
    return _module(
        prefix,
        [
            ("branch1x1", cin, 192, 1, 1),
            ("branch7x7_1", cin, c7, 1, 1),
            ("branch7x7_2", c7, c7, 1, 7),
            ("branch7x7_3", c7, 192, 7, 1),
            ("branch7x7dbl_1", cin, c7, 1, 1),
            ("branch7x7dbl_2", c7, c7, 7, 1),
            ("branch7x7dbl_3", c7, c7, 1, 7),
            ("branch7x7dbl_4", c7, c7, 7, 1),
            ("branch7x7dbl_5", c7, 192, 1, 7),
            ("branch_pool", cin, 192, 1, 1),
        ],
    )


def _reduce17(prefix: str, cin: int) -> dict[str, tuple[int, ...]]:
    # 1x1 192 -> 3x3/2 320 | 1x1 192 -> 1x7 192 -> 7x1 192 -> 3x3/2 192 | max pool
    return _module(
        prefix,
        [
            ("branch3x3_1", cin, 192, 1, 1),
            ("branch3x3_2", 192, 320, 3, 3),
            ("branch7x7x3_1", cin, 192, 1, 1),
            ("branch7x7x3_2", 192, 192, 1, 7),
            ("branch7x7x3_3", 192, 192, 7, 1),
            ("branch7x7x3_4", 192, 192, 3, 3),
        ],
    )


def _fig7(prefix: str, cin: int) -> dict[str, tuple[int, ...]]:
    # 1x1 320 | 1x1 384 -> [1x3 384, 3x1 384] | 1x1 448 -> 3x3 384 -> [1x3 384, 3x1 384] | pool -> 1x1 192
    return _module(
        prefix,
        [
            ("branch1x1", cin, 320, 1, 1),
            ("branch3x3_1", cin, 384, 1, 1),
            ("branch3x3_2a", 384, 384, 1, 3),
            ("branch3x3_2b", 384, 384, 3, 1),
            ("branch3x3dbl_1", cin, 448, 1, 1),
            ("branch3x3dbl_2", 448, 384, 3, 3),
            ("branch3x3dbl_3a", 384, 384, 1, 3),
            ("branch3x3dbl_3b", 384, 384, 3, 1),
            ("branch_pool", cin, 192, 1, 1),
        ],
    )


def expected_state_dict(aux: bool, num_classes: int = 1000) -> dict[str, tuple[int, ...]]:
    keys: dict[str, tuple[int, ...]] = {}
    # Stem: 3x3/2 32, 3x3 32, 3x3 pad 64, (pool), 1x1 80, 3x3 192, (pool).
    keys.update(_basic("Conv2d_1a_3x3", 3, 32, 3))
    keys.update(_basic("Conv2d_2a_3x3", 32, 32, 3))
    keys.update(_basic("Conv2d_2b_3x3", 32, 64, 3))
    keys.update(_basic("Conv2d_3b_1x1", 64, 80, 1))
    keys.update(_basic("Conv2d_4a_3x3", 80, 192, 3))
    keys.update(_fig5("Mixed_5b", 192, 32))  # -> 64 + 64 + 96 + 32 = 256
    keys.update(_fig5("Mixed_5c", 256, 64))  # -> 288
    keys.update(_fig5("Mixed_5d", 288, 64))  # -> 288
    keys.update(_reduce35("Mixed_6a", 288))  # -> 384 + 96 + 288 = 768
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        keys.update(_fig6(name, 768, c7))  # -> 4 x 192 = 768
    if aux:  # 5x5/3 avg pool, 1x1 128, 5x5 768, fc
        keys.update(_basic("AuxLogits.conv0", 768, 128, 1))
        keys.update(_basic("AuxLogits.conv1", 128, 768, 5))
        keys["AuxLogits.fc.weight"] = (num_classes, 768)
        keys["AuxLogits.fc.bias"] = (num_classes,)
    keys.update(_reduce17("Mixed_7a", 768))  # -> 320 + 192 + 768 = 1280
    keys.update(_fig7("Mixed_7b", 1280))  # -> 320 + 768 + 768 + 192 = 2048
    keys.update(_fig7("Mixed_7c", 2048))  # -> 2048
    keys["fc.weight"] = (num_classes, 2048)
    keys["fc.bias"] = (num_classes,)
    return keys


def _learnable(sd: dict[str, tuple[int, ...]]) -> int:
    return sum(
        math.prod(shape)
        for k, shape in sd.items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )


def _meta(**kwargs: object) -> iv3.InceptionV3:
    with torch.device("meta"):
        return iv3.inception_v3(**kwargs)  # type: ignore[arg-type]


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# -- counts and keys ---------------------------------------------------------
@pytest.mark.parametrize("aux, ref", [(False, "inception_v3"), (True, "inception_v3_aux")])
def test_parameter_count_exact(aux: bool, ref: str) -> None:
    got = _n_params(_meta(aux_logits=aux))
    assert got == int(PARAMS[ref].value), f"inception_v3(aux_logits={aux}) has {got:,} parameters"


@pytest.mark.parametrize("aux", [False, True])
def test_fixture_matches_published_count(aux: bool) -> None:
    """The hand-written key table itself adds up to the published figure."""
    got = _learnable(expected_state_dict(aux))
    ref = int(PARAMS["inception_v3_aux" if aux else "inception_v3"].value)
    assert got == ref, f"the expected key table counts {got:,} parameters, reference {ref:,}"


@pytest.mark.parametrize("aux, n_keys", [(False, 566), (True, 580)])
def test_torchvision_key_set_and_shapes(aux: bool, n_keys: int) -> None:
    # 94 conv+BN layers x 6 keys + fc (2); the aux head adds 2 x 6 + 2.
    sd = _meta(aux_logits=aux).state_dict()
    expected = expected_state_dict(aux)
    assert len(expected) == n_keys
    assert len(sd) == n_keys, f"state_dict has {len(sd)} keys, expected {n_keys}"
    missing = sorted(set(expected) - set(sd))
    extra = sorted(set(sd) - set(expected))
    assert not missing and not extra, f"missing {missing[:10]}, unexpected {extra[:10]}"
    wrong = {k: (tuple(sd[k].shape), v) for k, v in expected.items() if tuple(sd[k].shape) != v}
    assert not wrong, f"wrong shapes (got, expected): {wrong}"


def test_batchnorm_eps_and_no_conv_bias() -> None:
    model = _meta()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(bns) == len(convs) == 94
    assert all(m.eps == 1e-3 for m in bns)
    assert all(m.bias is None for m in convs)


def test_macs_at_299() -> None:
    model = _meta()
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, 299, 299, device="meta"))
    macs = counter.get_total_flops() / 2
    ref = MACS["inception_v3"]
    assert math.isclose(macs, ref.value, rel_tol=ref.rel_tol), f"{macs / 1e9:.4f} G MACs, reference {ref.value / 1e9} G"


def test_stage_shapes_at_299() -> None:
    model = _meta()
    x = torch.empty(2, 3, 299, 299, device="meta")
    x17 = model._to_17x17(x)
    assert tuple(x17.shape) == (2, 768, 17, 17)
    assert tuple(model.forward_features(x).shape) == (2, 2048, 8, 8)
    assert tuple(model.forward_head(model.forward_features(x), pre_logits=True).shape) == (2, 2048)


def test_figure_docstrings() -> None:
    for cls, fig in (
        (iv3.InceptionA, "Figure 5"),
        (iv3.InceptionC, "Figure 6"),
        (iv3.InceptionE, "Figure 7"),
        (iv3.InceptionB, "Figure 10"),
        (iv3.InceptionD, "Figure 10"),
    ):
        assert fig in (cls.__doc__ or ""), f"{cls.__name__} docstring does not name {fig}"


# -- forward, aux head, input limits ------------------------------------------
@pytest.fixture(scope="module")
def aux_model() -> iv3.InceptionV3:
    torch.manual_seed(0)
    return iv3.inception_v3(aux_logits=True, num_classes=10)


@pytest.fixture(scope="module")
def plain_model() -> iv3.InceptionV3:
    torch.manual_seed(0)
    return iv3.inception_v3(num_classes=5)


def test_forward_returns_tensor_in_train_mode_with_aux(aux_model: iv3.InceptionV3) -> None:
    out = aux_model.train()(torch.randn(2, 3, 75, 75))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)
    with torch.no_grad():
        out = aux_model.eval()(torch.randn(1, 3, 75, 75))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 10)


def test_forward_aux_at_299(aux_model: iv3.InceptionV3) -> None:
    aux_model.train()
    logits, aux = aux_model.forward_aux(torch.randn(2, 3, 299, 299))
    assert logits.shape == (2, 10)
    assert isinstance(aux, list) and len(aux) == 1 and aux[0].shape == (2, 10)


def test_forward_aux_without_head_and_too_small(plain_model: iv3.InceptionV3) -> None:
    with torch.no_grad():
        logits, aux = plain_model.eval().forward_aux(torch.randn(1, 3, 75, 75))
    assert logits.shape == (1, 5) and aux == []
    with_aux = _meta(aux_logits=True)
    with pytest.raises(ValueError, match="299x299"):
        with_aux.forward_aux(torch.empty(2, 3, 298, 298, device="meta"))


def test_aux_minimum_is_tight() -> None:
    model = _meta(aux_logits=True)
    assert model._to_17x17(torch.empty(1, 3, 299, 299, device="meta")).shape[-1] == 17
    assert model._to_17x17(torch.empty(1, 3, 298, 298, device="meta")).shape[-1] == 16
    assert model.AuxLogits is not None
    assert model.AuxLogits(torch.empty(2, 768, 17, 17, device="meta")).shape == (2, 1000)
    with pytest.raises(RuntimeError):
        model.AuxLogits(torch.empty(2, 768, 16, 16, device="meta"))


def test_min_input_75_works_74_raises(plain_model: iv3.InceptionV3) -> None:
    model = plain_model.eval()
    assert model.min_input_size == (3, 75, 75)
    assert model.default_input_size == (3, 299, 299)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 75, 75)).shape == (1, 5)
        assert model.forward_features(torch.randn(1, 3, 75, 75)).shape == (1, 2048, 1, 1)
        with pytest.raises(ValueError, match="at least 75x75"):
            model(torch.randn(1, 3, 74, 74))
        with pytest.raises(ValueError, match="at least 75x75"):
            model(torch.randn(1, 3, 299, 74))
        # 75 is the true minimum: without the check, 74 fails inside the network.
        with pytest.raises(RuntimeError):
            model.forward_head(model.forward_features(torch.randn(1, 3, 74, 74)))


def test_in_chans_and_wrong_channels() -> None:
    model = iv3.inception_v3(in_chans=1, num_classes=4).eval()
    assert model.Conv2d_1a_3x3.conv.weight.shape == (32, 1, 3, 3)
    with torch.no_grad():
        assert model(torch.randn(1, 1, 80, 80)).shape == (1, 4)
    with pytest.raises(ValueError, match="in_chans=3"):
        model(torch.randn(1, 3, 80, 80))


def test_reset_classifier_also_resets_aux() -> None:
    model = _meta(aux_logits=True)
    model.reset_classifier(17)
    assert model.num_classes == 17
    assert model.get_classifier() is model.fc and model.fc.out_features == 17
    assert model.AuxLogits is not None and model.AuxLogits.fc.out_features == 17


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="drop_rate"):
        iv3.InceptionV3(drop_rate=1.0)
    with pytest.raises(ValueError, match="num_classes"):
        iv3.InceptionV3(num_classes=0)


def test_registered() -> None:
    from classicnets.models import create_model, model_options

    assert set(model_options("inception_v3") or []) >= {"num_classes", "in_chans", "aux_logits", "drop_rate"}
    with torch.device("meta"):
        model = create_model("inception_v3", num_classes=10, aux_logits=True)
    assert isinstance(model, iv3.InceptionV3) and model.num_classes == 10 and model.AuxLogits is not None


@pytest.mark.slow
def test_export_matches_eager(plain_model: iv3.InceptionV3) -> None:
    model = plain_model.eval()
    x = torch.randn(1, 3, 75, 75)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), model(x))


# -- label smoothing (Sec. 7) ------------------------------------------------
@pytest.mark.parametrize("k", [5, 1000])
def test_label_smoothing_equals_torch(k: int) -> None:
    g = torch.Generator().manual_seed(k)
    logits = torch.randn(16, k, generator=g, dtype=torch.float64) * 3
    target = torch.randint(0, k, (16,), generator=g)
    got = iv3.label_smoothing_loss(logits, target, epsilon=0.1)
    ref = F.cross_entropy(logits, target, label_smoothing=0.1)
    assert abs(got.item() - ref.item()) < 1e-6, f"{got.item()} vs torch {ref.item()}"
    got32 = iv3.label_smoothing_loss(logits.float(), target)
    assert abs(got32.item() - ref.item()) < 1e-5


def test_label_smoothing_is_the_papers_formula() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 10, generator=g, dtype=torch.float64)
    target = torch.randint(0, 10, (8,), generator=g)
    eps, k = 0.1, 10
    q = torch.full((8, k), eps / k, dtype=torch.float64)
    q[torch.arange(8), target] += 1 - eps  # q'(k) = (1 - eps) delta(k, y) + eps / K
    by_hand = -(q * torch.log_softmax(logits, 1)).sum(1).mean()
    assert abs(iv3.label_smoothing_loss(logits, target).item() - by_hand.item()) < 1e-12
    plain = iv3.label_smoothing_loss(logits, target, epsilon=0.0)
    assert abs(plain.item() - F.cross_entropy(logits, target).item()) < 1e-12
    with pytest.raises(ValueError, match="epsilon"):
        iv3.label_smoothing_loss(logits, target, epsilon=1.5)
    with pytest.raises(ValueError, match="target"):
        iv3.label_smoothing_loss(logits, target[:3])
