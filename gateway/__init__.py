"""What stands between the network and the apps, for HTTP and WebSocket alike: the API's
rate limits and JSON errors, the WebSocket origin check, the per-address socket cap, the
handshake's user, daphne's protocol options and the window frames written once per key set.
Composed into the ASGI app and the middleware by `marketstream` (asgi.py, settings.py)."""
