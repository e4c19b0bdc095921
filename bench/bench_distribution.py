"""Price distribution benchmarks, each against the naive way in the same run:
- the sink (ticks/s into Redis) vs one SET EX and one PUBLISH per tick;
- current_prices for 500 keys (one MGET) vs one GET per key;
- window payloads for 1,000 clients: once per key set vs once per client.
A real redis-server is started on a free port and stopped at the end."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager

import redis
from django.test import Client, override_settings

from prices.cache import LIVE_UPDATES_CHANNEL, RedisPriceStore, format_price, ltp_key
from prices.sink import PriceSink
from prices.windows import WindowCache, render_update

KEYS = [f"NSE_EQ:{i}" for i in range(1, 5001)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def redis_server():
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )
        try:
            url = f"redis://127.0.0.1:{port}/0"
            client = redis.Redis.from_url(url)
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            yield url, client
        finally:
            proc.terminate()
            proc.wait(10)


def bench_sink(client: redis.Redis) -> None:
    rng = random.Random(1)
    ticks = [(rng.choice(KEYS), rng.randint(2000, 60000) * 0.05) for _ in range(200_000)]
    sink = PriceSink(store=RedisPriceStore(client), ttl_seconds=30)
    flush_every = 2_500  # 50 ms of ticks at 50,000 ticks/s
    start = time.perf_counter()
    for i, (key, price) in enumerate(ticks, 1):
        sink.put(key, price)
        if i % flush_every == 0:
            sink.flush()
    sink.flush()
    ours = len(ticks) / (time.perf_counter() - start)

    naive_ticks = ticks[:10_000]
    start = time.perf_counter()
    for key, price in naive_ticks:
        client.set(ltp_key(key), format_price(price), ex=30)
        client.publish(LIVE_UPDATES_CHANNEL, json.dumps({key: price}))
    naive = len(naive_ticks) / (time.perf_counter() - start)
    print("sink: ticks/s into Redis (5,000 keys, flush per 2,500 ticks)")
    print(f"  PriceSink (coalesce, one pipeline per flush): {ours:>10,.0f} ticks/s")
    print(f"  naive SET EX + PUBLISH per tick:              {naive:>10,.0f} ticks/s")
    print(f"  ratio: {ours / naive:.0f}x (targets: >= 10x and >= 50,000 ticks/s)")


def bench_current_prices(url: str, client: redis.Redis) -> None:
    keys = KEYS[:500]
    client.mset({ltp_key(k): "1612.35" for k in keys})
    query = "/api/v1/current_prices?keys=" + ",".join(keys)
    rounds = 200
    with override_settings(REDIS_URL=url, DHANHQ_CLIENT_ID="", DHANHQ_ACCESS_TOKEN=""):
        web = Client(HTTP_HOST="localhost")  # one of ALLOWED_HOSTS (make bench's LOCAL_ENV)
        assert web.get(query).json()["cached_count"] == 500
        start = time.perf_counter()
        for _ in range(rounds):
            web.get(query)
        ours = (time.perf_counter() - start) / rounds
    start = time.perf_counter()
    for _ in range(20):
        {k: client.get(ltp_key(k)) for k in keys}
    naive = (time.perf_counter() - start) / 20
    print("current_prices with 500 keys (whole request through Django vs the reads alone)")
    print(f"  view, one MGET:        {ours * 1000:7.2f} ms per request")
    print(f"  naive GET per key:     {naive * 1000:7.2f} ms for the reads alone")
    print(f"  ratio: {naive / ours:.1f}x")


def bench_payloads() -> None:
    rng = random.Random(2)
    pages = [frozenset(rng.sample(KEYS[:200], 25)) for _ in range(20)]  # 20 distinct pages
    clients = [pages[i % len(pages)] for i in range(1000)]
    prices = {k: rng.randint(2000, 60000) * 0.05 for k in KEYS[:200]}
    windows = 200
    start = time.perf_counter()
    for seq in range(1, windows + 1):
        event = {"seq": seq, "ts": 0.0, "prices": json.dumps(prices)}
        cache = WindowCache()
        for keys in clients:
            cache.payload(event, keys)
    ours = (time.perf_counter() - start) / windows
    start = time.perf_counter()
    for seq in range(1, windows + 1):
        event = {"seq": seq, "ts": 0.0, "prices": json.dumps(prices)}
        for keys in clients:
            render_update(event, json.loads(event["prices"]), keys)
    naive = (time.perf_counter() - start) / windows
    print("window payloads for 1,000 clients on 20 distinct pages")
    print(f"  once per key set: {ours * 1000:7.2f} ms per window")
    print(f"  once per client:  {naive * 1000:7.2f} ms per window")
    print(f"  ratio: {naive / ours:.1f}x")


def main() -> None:
    with redis_server() as (url, client):
        bench_sink(client)
        bench_current_prices(url, client)
    bench_payloads()
