"""Bundle finished runs' final weights into the package as pretrained weights.

    python tools/ship_weights.py RUN [RUN ...] [--data-dir PATH]

Each run's model must be a default build (no --model-arg).  Its final weights
are measured in fp32 on the official test split, then written with their
``pretrained_cfg`` (dataset, normalization, recipe, epochs, seed, command,
commit, test_acc) to ``src/classicnets/models/pretrained_weights/``; commit
both files.  A model that already has weights gets the new ones.
"""

from __future__ import annotations

import argparse
import sys

from classicnets.errors import UserError
from classicnets.train.pretrained import bundle_run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", metavar="RUN")
    ap.add_argument("--data-dir", help="dataset files for the test split (default: each run's)")
    args = ap.parse_args()
    for run in args.runs:
        try:
            entry = bundle_run(run, data_dir=args.data_dir)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"{run}: {entry['file']} ({entry['dataset']}, test acc {entry['test_acc']:.2f}%, "
              f"{entry['epochs']} epochs of {entry['recipe']}, commit {entry['commit'][:10]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
