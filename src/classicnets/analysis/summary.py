"""Per-layer summaries: output shape, parameters, multiply-accumulates, receptive field.

How it counts
-------------
One forward pass of a single image runs under a ``TorchDispatchMode`` that sees
every ATen operation.  Forward pre/post hooks on every module (removed
afterwards) tell it which module is running, so each operation is charged to
the innermost module that executed it.  Operations that run directly in a
block's ``forward`` (the residual ``out += identity``, the ``torch.cat`` of an
Inception module, a functional ReLU) get their own row named after that block,
so nothing is silently dropped.

* **MACs** (multiply-accumulates) are counted for convolutions and linear layers
  only, with the formulas of :mod:`torch.utils.flop_counter` (which returns
  FLOPs = 2 x MACs; we halve it).  Biases are not counted, as the papers do not.
  FLOPs = 2 x MACs.
* Everything else is counted separately per op class, in elementary operations,
  and shown beside the MACs, never added to them:
  ``bn`` 2 per output element (the inference form y = a*x + b),
  ``act`` (ReLU and other activations) 1 per output element,
  ``pool`` one per input element in each window (output elements x window size),
  ``add`` (element-wise tensor + tensor, e.g. the residual add) 1 per output element,
  ``norm`` (local response normalization and other normalizations) 1 per output
  element of each of its primitive operations,
  ``other`` any other arithmetic op, 1 per output element (their names are listed).
  Views, concatenation, padding and copies cost no operations.
* **Activation memory**: bytes of every tensor the forward pass allocates
  (views and in-place results excluded), for a batch of one.
* **Receptive field**: the theoretical receptive field in input pixels
  (height x width), not clipped to the image and ignoring padding; ``full``
  after a global pooling or a fully connected layer.

The model is never changed: the pass runs through
:func:`torch.func.functional_call` with every parameter and buffer replaced by a
tensor on the ``meta`` device (no memory, no arithmetic), in eval mode; the
original train/eval flags, ``state_dict`` and hook dictionaries are restored.
If a model cannot run on ``meta``, the pass falls back to real zeros on the
model's own device under ``torch.no_grad()``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from ..errors import InvalidInputError
from ._render import human

__all__ = [
    "CONVENTION",
    "OP_CLASSES",
    "LayerRow",
    "Summary",
    "count_params",
    "summarize",
    "preserve_model",
]

#: Op classes counted beside the MACs, in display order.
OP_CLASSES: tuple[str, ...] = ("bn", "act", "pool", "add", "norm", "other")

CONVENTION = (
    "MACs = multiply-accumulates of conv and linear layers (biases not counted); FLOPs = 2 x MACs. "
    "Counted separately, in elementary ops, not in MACs/FLOPs: bn = 2 per element (y = a*x + b), "
    "act (ReLU etc.) = 1 per element, pool = window size per output element, add (residual and other "
    "tensor + tensor adds) = 1 per element, norm (LRN) and other = 1 per element of each primitive op. "
    "Views, cat, padding and copies cost nothing. Activation memory = bytes of every tensor the forward "
    "pass allocates (no views, no in-place results), batch of 1. RF = theoretical receptive field in "
    "input pixels (H x W), unclipped; 'full' after global pooling or a linear layer."
)

# -- classification of ATen ops -------------------------------------------------
_MAC_OPS = {"convolution", "_convolution", "mm", "addmm", "bmm", "baddbmm", "_slow_conv2d_forward",
            "cudnn_convolution", "convolution_overrideable", "mkldnn_convolution"}
_LINEAR_OPS = {"mm", "addmm", "bmm", "baddbmm"}
_BN_OPS = {"native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
           "_native_batch_norm_legit_functional", "batch_norm", "cudnn_batch_norm", "miopen_batch_norm",
           "native_group_norm", "native_layer_norm"}
_ACT_OPS = {"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "hardtanh", "hardtanh_", "gelu",
            "leaky_relu", "leaky_relu_", "elu", "elu_", "silu", "silu_", "threshold", "threshold_",
            "softplus", "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_", "relu6", "clamp_min",
            "clamp_min_"}
_POOL_OPS = {"max_pool2d_with_indices", "max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d",
             "_adaptive_avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "max_pool3d_with_indices",
             "avg_pool3d", "_adaptive_avg_pool3d"}
_ADD_OPS = {"add", "add_"}
_FREE_OPS = {"cat", "stack", "constant_pad_nd", "clone", "_to_copy", "copy_", "copy", "empty", "empty_like",
             "zeros", "zeros_like", "ones", "ones_like", "new_zeros", "new_empty", "new_ones", "full",
             "full_like", "fill_", "detach", "lift_fresh", "alias", "contiguous", "empty_strided",
             "_unsafe_view", "reflection_pad2d", "replication_pad2d", "native_dropout", "bernoulli_",
             "split_with_sizes", "split", "unbind", "_local_scalar_dense", "scalar_tensor", "arange"}


def _module_class(module: nn.Module) -> str | None:
    """An op class forced by a leaf module's type (so LRN's primitive ops stay together)."""
    if isinstance(module, nn.modules.batchnorm._NormBase) or "BatchNorm" in type(module).__name__:
        return "bn"
    if isinstance(module, (nn.LocalResponseNorm, nn.GroupNorm, nn.LayerNorm, nn.CrossMapLRN2d)):
        return "norm"
    if isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                           nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
        return "pool"
    if isinstance(module, (nn.ReLU, nn.ReLU6, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.ELU, nn.GELU,
                           nn.SiLU, nn.Hardtanh, nn.Softplus, nn.Hardswish)):
        return "act"
    return None


# -- receptive field bookkeeping ----------------------------------------------------
@dataclass(frozen=True)
class _RF:
    """Receptive field (rh, rw) and jump (input pixels per output pixel) of a tensor."""

    rh: int = 1
    rw: int = 1
    jh: int = 1
    jw: int = 1
    full: bool = False

    def window(self, kh: int, kw: int, sh: int, sw: int, dh: int = 1, dw: int = 1) -> _RF:
        if self.full:
            return self
        return _RF(
            self.rh + (dh * (kh - 1)) * self.jh,
            self.rw + (dw * (kw - 1)) * self.jw,
            self.jh * sh,
            self.jw * sw,
        )

    @staticmethod
    def merge(items: Sequence[_RF]) -> _RF:
        if any(r.full for r in items):
            return _RF(full=True)
        return _RF(max(r.rh for r in items), max(r.rw for r in items),
                   max(r.jh for r in items), max(r.jw for r in items))

    def as_tuple(self) -> tuple[int, int] | None:
        return None if self.full else (self.rh, self.rw)


def _pair(v: Any, default: int | None = None) -> tuple[int, int]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        assert default is not None
        return (default, default)
    if isinstance(v, int):
        return (v, v)
    v = list(v)
    return (int(v[0]), int(v[-1])) if len(v) >= 2 else (int(v[0]), int(v[0]))


# -- rows and the summary -----------------------------------------------------------
@dataclass
class LayerRow:
    """One row of a summary: a leaf module call, a block's own ops, or a block at the chosen depth."""

    name: str
    kind: str
    depth: int
    output_shape: tuple[int, ...] | None = None
    params: int = 0
    macs: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    activation_bytes: int = 0
    rf: tuple[int, int] | None = None
    rf_known: bool = False
    input_shape: tuple[int, ...] | None = None
    windows: list[str] = field(default_factory=list)

    @property
    def rf_text(self) -> str:
        if not self.rf_known:
            return ""
        if self.rf is None:
            return "full"
        h, w = self.rf
        return f"{h}" if h == w else f"{h}x{w}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind,
            "depth": self.depth,
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            **{f"{k}_ops": self.ops.get(k, 0) for k in OP_CLASSES},
            "activation_bytes": self.activation_bytes,
            "receptive_field": self.rf_text,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "windows": list(self.windows),
        }


@dataclass
class Summary:
    """The result of :func:`summarize`: rows plus totals, with the counting convention."""

    model: str
    input_size: tuple[int, int, int]
    rows: list[LayerRow]
    params: int
    trainable_params: int
    frozen_params: int
    buffers: int
    macs: int
    ops: dict[str, int]
    activation_bytes: int
    other_op_names: list[str]
    device: str
    depth: int | None = None
    convention: str = CONVENTION
    unused: dict[str, int] = field(default_factory=dict)  # modules forward() did not run -> their params

    @property
    def flops(self) -> int:
        """FLOPs = 2 x MACs (conv and linear only)."""
        return 2 * self.macs

    def totals(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "trainable_params": self.trainable_params,
            "frozen_params": self.frozen_params,
            "buffers": self.buffers,
            "macs": self.macs,
            "flops": self.flops,
            **{f"{k}_ops": self.ops.get(k, 0) for k in OP_CLASSES},
            "activation_bytes": self.activation_bytes,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_size": list(self.input_size),
            "depth": self.depth,
            "counted_on": self.device,
            "convention": self.convention,
            "other_op_names": self.other_op_names,
            "not_run_by_forward": self.unused,
            "totals": self.totals(),
            "rows": [r.as_dict() for r in self.rows],
        }

    # -- renderings ---------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def to_csv(self) -> str:
        buf = io.StringIO()
        rows = [r.as_dict() for r in self.rows]
        fields = list(rows[0]) if rows else ["name"]
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in rows:
            r = dict(r)
            r["output_shape"] = "x".join(map(str, r["output_shape"] or []))
            w.writerow(r)
        t = self.totals()
        total = {k: "" for k in fields}
        total.update(name="TOTAL", params=t["params"], macs=t["macs"],
                     activation_bytes=t["activation_bytes"], **{f"{k}_ops": t[f"{k}_ops"] for k in OP_CLASSES})
        w.writerow(total)
        return buf.getvalue()

    def _columns(self) -> list[str]:
        return [k for k in OP_CLASSES if self.ops.get(k, 0)]

    def _cells(self, r: LayerRow, cols: list[str]) -> list[str]:
        shape = "" if r.output_shape is None else "x".join(map(str, r.output_shape))
        return [r.name, r.kind, shape, f"{r.params:,}" if r.params else "",
                human(r.macs) if r.macs else "", *[human(r.ops.get(k, 0)) if r.ops.get(k) else "" for k in cols],
                r.rf_text]

    def footer_lines(self) -> list[str]:
        lines = [
            f"params: {self.params:,} (trainable {self.trainable_params:,}, frozen {self.frozen_params:,}); "
            f"buffers: {self.buffers:,} elements",
            f"MACs: {human(self.macs)} ({self.macs:,})   FLOPs (2 x MACs): {human(self.flops)}",
            "other ops: " + (", ".join(f"{k} {human(self.ops[k])}" for k in self._columns()) or "none"),
            f"activation memory: {self.activation_bytes / 2**20:,.2f} MiB "
            f"(input {'x'.join(map(str, self.input_size))}, batch 1, counted on {self.device})",
        ]
        if self.other_op_names:
            lines.append("'other' ops seen: " + ", ".join(self.other_op_names))
        if self.unused:
            lines.append("not run by forward() (their parameters are in the total, not in any row): " + ", ".join(
                f"{n} ({p:,} params)" for n, p in self.unused.items()))
        lines.append("convention: " + self.convention)
        return lines

    def render(self, fmt: str) -> str:
        """The summary as text: ``table`` (plain fixed-width), ``csv``, ``json`` or ``markdown``."""
        from ._render import check_format

        check_format(fmt)
        return {"table": self.to_text, "csv": self.to_csv, "json": self.to_json,
                "markdown": self.to_markdown}[fmt]()

    def to_markdown(self) -> str:
        cols = self._columns()
        head = ["layer", "type", "output", "params", "MACs", *cols, "RF"]
        out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        for r in self.rows:
            out.append("| " + " | ".join(self._cells(r, cols)) + " |")
        out.append("")
        out.extend(f"- {line}" for line in self.footer_lines())
        return "\n".join(out)

    def to_text(self) -> str:
        """A plain fixed-width table (no colour), the same content as the rich table."""
        cols = self._columns()
        head = ["layer", "type", "output", "params", "MACs", *cols, "RF"]
        cells = [self._cells(r, cols) for r in self.rows]
        widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(head)]
        left = {0, 1, 2}

        def fmt(row: list[str]) -> str:
            pairs = enumerate(zip(row, widths, strict=True))
            return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in pairs)

        lines = [fmt(head), "  ".join("-" * w for w in widths), *(fmt(c) for c in cells), ""]
        lines += self.footer_lines()
        return "\n".join(lines)

    def rich_table(self) -> Any:
        from rich.table import Table

        cols = self._columns()
        title = f"{self.model}: input {'x'.join(map(str, self.input_size))}" + (
            f", blocks at depth {self.depth}" if self.depth is not None else ", one row per layer")
        table = Table(title=title, show_lines=False)
        for c in ["layer", "type", "output"]:
            table.add_column(c, justify="left", no_wrap=True)
        for c in ["params", "MACs", *cols, "RF"]:
            table.add_column(c, justify="right", no_wrap=True)
        for r in self.rows:
            table.add_row(*self._cells(r, cols))
        return table


def count_params(model: nn.Module) -> tuple[int, int, int]:
    """(total, trainable, frozen) learnable parameters, shared tensors counted once."""
    seen: set[int] = set()
    total = trainable = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return total, trainable, total - trainable


# -- the model is never changed -------------------------------------------------------
@contextmanager
def preserve_model(model: nn.Module) -> Iterator[None]:
    """Restore every module's train/eval flag on exit and check no hook was left behind."""
    flags = [(m, m.training) for m in model.modules()]
    try:
        yield
    finally:
        for m, t in flags:
            m.training = t


# -- the counting pass -------------------------------------------------------------------
class _Recorder(TorchDispatchMode):
    """Charges every ATen op to the innermost running module and tracks receptive fields."""

    def __init__(self, names: dict[nn.Module, str], leaves: set[nn.Module]) -> None:
        super().__init__()
        self.names = names
        self.leaves = leaves
        self.stack: list[tuple[nn.Module, int]] = []  # (module, call id)
        self.calls = 0
        self.rows: list[tuple[LayerRow, list[int]]] = []  # row, ancestor call ids (index = nesting depth)
        self.open_leaf: LayerRow | None = None
        self.call_out: dict[int, tuple[tuple[int, ...] | None, _RF | None]] = {}
        self.call_module: dict[int, nn.Module] = {}
        self.call_in: dict[int, tuple[int, ...] | None] = {}
        self.rf: dict[int, tuple[torch.Tensor, _RF]] = {}  # id(tensor) -> (tensor kept alive, rf)
        self.other_names: set[str] = set()

    # module hooks ---------------------------------------------------------
    def pre(self, module: nn.Module, args: Any) -> None:
        self.calls += 1
        self.stack.append((module, self.calls))
        self.call_module[self.calls] = module
        t = _first_tensor(args)
        self.call_in[self.calls] = None if t is None else tuple(t.shape[1:])
        if module in self.leaves:
            row = LayerRow(self.names[module], type(module).__name__, len(self.stack) - 1,
                           input_shape=self.call_in[self.calls])
            self.rows.append((row, [c for _, c in self.stack]))
            self.open_leaf = row

    def post(self, module: nn.Module, args: Any, output: Any) -> None:
        mod, call = self.stack.pop()
        t = output if isinstance(output, torch.Tensor) else _first_tensor(output)
        shape = None if t is None else tuple(t.shape[1:])
        rf = None if t is None else self.rf_of(t)
        self.call_out[call] = (shape, rf)
        if module in self.leaves and self.open_leaf is not None:
            self.open_leaf.output_shape = shape
            if rf is not None:
                self.open_leaf.rf, self.open_leaf.rf_known = rf.as_tuple(), True
            self.open_leaf = None

    # receptive fields -------------------------------------------------------
    def rf_of(self, t: torch.Tensor) -> _RF | None:
        hit = self.rf.get(id(t))
        return None if hit is None or hit[0] is not t else hit[1]

    def set_rf(self, t: torch.Tensor, rf: _RF) -> None:
        self.rf[id(t)] = (t, rf)

    def _rf_for(self, name: str, args: tuple, out: Any) -> _RF | None:
        ins = [r for a in _tensors(args) if (r := self.rf_of(a)) is not None]
        if not ins:
            return None
        base = _RF.merge(ins)
        x = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if name in ("convolution", "_convolution", "mkldnn_convolution", "_slow_conv2d_forward",
                    "cudnn_convolution", "convolution_overrideable") and x is not None and x.dim() == 4:
            w = args[1]
            kh, kw = int(w.shape[-2]), int(w.shape[-1])
            stride = _pair(args[3] if len(args) > 3 else 1, 1)
            dil = _pair(args[5] if len(args) > 5 and name != "_slow_conv2d_forward" else 1, 1)
            return self.rf_of(x).window(kh, kw, *stride, *dil) if self.rf_of(x) else base
        if name in ("max_pool2d_with_indices", "max_pool2d", "avg_pool2d") and x is not None:
            k, s = _pool_kernel_stride(args)
            d = _pair(args[4], 1) if name != "avg_pool2d" and len(args) > 4 else (1, 1)
            r = self.rf_of(x)
            return r.window(k[0], k[1], s[0], s[1], d[0], d[1]) if r else base
        if name in ("_adaptive_avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d") and x is not None:
            oh, ow = _pair(args[1])
            ih, iw = int(x.shape[-2]), int(x.shape[-1])
            if oh == 1 and ow == 1:
                return _RF(full=True)
            r = self.rf_of(x)
            kh, kw = math.ceil(ih / oh), math.ceil(iw / ow)
            return r.window(kh, kw, max(ih // oh, 1), max(iw // ow, 1)) if r else base
        if name in ("mean", "amax", "sum", "max") and x is not None and x.dim() == 4:
            dims = args[1] if len(args) > 1 else None
            if dims is not None:
                dims = [int(d) % 4 for d in (dims if isinstance(dims, (list, tuple)) else [dims])]
                if set(dims) >= {2, 3}:
                    return _RF(full=True)
            return base
        if name in _LINEAR_OPS:
            return _RF(full=True)
        return base

    # the dispatch hook ---------------------------------------------------------
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # TorchDispatchMode wraps __torch_dispatch__ in torch._disable_dynamo, whose first call imports
        # torch._dynamo (about 2 s). Nothing is compiled inside a summary, so the wrapper is not needed.
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        out = _meta_shortcut(func, args)
        if out is None:
            out = func(*args, **kwargs)
        name = func._overloadpacket.__name__
        returns = func._schema.returns
        aliasing = bool(returns) and returns[0].alias_info is not None
        outs = [o for o in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(o, torch.Tensor)]
        main = outs[0] if outs else None

        # receptive field of the result
        if main is not None:
            rf = self._rf_for(name, args, out)
            if rf is not None:
                for o in outs:
                    if o.dim() >= 2:
                        self.set_rf(o, rf)
        if aliasing and name not in _ACT_OPS and name not in _ADD_OPS:
            return out  # a view or an in-place non-arithmetic op: nothing to count
        if name in ("empty", "empty_like", "empty_strided", "detach", "lift_fresh", "alias"):
            return out

        # what it costs
        macs = 0
        cls: str | None = None
        ops = 0
        numel = main.numel() if main is not None else 0
        leaf_cls = _module_class(self.stack[-1][0]) if self.stack and self.stack[-1][0] in self.leaves else None
        if func._overloadpacket in flop_registry and name in _MAC_OPS:
            macs = int(flop_registry[func._overloadpacket](*args, **kwargs, out_val=out)) // 2
        elif name in _FREE_OPS:
            pass
        elif leaf_cls is not None:
            cls = leaf_cls
        elif name in _BN_OPS:
            cls = "bn"
        elif name in _ACT_OPS:
            cls = "act"
        elif name in _POOL_OPS or (name == "mean" and main is not None and main.dim() == 4
                                   and args and isinstance(args[0], torch.Tensor) and args[0].dim() == 4):
            cls = "pool"
        elif name in _ADD_OPS and len(args) > 1 and isinstance(args[1], torch.Tensor) \
                and args[1].dim() > 0 and tuple(args[0].shape) == tuple(args[1].shape):
            cls = "add"
        else:
            cls = "other"
            self.other_names.add(f"aten.{name}")
        if cls == "bn":
            ops = 2 * numel
        elif cls == "pool":
            ops = _pool_ops(name, args, main)
        elif cls is not None:
            ops = numel
        alloc = 0 if aliasing else sum(o.numel() * o.element_size() for o in outs)

        row = self._row_for_op(name, cls, args)
        win = _window_text(name, args)
        if win:
            row.windows.append(win)
        row.macs += macs
        if cls is not None and ops:
            row.ops[cls] = row.ops.get(cls, 0) + ops
        row.activation_bytes += alloc
        if row is not self.open_leaf and main is not None:  # a block's own op: its output is the row's
            row.output_shape = tuple(main.shape[1:])
            r = self.rf_of(main)
            if r is not None:
                row.rf, row.rf_known = r.as_tuple(), True
        return out

    def _row_for_op(self, name: str, cls: str | None, args: tuple) -> LayerRow:
        if self.open_leaf is not None and self.stack and self.stack[-1][0] in self.leaves:
            return self.open_leaf
        owner, call = self.stack[-1] if self.stack else (None, 0)
        label = _op_label(name, cls)
        if self.rows and self.rows[-1][1][-1] == call and self.rows[-1][0] is not self.open_leaf \
                and self.rows[-1][0].kind.startswith("("):
            row = self.rows[-1][0]
            if label not in row.kind[1:-1].split(", "):
                row.kind = row.kind[:-1] + f", {label})"
            return row
        base = self.names.get(owner, "") if owner is not None else ""
        t = _first_tensor(args)
        row = LayerRow(base or "(model)", f"({label})", len(self.stack) - 1,
                       input_shape=None if t is None else tuple(t.shape[1:]))
        self.rows.append((row, [c for _, c in self.stack]))
        return row


_BN_SHORTCUT = {"native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit"}
_MM_SHORTCUT = {"mm", "addmm"}
_SHAPE_SHORTCUT = {"mean", "cat", "convolution", "max_pool2d_with_indices", "avg_pool2d", "_adaptive_avg_pool2d"}
_ELEMENTWISE = {"add", "sub", "mul", "div", "pow", "relu", "sigmoid", "tanh", "hardtanh", "clamp_min", "clamp",
                "threshold", "leaky_relu", "elu", "gelu", "silu", "neg", "sqrt", "rsqrt", "exp", "log", "abs",
                "maximum", "minimum", "hardswish", "hardsigmoid", "softplus", "relu6"}


def _meta_shortcut(func: Any, args: tuple) -> Any:
    """The result of a common op on meta tensors, computed from shapes alone.

    Element-wise ops, eval-mode BatchNorm, 2-D convolution and pooling, ``mm``/``addmm``,
    ``mean`` and ``cat``.  On the meta device these run Python meta kernels
    (torch._meta_registrations, torch._refs) whose first calls import torch._dynamo and
    sympy (about 2.5 s together) and which cost tens of microseconds to milliseconds each.
    Their results only need a shape and a dtype; every other op, and any case not handled
    here (returns None), runs its real meta kernel.  A test checks that the meta pass gives
    the same rows as a real pass on CPU.
    """
    name = func._overloadpacket.__name__
    inplace = name.endswith("_")
    base = name[:-1] if inplace else name
    if base not in _ELEMENTWISE and name not in _BN_SHORTCUT and name not in _MM_SHORTCUT \
            and name not in _SHAPE_SHORTCUT:
        return None
    tensors = [a for a in (args[0] if name == "cat" else args) if isinstance(a, torch.Tensor)]
    if not tensors or not all(t.is_meta for t in tensors):
        return None
    x = tensors[0]
    if name in _MM_SHORTCUT:
        if name == "mm" and len(tensors) == 2 and tensors[0].dim() == 2 and tensors[1].dim() == 2:
            return torch.empty((x.shape[0], tensors[1].shape[1]), dtype=x.dtype, device="meta")
        if name == "addmm" and len(tensors) == 3 and tensors[1].dim() == 2 and tensors[2].dim() == 2:
            return torch.empty((tensors[1].shape[0], tensors[2].shape[1]), dtype=tensors[1].dtype, device="meta")
        return None
    if name == "convolution":
        return _meta_conv(args)
    if name in ("max_pool2d_with_indices", "avg_pool2d"):
        return _meta_pool(name, args)
    if name == "_adaptive_avg_pool2d" and x.dim() in (3, 4):
        oh, ow = _pair(args[1])
        return torch.empty((*x.shape[:-2], oh, ow), dtype=x.dtype, device="meta")
    if name == "mean" and len(args) >= 2 and isinstance(args[1], (list, tuple)) and args[1]:
        keep = bool(args[2]) if len(args) > 2 else False
        dims = {int(d) % x.dim() for d in args[1]}
        shape = [1 if i in dims else n for i, n in enumerate(x.shape) if keep or i not in dims]
        return torch.empty(shape, dtype=x.dtype, device="meta")
    if name == "cat":
        parts = [t for t in args[0] if t.dim() > 1 or t.numel() > 0]
        dim = int(args[1]) if len(args) > 1 else 0
        if not parts or len({t.dim() for t in parts}) != 1:
            return None
        dim %= parts[0].dim()
        shape = list(parts[0].shape)
        shape[dim] = sum(int(t.shape[dim]) for t in parts)
        return torch.empty(shape, dtype=parts[0].dtype, device="meta")
    if name in _BN_SHORTCUT:
        if len(func._schema.returns) != 3:
            return None
        empty = torch.empty((0,), dtype=x.dtype, device="meta")
        return (torch.empty(tuple(x.shape), dtype=x.dtype, device="meta"), empty, empty)
    if len(func._schema.returns) != 1 or func._schema.returns[0].type.kind() != "TensorType":
        return None
    if inplace:
        return x
    shape = _broadcast([tuple(t.shape) for t in tensors])
    if shape is None:
        return None
    dtype = x.dtype
    for a in args[1:]:
        if isinstance(a, (torch.Tensor, int, float, bool)):
            dtype = torch.result_type(x, a) if not isinstance(a, torch.Tensor) or a.dim() > 0 else dtype
    return torch.empty(shape, dtype=dtype, device="meta")


def _broadcast(shapes: list[tuple[int, ...]]) -> tuple[int, ...] | None:
    """NumPy broadcasting of shapes (torch.broadcast_shapes imports sympy on first use); None if they clash."""
    n = max(len(sh) for sh in shapes)
    out = []
    for i in range(n):
        sizes = {sh[i - n + len(sh)] for sh in shapes if i - n + len(sh) >= 0} - {1}
        if len(sizes) > 1:
            return None
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Output length of a conv / pool window along one axis (PyTorch's formula, ceil_mode included)."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _meta_conv(args: tuple) -> torch.Tensor | None:
    """The output of a plain 2-D convolution on meta tensors (None: let the real meta kernel run)."""
    if len(args) < 9 or args[6] or args[0].dim() != 4 or args[1].dim() != 4:
        return None  # transposed or not 2-D
    x, w = args[0], args[1]
    (sh, sw), (ph, pw), (dh, dw) = _pair(args[3], 1), _pair(args[4], 0), _pair(args[5], 1)
    if x.shape[1] != w.shape[1] * int(args[8]):
        return None  # let the real kernel raise its own error
    oh = _out_size(int(x.shape[2]), int(w.shape[2]), sh, ph, dh, False)
    ow = _out_size(int(x.shape[3]), int(w.shape[3]), sw, pw, dw, False)
    if oh < 1 or ow < 1:
        return None
    return torch.empty((x.shape[0], w.shape[0], oh, ow), dtype=x.dtype, device="meta")


def _meta_pool(name: str, args: tuple) -> Any:
    """The output(s) of a 2-D max / average pool on meta tensors (None: let the real meta kernel run)."""
    x = args[0]
    if x.dim() != 4:
        return None
    (kh, kw), (sh, sw) = _pool_kernel_stride(args)
    ph, pw = _pair(args[3], 0) if len(args) > 3 else (0, 0)
    if name == "max_pool2d_with_indices":
        dh, dw = _pair(args[4], 1) if len(args) > 4 else (1, 1)
        ceil_mode = bool(args[5]) if len(args) > 5 else False
    else:
        dh, dw = 1, 1
        ceil_mode = bool(args[4]) if len(args) > 4 else False
    oh = _out_size(int(x.shape[2]), kh, sh, ph, dh, ceil_mode)
    ow = _out_size(int(x.shape[3]), kw, sw, pw, dw, ceil_mode)
    if oh < 1 or ow < 1:
        return None
    out = torch.empty((x.shape[0], x.shape[1], oh, ow), dtype=x.dtype, device="meta")
    if name == "max_pool2d_with_indices":
        return out, torch.empty(out.shape, dtype=torch.int64, device="meta")
    return out


def _op_label(name: str, cls: str | None) -> str:
    """A short label for an op run directly in a block's forward."""
    if cls == "add":
        return "add"
    if name.startswith("relu"):
        return "relu"
    if name.startswith("max_pool") or name == "adaptive_max_pool2d":
        return "maxpool"
    if "avg_pool" in name or (cls == "pool" and name == "mean"):
        return "avgpool"
    return name.rstrip("_")


def _pool_kernel_stride(args: tuple) -> tuple[tuple[int, int], tuple[int, int]]:
    """Kernel and stride of a pooling op (an empty or missing stride means the kernel size)."""
    k = _pair(args[1])
    st = args[2] if len(args) > 2 else None
    if st is None or (isinstance(st, (list, tuple)) and len(st) == 0):
        return k, k
    return k, _pair(st)


def _window_text(name: str, args: tuple) -> str:
    """'conv 3x3/2', 'maxpool 3x3/2', 'avgpool 5x5/3' for windowed ops, '' otherwise."""
    try:
        if name in ("convolution", "_convolution") and args[1].dim() == 4:
            kh, kw = int(args[1].shape[-2]), int(args[1].shape[-1])
            sh, sw = _pair(args[3], 1)
            kind = "conv"
        elif name in ("max_pool2d_with_indices", "max_pool2d", "avg_pool2d"):
            (kh, kw), (sh, sw) = _pool_kernel_stride(args)
            kind = "avgpool" if name == "avg_pool2d" else "maxpool"
        else:
            return ""
    except (IndexError, AttributeError, TypeError):
        return ""
    k = f"{kh}x{kw}"
    s = f"{sh}" if sh == sw else f"{sh}x{sw}"
    return f"{kind} {k}/{s}"


def _pool_ops(name: str, args: tuple, out: torch.Tensor | None) -> int:
    if out is None:
        return 0
    x = args[0] if args and isinstance(args[0], torch.Tensor) else None
    if name in ("max_pool2d_with_indices", "max_pool2d", "avg_pool2d"):
        k = _pair(args[1])
        return out.numel() * k[0] * k[1]
    if name == "avg_pool3d":
        k = list(args[1]) if isinstance(args[1], (list, tuple)) else [args[1]] * 3
        return out.numel() * math.prod(int(v) for v in k) if len(k) == 3 else out.numel() * int(k[0]) ** 3
    if x is not None:  # adaptive / global pooling: every input element is read once
        return x.numel()
    return out.numel()


def _tensors(args: Any) -> Iterator[torch.Tensor]:
    for a in args:
        if isinstance(a, torch.Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (t for t in a if isinstance(t, torch.Tensor))


def _first_tensor(x: Any) -> torch.Tensor | None:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (list, tuple)):
        for v in x:
            t = _first_tensor(v)
            if t is not None:
                return t
    if isinstance(x, dict):
        for v in x.values():
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


def _parse_input_size(model: nn.Module, input_size: Sequence[int] | None) -> tuple[int, int, int]:
    if input_size is None:
        size = getattr(model, "default_input_size", None)
        if size is None:
            raise InvalidInputError(
                f"{type(model).__name__} has no default_input_size; pass input_size=(C, H, W)")
        return tuple(int(v) for v in size)  # type: ignore[return-value]
    size = tuple(int(v) for v in input_size)
    if len(size) != 3 or min(size) < 1:
        raise InvalidInputError(f"input size must be three positive integers C,H,W; got {input_size!r}")
    return size  # type: ignore[return-value]


def _run(model: nn.Module, x: torch.Tensor, on_meta: bool, rec: _Recorder) -> None:
    from torch.func import functional_call

    handles = []
    try:
        for m in model.modules():
            handles.append(m.register_forward_pre_hook(rec.pre))
            handles.append(m.register_forward_hook(rec.post, always_call=True))
        rec.set_rf(x, _RF())
        with torch.no_grad(), rec:
            if on_meta:
                tensors = {}
                for n, t in list(model.named_parameters(remove_duplicate=False)) + \
                        list(model.named_buffers(remove_duplicate=False)):
                    tensors[n] = torch.empty(tuple(t.shape), dtype=t.dtype, device="meta")
                functional_call(model, tensors, (x,), strict=False, tie_weights=True)
            else:
                model(x)
    finally:
        for h in handles:
            h.remove()


def summarize(
    model: nn.Module,
    input_size: Sequence[int] | None = None,
    *,
    depth: int | None = None,
    name: str | None = None,
    meta: bool = True,
) -> Summary:
    """Count a model's parameters, MACs, other ops, activation memory and receptive fields.

    Args:
        model: any ``nn.Module`` taking one image batch; classicnets models give
            their own ``default_input_size``.
        input_size: ``(C, H, W)`` of one input image; default: the model's.
        depth: ``None`` for one row per layer (leaf module); ``N`` to merge the
            rows into the modules N levels below the model (1 = its children).
        name: the label printed with the table (default: the class name).
        meta: count on the meta device (default; no memory, no arithmetic).  False,
            or a model that cannot run on meta, runs a real forward pass of zeros
            on the model's device under ``torch.no_grad()``.

    Returns:
        a :class:`Summary` (``.rows``, ``.macs``, ``.flops``, ``.params`` ...,
        ``.to_text()``, ``.to_csv()``, ``.to_json()``, ``.to_markdown()``).

    The model is left exactly as it was (see the module docstring).
    """
    if depth is not None and depth < 0:
        raise InvalidInputError(f"depth must be >= 0, got {depth}")
    size = _parse_input_size(model, input_size)
    rec, used = _record(model, size, meta)
    rows = _group(rec, depth)
    _charge_params(model, rows)
    total, trainable, frozen = count_params(model)
    ops: dict[str, int] = {}
    for r in rows:
        for k, v in r.ops.items():
            ops[k] = ops.get(k, 0) + v
    return Summary(
        model=name or type(model).__name__,
        input_size=size,
        rows=rows,
        params=total,
        trainable_params=trainable,
        frozen_params=frozen,
        buffers=sum(b.numel() for b in model.buffers()),
        macs=sum(r.macs for r in rows),
        ops=ops,
        activation_bytes=sum(r.activation_bytes for r in rows),
        other_op_names=sorted(rec.other_names),
        unused=_unused_modules(model, set(rec.call_module.values())),
        device=used,
        depth=depth,
    )


def _record(model: nn.Module, size: tuple[int, ...], meta: bool) -> tuple[_Recorder, str]:
    """One forward pass of a zero image recorded op by op: on the meta device when it can (and ``meta``),
    else for real on the model's device. Returns the recorder and the device type used."""
    first = next(iter(model.parameters()), None)
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    device = first.device if first is not None else torch.device("cpu")
    names = {m: n for n, m in model.named_modules(remove_duplicate=False)}
    leaves = {m for m in model.modules() if next(iter(m.children()), None) is None}
    leaves.discard(model)
    with preserve_model(model):
        model.eval()
        rec = _Recorder(names, leaves)
        try:
            if not meta:
                raise NotImplementedError("a real pass was asked for")
            _run(model, torch.zeros((1, *size), dtype=dtype, device="meta"), True, rec)
            return rec, "meta"
        except (NotImplementedError, RuntimeError):
            if device.type == "meta":
                raise
        rec = _Recorder(names, leaves)
        _run(model, torch.zeros((1, *size), dtype=dtype, device=device), False, rec)
        return rec, str(device.type)


def _charge_params(model: nn.Module, rows: list[LayerRow]) -> None:
    """Each module's (recursive) parameters, charged to its first row only (a shared parameter once)."""
    seen_mods: set[str] = set()
    mods = dict(model.named_modules())
    seen_params: set[int] = set()
    for r in rows:
        if r.kind.startswith("(") or r.name in seen_mods:
            continue
        seen_mods.add(r.name)
        m = mods.get("" if r.name == "(model)" else r.name)
        if m is None:
            continue
        for p in m.parameters():
            if id(p) not in seen_params:
                seen_params.add(id(p))
                r.params += p.numel()


def _unused_modules(model: nn.Module, called: set[nn.Module]) -> dict[str, int]:
    """Top-most modules holding parameters that the forward pass never called (e.g. auxiliary heads)."""
    out: dict[str, int] = {}
    for name, m in model.named_modules():
        if m in called or not name or any(name.startswith(u + ".") for u in out):
            continue
        n = sum(p.numel() for p in m.parameters())
        if n:
            out[name] = n
    return out


def _group(rec: _Recorder, depth: int | None) -> list[LayerRow]:
    """Merge consecutive rows that belong to the same module call ``depth`` levels below the model.

    A block's own ops (its residual add, its concatenation) merge into the block's
    row when the block is at ``depth``; above it they keep their own row.
    """
    if depth is None:
        return [r for r, _ in rec.rows]
    out: list[LayerRow] = []
    last_key: int | None = None
    for row, calls in rec.rows:
        level = len(calls) - 1
        if row.kind.startswith("(") and level < depth:
            out.append(row)
            last_key = None
            continue
        key = calls[min(depth, level)]
        if key != last_key:
            module = rec.call_module[key]
            merged = LayerRow(rec.names.get(module, "") or "(model)", type(module).__name__, min(depth, level),
                              input_shape=rec.call_in.get(key))
            shape, rf = rec.call_out.get(key, (None, None))
            merged.output_shape = shape
            if rf is not None:
                merged.rf, merged.rf_known = rf.as_tuple(), True
            out.append(merged)
            last_key = key
        m = out[-1]
        m.macs += row.macs
        for k, v in row.ops.items():
            m.ops[k] = m.ops.get(k, 0) + v
        m.activation_bytes += row.activation_bytes
        m.windows.extend(row.windows)
    return out
