"""manage.py dhan_simulator: a local DhanHQ (market feed, depth, order updates, REST)."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dhan.segments import InstrumentKey
from dhan.simulator import (
    BASE_PRICES_FILE,
    DEMO_ACCESS_TOKEN,
    DEMO_CLIENT_ID,
    DhanSimulator,
    SimulatorConfig,
)
from dhan.ticks import DEFAULT_TICK_SIZES
from prices.models import Instrument


def _instruments() -> tuple[dict[InstrumentKey, float], dict[str, str]]:
    """Tick sizes by key, and trading symbols by `SEG:SID` (orders show symbols)."""
    rows = Instrument.objects.only("exchange_segment", "security_id", "tick_size", "trading_symbol")
    ticks, symbols = {}, {}
    for i in rows:
        ticks[i.instrument_key] = float(i.tick_size)
        symbols[i.key] = i.trading_symbol
    return ticks, symbols


class Command(BaseCommand):
    help = (
        "Run a local DhanHQ: the v2 market feed, 20-level depth, live order updates, and "
        "REST market quotes and orders."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765, help="feed WebSocket port")
        parser.add_argument("--rest-port", type=int, default=None, help="REST port (port + 1)")
        parser.add_argument(
            "--rate", type=float, default=2.0, help="ticks per second per subscribed instrument"
        )
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--pack-frames", action="store_true", help="send several packets per frame"
        )
        parser.add_argument(
            "--account",
            action="append",
            default=[],
            metavar="CLIENT_ID=TOKEN",
            help="another DhanHQ account to accept (the simulator's own made-up token; repeatable)",
        )
        parser.add_argument(
            "--data-rate", type=float, default=5.0, help="Data API calls a second per client id"
        )
        parser.add_argument(
            "--no-data-api",
            action="append",
            default=[],
            metavar="CLIENT_ID",
            help="an account without DhanHQ's Data API add-on (DH-902; repeatable)",
        )

    def handle(self, *args, **opts):
        ticks, symbols = _instruments()
        accounts = {DEMO_CLIENT_ID: DEMO_ACCESS_TOKEN}
        for account in opts["account"]:
            client_id, sep, token = account.partition("=")
            if not sep or not client_id or not token:
                raise CommandError(f"--account wants CLIENT_ID=TOKEN, got {client_id!r}=...")
            accounts[client_id] = token
        config = SimulatorConfig(
            host=opts["host"],
            port=opts["port"],
            rest_port=opts["rest_port"],
            client_id=settings.DHANHQ_CLIENT_ID or DEMO_CLIENT_ID,
            access_token=settings.DHANHQ_ACCESS_TOKEN or DEMO_ACCESS_TOKEN,
            ticks_per_second=opts["rate"],
            seed=opts["seed"],
            pack_frames=opts["pack_frames"],
            accounts=accounts,
            data_requests_per_second=opts["data_rate"],
            no_data_api=set(opts["no_data_api"]),
        )
        simulator = DhanSimulator(
            config,
            tick_size=lambda key: ticks.get(key) or DEFAULT_TICK_SIZES.get(key.segment, 0.05),
            base_prices=json.loads(BASE_PRICES_FILE.read_text())["prices"],
            symbols=symbols,
        )
        self.stdout.write(
            f"DhanHQ simulator on ws://{config.host}:{config.port} "
            f"({len(ticks)} instruments with tick sizes); Ctrl-C stops it"
        )
        self.stdout.flush()
        try:
            simulator.serve_forever()
        except KeyboardInterrupt:
            pass
