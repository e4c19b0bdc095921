"""The simulator's settings, its demo credentials (the ones `make run` uses) and the
accounts it accepts."""

from __future__ import annotations

from dataclasses import dataclass, field

DEMO_CLIENT_ID = "1000000001"
DEMO_ACCESS_TOKEN = "demo-token"  # noqa: S105 - the simulator's public demo value

# Why a login is refused, as the feed's disconnect reasons name it.
TOKEN_EXPIRED = 807
UNKNOWN_CLIENT = 808
TOKEN_INVALID = 809


@dataclass(slots=True)
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8765  # 0: any free port
    rest_port: int | None = None  # None: port + 1 (any free port when port is 0)
    client_id: str = DEMO_CLIENT_ID
    access_token: str = DEMO_ACCESS_TOKEN
    # More DhanHQ accounts, client id -> access token. `client_id`/`access_token` is always
    # one of them, and wins over an entry here for the same client id.
    accounts: dict[str, str] = field(default_factory=lambda: {DEMO_CLIENT_ID: DEMO_ACCESS_TOKEN})
    ticks_per_second: float = 2.0  # per subscribed instrument
    rest_requests_per_second: float = 1.0  # /v2/marketfeed, per client id
    order_requests_per_second: float = 10.0  # /v2/orders, per client id
    # /v2/charts/{historical,intraday} together, per client id (DhanHQ's Data API limit)
    data_requests_per_second: float = 5.0
    # Client ids whose account lacks DhanHQ's Data API add-on: their chart calls get 403
    # `DH-902` and their profile says `"dataPlan": "Deactive"`.
    no_data_api: set[str] = field(default_factory=set)
    order_step_seconds: float = 0.1  # the matching model's pace (an order moves a status)
    # What each client id held at the open, for `GET /v2/holdings`:
    # client id -> [{"key": "NSE_EQ:2885", "quantity": 10, "avg_cost": 1400.5}, ...]
    holdings: dict[str, list[dict]] = field(default_factory=dict)
    seed: int | None = None
    pack_frames: bool = False  # several packets per frame (DhanHQ sends one; we must cope)
    # The feed's keepalive: DhanHQ pings every 10 s; tests make it strict (ping every 1 s,
    # drop a client that has not answered in 3 s).
    ping_interval_seconds: float | None = 20.0
    ping_timeout_seconds: float | None = 20.0
    # (client id, token) pairs that expired (`DhanSimulator.expire_token`): refused with
    # 807 from then on.
    expired: set[tuple[str, str]] = field(default_factory=set)

    def account_tokens(self) -> dict[str, str]:
        """Every accepted account, client id -> access token."""
        return {**self.accounts, self.client_id: self.access_token}

    def auth_refusal(self, client_id: str, token: str) -> int | None:
        """None if `client_id` and `token` are a live account's; else why not: 808 (no
        such client id), 809 (not its token) or 807 (its token expired)."""
        expected = self.account_tokens().get(client_id)
        if expected is None:
            return UNKNOWN_CLIENT
        if token != expected:
            return TOKEN_INVALID
        if (client_id, token) in self.expired:
            return TOKEN_EXPIRED
        return None

    def __repr__(self) -> str:
        return f"SimulatorConfig(host={self.host!r}, port={self.port}, rest={self.rest_port})"
