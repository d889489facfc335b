"""classicnets.report: run and experiment directories rendered to one HTML page or Markdown.

The fixtures are written by hand in tmp_path, in the formats of docs/training.md
and the experiment framework (one test trains a real tiny run to catch format
drift).  The browser check is in test_report_browser.py.
"""

from __future__ import annotations

import ast
import base64
import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from classicnets.cli import main
from classicnets.errors import InvalidInputError, MissingFileError
from classicnets.report import collect, find_targets, md_escape, render_html, write_report
from classicnets.report._markdown import inline, parse

XSS = "<script>alert(1)</script>"
EVIL_CLASS = '<img src=x onerror="alert(2)">'
EVIL_CONFIG = "<b onmouseover=alert(3)>bold</b>"
COLUMNS = ("epoch", "step", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "epoch_s", "img_per_s")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- fixtures written by hand ------------------------------------------------------------------------
def png_bytes(color: tuple[int, int, int] = (200, 60, 60), size: tuple[int, int] = (40, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def make_run(path: Path, *, model: str = "resnet20", epochs: int = 3, classes: list[str] | None = None,
             config_extra: str = "", finished: bool = True) -> Path:
    """A run directory as the training engine writes it."""
    path.mkdir(parents=True)
    (path / "config.toml").write_text(
        f"# classicnets train: resolved configuration\nmodel = {json.dumps(model)}\ndataset = \"digits\"\n"
        f"epochs = {float(epochs)}\nbatch_size = 128\nlr = 0.1\noptimizer = \"nesterov\"\n{config_extra}"
        "\n[model_args]\nstem = \"cifar\"\n")
    (path / "env.json").write_text(json.dumps({"python": "3.11.7", "torch": "2.13.0+cpu", "cpu": "Test CPU",
                                               "cpu_count": 2, "device": "cpu", "argv": ["classicnets", "train"]}))
    classes = classes or [str(i) for i in range(10)]
    (path / "classes.json").write_text(json.dumps(classes))
    (path / "data.json").write_text(json.dumps({"dataset": "digits", "classes": classes, "mean": [0.3],
                                                "std": [0.37], "input_size": [1, 8, 8], "train": 1438, "val": 359,
                                                "test": 359, "val_is_test": True}))
    rows = []
    for e in range(1, epochs + 1):
        rows.append({"epoch": e, "step": 11 * e, "lr": 0.1 / e, "train_loss": 2.0 / e, "train_acc": 0.3 + 0.2 * e,
                     "val_loss": 2.1 / e, "val_acc": 0.25 + 0.2 * e, "val_top5": 0.8 + 0.05 * e, "epoch_s": 0.5,
                     "img_per_s": 2800.0 + e})
    with open(path / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    (path / "metrics.jsonl").write_text("".join(json.dumps({"kind": "epoch", **r}) + "\n" for r in rows))
    (path / "weights").mkdir()
    (path / "weights" / "final.safetensors").write_bytes(b"\0" * 64)
    (path / "checkpoints").mkdir()
    (path / "checkpoints" / "last.pt").write_bytes(b"\0" * 32)
    if finished:
        (path / "result.json").write_text(json.dumps({"final": rows[-1], "best": rows[-1], "test": None,
                                                      "epochs": epochs, "steps": 11 * epochs, "wall_s": 4.2}))
    return path


SUMMARY = f"""# Degradation: plain vs residual (fixture)

Reproduces: He et al. 2015, Figure 6

- command: `classicnets experiment run degradation --scale smoke`

## Verdicts

- VERDICT (supported): plain-32 trains worse than plain-20. Measured: 12.0% vs 10.0%.
- VERDICT (inconclusive): ResNet-32 beats ResNet-20. Measured: too few steps. Reason: smoke scale.

## Measurements

**Final errors**

| run | train err % | note |
|---|---:|---|
| plain-20 | 10.00 | {XSS} |
| {EVIL_CLASS} | 12.00 | a \\| pipe |

Raw HTML stays text: <script>alert(4)</script> and [a link](javascript:alert(5)) and [docs](https://example.org/x).

## Figures

![fig6](figures/fig6.png)
![missing](figures/missing.png)
![outside](../secret.png)
"""


def make_experiment(path: Path, *, run_keys: tuple[str, ...] = ("plain20", XSS)) -> Path:
    """An experiment directory as the experiment framework writes it (results.json, summary.md, figures, runs)."""
    path.mkdir(parents=True)
    (path / "figures").mkdir()
    (path / "figures" / "fig6.png").write_bytes(png_bytes((30, 90, 200)))
    (path / "figures" / "extra.png").write_bytes(png_bytes((30, 160, 60)))
    (path.parent / "secret.png").write_bytes(png_bytes((0, 0, 0)))
    runs = {}
    for i, key in enumerate(run_keys):
        folder = f"run{i}"
        make_run(path / "runs" / folder, model="plain20" if i == 0 else "resnet20",
                 classes=["cat", EVIL_CLASS] if i else None)
        runs[key] = {"key": key, "label": key, "info": {}, "run_dir": f"runs/{folder}", "status": "finished",
                     "message": "", "config": {}, "result": None, "history": []}
    results = {
        "experiment": "degradation", "title": "Degradation: plain vs residual (fixture)", "scale": "smoke",
        "reproduces": "He et al. 2015, Figure 6", "command": "classicnets experiment run degradation",
        "started": "2026-01-01 12:00:00 UTC", "wall_s": 44.0, "runs_wall_s_total": 42.0,
        "environment": {"python": "3.11.7", "torch": "2.13.0+cpu", "cpu": "Test CPU"}, "options": {},
        "runs": runs, "measurements": {},
        "tables": [{"title": "Final errors", "rows": [{"run": "plain20", "train_err": 10.0}], "notes": []}],
        "verdicts": [
            {"claim": "plain-32 trains worse than plain-20.", "status": "supported", "evidence": "12.0% vs 10.0%",
             "reason": "", "line": "VERDICT (supported): plain-32 trains worse than plain-20. Measured: 12.0% vs "
             "10.0%."},
            {"claim": "ResNet-32 beats ResNet-20.", "status": "inconclusive", "evidence": "too few steps",
             "reason": "smoke scale", "line": "VERDICT (inconclusive): ResNet-32 beats ResNet-20. Measured: too few "
             "steps. Reason: smoke scale."}],
        "figures": ["figures/fig6.png", "figures/extra.png"], "notes": ["a note"],
    }
    (path / "results.json").write_text(json.dumps(results))
    (path / "experiment.json").write_text(json.dumps({"experiment": "degradation", "scale": "smoke", "runs": {}}))
    (path / "summary.md").write_text(SUMMARY)
    return path


def make_tree(root: Path) -> Path:
    """A folder with an experiment and two standalone runs, one of them named <script>alert(1)</script>."""
    make_experiment(root / "experiments" / "degradation-smoke")
    make_run(root / "runs" / "r1", config_extra=f"note = {json.dumps(EVIL_CONFIG)}\n")
    # '/' cannot be in a file name, so the run's path relative to the folder searched spells it
    make_run(root / "runs" / "<script>alert(1)<" / "script>", model="plain20", finished=False)
    return root


class Tags(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(text: str) -> Tags:
    p = Tags()
    p.feed(text)
    p.close()
    return p


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tree(tmp_path_factory.mktemp("report") / "tree")


@pytest.fixture(scope="module")
def page(tree: Path) -> str:
    return render_html(collect([tree]))


# -- escaping -------------------------------------------------------------------------------------
def test_text_from_files_is_escaped_never_markup(page: str) -> None:
    p = parse_html(page)
    tags = [t for t, _ in p.tags]
    assert "script" not in tags, "a <script> element reached the page"
    handlers = [(t, k) for t, a in p.tags for k in a if k.lower().startswith("on")]
    assert not handlers, f"event-handler attributes reached the page: {handlers}"
    assert "b" not in tags, "the config value's <b> became markup"
    text = "".join(p.text)
    for s in (XSS, EVIL_CLASS, EVIL_CONFIG, "<script>alert(4)</script>"):
        assert s in text, f"{s!r} should appear as text on the page"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_links_and_images_are_restricted(page: str) -> None:
    p = parse_html(page)
    hrefs = [a.get("href") or "" for t, a in p.tags if t == "a"]
    assert hrefs and all(h.startswith("#") or h.startswith("https://") for h in hrefs), hrefs
    assert "https://example.org/x" in hrefs
    assert not any("javascript" in h.lower() for h in hrefs)
    assert "a link (javascript:alert(5))" in "".join(p.text)  # an unsafe link target stays text
    csp = [a for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in (csp[0]["content"] or ""), "the page must forbid scripts and fetches"


def test_every_image_is_embedded(tree: Path, page: str) -> None:
    imgs = [a for t, a in parse_html(page).tags if t == "img"]
    # 2 figures of the experiment, curves of its 2 runs and of 2 standalone runs, 1 comparison figure
    assert len(imgs) == 7, f"expected 7 images, found {len(imgs)}"
    for a in imgs:
        src = a.get("src") or ""
        assert src.startswith("data:image/png;base64,"), src[:60]
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    secret = base64.b64encode((tree / "experiments" / "secret.png").read_bytes()).decode()
    assert secret not in page, "an image outside the experiment directory was embedded"
    text = "".join(parse_html(page).text)
    assert "outside the experiment directory" in text
    assert "[image figures/missing.png not shown: no such image]" in text


def test_summary_tables_and_verdicts_render(page: str) -> None:
    p = parse_html(page)
    text = "".join(p.text)
    assert "a | pipe" in text  # an escaped pipe inside a table cell
    classes = [a.get("class") or "" for _t, a in p.tags]
    assert sum("verdict supported" in c for c in classes) >= 2  # overview + summary.md
    assert sum("verdict inconclusive" in c for c in classes) >= 2
    assert any(t == "th" and a.get("class") == "right" for t, a in p.tags)  # ---: alignment kept
    for heading in ("Comparison of all runs", "Runs of this experiment (2)", "Configuration (config.toml)",
                    "Environment (env.json)", "Metrics per epoch (metrics.csv)", "More figures"):
        assert heading in text, heading


def test_comparison_table_lists_every_run(page: str) -> None:
    table = page.split('id="comparison"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>", table)
    assert len(rows) == 1 + 4, f"header + 4 runs expected, found {len(rows)} rows"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table
    assert "unfinished" in table and "85.00" in table  # final val acc 0.85 of a 3-epoch fixture run


# -- Markdown --------------------------------------------------------------------------------------
def test_markdown_report(tree: Path, tmp_path: Path) -> None:
    out, col = write_report([tree], tmp_path / "out" / "report.md")
    assert out == tmp_path / "out" / "report.md"
    text = out.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 7, links
    for link in links:
        f = out.parent / link
        assert link.startswith("report_files/") and f.is_file() and f.read_bytes().startswith(PNG_MAGIC), link
    raw_tags = re.findall(r"(?<!\\)<(?!/?(?:details|summary)>)[^>]*>", text)
    assert not raw_tags, f"unescaped HTML in the Markdown: {raw_tags}"
    assert r"\<script\>alert(1)\</script\>" in text
    assert "VERDICT (supported): plain-32 trains worse than plain-20." in text
    assert "javascript:" not in text.replace("(javascript:alert(5))", "")
    # every table row has as many unescaped pipes as its header
    for block in re.findall(r"((?:^\|.*\|\n)+)", text, flags=re.MULTILINE):
        counts = {len(re.findall(r"(?<!\\)\|", line)) for line in block.splitlines()}
        assert len(counts) == 1, block
    # a second report of the same name replaces the images, leaving no stale ones
    (out.parent / "report_files" / "999-stale-figure.png").write_bytes(b"x")
    write_report([tree / "runs" / "r1"], out)
    assert sorted(p.name for p in (out.parent / "report_files").iterdir()) == ["001-run-1-curves.png"]


def test_md_escape() -> None:
    assert md_escape("a_b *c* <d> | `e` [f](g) $x$") == r"a\_b \*c\* \<d\> \| \`e\` \[f\](g) \$x\$"
    assert md_escape("# title") == r"\# title"
    assert md_escape("- item") == r"\- item"
    assert md_escape("1. one") == r"\1. one"
    assert md_escape("two\nlines ") == "two lines "


# -- the Markdown subset ---------------------------------------------------------------------------
def test_markdown_subset_parser() -> None:
    blocks = parse("# T\n\n| a | b |\n|:---:|---:|\n| `x|y` | 2 |\n\n- VERDICT (not supported): no\n- plain\n"
                   "\n```\n<raw>\n```\n", shift=2)
    assert [b.kind for b in blocks] == ["heading", "table", "list", "code"]
    assert blocks[0].level == 3
    assert blocks[1].align == ["center", "right"]
    assert blocks[2].item_verdicts == ["not supported", ""]
    assert blocks[3].text == "<raw>"
    toks = inline(r"**b** *e* `c` \* [x](javascript:y) [ok](https://a.b) ![i](f.png)")
    kinds = [(t.kind, t.text) for t in toks]
    assert ("strong", "b") in kinds and ("em", "e") in kinds and ("code", "c") in kinds
    assert not any(t.kind == "link" and "javascript" in t.target for t in toks)
    assert any(t.kind == "link" and t.target == "https://a.b" for t in toks)
    assert any(t.kind == "image" and t.target == "f.png" for t in toks)


# -- finding directories and bad input -----------------------------------------------------------------
def test_discovery(tree: Path) -> None:
    found = find_targets([tree])
    assert [(k, n) for k, _p, n in found] == [("experiment", "experiments/degradation-smoke"),
                                               ("run", "runs/<script>alert(1)</script>"), ("run", "runs/r1")]
    # the experiment's runs are not listed again, and a directory given twice counts once
    assert len(find_targets([tree, tree / "runs" / "r1", tree / "runs" / "r1" / "metrics.csv"])) == 3
    col = collect([tree])
    assert [r.name for r in col.all_runs()] == ["plain20", XSS, "runs/<script>alert(1)</script>", "runs/r1"]
    assert col.experiments[0].runs[1].classes == ["cat", EVIL_CLASS]


def test_not_a_run_or_experiment_directory(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(InvalidInputError, match="is neither a run directory .* nor an experiment directory"):
        collect([tmp_path / "empty"])
    with pytest.raises(MissingFileError, match="no such file or directory"):
        collect([tmp_path / "nope"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="is a file"):
        collect([tmp_path / "notes.txt"])


@pytest.mark.parametrize("content, match", [
    ("epoch,step,val_acc\n1,10,0.5\n2,20,abc\n", r"metrics\.csv: line 3: val_acc is 'abc', not a number"),
    ("epoch,step,val_acc\n1,10,0.5\n2,20\n", r"metrics\.csv: line 3 has 2 fields, the header 3"),
    ("garbage\x00,x\n", r"metrics\.csv: line 1 is not a metrics header"),
])
def test_corrupt_metrics_csv_names_the_file(tmp_path: Path, content: str, match: str) -> None:
    run = make_run(tmp_path / "r")
    (run / "metrics.csv").write_text(content)
    with pytest.raises(InvalidInputError, match=match) as err:
        collect([run])
    assert str(run / "metrics.csv") in str(err.value) and "\n" not in str(err.value)


def test_corrupt_results_json_cli_one_line_and_keep_going(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp = make_experiment(tmp_path / "exp")
    (exp / "results.json").write_text('{"experiment": "degradation", "runs": ')
    make_run(tmp_path / "r1")
    old = tmp_path / "report.html"
    old.write_text("old report")
    assert main(["report", str(tmp_path), "--out", str(old)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{exp / 'results.json'}: corrupt JSON" in err, err
    assert old.read_text() == "old report", "a failed report must leave the old file untouched"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "temporary file left behind"

    assert main(["report", str(tmp_path), "--out", str(old), "--keep-going"]) == 0
    captured = capsys.readouterr()
    assert "left out 1" in captured.out and "corrupt JSON" in captured.err
    html = old.read_text()
    assert 'id="warnings"' in html and "results.json: corrupt JSON" in html
    assert "r1" in html


def test_cli_report_formats(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = make_run(tmp_path / "runs" / "a")
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / "r.html").read_text().startswith("<!doctype html>")
    assert main(["report", str(run), "--out", str(tmp_path / "r.md")]) == 0  # format from the suffix
    assert (tmp_path / "r.md").read_text().startswith("# classicnets report")
    assert main(["report", str(run), "--format", "markdown", "--out", str(tmp_path / "x.txt")]) == 0
    assert (tmp_path / "x_files").is_dir()


# -- architecture ---------------------------------------------------------------------------------------
def test_report_reads_files_only() -> None:
    """report/ imports no other classicnets package (only the leaf modules _io, errors and runfiles)."""
    import classicnets.report as pkg

    allowed = {"_io", "errors", "runfiles"}
    for f in sorted(Path(pkg.__file__).parent.glob("*.py")):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                mods = [node.module] if node.module else [a.name for a in node.names]
                bad = [m for m in mods if m and m.split(".")[0] not in allowed]
                assert not bad, f"{f.name} imports ..{bad}"
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for n in names:
                if n.startswith("classicnets"):
                    assert n.split(".")[1] in allowed, f"{f.name} imports {n}"
    from classicnets.report import _templates

    for name in ("HTML", "MARKDOWN"):
        assert "|safe" not in getattr(_templates, name).replace(" ", ""), f"the {name} template marks a value safe"


# -- the real training engine's files --------------------------------------------------------------------
def test_real_training_run(tmp_path: Path) -> None:
    """A run written by the real engine renders (catches drift between the engine's files and the report)."""
    from classicnets.train import TrainConfig, fit

    fit(TrainConfig(model="resnet20", dataset="digits", steps=3, batch_size=32, out=str(tmp_path / "real"),
                    progress="none", threads=1, precision="fp32"))
    col = collect([tmp_path / "real"])
    run = col.runs[0]
    assert run.status == "finished" and run.config["model"] == "resnet20" and run.history
    assert run.classes == [str(i) for i in range(10)]
    page = render_html(col)
    assert page.count('src="data:image/png;base64,') == 1  # the curves (one run: no comparison figure)
    assert "resnet20 on digits" in page
