"""Where a stream's instruments come from when its key names none (`type:<name>` alone):
one source per stream type. The index strip (`indices`: NIFTY 50, BANKNIFTY and SENSEX,
`prices.quotes.INDEX_STRIP`) is the stream layer's own; the apps above provide the others
(the screeners app: a screener type's latest run), registered once as the project's apps
load (`marketstream.apps`). So this layer never imports the apps that use it, and every
process (web, worker, a management command) knows the same types. Read-only after start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dhan.segments import InstrumentKey
from prices.models import Instrument
from prices.quotes import INDEX_STRIP, INDEX_STRIP_STREAM

# Called with the stream type: its instruments, or LookupError saying why there are none.
InstrumentSource = Callable[[str], Iterable[Instrument]]

INDEX_STRIP_KEYS = tuple(key for key, _ in INDEX_STRIP)
# Filled while the apps load (AppConfig.ready), read ever after.
_SOURCES: dict[str, InstrumentSource] = {}
# Types known only at run time (a user's screen): (does this type exist?, its source).
_OPEN_SOURCES: list[tuple[Callable[[str], bool], InstrumentSource]] = []


def register_source(stream_types: Iterable[str], source: InstrumentSource) -> None:
    """Called once per process by the project's wiring as the apps load: `source` names the
    instruments of each of `stream_types` (registering a type again replaces its source)."""
    for stream_type in stream_types:
        if stream_type == INDEX_STRIP_STREAM:
            raise ValueError(f"{INDEX_STRIP_STREAM!r} is the stream layer's own type")
        _SOURCES[stream_type] = source


def register_open_source(accepts: Callable[[str], bool], source: InstrumentSource) -> None:
    """Called once per process by the project's wiring: types made while the system runs
    (screens' slugs) that `accepts(type)` knows, with `source` naming their instruments."""
    _OPEN_SOURCES[:] = [(accepts, source)]


def is_stream_type(stream_type: str) -> bool:
    """Whether a stream key may name `stream_type` (a database read for an open type)."""
    if stream_type in _SOURCES or stream_type == INDEX_STRIP_STREAM:
        return True
    return any(accepts(stream_type) for accepts, _ in _OPEN_SOURCES)


def stream_types() -> tuple[str, ...]:
    """Every type a stream key may name: the registered ones, then the index strip."""
    return (*_SOURCES, INDEX_STRIP_STREAM)


def index_strip(stream_type: str = INDEX_STRIP_STREAM) -> list[Instrument]:
    """The top bar's indices, those the instrument table holds."""
    ids = [InstrumentKey.parse(k).security_id for k in INDEX_STRIP_KEYS]
    rows = Instrument.objects.filter(security_id__in=ids, exchange_segment="IDX_I")
    found = [i for i in rows if i.key in INDEX_STRIP_KEYS]
    if not found:
        raise LookupError("no index of the strip is in the instrument table")
    return found


def instruments_of(stream_type: str) -> list[Instrument]:
    """The instruments of a bare `type:<stream_type>` key (database reads). Raises
    LookupError when the type is unknown or its source has none."""
    if stream_type == INDEX_STRIP_STREAM:
        return index_strip()
    source = _SOURCES.get(stream_type)
    if source is None and is_stream_type(stream_type):
        source = _OPEN_SOURCES[0][1]
    if source is None:
        raise LookupError(f"no instrument source for stream type {stream_type!r}")
    return list(source(stream_type))
