"""classicnets.runfiles (the run directory's files, shared by train/ and report/) and train.rundir.RunDir."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pytest

import classicnets.runfiles as runfiles
from classicnets.errors import InvalidInputError
from classicnets.runfiles import CSV_COLUMNS, MetricsLog, RunFiles, read_metrics_table

CONFIG = '# a comment\nmodel = "resnet20"\ndataset = "digits"\nepochs = 2.0\n\n[model_args]\nstem = "cifar"\n'
ROWS = [{"kind": "step", "step": 5, "lr": 0.1, "train_loss": 2.0},
        {"kind": "epoch", "epoch": 1, "step": 10, "lr": 0.1, "train_loss": 1.5, "train_acc": 0.5, "val_loss": 1.6,
         "val_acc": 0.45, "val_top5": None, "epoch_s": 0.5, "img_per_s": 1000.0},
        {"kind": "epoch", "epoch": 2, "step": 20, "lr": 0.01, "train_loss": 1.0, "train_acc": 0.7, "val_loss": 1.1,
         "val_acc": 0.65, "val_top5": 0.9, "epoch_s": 0.5, "img_per_s": 1100.0}]


def written_run(path: Path) -> RunFiles:
    """A run directory written through the writers the training engine uses."""
    run = RunFiles(path)
    run.write_config(CONFIG)
    run.write_env({"python": "3.11.7", "device": "cpu"})
    run.write_classes(["cat", "dog"])
    run.write_data({"dataset": "digits", "classes": ["cat", "dog"], "mean": [0.3], "std": [0.37],
                    "input_size": [1, 8, 8]})
    MetricsLog(path).rewrite(ROWS)
    run.write_result({"final": ROWS[-1], "best": ROWS[-1], "test": None, "wall_s": 1.0})
    run.weights_dir.mkdir()
    run.weights("final").write_bytes(b"\0" * 16)
    run.checkpoints.mkdir()
    run.last_checkpoint.write_bytes(b"\0" * 8)
    return run


def one_line(err: pytest.ExceptionInfo[InvalidInputError], path: Path) -> str:
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


def test_paths_follow_the_layout(tmp_path: Path) -> None:
    run = RunFiles(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in (
        run.config, run.env, run.classes, run.data, run.metrics_csv, run.metrics_jsonl, run.result,
        run.checkpoints, run.last_checkpoint, run.weights_dir, run.weights("best"))] == [
        "config.toml", "env.json", "classes.json", "data.json", "metrics.csv", "metrics.jsonl", "result.json",
        "checkpoints", "checkpoints/last.pt", "weights", "weights/best.safetensors"]
    assert RunFiles.last_checkpoint == Path("checkpoints/last.pt")  # on the class: the path inside any run
    assert runfiles.RUN_MARKERS == ("config.toml", "metrics.csv", "metrics.jsonl", "checkpoints")


def test_typed_readers_read_what_the_writers_wrote(tmp_path: Path) -> None:
    run = written_run(tmp_path / "r")
    assert run.holds_run() and run.describes_model() and not RunFiles(tmp_path).holds_run()
    assert run.read_config() == {"model": "resnet20", "dataset": "digits", "epochs": 2.0,
                                 "model_args": {"stem": "cifar"}}
    assert runfiles.flatten(run.read_config())["model_args.stem"] == "cifar"
    assert run.read_env() == {"python": "3.11.7", "device": "cpu"}
    assert run.read_classes() == ["cat", "dog"]
    assert run.read_data()["input_size"] == [1, 8, 8]
    assert run.read_result()["final"]["val_acc"] == 0.65
    assert run.saved_files() == [("weights/final.safetensors", 16), ("checkpoints/last.pt", 8)]
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [10.0, 20.0] and math.isnan(rows[0]["val_top5"])
    assert run.metrics_csv.read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
    cols, table = read_metrics_table(run.metrics_csv)
    assert cols == list(CSV_COLUMNS) and [r["val_acc"] for r in table] == [0.45, 0.65]
    cols, epochs = run.read_metrics_jsonl()
    assert [r["epoch"] for r in epochs] == [1.0, 2.0] and "kind" not in cols


def test_a_missing_file_is_one_line_naming_it(tmp_path: Path) -> None:
    run = RunFiles(tmp_path)
    for read, path in ((run.read_config, run.config), (run.read_result, run.result), (run.read_env, run.env)):
        with pytest.raises(InvalidInputError, match="cannot read it") as err:
            read()
        one_line(err, path)
    with pytest.raises(InvalidInputError, match="has no metrics.csv; give a run directory") as err:
        run.read_metrics()
    one_line(err, tmp_path)


def test_a_corrupt_file_is_one_line_naming_it(tmp_path: Path) -> None:
    run = written_run(tmp_path / "r")
    run.config.write_text('model = "resnet20\n')
    with pytest.raises(InvalidInputError, match="corrupt TOML") as err:
        run.read_config()
    one_line(err, run.config)
    run.result.write_text('{"final": ')
    with pytest.raises(InvalidInputError, match="corrupt JSON") as err:
        run.read_result()
    one_line(err, run.result)
    run.result.write_text("[1, 2]")
    with pytest.raises(InvalidInputError, match="expected a JSON object, found list") as err:
        run.read_result()
    run.classes.write_text('{"a": 1}')
    with pytest.raises(InvalidInputError, match="expected a JSON array, found dict") as err:
        run.read_classes()
    run.env.write_bytes(b"\xff\xfe{}")
    with pytest.raises(InvalidInputError, match="not UTF-8 text") as err:
        run.read_env()
    one_line(err, run.env)


@pytest.mark.parametrize("content, curves, table", [
    ("epoch,step,train_acc,val_acc\n1,x,0.5,0.5\n", r"metrics\.csv, line 2: 'x' is not a number",
     r"metrics\.csv: line 2: step is 'x', not a number"),
    ("a,b\n1,2\n", r"not a metrics\.csv \(no step, train_acc, val_acc column\)", r"line 1 is not a metrics header"),
    ("epoch,step,train_acc,val_acc\n1,10,0.5\n", None, r"line 2 has 3 fields, the header 4"),
])
def test_corrupt_metrics_are_one_line(tmp_path: Path, content: str, curves: str | None, table: str) -> None:
    run = written_run(tmp_path / "r")
    run.metrics_csv.write_text(content)
    if curves is None:  # curves take a short row (a run killed while appending) as NaNs
        assert math.isnan(run.read_metrics()[0]["val_acc"])
    else:
        with pytest.raises(InvalidInputError, match=curves) as err:
            run.read_metrics()
        one_line(err, run.metrics_csv)
    with pytest.raises(InvalidInputError, match=table) as err:
        read_metrics_table(run.metrics_csv)
    one_line(err, run.metrics_csv)
    run.metrics_jsonl.write_text('{"kind": "epoch", "epoch": 1}\n[1]\n')
    with pytest.raises(InvalidInputError, match=r"metrics\.jsonl: line 2 is not a JSON object"):
        run.read_metrics_jsonl()


def test_writes_are_atomic_and_leave_no_temporary(tmp_path: Path) -> None:
    run = written_run(tmp_path / "r")
    assert [p.name for p in run.path.iterdir() if p.name.startswith(".")] == []
    assert json.loads(run.result.read_text())["wall_s"] == 1.0


def test_runfiles_imports_no_layer_and_no_torch() -> None:
    """report/ reads run directories through runfiles: it must stay a leaf module without torch."""
    tree = ast.parse(Path(runfiles.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level <= 1 and (node.module or "") in ("_io", "errors", "__future__", "pathlib",
                                                               "typing"), ast.dump(node)
        if isinstance(node, ast.Import):
            assert not any(a.name.split(".")[0] in ("torch", "numpy", "classicnets") for a in node.names)


# -- train.rundir.RunDir: what needs torch or the training configuration --------------------------------------
def test_run_dir_reads_the_train_config_and_the_model_facts(tmp_path: Path) -> None:
    from classicnets.train.rundir import RunDir

    run = RunDir(written_run(tmp_path / "r").path)
    cfg = run.read_train_config()
    assert (cfg.model, cfg.dataset, cfg.epochs, cfg.model_args) == ("resnet20", "digits", 2.0, {"stem": "cifar"})
    assert run.read_model_facts()["classes"] == ["cat", "dog"]
    run.data.write_text('{"classes": 3}')
    with pytest.raises(InvalidInputError, match="is damaged") as err:
        run.read_model_facts()
    one_line(err, run.data)


def test_run_dir_keeps_the_first_session_env_on_resume(tmp_path: Path) -> None:
    import torch

    from classicnets.train.rundir import RunDir

    run = RunDir(written_run(tmp_path / "r").path)
    assert run.session_env({"device": "cuda"}, resumed=False) == {"device": "cuda"}
    assert run.session_env({"device": "cuda"}, resumed=True) == {"python": "3.11.7", "device": "cpu",
                                                                 "resumed": [{"device": "cuda"}]}
    run.write_session_env(torch.device("cpu"), resumed=True)
    env = run.read_env()
    assert env["python"] == "3.11.7" and env["resumed"][0]["torch"] == torch.__version__
    run.env.write_text("not json")
    assert run.session_env({"device": "cuda"}, resumed=True) == {"device": "cuda"}
