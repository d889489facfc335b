"""The command line: thin over the library, one-line errors, non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys

from classicnets.cli import main


def test_models_json_counts_match_publication(capsys) -> None:
    assert main(["models", "resnet*", "--format", "json"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["resnet50"]["params"] == 25_557_032 and rows["resnet50"]["match"] is True
    assert rows["resnet20"]["params"] == 269_722


def test_models_table_summary_line(capsys) -> None:
    assert main(["models", "plain*"]) == 0
    out = capsys.readouterr().out
    assert "plain56" in out and "853,018" in out


def test_user_error_is_one_line_and_exit_2() -> None:
    r = subprocess.run([sys.executable, "-m", "classicnets", "models", "zzz*"], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no model matches 'zzz*'" in r.stderr
    assert "Traceback" not in r.stderr
