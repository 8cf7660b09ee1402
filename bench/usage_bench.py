"""The usage page, the admin's run list and the usage dashboard as the run records grow.

    .venv/bin/python bench/usage_bench.py            # 10k, 100k, 1M runs; updates docs/benchmarks.md
    .venv/bin/python bench/usage_bench.py --quick    # 10k and 50k, prints only

Seeds runs by fast bulk insert (one transaction, executemany) into a throwaway SQLite file:
50 users, one of them holding half the runs, spread over the last 365 days, four providers,
one run in ten failed with a fallback. The daily roll-up is rebuilt after each seeding (as
`manage.py agents_usage_rollup` does). Each page is fetched through Django's test client
as a staff user (the whole request: middleware, queries, template), median of 7 after 2
warm-ups. Target: each under 200 ms on SQLite, flat as the rows grow.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
START, END = "<!-- usage-bench:start -->", "<!-- usage-bench:end -->"
PROVIDERS = [
    ("ai_gateway", "sim-fast"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-haiku"),
    ("gemini", "gemini-flash"),
]
AGENTS = ["idea_generator", "idea_critic", "concept_brief"]


def _setup(db_path: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "ideaforge.settings",
            "DJANGO_DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{db_path}",
            "REDIS_URL": "",
            "LOG_LEVEL": "ERROR",
            "AGNO_TELEMETRY": "false",
            "DJANGO_ALLOWED_HOSTS": "testserver",
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def _seed(db_path: str, users: list[int], count: int, rng: random.Random) -> None:
    """`count` more finished runs, written straight to SQLite in one transaction (no ORM)."""
    now = datetime.now(UTC)
    heavy = users[0]
    rows = []
    for _ in range(count):
        provider, model = rng.choice(PROVIDERS)
        created = now - timedelta(seconds=rng.randrange(365 * 86400))
        failed = rng.random() < 0.1
        latency = int(rng.lognormvariate(7, 0.8))
        rows.append(
            (
                heavy if rng.random() < 0.5 else rng.choice(users),
                rng.choice(AGENTS),
                "fast",
                "a prompt about an idea " * 4,
                "" if failed else "an answer",
                provider,
                model,
                "platform",
                f"platform:{provider}",
                '[{"provider": "openai", "model": "m", "source": "user", "reason": "HTTP 503"}]' if failed else "[]",
                "failed" if failed else "succeeded",
                0,
                latency,
                latency // 3,
                120,
                0 if failed else 480,
                "HTTP 503: unavailable" if failed else "",
                created.isoformat(sep=" "),
                created.isoformat(sep=" "),
                f"{rng.getrandbits(128):032x}",  # as providers.context.request_id_from makes them
                rng.random() < 0.05,
            )
        )
    connection = sqlite3.connect(db_path)
    with connection:
        connection.executemany(
            "INSERT INTO agents_agentrun (user_id, agent, tier, prompt, output, provider, model_id, credential_source, "
            "credential_key, fallbacks, status, streamed, latency_ms, time_to_first_token_ms, input_tokens, "
            "output_tokens, error, created_at, finished_at, request_id, cache_hit) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    connection.execute("ANALYZE")
    connection.close()


PAGES = {
    "usage page (the heavy user, 7 days)": "/usage/",
    "usage page (the heavy user, 90 days)": "/usage/?days=90",
    "admin run list (default: last 7 days)": "/admin/agents/agentrun/",
    "admin run list filtered (provider + status)": "/admin/agents/agentrun/?provider__exact=openai&status__exact=failed",
    "admin run list searched (user name)": "/admin/agents/agentrun/?q=user7",
    "admin run list, last 30 days, searched": "/admin/agents/agentrun/?period=30&q=gpt",
    "admin run list, last 90 days, searched (provider)": "/admin/agents/agentrun/?period=90&q=gemini",
    "admin dashboard (30 days)": "/admin/agents/agentrun/dashboard/?days=30",
}


def _time_pages(heavy_client, admin_client) -> dict[str, float]:
    results = {}
    for label, url in PAGES.items():
        client = heavy_client if url.startswith("/usage/") else admin_client
        samples = []
        for i in range(9):
            t0 = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - t0) * 1000
            assert response.status_code == 200, (url, response.status_code)
            if i >= 2:
                samples.append(elapsed)
        results[label] = statistics.median(samples)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    sizes = [10_000, 50_000] if args.quick else [10_000, 100_000, 1_000_000]
    output = args.output or (None if args.quick else str(ROOT / "docs" / "benchmarks.md"))
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = os.path.join(tmp, "usage.sqlite3")
        _setup(db_path)
        from django.contrib.auth import get_user_model
        from django.test import Client

        from agents.rollup import rollup_rebuild

        User = get_user_model()
        users = [User.objects.create_user(f"user{i}", password="x-password-123").pk for i in range(50)]
        heavy = User.objects.get(pk=users[0])
        staff = User.objects.create_superuser("ops", password="ops-password-123")
        heavy_client, admin_client = Client(), Client()
        heavy_client.force_login(heavy)
        admin_client.force_login(staff)
        table: dict[int, dict[str, float]] = {}
        seeded = 0
        for size in sizes:
            t0 = time.perf_counter()
            _seed(db_path, users, size - seeded, rng)
            seed_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            rollup_rows = rollup_rebuild()
            rollup_s = time.perf_counter() - t0
            seeded = size
            print(
                f"{size} runs: seeded in {seed_s:.1f} s, roll-up rebuilt in {rollup_s:.1f} s ({rollup_rows} rows)",
                flush=True,
            )
            table[size] = _time_pages(heavy_client, admin_client)
    worst = max(v for row in table.values() for v in row.values())
    lines = [
        START,
        "## Usage page, admin run list and dashboard as runs grow (`bench/usage_bench.py`)",
        "",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({'quick' if args.quick else 'full'}); Python "
        f"{platform.python_version()}, {platform.machine()}. SQLite, runs spread over 365 days, one user holding "
        "half of them. Median of 7 requests (whole request through the test client).",
        "",
        "| page | " + " | ".join(f"{s:,} runs" for s in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for label in PAGES:
        lines.append(f"| {label} | " + " | ".join(f"{table[s][label]:.0f} ms" for s in sizes) + " |")
    lines += ["", f"Target under 200 ms each: **{'met' if worst < 200 else 'missed'}** (worst {worst:.0f} ms).", END]
    section = "\n".join(lines) + "\n"
    print(section)
    if output:
        path = Path(output)
        text = path.read_text() if path.exists() else "# Benchmarks\n"
        if START in text and END in text:
            before, rest = text.split(START, 1)
            text = before + section + rest.split(END, 1)[1].lstrip("\n")
        else:
            text = text.rstrip("\n") + "\n\n" + section
        path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
