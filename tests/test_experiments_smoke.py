"""Each experiment's smoke scale end to end: run directories, results.json, PNG figures and summary.md
with VERDICT lines computed from the measurements (the numbers of a few dozen steps on digits: the
pipeline is checked, not the claims)."""

from __future__ import annotations

import json

import pytest
from experiment_checks import check_outputs


def _engine_supports(option: str) -> bool:
    from classicnets.experiments.framework import engine_supports

    return engine_supports(option)


def test_degradation_smoke(tmp_path) -> None:
    from classicnets.experiments import run_experiment

    out = tmp_path / "degradation"
    r = run_experiment("degradation", scale="smoke", out=out, verbose=False)
    check_outputs(out, r, runs={"plain20", "plain32", "resnet20", "resnet32"},
                   figures={"fig6_plain.png", "fig6_resnet.png", "gradflow_initialization.png",
                            "gradflow_trained.png"})
    m = r["measurements"]
    assert set(m["errors"]) == {"plain20", "plain32", "resnet20", "resnet32"}
    states = {(g["model"], g["state"]) for g in m["gradflow"]}
    assert states == {(f, s) for f in ("plain32", "resnet32") for s in ("initialization", "trained")}
    assert [v["claim"].split(" ")[0] for v in r["verdicts"]] == ["plain-32", "ResNet-32"]


@pytest.mark.skipif(not _engine_supports("snapshot_every_steps"),
                    reason="the training engine lacks TrainConfig.snapshot_every_steps (requested for the "
                           "batchnorm experiment)")
def test_batchnorm_smoke(tmp_path) -> None:
    from classicnets.experiments import run_experiment

    out = tmp_path / "batchnorm"
    r = run_experiment("batchnorm", scale="smoke", out=out, verbose=False)
    keys = {"mlp", "mlp-bn"} | {f"cnn3{b}-lr{f}x" for b in ("", "-bn") for f in (1, 5, 30)}
    check_outputs(out, r, runs=keys, figures={"fig1a_mlp_test_accuracy.png",
                                               "fig1bc_sigmoid_input_percentiles.png", "cnn3_test_accuracy.png"})
    curve = r["measurements"]["curves"]["mlp-bn"]
    assert [row["step"] for row in curve] == [0, 10, 20, 30, 40]
    assert len(curve[0]["percentiles"]) == 100 and len(curve[0]["percentiles"][0]) == 3
    assert len(r["verdicts"]) == 7


def test_gap_smoke_via_the_command_line(tmp_path, capsys) -> None:
    from classicnets.cli import main

    out = tmp_path / "gap"
    assert main(["experiment", "run", "gap", "--scale", "smoke", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("VERDICT (") == 3 and f"summary: {out / 'summary.md'}" in printed
    r = json.loads((out / "results.json").read_text())
    check_outputs(out, {**r, "summary_path": str(out / "summary.md")}, runs={"gap", "fc"},
                   figures={"accuracy_vs_input_size.png", "cam_grid.png"})
    m = r["measurements"]["partitions"]["default"]
    assert m["fc_acc"]["8"] is not None and all(m["fc_acc"][s] is None for s in ("6", "12", "16"))
    assert all(m["gap_acc"][s] is not None for s in ("6", "8", "12", "16"))
    assert m["gap_head_params"] == 192 * 10 + 10 and m["fc_head_params"] == 192 * 2 * 2 * 10 + 10
