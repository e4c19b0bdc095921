"""DhanHQ's limits and reason codes, in one place. Everything that checks a DhanHQ limit
imports it from here (the feed client, the supervisor's connection budget, the REST
client, the API's validation and the simulator that enforces them).
"""

# --- market feed (wss://api-feed.dhan.co) ---------------------------------------------
MAX_INSTRUMENTS_PER_MESSAGE = 100  # per subscribe/unsubscribe JSON message
MAX_INSTRUMENTS_PER_CONNECTION = 5000
# Sockets per client id, every kind together (market feed, 20-level depth and order
# updates): a sixth evicts the oldest with reason 805.
MAX_CONNECTIONS_PER_CLIENT = 5

# --- 20-level market depth (wss://depth-api-feed.dhan.co/twentydepth) -------------------
DEPTH_LEVELS = 20
MAX_DEPTH_INSTRUMENTS_PER_CONNECTION = 50
DEPTH_SEGMENTS = frozenset({"NSE_EQ", "NSE_FNO"})  # the only segments with 20-level depth

# --- REST market quote (/v2/marketfeed/ltp, ohlc, quote) --------------------------------
REST_MAX_INSTRUMENTS = 1000  # per request
REST_MIN_INTERVAL_SECONDS = 1.0  # one request per second per client id

# --- disconnect reason codes (annexure "Data API Error") --------------------------------
DISCONNECT_REASONS: dict[int, str] = {
    800: "internal server error",
    804: "requested number of instruments exceeds limit",
    805: "too many requests or connections",
    806: "data APIs not subscribed",
    807: "access token expired",
    808: "authentication failed",
    809: "access token invalid",
    810: "client id invalid",
    811: "invalid expiry date",
    812: "invalid date format",
    813: "invalid security id",
    814: "invalid request",
}
# Retrying cannot help until the credentials change.
AUTH_REASONS = frozenset({806, 807, 808, 809, 810})
# Too many connections or requests: cool off before retrying.
RATE_LIMIT_REASONS = frozenset({805})
# The request itself is refused: the same request would fail again.
REJECTED_REASONS = frozenset({804, 811, 812, 813, 814})
