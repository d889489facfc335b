"""Batched augmentation (correctness, determinism) and the loader (order, resume, shards, devices)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from classicnets.data import DataLoader, augment
from classicnets.errors import InvalidInputError


def _batch(n: int = 16, c: int = 3, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, h, w), generator=g, dtype=torch.uint8)


def _gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _find_crop(padded: torch.Tensor, crop: torch.Tensor) -> list[tuple[int, int, bool]]:
    """All (top, left, flipped) placements of ``crop`` inside ``padded`` (C x Hp x Wp)."""
    ch, cw = crop.shape[-2:]
    hits = []
    for top in range(padded.shape[1] - ch + 1):
        for left in range(padded.shape[2] - cw + 1):
            window = padded[:, top : top + ch, left : left + cw]
            if torch.equal(window, crop):
                hits.append((top, left, False))
            if torch.equal(window.flip(-1), crop):
                hits.append((top, left, True))
    return hits


def test_random_crop_is_a_crop_of_the_padded_image() -> None:
    x = _batch(32)
    out = augment.random_crop(x, padding=4, generator=_gen())
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = F.pad(x, (4, 4, 4, 4))
    offsets = set()
    for i in range(len(x)):
        hits = [h for h in _find_crop(padded[i], out[i]) if not h[2]]
        assert hits, f"image {i} is not a crop of its padded image"
        offsets.add(hits[0][:2])
    assert len(offsets) > 10, f"offsets hardly vary: {offsets}"


def test_crop_with_flip_flips_about_half_and_only_mirrors() -> None:
    x = _batch(64)
    out = augment.random_crop(x, padding=4, flip=True, generator=_gen(3))
    padded = F.pad(x, (4, 4, 4, 4))
    flipped = 0
    for i in range(len(x)):
        hits = _find_crop(padded[i], out[i])
        assert hits, f"image {i} is neither a crop nor a mirrored crop"
        flipped += hits[0][2]
    assert 16 <= flipped <= 48, flipped


def test_hflip_flips() -> None:
    x = _batch(40)
    out = augment.hflip(x, generator=_gen())
    n_flipped = 0
    for i in range(len(x)):
        if torch.equal(out[i], x[i].flip(-1)):
            n_flipped += 1
        else:
            assert torch.equal(out[i], x[i])
    assert 8 <= n_flipped <= 32
    assert torch.equal(augment.hflip(x, p=1.0), x.flip(-1))
    assert torch.equal(augment.hflip(x, p=0.0), x)


def test_crop_without_padding_to_a_smaller_size_and_center_crop() -> None:
    x = _batch(8, h=12, w=10)
    out = augment.random_crop(x, (6, 5), generator=_gen())
    assert out.shape == (8, 3, 6, 5)
    for i in range(8):
        assert _find_crop(x[i], out[i])
    cc = augment.center_crop(x, (6, 4))
    assert torch.equal(cc, x[:, :, 3:9, 3:7])
    with pytest.raises(InvalidInputError, match="larger than"):
        augment.center_crop(x, 20)


def test_same_seed_same_output_whatever_the_threads() -> None:
    x = _batch(64)
    tf = augment.Compose([augment.RandomCrop(padding=4, flip=True), augment.Normalize((0.5,) * 3, (0.25,) * 3),
                          augment.Cutout(8)])
    rrc = augment.RandomResizedCrop(24, flip=True)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a, ra = tf(x, _gen(7)), rrc(x, _gen(7))
        torch.set_num_threads(2)
        b, rb = tf(x, _gen(7)), rrc(x, _gen(7))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(a, b) and torch.equal(ra, rb)
    assert not torch.equal(a, tf(x, _gen(8)))


def test_normalize_matches_the_formula() -> None:
    x = _batch(4)
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    out = augment.normalize(x, mean, std)
    ref = (x.double() / 255 - torch.tensor(mean).double().view(1, 3, 1, 1)) / torch.tensor(std).double().view(
        1, 3, 1, 1)
    assert out.dtype == torch.float32 and out.is_contiguous()
    torch.testing.assert_close(out.double(), ref, rtol=0, atol=1e-5)
    with pytest.raises(InvalidInputError, match="3 means and 3 stds for 1 channels"):
        augment.normalize(x[:, :1], mean, std)


def test_random_resized_crop_full_box_is_a_resize_and_boxes_vary() -> None:
    x = _batch(6, h=16, w=16)
    # scale=(1, 1), ratio=(1, 1): the box is the whole image, so the output is a plain (flipped) resize
    out = augment.random_resized_crop(x, 16, scale=(1.0, 1.0), ratio=(1.0, 1.0), generator=_gen())
    torch.testing.assert_close(out, x.float(), rtol=0, atol=1e-3)
    out = augment.random_resized_crop(x, 16, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=True, generator=_gen(2))
    for i in range(6):
        assert torch.allclose(out[i], x[i].float(), atol=1e-3) or torch.allclose(out[i], x[i].flip(-1).float(),
                                                                                  atol=1e-3)
    # a constant image stays constant whatever the box; small boxes give different views
    const = torch.full((4, 3, 40, 30), 77, dtype=torch.uint8)
    torch.testing.assert_close(augment.random_resized_crop(const, 20, generator=_gen()),
                               torch.full((4, 3, 20, 20), 77.0))
    ramp = torch.arange(64, dtype=torch.uint8).repeat(64, 1)[None, None].expand(8, 3, 64, 64).contiguous()
    views = augment.random_resized_crop(ramp, 8, generator=_gen(4))
    assert len({round(float(v.mean()), 3) for v in views}) > 4


def test_cutout_zeroes_one_square_per_image() -> None:
    x = torch.ones(32, 3, 32, 32)
    out = augment.cutout(x, 8, generator=_gen())
    holes = (out == 0).all(dim=1)  # N x H x W
    for i in range(32):
        ys, xs = torch.nonzero(holes[i], as_tuple=True)
        assert len(ys) > 0
        assert ys.max() - ys.min() < 8 and xs.max() - xs.min() < 8
        assert len(ys) == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)  # one rectangle
    assert x.min() == 1  # the input is untouched


def test_cifar_preset_pipeline_on_uint8() -> None:
    x = _batch(128)
    out = augment.train_transform("crop-flip", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), side=32, size=32)(x, _gen())
    assert out.shape == (128, 3, 32, 32) and out.dtype == torch.float32
    ev = augment.eval_transform((0.5,) * 3, (0.25,) * 3, crop=24)(x)
    assert ev.shape == (128, 3, 24, 24)


def test_augment_presets_are_the_papers_steps_and_name_real_streaming_presets() -> None:
    from classicnets.data import PRESETS

    x, mean, std = _batch(16), (0.5,) * 3, (0.25,) * 3
    he = augment.Compose([augment.RandomCrop(padding=4, flip=True), augment.Normalize(mean, std)])
    assert torch.equal(augment.train_transform("crop-flip", mean, std, side=32, size=32)(x, _gen()), he(x, _gen()))
    assert augment.train_transform("none", mean, std, side=32, size=24)(x).shape == (16, 3, 24, 24)
    assert {p.streamed for p in augment.TRAIN_PRESETS.values()} - {None} <= set(PRESETS)
    with pytest.raises(InvalidInputError, match="unknown --augment 'cutout'; choose none, flip, crop"):
        augment.train_transform("cutout", mean, std, side=32, size=32)


# -- loader ------------------------------------------------------------------------
def _data(n: int = 50, h: int = 6) -> tuple[np.ndarray, np.ndarray]:
    images = np.arange(n, dtype=np.uint8)[:, None, None, None].repeat(h, 1).repeat(h, 2).repeat(3, 3)
    return images, np.arange(n, dtype=np.int64)


def test_loader_batches_shuffle_and_drop_last() -> None:
    data = _data(50)
    seen = [y for _, y in DataLoader(data, 16, seed=3)]
    assert [len(y) for y in seen] == [16, 16, 16, 2]
    order = torch.cat(seen)
    assert sorted(order.tolist()) == list(range(50)) and order.tolist() != list(range(50))
    again = torch.cat([y for _, y in DataLoader(data, 16, seed=3)])
    assert torch.equal(order, again)
    loader = DataLoader(data, 16, seed=3, drop_last=True)
    assert len(loader) == 3 and [len(y) for _, y in loader] == [16, 16, 16]
    # the next epoch has another order
    epoch1 = torch.cat([y for _, y in loader])
    assert loader.epoch == 2 and not torch.equal(epoch1, order[:48])
    plain = DataLoader(data, 20, shuffle=False)
    x, y = next(iter(plain))
    assert y.tolist() == list(range(20)) and x.shape == (20, 3, 6, 6) and x.dtype == torch.float32
    assert torch.allclose(x[:, 0, 0, 0] * 255, y.float())


def test_loader_resumes_exactly() -> None:
    data = _data(64, h=8)
    tf = augment.Compose([augment.RandomCrop(padding=2, flip=True), augment.Normalize((0.5,) * 3, (0.2,) * 3)])
    ref = DataLoader(data, 8, seed=11, transform=tf)
    full = [b for _ in range(2) for b in ref]  # two epochs, 16 batches
    run = DataLoader(data, 8, seed=11, transform=tf)
    it = (b for _ in range(2) for b in run)  # each `for` over the loader runs one epoch
    for _ in range(11):  # stop in the middle of epoch 2
        next(it)
    state = run.state_dict()
    assert (state["epoch"], state["step"]) == (1, 3)
    resumed = DataLoader(data, 8, seed=11, transform=tf)
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert len(rest) == 5
    for (x, y), (rx, ry) in zip(full[11:], rest, strict=True):
        assert torch.equal(x, rx) and torch.equal(y, ry)
    with pytest.raises(InvalidInputError, match="batch_size=8, this one 4"):
        DataLoader(data, 4, seed=11).load_state_dict(state)


def test_loader_shards_are_disjoint_slices_of_one_permutation() -> None:
    data = _data(50)
    shards = [DataLoader(data, 4, seed=5, rank=r, world_size=3) for r in range(3)]
    seen = [torch.cat([y for _, y in s]) for s in shards]
    assert [len(s) for s in seen] == [16, 16, 16]
    union = torch.cat(seen)
    assert len(set(union.tolist())) == 48  # disjoint, 2 of 50 sit out this epoch
    perm = DataLoader(data, 4, seed=5).indices(0)
    assert seen[1].tolist() == perm[:48][1::3].tolist()
    with pytest.raises(InvalidInputError, match="rank 3 is not in"):
        DataLoader(data, 4, rank=3, world_size=3)


def test_loader_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="uint8 images"):
        DataLoader((np.zeros((4, 2, 2, 3), np.float32), np.zeros(4)), 2)
    with pytest.raises(InvalidInputError, match="4 images but 3 labels"):
        DataLoader((np.zeros((4, 2, 2, 3), np.uint8), np.zeros(3)), 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_loader_cuda_matches_cpu() -> None:
    data = _data(64, h=8)
    tf = augment.Compose([augment.RandomCrop(padding=2, flip=True), augment.Normalize((0.5,) * 3, (0.2,) * 3),
                          augment.Cutout(3)])
    cpu = list(DataLoader(data, 16, seed=2, transform=tf))
    gpu = list(DataLoader(data, 16, seed=2, transform=tf, device="cuda"))
    for (x, y), (gx, gy) in zip(cpu, gpu, strict=True):
        assert gx.is_cuda and gy.is_cuda
        torch.testing.assert_close(gx.cpu(), x)
        assert torch.equal(gy.cpu(), y)
