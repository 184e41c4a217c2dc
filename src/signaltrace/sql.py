"""What a receiver call's queries are recorded as: counts and time by SQL.

:class:`QueryStats` is part of the data model (``ReceiverCall.query_stats``);
:mod:`signaltrace.queries` fills it. SQL is normalised here, so that a trace
never holds a parameter value and an N+1 pattern shows as one statement run
many times.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_DISTINCT_SQL",
    "SQL_WIDTH",
    "QueryStats",
    "normalize_sql",
    "repeated_sql",
]

#: Most distinct SQL strings counted per receiver call; further ones are only
#: counted in the totals, so a receiver running many different queries keeps
#: a bounded record.
MAX_DISTINCT_SQL = 100
#: Longest SQL shown, in characters.
SQL_WIDTH = 300


class QueryStats:
    """The queries one receiver call ran itself (not those of nested receivers).

    Attributes:
        aliases: ``alias -> [count, seconds]`` for each connection alias used
            (a list, so that each query updates it in place).
        sql: how many times each SQL string ran, for at most
            :data:`MAX_DISTINCT_SQL` distinct strings.
        uncounted: queries whose SQL was not kept in ``sql`` (over the cap).
    """

    __slots__ = ("aliases", "sql", "uncounted")

    def __init__(self) -> None:
        self.aliases: dict[str, list[float]] = {}
        self.sql: dict[str, int] = {}
        self.uncounted = 0

    @property
    def count(self) -> int:
        """How many queries ran, on every alias."""
        return sum(int(entry[0]) for entry in self.aliases.values())

    @property
    def time(self) -> float:
        """Seconds spent running them (as measured around each execution)."""
        return sum(entry[1] for entry in self.aliases.values())

    def add(self, alias: str, sql: str, seconds: float) -> None:
        """Record one query."""
        entry = self.aliases.get(alias)
        if entry is None:
            self.aliases[alias] = [1, seconds]
        else:
            entry[0] += 1
            entry[1] += seconds
        counts = self.sql
        if sql in counts:
            counts[sql] += 1
        elif len(counts) < MAX_DISTINCT_SQL:
            counts[sql] = 1
        else:
            self.uncounted += 1

    def repeated(self) -> list[tuple[str, int]]:
        """``(normalized SQL, count)`` of the statements that ran more than once.

        Statements that differ only in literal values or in the length of an
        ``IN (...)`` list count as one; the most repeated come first.
        """
        return repeated_sql(self.sql)

    def to_dict(self) -> dict[str, Any]:
        """The query keys of a receiver call's JSON form.

        SQL comes normalised (:func:`normalize_sql`), so it holds no
        parameter value, and cut to :data:`SQL_WIDTH` characters.
        """
        return {
            "queries": self.count,
            "query_time_ms": round(self.time * 1000, 4),
            "queries_by_alias": {
                alias: {"queries": int(count), "time_ms": round(seconds * 1000, 4)}
                for alias, (count, seconds) in self.aliases.items()
            },
            "repeated_queries": [
                {"sql": _cut(sql), "count": count} for sql, count in self.repeated()
            ],
        }

    def __repr__(self) -> str:
        return f"<QueryStats {self.count} queries {self.time * 1000:.3f} ms>"


# ------------------------------------------------------------ normalizing

_LITERAL = re.compile(r"'(?:[^']|'')*'|(?<![\w\"$])-?\d+(?:\.\d+)?\b")
_IN_LIST = re.compile(r"\bIN\s*\(\s*(?:%s|\?)(?:\s*,\s*(?:%s|\?))*\s*\)", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
#: Transaction control is not a query a receiver could batch: each atomic()
#: block runs its own BEGIN or SAVEPOINT.
_TRANSACTION_CONTROL = re.compile(
    r"\s*(?:BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|START TRANSACTION)\b",
    re.IGNORECASE,
)


def normalize_sql(sql: str) -> str:
    """Return *sql* with literal values as ``?`` and ``IN`` lists as ``IN (...)``.

    The ORM already passes values as parameters (``%s``); raw SQL may inline
    them. Either way, ``WHERE id = 1`` and ``WHERE id = 2`` are the same query
    run twice, which is what an N+1 pattern looks like.
    """
    sql = _LITERAL.sub("?", sql)
    sql = _IN_LIST.sub("IN (...)", sql)
    return _SPACE.sub(" ", sql).strip()


def repeated_sql(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Merge *counts* by normalized SQL; keep those above one, most first.

    Transaction control statements (BEGIN, SAVEPOINT, ...) are left out.
    """
    merged: dict[str, int] = {}
    for sql, count in counts.items():
        if _TRANSACTION_CONTROL.match(sql):
            continue
        key = normalize_sql(sql)
        merged[key] = merged.get(key, 0) + count
    return sorted(
        ((sql, count) for sql, count in merged.items() if count > 1),
        key=lambda pair: (-pair[1], pair[0]),
    )


def _cut(sql: str) -> str:
    return sql if len(sql) <= SQL_WIDTH else sql[: SQL_WIDTH - 1] + "…"
