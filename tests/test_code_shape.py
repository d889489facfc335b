"""The code keeps the shape the README's layout promises: short functions, no import cycle between files,
imports that follow the layer order (benchmarks/code_shape.py prints the same figures)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "code_shape.py"
_spec = importlib.util.spec_from_file_location("code_shape", _PATH)
shape = importlib.util.module_from_spec(_spec)
sys.modules["code_shape"] = shape  # dataclasses look their module up there
_spec.loader.exec_module(shape)  # type: ignore[union-attr]


def _functions() -> list:
    return [f for p in shape.source_files() for f in shape.functions(p)]


def test_no_function_is_longer_than_80_lines() -> None:
    long = [f"{f.qualname} ({f.length} lines, {f.path}:{f.line})" for f in _functions()
            if f.length > 80 and f.qualname not in shape.LONG_ALLOWED]
    assert not long, long


def test_fit_is_a_short_spine() -> None:
    (fit,) = [f for f in _functions() if f.qualname == "classicnets.train.loop.fit"]
    assert fit.length <= 60, fit


def test_no_import_cycle_between_files() -> None:
    assert shape.cycles(shape.import_graph()) == []


def test_imports_follow_the_layer_order() -> None:
    assert shape.layer_crossings(shape.import_graph()) == []


def test_the_checker_sees_a_cycle_and_a_crossing() -> None:
    """The rules can fail: a made-up graph with a cycle and a report -> train import is caught."""
    g = {"classicnets.train.a": {"classicnets.train.b"}, "classicnets.train.b": {"classicnets.train.a"},
         "classicnets.report.x": {"classicnets.train.a"}}
    assert shape.cycles(g) == [["classicnets.train.a", "classicnets.train.b"]]
    assert ("classicnets.report.x", "classicnets.train.a") in shape.layer_crossings(g)
