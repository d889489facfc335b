"""``classicnets predict``: top-k classes of image files, with the run's class names.

:func:`image_batch` is the one way from a trained run and image files to the
batch its model takes (``predict`` and ``cam`` both use it).  Each image is
read with :func:`classicnets.data.images.read_image` (a missing, corrupt or
oversized file is one clear error naming it), brought to the run's input size
the way its data were (shorter side resized and the central square kept, for
variable-size datasets at the cached size and then center-cropped; fixed-size
datasets resized straight to their size), converted to grey for one-channel
models, and normalized with the run's mean and std.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..data import augment
from ..data.images import read_image
from ..device import resolve_device
from ..errors import InvalidInputError
from ..options import Range
from .runs import Trained, find_run_dir, load_pretrained_trained, load_trained

TOP_K = Range(1, 1000)


def load_image(path: str | Path, *, size: int, crop: int, channels: int) -> np.ndarray:
    """An (H, W, C) uint8 array of ``crop`` x ``crop`` pixels."""
    arr = read_image(path, size)
    if channels == 1:
        arr = np.asarray(Image.fromarray(arr).convert("L"))[..., None]
    elif channels != 3:
        raise InvalidInputError(f"predict supports 1- and 3-channel models, not {channels}.")
    if arr.shape[0] != crop:
        top = (arr.shape[0] - crop) // 2
        arr = arr[top : top + crop, top : top + crop]
    return np.ascontiguousarray(arr)


def image_batch(trained: Trained, paths: list[str | Path]) -> tuple[list[np.ndarray], torch.Tensor]:
    """``(the (H, W, C) uint8 images, the normalized N x C x H x W float32 batch)`` of ``paths`` for ``trained``."""
    c, h, _ = trained.input_size
    arrays = [load_image(p, size=trained.cache_size or h, crop=h, channels=c) for p in paths]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return arrays, augment.normalize(x, trained.mean, trained.std)


@torch.no_grad()
def predict_files(run: str | Path | None, images: list[str | Path], *, top_k: int = 5, model: str | None = None,
                  device: str = "cpu", pretrained: bool = False) -> list[dict[str, Any]]:
    """``[{"image": path, "top": [{"class": name, "index": i, "prob": p}, ...]}, ...]``, for a run's model or
    (``pretrained``, ``run`` None) the bundled weights of ``model``."""
    dev = resolve_device(device)
    TOP_K.check(top_k, "--top-k")
    if pretrained:
        if not model:
            raise InvalidInputError("--pretrained needs --model NAME (`classicnets models --pretrained` lists them).")
        trained = load_pretrained_trained(model)
    elif Path(run).exists() and find_run_dir(Path(run)) is None:
        raise InvalidInputError(f"{run}: predict needs a run directory (or a weights file inside one) for the "
                                "class names and the normalization.")
    else:
        trained = load_trained(run, model=model)
    _, x = image_batch(trained, images)
    net = trained.model.to(dev).eval()
    probs = torch.softmax(net(x.to(dev)).float(), dim=1).cpu()
    k = min(top_k, probs.shape[1])
    p, idx = probs.topk(k, dim=1)
    names = trained.classes
    return [{"image": str(path), "top": [{"class": names[i], "index": int(i), "prob": float(q)}
                                          for q, i in zip(p[n].tolist(), idx[n].tolist(), strict=True)]}
            for n, path in enumerate(images)]


def format_predictions(preds: list[dict[str, Any]]) -> str:
    lines = []
    for r in preds:
        lines.append(r["image"])
        lines.extend(f"  {100 * t['prob']:6.2f}%  {t['class']}" for t in r["top"])
    return "\n".join(lines)
