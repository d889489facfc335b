"""The papers' tables, computed from the models (never typed in).

* :func:`googlenet_table`: Table 1 of Szegedy et al. 2014 for the faithful GoogLeNet,
  with each row's weights (K = 1024, biases not counted, as the paper counts) and
  multiply-adds next to the paper's figures.
* :func:`resnet_table`: Table 1 of He et al. 2015: the stage layout of ResNet-18 ...
  152 read from the built models, with their multiply-adds for the paper's variant
  (stride on the bottleneck's first 1x1, "v1") and torchvision's ("v1.5").
* :func:`cifar_resnet_table`: the CIFAR-10 networks of Sec. 4.2 / Table 6.
* :func:`inception_v3_table`: Table 1 of "Rethinking the Inception Architecture"
  (type, patch size / stride, input size per stage) for the released layout.

Every figure comes from building the model (on the meta device) and counting it
with :func:`classicnets.analysis.summarize`; the published numbers come from
:mod:`classicnets.reference`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from .. import reference as ref
from ..errors import InvalidInputError
from ._build import build_meta
from ._render import TextTable, human
from .summary import LayerRow, summarize

__all__ = [
    "TABLES",
    "cifar_resnet_table",
    "googlenet_table",
    "inception_v3_table",
    "make_table",
    "resnet_table",
    "weights_only",
]

#: Relative agreement accepted between a computed row and the paper's printed figure.
#: The paper prints 2-4 significant digits and several of its rows are off by 1-2%.
GOOGLENET_ROW_TOL = 0.02


def weights_only(module: nn.Module) -> int:
    """Weights of the conv and linear layers in ``module`` (no biases, no BatchNorm): the papers' count."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def _hwc(shape: Sequence[int] | None) -> str:
    """(C, H, W) -> 'HxWxC', the papers' notation; (C,) -> '1x1xC'."""
    if shape is None:
        return ""
    if len(shape) == 3:
        c, h, w = shape
        return f"{h}x{w}x{c}"
    if len(shape) == 1:
        return f"1x1x{shape[0]}"
    return "x".join(map(str, shape))


def _kxk(conv: nn.Conv2d) -> str:
    kh, kw = conv.kernel_size
    return f"{kh}x{kw}"


def _k_units(weights: int) -> str:
    k = weights / 1024
    return f"{k:.1f}K" if k < 100 else f"{k:.0f}K" if k.is_integer() else f"{k:.1f}K"


# -- GoogLeNet ------------------------------------------------------------------------
def _conv_of(module: nn.Module) -> nn.Conv2d:
    return next(m for m in module.modules() if isinstance(m, nn.Conv2d))


def googlenet_table(*, variant: str = "paper") -> TextTable:
    """Table 1 of Szegedy et al. 2014 computed from ``googlenet(variant=...)``.

    Each row lists the paper's columns (type, patch size/stride, output size, depth,
    #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) read from the model, its
    weights (K = 1024, conv and linear weights only: the paper's "params") and its
    multiply-adds ("ops") at 224x224, beside the paper's figures and whether they
    agree within :data:`GOOGLENET_ROW_TOL`.  ``records`` hold the numbers.
    """
    model = build_meta("googlenet", variant=variant)
    s = summarize(model, depth=1, name=f"googlenet(variant={variant!r})")
    records = _googlenet_records(model, s.rows)
    for rec in records:
        _compare_with_paper(rec)
    records.append({"name": "softmax", "type": "softmax", "patch": "", "output": records[-1]["output"], "depth": 0,
                    "weights": 0, "macs": 0})
    cols = ["type", "patch/stride", "output size", "depth", "#1x1", "#3x3 reduce", "#3x3", "#5x5 reduce", "#5x5",
            "pool proj", "params", "ops", "paper params", "paper ops", ""]
    cells = [_googlenet_cells(rec) for rec in records]
    tw = sum(r["weights"] for r in records)
    tm = sum(r["macs"] for r in records)
    pw = sum(float(v["params_k"]) for v in ref.GOOGLENET_TABLE1.values())  # type: ignore[arg-type]
    po = sum(float(v["ops_m"]) for v in ref.GOOGLENET_TABLE1.values())  # type: ignore[arg-type]
    cells.append(["total", "", "", "", "", "", "", "", "", "", f"{tw / 1024:.0f}K", f"{tm / 1e6:.0f}M",
                  f"{pw:.0f}K", f"{po:.0f}M", ""])
    notes = [
        "params = weights of the conv and linear layers (no biases), in K = 1024, as the paper counts; "
        "ops = multiply-adds (MACs) at 224x224. '=' : both agree with the paper within "
        f"{GOOGLENET_ROW_TOL:.0%}; '!' marks the paper's figure that does not follow from its own columns.",
        f"totals: {tw:,} weights = {tw / 1024 / 1000:.2f}M in the paper's units (paper: "
        f"{pw / 1000:.1f}M); {human(tm)} multiply-adds (paper: {po / 1000:.1f}G, 'about 1.5 billion').",
        f"the model has {s.params:,} parameters with biases (reference: {int(ref.PARAMS['googlenet'].value):,}).",
        *[_misprint_note(rec) for rec in records if _disagrees(rec)],
    ]
    if variant != "paper":
        notes.append(f"variant={variant!r}: not the paper's layout (see classicnets.models.googlenet).")
    notes.append(f"source: {ref.GOOGLENET_TABLE1_SOURCE}.")
    return TextTable(
        title=f"GoogLeNet (variant={variant!r}), Table 1 of Szegedy et al. 2014, computed from the model",
        columns=cols, cells=cells, records=records, notes=notes, right=set(range(3, 14)),
        extra={"total_weights": tw, "total_macs": tm, "total_params_with_biases": s.params},
    )


def _googlenet_records(model: nn.Module, summary_rows: list[LayerRow]) -> list[dict[str, Any]]:
    """One record per row of Table 1: conv2 and conv3 merge into the paper's one row; LRN layers have none."""
    mods = dict(model.named_children())
    rows = [r for r in summary_rows if not r.kind.startswith("(")]
    records: list[dict[str, Any]] = []
    i = 0
    while i < len(rows):
        r = rows[i]
        m = mods.get(r.name)
        kind = type(m).__name__ if m is not None else r.kind
        rec: dict[str, Any] = {"name": r.name, "output": _hwc(r.output_shape)}
        if kind in ("LocalResponseNorm", "Identity"):
            i += 1
            continue  # Table 1 has no rows for the LRN layers of Figure 3
        if r.name == "conv2" and i + 1 < len(rows) and rows[i + 1].name == "conv3":
            nxt = rows[i + 1]
            c2, c3 = _conv_of(mods["conv2"]), _conv_of(mods["conv3"])
            rec.update(type="convolution", patch=f"{_kxk(c3)}/{c3.stride[0]}", output=_hwc(nxt.output_shape),
                       depth=2, reduce3=c2.out_channels, n3=c3.out_channels,
                       weights=weights_only(mods["conv2"]) + weights_only(mods["conv3"]), macs=r.macs + nxt.macs)
            i += 2
        else:
            rec.update(_googlenet_columns(kind, m, r))
            rec.update(weights=weights_only(m) if m is not None else 0, macs=r.macs)
            i += 1
        records.append(rec)
    return records


def _googlenet_columns(kind: str, m: Any, r: LayerRow) -> dict[str, Any]:
    """Type, patch size/stride, depth and (for an Inception module) the filter columns of one layer."""
    if kind == "BasicConv2d":
        c = _conv_of(m)
        return dict(type="convolution", patch=f"{_kxk(c)}/{c.stride[0]}", depth=1)
    if kind == "MaxPool2d":
        return dict(type="max pool", patch=f"{m.kernel_size}x{m.kernel_size}/{m.stride}", depth=0)
    if kind == "Inception":
        return dict(type=f"inception ({r.name.removeprefix('inception')})", patch="", depth=2,
                    n1=_conv_of(m.branch1).out_channels, reduce3=_conv_of(m.branch2[0]).out_channels,
                    n3=_conv_of(m.branch2[1]).out_channels, reduce5=_conv_of(m.branch3[0]).out_channels,
                    n5=_conv_of(m.branch3[1]).out_channels, pool=_conv_of(m.branch4[1]).out_channels,
                    branch3_kernel=_kxk(_conv_of(m.branch3[1])))
    if kind == "AdaptiveAvgPool2d":
        ih, iw = r.input_shape[1:] if r.input_shape else ("?", "?")
        return dict(type="avg pool", patch=f"{ih}x{iw}/1", depth=0)
    if kind == "Dropout":
        return dict(type=f"dropout ({m.p:.0%})", patch="", depth=0)
    if kind == "Linear":
        return dict(type="linear", patch="", depth=1)
    return dict(type=kind, patch="", depth="")


def _compare_with_paper(rec: dict[str, Any]) -> None:
    """Add the paper's params / ops of the record's row and whether ours agree within the tolerance."""
    paper = ref.GOOGLENET_TABLE1.get(rec["name"])
    if paper is None:
        return
    pk, pm = float(paper["params_k"]), float(paper["ops_m"])  # type: ignore[arg-type]
    rec.update(paper_params_k=pk, paper_ops_m=pm)
    ok_p = abs(rec["weights"] / 1024 - pk) <= GOOGLENET_ROW_TOL * pk
    ok_o = abs(rec["macs"] / 1e6 - pm) <= max(GOOGLENET_ROW_TOL * pm, 0.5)
    rec.update(params_agree=ok_p, ops_agree=ok_o)


def _disagrees(rec: dict[str, Any]) -> bool:
    return "paper_params_k" in rec and not (rec["params_agree"] and rec["ops_agree"])


def _googlenet_cells(rec: dict[str, Any]) -> list[str]:
    weights, macs = rec["weights"], rec["macs"]
    mark = ""
    if "paper_params_k" in rec:
        mark = "=" if rec["params_agree"] and rec["ops_agree"] else (
            "params!" if not rec["params_agree"] and rec["ops_agree"] else
            "ops!" if rec["params_agree"] else "both!")
    return [
        rec["type"], rec["patch"], rec["output"], str(rec["depth"]),
        *[str(rec.get(k, "")) for k in ("n1", "reduce3", "n3", "reduce5", "n5", "pool")],
        _k_units(weights) if weights else "", f"{macs / 1e6:.1f}M" if macs else "",
        f"{rec['paper_params_k']:g}K" if "paper_params_k" in rec else "",
        f"{rec['paper_ops_m']:g}M" if "paper_ops_m" in rec else "", mark,
    ]


def _misprint_note(rec: dict[str, Any]) -> str:
    """Why a row's printed figures differ from what its own columns give."""
    if rec["name"] == "conv1":
        return (f"conv1: a 7x7/2 conv with 64 filters on an RGB image has 7*7*3*64 = {rec['weights']:,} weights "
                f"({rec['weights'] / 1024:.1f}K) and {rec['macs'] / 1e6:.0f}M multiply-adds at 112x112; the "
                "paper's 2.7K / 34M do not follow from its own row (this is most of the gap in the ops total).")
    return (f"{rec['name']}: the row's own columns give {rec['weights']:,} weights "
            f"({rec['weights'] / 1024:.1f}K) and {rec['macs'] / 1e6:.1f}M multiply-adds; the paper prints "
            f"{rec['paper_params_k']:g}K / {rec['paper_ops_m']:g}M.")


# -- ResNet, ImageNet ---------------------------------------------------------------------
RESNET_DEPTHS = (18, 34, 50, 101, 152)


def _block_text(block: nn.Module) -> str:
    convs = [m for n, m in block.named_children() if isinstance(m, nn.Conv2d)]
    return "[" + "; ".join(f"{_kxk(c)}, {c.out_channels}" for c in convs) + "]"


def resnet_macs(name: str, **options: Any) -> int:
    """Multiply-adds of one registered model at its default input size (conv + fc)."""
    return summarize(build_meta(name, **options), depth=0).macs


def resnet_table() -> TextTable:
    """He et al. 2015, Table 1, for ResNet-18/34/50/101/152, computed from the models.

    Rows: the stage layout read from each built model (``conv1``, ``layer1`` ..
    ``layer4`` = conv2_x .. conv5_x), its output size, then the paper's FLOPs row
    (multiply-adds), the multiply-adds counted for the paper's variant ("v1": the
    bottleneck's stride on its first 1x1) and for torchvision's ("v1.5": on the 3x3),
    and the parameters.
    """
    names = [f"resnet{d}" for d in RESNET_DEPTHS]
    info = {name: _resnet_column(name) for name in names}
    first = info[names[0]]

    def size(i: int) -> str:
        shape = first["sizes"][i]
        return f"{shape[1]}x{shape[2]}" if shape else ""

    cols = ["layer name", "output size", *[f"{d}-layer" for d in RESNET_DEPTHS]]
    cells = [
        ["conv1", size(0), *[info[n]["conv1"] for n in names]],
        ["", size(1), *[info[n]["maxpool"] for n in names]],
        *[[f"conv{li + 2}_x", size(li + 2), *[info[n]["stages"][li] for n in names]] for li in range(4)],
        ["", "1x1", *[info[n]["head"] for n in names]],
        ["FLOPs (paper)", "", *[f"{ref.RESNET_TABLE1_FLOPS[n].value / 1e9:.1f}x10^9" for n in names]],
        ["MACs v1 (paper's)", "", *[f"{info[n]['macs_v1'] / 1e9:.2f}G" for n in names]],
        ["MACs v1.5 (torchvision)", "", *[f"{info[n]['macs_v1_5'] / 1e9:.2f}G" for n in names]],
        ["params", "", *[f"{info[n]['params'] / 1e6:.2f}M" for n in names]],
    ]
    records = [
        {"model": n, "conv1": info[n]["conv1"], "stages": info[n]["stages"], "macs_v1": info[n]["macs_v1"],
         "macs_v1_5": info[n]["macs_v1_5"], "paper_flops": ref.RESNET_TABLE1_FLOPS[n].value,
         "params": info[n]["params"]}
        for n in names
    ]
    notes = [
        "MACs = multiply-adds of the conv and fc layers at 224x224 (the paper's 'FLOPs' are multiply-adds); "
        "BN, ReLU, pooling and the residual adds are not in them (`classicnets summary` shows them).",
        "v1: stride 2 on the first 1x1 conv of the first bottleneck of conv3_x..conv5_x, as in the paper; "
        "v1.5: on its 3x3 (torchvision). Same parameters; 18/34 have no bottleneck, so both agree.",
        "[k x k, c; ...] x n: the convs of one block (kernel, output channels) and the number of blocks; "
        "shortcut option B (projection where the shape changes).",
        f"source: {ref.HE2015}, Table 1.",
    ]
    return TextTable(title="ResNet, Table 1 of He et al. 2015, computed from the models",
                     columns=cols, cells=cells, records=records, notes=notes, right=set())


def _resnet_column(name: str) -> dict[str, Any]:
    """One model's column of Table 1: its stem, stages, head, output sizes, MACs (v1, v1.5) and parameters."""
    model = build_meta(name)
    s = summarize(model, depth=1, name=name)
    out = {r.name: r for r in s.rows}
    stages = [f"{_block_text(layer[0])} x{len(layer)}"
              for layer in (model.layer1, model.layer2, model.layer3, model.layer4)]
    conv1, maxpool = model.conv1, model.maxpool
    bottleneck = any(hasattr(b, "conv3") for b in model.layer1)
    return {
        "conv1": f"{_kxk(conv1)}, {conv1.out_channels}, stride {conv1.stride[0]}",
        "maxpool": f"{maxpool.kernel_size}x{maxpool.kernel_size} max pool, stride {maxpool.stride}",
        "stages": stages,
        "sizes": [out["conv1"].output_shape, out["maxpool"].output_shape]
        + [out[f"layer{li}"].output_shape for li in range(1, 5)],
        "macs_v1": s.macs,
        "macs_v1_5": resnet_macs(name, variant="v1.5") if bottleneck else s.macs,
        "params": s.params,
        "head": f"average pool, {model.fc.out_features}-d fc, softmax",
    }


# -- ResNet, CIFAR ------------------------------------------------------------------------
CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)


def cifar_resnet_table(depths: Sequence[int] = CIFAR_DEPTHS) -> TextTable:
    """The CIFAR-10 ResNets of He et al. 2015, Sec. 4.2 / Table 6: parameters and MACs per depth."""
    from ..models import list_models
    from ..models.resnet import cifar_resnet

    registered = set(list_models())
    records = []
    cells = []
    for d in depths:
        name = f"resnet{d}"
        if name in registered:
            model = build_meta(name)
            model_b = build_meta(name, shortcut="B")
        else:
            import torch

            with torch.device("meta"):
                model = cifar_resnet(d)
                model_b = cifar_resnet(d, shortcut="B")
        s = summarize(model, depth=0, name=name)
        pb = sum(p.numel() for p in model_b.parameters())
        n = (d - 2) // 6
        p_ref = ref.PARAMS.get(name)
        err = ref.TEST_ERROR_PERCENT.get(f"{name}/cifar10")
        rec = {"depth": d, "n": n, "model": name, "params_A": s.params, "params_B": pb,
               "plain_params": s.params, "macs": s.macs,
               "paper_params": None if p_ref is None else p_ref.source.split("(")[-1].rstrip(")"),
               "paper_error_percent": None if err is None else err.value}
        records.append(rec)
        cells.append([str(d), str(n), f"{s.params:,}", f"{pb:,}", f"{s.macs / 1e6:,.2f}M",
                      rec["paper_params"] or "", "" if err is None else f"{err.value:.2f}"])
    notes = [
        "depth = 6n + 2: a 3x3 conv with 16 filters, 3 stages of n BasicBlocks (2n 3x3 convs, 16/32/64 filters "
        "on 32x32/16x16/8x8 maps), global average pool, 10-way fc. MACs: conv + fc multiply-adds at 32x32.",
        "option A (zero-padded identity shortcuts) has no shortcut parameters, so each plain twin "
        "(plain20 ...) has exactly the option-A count; option B adds 1x1 projections where the shape changes.",
        f"source: {ref.HE2015}, Sec. 4.2 and Table 6 (error: CIFAR-10 test, %).",
    ]
    return TextTable(
        title="CIFAR-10 ResNets (He et al. 2015, Sec. 4.2 / Table 6), computed from the models",
        columns=["depth", "n", "params (A = plain)", "params (B)", "MACs", "paper params", "paper error %"],
        cells=cells, records=records, notes=notes, right={0, 1, 2, 3, 4, 6},
    )


# -- Wide ResNets ---------------------------------------------------------------------------
WRN_NAMES = ("wrn40_1", "wrn40_2", "wrn40_4", "wrn40_8", "wrn16_4", "wrn16_8", "wrn16_10", "wrn22_8", "wrn28_10")
WRN_DEEP_BASELINES = ("preact_resnet164", "preact_resnet1001")


def wide_resnet_table() -> TextTable:
    """Zagoruyko & Komodakis 2016, Table 4: the Wide ResNets' parameters (and the thin, deep pre-activation
    ResNets they are compared with), computed from the models, beside the printed figures and errors."""
    records, cells = [], []
    for name in WRN_NAMES + WRN_DEEP_BASELINES:
        model = build_meta(name)
        s = summarize(model, depth=0, name=name)
        printed = ref.PARAMS_PRINTED_M.get(name)
        err = ref.TEST_ERROR_PERCENT.get(f"{name}/cifar10")
        widths = [stage[0].out_channels for stage in (model.layer1, model.layer2, model.layer3)]
        rec = {"model": name, "depth": model.depth, "widen_factor": model.widen_factor,
               "units_per_stage": len(model.layer1), "widths": widths, "params": s.params, "macs": s.macs,
               "paper_params_m": None if printed is None else printed.value,
               "paper_error_percent": None if err is None else err.value}
        records.append(rec)
        cells.append([name, str(rec["depth"]), "" if rec["widen_factor"] is None else str(rec["widen_factor"]),
                      "/".join(map(str, widths)), f"{s.params:,}", f"{s.macs / 1e6:,.1f}M",
                      "" if printed is None else f"{printed.value}M", "" if err is None else f"{err.value:.2f}"])
    notes = [
        "WRN-d-k: depth d = 6N + 4, N pre-activation basic units B(3,3) per stage with widths 16k/32k/64k on "
        "32x32/16x16/8x8 maps; a 1x1 projection where the width changes. MACs: conv + fc multiply-adds at 32x32.",
        "pre-act ResNet-164/1001: bottleneck units (output widths 64/128/256), the thin and deep nets WRN-40-4 "
        "is compared with; ResNet-1001's printed 10.2M leaves out the BN parameters.",
        "error: CIFAR-10 test %, mean/std normalization (WRN Table 5) where the paper gives it, else ZCA "
        "(Table 4); WRN-16-4's count is not printed in the paper.",
        f"sources: {ref.ZAGORUYKO2016}, Tables 4-6; {ref.HE2016}, Table 3.",
    ]
    return TextTable(
        title="Wide ResNets (Zagoruyko & Komodakis 2016, Table 4), computed from the models",
        columns=["model", "depth", "k", "widths", "params", "MACs", "paper params", "paper error %"],
        cells=cells, records=records, notes=notes, right={1, 2, 4, 5, 6, 7},
    )


# -- Inception v3 -------------------------------------------------------------------------
_FIGURES = {"InceptionA": "Inception (Fig. 5)", "InceptionB": "grid reduction (Fig. 10)",
            "InceptionC": "Inception (Fig. 6)", "InceptionD": "grid reduction (Fig. 10)",
            "InceptionE": "Inception (Fig. 7)"}


def _v3_type(row: LayerRow, module: nn.Module | None) -> tuple[str, str]:
    """(type, patch size/stride) of one stage of the Inception v3 model."""
    if module is None:  # an op in the model's own forward (the stem's functional max pools)
        win = row.windows[0] if row.windows else ""
        kind, _, patch = win.partition(" ")
        return ("pool" if "pool" in kind else kind or row.kind.strip("()")), patch
    cls = type(module).__name__
    if cls == "BasicConv2d":
        conv = _conv_of(module)
        padded = conv.padding != (0, 0)
        return ("conv padded" if padded else "conv"), f"{_kxk(conv)}/{conv.stride[0]}"
    if cls in _FIGURES:
        return _FIGURES[cls], ""
    if cls == "AdaptiveAvgPool2d" and row.input_shape:
        return "pool", f"{row.input_shape[1]}x{row.input_shape[2]}"
    if cls == "Linear":
        return "linear", "logits"
    return cls, ""


def inception_v3_table() -> TextTable:
    """"Rethinking the Inception Architecture", Table 1, for the ``inception_v3`` model.

    One row per stage (consecutive modules of the same kind merged, as the paper
    writes "3 x Inception"), with the type, patch size / stride and input size read
    from the model at 299x299, plus the stage's parameters and multiply-adds.
    """
    model = build_meta("inception_v3")
    s = summarize(model, depth=1, name="inception_v3")
    mods = dict(model.named_children())
    groups: list[dict[str, Any]] = []
    for r in s.rows:
        m = mods.get(r.name) if not r.kind.startswith("(") else None
        if m is not None and type(m).__name__ == "Dropout":
            continue
        kind, patch = _v3_type(r, m)
        last = groups[-1] if groups else None
        if last is not None and kind.startswith(("Inception", "grid")) and last["type"] == kind:
            last["modules"].append(r.name)
            last["macs"] += r.macs
            last["params"] += sum(p.numel() for p in m.parameters())  # type: ignore[union-attr]
            last["output"] = r.output_shape
            continue
        label = "(in forward)" if m is None and r.kind.startswith("(") else r.name
        groups.append({"type": kind, "patch": patch, "input": r.input_shape, "output": r.output_shape,
                       "modules": [label], "macs": r.macs,
                       "params": 0 if m is None else sum(p.numel() for p in m.parameters())})
    groups.append({"type": "softmax", "patch": "classifier", "input": groups[-1]["output"],
                   "output": groups[-1]["output"], "modules": [], "macs": 0, "params": 0})
    cells = []
    for g in groups:
        n = len(g["modules"])
        t = f"{n} x {g['type']}" if n > 1 else g["type"]
        cells.append([t, g["patch"], _hwc(g["input"]), _hwc(g["output"]),
                      ", ".join(g["modules"]) if n <= 2 else f"{g['modules'][0]} .. {g['modules'][-1]}",
                      f"{g['params']:,}" if g["params"] else "", f"{g['macs'] / 1e6:,.1f}M" if g["macs"] else ""])
    records = [{**g, "input": _hwc(g["input"]), "output": _hwc(g["output"])} for g in groups]
    notes = [
        f"total: {s.params:,} parameters, {human(s.macs)} multiply-adds at 299x299 "
        f"(reference: {int(ref.PARAMS['inception_v3'].value):,}; {ref.MACS['inception_v3'].value / 1e9:.2f}G).",
        "the model follows the released (TensorFlow / torchvision) layout; the paper's Table 1 lists the stem "
        "as conv 3x3/2, conv 3x3/1, conv padded 3x3/1, pool 3x3/2, conv 3x3/1 (80), conv 3x3/2 (192), "
        "conv 3x3/1 (288) and 3 / 5 / 2 Inception modules; the released model has a 1x1 (80) and a 3x3 (192) "
        "conv with a max pool, and 3 / 1+4 / 1+2 modules including the grid reductions (Fig. 10).",
        f"source: {ref.SZEGEDY2015}, Table 1.",
    ]
    return TextTable(
        title="Inception v3, Table 1 of Szegedy et al. 2015 ('Rethinking'), computed from the model",
        columns=["type", "patch size/stride", "input size", "output size", "modules", "params", "MACs"],
        cells=cells, records=records, notes=notes, right={5, 6},
    )


TABLES: dict[str, Callable[[], TextTable]] = {
    "googlenet": googlenet_table,
    "resnet": resnet_table,
    "cifar-resnet": cifar_resnet_table,
    "inception_v3": inception_v3_table,
    "wide_resnet": wide_resnet_table,
}
_ALIASES = {"inception-v3": "inception_v3", "inceptionv3": "inception_v3", "cifar_resnet": "cifar-resnet",
            "cifar": "cifar-resnet", "wide-resnet": "wide_resnet", "wrn": "wide_resnet"}


def make_table(name: str) -> TextTable:
    """The table called ``name`` (one of :data:`TABLES`)."""
    key = _ALIASES.get(name, name)
    if key not in TABLES:
        raise InvalidInputError(f"unknown table {name!r}; choose one of {', '.join(TABLES)}")
    return TABLES[key]()
