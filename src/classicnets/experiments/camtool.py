"""``classicnets cam``: class activation maps of a trained run for image files, as overlay PNGs.

Each image is read the way ``classicnets predict`` reads it (:func:`classicnets.train.predict.image_batch`:
the run's resolution, central square, the run's normalization), the map is computed
by :func:`classicnets.analysis.cam.class_activation_maps` for the top class, and
``<out>/<image name>-cam.png`` shows the image with the map blended on top, titled
with the class name and its probability.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InvalidInputError


def write_cams(run: str | Path, images: list[str | Path], *, out: str | Path | None = None, model: str | None = None,
               device: str = "cpu") -> list[dict[str, Any]]:
    """Write one overlay PNG per image; return ``[{"image", "out", "class", "index", "prob"}, ...]``.

    ``run`` is a run directory or a weights file inside one (for the class names,
    the input size and the normalization); ``out`` defaults to ``<run>/cam``.
    A model whose head is not global average pooling + one linear layer (or
    NIN's class maps) is refused with the reason.
    """
    from .._io import check_output_dir
    from ..analysis.cam import class_activation_maps, save_overlays
    from ..device import resolve_device
    from ..train.predict import image_batch
    from ..train.runs import load_trained

    if not images:
        raise InvalidInputError("cam: give at least one image file.")
    dev = resolve_device(device)
    trained = load_trained(run, model=model)
    if trained.run_dir is None:
        raise InvalidInputError("cam needs a run directory (or a weights file inside one) for the class names, the "
                                "input size and the normalization.")
    folder = check_output_dir(out if out is not None else trained.run_dir / "cam", "--out")
    arrays, x = image_batch(trained, images)
    result = class_activation_maps(trained.model.to(dev), x.to(dev))
    names = trained.classes or [str(i) for i in range(result.probs.shape[1])]
    written: list[dict[str, Any]] = []
    used: set[str] = set()
    for i, path in enumerate(images):
        stem = Path(path).stem
        name = f"{stem}-cam.png"
        k = 2
        while name in used:
            name = f"{stem}-{k}-cam.png"
            k += 1
        used.add(name)
        cls = int(result.targets[i])
        prob = float(result.probs[i, cls])
        target = save_overlays(folder / name, [(arrays[i], result.maps[i].cpu(), f"{names[cls]} ({100 * prob:.1f}%)")],
                               title=f"{trained.model_name}: class activation map")
        written.append({"image": str(path), "out": str(target), "class": names[cls], "index": cls, "prob": prob})
    return written
