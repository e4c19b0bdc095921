"""`make run` stopped the way a process manager, `timeout` or CI stops it (SIGTERM to its
process group) leaves no process behind and frees every port it bound."""

from __future__ import annotations

import pytest

from tests.support.demo import make_run, port_free

pytestmark = pytest.mark.e2e


def test_sigterm_to_make_runs_process_group_leaves_no_process_and_no_bound_port(tmp_path):
    with make_run(tmp_path) as demo:
        demo.wait_serving()
        demo.terminate()  # what a process manager does
        for port in (demo.web, demo.sim, demo.sim + 1):
            assert port_free(port), f"port {port} still bound\n{demo.tail()}"
