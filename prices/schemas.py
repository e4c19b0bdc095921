"""The shapes of the price API's answers, for its OpenAPI description (marketstream/api.py
builds it with django-ninja). The views return these shapes as plain JSON; schemathesis
checks in `make test` that what they return matches what is described here."""

from __future__ import annotations

from ninja import Field, Schema
from pydantic import ConfigDict
from pydantic.config import JsonDict

KEY = "SEGMENT:SECURITY_ID, e.g. NSE_EQ:2885"
ISO: JsonDict = {"format": "date-time"}


class Error(Schema):
    error: str = Field(description="what was wrong, for people")


class CurrentPrices(Schema):
    prices: dict[str, float] = Field(description=f"last traded price by key ({KEY})")
    timestamp: str = Field(json_schema_extra=ISO)
    count: int
    cached_count: int
    api_fetched_count: int = Field(description="fetched through DhanHQ's REST LTP just now")
    missing: list[str] = Field(description="keys with no known price")


class Quote(Schema):
    """A QUOTE: null where the feed mode does not carry a field."""

    model_config = ConfigDict(extra="allow")
    ltp: float | None
    ltq: int | None
    ltt: str | None = Field(json_schema_extra=ISO)
    atp: float | None
    volume: int | None
    open: float | None
    high: float | None
    low: float | None
    prev_close: float | None
    change: float | None
    change_pct: float | None
    total_buy_qty: int | None
    total_sell_qty: int | None
    oi: int | None


class Quotes(Schema):
    quotes: dict[str, Quote]
    timestamp: str = Field(json_schema_extra=ISO)
    missing: list[str]


class Level(Schema):
    price: float
    quantity: int
    orders: int


class Book(Schema):
    """A BOOK, best first: 20 levels from the depth socket, else full mode's 5."""

    model_config = ConfigDict(extra="allow")
    key: str
    levels: int = Field(description="5 or 20")
    source: str = Field(description="full or depth20")
    ts: float = Field(description="Unix seconds")
    bids: list[Level]
    asks: list[Level]


class StreamRow(Schema):
    key: str
    kind: str
    state: str = Field(description="running, reconnecting, stopped, error, worker_gone, ...")
    desired_state: str
    instruments: int
    ticks_received: int
    reconnects: int
    malformed_frames: int
    heartbeat_age_seconds: float | None
    last_tick_age_seconds: float | None
    last_error: str
    stopped_reason: str


class Health(Schema):
    status: str = Field(description="healthy, stale, not_running or error")
    heartbeat_age_seconds: float | None
    heartbeat_timestamp: str | None = Field(json_schema_extra=ISO)
    timestamp: str = Field(json_schema_extra=ISO)
    market_open: bool
    streams: list[StreamRow]
    error: str | None
    calendar_warning: str | None
