"""`manage.py agents_run`: streams, ends with one summary line, non-zero exit naming what was tried."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from agents.models import AgentRun, RunStatus

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args, **options):
    out, err = io.StringIO(), io.StringIO()
    call_command("agents_run", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_streams_and_summarises(alice, platform_gateway):
    out, _ = run("idea_generator", "night markets", user="alice", tier="standard")
    lines = out.strip().splitlines()
    assert lines[0] == "Echo: night markets"
    summary = lines[-1]
    assert "provider=ai_gateway" in summary and "model=sim-standard" in summary and "tier=standard" in summary
    assert "tokens=" in summary and "latency=" in summary and "in/" in summary
    assert AgentRun.objects.get().status == RunStatus.SUCCEEDED


def test_all_down_exits_non_zero_naming_what_was_tried(alice, platform_gateway):
    platform_gateway.fail(503, times=None)
    with pytest.raises(CommandError) as caught:
        run("idea_generator", "x", user="alice")
    message = str(caught.value)
    assert "No model available" in message and "ai_gateway sim-fast (platform)" in message and "503" in message


def test_fallback_is_reported_on_stderr(alice, platform_gateway, gateway2, alice_gateway):
    gateway2.fail(502, times=None)
    out, err = run("idea_generator", "fallback please", user="alice")
    assert "skipped ai_gateway alice-fast" in err and "502" in err
    assert "model=sim-fast" in out and "fallbacks=1" in out


def test_no_provider_and_unknown_user(alice):
    with pytest.raises(CommandError, match="Settings"):
        run("idea_generator", "x", user="alice")
    with pytest.raises(CommandError, match="No user"):
        run("idea_generator", "x", user="nobody")


def test_unknown_agent_is_refused_by_the_real_entry_point():
    """Through manage.py: a bad agent name exits non-zero before anything runs."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "manage.py", "agents_run", "no_such_agent", "x", "--user", "alice"],
        capture_output=True,
        text=True,
        env={"DJANGO_DEBUG": "true", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0 and "invalid choice" in result.stderr
