#!/usr/bin/env bash
# The demo command (README): set up and build, then run the ops on a few
# tensors and check them against torch; with a GPU, also the quick benchmark.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
step "demo"
$PY examples/demo.py
if $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  step "benchmark (quick)"
  $PY benchmarks/elementwise/bench_elementwise.py --quick --dtypes bfloat16 --out bench_out
fi
