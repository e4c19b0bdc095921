"""The simulator's orders: DhanHQ's v2 order model and a small matching engine on the
simulator's own prices (`book.PriceBook`), per client id.

- A MARKET order goes TRANSIT (placed), PENDING (at the exchange), then TRADED at the
  LTP of that moment; one above `PART_FILL_ABOVE` shares goes PART_TRADED first, about
  half filled, then TRADED. One status per `step()`, which the simulator calls every
  `order_step_seconds` (0.1 s: a market order trades 200-300 ms after it is placed).
- A LIMIT order goes TRANSIT, PENDING, and stays PENDING until the LTP reaches its price
  (a buy: LTP <= price; a sell: LTP >= price), then TRADED at its price. An IOC limit
  order that does not trade on its first look at the exchange is CANCELLED.
- A bad order (a missing field, quantity <= 0, an unknown segment, side, product or
  validity, a LIMIT price off the instrument's tick grid, a stop-loss type, which the
  simulator does not model) is REJECTED at once with the reason, never TRANSIT.
- `cancel` moves an open order (TRANSIT, PENDING, PART_TRADED) to CANCELLED;
  `expire_open` (the market's close) every open order to EXPIRED.

Every change calls `listener` with a copy of the order, under the book's lock, so
listeners see the changes in the order they happened. Thread-safe: REST threads place and
cancel while the event loop steps.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from dhan.segments import SEGMENT_CODES, InstrumentKey
from dhan.simulator.book import PriceBook
from dhan.simulator.orderrequests import ORDER_SEGMENTS, on_grid, parse_order

TRANSIT, PENDING, PART_TRADED, TRADED = "TRANSIT", "PENDING", "PART_TRADED", "TRADED"
REJECTED, CANCELLED, EXPIRED = "REJECTED", "CANCELLED", "EXPIRED"
OPEN_STATUSES = frozenset({TRANSIT, PENDING, PART_TRADED})
PART_FILL_ABOVE = 1000  # a market order for more shares fills in two

FIRST_ORDER_ID = 1126000000001
EXCHANGE_ORDER_BASE = 1400000000000000
REJECTION_CODE = "DH-905"


class OrderError(Exception):
    """A request about an order DhanHQ answers with DH-906 (unknown, or not open)."""


@dataclass(slots=True)
class Order:
    order_id: str
    client_id: str
    segment: str
    security_id: str
    transaction_type: str
    product_type: str
    order_type: str
    validity: str
    quantity: int
    price: float
    trigger_price: float
    correlation_id: str
    trading_symbol: str
    created: float  # epoch seconds
    status: str = TRANSIT
    updated: float = 0.0
    exchange_time: float = 0.0  # 0: never reached the exchange
    exchange_order_id: str = ""
    filled: int = 0
    traded_price: float = 0.0  # the last fill's price
    average_price: float = 0.0
    ref_ltp: float = 0.0  # the LTP at the last change
    tick: float = 0.05
    reason: str = ""  # why it was rejected, cancelled or expired
    error_code: str = ""

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled

    @property
    def key(self) -> InstrumentKey:
        return InstrumentKey(SEGMENT_CODES[self.segment], int(self.security_id))


class OrderBook:
    """Every client id's orders of the day, and the matching that moves them."""

    def __init__(
        self,
        prices: PriceBook,
        *,
        symbol: Callable[[InstrumentKey], str] = str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._prices = prices
        self._symbol = symbol
        self._clock = clock
        self._lock = threading.RLock()
        self._orders: dict[str, Order] = {}  # in placing order
        self._next = FIRST_ORDER_ID
        self.listener: Callable[[Order], None] | None = None
        self.history: list[tuple[str, str, str]] = []  # (client id, order id, status)

    def symbol_of(self, key: InstrumentKey) -> str:
        return self._symbol(key)

    # --- REST's questions ---------------------------------------------------------------

    def place(self, client_id: str, body: dict) -> Order:
        """A new order from a place-order body (REJECTED at once if it is bad)."""
        fields, reason = parse_order(body)
        with self._lock:
            order_id, self._next = str(self._next), self._next + 1
            order = Order(order_id=order_id, client_id=client_id, created=self._clock(), **fields)
            if not reason:
                order.tick = self._prices.snapshot(order.key)["tick"]
                order.trading_symbol = order.trading_symbol or self._symbol(order.key)
                if order.order_type == "LIMIT" and not on_grid(order.price, order.tick):
                    reason = f"price {order.price} is not a multiple of the tick {order.tick}"
            self._orders[order_id] = order
            if reason:
                order.error_code = REJECTION_CODE
                self._change(order, REJECTED, reason=reason)
            else:
                self._change(order, TRANSIT)
            return dataclasses.replace(order)

    def orders_of(self, client_id: str) -> list[Order]:
        """A client's orders of the day, newest first."""
        with self._lock:
            mine = [o for o in self._orders.values() if o.client_id == client_id]
            return [dataclasses.replace(o) for o in reversed(mine)]

    def get(self, client_id: str, order_id: str) -> Order | None:
        """A client's order; None for an unknown id or another client's order."""
        with self._lock:
            order = self._orders.get(order_id)
            if order is None or order.client_id != client_id:
                return None
            return dataclasses.replace(order)

    def by_correlation(self, client_id: str, correlation_id: str) -> Order | None:
        found = [o for o in self.orders_of(client_id) if o.correlation_id == correlation_id]
        return found[0] if correlation_id and found else None

    def cancel(self, client_id: str, order_id: str) -> Order:
        with self._lock:
            order = self._orders.get(order_id)
            if order is None or order.client_id != client_id:
                raise OrderError(f"no order {order_id}")
            if order.status not in OPEN_STATUSES:
                raise OrderError(f"order {order_id} is {order.status}, not open")
            self._change(order, CANCELLED, reason="Cancelled by user")
            return dataclasses.replace(order)

    # --- the exchange ---------------------------------------------------------------------

    def open_keys(self) -> set[InstrumentKey]:
        """Instruments with open orders: their prices must move for the orders to."""
        with self._lock:
            return {o.key for o in self._orders.values() if o.status in OPEN_STATUSES}

    def step(self) -> None:
        """Move every open order one status on, at the current prices."""
        with self._lock:
            for order in [o for o in self._orders.values() if o.status in OPEN_STATUSES]:
                if order.status == TRANSIT:
                    order.exchange_order_id = str(EXCHANGE_ORDER_BASE + int(order.order_id) % 10**9)
                    order.exchange_time = self._clock()
                    self._change(order, PENDING)
                elif order.order_type == "MARKET":
                    self._step_market(order)
                else:
                    self._step_limit(order)

    def expire_open(self) -> int:
        """The market closes: every open order EXPIRED. Returns how many."""
        with self._lock:
            open_orders = [o for o in self._orders.values() if o.status in OPEN_STATUSES]
            for order in open_orders:
                self._change(order, EXPIRED, reason="Order expired at market close")
            return len(open_orders)

    def _step_market(self, order: Order) -> None:
        ltp = self._prices.snapshot(order.key)["ltp"]
        if order.status == PENDING and order.quantity > PART_FILL_ABOVE:
            self._fill(order, order.quantity // 2, ltp)
            self._change(order, PART_TRADED)
        else:
            self._fill(order, order.remaining, ltp)
            self._change(order, TRADED)

    def _step_limit(self, order: Order) -> None:
        ltp = self._prices.snapshot(order.key)["ltp"]
        buy = order.transaction_type == "BUY"
        if (ltp <= order.price) if buy else (ltp >= order.price):
            self._fill(order, order.remaining, order.price)
            self._change(order, TRADED)
        elif order.validity == "IOC":
            self._change(order, CANCELLED, reason="IOC order not matched")

    @staticmethod
    def _fill(order: Order, quantity: int, price: float) -> None:
        total = order.average_price * order.filled + price * quantity
        order.filled += quantity
        order.traded_price = price
        order.average_price = round(total / order.filled, 4)

    def _change(self, order: Order, status: str, *, reason: str = "") -> None:
        order.status = status
        order.reason = reason or order.reason
        order.updated = self._clock()
        if order.segment in ORDER_SEGMENTS and order.security_id.isdigit():
            order.ref_ltp = self._prices.snapshot(order.key)["ltp"]
        self.history.append((order.client_id, order.order_id, status))
        if self.listener is not None:
            self.listener(dataclasses.replace(order))
