"""Everything MarketStream knows about DhanHQ, and nothing else: the wire protocols (pure
codecs), the WebSocket and REST clients, every limit and reason code (`dhan.limits`) and a
local simulator of DhanHQ's servers. Imports no Django app; the apps build on it.
"""
