"""The ASGI app with window updates sent per client through daphne's `websocket.send`
(no shared frames), for tests/prices/test_shared_frames.py to compare the shared path
against."""

from marketstream.asgi import build_application
from marketstream.runtime import WebRuntime

application = build_application(WebRuntime(hosts_connections=False), shared_frames=False)
