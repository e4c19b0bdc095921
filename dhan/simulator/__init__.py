"""A local DhanHQ for the demo and the tests, one module per server it plays: the v2
market feed (`feed.py`), 20-level depth (`depth.py`), live order updates
(`ordersocket.py`) and REST, market quote and orders (`rest.py`), sharing one price book
(`book.py`) on which the orders (`orders.py`, in DhanHQ's shapes by `ordershapes.py`)
trade; several accounts (`config.py`). `server.DhanSimulator` runs them, with the test
controls of `controls.py`. Pure: no Django.
"""

from pathlib import Path

from dhan.simulator.book import PriceBook
from dhan.simulator.config import DEMO_ACCESS_TOKEN, DEMO_CLIENT_ID, SimulatorConfig
from dhan.simulator.server import DhanSimulator

# Opening prices of the demo's instruments (`manage.py dhan_simulator` reads it).
BASE_PRICES_FILE = Path(__file__).resolve().parent / "base_prices.json"

__all__ = [
    "BASE_PRICES_FILE",
    "DEMO_ACCESS_TOKEN",
    "DEMO_CLIENT_ID",
    "DhanSimulator",
    "PriceBook",
    "SimulatorConfig",
]
