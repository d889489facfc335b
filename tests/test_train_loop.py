"""fit() on the embedded digits: the run directory, refusals, NaN stop, signals, every recipe."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from classicnets.cli import main
from classicnets.errors import InvalidInputError
from classicnets.runfiles import CSV_COLUMNS
from classicnets.train import NonFiniteLossError, TrainConfig, TrainingInterrupted, fit
from classicnets.train import checkpoint as ckpt
from classicnets.train.config import from_dict, load_toml

FAST = {"dataset": "digits", "batch_size": 64, "threads": 1, "precision": "fp32", "progress": "none"}


def test_run_directory_holds_every_file(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = fit(TrainConfig(model="resnet20", steps=30, log_every_steps=10, out=str(out), **FAST))
    for f in ("config.toml", "env.json", "classes.json", "data.json", "metrics.csv", "metrics.jsonl",
              "checkpoints/last.pt", "weights/best.safetensors", "weights/final.safetensors", "result.json"):
        assert (out / f).is_file(), f
    lines = (out / "metrics.csv").read_text().splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) == \
        "epoch,step,lr,train_loss,train_acc,val_loss,val_acc,val_top5,epoch_s,img_per_s"
    assert [ln.split(",")[:2] for ln in lines[1:]] == [["1", "22"], ["2", "30"]]  # 22 steps per epoch, 30 in all
    kinds = [json.loads(ln)["kind"] for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert kinds == ["step", "step", "epoch", "step", "epoch"]  # steps 10, 20 | 22 | 30 | 30
    assert json.loads((out / "classes.json").read_text()) == [str(i) for i in range(10)]
    env = json.loads((out / "env.json").read_text())
    assert {"python", "torch", "numpy", "classicnets", "git_commit", "cpu", "torch_threads"} <= env.keys()
    again = from_dict(load_toml(out / "config.toml"))
    assert again == r.config.replace(out=None) and again.lr == 0.1 and again.optimizer == "nesterov"  # default recipe
    assert r.steps == 30 and r.final["epoch"] == 2 and 0 <= r.final["val_acc"] <= 1
    assert r.final["val_acc"] > 0.5, r.final  # it learns: 30 steps reach well above chance (0.1)
    data = json.loads((out / "data.json").read_text())
    assert data["input_size"] == [1, 8, 8] and data["val_is_test"] and data["test"] == 359


def test_val_split_is_held_out_and_the_test_split_reported(tmp_path: Path) -> None:
    r = fit(TrainConfig(model="resnet20", steps=5, val_split=0.25, out=str(tmp_path / "v"), **FAST))
    data = json.loads((tmp_path / "v" / "data.json").read_text())
    assert (data["train"], data["val"], data["test"]) == (1079, 359, 359)  # 25% of each class, rounded
    assert r.test is not None and {"test_acc", "test_top5", "test_loss"} == set(r.test)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path, capsys) -> None:
    out = tmp_path / "nan"
    code = main(["train", "resnet20", "--dataset", "digits", "--steps", "40", "--lr", "1e6", "--out", str(out),
                 "--ckpt-every-steps", "1", "--threads", "1", "--precision", "fp32", "--progress", "none"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().count("\n") == 0, err
    assert ("NaN or infinite" in err or "loss became" in err) and "last good checkpoint is kept in" in err, err
    state = ckpt.load_checkpoint(out / "checkpoints" / "last.pt")
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    with pytest.raises(NonFiniteLossError, match="No checkpoint had been written yet"):  # before the first
        fit(TrainConfig(model="resnet20", steps=40, lr=1e6, out=str(tmp_path / "nan2"), **FAST))


def test_sigterm_writes_a_checkpoint_and_prints_the_resume_hint(tmp_path: Path) -> None:
    out = tmp_path / "sig"
    args = [sys.executable, "-m", "classicnets", "train", "resnet20", "--dataset", "digits", "--steps", "2000",
            "--threads", "1", "--precision", "fp32", "--log-every-steps", "1", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    jsonl = out / "metrics.jsonl"
    end = time.time() + 60
    while proc.poll() is None and time.time() < end and (not jsonl.exists() or jsonl.stat().st_size == 0):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().count("\n") == 0 and f"--out {out} --resume" in err, err
    state = ckpt.load_checkpoint(out / "checkpoints" / "last.pt")
    assert 0 < state["step"] < 2000


def test_existing_run_is_refused_and_resume_without_checkpoint_starts_over(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r"
    (out / "checkpoints").mkdir(parents=True)
    (out / "config.toml").write_text("")
    with pytest.raises(Exception, match="already holds a run"):
        fit(TrainConfig(model="resnet20", steps=2, out=str(out), **FAST))
    r = fit(TrainConfig(model="resnet20", steps=2, out=str(out), resume="", **{**FAST, "progress": "lines"}))
    assert r.steps == 2 and "no checkpoint in" in capsys.readouterr().out


def test_config_toml_reruns_into_a_new_directory_and_the_resume_hint_works(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    fit(TrainConfig(model="resnet20", steps=3, out=str(out), resume="", **FAST))
    saved = load_toml(out / "config.toml")
    assert "out" not in saved and "resume" not in saved  # written as comments only
    again = tmp_path / "again"
    assert main(["train", "--config", str(out / "config.toml"), "--out", str(again)]) == 0
    from safetensors.torch import load_file

    def same_weights(x: Path, y: Path) -> bool:
        p, q = (load_file(str(r / "weights" / "final.safetensors")) for r in (x, y))
        return p.keys() == q.keys() and all(torch.equal(p[k], q[k]) for k in p)

    assert same_weights(again, out)  # the re-run reproduces the run
    a = load_file(str(out / "weights" / "final.safetensors"))
    capsys.readouterr()
    toml_text = (out / "config.toml").read_text()
    assert "sources of the recipe values:\n#   " in toml_text
    hint = TrainingInterrupted(signal.SIGTERM, out, 3).hint
    command = hint.split("Resume with: classicnets ", 1)[1].split()
    assert main(command) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert f"resuming {out / 'checkpoints' / 'last.pt'}" in err and "note:" not in err, err  # stderr: --progress none
    assert main([*command, "--threads", "2"]) == 0  # allowed, but the rounding changes: said aloud
    assert "note: resumed with threads 1 -> 2; the results will differ in the last bits" in capsys.readouterr().err
    assert (out / "config.toml").read_text() == toml_text  # resuming keeps the file and its sources
    assert TrainingInterrupted(signal.SIGTERM, out, 3, world_size=2).hint.endswith(
        f"Resume with: torchrun --nproc-per-node 2 -m classicnets train --config {out / 'config.toml'} --out {out} "
        "--resume")
    env = json.loads((out / "env.json").read_text())  # the first session's, then each resumed session's
    assert env["torch_threads"] == 1 and [e["torch_threads"] for e in env["resumed"]] == [1, 2]
    b = load_file(str(out / "weights" / "final.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_option_values_and_dataset_model_args_are_refused(tmp_path: Path, capsys) -> None:
    base = ["train", "resnet20", "--dataset", "digits", "--steps", "1", "--threads", "1", "--progress", "none"]
    for extra, message in ((["--lr", "-0.1"], "--lr must be in (0, 1e+09]"),
                           (["--momentum", "1.5"], "--momentum must be in [0, 1)"),
                           (["--weight-decay=-1e-4"], "--weight-decay must be in [0, 1]"),
                           (["--model-arg", "num_classes=5"], "the dataset sets these")):
        out = tmp_path / extra[0].strip("-")
        assert main([*base, *extra, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.strip().count("\n") == 0, err
        assert not out.exists()
    assert main([*base, "--recipe", "bn-mnist", "--out", str(tmp_path / "other")]) == 0
    assert "note: recipe bn-mnist was written for mnist_mlp*; resnet20 trains with" in capsys.readouterr().err


def test_resume_from_a_path_refuses_to_write_over_another_run(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for run in (a, b):
        fit(TrainConfig(model="resnet20", steps=2, out=str(run), **FAST))
    loose = tmp_path / "loose.pt"
    loose.write_bytes((a / "checkpoints" / "last.pt").read_bytes())
    with pytest.raises(InvalidInputError, match="not inside a run's checkpoints/ folder"):
        fit(TrainConfig(model="resnet20", steps=2, resume=str(loose), **FAST))
    before = (b / "metrics.csv").read_text()
    with pytest.raises(InvalidInputError, match="already holds another run"):
        fit(TrainConfig(model="resnet20", steps=2, resume=str(a / "checkpoints" / "last.pt"), out=str(b), **FAST))
    assert (b / "metrics.csv").read_text() == before
    r = fit(TrainConfig(model="resnet20", steps=2, resume=str(loose), out=str(tmp_path / "c"), **FAST))
    assert r.steps == 2


def test_precision_and_memory_format_options_run(tmp_path: Path) -> None:
    r = fit(TrainConfig(model="resnet20", steps=3, out=str(tmp_path / "b"),
                        **{**FAST, "precision": "bf16"}, channels_last=True))
    assert r.steps == 3 and np.isfinite(r.final["train_loss"])
    with pytest.raises(Exception, match="fp16 needs CUDA"):
        fit(TrainConfig(model="resnet20", steps=1, out=str(tmp_path / "c"), device="cpu",
                        **{**FAST, "precision": "fp16"}))


@pytest.mark.slow
def test_compile_runs(tmp_path: Path) -> None:
    r = fit(TrainConfig(model="resnet20", steps=3, out=str(tmp_path / "k"), compile=True, **FAST))
    assert r.steps == 3


# -- every recipe takes a few steps ----------------------------------------------------------------
def write_image_folder(root: Path, size: int, n_train: int = 4, n_test: int = 2) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for c in ("cat", "dog"):
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return root


RECIPE_CASES = [
    ("resnet-cifar", "resnet20", {}, None),
    ("resnet-cifar", "resnet110", {}, None),  # with the warm-up
    ("nin-cifar", "nin_cifar10", {}, None),
    ("bn-mnist", "mnist_mlp", {"model_args": {"input_size": 8, "batch_norm": True}}, None),
    ("fast-cifar", "resnet20", {}, None),
    ("googlenet", "googlenet", {}, 32),  # without auxiliary heads: aux weight 0
    ("inception-v3", "inception_v3", {}, 75),
]


@pytest.mark.parametrize(("recipe", "model", "extra", "folder_size"), RECIPE_CASES,
                         ids=[f"{r}-{m}" for r, m, _, _ in RECIPE_CASES])
def test_every_recipe_takes_a_few_steps(recipe, model, extra, folder_size, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CLASSICNETS_CACHE", str(tmp_path / "cache"))
    kw = {**FAST, "batch_size": 16, **extra}
    if folder_size:
        kw.update(dataset="imagefolder", data_dir=str(write_image_folder(tmp_path / "img", folder_size + 4)),
                  image_size=folder_size, batch_size=4)
    r = fit(TrainConfig(model=model, recipe=recipe, steps=2, out=str(tmp_path / "run"), **kw))
    assert r.steps == 2 and np.isfinite(r.final["train_loss"]), r.final
    assert r.config.recipe == recipe
    notes = capsys.readouterr().err
    if recipe in ("googlenet", "inception-v3"):  # the model has no aux heads: the recipe's aux loss is dropped, aloud
        assert r.config.aux_weight == 0 and "note: aux_weight" in notes and "aux_logits=true" in notes, notes
    assert "written for" not in notes, notes  # each case uses a model of its recipe


@pytest.mark.slow
@pytest.mark.parametrize(("recipe", "model", "size"), [("googlenet", "googlenet", 224),
                                                       ("inception-v3", "inception_v3", 299)])
def test_recipes_with_auxiliary_heads(recipe, model, size, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CLASSICNETS_CACHE", str(tmp_path / "cache"))
    root = write_image_folder(tmp_path / "img", size, n_train=1, n_test=1)
    r = fit(TrainConfig(model=model, recipe=recipe, steps=1, out=str(tmp_path / "run"), dataset="imagefolder",
                        data_dir=str(root), image_size=size, batch_size=2, threads=2, precision="fp32",
                        progress="none", model_args={"aux_logits": True}))
    assert r.config.aux_weight in (0.3, 0.4) and np.isfinite(r.final["train_loss"])


def test_fit_leaves_global_torch_settings_as_they_were(tmp_path: Path) -> None:
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    fit(TrainConfig(model="resnet20", steps=1, out=str(tmp_path / "g"), deterministic=True,
                    **{**FAST, "threads": 2}))
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before


def test_run_state_round_trips_and_reads_one_list_totals_of_older_checkpoints() -> None:
    state = ckpt.RunState(step=7, epoch=1, batch=3, totals=[1.5, 2.0, 3.0, 0.25],
                          history=[{"kind": "step", "step": 5}], best={"val_acc": 0.5, "epoch": 1}, wall_before=2.0)
    saved = {**state.to_dict(gather=lambda x: [x, x]), "wall_s": 2.0}
    assert list(saved) == ["step", "epoch", "batch", "rng", "totals", "history", "best", "wall_s"]
    assert len(saved["rng"]) == 2 and saved["totals"] == [[1.5, 2.0, 3.0, 0.25]] * 2
    again = ckpt.RunState.from_dict(saved, rank=1)
    assert again == state
    older = {k: v for k, v in saved.items() if k != "wall_s"} | {"totals": [1.5, 2.0, 3.0, 0.25]}
    assert ckpt.RunState.from_dict(older).totals == [1.5, 2.0, 3.0, 0.25]
    assert ckpt.RunState.from_dict(older).wall_before == 0.0
