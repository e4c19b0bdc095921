"""The one loop shape: steps until stopped, waits what a step asks, survives failures (the
traceback logged once per distinct failure), stops within its timeout, tears down."""

from __future__ import annotations

import logging
import threading

from prices.loops import BackgroundLoop


class Steps(BackgroundLoop):
    name = "test-steps"
    failure_wait_seconds = 0.01

    def __init__(self, outcomes: list) -> None:
        super().__init__()
        self.outcomes = outcomes
        self.done = threading.Event()
        self.torn_down = False

    def step(self) -> float:
        if not self.outcomes:
            self.done.set()
            return 0.01
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def teardown(self) -> None:
        self.torn_down = True


def test_a_failing_step_never_ends_the_loop_and_its_traceback_is_logged_once(caplog):
    loop = Steps([ValueError("bad"), ValueError("bad"), ValueError("bad"), 0.01, KeyError("k")])
    with caplog.at_level(logging.WARNING, logger="prices.loops"):
        loop.start()
        assert loop.done.wait(5)
        loop.stop()
    # (the log's redacting filter renders tracebacks into the text: read them there)
    tracebacks = [r for r in caplog.records if "failed; retrying" in r.getMessage()]
    assert len(tracebacks) == 2
    assert "ValueError: bad" in caplog.text and "KeyError: 'k'" in caplog.text
    assert sum("failed again" in r.getMessage() for r in caplog.records) == 2
    assert not loop.is_alive() and loop.torn_down


def test_stop_returns_at_once_from_a_long_pause_and_names_a_loop_that_hangs(caplog):
    loop = Steps([3600.0])
    loop.start()
    loop.stop()  # interrupts the hour's wait
    assert not loop.is_alive()

    class Hangs(BackgroundLoop):
        name = "test-hangs"
        stop_timeout_seconds = 0.1
        release = threading.Event()

        def step(self) -> float:
            self.release.wait(5)
            return 0.01

    hanging = Hangs()
    hanging.start()
    with caplog.at_level(logging.WARNING, logger="prices.loops"):
        hanging.stop()
    Hangs.release.set()
    assert any("test-hangs did not stop within" in r.getMessage() for r in caplog.records)


def test_the_thread_carries_the_loops_name():
    names = []

    class Named(BackgroundLoop):
        name = "named-loop"

        def step(self) -> float:
            names.append(threading.current_thread().name)
            self.request_stop()
            return 0.0

    loop = Named()
    loop.start()
    loop.stop()
    assert names == ["named-loop"]
