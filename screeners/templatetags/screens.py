"""Template filters of the screen pages: a column's expression by name, and a column name
as a heading (`change_20d_pct` → `Change 20d %`)."""

from django import template

register = template.Library()

WORDS = {"pct": "%", "rsi": "RSI", "sma": "SMA", "ema": "EMA", "atr": "ATR", "52w": "52w"}


@register.filter
def get_item(mapping: dict, name: str) -> object:
    return mapping.get(name, "")


@register.filter
def column_label(name: str) -> str:
    words = [WORDS.get(w, w) for w in name.split("_")]
    return " ".join(words).capitalize() if words[0] not in WORDS.values() else " ".join(words)
