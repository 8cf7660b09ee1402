"""Replace one marked block of docs/benchmarks.md with a bench's new results."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_block(text: str, *, start: str, end: str, heading: str) -> None:
    """Put `text` between the `start` and `end` markers, or append it under `heading` the first time."""
    doc = DOC.read_text()
    block = f"{start}\n{text}\n{end}"
    if start in doc:
        doc = doc[: doc.index(start)] + block + doc[doc.index(end) + len(end) :]
    else:
        doc = doc.rstrip() + f"\n\n## {heading}\n\n" + block + "\n"
    DOC.write_text(doc)
