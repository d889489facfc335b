"""The small CIFAR networks of the factorization and inception experiments (classicnets.models.cifar_variants):
exact parameter counts, the one difference each comparison is about, the auxiliary head, registration."""

from __future__ import annotations

import pytest
import torch

from classicnets.models import create_model, list_models


def _params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_registered_and_experiments_listed() -> None:
    from classicnets.experiments import list_experiments

    assert {"factorized_cifar", "inception_cifar"} <= set(list_models())
    assert {"lesion", "paths", "factorization", "inception"} <= set(list_experiments())


@pytest.mark.parametrize(("conv", "params"), [
    ("5x5", 798_186), ("3x3+3x3", 589_276), ("3x3+3x3-linear", 589_276), ("3x3", 288_746), ("1x3+3x1", 198_376)])
def test_factorized_cifar_parameter_counts(conv: str, params: int) -> None:
    with torch.device("meta"):
        m = create_model("factorized_cifar", conv=conv)
    assert _params(m) == params, f"{conv}: {_params(m):,}"


def test_factorized_nets_differ_only_in_their_spatial_units() -> None:
    nets = {c: create_model("factorized_cifar", conv=c) for c in ("5x5", "3x3+3x3", "3x3+3x3-linear", "1x3+3x1")}

    def outside_units(m: torch.nn.Module) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in m.state_dict().items() if ".conv." not in k}

    ref = outside_units(nets["5x5"])
    for c, m in nets.items():
        assert outside_units(m) == ref, c
    relu, linear = nets["3x3+3x3"], nets["3x3+3x3-linear"]
    assert [tuple(v.shape) for v in relu.state_dict().values()] == \
        [tuple(v.shape) for v in linear.state_dict().values()]
    acts = [type(m).__name__ for m in relu.stage2[0].conv.layers]
    assert acts == ["ZeroPad2d", "Conv2d", "BatchNorm2d", "ReLU", "ZeroPad2d", "Conv2d"]
    assert [type(m).__name__ for m in linear.stage2[0].conv.layers][3] == "Identity"
    # 32 -> 64 channels: sqrt(32 * 64) = 45 channels between the two 3x3 convs
    assert relu.stage2[0].conv.layers[1].out_channels == 45
    x = torch.randn(2, 3, 32, 32)
    for m in nets.values():
        assert m.eval()(x).shape == (2, 10)


@pytest.mark.parametrize(("module", "aux", "params"), [
    ("reduced", False, 88_494), ("reduced", True, 88_494 + 272_778), ("naive", False, 559_274)])
def test_inception_cifar_parameter_counts(module: str, aux: bool, params: int) -> None:
    with torch.device("meta"):
        m = create_model("inception_cifar", module=module, aux_logits=aux)
    assert _params(m) == params, f"{module}, aux={aux}: {_params(m):,}"


def test_inception_widths_and_auxiliary_head() -> None:
    red = create_model("inception_cifar", aux_logits=True)
    naive = create_model("inception_cifar", module="naive")
    assert [red.a1.out_channels, red.a2.out_channels, red.b1.out_channels, red.b2.out_channels] == [64, 120, 128, 128]
    assert [naive.a1.out_channels, naive.a2.out_channels, naive.b1.out_channels, naive.b2.out_channels] == \
        [88, 192, 304, 416]
    x = torch.randn(3, 3, 32, 32)
    red.eval()
    with torch.no_grad():
        logits, aux = red.forward_aux(x)
        assert torch.equal(logits, red(x)) and len(aux) == 1 and aux[0].shape == (3, 10)
        # forward never runs the auxiliary head
        red.aux.register_forward_hook(lambda *a: (_ for _ in ()).throw(AssertionError("aux head ran in forward")))
        red(x)
    assert naive.forward_aux(x)[1] == []
    red.reset_classifier(4)
    assert red.aux.fc2.out_features == 4 and red.fc.out_features == 4 and red.num_classes == 4


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="conv must be one of"):
        create_model("factorized_cifar", conv="7x7")
    with pytest.raises(ValueError, match="module must be"):
        create_model("inception_cifar", module="v3")


@pytest.mark.slow
@pytest.mark.parametrize(("name", "kw"), [("factorized_cifar", {"conv": "1x3+3x1"}),
                                          ("inception_cifar", {"module": "naive", "aux_logits": True})])
def test_torch_export(name: str, kw: dict) -> None:
    m = create_model(name, **kw).eval()
    x = torch.randn(2, 3, 32, 32)
    ep = torch.export.export(m, (x,))
    torch.testing.assert_close(ep.module()(x), m(x))
