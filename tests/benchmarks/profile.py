"""A py-spy `raw` (collapsed stacks) profile as two short tables: the functions where samples
end (self), and the gateway's and its libraries' functions that samples pass through
(inclusive), each as a share of all samples."""

from __future__ import annotations

from collections import Counter

TOP = 40


def _frames(stack: str) -> list[str]:
    # py-spy raw frames: "function (path/to/file.py:line)"; the line is dropped to merge them
    return [frame.rsplit(":", 1)[0] + ")" if ":" in frame else frame for frame in stack.split(";")]


def summary(raw: str) -> str:
    own: Counter[str] = Counter()
    through: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames, n = _frames(stack), int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            through[frame] += n
    if not total:
        return "no samples\n"
    lines = [f"{total} samples", "", "## self", ""]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(TOP)]
    lines += ["", "## inclusive", ""]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in through.most_common(TOP * 2)]
    return "\n".join(lines) + "\n"
