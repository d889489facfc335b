"""Which splits a run trains, validates and tests on, for image folders with and without their own splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from classicnets.cli import main

BASE = ["--steps", "2", "--batch-size", "4", "--threads", "1", "--progress", "none", "--image-size", "32",
        "--precision", "fp32"]


def image_tree(root: Path, per_class: int = 10) -> Path:
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_val_split_makes_the_evaluation_split_of_a_train_only_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CLASSICNETS_CACHE", str(tmp_path / "cache"))
    root = image_tree(tmp_path / "pets")
    out = tmp_path / "run"
    args = ["train", "resnet20", "--dataset", "imagefolder", "--data-dir", str(root), *BASE]
    assert main([*args, "--val-split", "0.3", "--out", str(out)]) == 0
    data = json.loads((out / "data.json").read_text())
    assert (data["train"], data["val"], data["test"]) == (14, 6, 6)  # 3 of each class held out, 7 kept
    assert data["val_is_test"] is True  # the held-out images are the only evaluation split


def test_a_train_only_folder_without_val_split_names_the_flag(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CLASSICNETS_CACHE", str(tmp_path / "cache"))
    root = image_tree(tmp_path / "pets")
    args = ["train", "resnet20", "--dataset", "imagefolder", "--data-dir", str(root), *BASE,
            "--out", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no test or val split" in err and "--val-split FRACTION" in err


def test_a_folder_over_the_cache_budget_trains_streamed_with_a_notice(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CLASSICNETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CLASSICNETS_CACHE_BUDGET", "1K")  # far below the 20 decoded images
    root = tmp_path / "pets"
    for split in ("train", "val"):
        image_tree(root / split)
    out = tmp_path / "run"
    args = ["train", "resnet20", "--dataset", "imagefolder", "--data-dir", str(root), *BASE,
            "--augment", "resized-crop-flip", "--out", str(out)]
    assert main(args) == 0
    assert "streaming from the files" in capsys.readouterr().err
    data = json.loads((out / "data.json").read_text())
    assert data["streaming"] is True and (data["train"], data["val"]) == (20, 20)
    assert data["input_size"] == [3, 32, 32]
    assert not (tmp_path / "cache" / "data").exists()  # nothing was decoded into the cache
    assert main(["eval", str(out)]) == 0  # streamed as well, on the split the run validated on
    text = capsys.readouterr().out
    assert "split 'val', 20 images" in text, text
    final = json.loads((out / "result.json").read_text())["final"]["val_acc"]
    assert f"top-1 {100 * final:.2f}%" in text, (final, text)  # the same images, crops and numbers as training
    assert main([*args, "--augment", "crop-flip", "--out", str(tmp_path / "run2")]) == 2
    assert "the ImageNet presets" in capsys.readouterr().err


def test_subsets_that_round_to_nothing_say_so(tmp_path: Path, capsys) -> None:
    base = ["train", "resnet20", "--dataset", "digits", *BASE[:-4], "--out", str(tmp_path / "run")]
    assert main([*base, "--train-subset", "3"]) == 2
    assert "--train-subset 3 keeps no image: it is taken per class, and 10 classes" in capsys.readouterr().err
    assert main([*base, "--val-split", "0.999"]) == 2
    assert "--val-split 0.999 leaves 0 training" in capsys.readouterr().err
