"""A paginator that stops counting: the admin's run list shows "10,000+" instead of counting a
year of runs on every page view.

Django's ChangeList always counts the filtered queryset (`show_full_result_count = False` only
spares the second, unfiltered count), and a COUNT reads every matching row. Counting through a
LIMITed subquery reads at most COUNT_CAP + 1.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

#: Counts stop here: more matches show as "10,000+" (and the last page is the 200th of 50).
COUNT_CAP = 10_000


def capped_count(queryset: QuerySet[Any]) -> int:
    """`queryset.count()`, but counting at most COUNT_CAP + 1 rows."""
    return queryset.order_by()[: COUNT_CAP + 1].count()


class CappedPaginator(Paginator):
    """Its `count` is at most COUNT_CAP + 1; `known_count` spares the query when the caller has it."""

    def __init__(
        self, object_list: QuerySet[Any], per_page: int, *args: Any, known_count: int | None = None, **kwargs: Any
    ):
        super().__init__(object_list, per_page, *args, **kwargs)
        self._known_count = known_count

    @cached_property
    def count(self) -> int:
        return self._known_count if self._known_count is not None else capped_count(self.object_list)

    @property
    def capped(self) -> bool:
        return self.count > COUNT_CAP

    @property
    def count_label(self) -> str:
        """The count as shown: "10,000+" past the cap."""
        return f"{COUNT_CAP:,}+" if self.capped else str(self.count)
