"""The command line: a thin layer that parses arguments and calls the library.

Each subcommand is one small ``cmd_*`` function.  Errors the user can fix
(:class:`classicnets.errors.UserError`) are printed as one line on stderr with
exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from ._io import atomic_write, check_output_dir, check_output_file
from .errors import UserError
from .options import CHANNELS, IMAGE_SIDE, SEEDS, Range, arg_type, number

DEVICE_HELP = "auto (cuda when available), cpu, cuda, cuda:N, gpu or mps"
WORKERS = Range(1, 64)


# -- models ------------------------------------------------------------------
def cmd_models(args: argparse.Namespace) -> int:
    from .models import build_meta, list_models
    from .models.pretrained import pretrained_models
    from .reference import published_params

    names = list_models(args.pattern, pretrained=args.pretrained)
    if not names:
        raise UserError(f"no model{' with weights' if args.pretrained else ''} matches {args.pattern!r}; "
                        "`classicnets models` lists all.")
    weights = pretrained_models()
    rows = []
    for name in names:
        model = build_meta(name)  # count without allocating or initialising weights
        n = sum(p.numel() for p in model.parameters())
        ref = published_params(name)
        w = weights.get(name)
        rows.append(
            {
                "model": name,
                "params": n,
                "published": ref,
                "match": None if ref is None else n == ref,
                "default_input_size": list(model.default_input_size),
                "min_input_size": list(model.min_input_size),
                "num_classes": model.num_classes,
                "pretrained": None if w is None else {"dataset": w["dataset"], "test_acc": w["test_acc"]},
            }
        )
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if args.format == "csv":
        print("model,params,published,match,default_input_size,min_input_size,num_classes,pretrained_dataset,"
              "pretrained_test_acc")
        for r in rows:
            w = r["pretrained"] or {"dataset": "", "test_acc": ""}
            print(
                f"{r['model']},{r['params']},{r['published'] or ''},{'' if r['match'] is None else r['match']},"
                f"{'x'.join(map(str, r['default_input_size']))},{'x'.join(map(str, r['min_input_size']))},"
                f"{r['num_classes']},{w['dataset']},{w['test_acc']}"
            )
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="classicnets models (parameters counted from the built model)")
    for col, just in [("model", "left"), ("params", "right"), ("published", "right"), ("", "center"),
                      ("input (C,H,W)", "left"), ("min input", "left"), ("classes", "right"),
                      ("weights (test acc)", "left")]:
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        mark = "" if r["match"] is None else ("[green]=[/]" if r["match"] else "[red]![/]")
        table.add_row(
            r["model"], f"{r['params']:,}", "" if r["published"] is None else f"{r['published']:,}", mark,
            "x".join(map(str, r["default_input_size"])), "x".join(map(str, r["min_input_size"])),
            str(r["num_classes"]),
            "" if r["pretrained"] is None else f"{r['pretrained']['dataset']} {r['pretrained']['test_acc']:.2f}%",
        )
    console = Console()
    if not console.is_terminal:  # logs and pipes: don't squeeze the table into 80 columns
        console = Console(width=120)
    console.print(table)
    known = [r for r in rows if r["match"] is not None]
    print(f"{len(rows)} models; {sum(r['match'] for r in known)} of {len(known)} with a published "
          "parameter count match it exactly ('=' above; sources in classicnets/reference.py); "
          f"{sum(r['pretrained'] is not None for r in rows)} with bundled weights "
          "(create_model(name, pretrained=True); accuracy on the official test split).")
    return 0


# -- data ----------------------------------------------------------------------
def _data_load_kwargs(args: argparse.Namespace) -> dict:
    if args.cache_dir is not None:
        check_output_dir(args.cache_dir, "--cache-dir")
    kw = {"size": args.size, "cache_dir": args.cache_dir, "workers": args.workers, "on_error": args.on_error}
    if args.partition is not None:
        kw["partition"] = args.partition
    if args.splits_file is not None:
        kw["splits_file"] = args.splits_file
    return kw


def _print_data_summary(s: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{s['dataset']}: {s['source']}")
    for col in ("split", "images", "H x W x C", "per class (min..max)"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for r in s["splits"]:
        table.add_row(r["split"], f"{r['images']:,}", " x ".join(map(str, r["shape"])),
                      f"{r['per_class_min']:,}..{r['per_class_max']:,}")
    console = Console()
    console.print(table)
    classes = ", ".join(s["classes"])
    print(f"classes ({len(s['classes'])}): {classes if len(classes) < 400 else classes[:400] + ' ...'}")
    print("mean (train, per channel): " + ", ".join(f"{m:.4f}" for m in s["mean"]))
    print("std  (train, per channel): " + ", ".join(f"{v:.4f}" for v in s["std"]))
    if s["note"]:
        print(f"splits: {s['note']}")
    if s["skipped"]:
        print(f"skipped {len(s['skipped'])} unreadable images (first: {s['skipped'][0][0]})")
    if s["cache_path"]:
        print(f"cache: {s['cache_path']} ({'reused' if s['cache_hit'] else 'built now'})")


def cmd_data_info(args: argparse.Namespace) -> int:
    from .data import describe_splits, load_splits, open_files, plan

    how = plan(args.name, args.root) if args.root is not None else None
    if how is not None and how.streaming:  # too big to decode for a summary: describe the files
        print(how.notice)
        files = open_files(args.name, how.root, layout=how.layout)
        for split, f in files.items():
            counts = f.class_counts()
            print(f"  {split}: {len(f):,} images, {f.num_classes} classes ({counts.min()} to {counts.max()} per class)")
        tr = files.get("train")
        if tr is not None:
            print(f"  mean {', '.join(f'{m:.4f}' for m in tr.mean)}; std {', '.join(f'{v:.4f}' for v in tr.std)} "
                  f"({tr.info.get('stats', 'from the training files')})")
        return 0
    _print_data_summary(describe_splits(load_splits(args.name, args.root, progress=True, **_data_load_kwargs(args))))
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    import time

    from .data import describe_splits, load_splits

    t0 = time.perf_counter()
    s = describe_splits(load_splits(args.name, args.root, progress=True, **_data_load_kwargs(args)))
    total = sum(r["images"] for r in s["splits"])
    how = "already cached" if s["cache_hit"] else f"decoded in {time.perf_counter() - t0:.1f} s"
    print(f"{s['dataset']}: {total:,} images {how}; cache: {s['cache_path']}")
    if s["skipped"]:
        print(f"skipped {len(s['skipped'])} unreadable images (first: {s['skipped'][0][0]})")
    return 0


def cmd_data_download(args: argparse.Namespace) -> int:
    from .data import download

    if args.root is not None:
        check_output_dir(args.root, "--root")
    if args.cache_dir is not None:
        check_output_dir(args.cache_dir, "--cache-dir")
    for path in download(args.name, args.root, base_url=args.base_url, progress=True, cache_dir=args.cache_dir):
        print(path)
    return 0


# -- analysis ------------------------------------------------------------------
def cmd_summary(args: argparse.Namespace) -> int:
    from .analysis import build_meta, parse_options, parse_size, print_result, summarize

    model = build_meta(args.model, **parse_options(args.option))
    print_result(summarize(model, parse_size(args.input), depth=args.depth, name=args.model), args.format)
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from .analysis import make_table, print_result

    print_result(make_table(args.name), args.format)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .analysis import compare, parse_size, print_result

    print_result(compare(args.models, input_size=parse_size(args.input)), args.format)
    return 0


def cmd_calc(args: argparse.Namespace) -> int:
    from .analysis import factorization_table, inception_vs_conv, naive_vs_reduced, print_result

    if args.calc == "factorization":
        items = None if args.kernel is None else [(args.kernel, args.scheme)]
        result = factorization_table(items, channels=args.channels)
    elif args.calc == "inception":
        result = naive_vs_reduced(args.in_ch, args.n1, args.n3, args.n5, reduce3=args.reduce3,
                                  reduce5=args.reduce5, pool_proj=args.pool_proj, size=args.size)
    else:
        result = inception_vs_conv(args.in_ch, args.n1, args.reduce3, args.n3, args.reduce5, args.n5,
                                   args.pool_proj, kernels=tuple(args.kernels), size=args.size)
    print_result(result, args.format)
    return 0


def cmd_gradflow(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .analysis import parse_options
    from .analysis.gradflow import measure_models, plot_gradflow

    out = check_output_dir(args.out, "--out")
    results = measure_models(
        args.models, regime=args.regime, options=parse_options(args.option), checkpoint=args.checkpoint,
        dataset=args.dataset, root=args.root, split=args.split, batches=args.batches, batch_size=args.batch_size,
        seed=args.seed, device=args.device)
    out.mkdir(parents=True, exist_ok=True)
    stem = "gradflow_" + "-".join(args.models)[:80]
    text = "".join(r.to_csv() if i == 0 else r.to_csv().split("\n", 1)[1] for i, r in enumerate(results))
    atomic_write(out / f"{stem}.csv", lambda tmp: Path(tmp).write_text(text))
    plot_gradflow(results, out / f"{stem}.png")
    for data in dict.fromkeys(r.data for r in results):
        print(f"data: {data}")
    for r in results:
        print(r.summary_line())
    print(f"wrote {out / (stem + '.csv')} and {out / (stem + '.png')}")
    return 0


def cmd_paths(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .analysis import parse_options
    from .analysis.residual_paths import measure_paths, plot_paths

    out = None if args.distribution_only else check_output_dir(args.out, "--out")
    result = measure_paths(
        args.model, options=parse_options(args.option), checkpoint=args.checkpoint, dataset=args.dataset,
        root=args.root, split=args.split, batches=args.batches, batch_size=args.batch_size, samples=args.samples,
        lengths=args.lengths, seed=args.seed, device=args.device, distribution_only=args.distribution_only)
    print(result.to_text())
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / f"paths_{args.model}.csv", lambda tmp: Path(tmp).write_text(result.to_csv()))
        plot_paths(result, out / f"paths_{args.model}.png")
        print(f"wrote {out / f'paths_{args.model}.csv'} and {out / f'paths_{args.model}.png'}")
    return 0


# -- training ------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from .device import resolve_device
    from .train import TrainingInterrupted, fit
    from .train.config import from_namespace
    from .train.loop import run_summary

    cfg = from_namespace(args, config_file=args.config)
    resolve_device(cfg.device)  # a device this machine lacks is one line, before anything loads
    if cfg.out is not None:
        check_output_dir(cfg.out, "--out")
    try:
        result = fit(cfg)
    except TrainingInterrupted as e:
        if _main_process():
            print(e.hint, file=sys.stderr)
        return 128 + int(e.signum)
    if _main_process():
        print(run_summary(result))
    return 0


def _main_process() -> bool:
    """False in the ranks > 0 of a torchrun job: rank 0 prints the summary and the resume hint for all."""
    return os.environ.get("RANK", "0") == "0"


def cmd_eval(args: argparse.Namespace) -> int:
    from .train.eval_run import evaluate_run

    r = evaluate_run(args.run, pretrained=args.pretrained, dataset=args.dataset, data_dir=args.data_dir,
                     split=args.split, fold_bn=args.fold_bn, precision=args.precision, batch_size=args.batch_size,
                     model=args.model, device=args.device, confusion_csv=args.confusion)
    if args.format == "json":
        print(json.dumps(r["summary"], indent=2))
    else:
        print(r["text"])
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .train.predict import format_predictions, predict_files

    if args.pretrained:  # no run: every positional is an image
        preds = predict_files(None, [args.run, *args.images], top_k=args.top_k, model=args.model,
                              device=args.device, pretrained=True)
    elif not args.images:
        raise UserError("give the images to classify after the run: classicnets predict RUN IMAGE...")
    elif args.model:
        raise UserError("--model names the bundled weights of --pretrained; a run knows its model.")
    else:
        preds = predict_files(args.run, args.images, top_k=args.top_k, device=args.device)
    print(json.dumps(preds, indent=2) if args.format == "json" else format_predictions(preds))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .train.export import export

    info = export(args.run, fmt=args.format, out=args.out, fold_bn=args.fold_bn, model=args.model,
                  input_size=args.input_size, dataset=args.dataset)
    print(info["message"])
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .train.plot import plot_runs

    path = plot_runs(args.runs, metric=args.metric, out=args.out, labels=args.label, title=args.title)
    print(f"wrote {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .train.demo import demo

    check_output_dir(args.out, "--out")
    demo(out=args.out, epochs=args.epochs, models=tuple(args.models.split(",")), verbose=True)
    return 0


# -- experiments ---------------------------------------------------------------
def cmd_experiment_list(args: argparse.Namespace) -> int:
    from .experiments import get_experiment, list_experiments

    rows = []
    for name in list_experiments():
        e = get_experiment(name)
        rows.append({"name": name, "summary": e.summary, "reproduces": e.reproduces, "scales": e.scales,
                     "options": [o.flag for o in e.options]})
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']}: {r['summary']}")
        for scale, text in r["scales"].items():
            print(f"    {scale:<6} {text}")
        if r["options"]:
            print(f"    options: {', '.join(r['options'])}")
    print("run one with: classicnets experiment run NAME [--scale smoke|small|paper] [--data-dir PATH]")
    return 0


def cmd_experiment_run(args: argparse.Namespace) -> int:
    from .experiments import ExperimentInterrupted, run_experiment
    from .experiments.framework import all_options

    extra = {o.name: getattr(args, o.name) for o in all_options().values() if hasattr(args, o.name)}
    if args.out is not None:
        check_output_dir(args.out, "--out")
    try:
        result = run_experiment(args.name, scale=args.scale, data_dir=args.data_dir, out=args.out, resume=args.resume,
                                jobs=args.jobs, device=args.device, verbose=not args.quiet, **extra)
    except ExperimentInterrupted as e:
        print(e.hint, file=sys.stderr)
        return 130
    if args.quiet:
        for v in result["verdicts"]:
            print(v["line"])
    print(f"summary: {result['summary_path']}")
    return 0


def cmd_cam(args: argparse.Namespace) -> int:
    from .experiments.camtool import write_cams

    for r in write_cams(args.run, args.images, out=args.out, model=args.model, device=args.device):
        print(f"{r['out']}: {r['class']} ({100 * r['prob']:.1f}%)")
    return 0


# -- report --------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    if args.out is not None:
        check_output_file(args.out, "--out")
    path, found = write_report(args.paths, args.out, fmt=args.format, keep_going=args.keep_going, title=args.title)
    runs = len(found.all_runs())
    print(f"wrote {path}: {len(found.experiments)} experiment(s), {runs} run(s)"
          + (f"; left out {len(found.warnings)} (listed at the top of the report)" if found.warnings else ""))
    for w in found.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


# -- parser --------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .analysis._data import BATCH_SIZE, BATCHES
    from .train.config import THREADS
    from .train.demo import DEMO_EPOCHS
    from .train.eval_run import EVAL_BATCH
    from .train.predict import TOP_K

    parser = argparse.ArgumentParser(
        prog="classicnets",
        description="The classic convolutional networks, built as the papers describe them.",
    )
    parser.add_argument("--version", action="version", version=f"classicnets {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("models", help="list the models with their parameter counts")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style name filter, e.g. 'resnet*'")
    p.add_argument("--pretrained", action="store_true", help="only the models with bundled weights")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_models)

    # data
    p = sub.add_parser("data", help="datasets: info, import into the cache, download")
    data_sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    for cmd, func, text in (
        ("info", cmd_data_info, "sizes, classes and mean/std of a dataset (builds the cache if needed)"),
        ("import", cmd_data_import, "decode a dataset once into the cache"),
    ):
        q = data_sub.add_parser(cmd, help=text)
        q.add_argument("name", help="cifar10, cifar100, mnist, fashion_mnist, flowers17, imagefolder, digits")
        q.add_argument("--root", "--data-dir", dest="root",
                       help="the dataset's archive or folder (default: where `data download` put it)")
        q.add_argument("--size", type=number(IMAGE_SIDE, "--size"),
                       help=f"flowers17/imagefolder: side of the cached square images ({IMAGE_SIDE.text})")
        q.add_argument("--cache-dir", help="cache folder (default: $CLASSICNETS_CACHE or ~/.cache/classicnets)")
        q.add_argument("--workers", type=number(WORKERS, "--workers"),
                       help=f"image-decoding processes (default: cores, at most 4; {WORKERS.text})")
        q.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                       help="a corrupt image stops the import (raise) or is left out and counted (skip)")
        q.add_argument("--partition", type=int, choices=[1, 2, 3], help="flowers17: which of the 3 partitions")
        q.add_argument("--splits-file", help="flowers17: the official datasplits.mat")
        q.set_defaults(func=func)
    q = data_sub.add_parser("download", help="download the official files, checked against published md5s")
    q.add_argument("name", help="cifar10, cifar100, mnist, fashion_mnist, flowers17")
    q.add_argument("--root", "--data-dir", dest="root",
                   help="folder to download into (default: <cache>/downloads/NAME)")
    q.add_argument("--base-url", help="fetch the files from this mirror instead of the official location")
    q.add_argument("--cache-dir", help="cache folder (for the default --root)")
    q.set_defaults(func=cmd_data_download)

    # analysis
    fmt_help = "table (rich), csv, json or markdown"
    p = sub.add_parser("summary", help="per-layer output shapes, parameters, MACs, receptive fields")
    p.add_argument("model", help="a registered model name (`classicnets models` lists them)")
    p.add_argument("--input", metavar="C,H,W", help="input size of one image (default: the model's)")
    p.add_argument("--depth", type=number(Range(0, 100), "--depth"), metavar="N",
                   help="merge rows into the modules N levels down (1: children; 0..100)")
    p.add_argument("--model-arg", "-o", "--option", dest="option", action="append", metavar="KEY=VALUE",
                   help="model option, repeatable, e.g. variant=v1.5 (as train --model-arg)")
    p.add_argument("--format", choices=["table", "csv", "json", "markdown"], default="table", help=fmt_help)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("table", help="a paper's table computed from the models")
    p.add_argument("name", choices=["googlenet", "resnet", "cifar-resnet", "inception_v3", "wide_resnet"])
    p.add_argument("--format", choices=["table", "csv", "json", "markdown"], default="table", help=fmt_help)
    p.set_defaults(func=cmd_table)

    p = sub.add_parser("compare", help="parameters, MACs and fc-parameter share of models, with ratios")
    p.add_argument("models", nargs="+", metavar="MODEL", help="ratios are taken to the first model")
    p.add_argument("--input", metavar="C,H,W", help="one input size for all (default: each model's own)")
    p.add_argument("--format", choices=["table", "csv", "json", "markdown"], default="table", help=fmt_help)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("calc", help="calculators: factorized kernels, Inception modules")
    calc = p.add_subparsers(dest="calc", metavar="CALC", required=True)
    c = calc.add_parser("factorization", help="savings of factorized convolutions (default: the standard five)")
    c.add_argument("--kernel", type=number(Range(2, 1024), "--kernel"), metavar="N",
                   help="the n x n conv to factorize (2..1024)")
    c.add_argument("--scheme", choices=["3x3", "2x2", "asymmetric"], default="3x3")
    c.add_argument("--channels", type=number(CHANNELS, "--channels"), metavar="C",
                   help=f"equal input/output channels (default: per C^2; {CHANNELS.text})")
    for name, help_text in (("inception", "the naive Inception module against the one with 1x1 reductions"),
                            ("inception-vs-conv", "an Inception module against one conv with its output channels")):
        c = calc.add_parser(name, help=help_text + " (default: GoogLeNet's inception 3a)")
        for flag, default, text in (("--in-ch", 192, "input channels"), ("--n1", 64, "#1x1"),
                                    ("--reduce3", 96, "#3x3 reduce"), ("--n3", 128, "#3x3"),
                                    ("--reduce5", 16, "#5x5 reduce"), ("--n5", 32, "#5x5"),
                                    ("--pool-proj", 32, "pool proj")):
            c.add_argument(flag, type=number(CHANNELS, flag), default=default,
                           help=f"{text} ({default}; {CHANNELS.text})")
        c.add_argument("--size", type=number(IMAGE_SIDE, "--size"), default=28,
                       help=f"input height = width (28; {IMAGE_SIDE.text})")
        if name == "inception-vs-conv":
            c.add_argument("--kernels", type=number(Range(1, 1024), "--kernels"), nargs="+", default=[3, 5],
                           help="kernel sizes of the single conv (1..1024)")
    for c in calc.choices.values():
        c.add_argument("--format", choices=["table", "csv", "json", "markdown"], default="table", help=fmt_help)
    p.set_defaults(func=cmd_calc)

    def measure_args(q: argparse.ArgumentParser, batch_size: int) -> None:
        q.add_argument("--checkpoint", metavar="PATH", help="weights to load (default: measure at initialization)")
        q.add_argument("--dataset", metavar="NAME", help="real batches from this dataset (default: random inputs)")
        q.add_argument("--data-dir", "--root", dest="root", metavar="PATH", help="the dataset's file or folder")
        q.add_argument("--split", help="dataset split (default test, or val for a folder with only train/ and val/)")
        q.add_argument("--batches", type=number(BATCHES, "--batches"), default=1, metavar="N",
                       help=f"batches averaged (1; {BATCHES.text})")
        q.add_argument("--batch-size", type=number(BATCH_SIZE, "--batch-size"), default=batch_size, metavar="B",
                       help=f"({batch_size}; {BATCH_SIZE.text})")
        q.add_argument("--model-arg", "-o", "--option", dest="option", action="append", metavar="KEY=VALUE",
                       help="model option, e.g. batch_norm=false (true/false, none, numbers, tuples are typed)")
        q.add_argument("--seed", type=number(SEEDS, "--seed"), default=0,
                       help=f"seeds the init, the batches and the sampling (0; {SEEDS.text})")
        q.add_argument("--device", default="cpu", help=DEVICE_HELP + " (default cpu)")
        q.add_argument("--out", default="analysis", metavar="DIR", help="folder for the CSV and PNG (analysis)")

    p = sub.add_parser("gradflow", help="gradient norms per layer and per block (plain vs residual)")
    p.add_argument("models", nargs="+", metavar="MODEL")
    p.add_argument("--regime", default="both", choices=["both", "as-built", "bn-kaiming", "nobn-glorot"],
                   help="CIFAR plain/residual nets: BN + Kaiming init and no BN + Glorot init (both, default), "
                   "one of them, or the options as given (as-built)")
    measure_args(p, 128)
    p.set_defaults(func=cmd_gradflow)

    p = sub.add_parser("paths", help="path-length distribution and gradient per path length (Veit et al.)")
    p.add_argument("model", metavar="MODEL", help="a residual network, e.g. resnet110")
    p.add_argument("--samples", type=number(Range(1, 1000), "--samples"), default=3, metavar="S",
                   help="block subsets sampled per length (3; 1..1000)")
    p.add_argument("--lengths", metavar="A:B[:STEP]", help="path lengths to measure (default: all)")
    p.add_argument("--distribution-only", action="store_true", help="print the Binomial distribution only")
    measure_args(p, 32)
    p.set_defaults(func=cmd_paths)

    # training
    from .train.config import PRECISIONS, add_arguments

    p = sub.add_parser("train", help="train a model on a dataset (options: docs/training.md)",
                       description="Train MODEL on --dataset; every option can also come from --config FILE.")
    p.add_argument("model", nargs="?", default=argparse.SUPPRESS, metavar="MODEL",
                   help="registered model name (`classicnets models`)")
    p.add_argument("--config", metavar="FILE", help="TOML file with the same options; flags override it")
    add_arguments(p)
    p.set_defaults(func=cmd_train)

    def run_arg(q: argparse.ArgumentParser, bare_weights: bool = True) -> None:
        if not bare_weights:  # the class names and the normalization come from the run
            q.add_argument("run", metavar="RUN_OR_WEIGHTS", help="a run directory, or a weights file inside one")
            q.set_defaults(model=None)
            return
        q.add_argument("run", metavar="RUN_OR_WEIGHTS", help="a run directory, or a .safetensors/.pt weights file "
                       "(then --model is needed)")
        q.add_argument("--model", help="model name for a bare weights file")

    p = sub.add_parser("eval", help="evaluate a run, a weights file or bundled weights: top-1/top-5, per class, "
                       "confusion matrix")
    p.add_argument("run", metavar="RUN_OR_WEIGHTS", nargs="?", help="a run directory, or a .safetensors/.pt "
                   "weights file (then --model is needed); none with --pretrained")
    p.add_argument("--model", help="model name for a bare weights file, or of the bundled weights (--pretrained)")
    p.add_argument("--pretrained", action="store_true", help="evaluate the weights bundled for --model "
                   "(`classicnets models --pretrained` lists them); --data-dir is then needed")
    p.add_argument("--dataset", help="dataset (default: the run's)")
    p.add_argument("--data-dir", metavar="PATH", help="dataset files (default: the run's)")
    p.add_argument("--split", help="split to evaluate (default: the one the run was measured on: test, or val "
                   "for an image folder with only train/ and val/)")
    p.add_argument("--fold-bn", action="store_true", help="evaluate with BatchNorm folded into the convolutions")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="fp32 (default), bf16, fp16, auto")
    p.add_argument("--batch-size", type=number(EVAL_BATCH, "--batch-size"), default=256,
                   help=f"(256; {EVAL_BATCH.text})")
    p.add_argument("--device", default="auto", help=DEVICE_HELP + " (default auto)")
    p.add_argument("--confusion", metavar="CSV", help="confusion matrix file (default: in the run, "
                   "eval/confusion-<split>.csv; none for --pretrained)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("predict", help="top-k classes of image files with the run's class names")
    p.add_argument("run", metavar="RUN_OR_WEIGHTS", help="a run directory, or a weights file inside one (with "
                   "--pretrained: the first image)")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files (anything Pillow opens)")
    p.add_argument("--model", help="with --pretrained: the model whose bundled weights classify")
    p.add_argument("--pretrained", action="store_true", help="use the weights bundled for --model NAME instead "
                   "of a run: classicnets predict --model resnet20 --pretrained IMAGE...")
    p.add_argument("--top-k", type=number(TOP_K, "--top-k"), default=5, help=f"classes shown (5; {TOP_K.text})")
    p.add_argument("--device", default="cpu", help=DEVICE_HELP + " (default cpu)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="export a model to ONNX, pt2 (torch.export) or safetensors")
    run_arg(p)
    p.add_argument("--format", choices=["onnx", "pt2", "safetensors"], required=True)
    p.add_argument("--fold-bn", action="store_true", help="fold BatchNorm into the convolutions first")
    p.add_argument("--dataset", help="for a bare weights file: the dataset it was trained on (its classes and "
                   "channels)")
    p.add_argument("--out", metavar="FILE", help="output file (default: RUN/export/model.<ext>, or "
                   "model-folded.<ext> with --fold-bn; for a bare weights file export/ beside it)")
    p.add_argument("--input-size", type=int, nargs=3, metavar=("C", "H", "W"),
                   help=f"example input size (default: the run's; C {CHANNELS.text}, H and W {IMAGE_SIDE.text})")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("plot", help="training curves of one or several runs in one figure (PNG)")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    p.add_argument("--metric", default="val_acc", help="metrics.csv column (accuracies are drawn as error %%, "
                   "train dashed and val solid, as in He et al. Fig. 6)")
    p.add_argument("--out", metavar="FILE.png", help="output image (default: curves.png in the first run)")
    p.add_argument("--label", action="append", help="legend label per run (repeat)")
    p.add_argument("--title")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("demo", help="train plain56 and resnet56 on the embedded digits, compare, plot")
    p.add_argument("--out", default="runs/demo", metavar="DIR")
    p.add_argument("--epochs", type=number(DEMO_EPOCHS, "--epochs"), default=None,
                   help=f"epochs per model (default: the demo's; {DEMO_EPOCHS.text})")
    p.add_argument("--models", default="plain56,resnet56", help="comma-separated models (default plain56,resnet56)")
    p.set_defaults(func=cmd_demo)

    # experiments
    from .experiments import SCALES
    from .experiments.framework import all_options

    p = sub.add_parser("experiment", help="reproduce the papers' claims: training sweeps, figures, verdicts "
                       "(docs/experiments.md)")
    exp_sub = p.add_subparsers(dest="experiment_command", metavar="SUBCOMMAND", required=True)
    q = exp_sub.add_parser("list", help="the experiments, their scales and options")
    q.add_argument("--format", choices=["text", "json"], default="text")
    q.set_defaults(func=cmd_experiment_list)
    q = exp_sub.add_parser("run", help="run an experiment (rerunning the same command continues it)",
                           description="Train the experiment's runs (finished runs are skipped, interrupted ones "
                           "resumed), then write results.json, figures/*.png and summary.md with VERDICT lines.")
    q.add_argument("name", metavar="NAME", help="an experiment name (`classicnets experiment list`)")
    q.add_argument("--scale", choices=SCALES, default="small",
                   help="smoke: seconds on digits; small (default): about an hour on a 2-core CPU; medium: the "
                   "nets trained to convergence with the fast recipe, a few hours on a 2-core CPU; paper: the "
                   "papers' protocol")
    q.add_argument("--data-dir", metavar="PATH", help="the dataset's file or folder, or a folder holding several "
                   "(e.g. ../shared/data); not needed at smoke scale")
    q.add_argument("--out", metavar="DIR", help="experiment folder (default experiments/NAME-SCALE)")
    q.add_argument("--resume", action="store_true", help="insist that DIR holds this experiment already (a rerun "
                   "continues with or without this flag)")
    q.add_argument("--jobs", type=number(THREADS, "--jobs"), default=1, metavar="N",
                   help=f"train up to N runs side by side, never more than the cores (each gets cores/N threads; "
                   f"{THREADS.text})")
    q.add_argument("--device", default="auto", help=DEVICE_HELP + " (default auto)")
    q.add_argument("--quiet", action="store_true", help="no progress; print the verdict lines at the end")
    for o in all_options().values():
        q.add_argument(o.flag, dest=o.name, type=arg_type(o.parse), default=argparse.SUPPRESS, metavar=o.metavar,
                       help=o.help)
    q.set_defaults(func=cmd_experiment_run)

    p = sub.add_parser("cam", help="class activation maps (Zhou et al. 2016) of a run for image files, as PNGs")
    p.add_argument("run", metavar="RUN_OR_WEIGHTS", help="a run directory, or a weights file inside one")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (anything Pillow opens)")
    p.add_argument("--out", metavar="DIR", help="folder for IMAGE-cam.png (default: RUN/cam)")
    p.add_argument("--model", help="model name (checked against the run's)")
    p.add_argument("--device", default="cpu", help=DEVICE_HELP + " (default cpu)")
    p.set_defaults(func=cmd_cam)

    # report
    p = sub.add_parser("report", help="one self-contained HTML page (or Markdown) of runs and experiments "
                       "(docs/report.md)",
                       description="Render run directories and experiment directories (or every one found under "
                       "a folder): configuration, environment, training curves, final metrics, experiment tables, "
                       "figures and verdicts, and a comparison table of all runs.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a run directory, an experiment directory, or a folder "
                   "searched for them")
    p.add_argument("--out", metavar="FILE", help="output file (default report.html, or report.md with --format "
                   "markdown); a Markdown report's images go to FILE_STEM_files/ beside it")
    p.add_argument("--format", choices=["html", "markdown"], default=None,
                   help="html (default; markdown when --out ends in .md)")
    p.add_argument("--keep-going", action="store_true", help="leave out a directory with a corrupt file and list "
                   "it at the top of the report, instead of stopping with the error")
    p.add_argument("--title", default="classicnets report", help="the report's title")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code = _run(args)
    # A torchrun worker that joined a process group ends here, at once (classicnets.train.distributed explains
    # why: torch keeps gloo's threads alive after DDP, and a normal interpreter exit beside them can abort).
    dist = sys.modules.get("classicnets.train.distributed")
    if dist is not None and dist.joined_process_group():
        dist.exit_process(code)
    return code


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        # every torchrun rank prints its error: one that only some ranks hit must not be lost
        print(f"classicnets {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `classicnets models | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
