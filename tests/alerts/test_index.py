"""The alert index against the plain definition of every condition (hypothesis), and
`holds`, the state a never-fired alert is judged by, against the same definitions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from alerts.index import AlertIndex, Rule, holds, rule_fires

PRICES = st.integers(min_value=1, max_value=40).map(lambda ticks: ticks * 0.05)
CONDITIONS = st.sampled_from(["crosses_up", "crosses_down", "crosses", "above", "below"])


def fires(condition: str, level: float, last: float, new: float) -> bool:
    return {
        "crosses_up": last < level <= new,
        "crosses_down": last > level >= new,
        "crosses": last < level <= new or last > level >= new,
        "above": last <= level < new,
        "below": last >= level > new,
    }[condition]


def index_rule(rules, i: int) -> Rule:
    return Rule(i, "NSE_EQ:1", rules[i][0], rules[i][1])


@given(
    st.lists(st.tuples(CONDITIONS, PRICES), max_size=30),
    PRICES,
    PRICES,
    st.lists(st.integers(min_value=0, max_value=29), max_size=5),
)
def test_the_index_fires_exactly_what_the_definitions_say(rules, last, new, removed):
    index = AlertIndex()
    for alert_id, (condition, level) in enumerate(rules):
        index.add(Rule(alert_id, "NSE_EQ:1", condition, level))
    for alert_id in removed:
        index.remove(alert_id)
    expected = sorted(
        i
        for i, (condition, level) in enumerate(rules)
        if i not in removed and fires(condition, level, last, new)
    )
    assert sorted(index.fired("NSE_EQ:1", last, new)) == expected
    singles = [
        i
        for i in range(len(rules))
        if i not in removed and rule_fires(index_rule(rules, i), last, new)
    ]
    assert singles == expected
    assert index.fired("NSE_EQ:2", last, new) == []  # another instrument's alerts only


def test_a_gap_over_the_level_fires_once_and_a_batch_uses_each_keys_last_price():
    index = AlertIndex()
    index.add(Rule(1, "NSE_EQ:1", "crosses_up", 100.0))
    index.add(Rule(2, "NSE_EQ:2", "below", 50.0))
    assert index.evaluate({"NSE_EQ:1": 99.0}, {"NSE_EQ:1": 105.0}) == [1]  # a gap over it
    assert index.evaluate({"NSE_EQ:1": 105.0}, {"NSE_EQ:1": 106.0}) == []
    assert index.evaluate({}, {"NSE_EQ:2": 40.0}) == []  # no last price: no move yet
    assert index.evaluate({"NSE_EQ:2": 51.0}, {"NSE_EQ:2": 40.0}) == [2]


@given(CONDITIONS, PRICES, PRICES)
def test_a_state_holds_when_a_move_from_not_true_fires_it_and_a_crossing_never_holds(
    condition, level, price
):
    rule = Rule(1, "NSE_EQ:1", condition, level)
    if condition in ("above", "below"):
        # The level itself is the last price at which neither is true.
        assert holds(rule, price) == fires(condition, level, level, price)
    else:
        assert not holds(rule, price)
