"""eval (and --fold-bn), predict, export (ONNX, pt2, safetensors), plot and the demo, over a trained run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from classicnets.cli import main
from classicnets.data import augment, load_dataset
from classicnets.train import TrainConfig, fit
from classicnets.train.eval_run import evaluate_run
from classicnets.train.runs import load_trained


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tools") / "run"
    fit(TrainConfig(model="resnet20", dataset="digits", steps=30, batch_size=64, threads=1, precision="fp32",
                    progress="none", out=str(out)))
    return out


def test_eval_reports_top1_top5_per_class_and_confusion(run: Path, capsys) -> None:
    assert main(["eval", str(run), "--format", "json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["n"] == 359 and 0.5 < s["top1"] <= s["top5"] <= 1
    rows = (run / "eval" / "confusion-test.csv").read_text().splitlines()
    conf = np.array([[int(v) for v in r.split(",")[1:]] for r in rows[1:]])
    assert conf.shape == (10, 10) and conf.sum() == 359
    assert conf.trace() / 359 == pytest.approx(s["top1"])
    assert list(s["per_class"]) == [str(i) for i in range(10)]
    # the final metrics row was measured on the same split with the same weights
    final = json.loads((run / "result.json").read_text())["final"]
    assert s["top1"] == pytest.approx(final["val_acc"]) and s["loss"] == pytest.approx(final["val_loss"], rel=1e-6)


def test_eval_fold_bn_gives_the_same_top1_and_logits(run: Path) -> None:
    plain = evaluate_run(run)
    folded = evaluate_run(run, fold_bn=True)
    assert folded["result"].top1 == plain["result"].top1
    assert torch.equal(folded["result"].confusion, plain["result"].confusion)
    from classicnets.models.fold import fold_batchnorm

    model = load_trained(run).model
    ds = load_dataset("digits", split="test")
    x = augment.normalize(torch.from_numpy(ds.images[:64]).permute(0, 3, 1, 2), ds.mean, ds.std)
    with torch.no_grad():
        a, b = model(x), fold_batchnorm(model)(x)
    rel = ((a - b).abs().max() / a.abs().max()).item()
    assert rel < 1e-4, rel


def test_eval_bare_weights_file_needs_the_model(run: Path, capsys) -> None:
    w = run / "weights" / "final.safetensors"
    import shutil

    bare = run.parent / "bare.safetensors"
    shutil.copy(w, bare)
    assert main(["eval", str(bare), "--dataset", "digits"]) == 2
    assert "--model NAME" in capsys.readouterr().err
    assert main(["eval", str(bare), "--dataset", "digits", "--model", "resnet20"]) == 0
    assert "top-1" in capsys.readouterr().out


def test_predict_on_a_saved_image(run: Path, capsys) -> None:
    from PIL import Image

    ds = load_dataset("digits", split="test")
    paths = []
    for i in (0, 1, 2):
        p = run.parent / f"digit{i}.png"
        Image.fromarray(ds.images[i, :, :, 0]).save(p)
        paths.append(str(p))
    assert main(["predict", str(run), *paths, "--top-k", "3", "--format", "json"]) == 0
    preds = json.loads(capsys.readouterr().out)
    model = load_trained(run).model
    x = augment.normalize(torch.from_numpy(ds.images[:3]).permute(0, 3, 1, 2), ds.mean, ds.std)
    with torch.no_grad():
        probs = torch.softmax(model(x), dim=1)
    for n, p in enumerate(preds):
        assert len(p["top"]) == 3 and p["top"][0]["prob"] >= p["top"][1]["prob"]
        assert p["top"][0]["index"] == int(probs[n].argmax())
        assert p["top"][0]["class"] == str(int(probs[n].argmax()))  # digits' class names are "0".."9"
        assert p["top"][0]["prob"] == pytest.approx(float(probs[n].max()), abs=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("onnxscript") is None or importlib.util.find_spec("onnx") is None,
                    reason="ONNX export needs onnx and onnxscript")
@pytest.mark.parametrize("fold", [False, True])
def test_export_onnx_round_trip(run: Path, fold: bool, capsys) -> None:
    args = ["export", str(run), "--format", "onnx"] + (["--fold-bn"] if fold else [])
    assert main(args) == 0
    out = capsys.readouterr().out
    path = run / "export" / ("model-folded.onnx" if fold else "model.onnx")
    assert path.is_file()
    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("onnxruntime not installed: the export was not checked")
    assert "onnxruntime: max |difference|" in out and out.strip().endswith(": ok")
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(5, 1, 8, 8)  # a batch size other than the example's: the batch dimension is dynamic
    got = torch.from_numpy(sess.run(None, {"images": x.numpy()})[0])
    with torch.no_grad():
        want = load_trained(run).model(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_export_pt2_and_safetensors_round_trip(run: Path, capsys) -> None:
    assert main(["export", str(run), "--format", "pt2"]) == 0
    assert capsys.readouterr().out.strip().endswith(": ok")
    program = torch.export.load(str(run / "export" / "model.pt2")).module()
    x = torch.randn(3, 1, 8, 8)
    model = load_trained(run).model
    with torch.no_grad():
        torch.testing.assert_close(program(x), model(x), rtol=1e-5, atol=1e-5)
    assert main(["export", str(run), "--format", "safetensors", "--fold-bn", "--out",
                 str(run.parent / "folded.safetensors")]) == 0
    from safetensors.torch import load_file

    keys = load_file(str(run.parent / "folded.safetensors")).keys()
    assert not any("running_mean" in k for k in keys), "folded weights have no BatchNorm left"


def test_export_of_a_bare_weights_file_never_overwrites_it(run: Path, tmp_path: Path, capsys) -> None:
    import shutil

    w = tmp_path / "digits-resnet20.safetensors"
    shutil.copy(run / "weights" / "final.safetensors", w)
    before = w.read_bytes()
    assert main(["export", str(w), "--model", "resnet20", "--dataset", "digits", "--format", "safetensors"]) == 0
    from safetensors.torch import load_file

    got, want = load_file(str(tmp_path / "export" / "digits-resnet20.safetensors")), load_file(str(w))
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)  # a new file, same tensors
    assert main(["export", str(w), "--model", "resnet20", "--dataset", "digits", "--format", "pt2"]) == 0
    program = torch.export.load(str(tmp_path / "export" / "digits-resnet20.pt2")).module()
    x = torch.randn(2, 1, 8, 8)  # the dataset's channels and size, not the builder's 3x32x32
    with torch.no_grad():
        torch.testing.assert_close(program(x), load_trained(run).model(x), rtol=1e-5, atol=1e-5)
    capsys.readouterr()
    assert main(["export", str(w), "--model", "resnet20", "--dataset", "digits", "--format", "safetensors",
                 "--out", str(w)]) == 2
    assert "is the weights file being exported" in capsys.readouterr().err
    assert w.read_bytes() == before


def test_plot_two_runs_as_png(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "curves.png"
    assert main(["plot", str(run), str(run), "--label", "a", "--label", "b", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert main(["plot", str(run), "--metric", "lr", "--out", str(tmp_path / "lr.png")]) == 0
    assert main(["plot", str(run), "--metric", "nope"]) == 2


def test_demo_runs_and_prints_both_models(tmp_path: Path, capsys) -> None:
    from classicnets.train import demo

    res = demo(out=tmp_path / "demo", epochs=0.3, threads=1, verbose=True)
    text = capsys.readouterr().out
    assert set(res["results"]) == {"plain56", "resnet56"} and res["plot"].is_file()
    assert "plain56" in res["table"] and "resnet56" in res["table"] and "test acc" in text


def test_demo_replaces_only_its_own_runs(tmp_path: Path) -> None:
    from classicnets.errors import InvalidInputError
    from classicnets.train import demo

    foreign = tmp_path / "demo" / "resnet56"  # the second model's folder: checked before the first is trained
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="is not a demo run of resnet56 on digits"):
        demo(out=tmp_path / "demo", epochs=0.1, threads=1, verbose=False)
    assert (foreign / "notes.txt").read_text() == "mine" and not (tmp_path / "demo" / "plain56").exists()

