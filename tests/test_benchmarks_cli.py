"""The benchmarks need a GPU to run, but CI can still catch a broken import or
argument parser: each script must print its usage."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*/bench_*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_prints_usage(script):
    r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage:" in r.stdout and "--out" in r.stdout and "--quick" in r.stdout


def test_every_family_has_a_benchmark():
    families = {p.name for p in (ROOT / "csrc").iterdir() if p.is_dir() and p.name != "common"}
    benched = {p.parent.name for p in SCRIPTS}
    assert families <= benched, f"families without a benchmark: {sorted(families - benched)}"
