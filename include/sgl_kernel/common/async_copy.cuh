// Asynchronous global -> shared copies (cp.async, sm_80+): a thread queues
// 16-byte copies that land in shared memory without passing through its
// registers, so a kernel can keep many more bytes in flight than its register
// budget holds (reads over PCIe, whose latency is microseconds). Groups of
// copies are committed and waited for in order. Before sm_80 the copy is a
// plain load and store, and commit / wait do nothing.
#pragma once

#include <cstdint>

#include "sgl_kernel/common/math.cuh"

namespace sgl_kernel {

#ifdef __CUDACC__
// Queues a 16-byte copy; both addresses 16-byte aligned. L2-only caching
// (.cg): the bytes are used once.
SGL_DEVICE void cp_async16(void* smem, const void* gmem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem) : "memory");
#else
  *static_cast<uint4*>(smem) = *static_cast<const uint4*>(gmem);
#endif
}

// Closes the group of copies queued since the last commit (possibly empty).
SGL_DEVICE void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

// Waits until at most N of this thread's committed groups are still in
// flight; the copies of the others are then visible to this thread.
template <int N>
SGL_DEVICE void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}
#endif

}  // namespace sgl_kernel
