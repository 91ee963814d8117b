"""Summarise py-spy collapsed stacks (``-f raw``): the share of samples per function.

    python3 bench/profile_top.py PROFILE.txt [--top 25] [--self]

Inclusive by default (a function counts once per sample it is on the stack);
``--self`` counts only the innermost frame.
"""

from __future__ import annotations

import argparse
import collections
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--self", action="store_true", dest="self_only")
    args = ap.parse_args()
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    with open(args.path) as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            weight = int(n)
            total += weight
            frames = stack.split(";")
            if args.self_only:
                counts[frames[-1]] += weight
            else:
                for frame in set(frames):
                    counts[frame] += weight
    for frame, n in counts.most_common(args.top):
        print(f"{100 * n / max(total, 1):5.1f}%  {frame}")
    print(f"({total} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
