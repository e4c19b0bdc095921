"""The stream runtime: every upstream DhanHQ connection the deployment keeps (market feeds,
the 20-level depth socket, and the kinds apps above register, such as the orders app's
order sockets), with its `Stream` row, keys, locks and connection budget, the connection
thread and its runner, the per-process registry, control and supervision, and their
Celery tasks. It imports `prices` and `dhan` only; the project's wiring
(`marketstream.runtime`, `marketstream.apps`) composes it with the apps above.
"""
