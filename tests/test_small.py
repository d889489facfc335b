"""mnist_mlp (Ioffe & Szegedy 2015, Sec. 4.1) and cnn3: counts by hand, BN placement, shapes, input limits."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

import classicnets
from classicnets.models.small import CNN3, MNISTMLP

# -- mnist_mlp ------------------------------------------------------------------

# 784 -> 100 -> 100 -> 100 (sigmoid) -> 10.
MLP_PLAIN = (784 * 100 + 100) + 2 * (100 * 100 + 100) + (100 * 10 + 10)
# With BN the hidden Linears lose their bias; each BN adds gamma and beta.
MLP_BN = (784 * 100) + 2 * (100 * 100) + 3 * (2 * 100) + (100 * 10 + 10)


def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_mlp_parameter_counts_by_hand() -> None:
    assert MLP_PLAIN == 99_710 and MLP_BN == 100_010
    got = _count(classicnets.create_model("mnist_mlp"))
    assert got == MLP_PLAIN, f"mnist_mlp: {got:,} params, by hand {MLP_PLAIN:,}"
    got_bn = _count(classicnets.create_model("mnist_mlp", batch_norm=True))
    assert got_bn == MLP_BN, f"mnist_mlp(batch_norm=True): {got_bn:,} params, by hand {MLP_BN:,}"
    got3 = _count(classicnets.create_model("mnist_mlp", in_chans=3, input_size=32))
    want3 = (3 * 32 * 32 * 100 + 100) + 2 * (100 * 100 + 100) + 1010
    assert got3 == want3, f"3x32x32 mnist_mlp: {got3:,} params, by hand {want3:,}"


def test_mlp_layout() -> None:
    m = classicnets.create_model("mnist_mlp", batch_norm=True)
    assert isinstance(m, MNISTMLP)
    assert m.default_input_size == m.min_input_size == (1, 28, 28)
    assert len(m.hidden) == 3
    for layer in m.hidden:
        assert isinstance(layer.act, nn.Sigmoid)
        assert isinstance(layer.bn, nn.BatchNorm1d) and layer.bn.num_features == 100
        assert layer.fc.bias is None and layer.fc.out_features == 100
    assert m.get_classifier() is m.fc and m.fc.out_features == 10
    plain = classicnets.create_model("mnist_mlp")
    assert all(isinstance(layer.bn, nn.Identity) and layer.fc.bias is not None for layer in plain.hidden)
    assert not any(isinstance(mod, nn.BatchNorm1d) for mod in plain.modules())


def test_mlp_init_is_small_gaussian() -> None:
    m = classicnets.create_model("mnist_mlp")
    w = m.hidden[0].fc.weight
    mean, std = w.mean().item(), w.std().item()
    assert abs(mean) < 0.005 and abs(std - 0.1) < 0.005, (mean, std)
    assert float(m.hidden[0].fc.bias.detach().abs().max()) == 0.0
    w2 = classicnets.create_model("mnist_mlp", init_std=0.01).hidden[0].fc.weight
    assert abs(w2.std().item() - 0.01) < 0.0005, w2.std().item()


@pytest.mark.parametrize("batch_norm", [False, True])
def test_hidden_preactivations(batch_norm: bool) -> None:
    m = classicnets.create_model("mnist_mlp", batch_norm=batch_norm).eval()
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        pre = m.hidden_preactivations(x)
        assert [tuple(p.shape) for p in pre] == [(5, 100)] * 3
        feats = m.forward_features(x)
        # forward_features is the last hidden layer's sigmoid output.
        assert torch.allclose(torch.sigmoid(pre[-1]), feats, atol=1e-6)
        assert torch.allclose(m.forward_head(feats), m(x), atol=1e-6)
        assert torch.equal(m.forward_head(feats, pre_logits=True), feats)
        if not batch_norm:
            # Without BN the sigmoid input is W u + b of the layer before.
            expect = m.hidden[2].fc(torch.sigmoid(pre[1]))
            assert torch.allclose(pre[2], expect, atol=1e-6)


def test_bn_normalizes_the_sigmoid_inputs_in_training() -> None:
    m = classicnets.create_model("mnist_mlp", batch_norm=True).train()
    x = torch.rand(64, 1, 28, 28)
    for p in m.hidden_preactivations(x):
        mean, var = p.mean(0), p.var(0, unbiased=False)
        assert mean.abs().max().item() < 1e-4, mean.abs().max().item()
        assert (var - 1).abs().max().item() < 1e-2, (var - 1).abs().max().item()


def test_mlp_accepts_exactly_its_size() -> None:
    m = classicnets.create_model("mnist_mlp").eval()
    with pytest.raises(ValueError, match=r"exactly 28x28.*got 32x32.*input_size=32"):
        m(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"exactly 28x28"):
        m.hidden_preactivations(torch.rand(2, 1, 28, 30))
    with pytest.raises(ValueError, match=r"at least 28x28.*min_input_size"):
        m(torch.rand(2, 1, 27, 28))
    with pytest.raises(ValueError, match=r"1 input channel.*in_chans=3"):
        m(torch.rand(2, 3, 28, 28))
    m32 = classicnets.create_model("mnist_mlp", input_size=32, in_chans=3).eval()
    assert m32.default_input_size == m32.min_input_size == (3, 32, 32)
    with torch.no_grad():
        assert tuple(m32(torch.rand(2, 3, 32, 32)).shape) == (2, 10)


def test_mlp_train_and_eval_give_logits_and_pickle() -> None:
    m = classicnets.create_model("mnist_mlp", batch_norm=True, num_classes=4)
    x = torch.rand(3, 1, 28, 28)
    assert tuple(m.train()(x).shape) == (3, 4)
    m.eval()
    m2 = pickle.loads(pickle.dumps(m))
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))
    m.reset_classifier(7)
    assert m.num_classes == 7 and tuple(m(x).shape) == (3, 7)


def test_mlp_torch_export() -> None:
    m = classicnets.create_model("mnist_mlp", batch_norm=True).eval()
    x = torch.rand(2, 1, 28, 28)
    ep = torch.export.export(m, (x,))
    with torch.no_grad():
        assert torch.allclose(ep.module()(x), m(x), atol=1e-6)


def test_mlp_bad_options() -> None:
    with pytest.raises(ValueError, match="input_size"):
        classicnets.create_model("mnist_mlp", input_size=0)
    with pytest.raises(ValueError, match="init_std"):
        classicnets.create_model("mnist_mlp", init_std=0.0)
    with pytest.raises(TypeError, match="unknown option"):
        classicnets.create_model("mnist_mlp", hidden=100)


# -- cnn3 -----------------------------------------------------------------------


def _cnn3_by_hand(in_chans: int, batch_norm: bool, num_classes: int = 10) -> int:
    total, c_in = 0, in_chans
    for c in (32, 64, 128):
        total += c_in * c * 9 + (2 * c if batch_norm else c)  # BN's gamma, beta replace the conv bias
        c_in = c
    return total + 128 * num_classes + num_classes


@pytest.mark.parametrize("in_chans", [1, 3])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_cnn3_parameter_counts_by_hand(in_chans: int, batch_norm: bool) -> None:
    m = classicnets.create_model("cnn3", in_chans=in_chans, batch_norm=batch_norm)
    got, want = _count(m), _cnn3_by_hand(in_chans, batch_norm)
    assert got == want, f"cnn3(in_chans={in_chans}, batch_norm={batch_norm}): {got:,} params, hand {want:,}"
    if in_chans == 1:
        assert want == (94_186 if batch_norm else 93_962)


@pytest.mark.parametrize("in_chans", [1, 3])
@pytest.mark.parametrize("side,feat", [(28, 7), (32, 8)])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_cnn3_shapes(in_chans: int, side: int, feat: int, batch_norm: bool) -> None:
    m = classicnets.create_model("cnn3", in_chans=in_chans, batch_norm=batch_norm)
    x = torch.rand(2, in_chans, side, side)
    assert tuple(m.train()(x).shape) == (2, 10)
    m.eval()
    with torch.no_grad():
        f = m.forward_features(x)
        assert tuple(f.shape) == (2, 128, feat, feat)
        assert tuple(m.forward_head(f, pre_logits=True).shape) == (2, 128)
        assert torch.allclose(m.forward_head(f), m(x), atol=1e-6)


def test_cnn3_layout() -> None:
    m = classicnets.create_model("cnn3", batch_norm=True)
    assert isinstance(m, CNN3)
    assert m.default_input_size == (1, 28, 28) and m.min_input_size == (1, 4, 4)
    for block in (m.conv1, m.conv2, m.conv3):
        assert block.conv.bias is None and isinstance(block.bn, nn.BatchNorm2d) and block.bn.eps == 1e-5
    keys = set(m.state_dict())
    assert {"conv1.conv.weight", "conv1.bn.weight", "conv3.bn.running_var", "fc.weight", "fc.bias"} <= keys
    plain = classicnets.create_model("cnn3")
    assert not any(isinstance(mod, nn.BatchNorm2d) for mod in plain.modules())
    assert all(b.conv.bias is not None for b in (plain.conv1, plain.conv2, plain.conv3))


def test_cnn3_min_input() -> None:
    m = classicnets.create_model("cnn3", in_chans=3, num_classes=4).eval()
    with torch.no_grad():
        assert tuple(m(torch.rand(1, 3, 4, 4)).shape) == (1, 4)
    with pytest.raises(ValueError, match=r"at least 4x4.*got 3x4"):
        m(torch.rand(1, 3, 3, 4))
    with pytest.raises(ValueError, match=r"3 input channel"):
        m(torch.rand(1, 1, 28, 28))
