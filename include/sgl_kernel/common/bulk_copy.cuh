// Hopper bulk copies (the Tensor Memory Accelerator without a tensor map:
// PTX cp.async.bulk) between global and shared memory, and the mbarrier that
// signals their completion. One thread issues a copy of up to the whole
// shared-memory buffer; the copy runs on its own while the thread goes on.
// Sizes are multiples of 16 bytes, addresses 16-byte aligned (the callers
// check). sm_90+ only: on older targets these compile to nothing and callers
// must not take the bulk path there (bulk_copy_supported()).
#pragma once

#include <cstdint>

#include "sgl_kernel/common/math.cuh"

namespace sgl_kernel {

#ifdef __CUDACC__
SGL_DEVICE constexpr bool bulk_copy_supported() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  return true;
#else
  return false;
#endif
}

SGL_DEVICE uint32_t smem_addr(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

// Initialise a barrier that completes a phase after one arrival plus the
// bytes announced by that arrival; visible to the bulk-copy unit afterwards.
SGL_DEVICE void mbar_init(uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(smem_addr(bar)) : "memory");
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
#endif
}

// Copy `bytes` from global `src` to shared `dst`; `bar` completes its current
// phase when they have landed.
SGL_DEVICE void bulk_load(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(smem_addr(dst)),
      "l"(__cvta_generic_to_global(src)), "r"(bytes), "r"(smem_addr(bar))
      : "memory");
#endif
}

// Wait until `bar` has completed the phase of parity `parity`.
SGL_DEVICE void mbar_wait(uint64_t* bar, uint32_t parity) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  uint32_t done = 0;
  while (!done) {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}"
        : "=r"(done)
        : "r"(smem_addr(bar)), "r"(parity)
        : "memory");
  }
#endif
}

// Copy `bytes` from shared `src` to global `dst` as part of the current bulk
// group (bulk_commit closes it).
SGL_DEVICE void bulk_store(void* dst, const void* src, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;" ::"l"(__cvta_generic_to_global(dst)),
               "r"(smem_addr(src)), "r"(bytes)
               : "memory");
#endif
}

SGL_DEVICE void bulk_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("cp.async.bulk.commit_group;" ::: "memory");
#endif
}

// Wait until at most N of this thread's bulk groups still read shared memory.
template <int N>
SGL_DEVICE void bulk_wait_read() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("cp.async.bulk.wait_group.read %0;" ::"n"(N) : "memory");
#endif
}

// Wait until all of this thread's bulk groups have completed (writes done).
SGL_DEVICE void bulk_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("cp.async.bulk.wait_group 0;" ::: "memory");
#endif
}
#endif  // __CUDACC__

}  // namespace sgl_kernel
