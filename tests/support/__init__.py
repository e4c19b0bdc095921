"""What the tests share besides fixtures (those are in tests/conftest.py): processes and
ports, waiting, redis-server, the stack of real processes every end-to-end test builds,
and the parts particular tests lean on (the fan-out's client, the fault battery, the
browser, webhook receivers). Test modules import from here, never from one another."""
