"""ASGI entry point: Django for HTTP, Channels for WebSockets (`/ws/dashboard/`), under the
process's runtime (`marketstream.runtime.WebRuntime`), made here for daphne (`Procfile`)
and by `run_web` for itself."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketstream.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 - after Django setup

from gateway.daphneoptions import DaphneOptionsMiddleware  # noqa: E402
from gateway.origins import BrowserOriginValidator  # noqa: E402
from gateway.sharedframes import SharedFramesMiddleware  # noqa: E402
from gateway.wsauth import session_user_stack  # noqa: E402
from gateway.wscap import ConnectionCap  # noqa: E402
from marketstream.routing import websocket_urlpatterns  # noqa: E402
from marketstream.runtime import RuntimeMiddleware, WebRuntime  # noqa: E402

GC_YOUNG_ALLOCATIONS = 7000  # CPython's default 700
GC_MIDDLE_PASSES_PER_FULL = 100  # default 10


def build_application(runtime: WebRuntime, *, shared_frames: bool = True):
    """The whole app, with `runtime`'s services in every scope. WebSockets: under daphne
    each connection's limits end it with a close code (`gateway.daphneoptions`);
    another site's page is refused at the handshake (its Origin is not this site's scheme,
    host and port: `gateway.origins`), so is an address holding
    WS_MAX_CONNECTIONS_PER_IP sockets already (`gateway.wscap`); then the session's
    user is in the scope (`scope["user"]`, anonymous without a session).
    `shared_frames=False`: every update through daphne's `websocket.send`, per client (the
    test that the shared frames are the same bytes compares against it)."""
    websocket = BrowserOriginValidator(
        ConnectionCap(session_user_stack(URLRouter(websocket_urlpatterns)))
    )
    router = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket})
    app = RuntimeMiddleware(router, runtime)
    return DaphneOptionsMiddleware(SharedFramesMiddleware(app) if shared_frames else app)


# daphne from the Procfile: the full stack, where the workers host the connections
# (embedded mode is `run_web`, which builds its own runtime and app).
application = build_application(WebRuntime(hosts_connections=False))

# Everything loaded so far (Django, the apps, the routing) lives as long as the process:
# keep it out of the collector's full passes, which grow with every connection and stall
# the event loop (with 2,000 WebSocket clients: 166 ms instead of 236 ms, measured).
gc.collect()
gc.freeze()
# A full pass walks every connection's objects (about 0.4 s at 5,000 clients) and CPython
# starts one each time the long-lived objects grew by a quarter: a connect storm of 5,000
# made 15 of them (3 s). Looked at after 100 middle passes instead of 10, and the young
# generation collected every 7,000 allocations instead of 700: during the storm 1-2 full
# passes, in steady state one every few minutes rather than every 20 s.
gc.set_threshold(GC_YOUNG_ALLOCATIONS, 10, GC_MIDDLE_PASSES_PER_FULL)
