"""The body of a DhanHQ chart request (`securityId`, `exchangeSegment`, `instrument`,
`expiryCode`, `oi`, `fromDate`, `toDate` and, intraday, `interval`), parsed and checked as
DhanHQ does: anything wrong is `DH-905`. Parsed by `charts.ChartServer`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from dhan.clock import ist_day, ist_midnight
from dhan.segments import SEGMENT_CODES, InstrumentKey

INSTRUMENT_TYPES = frozenset(
    {"EQUITY", "INDEX", "FUTIDX", "FUTSTK", "OPTIDX", "OPTSTK", "FUTCOM", "OPTFUT"}
    | {"FUTCUR", "OPTCUR"}
)
INTERVALS_MINUTES = frozenset({1, 5, 15, 25, 60})
MAX_INTRADAY_SPAN_SECONDS = 90 * 86_400  # at most 90 days a call
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d")  # IST wall clock
NO_DATA_MESSAGE = "System is unable to fetch data due to incorrect parameters or no data present"


class ChartInputError(ValueError):
    """A chart request DhanHQ answers with 400 `DH-905`; the text says what is wrong."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"{NO_DATA_MESSAGE} ({detail})")


@dataclass(frozen=True, slots=True)
class ChartRequest:
    """A checked chart request: `start` up to, not including, `end` (Unix seconds of the
    IST wall-clock `fromDate`/`toDate`); `interval_minutes` None for daily bars."""

    key: InstrumentKey
    oi: bool
    start: int
    end: int
    interval_minutes: int | None = None

    @property
    def start_day(self) -> date:
        return ist_day(self.start)

    @property
    def end_day(self) -> date:
        return ist_day(self.end)


def parse_chart_request(body: bytes, *, intraday: bool) -> ChartRequest:
    """`body` as a daily (`intraday` False) or intraday request, or ChartInputError."""
    try:
        fields = json.loads(body or b"{}")
    except ValueError:
        raise ChartInputError("the body is not JSON") from None
    if not isinstance(fields, dict):
        raise ChartInputError("the body is not a JSON object")
    oi = fields.get("oi", False)
    if not isinstance(oi, bool):
        raise ChartInputError("oi must be true or false")
    if fields.get("instrument") not in INSTRUMENT_TYPES:
        raise ChartInputError(f"instrument must be one of {sorted(INSTRUMENT_TYPES)}")
    start, end = _instant(fields, "fromDate"), _instant(fields, "toDate")
    if start > end:
        raise ChartInputError("fromDate is after toDate")
    interval = _interval(fields.get("interval")) if intraday else None
    if intraday and end - start > MAX_INTRADAY_SPAN_SECONDS:
        raise ChartInputError("at most 90 days a call")
    if not intraday:  # daily bars: whole days, whatever time is given
        start, end = ist_midnight(ist_day(start)), ist_midnight(ist_day(end))
    return ChartRequest(_key(fields), oi, start, end, interval)


def _key(fields: dict) -> InstrumentKey:
    segment, security_id = fields.get("exchangeSegment"), str(fields.get("securityId", ""))
    if segment not in SEGMENT_CODES:
        raise ChartInputError(f"unknown exchangeSegment {segment!r}")
    if not security_id.isascii() or not security_id.isdigit() or len(security_id) > 10:
        raise ChartInputError(f"bad securityId {security_id!r}")
    return InstrumentKey(SEGMENT_CODES[segment], int(security_id))


def _instant(fields: dict, name: str) -> int:
    """`YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` (IST) as Unix seconds."""
    text = fields.get(name)
    for fmt in DATE_FORMATS:
        try:
            moment = datetime.strptime(str(text), fmt)  # naive: IST wall clock
        except ValueError:
            continue
        since_midnight = moment.hour * 3600 + moment.minute * 60 + moment.second
        return ist_midnight(moment.date()) + since_midnight
    raise ChartInputError(f"{name} must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS, got {text!r}")


def _interval(value: object) -> int:
    """1, 5, 15, 25 or 60, given as a number (the SDK) or a string (DhanHQ's docs)."""
    if isinstance(value, int | str) and not isinstance(value, bool):
        text = str(value).strip()
        if text.isascii() and text.isdigit() and int(text) in INTERVALS_MINUTES:
            return int(text)
    raise ChartInputError(f"interval must be one of {sorted(INTERVALS_MINUTES)}, got {value!r}")
