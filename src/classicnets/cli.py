"""The command line: a thin layer that parses arguments and calls the library.

Each subcommand is one small ``cmd_*`` function.  Errors the user can fix
(:class:`classicnets.errors.UserError`) are printed as one line on stderr with
exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .errors import UserError


# -- models ------------------------------------------------------------------
def cmd_models(args: argparse.Namespace) -> int:
    import torch

    from .models import create_model, list_models
    from .reference import published_params

    names = list_models(args.pattern)
    if not names:
        raise UserError(f"no model matches {args.pattern!r}; `classicnets models` lists all.")
    rows = []
    for name in names:
        with torch.device("meta"):  # count without allocating weights
            model = create_model(name)
        n = sum(p.numel() for p in model.parameters())
        ref = published_params(name)
        rows.append(
            {
                "model": name,
                "params": n,
                "published": ref,
                "match": None if ref is None else n == ref,
                "default_input_size": list(model.default_input_size),
                "min_input_size": list(model.min_input_size),
                "num_classes": model.num_classes,
            }
        )
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if args.format == "csv":
        print("model,params,published,match,default_input_size,min_input_size,num_classes")
        for r in rows:
            print(
                f"{r['model']},{r['params']},{r['published'] or ''},{'' if r['match'] is None else r['match']},"
                f"{'x'.join(map(str, r['default_input_size']))},{'x'.join(map(str, r['min_input_size']))},"
                f"{r['num_classes']}"
            )
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="classicnets models (parameters counted from the built model)")
    for col, just in [("model", "left"), ("params", "right"), ("published", "right"), ("", "center"),
                      ("input (C,H,W)", "left"), ("min input", "left"), ("classes", "right")]:
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        mark = "" if r["match"] is None else ("[green]=[/]" if r["match"] else "[red]![/]")
        table.add_row(
            r["model"], f"{r['params']:,}", "" if r["published"] is None else f"{r['published']:,}", mark,
            "x".join(map(str, r["default_input_size"])), "x".join(map(str, r["min_input_size"])),
            str(r["num_classes"]),
        )
    Console().print(table)
    known = [r for r in rows if r["match"] is not None]
    print(f"{len(rows)} models; {sum(r['match'] for r in known)} of {len(known)} with a published "
          "parameter count match it exactly ('=' above; sources in classicnets/reference.py).")
    return 0


# -- parser --------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="classicnets",
        description="The classic convolutional networks, built as the papers describe them.",
    )
    parser.add_argument("--version", action="version", version=f"classicnets {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("models", help="list the models with their parameter counts")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style name filter, e.g. 'resnet*'")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_models)

    # >>> data commands (issue 4) are added below this line
    # <<< end of data commands
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"classicnets {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
