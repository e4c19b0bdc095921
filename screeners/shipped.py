"""The screens MarketStream ships: `swing` and `longterm` (shared, what `/screeners/swing`
and `/screeners/longterm` show) and the presets users copy into screens of their own.
Plain data in the contract's SCREEN shape, written to the database by a data migration and
by `screeners.catalog.install_shipped` (the demo, tests); read by the benchmark too."""

from __future__ import annotations

# A rising stock in a pull-back-and-go phase: above its 50-day average, momentum without
# being overbought, up over the month. Score: the month's move, RSI above 50, and volume
# against its 20-day average, weighted so that each contributes a few points.
SWING = {
    "slug": "swing",
    "name": "Swing",
    "universe": "segment:NSE_EQ",
    "timeframe": "1d",
    "condition": (
        "close > sma(close, 50) and rsi(close, 14) > 50 and rsi(close, 14) < 75"
        " and change_pct(close, 20) > 0"
    ),
    "columns": {
        "close": "close",
        "change_20d_pct": "change_pct(close, 20)",
        "rsi_14": "rsi(close, 14)",
        "volume_ratio": "volume / sma(volume, 20)",
    },
    "rank_by": "change_pct(close, 20) + (rsi(close, 14) - 50) / 2 + 5 * volume / sma(volume, 20)",
    "descending": True,
    "limit": 100,
    "schedule": "after_close",
}

# Mark Minervini's trend template (Trade Like a Stock Market Wizard, 2013), its price and
# moving-average terms: above the 150- and 200-day averages, the 150 above the 200, the 200
# rising for a month (21 sessions), the 50 above both, at least 30 % above the 52-week
# (252-session) low and within 25 % of its high. Its relative-strength rating ranks against
# the whole market; the rank here is the 6-month (126-session) change instead.
LONGTERM = {
    "slug": "longterm",
    "name": "Long term",
    "universe": "segment:NSE_EQ",
    "timeframe": "1d",
    "condition": (
        "close > sma(close, 150) and close > sma(close, 200)"
        " and sma(close, 150) > sma(close, 200)"
        " and sma(close, 200) > sma(close, 200)[21]"
        " and sma(close, 50) > sma(close, 150) and close > sma(close, 50)"
        " and close >= 1.3 * min(low, 252) and close >= 0.75 * max(high, 252)"
    ),
    "columns": {
        "close": "close",
        "from_52w_high_pct": "(close / max(high, 252) - 1) * 100",
        "above_52w_low_pct": "(close / min(low, 252) - 1) * 100",
        "change_6m_pct": "change_pct(close, 126)",
        "rsi_14": "rsi(close, 14)",
    },
    "rank_by": "change_pct(close, 126)",
    "descending": True,
    "limit": 100,
    "schedule": "after_close",
}

SHARED = (SWING, LONGTERM)

# Presets: a starting point a user copies into a screen of their own (the editor's
# "Start from" list); not screens themselves.
PRESETS = {
    "golden-cross": {
        "name": "Golden cross",
        "condition": "sma(close, 50) crosses above sma(close, 200)",
        "columns": {"close": "close", "sma_50": "sma(close, 50)", "sma_200": "sma(close, 200)"},
        "rank_by": "change_pct(close, 20)",
    },
    "52w-breakout": {
        "name": "52-week-high breakout",
        "condition": "close > max(high, 252)[1] and volume > 1.5 * sma(volume, 50)",
        "columns": {"close": "close", "prior_52w_high": "max(high, 252)[1]"},
        "rank_by": "volume / sma(volume, 50)",
    },
    "volume-spike": {
        "name": "Volume spike",
        "condition": "volume > 3 * sma(volume, 20)[1] and close > open",
        "columns": {"close": "close", "volume_ratio": "volume / sma(volume, 20)[1]"},
        "rank_by": "volume / sma(volume, 20)[1]",
    },
    "oversold-bounce": {
        "name": "Oversold bounce",
        "condition": "rsi(close, 14) crosses above 30 and close > sma(close, 200)",
        "columns": {"close": "close", "rsi_14": "rsi(close, 14)", "atr_14": "atr(14)"},
        "rank_by": "rsi(close, 14)",
    },
}
