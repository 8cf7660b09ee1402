"""The admin run list's search: runs of a user (name part), an agent, a provider, a model id prefix
or a request id, within the list's filters (its date window first), fast at a million runs.

Each kind of match is answered by its own index, with the date window as the index's second
column: (user, created_at), (agent, created_at), (provider, status, created_at),
(model_id, created_at), (request_id). So every term becomes an equality or an IN list, never a
LIKE over the runs:

- user names are matched in the user table (small) and become user ids;
- agents and providers are matched only when the term names a known one (the catalog, the
  registry), exactly;
- a model id prefix becomes the distinct model ids starting with it, read by skipping along the
  (model_id, created_at) index (one seek per distinct model, not a scan of the runs);
- a request id is matched exactly.

The same rows can then be asked for in two ways, and the cheaper one depends on how many match
(`RunSearch.count`, capped): few matches are read through the indexes, one subquery per kind
of match (`by_index`); many are read by walking the date window newest first until a page is
full (`by_window`), which stops early precisely because matches are dense. Prompts, answers and
error texts are never searched.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet

from providers.context import REQUEST_ID_PATTERN

from .capped_paginator import COUNT_CAP, capped_count
from .models import AgentRun, RunStatus

#: User ids a name part may match (a search for "a" should not build a 100,000-long IN list).
MAX_USERS = 500
#: Distinct model ids a prefix may match.
MAX_MODELS = 50


@dataclass(frozen=True)
class RunSearch:
    """One search term's matches within `runs` (the filtered list)."""

    by_index: QuerySet[AgentRun]
    by_window: QuerySet[AgentRun]
    #: How many runs match, at most COUNT_CAP + 1 (more than COUNT_CAP: "10,000+").
    count: int

    @property
    def best(self) -> QuerySet[AgentRun]:
        """The form that reads the fewest rows for a page of 50 (see the module docstring)."""
        return self.by_window if self.count > COUNT_CAP else self.by_index


def search_runs(*, runs: QuerySet[AgentRun], term: str) -> RunSearch | None:
    """The runs of `runs` matching `term`, or None for an empty term (no search)."""
    term = term.strip()
    if not term:
        return None
    clauses = _clauses(term)
    if not clauses:
        return RunSearch(by_index=runs.none(), by_window=runs.none(), count=0)
    # Each clause's own subquery keeps the list's filters, so its index range is the date window.
    subqueries = [runs.filter(clause).order_by().values("pk") for clause in clauses]
    by_index = runs.filter(reduce(or_, (Q(pk__in=subquery) for subquery in subqueries)))
    by_window = runs.filter(reduce(or_, clauses))
    return RunSearch(by_index=by_index, by_window=by_window, count=_count(subqueries))


def _count(subqueries: list[QuerySet[AgentRun]]) -> int:
    """How many runs the subqueries match together, capped; read from the indexes alone.

    Each one is counted first (a LIMITed read that stops at the cap): one past the cap is enough
    to answer. Only then their UNION, which SQLite builds in full before counting: bounded now."""
    counts = [capped_count(subquery) for subquery in subqueries]
    if len(counts) == 1 or max(counts) > COUNT_CAP:
        return max(counts)
    return capped_count(subqueries[0].union(*subqueries[1:]))


def _clauses(term: str) -> list[Q]:
    """One index-friendly condition per kind of match (none: nothing can match)."""
    from providers import registry

    from .catalog import AGENTS

    User = get_user_model()
    user_ids = list(
        User._default_manager.filter(**{f"{User.USERNAME_FIELD}__icontains": term})
        .order_by()
        .values_list("pk", flat=True)[:MAX_USERS]
    )
    clauses = []
    # A request id's clause only when the term could be one (providers.context accepts no other).
    if REQUEST_ID_PATTERN.fullmatch(term):
        clauses.append(Q(request_id=term))
    if user_ids:
        clauses.append(Q(user_id__in=user_ids))
    if term in AGENTS:
        clauses.append(Q(agent=term))
    if term in {backend.id for backend in registry.all_backends()}:
        # Every status, spelled out: the (provider, status, created_at) index then seeks the date
        # window once per status instead of reading all of the provider's runs.
        clauses.append(Q(provider=term, status__in=[status.value for status in RunStatus]))
    models = model_ids_with_prefix(term)
    if models:
        clauses.append(Q(model_id__in=models))
    return clauses


def model_ids_with_prefix(prefix: str) -> list[str]:
    """The distinct model ids of runs starting with `prefix` (case-sensitive), at most MAX_MODELS.

    A loose index scan: each step seeks the next model id after the last one found, so the cost
    is one index seek per distinct model, whatever the number of runs."""
    matching = AgentRun.objects.filter(model_id__startswith=prefix)
    # SQLite's LIKE cannot use an index; a range over the BINARY-collated column can, and is
    # exactly the prefix (LIKE is case-insensitive there: the range makes it case-sensitive, as
    # LIKE is on PostgreSQL). PostgreSQL keeps LIKE alone: under a linguistic collation a range
    # is not a prefix.
    ranged = connection.vendor == "sqlite"
    upper = _next_string(prefix) if ranged else None
    if upper is not None:
        matching = matching.filter(model_id__lt=upper)
    found: list[str] = []
    while len(found) < MAX_MODELS:
        # One lower bound per step: with two, SQLite may seek by the looser one.
        if found:
            step = matching.filter(model_id__gt=found[-1])
        else:
            step = matching.filter(model_id__gte=prefix) if ranged else matching
        model_id = step.order_by("model_id").values_list("model_id", flat=True).first()
        if model_id is None:
            break
        found.append(model_id)
    return found


def _next_string(prefix: str) -> str | None:
    """The smallest string above every string starting with `prefix` (None: there is none)."""
    for i in range(len(prefix) - 1, -1, -1):
        if ord(prefix[i]) < 0x10FFFF:
            return prefix[:i] + chr(ord(prefix[i]) + 1)
    return None
