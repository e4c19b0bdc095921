"""A local DhanHQ for the demo and the tests, one module per server it plays: the v2
market feed (`feed.py`), 20-level depth (`depth.py`), live order updates
(`ordersocket.py`) and REST, market quote and orders (`rest.py`), sharing one price book
(`book.py`) on which the orders (`orders.py`, in DhanHQ's shapes by `ordershapes.py`)
trade; several accounts (`config.py`); price history (`charts.py`, the Data API's
`/v2/charts/{historical,intraday}` answered from `archive.py`: deterministic past days from
`history.py` and `sessions.py`, today from the book and the feed's recorded minutes,
`minutes.py`). `server.DhanSimulator` runs them, with the test controls of `controls.py`.
Pure: no Django.
"""

from pathlib import Path

from dhan.simulator.bars import Bar
from dhan.simulator.book import PriceBook
from dhan.simulator.charts import DataCallCounts
from dhan.simulator.config import DEMO_ACCESS_TOKEN, DEMO_CLIENT_ID, SimulatorConfig
from dhan.simulator.minutes import MinuteRecorder
from dhan.simulator.server import DhanSimulator

# Opening prices of the demo's instruments (`manage.py dhan_simulator` reads it).
BASE_PRICES_FILE = Path(__file__).resolve().parent / "base_prices.json"

__all__ = [
    "BASE_PRICES_FILE",
    "DEMO_ACCESS_TOKEN",
    "DEMO_CLIENT_ID",
    "Bar",
    "DataCallCounts",
    "DhanSimulator",
    "MinuteRecorder",
    "PriceBook",
    "SimulatorConfig",
]
