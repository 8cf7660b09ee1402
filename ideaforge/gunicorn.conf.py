"""gunicorn's configuration for production: ASGI workers (uvicorn-worker) serving ideaforge.asgi.

    gunicorn -c ideaforge/gunicorn.conf.py ideaforge.asgi:application

Command-line options and gunicorn's own environment variables win over this file:
`--bind` (default 127.0.0.1:8000) / `PORT`, `--workers` / `WEB_CONCURRENCY` (default: one per
core), `GUNICORN_CMD_ARGS`. No variable of ours: the app's settings are read by Django.
"""

from __future__ import annotations

import multiprocessing
import os

# ASGI workers: the Forge stream is an async view; a sync worker would consume it whole.
worker_class = "ideaforge.workers.UvicornWorker"  # uvloop + httptools
# One worker per core serves many concurrent streams (they wait on the network, not the CPU).
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
# A worker whose event loop is blocked this long is killed and replaced. Streams do not block
# the loop, so this bounds bugs, not runs (AGENTS_RUN_TIMEOUT bounds those).
timeout = 60
# Ctrl-C / SIGTERM: running streams get this long to finish before the workers are killed.
graceful_timeout = 10
# Keep-alive between a reverse proxy and the workers.
keepalive = 5
# No recycling after N requests (gunicorn's default, said here because it is a choice): a worker
# that recycles closes its idle keep-alive connections, and a POST a client sends on one at that
# moment fails with no response and no run record. Measured in the load test with
# `--max-requests 300`: 26 of 1,361 Forge requests failed that way (ReadError); with recycling
# at 20,000 it hit 9 of 7,508 in one 120 s scenario. No leak is known that recycling would
# bound; docs/deployment.md says how to turn it on and what it costs.
max_requests = 0
# Errors to stderr; access logs with `--access-logfile -` (off by default: one line per request).
errorlog = "-"
