"""What is wrong with which row, in the clerk's terms: their row number, their column header,
the value as they typed it, what is wrong and how to fix it."""

from dataclasses import dataclass

import numpy as np

MAX_LISTED = 50


@dataclass(frozen=True)
class RowProblem:
    row: int  # as the clerk's program numbers it (Excel: the header row included)
    field: str | None
    zh: str
    en: str
    column: str | None = None  # the file's header
    value: str | None = None  # as the clerk typed it

    def as_dict(self) -> dict:
        return {
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "field": self.field,
            "message": self.zh,
            "message_en": self.en,
        }


class Problems:
    """Problems of a file's rows, collected a column at a time (``index`` is the row's position
    in the file, ``rows`` its number as the clerk sees it)."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.items: list[tuple[int, RowProblem]] = []
        self.bad = np.zeros(len(rows), dtype=bool)

    def add(
        self,
        mask: np.ndarray,
        *,
        field: str | None,
        zh: str,
        en: str,
        column: str | None = None,
        values: np.ndarray | None = None,
    ) -> None:
        """The rows of ``mask`` have this problem; ``{value}`` in the messages is each row's."""
        for i in np.flatnonzero(mask):
            self.at(
                int(i),
                field=field,
                zh=zh,
                en=en,
                column=column,
                value=None if values is None else str(values[i]),
            )

    def at(
        self,
        index: int,
        *,
        field: str | None,
        zh: str,
        en: str,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        shown = value if value is not None else ""
        problem = RowProblem(
            int(self.rows[index]),
            field,
            zh.format(value=shown),
            en.format(value=shown),
            column,
            value,
        )
        self.items.append((index, problem))
        self.bad[index] = True

    def listed(self) -> list[RowProblem]:
        """Every problem, by row and then in the order found."""
        return [p for _, p in sorted(self.items, key=lambda item: item[0])]

    def by_index(self) -> dict[int, list[RowProblem]]:
        out: dict[int, list[RowProblem]] = {}
        for index, problem in self.items:
            out.setdefault(index, []).append(problem)
        return out
