"""What a progressive `rendered` event costs the Forge's stream: `render_markdown` (markdown-it-py
+ nh3) on the whole answer so far, at 2 kB and 8 kB of the demo's Markdown (a concept brief and
numbered ideas, repeated), and how many renders a throttled stream does.

    python bench/markdown_bench.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ideaforge.settings")


def sample(size: int) -> str:
    from providers.testing.canned import brief, ideas

    block = brief("a tool library for apartment blocks") + "\n\n" + ideas("shared gardens") + "\n\n"
    text = block * (size // len(block) + 1)
    return text[:size].rsplit("\n", 1)[0] + "\n"  # end at a block boundary, as the stream renders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=500)
    args = parser.parse_args()
    import django

    django.setup()
    from agents.presentation import render_markdown

    for size in (2048, 8192):
        text = sample(size)
        render_markdown(text)  # warm up
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter_ns()
            render_markdown(text)
            times.append((time.perf_counter_ns() - start) / 1000)
        times.sort()
        p95 = times[int(len(times) * 0.95) - 1]
        print(
            f"render_markdown, {len(text.encode())} bytes: median {statistics.median(times):.0f} µs, p95 {p95:.0f} µs"
        )
    stream(sample(8192), word_delay=0.03)
    stream(sample(8192), word_delay=0.005)


def stream(text: str, *, word_delay: float) -> None:
    """A whole answer fed word by word as the Forge's stream does, a simulated clock advancing
    `word_delay` per word: how many renders the throttle lets through and what they cost."""
    from agents.events import Delta
    from agents.progressive import ProgressiveMarkdown

    now = [0.0]
    md = ProgressiveMarkdown(clock=lambda: now[0])
    words = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
    renders, spent = 0, 0
    for word in words:
        now[0] += word_delay
        start = time.perf_counter_ns()
        if md.feed(Delta(word)) is not None:
            renders += 1
        spent += time.perf_counter_ns() - start
    seconds = len(words) * word_delay
    print(
        f"stream of {len(text.encode())} bytes in {len(words)} deltas ({seconds:.0f} s at {word_delay * 1000:.0f} ms "
        f"a word): {renders} renders, {spent / 1e6:.0f} ms in feed() in all ({spent / 1e7 / seconds:.2f} % of one "
        f"core), {spent / 1000 / len(words):.0f} µs per delta on average"
    )


if __name__ == "__main__":
    main()
