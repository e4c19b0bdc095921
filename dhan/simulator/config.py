"""The simulator's settings and its demo credentials (the ones `make run` uses)."""

from __future__ import annotations

from dataclasses import dataclass

DEMO_CLIENT_ID = "1000000001"
DEMO_ACCESS_TOKEN = "demo-token"  # noqa: S105 - the simulator's public demo value


@dataclass(slots=True)
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8765  # 0: any free port
    rest_port: int | None = None  # None: port + 1 (any free port when port is 0)
    client_id: str = DEMO_CLIENT_ID
    access_token: str = DEMO_ACCESS_TOKEN
    ticks_per_second: float = 2.0  # per subscribed instrument
    rest_requests_per_second: float = 1.0
    seed: int | None = None
    pack_frames: bool = False  # several packets per frame (DhanHQ sends one; we must cope)
    # The feed's keepalive: DhanHQ pings every 10 s; tests make it strict (ping every 1 s,
    # drop a client that has not answered in 3 s).
    ping_interval_seconds: float | None = 20.0
    ping_timeout_seconds: float | None = 20.0

    def __repr__(self) -> str:
        return f"SimulatorConfig(host={self.host!r}, port={self.port}, rest={self.rest_port})"
