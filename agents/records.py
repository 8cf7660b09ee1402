"""The two writes of a run record, cheap: an INSERT when the run starts, an UPDATE when it ends.

Both stay (a run whose process died mid-way must remain visible as "running"), but through
`Model.save()` each cost about 170 µs of Django's SQL compilation on top of the database's own
work, on the path to a stream's first delta. Here the statement text is built once per database
vendor from the model's own metadata (with the columns every run starts at their defaults
prepared once too), and each write only prepares its varying values with the fields' own
`get_db_prep_save` (so JSON, datetimes and booleans are adapted as the ORM would, on SQLite
and PostgreSQL alike) and runs one `cursor.execute`. No model signals are sent for `AgentRun`
(none are connected); the instance is kept in step, so callers see what was written.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connections, router

from .models import AgentRun


def _db() -> str:
    return router.db_for_write(AgentRun)


@functools.cache
def _insert_plan(alias: str, vendor: str, given: frozenset[str]) -> tuple[str, tuple[Any, ...], tuple[Any, ...], bool]:
    """The INSERT for a run given the fields `given`: the columns every run starts with at their
    defaults (prepared once here, e.g. `fallbacks` = `[]`, `status` = running), then the fields
    whose values vary (given ones, `created_at`), prepared per run."""
    connection = connections[alias]
    qn = connection.ops.quote_name
    meta = AgentRun._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    varying = tuple(f for f in fields if f.name in given or f.attname in given or getattr(f, "auto_now_add", False))
    constant = tuple(f for f in fields if f not in varying)
    blank = AgentRun()
    constant_params = tuple(f.get_db_prep_save(f.pre_save(blank, True), connection) for f in constant)
    returning = bool(connection.features.can_return_columns_from_insert)
    sql = "INSERT INTO {} ({}) VALUES ({}){}".format(
        qn(meta.db_table),
        ", ".join(qn(f.column) for f in (*constant, *varying)),
        ", ".join(["%s"] * len(fields)),
        f" RETURNING {qn(meta.pk.column)}" if returning else "",
    )
    return sql, constant_params, varying, returning


def run_insert(**values: Any) -> AgentRun:
    """Create and return an `AgentRun` (as `AgentRun.objects.create(**values)` would)."""
    alias = _db()
    connection = connections[alias]
    sql, constant_params, varying, returning = _insert_plan(alias, connection.vendor, frozenset(values))
    run = AgentRun(**values)
    params = [*constant_params, *(f.get_db_prep_save(f.pre_save(run, True), connection) for f in varying)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        run.pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    run._state.adding = False
    run._state.db = alias
    return run


@functools.cache
def _field(name: str) -> Any:
    return AgentRun._meta.get_field(name)


def run_update(run: AgentRun, values: dict[str, Any]) -> None:
    """Set `values` on `run` and write only those columns (one UPDATE by primary key)."""
    alias = run._state.db or _db()
    connection = connections[alias]
    qn = connection.ops.quote_name
    columns, params = [], []
    for name, value in values.items():
        setattr(run, name, value)
        field = _field(name)
        columns.append(f"{qn(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    params.append(run.pk)
    sql = f"UPDATE {qn(AgentRun._meta.db_table)} SET {', '.join(columns)} WHERE {qn(AgentRun._meta.pk.column)} = %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
