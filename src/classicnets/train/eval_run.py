"""``classicnets eval``: a trained run (or a weights file) measured on a dataset split.

:func:`evaluate_run` loads the model (:func:`~.runs.load_trained`), reads the
split the run was measured on (or the one asked for) at the model's input size
with the run's normalization (:func:`eval_data`), optionally folds BatchNorm,
runs :func:`~.evaluate.evaluate` and writes the confusion matrix as CSV.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from .. import data as cndata
from .._io import check_output_file
from ..device import autocast_dtype, resolve_device
from ..errors import InvalidInputError
from ..models.fold import fold_batchnorm
from ..options import Range, default_split
from ..runfiles import write_text
from .evaluate import evaluate
from .runs import load_pretrained_trained, load_trained

EVAL_BATCH = Range(1, 65536)


def _load_model(run: str | Path | None, dataset: str | None, model: str | None,
                pretrained: bool = False) -> tuple[Any, str]:
    """The trained model and the dataset to evaluate it on (the run's unless ``dataset`` is given)."""
    if pretrained:
        if run is not None or not model:
            raise InvalidInputError("--pretrained evaluates the bundled weights of --model NAME; give no run or "
                                    "weights file with it.")
        trained = load_pretrained_trained(model)
        return trained, dataset or trained.dataset
    if run is None:
        raise InvalidInputError("give a run directory or weights file, or --model NAME --pretrained.")
    probe = load_trained(run, model=model) if dataset is None else None
    name = dataset if dataset is not None else probe.dataset
    if name is None:
        raise InvalidInputError(f"{run} is a bare weights file: name its dataset with --dataset NAME.")
    if probe is not None and probe.run_dir is not None:
        return probe, name
    spec = cndata.get_spec(name)
    return load_trained(run, model=model, num_classes=spec.num_classes,
                        in_chans=spec.image_shape[2] if spec.image_shape else None), name


def _choose_split(splits: dict[str, Any], split: str | None, trained: Any, name: str,
                  whole: Any, part: Any) -> tuple[str, Any]:
    """``(split name, whole(splits[split]))``; ``val`` of a dataset without one is what the run held out of
    train: ``part(splits["train"], indices)``.  Serves cached splits and streamed files alike."""
    held_out = bool(trained.val_split) and name == trained.dataset and "train" in splits
    if split is None:
        split = default_split(splits) or ("val" if held_out else None)
    if split in splits:
        return split, whole(splits[split])
    if split == "val" and held_out:
        tr = splits["train"]
        return split, part(tr, cndata.stratified_split(tr.labels, trained.val_split, trained.seed)[1])
    known = [*splits, *(["val (held out of train by the run)"] if held_out and "val" not in splits else [])]
    raise InvalidInputError(f"{name} has no split {split!r}; available: {', '.join(known)}.")


def eval_data(name: str, root: str | None, trained: Any, split: str | None, batch_size: int,
              device: torch.device) -> tuple[str, list[str], Iterable[tuple[torch.Tensor, torch.Tensor]]]:
    """The one place ``eval`` reads its data: ``(split, class names, normalized batches at the model's size)``."""
    spec = cndata.get_spec(name)
    if spec.resizable and root is not None:
        plan = cndata.plan(name, root, trained.input_size[1] if trained.input_size else None)
        if plan.streaming:
            return _streamed_eval_data(name, plan, trained, split, batch_size, device)
    splits = cndata.load_splits(name, root, size=trained.cache_size if spec.resizable else None)
    split, (images, labels) = _choose_split(splits, split, trained, name, lambda d: (d.images, d.labels),
                                            lambda d, idx: (d.images[idx], d.labels[idx]))
    ds = splits["train"] if "train" in splits else splits[split]  # classes; normalization of a bare weights file
    h, c = images.shape[1], images.shape[3]
    mc, want, _ = trained.input_size or (c, h, h)
    if ds.num_classes != trained.model.num_classes or c != mc or want > h:
        raise InvalidInputError(f"{name}/{split} ({ds.num_classes} classes, {h}x{h}x{c} images) does not fit "
                                f"the model ({trained.model.num_classes} classes, {want}x{want}x{mc} inputs); "
                                "evaluate on the dataset it was trained on.")
    transform = cndata.augment.eval_transform(trained.mean or ds.mean, trained.std or ds.std,
                                              crop=want if want != h else None)
    loader = cndata.DataLoader((images, labels), batch_size, shuffle=False, transform=transform, device=device, rank=0,
                               world_size=1)
    return split, list(ds.classes), loader


def _streamed_eval_data(name: str, plan: Any, trained: Any, split: str | None, batch_size: int,
                        device: torch.device) -> tuple[str, list[str], Any]:
    """:func:`eval_data` for a dataset too big for the cache: files decoded by loader workers, resized to
    8/7 of the model's side and center-cropped (the ``imagenet-eval`` preset)."""
    files = cndata.open_files(name, plan.root, layout=plan.layout)
    split, chosen = _choose_split(files, split, trained, name, lambda f: f, lambda f, idx: f.subset(idx))
    if chosen.num_classes != trained.model.num_classes:
        raise InvalidInputError(f"{name}/{split} has {chosen.num_classes} classes, the model "
                                f"{trained.model.num_classes}; evaluate on the dataset it was trained on.")
    tr = files.get("train", chosen)
    norm = cndata.augment.Normalize(trained.mean or tr.mean, trained.std or tr.std)
    loader = cndata.StreamingLoader(chosen, batch_size, augment="imagenet-eval", image_size=plan.image_size,
                                    shuffle=False, transform=norm, device=device, rank=0, world_size=1,
                                    workers=plan.workers)
    return split, list(chosen.classes), loader


def _confusion_path(trained: Any, split: str, fold_bn: bool) -> Path | None:
    """Where the confusion matrix goes by default: into the run, beside a weights file, nowhere for the bundled
    weights."""
    if trained.model.pretrained_cfg is not None and trained.run_dir is None:
        return None
    if trained.run_dir is not None:
        return trained.run_dir / "eval" / f"confusion-{split}{'-folded' if fold_bn else ''}.csv"
    return trained.weights.with_name(f"{trained.weights.stem}-confusion-{split}.csv")


def evaluate_run(
    run: str | Path | None,
    *,
    pretrained: bool = False,
    dataset: str | None = None,
    data_dir: str | None = None,
    split: str | None = None,
    fold_bn: bool = False,
    precision: str = "fp32",
    batch_size: int = 256,
    model: str | None = None,
    device: str = "auto",
    confusion_csv: str | Path | None = None,
) -> dict[str, Any]:
    """``classicnets eval``: metrics of a run's (or weights file's) model on a dataset split.

    With ``pretrained``, ``run`` is ``None`` and ``model`` names the model whose bundled weights are measured.

    ``dataset``/``data_dir`` default to the run's, ``split`` to the one the run was measured on
    (:func:`classicnets.options.default_split`).  Returns ``{"summary": {...}, "text": "...", "result": EvalResult,
    "confusion_csv": path}``.
    """
    dev = resolve_device(device)
    EVAL_BATCH.check(batch_size, "--batch-size")
    if confusion_csv is not None:
        check_output_file(confusion_csv, "--confusion")
    trained, name = _load_model(run, dataset, model, pretrained)
    root = data_dir if data_dir is not None else (trained.data_dir if name == trained.dataset else None)
    split, classes, batches = eval_data(name, root, trained, split, batch_size, dev)
    path = Path(confusion_csv) if confusion_csv is not None else _confusion_path(trained, split, fold_bn)
    if confusion_csv is None and path is not None:
        check_output_file(path, "--confusion")
    net = (fold_batchnorm(trained.model) if fold_bn else trained.model).to(dev)
    r = evaluate(net, batches, num_classes=len(classes), device=dev, amp_dtype=autocast_dtype(precision, dev),
                 classes=classes)
    if path is not None:
        path = write_text(path, r.confusion_csv())
    summary = {"model": trained.model_name, "weights": str(trained.weights), "dataset": name, "split": split,
               "fold_bn": fold_bn, "precision": precision, **r.summary(),
               "confusion_csv": None if path is None else str(path)}
    lines = [f"{trained.model_name} ({trained.weights}) on {name}, split {split!r}, {r.n} images"
             f"{', BatchNorm folded' if fold_bn else ''}, {precision}:",
             f"  top-1 {100 * r.top1:.2f}%  top-5 {100 * r.top5:.2f}%  loss {r.loss:.4f}",
             "  per class: " + ", ".join(f"{c} {100 * a:.1f}%" for c, a in zip(classes, r.per_class, strict=True)),
             *([f"  confusion matrix: {path}"] if path is not None else [])]
    return {"summary": summary, "text": "\n".join(lines), "result": r, "confusion_csv": path}
