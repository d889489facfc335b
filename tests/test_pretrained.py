"""Bundled pretrained weights: create_model(name, pretrained=True), pretrained_cfg, eval --pretrained, bundling."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from classicnets.cli import main
from classicnets.errors import InvalidInputError
from classicnets.models import create_model, list_models
from classicnets.models import pretrained as pt
from classicnets.models.weights import read_state_dict
from classicnets.train import TrainConfig, fit
from classicnets.train.eval_run import evaluate_run
from classicnets.train.pretrained import bundle_run

CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar-10-python.tar.xz"
SHIPPED = pt.pretrained_models()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pretrained") / "run"
    fit(TrainConfig(model="resnet20", dataset="digits", steps=30, batch_size=64, threads=1, precision="fp32",
                    progress="none", out=str(out), seed=3))
    return out


@pytest.fixture()
def bundled(run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The digits run bundled into a fresh folder that stands in for the package's."""
    monkeypatch.setattr(pt, "WEIGHTS_DIR", tmp_path / "weights")
    return bundle_run(run)


def test_bundled_run_loads_with_its_cfg_and_measured_accuracy(run: Path, bundled: dict) -> None:
    net = create_model("resnet20", pretrained=True)
    want = read_state_dict(run / "weights" / "final.safetensors")
    assert all(torch.equal(v, want[k]) for k, v in net.state_dict().items())
    cfg = net.pretrained_cfg
    assert set(pt.CFG_KEYS) <= set(cfg)
    assert cfg["dataset"] == "digits" and cfg["num_classes"] == 10 and cfg["input_size"] == [1, 8, 8]
    assert cfg["recipe"] == "default" and cfg["seed"] == 3 and len(cfg["commit"]) == 40
    assert cfg["epochs"] == round(30 * 64 / json.loads((run / "data.json").read_text())["train"], 2)
    measured = evaluate_run(run, split="test", precision="fp32")["summary"]["top1"]
    assert cfg["test_acc"] == round(100 * measured, 2)
    data = (pt.WEIGHTS_DIR / cfg["file"]).read_bytes()
    assert cfg["sha256"] == hashlib.sha256(data).hexdigest()
    assert list_models("resnet*", pretrained=True) == ["resnet20"]
    assert create_model("resnet20").pretrained_cfg is None


def test_a_run_directory_made_from_the_weights_reads_like_the_run(run: Path, bundled: dict, tmp_path: Path) -> None:
    from classicnets.train.pretrained import pretrained_run
    from classicnets.train.runs import load_trained

    made = pretrained_run("resnet20", tmp_path / "made")
    got, want = load_trained(made), load_trained(run)
    assert got.classes == want.classes and got.mean == want.mean and got.input_size == want.input_size
    assert all(torch.equal(v, want.model.state_dict()[k]) for k, v in got.model.state_dict().items())
    result = json.loads((made / "result.json").read_text())["final"]
    assert round(100 * result["val_acc"], 2) == bundled["test_acc"]
    assert result["train_acc"] == pytest.approx(json.loads((run / "result.json").read_text())["final"]["train_acc"],
                                                abs=5e-5)


def test_eval_pretrained_measures_the_recorded_accuracy(bundled: dict, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", "--model", "resnet20", "--pretrained", "--format", "json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["split"] == "test" and round(100 * s["top1"], 2) == bundled["test_acc"]
    assert s["confusion_csv"] is None


def test_predict_pretrained_uses_the_cfg_classes(bundled: dict, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    from PIL import Image

    img = tmp_path / "seven.png"
    Image.fromarray((torch.rand(8, 8) * 255).byte().numpy(), mode="L").save(img)
    assert main(["predict", "--model", "resnet20", "--pretrained", str(img), str(img), "--top-k", "10",
                 "--format", "json"]) == 0
    preds = json.loads(capsys.readouterr().out)
    assert len(preds) == 2 and preds[0] == preds[1]
    assert [t["class"] for t in preds[0]["top"]] != [] and abs(sum(t["prob"] for t in preds[0]["top"]) - 1) < 1e-5
    x = torch.from_numpy(np.asarray(Image.open(img), dtype=np.float32) / 255)[None, None]
    mean, std = bundled["mean"][0], bundled["std"][0]
    with torch.no_grad():
        want = create_model("resnet20", pretrained=True).eval()((x - mean) / std).softmax(1)[0]
    assert preds[0]["top"][0]["class"] == bundled["classes"][int(want.argmax())]
    assert abs(preds[0]["top"][0]["prob"] - float(want.max())) < 1e-5
    assert main(["predict", "--pretrained", str(img)]) != 0
    assert "--pretrained needs --model NAME" in capsys.readouterr().err


def test_models_lists_the_weights_and_their_accuracy(bundled: dict, capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "resnet2*", "--pretrained", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["pretrained"]) for r in rows] == [
        ("resnet20", {"dataset": "digits", "test_acc": bundled["test_acc"]})]


def test_another_num_classes_keeps_the_backbone_and_resets_the_classifier(bundled: dict) -> None:
    base = create_model("resnet20", pretrained=True)
    net = create_model("resnet20", pretrained=True, num_classes=3)
    assert net.num_classes == 3 and net.fc.out_features == 3
    assert torch.equal(net.conv1.weight, base.conv1.weight)


def test_bundling_again_replaces_the_weights_and_removes_the_old_file(run: Path, bundled: dict) -> None:
    old = pt.WEIGHTS_DIR / bundled["file"]
    data = bytearray(old.read_bytes())
    data[-1] ^= 1  # other bytes: another digest, another file name
    cfg = {k: v for k, v in bundled.items() if k not in ("file", "sha256")}
    entry = pt.add_pretrained("resnet20", bytes(data), cfg)
    assert entry["file"] != bundled["file"] and not old.exists()
    assert pt.pretrained_cfg("resnet20")["sha256"] == hashlib.sha256(bytes(data)).hexdigest()
    assert sorted(p.name for p in pt.WEIGHTS_DIR.iterdir()) == sorted([entry["file"], pt.INDEX])


def test_a_tampered_file_is_refused(bundled: dict) -> None:
    path = pt.WEIGHTS_DIR / bundled["file"]
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidInputError, match=r"sha256 .* is not the recorded .*reinstall"):
        create_model("resnet20", pretrained=True)


def test_other_options_than_the_weights_are_refused(bundled: dict) -> None:
    with pytest.raises(InvalidInputError, match="pretrained weights of resnet20"):
        create_model("resnet20", pretrained=True, batch_norm=False)


def test_a_model_without_weights_names_those_with_weights(bundled: dict, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(InvalidInputError, match=r"^resnet32 has no pretrained weights; models with weights: "
                                                r"resnet20\.$"):
        create_model("resnet32", pretrained=True)
    assert main(["eval", "--model", "resnet32", "--pretrained"]) != 0
    err = capsys.readouterr().err
    assert "resnet32 has no pretrained weights" in err and "Traceback" not in err


def test_eval_pretrained_with_a_run_is_refused(run: Path, bundled: dict, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", str(run), "--model", "resnet20", "--pretrained"]) != 0
    assert "give no run or weights file" in capsys.readouterr().err
    assert main(["eval"]) != 0
    assert "--model NAME --pretrained" in capsys.readouterr().err


def test_an_unfinished_run_is_not_bundled(run: Path, tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    for f in run.iterdir():
        if f.is_file() and f.name != "result.json":
            (tmp_path / "r" / f.name).write_bytes(f.read_bytes())
    with pytest.raises(InvalidInputError, match="has not finished"):
        bundle_run(tmp_path / "r", folder=tmp_path / "w")


# -- the weights shipped in the package -----------------------------------------------------------------------
def test_the_shipped_weights_have_a_complete_cfg() -> None:
    assert "resnet20" in SHIPPED  # resnet56 follows from the degradation experiment's medium runs
    for name, cfg in SHIPPED.items():
        assert set(pt.CFG_KEYS) <= set(cfg), name
        assert cfg["dataset"] == "cifar10" and cfg["input_size"] == [3, 32, 32] and cfg["num_classes"] == 10
        data = (pt.WEIGHTS_DIR / cfg["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == cfg["sha256"], name
        assert len(data) < 8 * 2**20, f"{name}: only small CIFAR nets are bundled"


@pytest.mark.skipif(not CIFAR.is_file(), reason=f"needs the lossless CIFAR-10 at {CIFAR}")
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_accuracy_is_what_eval_measures(name: str) -> None:
    s = evaluate_run(None, pretrained=True, model=name, data_dir=str(CIFAR))["summary"]
    assert s["split"] == "test" and s["n"] == 10000
    assert round(100 * s["top1"], 2) == SHIPPED[name]["test_acc"]
