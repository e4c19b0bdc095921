"""DhanHQ's chart (price history) answers and what they are about: the instrument a request
names, a bar, the errors a call can end in, the verdict on the SDK's answer (columns, no
bars, a 429, a refusal that names no token) and the column arrays as bars on the tick
grid. Used by `dhan.history`'s client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dhan.bars import Bar
from dhan.clock import ist_day, ist_midnight
from dhan.redact import redact
from dhan.rest import RATE_LIMIT_ERROR_CODE, REFUSING_ERROR_CODES, REFUSING_HTTP_STATUSES
from dhan.segments import InstrumentKey
from dhan.ticks import TickGrid

NO_DATA_ERROR_CODE = "DH-905"  # bad input, or no data: we check the input, so no data
INSTRUMENT_TYPES = frozenset(
    {"EQUITY", "INDEX", "FUTIDX", "FUTSTK", "OPTIDX", "OPTSTK", "FUTCOM", "OPTFUT"}
    | {"FUTCUR", "OPTCUR"}
)
# Segments whose bars carry open interest (and whose intraday calls need `expiryCode`).
DERIVATIVE_SEGMENTS = frozenset({"NSE_FNO", "BSE_FNO", "MCX_COMM", "NSE_CURRENCY", "BSE_CURRENCY"})
COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


class DataApiError(Exception):
    """A history call that brought no answer we can use (network, an unexpected body, a
    gate that stayed shut): the range stays missing. The message names no token."""


class DataApiBusy(DataApiError):
    """DhanHQ kept answering 429 (`DH-904`), or our gate stayed shut: try again later."""


class DataApiRefused(DataApiError):
    """DhanHQ refused the account itself (`DH-901`/`DH-902`/`DH-903`, HTTP 401/403): no
    later call can succeed until the credentials or the subscription change."""


class RateLimited(Exception):
    """DhanHQ answered 429 / `DH-904`: the client backs off and retries."""


@dataclass(frozen=True, slots=True)
class ChartInstrument:
    """What a chart request names: the key, the scrip master's instrument type (`EQUITY`,
    `INDEX`, `FUTIDX`, ...) and the tick size (rupees) its prices are snapped to."""

    key: InstrumentKey
    instrument_type: str
    tick_size: float

    @property
    def derivative(self) -> bool:
        return self.key.segment_name in DERIVATIVE_SEGMENTS


def check(instrument: ChartInstrument, first: date, last: date, *, max_days: int | None) -> None:
    """Refuse what DhanHQ would answer `DH-905` to, so that a `DH-905` means no data."""
    if instrument.instrument_type not in INSTRUMENT_TYPES:
        raise DataApiError(
            f"{instrument.key}: DhanHQ keeps no history of instrument type "
            f"{instrument.instrument_type!r}"
        )
    if first > last:
        raise ValueError(f"first day {first} is after last day {last}")
    if max_days is not None and (last - first).days + 1 > max_days:
        raise ValueError(f"at most {max_days} days a call, not {first}..{last}")


def judge(answer: dict, *, status: int | None, secret: str) -> dict | None:
    """The SDK's answer (and the HTTP status; None without a response): its `data`, None
    for no bars, or the matching error. The SDK puts DhanHQ's error body in `remarks` as a
    dict, an exception's text there as a string."""
    data, remarks = answer.get("data"), answer.get("remarks")
    if answer.get("status") == "success":
        if isinstance(data, dict):
            return data
        raise DataApiError(f"DhanHQ's Data API answered {type(data).__name__}, not columns")
    fields = remarks if isinstance(remarks, dict) else {}
    code = str(fields.get("error_code") or "")
    detail = redact(str(fields.get("error_message") or remarks or ""), secrets=(secret,))[:200]
    if code == RATE_LIMIT_ERROR_CODE or status == 429:
        raise RateLimited
    if code in REFUSING_ERROR_CODES or status in REFUSING_HTTP_STATUSES:
        raise DataApiRefused(refusal(code or str(status), detail))
    if code == NO_DATA_ERROR_CODE and status != 404:  # 404: no such endpoint there
        return None
    if status is None:
        raise DataApiError(f"no answer from DhanHQ's Data API: {detail}")
    raise DataApiError(f"DhanHQ's Data API answered {status} {code} {detail}".strip())


def refusal(code: str, detail: str) -> str:
    if code in ("DH-902", "403"):
        return (
            f"DhanHQ refused the Data API call ({code}): this account has no Data API "
            f"subscription (DhanHQ's paid add-on), so it has no price history. {detail}"
        ).strip()
    if code in ("DH-901", "401"):
        return f"DhanHQ refused the access token ({code}): it is wrong or expired. {detail}"
    return f"DhanHQ refused the account ({code}): {detail}".strip()


def candles(
    data: dict | None, instrument: ChartInstrument, *, daily: bool, first: date, last: date
) -> list[Bar]:
    """DhanHQ's column arrays as bars of the days `first`..`last`, oldest first, one per
    start (a day's bar stamped 00:00 IST, a minute's at its start), prices snapped."""
    if not data or not data.get("timestamp"):
        return []
    columns = [data.get(name) for name in COLUMNS]
    size = len(columns[0] or ())
    if not all(isinstance(column, list) and len(column) == size for column in columns):
        raise DataApiError(f"{instrument.key}: DhanHQ's answer has columns of unequal length")
    ois = data.get("open_interest") if instrument.derivative else None
    if not (isinstance(ois, list) and len(ois) == size):
        ois = None
    snap = TickGrid.of(instrument.tick_size).snap
    found: dict[int, Bar] = {}
    try:
        for i, (t, o, h, lo, c, v) in enumerate(zip(*columns, strict=True)):
            start = ist_midnight(ist_day(int(t))) if daily else int(t) - int(t) % 60
            if first <= ist_day(start) <= last:
                oi = int(ois[i]) if ois is not None else None
                o, h, lo, c = (snap(float(x)) for x in (o, h, lo, c))
                found[start] = Bar(start, o, h, lo, c, int(v), oi)
    except (TypeError, ValueError, OverflowError):
        raise DataApiError(
            f"{instrument.key}: DhanHQ's answer has a value that is not a number"
        ) from None
    return [found[t] for t in sorted(found)]
