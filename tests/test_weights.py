"""Weights I/O: safetensors round trip, safe .pth loading, clear mismatch messages, atomic writes."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

import classicnets
from classicnets.models import weights as W


def _model(**kw):
    return classicnets.create_model("resnet20", **kw)


def test_safetensors_round_trip(tmp_path) -> None:
    a, b = _model(), _model()
    path = classicnets.save_weights(a, tmp_path / "w.safetensors")
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    classicnets.load_weights(b, path)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb), ka


def test_pth_state_dict_and_checkpoint_dict(tmp_path) -> None:
    a = _model()
    torch.save(a.state_dict(), tmp_path / "w.pth")
    torch.save({"model": a.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    for f in ("w.pth", "ckpt.pt"):
        b = classicnets.load_weights(_model(), tmp_path / f)
        assert torch.equal(b.fc.weight, a.fc.weight)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_code_is_refused(tmp_path) -> None:
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"fc.weight": _Evil()}, f)
    with pytest.raises(ValueError, match=r"weights_only=True"):
        classicnets.load_weights(_model(), path)


def test_shape_mismatch_names_first_offending_key(tmp_path) -> None:
    path = classicnets.save_weights(_model(num_classes=100), tmp_path / "w.safetensors")
    msg = r"tensor 'fc.weight' has shape \(100, 64\) but CifarResNet expects \(10, 64\)"
    with pytest.raises(ValueError, match=msg):
        classicnets.load_weights(_model(), path)


def test_missing_key_and_other_model(tmp_path) -> None:
    path = classicnets.save_weights(classicnets.create_model("plain20"), tmp_path / "p.safetensors")
    with pytest.raises(ValueError, match=r"missing 12 key\(s\), first 'layer2\.0\.downsample\.0\.weight'"):
        classicnets.load_weights(_model(shortcut="B"), path)


def test_missing_and_corrupt_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        classicnets.load_weights(_model(), tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00\x01garbage")
    with pytest.raises(ValueError, match="corrupt or not safetensors"):
        classicnets.load_weights(_model(), bad)
    badpt = tmp_path / "bad.pt"
    badpt.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="cannot read"):
        classicnets.load_weights(_model(), badpt)
    txt = tmp_path / "w.txt"
    txt.write_text("x")
    with pytest.raises(ValueError, match="unknown weights format"):
        classicnets.load_weights(_model(), txt)


def test_crash_during_write_keeps_previous_file(tmp_path, monkeypatch) -> None:
    good = _model()
    path = classicnets.save_weights(good, tmp_path / "w.safetensors")
    before = path.read_bytes()

    def crashing_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(W, "save_file", crashing_save)
    with pytest.raises(RuntimeError, match="simulated crash"):
        classicnets.save_weights(_model(), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]


def test_atomic_writes_get_ordinary_permissions(tmp_path, monkeypatch) -> None:
    """A written file is readable as a plain open() would leave it (not the 0600 of a temporary file),
    and rewriting a file keeps the mode its owner gave it."""
    import stat
    from pathlib import Path

    from classicnets import _io

    if os.name != "posix":
        pytest.skip("POSIX file modes")
    monkeypatch.setattr(_io, "_UMASK", 0o022)
    new = _io.atomic_write(tmp_path / "a.txt", lambda tmp: Path(tmp).write_text("x"))
    assert stat.S_IMODE(new.stat().st_mode) == 0o644
    os.chmod(new, 0o640)
    _io.atomic_write(new, lambda tmp: Path(tmp).write_text("y"))
    assert stat.S_IMODE(new.stat().st_mode) == 0o640 and new.read_text() == "y"
    os.chmod(new, 0o444)  # a read-only file is still replaced, and stays read-only
    _io.atomic_write(new, lambda tmp: Path(tmp).write_text("z"))
    assert stat.S_IMODE(new.stat().st_mode) == 0o444 and new.read_text() == "z"
