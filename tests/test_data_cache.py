"""The decode-once cache: reuse, memory maps, invalidation, atomic publication, cache folder choice."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from classicnets.data import cache as cache_mod
from classicnets.data import default_cache_dir, load_dataset, load_splits
from classicnets.data._core import CacheWriteError


def _write_mnist(folder: Path, value: int = 7, n: int = 10) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        x = np.full((n, 28, 28), value, np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">IIII", 0x803, n, 28, 28) + x.tobytes()))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">II", 0x801, n) + y.tobytes()))


def _entries(cache: Path, name: str) -> list[Path]:
    d = cache / "data" / name
    return sorted(p for p in d.iterdir()) if d.exists() else []


def test_second_load_reuses_the_memory_mapped_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_mnist(tmp_path / "m")
    cache = tmp_path / "c"
    first = load_dataset("mnist", tmp_path / "m", cache_dir=cache)
    assert first.info["cache_hit"] is False
    (entry,) = _entries(cache, "mnist")
    assert sorted(p.name for p in entry.iterdir()) == ["meta.json", "test_images.npy", "test_labels.npy",
                                                       "train_images.npy", "train_labels.npy"]
    import classicnets.data.mnist as mnist

    def fail(*a, **k):
        raise AssertionError("the source was decoded again")

    monkeypatch.setattr(mnist, "parse_idx", fail)
    again = load_dataset("mnist", tmp_path / "m", "test", cache_dir=cache)
    assert again.info["cache_hit"] is True
    assert isinstance(again.images, np.memmap) and not again.images.flags.writeable
    assert again.images[0, 0, 0, 0] == 7


def test_changed_source_rebuilds_and_drops_the_stale_entry(tmp_path: Path) -> None:
    _write_mnist(tmp_path / "m", value=7)
    cache = tmp_path / "c"
    load_dataset("mnist", tmp_path / "m", cache_dir=cache)
    (old,) = _entries(cache, "mnist")
    _write_mnist(tmp_path / "m", value=9)  # same names and sizes, new content
    ds = load_dataset("mnist", tmp_path / "m", cache_dir=cache)
    assert ds.info["cache_hit"] is False and int(ds.images[0, 0, 0, 0]) == 9
    (new,) = _entries(cache, "mnist")
    assert new != old and not old.exists()


def test_extracted_folder_keyed_by_size_and_mtime(tmp_path: Path) -> None:
    from PIL import Image

    src = tmp_path / "imgs"
    for c in ("a", "b"):
        (src / c).mkdir(parents=True)
        Image.new("RGB", (4, 4), (10, 20, 30)).save(src / c / "1.png")
    cache = tmp_path / "c"
    assert load_dataset("imagefolder", src, cache_dir=cache, workers=1).info["cache_hit"] is False
    assert load_dataset("imagefolder", src, cache_dir=cache, workers=1).info["cache_hit"] is True
    Image.new("RGB", (4, 4), (200, 20, 30)).save(src / "b" / "1.png")
    st = (src / "b" / "1.png").stat()
    os.utime(src / "b" / "1.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    ds = load_dataset("imagefolder", src, cache_dir=cache, workers=1)
    assert ds.info["cache_hit"] is False and ds.images[1, 0, 0, 0] > 150
    assert len(_entries(cache, "imagefolder")) == 1


def test_each_cache_resolution_is_its_own_entry(tmp_path: Path) -> None:
    from PIL import Image

    src = tmp_path / "imgs"
    (src / "a").mkdir(parents=True)
    Image.new("RGB", (40, 30), (1, 2, 3)).save(src / "a" / "1.jpg")
    cache = tmp_path / "c"
    assert load_dataset("imagefolder", src, size=8, cache_dir=cache, workers=1).image_shape == (8, 8, 3)
    assert load_dataset("imagefolder", src, size=16, cache_dir=cache, workers=1).image_shape == (16, 16, 3)
    assert len(_entries(cache, "imagefolder")) == 2
    assert load_dataset("imagefolder", src, size=8, cache_dir=cache, workers=1).info["cache_hit"] is True


def test_a_crash_while_writing_leaves_no_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_mnist(tmp_path / "m")
    cache = tmp_path / "c"
    calls = []

    def crash(path, array):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        np.save(path, array)

    monkeypatch.setattr(cache_mod, "save_npy", crash)
    with pytest.raises(CacheWriteError, match=r"cannot write the cache entry under .* \(disk full\)"):
        load_dataset("mnist", tmp_path / "m", cache_dir=cache)
    assert os.listdir(cache / "data" / "mnist") == []  # no entry, no temporary folder left behind
    monkeypatch.undo()
    assert load_dataset("mnist", tmp_path / "m", cache_dir=cache).info["cache_hit"] is False


def test_cache_folder_from_env_and_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSICNETS_CACHE", str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    _write_mnist(tmp_path / "m")
    load_dataset("mnist", tmp_path / "m")
    assert len(_entries(tmp_path / "env", "mnist")) == 1
    load_dataset("mnist", tmp_path / "m", cache_dir=tmp_path / "arg")
    assert len(_entries(tmp_path / "arg", "mnist")) == 1
    monkeypatch.delenv("CLASSICNETS_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "classicnets"


def test_no_cache_mode_writes_nothing(tmp_path: Path) -> None:
    _write_mnist(tmp_path / "m")
    splits = load_splits("mnist", tmp_path / "m", cache=False, cache_dir=tmp_path / "c")
    assert len(splits["train"]) == 10 and splits["train"].info["cache_path"] is None
    assert not (tmp_path / "c").exists()


def test_default_root_is_the_download_folder(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    with pytest.raises(FileNotFoundError, match=r"nothing downloaded at .*downloads/mnist.*data download mnist"):
        load_dataset("mnist", cache_dir=cache)
    _write_mnist(cache / "downloads" / "mnist")
    assert len(load_dataset("mnist", cache_dir=cache)) == 10


def test_clear_cache(tmp_path: Path) -> None:
    from classicnets.data import clear_cache

    _write_mnist(tmp_path / "m")
    load_dataset("mnist", tmp_path / "m", cache_dir=tmp_path / "c")
    assert len(_entries(tmp_path / "c", "mnist")) == 1
    clear_cache(tmp_path / "c", "mnist")
    assert _entries(tmp_path / "c", "mnist") == []
