"""The analysis commands: summary, table, compare, calc, gradflow, paths."""

from __future__ import annotations

import csv
import io
import json

import pytest

from classicnets import reference
from classicnets.cli import main


def test_summary_json(capsys) -> None:
    assert main(["summary", "resnet50", "--format", "json", "--depth", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert abs(data["totals"]["macs"] - reference.MACS["resnet50"].value) <= 0.01e9
    assert data["totals"]["params"] == reference.PARAMS["resnet50"].value
    assert [r["name"] for r in data["rows"]][4] == "layer1"


def test_summary_table_prints_convention(capsys) -> None:
    assert main(["summary", "resnet20", "--input", "3,64,64"]) == 0
    out = capsys.readouterr().out
    assert "layer3.2.conv2" in out and "convention:" in out and "FLOPs (2 x MACs)" in out
    assert "3x64x64" in out


def test_summary_option_and_csv(capsys) -> None:
    assert main(["summary", "resnet50", "-o", "variant=v1.5", "--format", "csv", "--depth", "0"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert abs(int(rows[-1]["macs"]) - reference.MACS_RESNET_V1_5["resnet50"].value) <= 0.01e9


def test_summary_errors(capsys) -> None:
    assert main(["summary", "resnet5"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["summary", "resnet50", "--input", "3,224"]) == 2
    assert main(["summary", "resnet50", "-o", "variant"]) == 2
    assert main(["summary", "resnet50", "-o", "colour=red"]) == 2


def test_table_googlenet(capsys) -> None:
    assert main(["table", "googlenet"]) == 0
    out = capsys.readouterr().out
    assert "inception (5b)" in out and "1388K" in out and "1409K" in out


def test_table_resnet_markdown(capsys) -> None:
    assert main(["table", "resnet", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "11.28G" in out and "11.51G" in out and "11.3x10^9" in out


def test_compare(capsys) -> None:
    assert main(["compare", "alexnet", "vgg16", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert abs(rows[0]["fc_share"] - 0.96) < 0.01 and abs(rows[1]["fc_share"] - 0.89) < 0.01


def test_calc(capsys) -> None:
    assert main(["calc", "factorization"]) == 0
    out = capsys.readouterr().out
    assert "5x5->3x3,3x3" in out and "28.0%" in out and "71.4%" in out
    assert main(["calc", "factorization", "--kernel", "7", "--scheme", "asymmetric", "--format", "json"]) == 0
    assert abs(json.loads(capsys.readouterr().out)["rows"][0]["saving"] - 0.714) < 0.001
    assert main(["calc", "inception", "--in-ch", "256", "--n1", "128", "--n3", "192", "--n5", "96"]) == 0
    assert "28x28x672" in capsys.readouterr().out
    assert main(["calc", "inception-vs-conv", "--kernels", "3"]) == 0
    assert "one 3x3 conv" in capsys.readouterr().out
    assert main(["calc", "factorization", "--kernel", "4"]) == 2


def test_gradflow_writes_csv_and_png(tmp_path, capsys) -> None:
    assert main(["gradflow", "plain20", "resnet20", "--batch-size", "4", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "random inputs: no dataset given" in out
    assert "plain20 [no BN, Glorot]" in out and "resnet20 [BN, Kaiming]" in out
    rows = list(csv.DictReader(open(tmp_path / "gradflow_plain20-resnet20.csv")))
    assert {r["model"] for r in rows} == {"plain20 [BN, Kaiming]", "plain20 [no BN, Glorot]",
                                          "resnet20 [BN, Kaiming]", "resnet20 [no BN, Glorot]"}
    assert (tmp_path / "gradflow_plain20-resnet20.png").stat().st_size > 1000


def test_paths(tmp_path, capsys) -> None:
    assert main(["paths", "resnet110", "--distribution-only"]) == 0
    out = capsys.readouterr().out
    assert "54 residual blocks" in out and "Binomial(54, 1/2)" in out
    assert main(["paths", "resnet20", "--batch-size", "2", "--samples", "1", "--lengths", "0:9:3",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "90% of the total gradient comes from paths" in out
    assert (tmp_path / "paths_resnet20.csv").read_text().count("\n") == 5
    assert (tmp_path / "paths_resnet20.png").exists()
    assert main(["paths", "plain20", "--distribution-only"]) == 2


@pytest.mark.parametrize("cmd", [pytest.param(["table", "cifar-resnet"], marks=pytest.mark.slow),
                                 ["table", "inception_v3"]])
def test_other_tables_run(cmd: list[str], capsys) -> None:
    assert main(cmd) == 0
    assert capsys.readouterr().out
