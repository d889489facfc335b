"""Mistakes a user makes on the command line end in one line ``classicnets CMD: error: ...`` (exit 2) or in
the right result, never in a traceback, a hang or a silent surprise (issue 15, item 3)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from classicnets.analysis import parse_options
from classicnets.cli import build_parser, main
from classicnets.train import TrainConfig, fit
from classicnets.train.config import from_namespace

TINY = {"steps": 2, "batch_size": 4, "threads": 1, "precision": "fp32", "progress": "none"}


def refused(capsys, argv: list[str], *needles: str) -> str:
    """Run ``argv``: it must exit with status 2 and one error line (ours, or argparse's after its usage)
    that holds every needle."""
    try:
        status = main(argv)
    except SystemExit as e:  # argparse: "usage: ..." then "PROG: error: ..."
        status = e.code
    err = capsys.readouterr().err.strip()
    last = err.splitlines()[-1] if err else ""
    assert status == 2, err
    assert last.startswith(f"classicnets {argv[0]}") and ": error: " in last, err
    assert "Traceback" not in err and all(n in last for n in needles), err
    return last


def ours(capsys, argv: list[str], *needles: str) -> str:
    """Refused by the command itself (a UserError): exactly one line on stderr."""
    line = refused(capsys, argv, *needles)
    assert "usage:" not in line
    return line


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-errors")
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("val", 3)):
        for cls in ("cat", "dog"):
            d = root / "folder" / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(d / f"{i}.png")
    shutil.copytree(root / "folder" / "train", root / "train-only")
    Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / "img.png")
    # a 20000 x 20000 grey PNG, the first row of pixels only: Pillow refuses it by its header's size
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    png = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(20001))) + chunk(b"IEND", b"")
    (root / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + png)
    runs = {"digits": TrainConfig(model="resnet20", dataset="digits", **TINY),
            "folder": TrainConfig(model="resnet20", dataset="imagefolder", data_dir=str(root / "folder"),
                                  image_size=8, **TINY)}
    out = {"root": root, "img": root / "img.png", "bomb": root / "bomb.png", "images": root / "folder"}
    for name, cfg in runs.items():
        out[name] = fit(cfg.replace(out=str(root / f"run-{name}"))).run_dir
    return out


# -- --help of every command ------------------------------------------------------------------------------
def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, (*prefix, name))
    return found


@pytest.mark.parametrize("command", [c for c in _commands(build_parser()) if c]
                         + [("experiment", "run", "degradation")], ids=" ".join)
def test_help_of_every_command(command: tuple[str, ...], capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and out.startswith("usage: classicnets"), out


def test_train_help_states_the_ranges(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "about 10% faster" in out and "--seed N" in out and "0..4294967295" in out


# -- devices ----------------------------------------------------------------------------------------------
def test_predict_device_auto_works(files, capsys) -> None:
    assert main(["predict", str(files["digits"]), str(files["img"]), "--device", "auto", "--top-k", "2",
                 "--format", "json"]) == 0
    preds = json.loads(capsys.readouterr().out)
    assert len(preds[0]["top"]) == 2 and sum(t["prob"] for t in preds[0]["top"]) <= 1


@pytest.mark.parametrize("device", ["gpu", "cuda", "cuda:0", "mps", "tpu"])
def test_a_device_the_machine_lacks_is_one_line_everywhere(device: str, files, capsys, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    run, img = str(files["digits"]), str(files["img"])
    for argv in (["predict", run, img], ["eval", run], ["cam", run, img], ["gradflow", "resnet20"],
                 ["paths", "resnet20"], ["train", "resnet20", "--out", str(files["root"] / "no-run")],
                 ["experiment", "run", "degradation", "--scale", "smoke", "--out", str(files["root"] / "no-exp")]):
        ours(capsys, [*argv, "--device", device], f"--device {device}" if device != "tpu" else "--device 'tpu'")
    assert not (files["root"] / "no-run").exists() and not (files["root"] / "no-exp").exists()


# -- model options: one parser ----------------------------------------------------------------------------
def test_model_options_are_typed_the_same_by_every_command(capsys) -> None:
    items = ["batch_norm=false", "a=TRUE", "b=none", "c=3", "d=1e-3", "e=(3, 3)", "variant=v1.5", "f='x'"]
    want = {"batch_norm": False, "a": True, "b": None, "c": 3, "d": 1e-3, "e": (3, 3), "variant": "v1.5", "f": "x"}
    assert parse_options(items) == want
    args = argparse.Namespace(model="resnet20", model_args=items[:4])
    assert from_namespace(args).model_args == {k: want[k] for k in ("batch_norm", "a", "b", "c")}
    assert main(["summary", "resnet20", "-o", "batch_norm=false", "--format", "json"]) == 0
    assert "BatchNorm" not in capsys.readouterr().out  # was built with BatchNorm: 'false' was a truthy string
    ours(capsys, ["summary", "resnet20", "-o", "batch_norm"], "--model-arg expects KEY=VALUE", "'batch_norm'")
    ours(capsys, ["train", "resnet20", "--model-arg", "1x=2"], "--model-arg expects KEY=VALUE")


def test_one_model_option_flag_and_true_false_flags(capsys, tmp_path) -> None:
    """--model-arg, -o and --option are one flag in every command; a true/false option refuses anything else."""
    for flag in ("--model-arg", "-o", "--option"):
        assert main(["summary", "resnet20", flag, "batch_norm=false", "--format", "json"]) == 0
        assert "BatchNorm" not in capsys.readouterr().out
    ours(capsys, ["summary", "resnet20", "--model-arg", "batch_norm=maybe"], "batch_norm is true or false", "'maybe'")
    ours(capsys, ["train", "cnn3", "-o", "batch_norm=yes", "--out", str(tmp_path / "r")],
         "batch_norm is true or false", "'yes'")
    assert not (tmp_path / "r").exists()


# -- eval on the run's own data and split ---------------------------------------------------------------
def test_eval_of_an_image_folder_run_uses_its_data_and_its_val_split(files, capsys) -> None:
    assert main(["eval", str(files["folder"])]) == 0  # no --dataset, no --data-dir, no --split
    out = capsys.readouterr().out
    assert "on imagefolder, split 'val', 6 images" in out
    assert (files["folder"] / "eval" / "confusion-val.csv").is_file()
    assert main(["eval", str(files["folder"]), "--split", "train", "--format", "json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["split"] == "train" and s["n"] == 12
    ours(capsys, ["eval", str(files["folder"]), "--split", ""], "no split ''")


def test_eval_of_a_train_only_folder_run_uses_the_images_it_held_out(files, capsys) -> None:
    run = fit(TrainConfig(model="resnet20", dataset="imagefolder", data_dir=str(files["root"] / "train-only"),
                          image_size=8, val_split=0.5, out=str(files["root"] / "held-out"), **TINY)).run_dir
    assert main(["eval", str(run), "--format", "json"]) == 0
    s = json.loads(capsys.readouterr().out)
    final = json.loads((run / "result.json").read_text())["final"]
    assert s["split"] == "val" and s["n"] == 6 and s["top1"] == pytest.approx(final["val_acc"])
    ours(capsys, ["eval", str(run), "--split", "test"], "no split 'test'", "val (held out of train by the run)")


def test_gradflow_on_a_train_val_folder_measures_the_val_split(files, capsys, tmp_path: Path) -> None:
    assert main(["gradflow", "resnet20", "--dataset", "imagefolder", "--data-dir", str(files["images"]),
                 "--regime", "as-built", "--batch-size", "4", "--out", str(tmp_path)]) == 0
    assert "data: imagefolder val split, 4 real images" in capsys.readouterr().out


# -- output paths -----------------------------------------------------------------------------------------
def _output_cases(files) -> list[tuple[list[str], str]]:
    run, img, a_file, a_dir = str(files["digits"]), str(files["img"]), str(files["img"]), str(files["root"])
    return [(["train", "resnet20", "--out", a_file], "--out"),
            (["train", "resnet20", "--out", a_file + "/run"], "--out"),
            (["export", run, "--format", "safetensors", "--out", a_dir], "--out"),
            (["plot", run, "--out", a_dir], "--out"),
            (["plot", run, "--out", a_file + "/curves.png"], "--out"),
            (["cam", run, img, "--out", a_file], "--out"),
            (["eval", run, "--confusion", a_dir], "--confusion"),
            (["gradflow", "resnet20", "--out", a_file], "--out"),
            (["paths", "resnet20", "--out", a_file], "--out"),
            (["demo", "--out", a_file], "--out"),
            (["report", run, "--out", a_dir], "--out"),
            (["experiment", "run", "degradation", "--scale", "smoke", "--out", a_file], "--out"),
            (["data", "download", "mnist", "--root", a_file], "--root"),
            (["data", "info", "digits", "--cache-dir", a_file], "--cache-dir"),
            (["train", "resnet20", "--out", ""], "--out: the path is empty")]


def test_an_output_of_the_wrong_kind_is_refused_before_any_work(files, capsys) -> None:
    for argv, flag in _output_cases(files):
        line = ours(capsys, argv, flag)
        assert "is a file" in line or "is a folder" in line or "empty" in line, line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_refused(files, capsys, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        run = str(files["digits"])
        for argv in (["train", "resnet20", "--out", str(locked / "run")],
                     ["gradflow", "resnet20", "--out", str(locked)],
                     ["export", run, "--format", "safetensors", "--out", str(locked / "m.safetensors")],
                     ["plot", run, "--out", str(locked / "c.png")],
                     ["eval", run, "--confusion", str(locked / "c.csv")]):
            ours(capsys, argv, f"cannot write in {locked}")
    finally:
        locked.chmod(0o755)


def test_plot_writes_png_only(files, capsys, tmp_path: Path) -> None:
    ours(capsys, ["plot", str(files["digits"]), "--out", str(tmp_path / "c.jpg")], "give a file name ending in .png")
    assert not (tmp_path / "c.jpg").exists()


# -- numbers outside their documented ranges -----------------------------------------------------------------
RANGES = [
    (["export", "{run}", "--format", "safetensors", "--input-size", "1", "-8", "8"], "--input-size", "1..4096"),
    (["export", "{run}", "--format", "safetensors", "--input-size", "1", "100000", "100000"], "got 100000"),
    (["calc", "inception", "--size", "100000000"], "--size", "1..4096"),
    (["calc", "factorization", "--kernel", "0"], "--kernel", "2..1024"),
    (["gradflow", "resnet20", "--batch-size", "-4"], "--batch-size", "1..4096", "got -4"),
    (["paths", "resnet20", "--samples", "0"], "--samples", "1..1000"),
    (["gradflow", "resnet20", "--seed", "-1"], "--seed", "0..4294967295"),
    (["summary", "resnet20", "--input", "3,99999999999,32"], "--input", "1..4096"),
    (["summary", "resnet20", "--depth", "-1"], "--depth", "0..100"),
    (["predict", "{run}", "{img}", "--top-k", "0"], "--top-k", "1..1000"),
    (["eval", "{run}", "--batch-size", "0"], "--batch-size", "got 0"),
    (["data", "info", "imagefolder", "--size", "0"], "--size", "1..4096"),
    (["demo", "--epochs", "nan"], "--epochs", "(0, 1000]"),
    (["experiment", "run", "degradation", "--jobs", "0"], "--jobs", "got 0"),
    (["experiment", "run", "degradation", "--train-sizes", "0"], "--train-sizes", "positive whole numbers"),
    (["train", "resnet20", "--lr", "1e308"], "--lr must be in (0, 1e+09]; got 1e+308."),
    (["train", "resnet20", "--seed", "-1"], "--seed must be an integer in 0..4294967295; got -1."),
    (["train", "resnet20", "--seed", "99999999999999999999"], "--seed", "got 99999999999999999999"),
    (["train", "resnet20", "--dataset", "imagefolder", "--image-size", "100000"], "--image-size", "1..4096"),
    (["train", "resnet20", "--dataset", "imagefolder", "--image-size", "0"], "--image-size", "got 0"),
    (["train", "resnet20", "--threads", "1000"], "--threads", f"1..{os.cpu_count()}", "got 1000"),
    (["train", "resnet20", "--steps", "0"], "--steps", "got 0"),
    (["train", "resnet20", "--epochs", "1e308"], "--epochs", "(0, 100000]"),
    (["train", "resnet20", "--weight-decay", "1e300"], "--weight-decay", "[0, 1]"),
    (["train", "resnet20", "--milestones", "-1"], "--milestones must be 0 or more"),
]


@pytest.mark.parametrize("case", RANGES, ids=lambda c: " ".join(c[0][:4]))
def test_a_number_outside_its_range_names_the_flag_the_value_and_the_range(case, files, capsys,
                                                                           tmp_path: Path) -> None:
    argv, *needles = case
    argv = [a.format(run=files["digits"], img=files["img"]) for a in argv]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "run")]
    refused(capsys, argv, *needles)
    assert not (tmp_path / "run").exists()


def test_a_range_from_a_config_file_is_checked_too(capsys, tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('model = "resnet20"\nseed = -5\n')
    ours(capsys, ["train", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run")], "--seed", "got -5")


# -- files that are not what they should be ----------------------------------------------------------------
def test_a_decompression_bomb_is_one_line_in_predict_and_cam(files, capsys) -> None:
    for cmd in ("predict", "cam"):
        ours(capsys, [cmd, str(files["digits"]), str(files["bomb"])], str(files["bomb"]), "decompression bomb")


def test_a_config_that_is_not_toml(files, capsys) -> None:
    ours(capsys, ["train", "--config", str(files["img"])], str(files["img"]), "not a TOML file")
    ours(capsys, ["train", "--config", str(files["root"])], "is a folder")


def test_a_damaged_run_is_one_line(files, capsys, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(files["digits"], run)
    (run / "metrics.csv").write_text("epoch,step,lr,train_acc,val_acc\n1,x,0.1,0.5,0.5\n")
    ours(capsys, ["plot", str(run)], f"{run / 'metrics.csv'}, line 2", "'x' is not a number")
    (run / "metrics.csv").write_bytes(b"\xff\xfe\x00garbage")
    ours(capsys, ["plot", str(run)], f"cannot read {run / 'metrics.csv'}")
    (run / "metrics.csv").write_text("a,b\n1,2\n")
    ours(capsys, ["plot", str(run)], "not a metrics.csv")
    (run / "data.json").write_text('{"classes": 3}')
    for argv in (["eval", str(run)], ["predict", str(run), str(files["img"])], ["cam", str(run), str(files["img"])]):
        ours(capsys, argv, f"{run / 'data.json'} is damaged")


def test_eval_on_a_dataset_that_does_not_fit_the_model(files, capsys) -> None:
    ours(capsys, ["eval", str(files["digits"]), "--dataset", "imagefolder", "--data-dir", str(files["images"])],
         "does not fit the model (10 classes, 8x8x1 inputs)")


def test_export_checks_the_example_input_against_the_model(files, capsys) -> None:
    run = str(files["digits"])
    ours(capsys, ["export", run, "--format", "pt2", "--input-size", "3", "8", "8"], "1 input channel(s)")
    ours(capsys, ["export", run, "--format", "pt2", "--input-size", "1", "2", "2"], "at least 8x8")
    ours(capsys, ["export", run, "--format", "safetensors", "--dataset", "cifar10"],
         "was trained on digits; --dataset is for a bare weights file")
