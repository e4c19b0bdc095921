"""The screens API's JSON: SCREEN and RESULT ROW as the contract shapes them (`screen_json`,
`result_json`), and their descriptions for OpenAPI (the bodies are checked by
`screeners.validation`, whose messages are the API's 400s)."""

from __future__ import annotations

from ninja import Field, Schema

from screeners.models import MAX_LIMIT, SCHEDULES, WEBHOOK_FORMATS, Screen, ScreenRow, ScreenRun

ISO = {"format": "date-time"}


def notify_json(screen: Screen) -> dict | None:
    if not screen.notify:
        return None
    hook = None
    if screen.webhook_url:  # its secret is never shown
        hook = {"url": screen.webhook_url, "format": screen.webhook_format}
    return {"on": "entered", "webhook": hook, "email": screen.notify_email}


def screen_json(screen: Screen) -> dict:
    return {
        "id": screen.pk,
        "slug": screen.slug,
        "name": screen.name,
        "universe": screen.universe,
        "timeframe": screen.timeframe,
        "condition": screen.condition,
        "columns": screen.columns,
        "rank_by": screen.rank_by,
        "descending": screen.descending,
        "limit": screen.limit,
        "schedule": screen.schedule,
        "notify": notify_json(screen),
        "owner": screen.owner.get_username() if screen.owner_id else None,
    }


def row_json(row: ScreenRow) -> dict:
    return {
        "key": row.instrument.key,
        "symbol": row.instrument.trading_symbol,
        "rank": row.rank,
        "columns": row.columns,
        "rank_value": row.rank_value,
    }


def result_json(run: ScreenRun | None) -> dict:
    if run is None:
        return {"run": None, "rows": [], "entered": [], "exited": []}
    rows = run.rows.select_related("instrument").order_by("rank")
    return {
        "run": {
            "id": run.pk,
            "computed_at": run.computed_at.isoformat() if run.computed_at else None,
            "bars_as_of": run.bars_as_of.isoformat() if run.bars_as_of else None,
            "universe_size": run.universe_size,
            "matched": run.matched,
            "duration_ms": run.duration_ms,
            "forming": run.forming,
        },
        "rows": [row_json(r) for r in rows],
        "entered": run.entered,
        "exited": run.exited,
    }


class CheckOk(Schema):
    ok: bool


class CheckError(Schema):
    error: str = Field(description="what was wrong, for people")
    field: str | None = Field(None, description="the field it was in")
    position: int | None = Field(None, description="0-based character offset in its text")


class WebhookOut(Schema):
    url: str
    format: str = Field(description=" or ".join(WEBHOOK_FORMATS))


class NotifyOut(Schema):
    on: str = Field(description="entered")
    webhook: WebhookOut | None = Field(description="its secret is never shown")
    email: bool


class ScreenOut(Schema):
    id: int
    slug: str
    name: str
    universe: str = Field(description="segment:NSE_EQ, screener:SLUG or keys:K,K,...")
    timeframe: str
    condition: str
    columns: dict[str, str]
    rank_by: str
    descending: bool
    limit: int = Field(ge=1, le=MAX_LIMIT)
    schedule: str = Field(description=" | ".join(SCHEDULES))
    notify: NotifyOut | None
    owner: str | None = Field(description="null: shared, editable by staff")


class ScreenEnvelope(Schema):
    screen: ScreenOut


class ScreenList(Schema):
    screens: list[ScreenOut]


class Deleted(Schema):
    deleted: int


class Queued(Schema):
    run_id: int


class RunOut(Schema):
    id: int
    computed_at: str | None = Field(json_schema_extra=ISO)
    bars_as_of: str | None = Field(json_schema_extra=ISO)
    universe_size: int
    matched: int
    duration_ms: int
    forming: bool = Field(description="ran on the day's forming bar")


class RowOut(Schema):
    key: str
    symbol: str
    rank: int
    columns: dict[str, float | None]
    rank_value: float | None


class Results(Schema):
    run: RunOut | None
    rows: list[RowOut]
    entered: list[str]
    exited: list[str]


CHECK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"condition": {"type": "string"}, "expression": {"type": "string"}},
                "example": {"condition": "close crosses above sma(close, 20)"},
            }
        }
    },
}
SCREEN_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "slug": {"type": "string"},
                    "universe": {"type": "string", "example": "segment:NSE_EQ"},
                    "timeframe": {"type": "string", "example": "1d"},
                    "condition": {"type": "string", "example": "rsi(close, 14) < 30"},
                    "columns": {"type": "object", "additionalProperties": {"type": "string"}},
                    "rank_by": {"type": "string"},
                    "descending": {"type": "boolean"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                    "schedule": {"type": "string", "enum": list(SCHEDULES)},
                    "notify": {"type": ["object", "null"]},
                },
            }
        }
    },
}
