"""Which alerts a price move fires, in O(log n + fired) per instrument: per instrument,
the alerts' levels kept sorted, one list per way of firing, and a move from the last price
seen to the new one fires exactly the levels between the two (a gap over a level fires).

- `crosses_up`: last < level <= new.   `crosses_down`: last > level >= new.
- `crosses`: either of those.
- `above`: becomes true, last <= level < new (an alert created while already true fires at
  creation: the evaluator's job).   `below`: last >= level > new.
- `change_pct_above` / `change_pct_below`: `above` / `below` at the price that change from
  the previous close makes (the evaluator converts).

Pure: no Django. The evaluator (`alerts.evaluator`) owns one and feeds it batches.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

UP_CROSS, UP_TRUE, DOWN_CROSS, DOWN_TRUE = "up_cross", "up_true", "down_cross", "down_true"
WAYS = {  # condition -> the ways it fires
    "crosses_up": (UP_CROSS,),
    "crosses_down": (DOWN_CROSS,),
    "crosses": (UP_CROSS, DOWN_CROSS),
    "above": (UP_TRUE,),
    "below": (DOWN_TRUE,),
    "change_pct_above": (UP_TRUE,),
    "change_pct_below": (DOWN_TRUE,),
}


@dataclass(frozen=True, slots=True)
class Rule:
    alert_id: int
    key: str
    condition: str
    level: float  # a price (change_pct alerts: already converted)


class AlertIndex:
    def __init__(self) -> None:
        # key -> way -> sorted [(level, alert id)]
        self._levels: dict[str, dict[str, list[tuple[float, int]]]] = {}
        self._rules: dict[int, Rule] = {}

    def __len__(self) -> int:
        return len(self._rules)

    def keys(self) -> set[str]:
        return set(self._levels)

    def add(self, rule: Rule) -> None:
        self.remove(rule.alert_id)
        ways = self._levels.setdefault(rule.key, {})
        for way in WAYS[rule.condition]:
            insort(ways.setdefault(way, []), (rule.level, rule.alert_id))
        self._rules[rule.alert_id] = rule

    def remove(self, alert_id: int) -> None:
        rule = self._rules.pop(alert_id, None)
        if rule is None:
            return
        ways = self._levels[rule.key]
        for way in WAYS[rule.condition]:
            levels = ways[way]
            i = bisect_left(levels, (rule.level, rule.alert_id))
            if i < len(levels) and levels[i] == (rule.level, rule.alert_id):
                del levels[i]
        if not any(ways.values()):
            del self._levels[rule.key]

    def rule(self, alert_id: int) -> Rule | None:
        return self._rules.get(alert_id)

    def fired(self, key: str, last: float, new: float) -> list[int]:
        """The alerts of `key` that a move from `last` to `new` fires."""
        ways = self._levels.get(key)
        if not ways or new == last:
            return []
        out: list[int] = []
        if new > last:
            _between(out, ways.get(UP_CROSS), (last, _INF), (new, _INF))  # last < l <= new
            _between(out, ways.get(UP_TRUE), (last, -1), (new, -1))  # last <= l < new
        else:
            _between(out, ways.get(DOWN_CROSS), (new, -1), (last, -1))  # new <= l < last
            _between(out, ways.get(DOWN_TRUE), (new, _INF), (last, _INF))  # new < l <= last
        return out

    def evaluate(self, last_seen: Mapping[str, float], prices: Mapping[str, float]) -> list[int]:
        """Every alert a batch fires: each key's move from its last seen price (keys
        never seen fire nothing: they have no move yet)."""
        out: list[int] = []
        levels = self._levels
        for key, new in prices.items():
            if key in levels:
                last = last_seen.get(key)
                if last is not None:
                    out.extend(self.fired(key, last, new))
        return out

    def rules(self) -> Iterable[Rule]:
        return self._rules.values()


_INF = float("inf")  # sorts after every alert id: (level, _INF) is just past a level


def _between(out: list[int], levels, lo: tuple, hi: tuple) -> None:
    """Ids with lo < (level, id) < hi (ties broken by the sentinel ids)."""
    if levels:
        out.extend(
            alert_id for _, alert_id in levels[bisect_right(levels, lo) : bisect_left(levels, hi)]
        )


def holds(rule: Rule, price: float) -> bool:
    """Whether a state condition (`above`, `below`, their change_pct forms) is true at
    `price`: how the evaluator judges an alert that never fired (from "not true", so it
    fires if true already). Crossing conditions have no state: never."""
    ways = WAYS[rule.condition]
    return (UP_TRUE in ways and price > rule.level) or (DOWN_TRUE in ways and price < rule.level)


def rule_fires(rule: Rule, last: float, new: float) -> bool:
    """One alert's verdict on one move, by the same rules as the index (catch-up checks
    alerts one by one)."""
    index = AlertIndex()
    index.add(rule)
    return bool(index.fired(rule.key, last, new))
