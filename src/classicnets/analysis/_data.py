"""Batches for the gradient measurements: a real dataset's test split, or random inputs."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from ..options import Range, default_split

BATCH_SIZE = Range(1, 4096)
BATCHES = Range(1, 1000)


def check_batches(batch_size: int, batches: int) -> None:
    BATCH_SIZE.check(batch_size, "--batch-size")
    BATCHES.check(batches, "--batches")


def dataset_batches(
    name: str,
    *,
    root: str | os.PathLike[str] | None = None,
    split: str | None = None,
    batch_size: int = 128,
    batches: int = 1,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], dict[str, Any]]:
    """``batches`` normalized batches of ``split`` (seeded shuffle; default: :func:`~classicnets.options.default_split`)
    and a description of the data."""
    from ..data import DataLoader, augment, load_dataset, load_splits

    check_batches(batch_size, batches)
    if split is None:
        splits = load_splits(name, root)
        split = default_split(splits) or next(iter(splits))
        ds = splits[split]
    else:
        ds = load_dataset(name, root, split)
    loader = DataLoader(ds, batch_size, shuffle=True, seed=seed, transform=augment.eval_transform(ds.mean, ds.std),
                        device=device)
    out = []
    for x, y in loader:
        out.append((x, y))
        if len(out) >= batches:
            break
    h, w, c = ds.image_shape
    info = {"name": name, "split": split, "in_chans": c, "size": (h, w), "num_classes": ds.num_classes,
            "text": f"{name} {split} split, {sum(int(x.shape[0]) for x, _ in out)} real images"}
    return out, info


def random_batches(model: nn.Module, batches: int, batch_size: int, *, seed: int = 0,
                   device: str | torch.device = "cpu") -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Standard-normal images of the model's default input size and uniform labels."""
    check_batches(batch_size, batches)
    g = torch.Generator().manual_seed(seed)
    size = tuple(model.default_input_size)  # type: ignore[attr-defined]
    classes = int(getattr(model, "num_classes", 10))
    return [(torch.randn((batch_size, *size), generator=g).to(device),
             torch.randint(0, classes, (batch_size,), generator=g).to(device)) for _ in range(batches)]


def model_and_batches(
    name: str,
    *,
    options: dict[str, Any] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
    root: str | os.PathLike[str] | None = None,
    split: str | None = None,
    batches: int = 1,
    batch_size: int = 128,
    seed: int = 0,
    device: str | torch.device = "cpu",
    data: tuple[list[tuple[torch.Tensor, torch.Tensor]], dict[str, Any]] | None = None,
) -> tuple[nn.Module, list[tuple[torch.Tensor, torch.Tensor]], str, str]:
    """Build ``name`` (seeded), load a checkpoint if given, and get the batches to measure on.

    With a dataset, the model is built for its channels and classes unless ``options``
    say otherwise.  Without one, the batches are standard-normal images (and the
    returned description says so).  ``data`` reuses batches already loaded.

    Returns:
        ``(model, batches, data_description, source_description)``.
    """
    from ..models import create_model, load_weights

    opts = dict(options or {})
    info: dict[str, Any] | None = None
    loaded: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    if data is not None:
        loaded, info = data
    elif dataset is not None:
        loaded, info = dataset_batches(dataset, root=root, split=split, batch_size=batch_size, batches=batches,
                                       seed=seed, device=device)
    if info is not None:
        opts.setdefault("in_chans", info["in_chans"])
        opts.setdefault("num_classes", info["num_classes"])
    torch.manual_seed(seed)
    model = create_model(name, **opts)
    source = f"initialization (seed {seed})"
    if checkpoint is not None:
        load_weights(model, checkpoint)
        source = f"checkpoint {checkpoint}"
    model.to(device)
    if loaded is None:
        loaded = random_batches(model, batches, batch_size, seed=seed, device=device)
        text = (f"random inputs: no dataset given, {batches} batch(es) of {batch_size} standard-normal images "
                f"{'x'.join(map(str, model.default_input_size))}")  # type: ignore[attr-defined]
    else:
        text = info["text"] if info else "given batches"
    return model, loaded, text, source
