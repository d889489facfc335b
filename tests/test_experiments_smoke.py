"""Each experiment's smoke scale end to end (degradation, batchnorm, gap, lesion and its --from, paths,
factorization, inception): run directories, results.json, PNG figures and summary.md with VERDICT lines
computed from the measurements (the numbers of a few dozen steps on digits: the pipeline is checked, not
the claims)."""

from __future__ import annotations

import json

import pytest
from experiment_checks import check_outputs


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


def _check_outputs(out, result, *, runs, figures, verdicts):
    return check_outputs(out, result, runs=runs, figures=figures, verdicts=verdicts, extra_keys=("tables",),
                         min_width=400)


def test_lesion_smoke_then_from_its_runs(tmp_path) -> None:
    from classicnets.cli import main
    from classicnets.experiments import run_experiment

    out = tmp_path / "lesion"
    r = run_experiment("lesion", scale="smoke", out=out, verbose=False)
    data = _check_outputs(out, r, runs={"plain20", "resnet20"},
                          figures={"fig3_single_deletion.png", "fig5_deletion_reordering.png"}, verdicts=4)
    m = data["measurements"]
    assert m["blocks"] == 9 and m["eval_images"] == 359 and set(m["base_err"]) == {"resnet", "plain"}
    single = m["single_deletion"]
    assert [row["name"] for row in single] == [f"layer{s}.{i}" for s in (1, 2, 3) for i in range(3)]
    assert [row["is_downsampling"] for row in single].count(True) == 2
    assert [i for i, row in enumerate(single) if row["plain_err"] is None] == [3, 6]
    assert all(0 <= row["resnet_err"] <= 100 for row in single)
    assert {row["k"] for row in m["random_deletion"]} == set(range(1, 8))
    assert m["deletion_candidates"] == [0, 1, 2, 4, 5, 7, 8] and m["swappable_pairs"] == 5
    taus = [row["kendall_tau"] for row in m["reorder"]]
    assert taus and all(-1 <= t < 1 for t in taus)
    assert "two conv layers" in (out / "summary.md").read_text()

    # --from: no training, the same networks, the same numbers
    out2 = tmp_path / "lesion-from"
    assert main(["experiment", "run", "lesion", "--scale", "smoke", "--from", str(out), "--out", str(out2),
                 "--quiet"]) == 0
    again = json.loads((out2 / "results.json").read_text())
    assert again["runs"] == {} and not (out2 / "runs").exists()
    assert again["measurements"]["base_err"] == m["base_err"]
    assert [row["resnet_err"] for row in again["measurements"]["single_deletion"]] == \
        [row["resnet_err"] for row in single]
    assert "--from" in again["command"] and any("--from" in n for n in again["notes"])
    # an experiment that took its networks with --from stands for its sources (paths --from lesion-small)
    from classicnets.experiments.lesion import find_run_dirs

    assert find_run_dirs([out2]) == find_run_dirs([out]) == sorted((out / "runs").iterdir())

    # paths on the same trained network (--from a run directory), no training
    out3 = tmp_path / "paths-from"
    p = run_experiment("paths", scale="smoke", out=out3, verbose=False, **{"from": str(out / "runs" / "resnet20")})
    pdata = _check_outputs(out3, p, runs=set(), figures={"fig6_paths.png"}, verdicts=2)
    pm = pdata["measurements"]
    assert pm["blocks"] == 9 and pm["model"] == "resnet20"
    assert [s["state"] for s in pm["summary"]] == ["initialization", "trained"]
    rows = pm["paths"]["trained"]["rows"]
    assert [row["length"] for row in rows] == list(range(10))
    assert sum(row["total_gradient_share"] for row in rows) == pytest.approx(1.0)


def test_from_without_a_resnet_is_a_clear_error(tmp_path) -> None:
    from classicnets.errors import InvalidInputError
    from classicnets.experiments import run_experiment

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match=f"--from {empty}: no run directory"):
        run_experiment("lesion", scale="smoke", out=tmp_path / "x", verbose=False, **{"from": str(empty)})
    plain = tmp_path / "runs" / "plain20"
    plain.mkdir(parents=True)
    (plain / "config.toml").write_text('model = "plain20"\ndataset = "digits"\n')
    (plain / "data.json").write_text("{}")
    (plain / "result.json").write_text("{}")
    with pytest.raises(InvalidInputError, match="no finished ResNet run .* among .*plain20"):
        run_experiment("lesion", scale="smoke", out=tmp_path / "x", verbose=False,
                       **{"from": str(tmp_path / "runs")})
    with pytest.raises(InvalidInputError, match="no such file"):
        run_experiment("paths", scale="smoke", out=tmp_path / "y", verbose=False,
                       **{"from": str(tmp_path / "missing")})


def test_factorization_smoke(tmp_path) -> None:
    from classicnets.experiments import run_experiment

    out = tmp_path / "factorization"
    r = run_experiment("factorization", scale="smoke", out=out, verbose=False)
    keys = {"conv5x5", "conv3x3-3x3", "conv3x3-3x3-linear", "conv3x3", "conv1x3-3x1"}
    data = _check_outputs(out, r, runs=keys, figures={"training_curves.png", "accuracy_vs_cost.png"}, verdicts=3)
    nets = {n["run"]: n for n in data["measurements"]["nets"]}
    assert set(nets) == keys
    assert nets["conv3x3-3x3"]["params"] < nets["conv5x5"]["params"]
    assert nets["conv3x3-3x3"]["params"] == nets["conv3x3-3x3-linear"]["params"]
    assert nets["conv1x3-3x1"]["macs"] < nets["conv3x3"]["macs"]
    assert all(n["train_img_s"] > 0 and n["infer_img_s"] > 0 and 0 <= n["test_acc"] <= 1 for n in nets.values())
    assert data["measurements"]["n_test"] == 359


def test_paths_smoke(tmp_path) -> None:
    from classicnets.experiments import run_experiment

    out = tmp_path / "paths"
    r = run_experiment("paths", scale="smoke", out=out, verbose=False)
    data = _check_outputs(out, r, runs={"resnet20"}, figures={"fig6_paths.png"}, verdicts=2)
    assert data["measurements"]["blocks"] == 9


@pytest.mark.slow
def test_inception_smoke(tmp_path) -> None:
    from classicnets.experiments import run_experiment

    out = tmp_path / "inception"
    r = run_experiment("inception", scale="smoke", out=out, verbose=False)
    keys = {"base", "no-aux", "ls0.1", "rmsprop", "naive"}
    data = _check_outputs(out, r, runs=keys, figures={"training_curves.png", "reliability_diagram.png"}, verdicts=5)
    m = data["measurements"]
    assert set(m["calibration"]) == keys and m["bins"] == 15
    assert all(len(c["reliability"]) == 15 and 0 <= c["ece"] <= 1 for c in m["calibration"].values())
    assert m["modules"]["naive"]["params"] > m["modules"]["base"]["params"]
    assert m["modules"]["base"]["out_channels"] == 128 and m["modules"]["naive"]["out_channels"] == 416
    cfg = {k: data["runs"][k]["config"] for k in keys}
    assert cfg["no-aux"]["aux_weight"] == 0.0 and cfg["base"]["aux_weight"] == 0.3
    assert cfg["ls0.1"]["label_smoothing"] == 0.1 and cfg["rmsprop"]["optimizer"] == "rmsprop"
    assert cfg["rmsprop"]["rmsprop_eps"] == 1.0 and cfg["base"]["optimizer"] == "sgd"


def test_width_smoke(tmp_path) -> None:
    from classicnets.experiments import run_experiment

    out = tmp_path / "width"
    r = run_experiment("width", scale="smoke", out=out, verbose=False)
    check_outputs(out, r, runs={"base", "deep20", "wide2"}, figures={"error_vs_params.png"})
    nets = r["measurements"]["nets"]
    assert (nets["base"]["params"], nets["deep20"]["params"], nets["wide2"]["params"]) == (77_850, 272_282, 303_706)
    assert all(n["epoch_s"] > 0 and 0 <= n["test_err"] <= 100 for n in nets.values())
    assert [v["claim"].split(",")[0] for v in r["verdicts"]][:1] == ["at matched multiply-adds"]
    assert len(r["verdicts"]) == 3
