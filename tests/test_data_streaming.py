"""Streaming from image files: the imagenet layout, StreamingLoader's order/shards/resume, the plan, the cache build."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from classicnets.data import DataLoader, augment, load_dataset, open_files, plan
from classicnets.data import cache as cache_mod
from classicnets.data import images as img
from classicnets.data import streaming as st
from classicnets.data.images import CorruptImageError
from classicnets.errors import InvalidInputError

WNIDS = ("n03000134", "n01440764", "n02102040")  # written in this (unsorted) order


def _jpeg(path: Path, w: int, h: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(1, h // 4), max(1, w // 4), 3), dtype=np.uint8)
    Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR).save(path, quality=90)


def _tree(root: Path, per_class: int = 6, val: int = 2, size: tuple[int, int] = (48, 36)) -> Path:
    k = 0
    for wnid in WNIDS:
        for split, count in (("train", per_class), ("val", val)):
            for i in range(count):
                k += 1
                _jpeg(root / split / wnid / f"{wnid}_{i}.JPEG", size[0] + k % 5, size[1], k)
    return root


@pytest.fixture(scope="module")
def inet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tree(tmp_path_factory.mktemp("inet") / "ILSVRC2012")


def _epoch(loader, n: int | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for b in loader:
        out.append(b)
        if n is not None and len(out) == n:
            break
    return out


def _loader(files, **kw):
    kw.setdefault("workers", 0)
    return st.StreamingLoader(files, 4, image_size=16, seed=3, **kw)


# -- the imagenet dataset -----------------------------------------------------------------------------
def test_imagenet_classes_are_the_sorted_wnids_and_labels_follow_the_folders(inet: Path) -> None:
    splits = open_files("imagenet", inet.parent)  # the wrapper folder is stepped into
    assert set(splits) == {"train", "val"}
    tr = splits["train"]
    assert tr.classes == tuple(sorted(WNIDS))
    assert len(tr) == 18 and len(splits["val"]) == 6
    for i in range(len(tr)):
        assert tr.path(i).parent.name == tr.classes[tr.labels[i]]
    assert tr.mean == (0.485, 0.456, 0.406) and tr.info["stats"] == "torchvision's ImageNet constants"


def test_imagenet_flat_val_folder_is_refused_naming_it(tmp_path: Path) -> None:
    root = tmp_path / "in"
    _jpeg(root / "train" / "n01440764" / "a.JPEG", 20, 20, 0)
    _jpeg(root / "val" / "ILSVRC2012_val_00000001.JPEG", 20, 20, 1)
    with pytest.raises(InvalidInputError, match=r"in/val holds 1 images directly .*ILSVRC2012_val_00000001.JPEG.*"
                                                r"must be sorted into wnid folders val/<wnid>/"):
        open_files("imagenet", root)


def test_imagenet_without_train_folder_names_the_layout(tmp_path: Path) -> None:
    _jpeg(tmp_path / "x" / "n01440764" / "a.JPEG", 20, 20, 0)
    with pytest.raises(InvalidInputError, match=r"x has no train/ folder; expected .*ROOT/train/<wnid>/\*.JPEG"):
        open_files("imagenet", tmp_path / "x")


def test_imagenet_is_never_decoded_into_one_array(inet: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="read from its files while training"):
        load_dataset("imagenet", inet, cache_dir=tmp_path)


# -- per-image augmentation ---------------------------------------------------------------------------------
def test_eval_preset_resizes_256_and_crops_the_centre_224() -> None:
    rng = np.random.default_rng(0)
    box = st.crop_box(500, 375, 224, st.PRESETS["imagenet-eval"], rng)
    side = 375 * 224 / 256  # the 224 crop of the image whose shorter side is 256
    assert box == pytest.approx(((500 - side) / 2, (375 - side) / 2, (500 + side) / 2, (375 + side) / 2))


def test_eval_sample_has_the_output_size(tmp_path: Path) -> None:
    _jpeg(tmp_path / "a.jpg", 50, 30, 0)
    out = st.load_sample(tmp_path / "a.jpg", 24, st.PRESETS["imagenet-eval"], np.random.default_rng(0))
    assert out.shape == (24, 24, 3) and out.dtype == np.uint8


def test_train_crops_respect_the_scale_and_ratio_ranges() -> None:
    aug = st.PRESETS["imagenet-train"]
    rng = np.random.default_rng(1)
    for _ in range(300):
        x0, y0, x1, y1 = st.crop_box(500, 375, 224, aug, rng)
        w, h = x1 - x0, y1 - y0
        assert 0 <= x0 and x1 <= 500 and 0 <= y0 and y1 <= 375
        assert 0.08 * 0.9 <= w * h / (500 * 375) <= 1.0
        assert 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1


# -- StreamingLoader ------------------------------------------------------------------------------------
def test_shards_are_disjoint_cover_the_epoch_and_follow_dataloader(inet: Path) -> None:
    tr = open_files("imagenet", inet)["train"]
    seen = []
    for rank in range(4):
        sl = st.StreamingLoader(tr, 2, image_size=8, seed=5, rank=rank, world_size=4, workers=0)
        ref = DataLoader((np.zeros((len(tr), 1, 1, 1), np.uint8), tr.labels), 2, seed=5, rank=rank, world_size=4)
        assert np.array_equal(sl.indices(0), ref.indices(0))
        labels = torch.cat([y for _, y in sl])
        assert np.array_equal(labels.numpy(), tr.labels[sl.indices(0)])
        seen.append(sl.indices(0))
    flat = np.concatenate(seen)
    assert len(flat) == len(set(flat.tolist())) == 16  # 18 cut to a multiple of 4
    perm = DataLoader((np.zeros((18, 1, 1, 1), np.uint8), tr.labels), 2, seed=5).indices(0)
    assert set(flat.tolist()) == set(perm[:16].tolist())


def test_same_seed_same_batches_other_seed_other_batches(inet: Path) -> None:
    tr = open_files("imagenet", inet)["train"]
    a, b = _epoch(_loader(tr)), _epoch(_loader(tr))
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b, strict=True))
    c = _epoch(st.StreamingLoader(tr, 4, image_size=16, seed=4, workers=0))
    assert not all(torch.equal(xa, xc) for (xa, _), (xc, _) in zip(a, c, strict=True))


def test_resume_reproduces_the_batch_without_decoding_the_skipped_ones(inet: Path, monkeypatch) -> None:
    tr = open_files("imagenet", inet)["train"]
    full = _loader(tr)
    _epoch(full)
    epoch1 = _epoch(full)
    calls = []
    real = st.load_sample
    monkeypatch.setattr(st, "load_sample", lambda *a: (calls.append(a[0]), real(*a))[1])
    resumed = _loader(tr)
    resumed.load_state_dict({"epoch": 1, "step": 2, "seed": 3})
    x, y = next(iter(resumed))
    assert torch.equal(x, epoch1[2][0]) and torch.equal(y, epoch1[2][1])
    assert len(calls) == 4  # only the batch asked for
    assert resumed.state_dict()["epoch"] == 1 and resumed.step == 3


def test_zero_and_two_workers_give_the_same_batches(inet: Path) -> None:
    tr = open_files("imagenet", inet)["train"]
    a = _epoch(_loader(tr, workers=0))
    two = _loader(tr, workers=2)
    b = _epoch(two)
    b2 = _epoch(two)  # persistent workers, next epoch
    ref2 = _loader(tr, workers=0)
    ref2.set_epoch(1)
    assert len(a) == len(b) == 5
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b, strict=True))
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(_epoch(ref2), b2, strict=True))


def test_uint8_batches_and_a_batch_transform(inet: Path) -> None:
    tr = open_files("imagenet", inet)["train"]
    raw = _epoch(_loader(tr, transform=lambda x, g: x))[0][0]
    assert raw.dtype == torch.uint8 and tuple(raw.shape) == (4, 3, 16, 16)
    norm = _epoch(_loader(tr, transform=augment.Normalize(tr.mean, tr.std)))[0][0]
    assert norm.dtype == torch.float32
    expect = (raw.float() / 255 - torch.tensor(tr.mean).view(1, 3, 1, 1)) / torch.tensor(tr.std).view(1, 3, 1, 1)
    assert torch.allclose(norm, expect, atol=1e-5)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_corrupt_file_is_one_error_naming_it(tmp_path: Path, workers: int) -> None:
    root = _tree(tmp_path / "in", per_class=2, val=1)
    bad = root / "train" / WNIDS[0] / "zz_bad.JPEG"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    tr = open_files("imagenet", root)["train"]
    with pytest.raises(CorruptImageError, match=r"zz_bad.JPEG is not a readable image \(") as e:
        _epoch(st.StreamingLoader(tr, 7, image_size=8, workers=workers))
    assert "Traceback" not in str(e.value)


# -- the plan --------------------------------------------------------------------------------------------
def test_plan_picks_the_cache_within_the_budget_and_streams_above_it(tmp_path: Path) -> None:
    root = _tree(tmp_path / "f", per_class=3, val=1, size=(100, 80))
    big = plan("imagefolder", root, budget="1G", workers=2)
    assert big.path == "cache" and big.image_size == 224 and big.cache_size == 256
    assert big.images == 12 and big.decoded_bytes == 12 * 256 * 256 * 3
    assert big.notice == ("imagefolder: 12 images at 256x256 need 0.0022 GiB decoded (budget 1 GiB): "
                          "decoding them once into the cache")
    tiny = plan("imagefolder", root, budget=1 << 20, workers=2)
    assert tiny.streaming and tiny.budget == 1 << 20
    assert tiny.notice == ("imagefolder: 12 images at 256x256 would need 0.0022 GiB decoded (budget 0.000977 GiB): "
                           "streaming from the files with 2 worker processes")
    assert plan("imagenet", root, budget="1T").streaming  # always


def test_budget_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv(st.BUDGET_ENV, "512M")
    assert st.cache_budget() == 512 << 20
    assert st.cache_budget(1000) == 1000
    monkeypatch.delenv(st.BUDGET_ENV)
    assert st.cache_budget() == st.CACHE_BUDGET_BYTES == 2 << 30
    with pytest.raises(InvalidInputError, match="not a size in bytes"):
        st.cache_budget("lots")


def test_small_images_train_at_their_own_size_unless_a_size_is_given(tmp_path: Path) -> None:
    root = tmp_path / "small"
    for c in ("cat", "dog"):
        for i in range(3):
            _jpeg(root / c / f"{i}.jpg", 16, 16, i)
    p = plan("imagefolder", root)
    assert (p.image_size, p.cache_size, p.native_size, p.small, p.path) == (16, None, (16, 16), True, "cache")
    assert "at most 64 px (16x16): training at their own size 16" in p.notice
    q = plan("imagefolder", root, image_size=32)
    assert (q.image_size, q.cache_size) == (32, 37) and "own size" not in q.notice


def test_plan_of_an_archive_reads_only_headers_and_keeps_the_cache(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t", per_class=2, val=1, size=(32, 32))
    tar = tmp_path / "t.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        tf.add(root, arcname="t")
    p = plan("imagefolder", tar)
    assert p.path == "cache" and p.images is None and p.small and "is an archive" in p.notice
    with pytest.raises(InvalidInputError, match="archive, which cannot be read in random order; extract it"):
        open_files("imagefolder", tar)


def test_imagefolder_streams_with_sampled_statistics(tmp_path: Path) -> None:
    root = _tree(tmp_path / "f", per_class=3, val=1)
    splits = open_files("imagefolder", root)
    assert set(splits) == {"train", "val"} and splits["train"].classes == tuple(sorted(WNIDS))
    assert splits["train"].info["stats"] == "estimated from 9 training images"
    assert all(0.2 < m < 0.8 for m in splits["train"].mean)
    sub = splits["train"].subset([0, 4])
    assert len(sub) == 2 and sub.labels.tolist() == splits["train"].labels[[0, 4]].tolist()


# -- the decode-once cache streams to disk ----------------------------------------------------------------
def test_cache_build_writes_through_a_memory_map_and_matches_the_in_memory_decode(tmp_path: Path, monkeypatch) -> None:
    root = _tree(tmp_path / "f", per_class=4, val=2)
    ref = load_dataset("imagefolder", root, size=24, cache=False, workers=1)
    written = []
    real = cache_mod.save_npy
    monkeypatch.setattr(cache_mod, "save_npy", lambda path, a: (written.append(Path(path).name), real(path, a)))
    built = load_dataset("imagefolder", root, size=24, cache_dir=tmp_path / "c", workers=2)
    assert "train_images.npy" not in written and "val_images.npy" not in written  # via the memory map
    assert np.array_equal(np.asarray(built.images), ref.images) and np.array_equal(built.labels, ref.labels)
    entry = Path(built.info["cache_path"])
    assert sorted(p.name for p in entry.iterdir()) == ["meta.json", "train_images.npy", "train_labels.npy",
                                                        "val_images.npy", "val_labels.npy"]  # no scratch file
    assert np.array_equal(np.load(entry / "val_images.npy"), load_dataset(
        "imagefolder", root, split="val", size=24, cache=False).images)
    again = load_dataset("imagefolder", root, size=24, cache_dir=tmp_path / "c")
    assert again.info["cache_hit"] and np.array_equal(np.asarray(again.images), ref.images)


def test_decode_many_to_disk_equals_in_memory_and_skips_the_same_files(tmp_path: Path) -> None:
    items = []
    for i in range(12):
        _jpeg(tmp_path / f"{i}.jpg", 30 + i, 20, i)
        items.append((f"{i}.jpg", (tmp_path / f"{i}.jpg").read_bytes()))
    items.insert(5, ("bad.jpg", b"garbage"))
    ram = img.decode_many(items, size=12, workers=1, on_error="skip")
    work = tmp_path / "w"
    work.mkdir()
    disk = img.decode_many(items, size=12, workers=2, on_error="skip", workdir=work)
    assert isinstance(disk.images, np.memmap) and disk.scratch == work / "decoded.npy"
    assert np.array_equal(np.asarray(disk.images), ram.images) and disk.kept.tolist() == ram.kept.tolist()
    assert disk.skipped == ram.skipped == [("bad.jpg", "not a JPEG or PNG image: unrecognised format")]
    disk.release()
    assert not (work / "decoded.npy").exists()


def test_data_info_describes_a_streamed_dataset_from_its_files(inet: Path, capsys) -> None:
    from classicnets.cli import main

    assert main(["data", "info", "imagenet", "--data-dir", str(inet)]) == 0
    out = capsys.readouterr().out
    assert "always streamed from the files" in out
    assert "torchvision's ImageNet constants" in out and "mean 0.4850, 0.4560, 0.4060" in out


def test_open_files_reuses_the_listing_of_the_plan(inet: Path, monkeypatch) -> None:
    calls = []
    real = st._layout
    monkeypatch.setattr(st, "_layout", lambda name, root: calls.append(name) or real(name, root))
    p = plan("imagenet", inet)
    files = open_files("imagenet", inet, layout=p.layout)
    assert calls == ["imagenet"]  # one walk of the tree, not two
    assert list(files["train"].files) == list(open_files("imagenet", inet)["train"].files)
