"""Bundling a finished run's weights as its model's pretrained weights (``tools/ship_weights.py``).

:func:`bundle_run` measures the run's final weights on the official test split
in fp32 and writes them with their ``pretrained_cfg`` through
:func:`classicnets.models.pretrained.add_pretrained`.  Evaluating the bundled
weights is ``classicnets eval --model NAME --pretrained``
(:func:`.runs.load_pretrained_trained`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..models.pretrained import add_pretrained
from .eval_run import evaluate_run
from .rundir import RunDir
from .runs import load_trained


def run_record(run: Path) -> dict[str, Any]:
    """The ``pretrained_cfg`` fields that come from a finished run: recipe, epochs, seed, command, commit."""
    files = RunDir(run)
    if not files.result.is_file():
        raise InvalidInputError(f"{run} has not finished (no result.json); bundle a finished run.")
    cfg, env, data, result = files.read_train_config(), files.read_env(), files.read_data(), files.read_result()
    if cfg.model_args:
        raise InvalidInputError(f"{run} trained {cfg.model} with options {cfg.model_args}; bundled weights are of "
                                "the default model.")
    if not env.get("git_commit"):
        raise InvalidInputError(f"{run}: env.json records no git commit; train from a git checkout to bundle it.")
    return {"recipe": cfg.recipe or "default", "epochs": round(result["steps"] * cfg.batch_size / data["train"], 2),
            "seed": cfg.seed, "command": " ".join(["classicnets", *env.get("argv", [])[1:]]),
            "commit": env["git_commit"]}


def bundle_run(run: str | Path, *, folder: Path | None = None, data_dir: str | None = None) -> dict[str, Any]:
    """Bundle the final weights of the finished ``run`` as its model's pretrained weights; returns the entry.

    ``test_acc`` is measured here, in fp32 on the official test split (``data_dir`` defaults to the run's).
    ``folder`` defaults to the package's ``models/pretrained_weights/``.
    """
    run = Path(run)
    record = run_record(run)
    trained = load_trained(run)
    r = evaluate_run(run, split="test", precision="fp32", data_dir=data_dir)
    cfg = {"dataset": trained.dataset, "num_classes": trained.model.num_classes, "classes": trained.classes,
           "input_size": list(trained.input_size), "mean": list(trained.mean), "std": list(trained.std),
           **record, "test_acc": round(100 * r["result"].top1, 2)}
    return add_pretrained(trained.model_name, trained.weights.read_bytes(), cfg, folder)
