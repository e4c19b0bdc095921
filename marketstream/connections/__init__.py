"""The stream layer: it supervises upstream DhanHQ connections of every kind (stream keys,
locks and the connection budget, the connection thread and its runner, the registry,
control functions and Celery tasks). The market feed is the first kind (`marketfeed.py`).
"""
