"""gunicorn's worker class for production: uvicorn-worker's, on uvloop and httptools.

uvicorn-worker's own class asks for "auto", which falls back to asyncio and h11 without a word
when the two are missing; production names them, so a missing one fails the start instead of
serving every request slower (both pinned in requirements.txt; `bench/http_bench.py` measures
the difference).
"""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker as _UvicornWorker


class UvicornWorker(_UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {"loop": "uvloop", "http": "httptools"}
