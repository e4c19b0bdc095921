"""The shapes of the history API's answers, for the OpenAPI description."""

from __future__ import annotations

from ninja import Field, Schema

from prices.schemas import KEY


class BarSchema(Schema):
    t: int = Field(description="Unix seconds of the bar's start")
    o: float
    h: float
    l: float  # noqa: E741 - the contract's name
    c: float
    v: int = Field(description="the bar's own traded quantity")
    oi: int | None = Field(None, description="open interest at the bar's close (derivatives)")


class Bars(Schema):
    key: str = Field(description=KEY)
    tf: str
    bars: list[BarSchema] = Field(description="closed bars, oldest first, at most 5000")
    forming: BarSchema | None = Field(description="the live bar of the current session")


class InstrumentSchema(Schema):
    key: str = Field(description=KEY)
    symbol: str
    name: str
    segment: str
    tick_size: float
    lot_size: int


class Instruments(Schema):
    instruments: list[InstrumentSchema]
