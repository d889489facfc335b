"""Bundled pretrained weights on the training side: bundling a run, and a run directory made from them.

:func:`bundle_run` (``tools/ship_weights.py``) measures a finished run's final
weights on the official test split in fp32 and writes them with their
``pretrained_cfg`` through :func:`classicnets.models.pretrained.add_pretrained`.
:func:`pretrained_run` writes a run directory that holds bundled weights, so
that everything that reads trained runs (the lesion and paths experiments'
``--from pretrained``, ``eval``, ``predict``) reads them unchanged.  Evaluating
the bundled weights is ``classicnets eval --model NAME --pretrained``
(:func:`.runs.load_pretrained_trained`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._io import atomic_write
from ..errors import InvalidInputError
from ..models.pretrained import add_pretrained, pretrained_cfg, read_pretrained_bytes
from ..runfiles import write_json, write_text
from .config import TrainConfig, to_toml
from .eval_run import evaluate_run
from .recipes import RECIPES
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
            "commit": env["git_commit"], "train_acc": round(100 * result["final"]["train_acc"], 2)}


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


def pretrained_run(name: str, dest: str | Path) -> Path:
    """A run directory at ``dest`` holding ``name``'s bundled weights as its final weights (rewritten each call).

    ``config.toml`` has what the weights were trained with (model, dataset, recipe, length, seed),
    ``data.json`` their classes and normalization, ``result.json`` their final epoch as far as the
    ``pretrained_cfg`` records it (``val_acc`` is the test accuracy, ``train_acc`` the last epoch's
    running training accuracy), and ``pretrained.json`` the whole ``pretrained_cfg``.
    """
    cfg = pretrained_cfg(name)
    files = RunDir(dest)
    train = TrainConfig(model=name, dataset=cfg["dataset"], recipe=cfg["recipe"] if cfg["recipe"] in RECIPES else None,
                        epochs=cfg["epochs"], seed=cfg["seed"])
    write_text(files.config, to_toml(train, header=f"the bundled pretrained weights of {name} "
                                                   f"(trained by: {cfg['command']}; commit {cfg['commit']})"))
    write_json(files.data, {"dataset": cfg["dataset"], "classes": cfg["classes"], "mean": cfg["mean"],
                            "std": cfg["std"], "input_size": cfg["input_size"], "cache_size": None})
    final = {"kind": "epoch", "epoch": cfg["epochs"], "val_acc": cfg["test_acc"] / 100,
             "train_acc": cfg["train_acc"] / 100}
    write_json(files.result, {"final": final, "best": final, "test": None, "epochs": cfg["epochs"]})
    write_json(files.path / "pretrained.json", cfg)
    data = read_pretrained_bytes(name)
    atomic_write(files.weights("final"), lambda tmp: Path(tmp).write_bytes(data))
    return files.path
