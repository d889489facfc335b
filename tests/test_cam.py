"""Class activation maps: Zhou et al.'s identity, shape and [0, 1] normalization, the supported heads, the
refusal of every other head, and the ``classicnets cam`` command's overlay PNGs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from classicnets import create_model
from classicnets.analysis.cam import class_activation_maps, normalize_maps, overlay
from classicnets.errors import UserError


@pytest.mark.parametrize("name", ["resnet20", "cnn3", "nin_cifar10"])
def test_cam_shape_and_normalization(name: str) -> None:
    torch.manual_seed(0)
    m = create_model(name).eval()
    x = torch.randn(3, 3 if name != "cnn3" else 1, 32, 32)
    r = class_activation_maps(m, x)
    assert r.maps.shape == (3, 32, 32), tuple(r.maps.shape)
    flat = r.maps.flatten(1)
    assert torch.allclose(flat.min(1).values, torch.zeros(3)), flat.min(1).values
    assert torch.allclose(flat.max(1).values, torch.ones(3)), flat.max(1).values
    assert torch.equal(r.targets, m(x).argmax(1)), (r.targets, m(x).argmax(1))
    assert r.probs.shape == (3, 10) and torch.allclose(r.probs.sum(1), torch.ones(3))
    assert r.maps.shape[-2:] == x.shape[-2:]


def test_cam_is_zhous_decomposition_of_the_score() -> None:
    """GAP + linear: the score of class c is the mean of M_c plus the bias (Zhou et al. Eq. 1-2)."""
    torch.manual_seed(1)
    m = create_model("resnet20").eval()
    x = torch.randn(2, 3, 32, 32)
    logits = m(x)
    for c in (0, 7):
        r = class_activation_maps(m, x, target=c)
        assert r.raw.shape == (2, 8, 8)
        score = r.raw.mean(dim=(1, 2)) + m.get_classifier().bias[c]
        torch.testing.assert_close(score, logits[:, c].detach(), rtol=1e-4, atol=1e-5)


def test_cam_of_nin_class_maps_equals_its_class_map() -> None:
    torch.manual_seed(2)
    m = create_model("nin_cifar10", head_relu=False).eval()
    x = torch.randn(2, 3, 32, 32)
    r = class_activation_maps(m, x, target=[3, 5])
    with torch.no_grad():
        maps = m.get_classifier()(m.forward_features(x))  # N x 10 x 8 x 8: the class maps
    expect = torch.stack([maps[0, 3], maps[1, 5]]) - m.get_classifier().bias[[3, 5]].detach()[:, None, None]
    torch.testing.assert_close(r.raw, expect, rtol=1e-4, atol=1e-5)
    assert r.head.startswith("GAP of class maps")


def test_cam_leaves_the_model_as_it_was() -> None:
    m = create_model("cnn3", batch_norm=True).train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    class_activation_maps(m, torch.randn(4, 1, 28, 28))
    assert m.training
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_upsampled_size_and_constant_maps() -> None:
    m = create_model("cnn3").eval()
    r = class_activation_maps(m, torch.randn(2, 1, 4, 4), size=(16, 20))  # 1x1 feature map: constant maps
    assert r.maps.shape == (2, 16, 20)
    assert torch.count_nonzero(r.maps) == 0, "a constant map must normalize to zeros, not to ulp noise"
    z = normalize_maps(torch.tensor([[[1.0, 3.0], [2.0, 5.0]]]))
    torch.testing.assert_close(z, torch.tensor([[[0.0, 0.5], [0.25, 1.0]]]))


@pytest.mark.parametrize(("name", "why"), [
    ("mnist_mlp", "not a spatial map"),
    ("alexnet", "Linear 4096"),
    ("vgg11", "Linear 4096"),
])
def test_cam_refuses_heads_that_are_not_gap_linear(name: str, why: str) -> None:
    with torch.device("meta"):  # the refusal comes from shapes alone: no weights needed
        m = create_model(name)
        x = torch.empty(1, *m.default_input_size)
    with pytest.raises(UserError, match="global average pooling followed by one linear layer") as err:
        class_activation_maps(m, x)
    assert why in str(err.value), str(err.value)


def test_cam_refuses_gap_followed_by_more_than_one_layer() -> None:
    from torch import nn

    from classicnets.models.base import ClassifierNet

    class TwoLayerHead(ClassifierNet):
        def __init__(self) -> None:
            super().__init__(num_classes=4, in_chans=1, default_input_size=(1, 8, 8), min_input_size=(1, 4, 4))
            self.conv = nn.Conv2d(1, 6, 3, padding=1)
            self.hidden = nn.Linear(6, 6)
            self.fc = nn.Linear(6, 4)

        def forward_features(self, x):
            return self.conv(x)

        def forward_head(self, x, pre_logits=False):
            x = torch.relu(self.hidden(x.mean((2, 3))))
            return x if pre_logits else self.fc(x)

        def get_classifier(self):
            return self.fc

    with pytest.raises(UserError, match="more than average pooling"):
        class_activation_maps(TwoLayerHead(), torch.randn(2, 1, 8, 8))


def test_overlay_blends_in_rgb() -> None:
    img = np.full((4, 4, 1), 200, np.uint8)
    cam = np.zeros((4, 4))
    cam[0, 0] = 1.0
    out = overlay(img, cam, alpha=0.5)
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    assert not np.array_equal(out[0, 0], out[3, 3])  # the hot pixel is coloured differently


def _train_tiny(tmp_path, model: str, **model_args):
    from classicnets.train import TrainConfig, fit

    return fit(TrainConfig(model=model, dataset="digits", steps=3, batch_size=32, out=str(tmp_path / model),
                           progress="none", model_args=model_args, threads=1)).run_dir


def _digit_png(tmp_path, i: int) -> str:
    from PIL import Image

    from classicnets.data import load_dataset

    ds = load_dataset("digits", split="test")
    path = tmp_path / f"digit{i}.png"
    Image.fromarray(ds.images[i][..., 0]).save(path)
    return str(path)


def test_cam_command_writes_overlay_pngs(tmp_path, capsys) -> None:
    from PIL import Image

    from classicnets.cli import main

    run = _train_tiny(tmp_path, "cnn3")
    images = [_digit_png(tmp_path, 0), _digit_png(tmp_path, 1)]
    out = tmp_path / "cams"
    assert main(["cam", str(run), *images, "--out", str(out)]) == 0
    for name in ("digit0-cam.png", "digit1-cam.png"):
        with Image.open(out / name) as im:
            assert im.format == "PNG" and im.size[0] > 50, (name, im.size)
    printed = capsys.readouterr().out
    assert "digit0-cam.png" in printed and "%" in printed


def test_cam_command_refuses_a_non_gap_model(tmp_path, capsys) -> None:
    from classicnets.cli import main

    run = _train_tiny(tmp_path, "mnist_mlp", input_size=8)
    assert main(["cam", str(run), _digit_png(tmp_path, 0), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "global average pooling followed by one linear layer" in err and "MNISTMLP" in err
    assert not (tmp_path / "c").exists()
