"""The get route's one-statement read and the ORM's read answer alike (bench_read checks
that before it times them), and the benchmark that keeps the second path runs."""

from __future__ import annotations

import pytest

from dispute_backend import bench_read


def test_bench_read_runs_and_both_paths_agree(capsys: pytest.CaptureFixture[str]) -> None:
    ratio = bench_read.run(rounds=5)
    assert ratio > 0
    assert "ratio ORM / one statement" in capsys.readouterr().out
