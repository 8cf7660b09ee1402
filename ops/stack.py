"""The production-like stack on this machine: Redis, ASGI web workers, a Celery worker and beat.

    python ops/stack.py [--port 8000] [--workers 2]        (what `make serve` runs)

The same commands as production (docs/deployment.md): `gunicorn -c ideaforge/gunicorn.conf.py
ideaforge.asgi:application` (uvicorn workers), `celery -A ideaforge worker`, `celery -A
ideaforge beat`. `REDIS_URL` is required by this stack: when it is not set, a local
`redis-server` is started on a free port (no persistence) and stopped with the rest. Ctrl-C (or
SIGTERM) stops everything that was started, in reverse order; if one process dies, the others
are stopped too. `Stack` is also used by the load test (bench/loadtest.py), which kills and
restarts single processes to inject faults.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from providers.testing.redis_server import RedisServer  # noqa: E402


@dataclass
class Process:
    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Stack:
    """Start with `start()`, stop with `stop()` (or use it as a context manager)."""

    port: int = 8000
    host: str = "127.0.0.1"
    workers: int = 2
    celery_concurrency: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    #: Where the processes' output goes: None = this terminal; a directory = one log file each.
    log_dir: Path | None = None
    #: Extra gunicorn arguments (e.g. ["--access-logfile", "-"]).
    web_args: list[str] = field(default_factory=list)
    redis: RedisServer | None = None
    processes: dict[str, Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def redis_url(self) -> str:
        """REDIS_URL without its password (for messages: it may carry one)."""
        url = urlsplit(self._env["REDIS_URL"])
        if url.password is None:
            return url.geturl()
        host = url.hostname or ""
        return url._replace(netloc=f"{url.username or ''}:***@{host}" + (f":{url.port}" if url.port else "")).geturl()

    def start(self) -> Stack:
        try:
            if not self._env.get("REDIS_URL"):
                self.redis = RedisServer().start()
                self._env["REDIS_URL"] = self.redis.url
                print(f"stack: started redis-server at {self.redis.url} (REDIS_URL was not set)", flush=True)
            self._run_once("migrate", [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"])
            py = Path(sys.executable).parent
            self.add(
                "web",
                [
                    str(py / "gunicorn"),
                    "-c",
                    "ideaforge/gunicorn.conf.py",
                    "ideaforge.asgi:application",
                    "--bind",
                    f"{self.host}:{self.port}",
                    "--workers",
                    str(self.workers),
                    *self.web_args,
                ],
            )
            self.add(
                "worker",
                [
                    str(py / "celery"),
                    "-A",
                    "ideaforge",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    str(self.celery_concurrency),
                    "--without-gossip",
                    "--without-mingle",
                ],
            )
            self.add("beat", [str(py / "celery"), "-A", "ideaforge", "beat", "--loglevel", "INFO"])
            self.wait_web()
        except BaseException:
            self.stop()
            raise
        return self

    def add(self, name: str, argv: list[str]) -> Process:
        process = Process(name, argv)
        self.processes[name] = process
        self.launch(name)
        return process

    def launch(self, name: str) -> None:
        """(Re)start one process, e.g. after `kill(name)`."""
        process = self.processes[name]
        out: int | object = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            process.log = self.log_dir / f"{name}.log"
            out = process.log.open("ab")
        # Own session: a Ctrl-C in the terminal reaches this supervisor only, which stops the
        # processes in order (gunicorn lets its workers finish their streams).
        process.popen = subprocess.Popen(
            process.argv,
            cwd=ROOT,
            env=self._env,
            start_new_session=True,
            stdout=None if self.log_dir is None else out,
            stderr=None if self.log_dir is None else subprocess.STDOUT,
        )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill one process and its children (a crash, for fault injection)."""
        process = self.processes[name]
        if process.running:
            assert process.popen is not None
            os.killpg(process.popen.pid, sig)
            process.popen.wait(timeout=15)

    def wait_web(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.processes["web"].running:
                raise RuntimeError("the web server exited on start (see its output above)")
            try:
                httpx.get(self.url + "/accounts/login/", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"the web server did not answer on {self.url} within {timeout:.0f} s")

    def _run_once(self, name: str, argv: list[str]) -> None:
        done = subprocess.run(argv, cwd=ROOT, env=self._env, capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise RuntimeError(f"{name} failed:\n{done.stdout}\n{done.stderr}")

    def dead(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.popen is not None and not p.running]

    def stop(self) -> None:
        """SIGTERM everything (newest first), SIGKILL what is still there after 15 s."""
        for process in reversed(list(self.processes.values())):
            if process.running:
                assert process.popen is not None
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGTERM)
        for process in reversed(list(self.processes.values())):
            if process.popen is None:
                continue
            try:
                process.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait(timeout=5)
        if self.redis is not None:
            self.redis.stop()
            self.redis = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the production-like stack until Ctrl-C.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2, help="ASGI web workers (gunicorn + uvicorn-worker).")
    parser.add_argument("--celery-concurrency", type=int, default=1)
    args = parser.parse_args(argv)
    # SIGTERM (a service manager, `kill`) stops the stack as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background (SIGINT ignored)
    stack = Stack(port=args.port, host=args.host, workers=args.workers, celery_concurrency=args.celery_concurrency)
    try:
        stack.start()
        print(
            f"stack: web on {stack.url} ({args.workers} ASGI workers), Celery worker and beat, Redis {stack.redis_url}. "
            "Ctrl-C stops them all.",
            flush=True,
        )
        while not stack.dead():
            time.sleep(0.5)
        print(f"stack: {', '.join(stack.dead())} exited: stopping the rest", flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nstack: stopping", flush=True)
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
