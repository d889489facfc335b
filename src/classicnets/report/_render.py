"""From what :mod:`._load` read to the HTML page or the Markdown file.

``view_*`` functions turn runs and experiments into plain dicts of display
strings (numbers formatted, tables as rows of cells); the templates in
:mod:`._templates` lay them out.  Every string from a file reaches the output
through a template expression, which escapes it: HTML escaping by Jinja2's
autoescape, Markdown escaping by :func:`md_escape` (the Markdown
environment's ``finalize``).  The only values marked safe are made here, from
our own constants and sanitized file names.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from markupsafe import Markup

from .._io import atomic_write
from ..errors import InvalidInputError
from . import _markdown
from ._figures import comparison_curves, run_curves
from ._load import Collection, ExperimentDir, Image, Run, _finite, collect, rel_key
from ._templates import CSS, HTML, MARKDOWN

FORMATS = ("html", "markdown")
Embed = Callable[[Image, str], Any]  # (image, where it belongs) -> the src to write


# -- formatting ----------------------------------------------------------------------------------
def pct(v: Any) -> str:
    return f"{100 * float(v):.2f}" if _finite(v) else ""


def num(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if _finite(v):
        v = float(v)
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:.4g}"
    if isinstance(v, float):
        return ""
    return "" if v is None else str(v)


def secs(v: Any) -> str:
    if not _finite(v):
        return ""
    v = float(v)
    if v < 120:
        return f"{v:.1f} s"
    if v < 7200:
        return f"{v / 60:.1f} min"
    return f"{v / 3600:.2f} h"


def value(v: Any) -> str:
    """A config or environment value as text."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v):
        return ", ".join(value(x) for x in v)
    if isinstance(v, (dict, list)):
        return json.dumps(v, default=str)
    return "" if v is None else str(v)


def css_class(v: Any) -> str:
    """A status as a CSS class name: ``not supported`` -> ``not-supported``; anything odd -> ``other``."""
    s = re.sub(r"\s+", "-", str(v).strip().lower())
    return s if re.fullmatch(r"[a-z][a-z-]{0,30}", s) else "other"


# -- Markdown escaping -------------------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#$])")
_MD_LINE_START = re.compile(r"^(?:[-+=]|\d+[.)])(?=\s|$)")


def md_escape(v: Any) -> str:
    """``v`` as Markdown text that shows as written: one line, punctuation that Markdown reads escaped."""
    s = re.sub(r"\s+", " ", str(v))
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return "\\" + s if _MD_LINE_START.match(s) else s


def _md_finalize(v: Any) -> Any:
    if hasattr(v, "__html__"):  # macro output, or a value this module marked as Markdown already
        return v
    return Markup(md_escape("" if v is None else v))


def md_code(v: Any, table: bool = False) -> Markup:
    """An inline code span holding ``v`` literally (a fence longer than any backtick run inside)."""
    s = " ".join(str(v).split())
    if table:
        s = s.replace("|", "\\|")
    fence = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return Markup(f"{fence}{pad}{s}{pad}{fence}")


def md_fence(v: Any) -> Markup:
    s = str(v)
    fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    return Markup(f"{fence}\n{s}\n{fence}")


def md_url(v: Any) -> Markup:
    return Markup(re.sub(r"[\s()<>]", lambda m: f"%{ord(m.group()):02X}", str(v)))


def environments() -> tuple[Any, Any]:
    """The HTML environment (autoescape) and the Markdown one (every value through :func:`md_escape`)."""
    import jinja2

    common = dict(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    html = jinja2.Environment(loader=jinja2.DictLoader({"report.html": HTML}), autoescape=True, **common)
    md = jinja2.Environment(loader=jinja2.DictLoader({"report.md": MARKDOWN}), autoescape=True,
                            finalize=_md_finalize, **common)
    for env in (html, md):
        env.filters["css"] = css_class
    md.filters.update(mdcode=md_code, mdfence=md_fence, mdurl=md_url, mdraw=lambda s: Markup(str(s)))
    return html, md


# -- views ------------------------------------------------------------------------------------------
def _table(columns: list[str], rows: list[list[Any]], right: set[int], notes: Sequence[str] = ()) -> dict[str, Any]:
    return {"columns": columns, "rows": rows, "right": right, "notes": list(notes)}


_METRICS = (("train_loss", "train loss", num), ("train_acc", "train acc %", pct), ("val_loss", "val loss", num),
            ("val_acc", "val acc %", pct), ("val_top5", "val top-5 %", pct), ("lr", "learning rate", num),
            ("epoch_s", "epoch time", secs), ("img_per_s", "img/s", num))


def _metrics_table(run: Run, val_is_test: bool) -> dict[str, Any]:
    final, best, test = run.final, run.best, run.test
    best_head = f"best (epoch {num(best.get('epoch'))})" if best.get("epoch") is not None else "best"
    columns = ["metric", "final", best_head] + (["test"] if test else [])
    rows = []
    for key, label, fmt in _METRICS:
        if key not in final and key not in best:
            continue
        row = [label, fmt(final.get(key)), fmt(best.get(key))]
        if test:
            row.append(fmt(test.get(key.replace("val_", "test_"))) if key.startswith("val_") else "")
        rows.append(row)
    notes = []
    if val_is_test:
        notes.append("No validation split was held out: the val columns are measured on the test split.")
    if test:
        notes.append("test: the test split, evaluated once with the final weights.")
    return _table(columns, rows, set(range(1, len(columns))), notes)


def _history_table(run: Run) -> dict[str, Any]:
    cols = run.columns or (list(run.history[0]) if run.history else [])
    rows = [[num(r.get(c)) for c in cols] for r in run.history]
    return _table(cols, rows, set(range(len(cols))))


def _data_pairs(run: Run) -> list[tuple[str, str]]:
    d = run.data
    pairs = []
    for key in ("dataset", "train", "val", "test", "val_is_test", "input_size", "cache_size", "mean", "std"):
        if key in d and d[key] is not None:
            pairs.append((key, value(d[key])))
    extra = [k for k in d if k not in {p[0] for p in pairs} and k != "classes"]
    pairs += [(k, value(d[k])) for k in extra]
    if run.classes:
        shown = run.classes[:100]
        more = f" ... and {len(run.classes) - 100} more" if len(run.classes) > 100 else ""
        pairs.append((f"classes ({len(run.classes)})", ", ".join(shown) + more))
    return pairs


def _run_line(run: Run) -> str:
    cfg = run.config
    parts = []
    if cfg.get("model"):
        parts.append(f"{cfg['model']} on {cfg.get('dataset', '?')}")
    final = run.final
    res = run.result or {}
    epochs = res.get("epochs", final.get("epoch"))
    steps = res.get("steps", final.get("step"))
    if epochs is not None:
        parts.append(f"{num(epochs)} epoch{'' if epochs == 1 else 's'}")
    if steps is not None:
        parts.append(f"{num(steps)} steps")
    if _finite(run.wall_s):
        parts.append(f"wall time {secs(run.wall_s)}")
    if _finite(final.get("val_acc")):
        parts.append(f"final val acc {pct(final['val_acc'])}%")
    return "; ".join(parts)


def view_run(run: Run, rid: str, embed: Embed) -> dict[str, Any]:
    curves = run_curves(run)
    return {
        "id": rid,
        "name": run.name,
        "path": str(run.path),
        "status": run.status,
        "message": run.message,
        "line": _run_line(run),
        "notes": run.notes,
        "metrics": _metrics_table(run, bool(run.data.get("val_is_test"))),
        "curves": None if curves is None else {"src": embed(curves, rid), "caption": "Training curves: "
                                                "training dashed, validation solid"},
        "config": [(k, value(v)) for k, v in run.config.items()],
        "env": [(k, " ".join(map(str, v)) if k == "argv" and isinstance(v, list) else value(v))
                for k, v in run.env.items()],
        "data": _data_pairs(run),
        "history": _history_table(run),
        "files": [(name, f"{size / 2**20:.2f} MiB") for name, size in run.files],
    }


def _results_table(t: Any) -> dict[str, Any] | None:
    """A table of results.json (records of raw numbers) for an experiment without summary.md."""
    if not isinstance(t, dict):
        return None
    rows = [r for r in t.get("rows") or [] if isinstance(r, dict)]
    cols: list[str] = []
    for r in rows:
        cols += [str(k) for k in r if str(k) not in cols]
    cells = [[num(r.get(c)) if not isinstance(r.get(c), (dict, list)) else value(r.get(c)) for c in cols]
             for r in rows]
    right = {i for i, c in enumerate(cols) if all(_finite(r.get(c)) or r.get(c) is None for r in rows)}
    view = _table(cols, cells, right, [str(n) for n in t.get("notes") or []])
    view["title"] = str(t.get("title") or "")
    return view


def view_experiment(exp: ExperimentDir, eid: str, embed: Embed) -> dict[str, Any]:
    res = exp.results
    facts: list[tuple[str, str]] = [("experiment", value(res.get("experiment") or exp.state.get("experiment")))]
    facts.append(("scale", value(res.get("scale") or exp.state.get("scale"))))
    opts = res.get("options") or exp.state.get("options")
    if isinstance(opts, dict) and any(v is not None for v in opts.values()):
        facts.append(("options", ", ".join(f"{k}={value(v)}" for k, v in opts.items() if v is not None)))
    blocks = _markdown.parse(exp.summary, shift=1) if exp.summary else []
    if blocks and blocks[0].kind == "heading":
        blocks = blocks[1:]  # the title, shown as the section heading
    if not blocks:
        for key, label in (("scale_description", "scale"), ("reproduces", "reproduces"), ("command", "command"),
                           ("started", "started")):
            if res.get(key):
                facts.append((label, value(res[key])))
        if _finite(res.get("wall_s")):
            facts.append(("wall time", secs(res["wall_s"])))
        if _finite(res.get("runs_wall_s_total")):
            facts.append(("training runs, total", secs(res["runs_wall_s_total"])))
    shown: set[str] = set()
    for tok in _markdown.images(blocks):
        key = rel_key(tok.target)
        img = exp.images.get(key)
        if img is None:
            tok.problem = exp.image_problems.get(key) or "no such image in the experiment directory"
        else:
            tok.image = {"src": embed(img, eid)}
        shown.add(key)
    figures = [{"src": embed(img, eid), "caption": key} for key, img in exp.images.items() if key not in shown]
    problems = [f"figure {key} not shown: {p}" for key, p in exp.image_problems.items() if key not in shown]
    env = res.get("environment")
    return {
        "id": eid,
        "name": exp.name,
        "title": exp.title,
        "short": exp.short_name,
        "path": str(exp.path),
        "notes": exp.notes,
        "facts": facts,
        "blocks": blocks,
        "verdicts": exp.verdicts,
        "tables": [t for t in (_results_table(t) for t in res.get("tables") or []) if t],
        "result_notes": [str(n) for n in res.get("notes") or []],
        "figures": figures,
        "problems": problems,
        "env": [(str(k), " ".join(map(str, v)) if k == "argv" and isinstance(v, list) else value(v))
                for k, v in env.items()] if isinstance(env, dict) else [],
        "runs": [view_run(r, f"{eid}-run-{i}", embed) for i, r in enumerate(exp.runs, 1)],
    }


_COMPARE = ("run", "experiment", "model", "dataset", "status", "epochs", "steps", "train acc %", "val acc %",
            "best val acc % (epoch)", "val top-5 %", "test acc %", "img/s", "wall time")


def comparison(pairs: Sequence[tuple[Run, dict[str, Any]]]) -> dict[str, Any]:
    rows = []
    for run, v in pairs:
        f, b, res = run.final, run.best, run.result or {}
        speeds = [r["img_per_s"] for r in run.history if _finite(r.get("img_per_s"))]
        best = pct(b.get("val_acc"))
        if best and b.get("epoch") is not None:
            best += f" ({num(b['epoch'])})"
        rows.append([{"text": run.name, "href": v["id"]}, run.experiment, value(run.config.get("model", "")),
                     value(run.config.get("dataset", "")), run.status, num(res.get("epochs", f.get("epoch"))),
                     num(res.get("steps", f.get("step"))), pct(f.get("train_acc")), pct(f.get("val_acc")), best,
                     pct(f.get("val_top5")), pct(run.test.get("test_acc")),
                     num(round(sum(speeds) / len(speeds))) if speeds else "", secs(run.wall_s)])
    keep = [i for i in range(len(_COMPARE)) if i == 0 or any(r[i] for r in rows)]
    notes = ["acc: top-1 accuracy of the final epoch; best: the highest validation accuracy and its epoch; "
             "img/s: training images per second, averaged over epochs; wall time: the whole run."]
    right = {keep.index(i) for i in range(5, len(_COMPARE)) if i in keep}
    return _table([_COMPARE[i] for i in keep], [[r[i] for i in keep] for r in rows], right, notes)


def _made_from(n_exp: int, n_runs: int) -> str:
    def count(n: int, what: str) -> str:
        return f"{n} {what}{'' if n == 1 else 's'}"

    parts = ([count(n_exp, "experiment")] if n_exp else []) + [count(n_runs, "training run")]
    return " and ".join(parts)


def context(col: Collection, embed: Embed, *, title: str) -> dict[str, Any]:
    experiments = [view_experiment(e, f"exp-{i}", embed) for i, e in enumerate(col.experiments, 1)]
    runs = [view_run(r, f"run-{i}", embed) for i, r in enumerate(col.runs, 1)]
    pairs = [(r, v) for e, ev in zip(col.experiments, experiments, strict=True)
             for r, v in zip(e.runs, ev["runs"], strict=True)]
    pairs += list(zip(col.runs, runs, strict=True))
    labels = [f"{r.experiment}/{r.name}" if r.experiment else r.name for r, _ in pairs]
    fig = comparison_curves([r for r, _ in pairs], labels)
    verdicts = [{"exp_id": ev["id"], "experiment": ev["short"], "status": v["status"], "line": v["line"]}
                for ev in experiments for v in ev["verdicts"]]
    try:
        from importlib.metadata import version

        ver = version("classicnets")
    except Exception:  # pragma: no cover - not installed
        ver = "(not installed)"
    return {
        "title": title,
        "version": ver,
        "created": time.strftime("%Y-%m-%d %H:%M %Z"),
        "css": Markup(CSS),
        "warnings": col.warnings,
        "experiments": experiments,
        "runs": runs,
        "n_experiments": len(experiments),
        "n_runs": len(pairs),
        "made_from": _made_from(len(experiments), len(pairs)),
        "verdicts": verdicts,
        "comparison": comparison(pairs),
        "comparison_figure": None if fig is None else {"src": embed(fig, "comparison"), "caption": fig.caption},
    }


# -- output ------------------------------------------------------------------------------------------
def data_uri(img: Image, _where: str = "") -> str:
    return f"data:{img.mime};base64,{base64.b64encode(img.data).decode('ascii')}"


def render_html(col: Collection, *, title: str = "classicnets report") -> str:
    """The report as one self-contained HTML page (every image a data URI)."""
    html, _ = environments()
    return html.get_template("report.html").render(context(col, data_uri, title=title))


_OWN_FILE = re.compile(r"^\d{3}-[a-z0-9-]+\.(?:png|jpe?g|gif|webp)$")
_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "figure"


def render_markdown(col: Collection, files_dir: Path, *, title: str = "classicnets report",
                    link_prefix: str | None = None) -> tuple[str, dict[str, bytes]]:
    """The report as Markdown plus its images: ``(text, {file name: bytes})``.

    The images are linked as ``<link_prefix>/<file name>`` (default: the name of
    ``files_dir``), to be written into ``files_dir`` beside the Markdown file.
    """
    _, md = environments()
    prefix = files_dir.name if link_prefix is None else link_prefix
    out: dict[str, bytes] = {}

    def embed(img: Image, where: str) -> Markup:
        name = f"{len(out) + 1:03d}-{_slug(where)}-{_slug(img.name)}.{_EXT[img.mime]}"
        out[name] = img.data
        return Markup(f"{prefix}/{name}")

    text = md.get_template("report.md").render(context(col, embed, title=title))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n", out


def _write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_report(paths: Sequence[str | Any], out: str | Any | None = None, *, fmt: str | None = None,
                 keep_going: bool = False, title: str = "classicnets report") -> tuple[Path, Collection]:
    """Read ``paths`` and write the report; return its path and what was read.

    ``fmt`` is ``html`` or ``markdown`` (default: ``markdown`` when ``out`` ends
    in ``.md``, else ``html``); ``out`` defaults to ``report.html`` or
    ``report.md``.  A Markdown report's images go to ``<out stem>_files/``
    beside it.  Every file is written atomically (temporary file + rename).
    """
    if fmt is None:
        fmt = "markdown" if out is not None and str(out).lower().endswith((".md", ".markdown")) else "html"
    if fmt not in FORMATS:
        raise InvalidInputError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    out_path = Path(out) if out is not None else Path("report.html" if fmt == "html" else "report.md")
    if out_path.is_dir():
        raise InvalidInputError(f"--out {str(out_path)!r} is a directory; give a file name such as "
                                f"{out_path / ('report.html' if fmt == 'html' else 'report.md')}.")
    col = collect(list(paths), keep_going=keep_going)
    if fmt == "html":
        _write_text(out_path, render_html(col, title=title))
        return out_path, col
    files_dir = out_path.parent / f"{out_path.stem}_files"
    text, images = render_markdown(col, files_dir, title=title)
    files_dir.mkdir(parents=True, exist_ok=True)
    for old in files_dir.iterdir():  # images of an earlier report of the same name
        if old.is_file() and _OWN_FILE.match(old.name) and old.name not in images:
            old.unlink()
    for name, data in images.items():
        atomic_write(files_dir / name, lambda tmp, data=data: Path(tmp).write_bytes(data))
    _write_text(out_path, text)
    return out_path, col
