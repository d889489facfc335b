"""``classicnets export``: a trained model as ONNX, a torch.export program (pt2) or safetensors.

Every export is checked before the command reports success: the ONNX file is
run with onnxruntime (when installed) and the pt2 program is loaded back, each
on the same random batch as the PyTorch model, and the largest difference is
printed with the tolerance it must meet.  The batch dimension is dynamic.
Files are written atomically (temporary file, fsync, rename).
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import check_output_file
from ..data import get_spec
from ..errors import InvalidInputError
from ..models import ClassifierNet, save_weights
from ..models.weights import atomic_write
from ..options import CHANNELS, IMAGE_SIDE
from .runs import load_trained

FORMATS = {"onnx": ".onnx", "pt2": ".pt2", "safetensors": ".safetensors"}

RTOL, ATOL = 1e-4, 1e-4  # |a - b| <= ATOL + RTOL * |b|, the check of each export


def _example(c: int, h: int, w: int) -> torch.Tensor:
    return torch.randn(2, c, h, w, generator=torch.Generator().manual_seed(0))


def _compare(got: torch.Tensor, want: torch.Tensor, what: str) -> str:
    diff = (got - want).abs()
    bound = ATOL + RTOL * want.abs()
    ok = bool((diff <= bound).all())
    msg = f"{what}: max |difference| {diff.max().item():.2e} against PyTorch (tolerance {ATOL:g} + {RTOL:g}*|y|)"
    if not ok:
        raise InvalidInputError(msg + ": FAILED; the exported model does not reproduce PyTorch's outputs.")
    return msg + ": ok"


def export_onnx(net: nn.Module, x: torch.Tensor, out: Path) -> str:
    batch = torch.export.Dim("batch", min=1, max=4096)

    def write(tmp: str) -> None:
        # quiet: the exporter logs every torchvision op it skips and warns about its own internals
        logger = logging.getLogger("torch.onnx")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(net, (x,), tmp, dynamo=True, external_data=False, input_names=["images"],
                                  output_names=["logits"], dynamic_shapes=({0: batch},), verbose=False)
        finally:
            logger.setLevel(level)

    try:
        atomic_write(out, write)
    except ImportError as e:
        raise InvalidInputError(f"ONNX export needs the onnx and onnxscript packages ({e}); "
                                "pip install 'classicnets[onnx]'.") from None
    try:
        import onnxruntime as ort
    except ImportError:
        return (f"wrote {out}; NOT checked against PyTorch: onnxruntime is not installed "
                "(pip install 'classicnets[onnx]')")
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0])
    with torch.no_grad():
        want = net(x)
    return f"wrote {out}; " + _compare(got, want, "onnxruntime")


def export_pt2(net: nn.Module, x: torch.Tensor, out: Path) -> str:
    batch = torch.export.Dim("batch", min=1, max=4096)
    with torch.no_grad():
        program = torch.export.export(net, (x,), dynamic_shapes=({0: batch},))
    buf = io.BytesIO()
    torch.export.save(program, buf)
    atomic_write(out, lambda tmp: Path(tmp).write_bytes(buf.getvalue()))
    loaded = torch.export.load(str(out)).module()
    with torch.no_grad():
        got, want = loaded(x), net(x)
    return f"wrote {out}; " + _compare(got, want, "torch.export.load")


def export(run: str | Path, *, fmt: str, out: str | Path | None = None, fold_bn: bool = False,
           model: str | None = None, input_size: tuple[int, int, int] | None = None,
           dataset: str | None = None) -> dict[str, Any]:
    """Export the model of a run (final weights) or of a weights file; returns ``{"path", "message"}``."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown export format {fmt!r}; choose {', '.join(FORMATS)}.")
    kw: dict[str, Any] = {}
    data_size = None
    if dataset is not None:  # a bare weights file: classes, channels and image size from the dataset
        spec = get_spec(dataset)
        kw = {"num_classes": spec.num_classes, "in_chans": spec.image_shape[2] if spec.image_shape else None}
        if spec.image_shape:
            data_size = (spec.image_shape[2], spec.image_shape[0], spec.image_shape[1])
    trained = load_trained(run, model=model, **kw)
    if dataset is not None and trained.run_dir is not None and spec.name != get_spec(str(trained.dataset)).name:
        raise InvalidInputError(f"--dataset {dataset}: the run {trained.run_dir} was trained on {trained.dataset}; "
                                "--dataset is for a bare weights file (leave it out for a run).")
    net = trained.model.eval()
    if fold_bn:
        from ..models.fold import fold_batchnorm

        net = fold_batchnorm(net)
    if input_size is not None:
        for v, rng in zip(input_size, (CHANNELS, IMAGE_SIDE, IMAGE_SIDE), strict=True):
            rng.check(v, "--input-size")
    c, h, w = input_size or trained.input_size or data_size or net.default_input_size
    suffix = ("-folded" if fold_bn else "") + FORMATS[fmt]
    if out is None:  # RUN/export/model.<ext>, or export/<name>.<ext> beside a bare weights file
        base = (trained.run_dir / "export" / "model" if trained.run_dir
                else trained.weights.parent / "export" / trained.weights.stem)
        out = base.with_name(base.name + suffix)
    out = check_output_file(out, "--out")
    if trained.weights is not None and out.resolve() == Path(trained.weights).resolve():
        raise InvalidInputError(f"--out {out} is the weights file being exported; choose another --out.")
    x = _example(c, h, w)
    if isinstance(net, ClassifierNet):
        net.check_input(x)  # the wrong channels or a too small size, before the exporter traces anything
    if fmt == "safetensors":
        save_weights(net, out)
        msg = f"wrote {out}"
    elif fmt == "onnx":
        msg = export_onnx(net, x, out)
    else:
        msg = export_pt2(net, x, out)
    return {"path": out, "message": msg}
