"""Dataset readers on small files written in the exact official formats, and their error messages."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from classicnets.data import CorruptImageError, get_spec, list_datasets, load_dataset, load_splits
from classicnets.data._unpickle import restricted_loads
from classicnets.data.cifar import CIFAR10_CLASSES
from classicnets.data.flowers import FLOWERS17_CLASSES, seeded_partition
from classicnets.errors import InvalidInputError, MissingFileError, UnknownOptionError, UserError


# -- writers for the official formats -------------------------------------------
def _py2_emit(obj, out: list[bytes]) -> None:
    """Pickle opcodes as Python 2's cPickle (protocol 2) wrote the official CIFAR batches."""
    if isinstance(obj, dict):
        out.append(b"}(")
        for k, v in obj.items():
            _py2_emit(k, out)
            _py2_emit(v, out)
        out.append(b"u")
    elif isinstance(obj, list):
        out.append(b"](")
        for v in obj:
            _py2_emit(v, out)
        out.append(b"e")
    elif isinstance(obj, bool):
        out.append(b"\x88" if obj else b"\x89")
    elif isinstance(obj, int):
        out.append(b"K" + bytes([obj]) if 0 <= obj < 256 else b"J" + struct.pack("<i", obj))
    elif obj is None:
        out.append(b"N")
    elif isinstance(obj, bytes):  # a Python 2 str: SHORT_BINSTRING / BINSTRING
        out.append(b"U" + bytes([len(obj)]) + obj if len(obj) < 256 else b"T" + struct.pack("<I", len(obj)) + obj)
    elif isinstance(obj, tuple):
        out.append(b"(")
        for v in obj:
            _py2_emit(v, out)
        out.append(b"t")
    elif isinstance(obj, np.ndarray):  # numpy 1.x: _reconstruct(ndarray, (0,), 'b') + BUILD state
        out.append(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n")
        _py2_emit((0,), out)
        _py2_emit(b"b", out)
        out.append(b"\x87R(K\x01")
        _py2_emit(tuple(obj.shape), out)
        out.append(b"cnumpy\ndtype\n")
        _py2_emit(b"u1", out)
        out.append(b"K\x00K\x01\x87R")
        _py2_emit((3, b"|", None, None, None, -1, -1, 0), out)
        out.append(b"b\x89")
        _py2_emit(obj.tobytes(), out)
        out.append(b"tb")
    else:
        raise TypeError(type(obj))


def py2_pickle(obj) -> bytes:
    out = [b"\x80\x02"]
    _py2_emit(obj, out)
    out.append(b".")
    return b"".join(out)


def cifar_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def cifar_rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) -> the official (N, 3072) rows: 1024 R, 1024 G, 1024 B."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), 3072))


def write_cifar10(root: Path, per_batch: int = 4, archive: bool = True) -> tuple[Path, dict]:
    """A miniature cifar-10-python.tar.gz (or its folder); returns the path and the expected arrays."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    truth = {"train": ([], []), "test": ([], [])}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        x = cifar_images(per_batch, i)
        y = [(i + k) % 10 for k in range(per_batch)]
        batch = {b"batch_label": f"batch {i}".encode(), b"labels": y, b"data": cifar_rows(x),
                 b"filenames": [f"img_{i}_{k}.png".encode() for k in range(per_batch)]}
        (folder / name).write_bytes(py2_pickle(batch))
        split = "test" if name == "test_batch" else "train"
        truth[split][0].append(x)
        truth[split][1].extend(y)
    meta = {b"num_cases_per_batch": per_batch, b"label_names": [c.encode() for c in CIFAR10_CLASSES],
            b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    expected = {s: (np.concatenate(xs), np.array(ys)) for s, (xs, ys) in truth.items()}
    if not archive:
        return folder, expected
    path = root / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        tf.add(folder, arcname="cifar-10-batches-py")
    return path, expected


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_mnist(folder: Path, n_train: int = 12, n_test: int = 5, gz: bool = True) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        for kind, arr, magic in (("images-idx3", x, 0x803), ("labels-idx1", y, 0x801)):
            data = idx_bytes(arr, magic)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
        out["train" if prefix == "train" else "test"] = (x, y)
    return out


def jpeg(color, size=(10, 8), quality=90) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def png(color, size=(10, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def tar_tree(src: Path, dest: Path, arcname: str = ".") -> Path:
    with tarfile.open(dest, "w:gz") as tf:
        tf.add(src, arcname=arcname)
    return dest


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


# -- CIFAR ------------------------------------------------------------------------
@pytest.mark.parametrize("archive", [True, False], ids=["tar.gz", "folder"])
def test_cifar10_official_format(tmp_path: Path, cache: Path, archive: bool) -> None:
    path, expected = write_cifar10(tmp_path / "src", archive=archive)
    splits = load_splits("cifar10", path, cache_dir=cache)
    assert list(splits) == ["train", "test"]
    for split, (x, y) in expected.items():
        ds = splits[split]
        assert ds.images.shape == x.shape == (len(y), 32, 32, 3), ds.images.shape
        np.testing.assert_array_equal(ds.images, x)  # channel planes rebuilt in the right order
        np.testing.assert_array_equal(ds.labels, y)
        assert ds.labels.dtype == np.int64
        assert ds.classes == CIFAR10_CLASSES
    train = expected["train"][0] / 255.0
    np.testing.assert_allclose(splits["test"].mean, train.mean(axis=(0, 1, 2)), rtol=1e-9)
    np.testing.assert_allclose(splits["test"].std, train.std(axis=(0, 1, 2)), rtol=1e-9)


def test_cifar10_found_from_parent_folder(tmp_path: Path, cache: Path) -> None:
    write_cifar10(tmp_path)  # tmp_path holds cifar-10-python.tar.gz and the extracted folder
    ds = load_dataset("cifar10", tmp_path, "test", cache_dir=cache)
    assert len(ds) == 4


def test_cifar100_official_format(tmp_path: Path, cache: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    fine = [f"class_{i:02d}" for i in range(100)]
    truth = {}
    for split, n in (("train", 7), ("test", 3)):
        x = cifar_images(n, n)
        y = [(13 * k) % 100 for k in range(n)]
        batch = {b"filenames": [b"f"] * n, b"batch_label": split.encode(), b"fine_labels": y,
                 b"coarse_labels": [k % 20 for k in y], b"data": cifar_rows(x)}
        (folder / split).write_bytes(py2_pickle(batch))
        truth[split] = (x, y)
    (folder / "meta").write_bytes(py2_pickle({b"fine_label_names": [f.encode() for f in fine],
                                              b"coarse_label_names": [b"c"] * 20}))
    path = tar_tree(folder, tmp_path / "cifar-100-python.tar.gz", arcname="cifar-100-python")
    splits = load_splits("cifar100", path, cache_dir=cache)
    for split, (x, y) in truth.items():
        np.testing.assert_array_equal(splits[split].images, x)
        np.testing.assert_array_equal(splits[split].labels, y)
    assert list(splits["train"].classes) == fine


def test_cifar_label_count_mismatch(tmp_path: Path, cache: Path) -> None:
    folder, _ = write_cifar10(tmp_path, archive=False)
    bad = {b"labels": [1, 2, 3], b"data": cifar_rows(cifar_images(4, 0))}
    (folder / "data_batch_3").write_bytes(py2_pickle(bad))
    with pytest.raises(InvalidInputError, match=r"data_batch_3: 4 images but 3 labels"):
        load_dataset("cifar10", folder, cache_dir=cache)


def test_cifar_missing_batch(tmp_path: Path, cache: Path) -> None:
    folder, _ = write_cifar10(tmp_path, archive=False)
    (folder / "test_batch").unlink()
    with pytest.raises(MissingFileError, match="test_batch is missing"):
        load_dataset("cifar10", folder, cache_dir=cache)


# -- the restricted unpickler ---------------------------------------------------------
class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _WritesFile:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


@pytest.mark.parametrize("payload", [_RunsCode, _WritesFile])
@pytest.mark.parametrize("protocol", [2, 4])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path: Path, cache: Path, payload, protocol) -> None:
    marker = tmp_path / "marker"
    evil = {b"data": cifar_rows(cifar_images(4, 0)), b"labels": [0, 1, 2, 3], b"x": payload(marker)}
    blob = pickle.dumps(evil, protocol=protocol)
    with pytest.raises(InvalidInputError, match=r"refused to load: global '[\w.]+' is not allowed"):
        restricted_loads(blob, source="evil")
    assert not marker.exists()
    # the same file dropped into a dataset folder
    folder, _ = write_cifar10(tmp_path / "ds", archive=False)
    (folder / "data_batch_2").write_bytes(blob)
    with pytest.raises(InvalidInputError, match="data_batch_2: refused to load"):
        load_dataset("cifar10", folder, cache_dir=cache)
    assert not marker.exists()
    # and a control: unpickling it without restrictions would have run the payload
    pickle.loads(blob)
    assert marker.exists()


def test_unpickler_admits_exactly_the_official_content() -> None:
    x = np.arange(12, dtype=np.uint8).reshape(2, 6)
    out = restricted_loads(py2_pickle({b"data": x, b"labels": [1, 300], b"name": b"n"}), source="ok")
    np.testing.assert_array_equal(out[b"data"], x)
    assert out[b"labels"] == [1, 300]
    # numpy 2 spelling of the reconstructor is admitted too (a batch re-saved by Python 3, protocol 2)
    blob = py2_pickle({b"data": x}).replace(b"numpy.core.multiarray", b"numpy._core.multiarray")
    np.testing.assert_array_equal(restricted_loads(blob, source="np2")[b"data"], x)
    # any other global is not, even a harmless one
    with pytest.raises(InvalidInputError, match="global 'builtins.print' is not allowed"):
        restricted_loads(pickle.dumps(print, protocol=4), source="x")
    # an object array would let the file smuggle arbitrary objects: refused
    with pytest.raises(InvalidInputError, match="refusing dtype"):
        restricted_loads(py2_pickle({b"data": x}).replace(b"U\x02u1", b"U\x02O8"), source="obj")


def test_truncated_pickle(tmp_path: Path, cache: Path) -> None:
    folder, _ = write_cifar10(tmp_path, archive=False)
    blob = (folder / "data_batch_1").read_bytes()
    (folder / "data_batch_1").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(InvalidInputError, match="data_batch_1: not a readable CIFAR batch pickle"):
        load_dataset("cifar10", folder, cache_dir=cache)


# -- cifar10 from an image-folder archive (like the shared JPEG tarball) -----------------
def test_cifar10_from_jpeg_tree_archive(tmp_path: Path, cache: Path) -> None:
    colors = {c: (20 * i, 255 - 20 * i, 7 * i) for i, c in enumerate(CIFAR10_CLASSES)}
    files = {}
    for split, n in (("train", 2), ("test", 1)):
        for c in reversed(CIFAR10_CLASSES):
            for k in range(n):
                files[f"{split}/{c}/{k:04d}.jpg"] = jpeg(colors[c], (32, 32))
    src = write_tree(tmp_path / "tree", files)
    arc = tar_tree(src, tmp_path / "cifar10-jpg.tar.gz")
    splits = load_splits("cifar10", tmp_path / "cifar10-jpg.tar.gz", cache_dir=cache, workers=1)
    assert [len(splits[s]) for s in ("train", "test")] == [20, 10]
    assert splits["train"].class_counts().tolist() == [2] * 10
    # labels follow the official class order, and each image has its class colour
    for i, c in enumerate(CIFAR10_CLASSES):
        img = splits["test"].images[splits["test"].labels == i][0]
        assert np.abs(img.astype(int).mean(axis=(0, 1)) - colors[c]).max() < 4, c
    # the same through a folder that holds the archive, by the same dataset name
    assert len(load_dataset("cifar10", arc.parent, "test", cache_dir=cache)) == 10


def test_cifar10_tree_with_wrong_classes(tmp_path: Path, cache: Path) -> None:
    src = write_tree(tmp_path / "t", {"train/cat/0.jpg": jpeg((1, 2, 3), (32, 32)),
                                      "train/dog/0.jpg": jpeg((1, 2, 3), (32, 32))})
    with pytest.raises(InvalidInputError, match="expected the ten CIFAR-10 classes"):
        load_dataset("cifar10", src, cache_dir=cache)


# -- MNIST / Fashion-MNIST ----------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_official_format(tmp_path: Path, cache: Path, gz: bool, name: str) -> None:
    truth = write_mnist(tmp_path / "m", gz=gz)
    splits = load_splits(name, tmp_path / "m", cache_dir=cache)
    for split, (x, y) in truth.items():
        assert splits[split].images.shape == (len(y), 28, 28, 1)
        np.testing.assert_array_equal(splits[split].images[..., 0], x)
        np.testing.assert_array_equal(splits[split].labels, y)
    assert len(splits["train"].classes) == 10
    assert (splits["train"].classes[0] == "T-shirt/top") == (name == "fashion_mnist")


def _corrupt_idx(folder: Path, name: str, data: bytes) -> None:
    (folder / f"{name}.gz").write_bytes(gzip.compress(data))


def test_idx_truncated(tmp_path: Path, cache: Path) -> None:
    write_mnist(tmp_path / "m")
    x = np.zeros((12, 28, 28), np.uint8)
    _corrupt_idx(tmp_path / "m", "train-images-idx3-ubyte", idx_bytes(x, 0x803)[:-100])
    with pytest.raises(InvalidInputError, match=r"train-images-idx3-ubyte.gz: truncated: the header announces 12 "
                                                r"items \(9408 bytes of data\) but only 9308 bytes follow"):
        load_dataset("mnist", tmp_path / "m", cache_dir=cache)


def test_idx_wrong_magic(tmp_path: Path, cache: Path) -> None:
    write_mnist(tmp_path / "m")
    y = np.zeros(5, np.uint8)
    _corrupt_idx(tmp_path / "m", "t10k-images-idx3-ubyte", idx_bytes(y, 0x801))
    with pytest.raises(InvalidInputError, match=r"t10k-images-idx3-ubyte.gz: wrong magic number 0x00000801; IDX "
                                                r"images files start with 0x00000803 \(.*swapped\?\)"):
        load_dataset("mnist", tmp_path / "m", cache_dir=cache)


def test_idx_count_mismatch(tmp_path: Path, cache: Path) -> None:
    write_mnist(tmp_path / "m")
    _corrupt_idx(tmp_path / "m", "train-labels-idx1-ubyte", idx_bytes(np.zeros(11, np.uint8), 0x801))
    with pytest.raises(InvalidInputError, match="holds 12 images but .*train-labels-idx1-ubyte.gz holds 11 labels"):
        load_dataset("mnist", tmp_path / "m", cache_dir=cache)


def test_idx_bad_gzip_and_missing_file(tmp_path: Path, cache: Path) -> None:
    write_mnist(tmp_path / "m")
    gz = tmp_path / "m" / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:40])
    with pytest.raises(InvalidInputError, match="train-images-idx3-ubyte.gz: corrupt or truncated gzip"):
        load_dataset("mnist", tmp_path / "m", cache_dir=cache)
    gz.unlink()
    with pytest.raises(MissingFileError, match=r"lacks train-images-idx3-ubyte\[.gz\]"):
        load_dataset("mnist", tmp_path / "m", cache_dir=cache)


# -- 17 Flowers ---------------------------------------------------------------------
def write_flowers(root: Path, archive: bool = True) -> Path:
    files = {f"jpg/image_{n:04d}.jpg": jpeg(((n - 1) // 80 * 15, 0, 0), (12, 9), quality=95)
             for n in range(1, 1361)}
    files["jpg/files.txt"] = "\n".join(f"image_{n:04d}.jpg" for n in range(1, 1361)).encode()
    tree = write_tree(root / "tree", files)
    if not archive:
        return tree
    return tar_tree(tree / "jpg", root / "17flowers.tgz", arcname="jpg")


def test_flowers17_official_layout(tmp_path: Path, cache: Path) -> None:
    tgz = write_flowers(tmp_path)
    splits = load_splits("flowers17", tgz, cache_dir=cache, size=8, workers=1)
    assert {s: len(d) for s, d in splits.items()} == {"train": 680, "val": 340, "test": 340}
    for s, per in (("train", 40), ("val", 20), ("test", 20)):
        assert splits[s].class_counts().tolist() == [per] * 17, s
        assert splits[s].image_shape == (8, 8, 3)
    assert splits["train"].classes == FLOWERS17_CLASSES
    assert "NON-OFFICIAL" in splits["train"].info["splits"]
    # label = (n - 1) // 80: the red channel encodes the class
    reds = splits["test"].images[..., 0].astype(int).mean(axis=(1, 2))
    np.testing.assert_allclose(reds, splits["test"].labels * 15, atol=4)
    # the three partitions: disjoint within, different between, fixed by the seed
    parts = [seeded_partition(p) for p in (1, 2, 3)]
    for p in parts:
        allp = np.concatenate(list(p.values()))
        assert sorted(allp.tolist()) == list(range(1, 1361))
    assert not np.array_equal(parts[0]["test"], parts[1]["test"])
    np.testing.assert_array_equal(parts[0]["test"], seeded_partition(1)["test"])
    p2 = load_dataset("flowers17", tgz, "test", cache_dir=cache, size=8, partition=2)
    assert p2.info["partition"] == 2 and len(p2) == 340
    # the extracted folder gives the same images
    tree = tmp_path / "tree"
    same = load_dataset("flowers17", tree, "test", cache_dir=cache, size=8)
    np.testing.assert_array_equal(same.images, splits["test"].images)


def test_flowers17_official_splits_file(tmp_path: Path, cache: Path) -> None:
    scipy_io = pytest.importorskip("scipy.io")
    tgz = write_flowers(tmp_path)
    rng = np.random.default_rng(5)
    mat = {}
    for p in (1, 2, 3):
        perm = rng.permutation(1360) + 1
        mat[f"trn{p}"], mat[f"val{p}"], mat[f"tst{p}"] = (perm[None, :680].astype(float),
                                                          perm[None, 680:1020].astype(float),
                                                          perm[None, 1020:].astype(float))
    scipy_io.savemat(tmp_path / "datasplits.mat", mat)  # next to 17flowers.tgz: used automatically
    ds = load_dataset("flowers17", tgz, "val", cache_dir=cache, size=8, partition=3)
    assert ds.info["splits"].startswith("official (datasplits.mat, partition 3)")
    expected_labels = (np.sort(mat["val3"].ravel().astype(int)) - 1) // 80
    np.testing.assert_array_equal(ds.labels, expected_labels)


def test_flowers17_missing_image(tmp_path: Path, cache: Path) -> None:
    tree = write_flowers(tmp_path, archive=False)
    (tree / "jpg" / "image_0042.jpg").unlink()
    with pytest.raises(MissingFileError, match=r"lacks 1 of the 1360 images \(first: jpg/image_0042.jpg\)"):
        load_dataset("flowers17", tree, cache_dir=cache, size=8)


# -- image folders ---------------------------------------------------------------------
def test_imagefolder_flat_and_split_layouts(tmp_path: Path, cache: Path) -> None:
    flat = write_tree(tmp_path / "flat", {"b/1.png": png((0, 0, 255)), "a/1.jpg": jpeg((255, 0, 0)),
                                          "a/sub/2.JPEG": jpeg((250, 0, 0)), "a/notes.txt": b"x",
                                          ".hidden/1.jpg": b"junk", "a/._1.jpg": b"junk"})
    ds = load_dataset("imagefolder", flat, cache_dir=cache, workers=1)
    assert ds.classes == ("a", "b") and ds.labels.tolist() == [0, 0, 1]
    assert ds.image_shape == (8, 10, 3)
    with pytest.raises(InvalidInputError, match="no split 'test'.*available: train"):
        load_dataset("imagefolder", flat, "test", cache_dir=cache)

    files = {f"{s}/{c}/{k}.jpg": jpeg((k, 0, 0)) for s in ("train", "val") for c in ("x", "y") for k in range(2)}
    nested = write_tree(tmp_path / "nested" / "wrapper", files)
    splits = load_splits("imagefolder", nested.parent, cache_dir=cache, workers=1)
    assert {s: len(d) for s, d in splits.items()} == {"train": 4, "val": 4}
    arc = tar_tree(nested.parent, tmp_path / "set.tar")
    from_tar = load_splits("imagefolder", arc, cache_dir=cache, workers=1)
    for s in ("train", "val"):
        np.testing.assert_array_equal(from_tar[s].images, splits[s].images)
        np.testing.assert_array_equal(from_tar[s].labels, splits[s].labels)


def test_imagefolder_resizes_to_size(tmp_path: Path, cache: Path) -> None:
    src = write_tree(tmp_path / "s", {"a/wide.jpg": jpeg((9, 9, 9), (60, 20)), "b/tall.png": png((1, 2, 3), (7, 30))})
    with pytest.raises(InvalidInputError, match="is 7x30 but .*wide.jpg is 60x20.*pass size=N"):
        load_dataset("imagefolder", src, cache_dir=cache, workers=1)
    ds = load_dataset("imagefolder", src, cache_dir=cache, size=16, workers=1)
    assert ds.images.shape == (2, 16, 16, 3)


def test_imagefolder_empty_class_and_stray_file(tmp_path: Path, cache: Path) -> None:
    src = write_tree(tmp_path / "s", {"a/1.jpg": jpeg((1, 1, 1))})
    (src / "empty").mkdir()
    with pytest.raises(InvalidInputError, match=r"class folder empty is empty"):
        load_dataset("imagefolder", src, cache_dir=cache)
    (src / "empty").rmdir()
    (src / "stray.jpg").write_bytes(jpeg((1, 1, 1)))
    with pytest.raises(InvalidInputError, match="stray.jpg is not inside a class folder"):
        load_dataset("imagefolder", src, cache_dir=cache)


def test_imagefolder_empty_class_inside_archive(tmp_path: Path, cache: Path) -> None:
    src = write_tree(tmp_path / "s", {"train/a/1.jpg": jpeg((1, 1, 1))})
    (src / "train" / "b").mkdir()
    arc = tar_tree(src, tmp_path / "a.tar.gz")
    with pytest.raises(InvalidInputError, match=r"a.tar.gz: class folder train/b is empty"):
        load_dataset("imagefolder", arc, cache_dir=cache)


def test_corrupt_jpeg_raise_or_skip(tmp_path: Path, cache: Path) -> None:
    good = jpeg((200, 10, 10), (16, 16))
    src = write_tree(tmp_path / "s", {"a/1.jpg": good, "a/2.jpg": good[: len(good) // 2], "b/1.jpg": good,
                                      "b/2.jpg": b"not an image at all"})
    with pytest.raises(CorruptImageError, match=r"a/2.jpg is not a readable image \(OSError: .*[Tt]runcated"
                                                r".*on_error='skip'"):
        load_dataset("imagefolder", src, cache_dir=cache, workers=1)
    ds = load_dataset("imagefolder", src, cache_dir=cache, on_error="skip", workers=1)
    assert len(ds) == 2 and ds.labels.tolist() == [0, 1]
    assert [name for name, _ in ds.info["skipped"]] == ["a/2.jpg", "b/2.jpg"]
    assert ds.info["skipped"][1][1] == "not a JPEG or PNG image: unrecognised format"
    # a cache entry built by skipping does not silently satisfy a strict load
    with pytest.raises(CorruptImageError, match="built with on_error='skip'"):
        load_dataset("imagefolder", src, cache_dir=cache)


@pytest.mark.parametrize("workers", [1, 2])
def test_skip_when_a_whole_chunk_is_corrupt(workers: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from classicnets.data import images as img

    monkeypatch.setattr(img, "CHUNK", 2)
    items = [(f"bad{k}", b"junk") for k in range(3)] + [(f"ok{k}", jpeg((40 * k, 0, 0))) for k in range(3)]
    r = img.decode_many(items, workers=workers, on_error="skip")
    assert r.images.shape == (3, 8, 10, 3) and r.kept.tolist() == [3, 4, 5]
    assert [n for n, _ in r.skipped] == ["bad0", "bad1", "bad2"]


def test_parallel_decode_matches_serial(tmp_path: Path) -> None:
    from classicnets.data import images as img

    items = [(f"{k}.jpg", jpeg((k % 256, 3 * k % 256, 7), (12, 12))) for k in range(2 * img.CHUNK + 5)]
    serial = img.decode_many(items, workers=1)
    parallel = img.decode_many(items, workers=2)
    np.testing.assert_array_equal(serial.images, parallel.images)
    assert serial.images.shape == (len(items), 12, 12, 3)


# -- digits, registry, options ----------------------------------------------------------
def test_digits_is_offline_and_fixed() -> None:
    train = load_dataset("digits")
    test = load_dataset("digits", split="test")
    assert (len(train), len(test)) == (1438, 359)
    assert train.images.dtype == np.uint8 and train.image_shape == (8, 8, 1)
    assert train.images.max() == 255 and test.class_counts().min() >= 35
    again = load_dataset("digits", split="test")
    np.testing.assert_array_equal(again.labels, test.labels)


def test_registry_and_unknown_names(tmp_path: Path) -> None:
    assert list_datasets() == ["cifar10", "cifar100", "digits", "fashion_mnist", "flowers17", "imagefolder",
                               "imagenet", "mnist"]
    with pytest.raises(InvalidInputError, match="unknown dataset 'cifar-1O'. Did you mean 'cifar10'"):
        load_dataset("cifar-1O", tmp_path)
    assert get_spec("Fashion-MNIST").name == "fashion_mnist"
    with pytest.raises(UnknownOptionError, match="mnist: unknown option.*partition"):
        load_dataset("mnist", tmp_path, partition=2)
    with pytest.raises(InvalidInputError, match="fixed image size"):
        load_dataset("cifar10", tmp_path, size=64)
    with pytest.raises(MissingFileError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nope")
    with pytest.raises(MissingFileError, match="found neither 17flowers.tgz"):
        load_dataset("flowers17", tmp_path)
    assert issubclass(MissingFileError, UserError)


def test_truncated_archives(tmp_path: Path, cache: Path) -> None:
    files = {f"train/{c}/{k}.jpg": jpeg((k, 9, 9), (16, 16), quality=100) for c in ("a", "b") for k in range(20)}
    src = write_tree(tmp_path / "s", files)
    arc = tar_tree(src, tmp_path / "set.tar.gz")
    whole = load_dataset("imagefolder", arc, cache_dir=cache, workers=1)
    assert len(whole) == 40
    data = arc.read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InvalidInputError, match=r"cut.tar.gz: cannot read it as a tar archive .*truncated"):
        load_dataset("imagefolder", tmp_path / "cut.tar.gz", cache_dir=cache, workers=1)
    plain = tmp_path / "set.tar"
    with tarfile.open(plain, "w") as tf:
        tf.add(src, arcname=".")
    raw = plain.read_bytes()
    for cut in (len(raw) // 2, len(raw) // 2 // 512 * 512):  # inside a member / on a member boundary
        (tmp_path / "cut.tar").write_bytes(raw[:cut])
        with pytest.raises(InvalidInputError, match=r"cut.tar: cannot read it as a tar archive"):
            load_dataset("imagefolder", tmp_path / "cut.tar", cache_dir=cache, workers=1)
