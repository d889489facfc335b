"""Device and precision, one place for every entry point: ``resolve_device("auto" | "cpu" | "cuda[:N]" | "mps" | ...)``
and ``autocast_dtype(precision, device)``.

``auto`` is CUDA when a CUDA device is present, else the CPU.  A device this
machine does not have (``cuda`` without a GPU, ``mps`` off Apple silicon, a
GPU index past the last one) and a name torch does not know are one clear
:class:`~classicnets.errors.InvalidInputError` naming the flag and the fix,
never a traceback from deep inside torch.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .errors import InvalidInputError

ALIASES = {"gpu": "cuda"}
CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


def resolve_device(name: str | torch.device | None, *, flag: str = "--device") -> torch.device:
    """The ``torch.device`` for ``name``; see the module docstring."""
    if isinstance(name, torch.device):
        name = str(name)
    text = "auto" if name is None else str(name).strip().lower()
    text = ALIASES.get(text, text)
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise InvalidInputError(f"{flag} {name!r}: not a device; choose one of {', '.join(CHOICES)}.") from None
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise InvalidInputError(f"{flag} {name}: no CUDA device is available on this machine; "
                                    "use --device cpu (or auto).")
        if dev.index is not None and dev.index >= n:
            raise InvalidInputError(f"{flag} {name}: this machine has {n} CUDA device(s), cuda:0 to cuda:{n - 1}.")
        return dev
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InvalidInputError(f"{flag} {name}: Apple's MPS device is not available on this machine; "
                                    "use --device cpu (or auto).")
        return dev
    raise InvalidInputError(f"{flag} {name}: classicnets runs on {', '.join(CHOICES)}, not {dev.type!r}.")


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 instructions (AVX512-BF16 or AMX), read from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``--precision`` (None: plain fp32)."""
    if precision == "auto":
        if device.type == "cuda":
            native = torch.cuda.get_device_capability(device)[0] >= 8  # Ampere and later (not emulated)
            return torch.bfloat16 if native else None
        return torch.bfloat16 if cpu_has_native_bf16() else None
    if precision == "fp16":
        if device.type != "cuda":
            raise InvalidInputError("--precision fp16 needs CUDA (its gradient scaler is CUDA-only here); "
                                    "use bf16 or fp32 on the CPU.")
        return torch.float16
    return torch.bfloat16 if precision == "bf16" else None
