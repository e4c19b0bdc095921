"""`/ws/dashboard/`'s consumer, composed: prices, quotes and depth (`prices`), the user's
orders (`orders`), alert firings (`alerts`) and portfolio (`portfolio`)."""

from alerts.consumers import AlertNotifications
from orders.consumers import DashboardConsumer as OrdersConsumer
from portfolio.consumers import PortfolioUpdates


class DashboardConsumer(PortfolioUpdates, AlertNotifications, OrdersConsumer):
    pass
