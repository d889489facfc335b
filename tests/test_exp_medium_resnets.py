"""The medium scale of degradation, lesion and paths, and ``--from pretrained`` (the bundled weights as runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classicnets.errors import InvalidInputError
from classicnets.experiments import run_experiment
from classicnets.experiments.framework import Context, get_experiment
from classicnets.models import pretrained as pt
from classicnets.train.recipes import get_recipe


def _ctx(name: str, tmp_path: Path, **options) -> Context:
    (tmp_path / "cifar-10-python.tar.xz").write_bytes(b"")  # the lossless copy, beside the JPEG one
    (tmp_path / "cifar10-jpg.tar.gz").write_bytes(b"")
    return Context(experiment=name, scale="medium", out=tmp_path / "out", data_dir=str(tmp_path), options=options)


def test_degradation_medium_trains_the_four_nets_with_the_fast_recipe_on_the_lossless_data(tmp_path) -> None:
    exp = get_experiment("degradation")
    specs = exp.plan(_ctx("degradation", tmp_path, train_sizes=[5000, 50000]))
    assert [s.key for s in specs] == ["plain56", "resnet56", "plain20", "resnet20",
                                      "plain56-n5000", "resnet56-n5000", "plain20-n5000", "resnet20-n5000"]
    assert {s.config.recipe for s in specs} == {"fast-cifar"}
    assert {s.config.data_dir for s in specs} == {str(tmp_path / "cifar-10-python.tar.xz")}
    full = [s for s in specs if s.config.train_subset is None]
    assert all(s.config.steps is None and s.config.epochs is None for s in full)  # the recipe's own length
    r = get_recipe("fast-cifar").values()
    steps = 50_000 // r["batch_size"] * r["epochs"]
    assert {s.config.steps for s in specs if s.config.train_subset} == {steps}  # subsets: as many steps
    assert f"{steps:,} iterations" in exp.scales["medium"]
    assert exp.needs_data["medium"] == "cifar10"


def test_lesion_and_paths_medium_use_the_converged_resnet56(tmp_path) -> None:
    lesion = get_experiment("lesion").plan(_ctx("lesion", tmp_path))
    assert [(s.key, s.config.recipe) for s in lesion] == [("plain56", "fast-cifar"), ("resnet56", "fast-cifar")]
    deg = {s.key: s.config for s in get_experiment("degradation").plan(_ctx("degradation", tmp_path))}
    assert all(deg[s.key] == s.config for s in lesion)  # the degradation runs serve with --from
    paths = get_experiment("paths").plan(_ctx("paths", tmp_path))
    assert [s.key for s in paths] == ["resnet56"] and paths[0].config == deg["resnet56"]
    assert get_experiment("lesion").plan(_ctx("lesion", tmp_path, **{"from": "pretrained"})) == []


def test_lesion_and_paths_from_pretrained_read_the_bundled_weights(tmp_path, monkeypatch) -> None:
    from classicnets.train.pretrained import bundle_run

    trained = tmp_path / "lesion"
    first = run_experiment("lesion", scale="smoke", out=trained, verbose=False)
    monkeypatch.setattr(pt, "WEIGHTS_DIR", tmp_path / "weights")
    with pytest.raises(InvalidInputError, match="resnet20 has no pretrained weights"):
        run_experiment("lesion", scale="smoke", out=tmp_path / "none", verbose=False, **{"from": "pretrained"})
    for name in ("resnet20", "plain20"):
        bundle_run(trained / "runs" / name)
    out = tmp_path / "lesion-pretrained"
    again = run_experiment("lesion", scale="smoke", out=out, verbose=False, **{"from": "pretrained"})
    assert again["runs"] == {} and not (out / "runs").exists()
    assert again["measurements"]["base_err"] == first["measurements"]["base_err"]
    assert again["measurements"]["networks"] == {f: str(out / "pretrained" / f"{f}20") for f in ("resnet", "plain")}
    assert json.loads((out / "pretrained" / "resnet20" / "pretrained.json").read_text())["dataset"] == "digits"
    p = run_experiment("paths", scale="smoke", out=tmp_path / "paths", verbose=False, **{"from": "pretrained"})
    assert p["runs"] == {} and [v["status"] for v in p["verdicts"]]
