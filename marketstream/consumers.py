"""`/ws/dashboard/`'s consumer, composed: prices, quotes and depth (`prices`), the user's
orders (`orders`) and alert firings (`alerts`)."""

from alerts.consumers import AlertNotifications
from orders.consumers import DashboardConsumer as OrdersConsumer


class DashboardConsumer(AlertNotifications, OrdersConsumer):
    pass
