"""The registry and the interface every model shares (one parametrized suite over list_models())."""

from __future__ import annotations

import pickle

import pytest
import torch

import classicnets
from classicnets.errors import UserError
from classicnets.reference import PARAMS

ALL = classicnets.list_models()
# Models whose weights take long to allocate and initialise (>= ~60M parameters):
# their forward/pickle checks are marked slow; everything structural still runs for them.
BIG = {"alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
       "resnet1202", "resnet152", "resnet101"}


def _params(name: str, **kw) -> int:
    with torch.device("meta"):
        m = classicnets.create_model(name, **kw)
    return sum(p.numel() for p in m.parameters())


def test_registry_has_every_family() -> None:
    expected = {
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "plain18", "plain34",
        "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202",
        "plain20", "plain32", "plain44", "plain56", "plain110",
        "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
        "nin", "nin_cifar10", "googlenet", "inception_v3", "mnist_mlp", "cnn3",
    }
    missing = expected - set(ALL)
    assert not missing, f"not registered: {sorted(missing)}"


def test_list_models_pattern_and_order() -> None:
    plains = classicnets.list_models("plain*")
    assert plains == sorted(plains)
    assert set(plains) == {"plain18", "plain34", "plain20", "plain32", "plain44", "plain56", "plain110"}
    assert classicnets.list_models("no-such-*") == []


def test_unknown_name_names_closest_matches() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'resnet5'.*'resnet56'") as e:
        classicnets.create_model("resnet5")
    assert isinstance(e.value, UserError)


def test_unknown_keyword_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match=r"resnet20: unknown option\(s\) shortcutt\. Accepted options: .*shortcut"):
        classicnets.create_model("resnet20", shortcutt="B")


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_num_classes(bad) -> None:
    with pytest.raises(ValueError, match="num_classes"):
        classicnets.create_model("resnet20", num_classes=bad)


@pytest.mark.parametrize("name", sorted(PARAMS.keys() & set(ALL)))
def test_parameter_count_matches_publication(name: str) -> None:
    got = _params(name)
    assert got == int(PARAMS[name].value), f"{name}: {got:,} params, published {PARAMS[name].value:,.0f}"


@pytest.mark.parametrize("name", ALL)
def test_interface_attributes(name: str) -> None:
    with torch.device("meta"):
        m = classicnets.create_model(name, num_classes=7)
    assert m.num_classes == 7
    for attr in ("default_input_size", "min_input_size"):
        size = getattr(m, attr)
        assert isinstance(size, tuple) and len(size) == 3 and all(isinstance(v, int) for v in size), attr
    assert all(a >= b for a, b in zip(m.default_input_size, m.min_input_size, strict=True))
    for meth in ("forward_features", "forward_head", "reset_classifier", "get_classifier"):
        assert callable(getattr(m, meth))


def _small_model(name: str, **kw) -> torch.nn.Module:
    return classicnets.create_model(name, num_classes=5, **kw)


def _min_input(m: torch.nn.Module, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, *m.min_input_size)


def _maybe_slow(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n for n in names]


@pytest.mark.parametrize("name", _maybe_slow(ALL))
def test_forward_contract(name: str) -> None:
    """Logits tensor in train and eval; features -> head equals forward; reset_classifier works."""
    m = _small_model(name)
    x = _min_input(m)
    for train in (True, False):
        m.train(train)
        torch.manual_seed(1)
        y = m(x)
        assert isinstance(y, torch.Tensor) and y.shape == (2, 5), (name, train, type(y))
    m.eval()
    with torch.no_grad():
        feats = m.forward_features(x)
        assert torch.allclose(m.forward_head(feats), m(x), atol=1e-5, equal_nan=True)
        pre = m.forward_head(feats, pre_logits=True)
        assert pre.dim() == 2 and pre.shape[0] == 2
    m.reset_classifier(3)
    assert m.num_classes == 3
    with torch.no_grad():
        assert m(x).shape == (2, 3)


@pytest.mark.parametrize("name", _maybe_slow(ALL))
def test_too_small_input_is_a_clear_value_error(name: str) -> None:
    m = _small_model(name).eval()
    c, h, w = m.min_input_size
    with pytest.raises(ValueError, match=r"at least .*min_input_size"):
        m(torch.randn(1, c, h - 1, w))
    with pytest.raises(ValueError, match=r"input channel"):
        m(torch.randn(1, c + 1, h, w))
    with pytest.raises(ValueError, match=r"batch of images"):
        m(torch.randn(c, h, w))


@pytest.mark.parametrize("name", _maybe_slow(ALL))
def test_pickle_round_trip(name: str) -> None:
    m = _small_model(name).eval()
    m2 = pickle.loads(pickle.dumps(m))
    x = _min_input(m)
    for (k, v), (k2, v2) in zip(m.state_dict().items(), m2.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2), k
    with torch.no_grad():  # resnet1202 at init overflows to NaN in eval mode (BN stats 0/1): NaN == NaN here
        torch.testing.assert_close(m(x), m2(x), rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("name", ["resnet20", "plain20", "nin_cifar10", "cnn3", "mnist_mlp"])
def test_in_chans_one(name: str) -> None:
    m = classicnets.create_model(name, in_chans=1).eval()
    assert m.min_input_size[0] == 1
    with torch.no_grad():
        assert m(torch.randn(2, *m.min_input_size)).shape == (2, m.num_classes)


@pytest.mark.slow
def test_torch_compile_cifar_model() -> None:
    m = classicnets.create_model("resnet20").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = m(x)
        out = torch.compile(m)(x)
    assert torch.allclose(ref, out, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["resnet20", "nin_cifar10", "cnn3"])
def test_torch_export(name: str) -> None:
    m = classicnets.create_model(name).eval()
    x = torch.randn(2, *m.default_input_size)
    ep = torch.export.export(m, (x,))
    with torch.no_grad():
        assert torch.allclose(ep.module()(x), m(x), atol=1e-5)


@pytest.mark.parametrize("name", sorted(set(PARAMS) & set(ALL)))
def test_builder_docstring_lists_the_published_figures(name: str) -> None:
    """The figures are written once, in classicnets.reference; registering a builder appends them to its docstring."""
    import importlib
    import inspect

    from classicnets.reference import describe

    families = ("alexnet", "cifar_variants", "googlenet", "inception_v3", "nin", "preact_resnet", "resnet", "small",
                "vgg", "wide_resnet")
    builders = [getattr(importlib.import_module(f"classicnets.models.{family}"), name, None) for family in families]
    (builder,) = [b for b in builders if callable(b)]
    assert builder.__name__ == name
    doc = inspect.getdoc(builder) or ""
    assert doc.endswith(describe(name)), doc
    assert f"{int(PARAMS[name].value):,}" in doc


def test_builders_from_tables_keep_their_signature() -> None:
    """resnet50 and vgg16 are made from layout tables yet keep their keyword-only signature and defaults."""
    import inspect

    from classicnets.models.resnet import plain20, resnet50
    from classicnets.models.vgg import vgg16_bn

    assert str(inspect.signature(resnet50)) == (
        "(*, num_classes: 'int' = 1000, in_chans: 'int' = 3, shortcut: 'Shortcut' = 'B', variant: 'Variant' = 'v1', "
        "stem: 'Stem' = 'imagenet', zero_init_residual: 'bool' = False) -> 'ResNet'")
    assert str(inspect.signature(plain20)) == (
        "(*, num_classes: 'int' = 10, in_chans: 'int' = 3, batch_norm: 'bool' = True, init: 'Init' = 'kaiming') "
        "-> 'CifarResNet'")
    assert str(inspect.signature(vgg16_bn)) == (
        "(*, num_classes: 'int' = 1000, in_chans: 'int' = 3, drop_rate: 'float' = 0.5) -> 'VGG'")
