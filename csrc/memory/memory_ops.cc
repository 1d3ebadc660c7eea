// Schemas and backend registrations of the memory family (KV-cache stores,
// fp8 downcast, concatenations, casts, copy without the copy engine, weak
// references, timestep embedding). Each op checks its arguments once
// (memory_checks.cc) and hands the params to the backend of its device.
#include "common/torch_utils.h"
#include "memory/memory.h"

namespace sgl_kernel {
namespace {

#ifdef SGL_KERNEL_WITH_CUDA
#define SGL_ON_DEVICE(like, cuda_call, cpu_call) \
  do {                                           \
    if ((like).is_cuda()) {                      \
      cuda_call;                                 \
    } else {                                     \
      cpu_call;                                  \
    }                                            \
  } while (0)
#else
#define SGL_ON_DEVICE(like, cuda_call, cpu_call)                                   \
  do {                                                                             \
    SGL_CHECK(!(like).is_cuda(), "sgl_kernel was built without CUDA");           \
    cpu_call;                                                                      \
  } while (0)
#endif

void store_kv_cache(Tensor& k_cache, Tensor& v_cache, const Tensor& out_loc, const Tensor& k,
                    const Tensor& v) {
  const StoreKVParams p = make_store_kv_params(k_cache, v_cache, out_loc, k, v);
  SGL_ON_DEVICE(k_cache, store_kv_cache_cuda(p, k_cache), store_kv_cache_cpu(p));
}

void downcast_fp8(const Tensor& k, const Tensor& v, Tensor& k_out, Tensor& v_out,
                  const Tensor& k_scale, const Tensor& v_scale, const Tensor& loc, int64_t mult,
                  int64_t offset) {
  const DowncastFp8Params p = make_downcast_fp8_params(k, v, k_out, v_out, k_scale, v_scale, loc, mult, offset);
  SGL_ON_DEVICE(k, downcast_fp8_cuda(p, k.scalar_type(), k), downcast_fp8_cpu(p, k.scalar_type()));
}

void concat_mla_k(Tensor& k, const Tensor& k_nope, const Tensor& k_rope) {
  const ConcatParams p = make_concat_params(k, "k", k_nope, "k_nope", k_rope, "k_rope", true);
  SGL_ON_DEVICE(k, concat_cuda(p, k), concat_cpu(p));
}

void concat_mla_absorb_q(const Tensor& a, const Tensor& b, Tensor& out) {
  const ConcatParams p = make_concat_params(out, "out", a, "a", b, "b", false);
  SGL_ON_DEVICE(out, concat_cuda(p, out), concat_cpu(p));
}

void cast(Tensor& out, const Tensor& input) {
  const CastParams p = make_cast_params(out, input);
  SGL_ON_DEVICE(out, cast_cuda(p, out.scalar_type(), input.scalar_type(), out),
                cast_cpu(p, out.scalar_type(), input.scalar_type()));
}

void timestep_embedding_out(const Tensor& t, Tensor& output, int64_t dim, bool flip_sin_to_cos,
                            double downscale_freq_shift, double scale, int64_t max_period) {
  const TimestepEmbeddingParams p =
      make_timestep_embedding_params(t, output, dim, flip_sin_to_cos, downscale_freq_shift, scale, max_period);
  SGL_ON_DEVICE(output, timestep_embedding_cuda(p, t.scalar_type(), output),
                timestep_embedding_cpu(p, t.scalar_type()));
}

// Upstream's op returns `output` (our schema marks the alias). torch.compile
// cannot functionalize a custom op whose output aliases an input, so the
// Python function calls timestep_embedding_out (same work, returns nothing).
Tensor timestep_embedding(const Tensor& t, Tensor& output, int64_t dim, bool flip_sin_to_cos,
                              double downscale_freq_shift, double scale, int64_t max_period) {
  timestep_embedding_out(t, output, dim, flip_sin_to_cos, downscale_freq_shift, scale, max_period);
  return output;
}

void copy_to_gpu_no_ce(const Tensor& input, Tensor& output) {
  check_copy_no_ce(input, output);
  SGL_ON_DEVICE(output, copy_to_gpu_no_ce_cuda(input, output), torch::stable::copy_(output, input));
}

// A second tensor over the same memory without a reference to its storage:
// the caller keeps the original alive (CUDA-graph output buffers).
Tensor weak_ref_tensor(const Tensor& t) {
  return torch::stable::from_blob(t.data_ptr(), t.sizes(), t.strides(), t.device(), t.scalar_type());
}

#undef SGL_ON_DEVICE

}  // namespace
}  // namespace sgl_kernel

STABLE_TORCH_LIBRARY_FRAGMENT(sgl_kernel, m) {
  m.def("store_kv_cache(Tensor(a!) k_cache, Tensor(b!) v_cache, Tensor out_loc, Tensor k, Tensor v) -> ()");
  m.def(
      "downcast_fp8(Tensor k, Tensor v, Tensor(a!) k_out, Tensor(b!) v_out, Tensor k_scale, Tensor v_scale, "
      "Tensor loc, int mult, int offset) -> ()");
  m.def("concat_mla_k(Tensor(a!) k, Tensor k_nope, Tensor k_rope) -> ()");
  m.def("concat_mla_absorb_q(Tensor a, Tensor b, Tensor(a!) out) -> ()");
  m.def("cast(Tensor(a!) out, Tensor input) -> ()");
  m.def(
      "timestep_embedding(Tensor input, Tensor(a!) output, int dim, bool flip_sin_to_cos, "
      "float downscale_freq_shift, float scale, int max_period) -> Tensor(a!)");
  m.def(
      "timestep_embedding_out(Tensor input, Tensor(a!) output, int dim, bool flip_sin_to_cos, "
      "float downscale_freq_shift, float scale, int max_period) -> ()");
  m.def("copy_to_gpu_no_ce(Tensor input, Tensor(a!) output) -> ()");
  m.def("weak_ref_tensor(Tensor tensor) -> Tensor");
}

#define SGL_MEMORY_IMPLS(m)                                             \
  m.impl("store_kv_cache", TORCH_BOX((&sgl_kernel::store_kv_cache)));                \
  m.impl("downcast_fp8", TORCH_BOX((&sgl_kernel::downcast_fp8)));                    \
  m.impl("concat_mla_k", TORCH_BOX((&sgl_kernel::concat_mla_k)));                    \
  m.impl("concat_mla_absorb_q", TORCH_BOX((&sgl_kernel::concat_mla_absorb_q)));      \
  m.impl("cast", TORCH_BOX((&sgl_kernel::cast)));                                    \
  m.impl("timestep_embedding", TORCH_BOX((&sgl_kernel::timestep_embedding)));        \
  m.impl("timestep_embedding_out", TORCH_BOX((&sgl_kernel::timestep_embedding_out))); \
  m.impl("copy_to_gpu_no_ce", TORCH_BOX((&sgl_kernel::copy_to_gpu_no_ce)));          \
  m.impl("weak_ref_tensor", TORCH_BOX((&sgl_kernel::weak_ref_tensor)))

STABLE_TORCH_LIBRARY_IMPL(sgl_kernel, CPU, m) { SGL_MEMORY_IMPLS(m); }

#ifdef SGL_KERNEL_WITH_CUDA
STABLE_TORCH_LIBRARY_IMPL(sgl_kernel, CUDA, m) { SGL_MEMORY_IMPLS(m); }
#endif
