"""The memory store's sorted set: members by (score, member), as Redis orders them.

Kept in order as it changes (``sortedcontainers.SortedList``), so a rank or a range by score
costs a bisection, not a sort of the whole set: with 5,000 visitors waiting, a position or a
ring used to sort 5,000 members each time.
"""

from __future__ import annotations

import math

from sortedcontainers import SortedList


class SortedSet:
    __slots__ = ("_order", "_scores")

    def __init__(self) -> None:
        self._scores: dict[str, float] = {}
        self._order: SortedList = SortedList()

    def __len__(self) -> int:
        return len(self._scores)

    def add(self, member: str, score: float) -> None:
        old = self._scores.get(member)
        if old is not None:
            self._order.remove((old, member))
        self._scores[member] = score
        self._order.add((score, member))

    def remove(self, member: str) -> bool:
        old = self._scores.pop(member, None)
        if old is None:
            return False
        self._order.remove((old, member))
        return True

    def items(self) -> list[tuple[str, float]]:
        """(member, score), lowest score first; equal scores by member."""
        return [(member, score) for score, member in self._order]

    def up_to(self, max_score: float) -> list[str]:
        """The members scoring at most ``max_score``, in order."""
        # Every (score, member) with score <= max_score sorts before (next float up, "").
        end = self._order.bisect_left((math.nextafter(max_score, math.inf), ""))
        return [member for _, member in self._order[:end]]

    def rank(self, member: str) -> int | None:
        score = self._scores.get(member)
        return None if score is None else int(self._order.index((score, member)))
