"""Run directories written by the version before the restructure still resume, evaluate, list and report.

The fixtures in ``tests/fixtures/runs/`` were written by commit ea68a03 (``tests/fixtures/make_runs.py``):
``finished/`` is a whole 2-epoch cnn3 run on the embedded digits, ``stopped/`` the same run stopped by
SIGTERM at its first checkpoint. Resuming ``stopped`` with today's code must end bit-identical to
``finished``: same weights, same metrics rows (timing columns aside).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from classicnets.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "runs"
TIMING = ("epoch_s", "img_per_s")


def _rows(run: Path) -> list[list[str]]:
    lines = (run / "metrics.csv").read_text().splitlines()
    keep = [i for i, h in enumerate(lines[0].split(",")) if h not in TIMING]
    return [[row.split(",")[i] for i in keep] for row in lines]


def test_stopped_run_of_the_previous_version_resumes_to_the_same_weights(tmp_path: Path) -> None:
    run = tmp_path / "stopped"
    shutil.copytree(FIXTURES / "stopped", run)
    torch.set_num_threads(1)
    assert main(["train", "--config", str(run / "config.toml"), "--out", str(run), "--resume",
                 "--progress", "none"]) == 0
    want, got = load_file(str(FIXTURES / "finished" / "weights" / "final.safetensors")), \
        load_file(str(run / "weights" / "final.safetensors"))
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want), "the resumed run's weights differ from the old run's"
    assert _rows(run) == _rows(FIXTURES / "finished")


def test_finished_run_of_the_previous_version_evaluates_to_its_recorded_accuracy(tmp_path: Path, capsys) -> None:
    run = tmp_path / "finished"
    shutil.copytree(FIXTURES / "finished", run)
    recorded = json.loads((run / "result.json").read_text())["final"]["val_acc"]
    assert main(["eval", str(run), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert abs(out["top1"] - recorded) < 1e-9, (out["top1"], recorded)


def test_previous_version_runs_are_listed_and_reported(tmp_path: Path, capsys) -> None:
    from classicnets.report._load import collect
    from classicnets.train.runs import find_run_dir

    shutil.copytree(FIXTURES, tmp_path / "runs")
    assert find_run_dir(tmp_path / "runs" / "finished") == tmp_path / "runs" / "finished"
    col = collect([tmp_path / "runs"])
    by_name = {r.name: r for r in col.runs}
    assert set(by_name) == {"finished", "stopped"}, by_name
    finished = by_name["finished"]
    assert finished.config["model"] == "cnn3" and finished.classes == [str(i) for i in range(10)]
    assert [h["epoch"] for h in finished.history] == [1, 2]
    assert finished.result["final"]["val_acc"] == json.loads(
        (FIXTURES / "finished" / "result.json").read_text())["final"]["val_acc"]
