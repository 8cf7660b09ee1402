"""Helpers for the tests that hold the settings files to each other: `ideaforge/settings.py` (the
environment), each app's `conf.py` (the defaults), `.env.example` and `docs/configuration.md`.

Used by `providers/tests/test_checks.py` and each app's `tests/test_conf.py`.
"""

from __future__ import annotations

import os
import re
import runpy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import environ

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_PY = ROOT / "ideaforge" / "settings.py"
DOCUMENTS = (".env.example", "docs/configuration.md")


def settings_source() -> str:
    return SETTINGS_PY.read_text()


def settings_env_vars() -> set[str]:
    """Every variable settings.py reads (`env("X", ...)`, `env.float("X", ...)`, `if_set(env.float, "X")`)."""
    return set(re.findall(r"\b(?:env(?:\.\w+)?\(|if_set\(env(?:\.\w+)?,)\s*\"([A-Z][A-Z0-9_]*)\"", settings_source()))


def undocumented(names: Iterable[str], document: str) -> list[str]:
    """The names that `document` (a path from the project root) does not mention."""
    text = (ROOT / document).read_text()
    return sorted(name for name in names if name not in text)


def load_settings(variables: Mapping[str, str]) -> dict[str, Any]:
    """Run settings.py in a fresh namespace as if the environment held exactly `variables` (and
    there were no `.env` file); returns the module's globals. Django's own settings are untouched."""
    with mock.patch.dict(os.environ, variables, clear=True), mock.patch.object(environ.Env, "read_env"):
        return runpy.run_path(str(SETTINGS_PY))


def env_text(value: Any) -> str:
    """`value` written as an environment variable (and as the docs state a default)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def documented_defaults(document: str = "docs/configuration.md") -> dict[str, str]:
    """The "default" cell of each variable's row in the document's tables (`| `NAME` | default | meaning |`)."""
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|", (ROOT / document).read_text(), re.MULTILINE)
    return {name: cell.strip() for name, cell in rows}


def stated_default(cell: str) -> tuple[str, str | None]:
    """The default a docs cell states, as env text, and the one under DEBUG when it names one.

    A cell states a default as its first `code span`, or "empty" for an empty string or list;
    a DEBUG-dependent default reads "`<value>`; `<value under DEBUG>` under DEBUG".
    """
    spans = re.findall(r"`([^`]*)`", cell)
    if cell.startswith("empty"):
        default = ""
    elif spans:
        default = spans[0]
    else:
        raise AssertionError(f"no default stated in {cell!r} (write it as `value`, or 'empty')")
    under_debug = re.search(r"`([^`]*)` under DEBUG", cell)
    return default, under_debug.group(1) if under_debug else None


# --- checks of one app's declared settings (`<app>/conf.py` DECLARED), run by its tests/test_conf.py


def assert_settings_py_reads_without_default(declared: Mapping[str, Any]) -> None:
    """settings.py sets each declared setting from its variable with `if_set` (no default), once;
    a setting not from the environment is not read from it."""
    source = settings_source()
    for name, entry in declared.items():
        assignments = re.findall(rf"^{entry.setting} = (.*)$", source, re.MULTILINE)
        if entry.env is None:
            assert not any("env" in a for a in assignments), f"{name}: not from the environment"
            continue
        read = rf'if_set\(env(\.(float|int|bool|list))?, "{entry.env}"\)'
        assert len(assignments) == 1 and re.fullmatch(read, assignments[0]), (
            f'settings.py must set {entry.setting} = if_set(env..., "{entry.env}"), once; found {assignments}'
        )


def assert_unset_variables_leave_settings_none(declared: Mapping[str, Any]) -> None:
    for debug in ("true", "false"):
        loaded = load_settings({"DJANGO_DEBUG": debug})
        assert [e.setting for e in declared.values() if e.env and loaded[e.setting] is not None] == []


def assert_default_parses_back(entry: Any, default: Any) -> None:
    """The variable set to the default's text gives the default, of the default's type: the cast in
    settings.py agrees with the type of the default in conf.py."""
    loaded = load_settings({"DJANGO_DEBUG": "true", entry.env: env_text(default)})
    assert loaded[entry.setting] == default
    assert type(loaded[entry.setting]) is type(default)


def assert_docs_state(entry: Any, default: Any, under_debug: Any = None) -> None:
    """docs/configuration.md's row for the variable states `default` (and `under_debug`, for a
    default that depends on DEBUG)."""
    cell = documented_defaults().get(entry.env)
    assert cell is not None, f"docs/configuration.md has no table row for {entry.env}"
    stated, stated_under_debug = stated_default(cell)
    assert stated == env_text(default), f"{entry.env}: docs say {cell!r}"
    expected_under_debug = None if under_debug is None else env_text(under_debug)
    assert stated_under_debug == expected_under_debug, f"{entry.env}: docs say {cell!r}"
