"""Counts on the real datasets in ../shared/data (skipped where that folder is absent, as on users' machines)."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from classicnets.cli import main
from classicnets.data import load_splits
from classicnets.data.cifar import CIFAR10_CLASSES
from classicnets.data.flowers import FLOWERS17_CLASSES
from classicnets.data.mnist import MNIST_RAW_MD5

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _need(*names: str) -> None:
    for name in names:
        if not (SHARED_DATA / name).exists():
            pytest.skip(f"real data not available: {SHARED_DATA / name} is absent (only on the project's machines)")


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("classicnets-cache")


@pytest.fixture(scope="session")
def cifar10(real_cache: Path):
    _need("cifar10-jpg.tar.gz")
    return load_splits("cifar10", SHARED_DATA / "cifar10-jpg.tar.gz", cache_dir=real_cache)


def test_cifar10_counts(cifar10) -> None:
    assert (len(cifar10["train"]), len(cifar10["test"])) == (50_000, 10_000)
    assert cifar10["train"].class_counts().tolist() == [5_000] * 10
    assert cifar10["test"].class_counts().tolist() == [1_000] * 10
    assert cifar10["train"].classes == CIFAR10_CLASSES
    assert cifar10["train"].image_shape == (32, 32, 3)
    # the training statistics are those of CIFAR-10 (published: 0.4914, 0.4822, 0.4465; JPEG shifts them a little)
    np.testing.assert_allclose(cifar10["train"].mean, (0.4914, 0.4822, 0.4465), atol=0.002)


def test_mnist_counts_and_byte_exact_images(real_cache: Path) -> None:
    _need("mnist")
    splits = load_splits("mnist", SHARED_DATA, cache_dir=real_cache)
    assert (len(splits["train"]), len(splits["test"])) == (60_000, 10_000)
    assert splits["train"].class_counts().sum() == 60_000
    for split, prefix in (("train", "train"), ("test", "t10k")):
        raw = gzip.decompress((SHARED_DATA / "mnist" / f"{prefix}-images-idx3-ubyte.gz").read_bytes())
        assert hashlib.md5(raw).hexdigest() == MNIST_RAW_MD5[f"{prefix}-images-idx3-ubyte"]
        # what the loader returns is exactly the official file's pixel data
        rebuilt = raw[:16] + np.ascontiguousarray(splits[split].images).tobytes()
        assert hashlib.md5(rebuilt).hexdigest() == MNIST_RAW_MD5[f"{prefix}-images-idx3-ubyte"], split
        labels = gzip.decompress((SHARED_DATA / "mnist" / f"{prefix}-labels-idx1-ubyte.gz").read_bytes())
        rebuilt = labels[:8] + splits[split].labels.astype(np.uint8).tobytes()
        assert hashlib.md5(rebuilt).hexdigest() == MNIST_RAW_MD5[f"{prefix}-labels-idx1-ubyte"], split


def test_flowers17_counts(real_cache: Path) -> None:
    _need("17flowers.tgz")
    splits = load_splits("flowers17", SHARED_DATA, size=32, cache_dir=real_cache)  # small: quick to decode
    total = sum(np.bincount(d.labels, minlength=17) for d in splits.values())
    assert total.tolist() == [80] * 17
    assert {s: len(d) for s, d in splits.items()} == {"train": 680, "val": 340, "test": 340}
    assert splits["train"].classes == FLOWERS17_CLASSES
    assert "NON-OFFICIAL" in splits["train"].info["splits"]


@pytest.mark.parametrize("name, root, extra", [
    ("cifar10", "cifar10-jpg.tar.gz", []),
    ("mnist", ".", []),
    ("flowers17", "17flowers.tgz", ["--size", "32"]),
])
def test_cli_info_on_each_shared_dataset(name, root, extra, real_cache: Path, cifar10, capsys) -> None:
    _need(root)
    assert main(["data", "info", name, "--root", str(SHARED_DATA / root), "--cache-dir", str(real_cache),
                 *extra]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "mean (train, per channel)" in out and "(reused)" in out
