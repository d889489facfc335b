"""What every experiment's output folder must hold, shared by the smoke tests of all experiments."""

from __future__ import annotations

import json
import re
from pathlib import Path


def check_outputs(out: Path, result: dict, *, runs: set[str], figures: set[str], verdicts: int | None = None,
                  extra_keys: tuple[str, ...] = (), min_width: int = 200) -> dict:
    """Assert the run folders, results.json, PNG figures and summary.md verdict lines; return results.json."""
    from PIL import Image

    data = json.loads((out / "results.json").read_text())
    assert data["scale"] == "smoke" and set(data["runs"]) == runs, sorted(data["runs"])
    for key in runs:
        assert (out / "runs" / key / "config.toml").is_file(), key
        assert data["runs"][key]["config"]["model"], key
    for k in ("environment", "measurements", "verdicts", "command", "wall_s", *extra_keys):
        assert k in data, k
    assert data["environment"]["torch"] and data["environment"]["cpu_count"]
    assert data["verdicts"], "no verdicts"
    if verdicts is not None:
        assert len(data["verdicts"]) == verdicts, [v["line"] for v in data["verdicts"]]
    assert {Path(f).name for f in data["figures"]} == figures, data["figures"]
    for f in data["figures"]:
        with Image.open(out / f) as im:
            assert im.format == "PNG" and im.size[0] > min_width, (f, im.size)
    summary = (out / "summary.md").read_text()
    lines = [ln[2:] for ln in summary.splitlines() if ln.startswith("- VERDICT (")]
    assert lines == [v["line"] for v in data["verdicts"]], "summary.md must state every verdict of results.json"
    for ln in lines:
        assert re.match(r"VERDICT \((supported|not supported|inconclusive)\): .+ Measured: .+", ln), ln
    assert "- command: `classicnets experiment run" in summary and "- wall time:" in summary
    assert result["summary_path"] == str(out / "summary.md")
    return data
