"""Summarise py-spy's collapsed stacks (`py-spy record -f raw`, as `bench_clients.py` writes
them with `BENCH_PROFILE=DIR`): the functions with the most samples on top of the stack
(self) and anywhere on it (total), as percentages of all samples.

Usage: python bench/profile_summary.py FILE [TOP]
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # paths shown relative to it

# py-spy's frame text: "function (path/to/module.py:LINE)"; the line is dropped so that
# a function counts once however many of its lines were sampled.
FRAME = re.compile(r"^(?P<func>.*?) \((?P<path>[^:()]*)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["path"]
    for marker in ("site-packages/", f"{ROOT}/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['func']} ({path})"


def summarise(text: str) -> tuple[int, Counter, Counter]:
    """(samples, self counts, total counts) per function."""
    own: Counter = Counter()
    total: Counter = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";")[1:]]  # [0] is the thread
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for name in set(frames):
            total[name] += count
    return samples, own, total


def main() -> None:
    path = Path(sys.argv[1])
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    samples, own, total = summarise(path.read_text())
    print(f"{path.name}: {samples} samples")
    for title, counts in (("self", own), ("total", total)):
        print(f"  {title}:")
        for name, count in counts.most_common(top):
            print(f"    {count / samples * 100:5.1f} %  {name}")


if __name__ == "__main__":
    main()
