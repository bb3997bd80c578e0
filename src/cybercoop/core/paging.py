"""Pagination of long lists on the screens."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

LIST_CAP = 10_000


class CappedPaginator(Paginator[Any]):
    """A paginator that counts at most `cap` rows, so a page of a body's hundreds of thousands of cases costs
    the page, not a count of them all. Beyond the cap the list says "more than …" and offers the filters; the
    rows past it are reached by narrowing, not by paging (the API's lists count exactly)."""

    def __init__(self, object_list: QuerySet[Any], per_page: int, *, cap: int | None = None) -> None:
        super().__init__(object_list, per_page)
        self.queryset = object_list
        self.cap = LIST_CAP if cap is None else cap

    @cached_property
    def _counted(self) -> int:
        # Without the list's ordering: any cap + 1 rows will do, and the database need not sort them.
        return self.queryset.order_by()[: self.cap + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.cap)

    @property
    def capped(self) -> bool:
        """Whether there are more rows than the list counts."""
        return self._counted > self.cap


class PeekPaginator:
    """Pages that are not counted: each reads one row more than it shows, to know whether another follows.
    For searches, whose count would cost far more than the page (every match found, not just a page of them);
    the list offers "Older" while there are more. Pages stop at LIST_CAP rows, as CappedPaginator's do."""

    count = None
    capped = False

    def __init__(self, object_list: QuerySet[Any], per_page: int) -> None:
        self.queryset = object_list
        self.per_page = per_page

    def get_page(self, number: Any) -> PeekPage:
        try:
            wanted = int(number)
        except (TypeError, ValueError):
            wanted = 1
        wanted = min(max(wanted, 1), max(LIST_CAP // self.per_page, 1))
        start = (wanted - 1) * self.per_page
        rows = list(self.queryset[start : start + self.per_page + 1])
        return PeekPage(rows[: self.per_page], wanted, more=len(rows) > self.per_page, paginator=self)


class PeekPage:
    """The page of a PeekPaginator, with the parts of Django's Page the list templates use."""

    def __init__(self, rows: list[Any], number: int, *, more: bool, paginator: PeekPaginator) -> None:
        self.object_list, self.number, self.paginator = rows, number, paginator
        self._more = more and number * paginator.per_page < LIST_CAP

    def __iter__(self) -> Any:
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    def has_next(self) -> bool:
        return self._more

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_next() or self.has_previous()

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1
