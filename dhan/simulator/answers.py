"""DhanHQ's REST answer bodies as the simulator's REST servers (`rest`, `charts`) send them:
the error body `{"errorType", "errorCode", "errorMessage"}` and the market quote's entry."""

from __future__ import annotations

import time

from dhan.clock import IST_OFFSET_SECONDS

RATE_LIMIT_MESSAGE = "Too many requests on server from single user"
QUOTE_TIME_FORMAT = "%d/%m/%Y %H:%M:%S"  # IST, as DhanHQ writes `last_trade_time`


def error_body(code: str, kind: str, message: str) -> dict:
    return {"errorType": kind, "errorCode": code, "errorMessage": message}


def auth_error() -> dict:
    """401 `DH-901`: a wrong, unknown or expired token."""
    return error_body(
        "DH-901",
        "Invalid_Authentication",
        "Client ID or user generated access token is invalid or expired.",
    )


def rate_limit_error() -> dict:
    """429 `DH-904`: over a per-client limit."""
    return error_body("DH-904", "Rate_Limit", RATE_LIMIT_MESSAGE)


def input_error(message: str) -> dict:
    """400 `DH-905`: a bad request body."""
    return error_body("DH-905", "Input_Exception", message)


def quote_entry(kind: str, snap: dict[str, float]) -> dict:
    """One instrument's entry in a `/v2/marketfeed/{ltp,ohlc,quote}` answer."""
    entry: dict = {"last_price": snap["ltp"]}
    if kind in ("ohlc", "quote"):
        entry["ohlc"] = {
            "open": snap["open"],
            "close": snap["prev_close"],
            "high": snap["high"],
            "low": snap["low"],
        }
    if kind == "quote":
        ist_now = time.gmtime(time.time() + IST_OFFSET_SECONDS)
        entry.update(
            volume=int(snap["volume"]),
            net_change=round(snap["ltp"] - snap["prev_close"], 2),
            last_trade_time=time.strftime(QUOTE_TIME_FORMAT, ist_now),
        )
    return entry
