"""`/ws/dashboard/`'s consumer, composed (`prices.composition`): prices, quotes and depth
(the prices consumer), with the features of the user's orders (`orders`), alert firings
(`alerts`), portfolio (`portfolio`) and screens' new entrants (`screeners`). Served by
`marketstream.routing`."""

from alerts.consumers import AlertsFeature
from orders.consumers import OrdersFeature
from portfolio.consumers import PortfolioFeature
from prices.composition import ComposedConsumer
from screeners.consumers import ScreensFeature


class DashboardConsumer(ComposedConsumer):
    features = (OrdersFeature, AlertsFeature, PortfolioFeature, ScreensFeature)
