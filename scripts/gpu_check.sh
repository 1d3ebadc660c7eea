#!/usr/bin/env bash
# On a GPU machine: build, C++ tests, the full pytest suite (large tensors
# included), compute-sanitizer memcheck over the CUDA tests, and the
# benchmarks. Logs go to LOGDIR.
#   bash scripts/gpu_check.sh LOGDIR [bench-args...]
# Switches: SKIP_BUILD=1 (keep the installed package and build/cpp of an earlier run), SKIP_TESTS=1, SKIP_CTEST=1 (C++ targets built, tests not run), SKIP_MEMCHECK=1, SKIP_BENCH=1, BENCHES="rope elementwise"
# (only those families' benchmarks; "none": no Python benchmark), SKIP_SWEEPS=1,
# SWEEPS="kvio_sweep rope_sweep" (only those C++ sweeps), TESTS="tests/rope ..."
# (the pytest run takes only those paths), MEMCHECK_GROUPS="4" (only those of the
# four Python memcheck groups below, by number), MEMCHECK_CPP="KVTransfer*" (a
# GoogleTest filter for the C++ memcheck run), TAR_TO=FILE (tar LOGDIR into FILE on exit,
# also when the run is cut short by `timeout`).
# On the lent device (10 minutes a command, at most 8 files back): one call
#   SKIP_BENCH=1 SKIP_SWEEPS=1 TAR_TO=$OUT/tests.tgz timeout 560 bash scripts/gpu_check.sh /tmp/logs
# and one for the benchmarks
#   SKIP_TESTS=1 SKIP_MEMCHECK=1 TAR_TO=$OUT/bench.tgz timeout 560 bash scripts/gpu_check.sh /tmp/logs
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${1:?usage: gpu_check.sh LOGDIR}
shift || true
mkdir -p "$LOG"
if [ -n "${TAR_TO:-}" ]; then
  trap 'tar czf "$TAR_TO" -C "$(dirname "$LOG")" "$(basename "$LOG")"' EXIT
  trap 'exit 143' TERM
fi
export SGL_KERNEL_CUDA_ARCHS=${SGL_KERNEL_CUDA_ARCHS:-90a}
export CMAKE_BUILD_PARALLEL_LEVEL=$(nproc)
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
# The lent machines set CXX to a GCC that links libstdc++ statically into
# shared objects: a C++ exception thrown from such an extension crashes the
# process (seen: SIGSEGV on the first argument error). Use the system compiler,
# the one torch's wheel was built with, where it exists.
if [ -x /usr/bin/g++ ]; then export CXX=/usr/bin/g++ CC=/usr/bin/gcc CUDAHOSTCXX=/usr/bin/g++; fi
[ "${SKIP_BUILD:-0}" = 1 ] || rm -rf build  # a cached compiler from an earlier run would win over CXX
status=0
run() {  # run NAME CMD...: log to $LOG/NAME.log, print the tail, remember failures
  local name=$1; shift
  local t0=$SECONDS
  "$@" > "$LOG/$name.log" 2>&1
  local rc=$?
  echo "== $name: rc=$rc ($((SECONDS - t0)) s)" | tee -a "$LOG/summary.txt"
  tail -n "${TAIL:-6}" "$LOG/$name.log"
  [ $rc -eq 0 ] || status=1
  return $rc
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$LOG/gpu.txt" 2>&1; cat "$LOG/gpu.txt"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  run build $PY -m pip install -v --no-build-isolation --no-deps . || { tail -60 "$LOG/build.log"; exit 1; }
fi
gtest_src=""
[ -d .carry/googletest ] && gtest_src="-DSGL_GTEST_SOURCE_DIR=$PWD/.carry/googletest"
if [ "${SKIP_BUILD:-0}" = 1 ]; then
  :
elif [ "${SKIP_CTEST:-0}" = 1 ]; then  # build the C++ targets (the sweeps) without running the tests
  run cpp_build bash -c "cmake -S tests/cpp -B build/cpp -G Ninja $gtest_src && cmake --build build/cpp"
else
  run ctest bash -c "cmake -S tests/cpp -B build/cpp -G Ninja $gtest_src && cmake --build build/cpp && cd build/cpp && ctest --output-on-failure"
fi
if [ "${SKIP_SWEEPS:-0}" != 1 ]; then
  # The framework-free launch-shape sweeps behind the kernels' defaults.
  for sweep in ${SWEEPS:-rmsnorm_sweep rope_sweep kvio_sweep}; do
    [ -x build/cpp/$sweep ] && TAIL=80 run $sweep build/cpp/$sweep
  done
fi
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  # Independent test processes share the GPU (pytest-xdist, where installed);
  # the large-tensor tests (several GiB each) run alone afterwards.
  par=""
  $PY -c "import xdist" 2>/dev/null && par="-n 6"
  TAIL=15 run pytest $PY -m pytest -q -rs $par ${TESTS:-tests} -m "not large"
  # (rc 5: TESTS selected no large test)
  TAIL=5 run pytest_large bash -c "$PY -m pytest -q -rs ${TESTS:-tests} -m large; rc=\$?; [ \$rc -eq 5 ] && rc=0; exit \$rc"
fi
if [ "${SKIP_MEMCHECK:-0}" != 1 ]; then
  # Every allocation its own cudaMalloc, so out-of-bounds accesses land outside
  # an allocation. Left out: large-tensor and compile tests (slow), and
  # graph-capture tests (without the caching allocator, an allocation inside a
  # capture invalidates it).
  run memcheck_cpp compute-sanitizer --tool memcheck --error-exitcode 9 build/cpp/sgl_kernel_cpp_tests \
    --gtest_filter="${MEMCHECK_CPP:-*}"
  # One sanitizer process per group of test files, side by side (each is
  # bound by the sanitizer's host-side work, not by the GPU).
  groups=("tests/elementwise tests/test_properties.py" "tests/rope tests/attention" "tests/memory"
          "tests/kvcacheio tests/test_api_contract.py")
  i=0
  for g in "${groups[@]}"; do
    i=$((i + 1))
    [ -n "${MEMCHECK_GROUPS:-}" ] && [[ " $MEMCHECK_GROUPS " != *" $i "* ]] && continue
    ( PYTORCH_NO_CUDA_MEMORY_CACHING=1 compute-sanitizer --tool memcheck --error-exitcode 9 \
        $PY -m pytest -q $g -m "gpu and not large" -k "not compile and not opcheck and not graph" \
        > "$LOG/memcheck_py_$i.log" 2>&1; echo $? > "$LOG/memcheck_py_$i.rc" ) &
  done
  t0=$SECONDS
  wait
  for j in $(seq 1 $i); do
    [ -f "$LOG/memcheck_py_$j.rc" ] || continue
    rc=$(cat "$LOG/memcheck_py_$j.rc")
    echo "== memcheck_py_$j (${groups[$((j - 1))]}): rc=$rc ($((SECONDS - t0)) s)" | tee -a "$LOG/summary.txt"
    tail -n 4 "$LOG/memcheck_py_$j.log"
    [ "$rc" -eq 0 ] || status=1
  done
fi
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  for b in benchmarks/*/bench_*.py; do
    fam=$(basename "$(dirname "$b")")
    [ -n "${BENCHES:-}" ] && [[ " $BENCHES " != *" $fam "* ]] && continue
    TAIL=80 run "bench_$(basename "$b" .py)" $PY "$b" --out "$LOG" "$@"
  done
fi
exit $status
