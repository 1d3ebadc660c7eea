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
    TORCH_CHECK(!(like).is_cuda(), "sgl_kernel was built without CUDA");           \
    cpu_call;                                                                      \
  } while (0)
#endif

void store_kv_cache(at::Tensor& k_cache, at::Tensor& v_cache, const at::Tensor& out_loc, const at::Tensor& k,
                    const at::Tensor& v) {
  const StoreKVParams p = make_store_kv_params(k_cache, v_cache, out_loc, k, v);
  SGL_ON_DEVICE(k_cache, store_kv_cache_cuda(p, k_cache), store_kv_cache_cpu(p));
}

void downcast_fp8(const at::Tensor& k, const at::Tensor& v, at::Tensor& k_out, at::Tensor& v_out,
                  const at::Tensor& k_scale, const at::Tensor& v_scale, const at::Tensor& loc, int64_t mult,
                  int64_t offset) {
  const DowncastFp8Params p = make_downcast_fp8_params(k, v, k_out, v_out, k_scale, v_scale, loc, mult, offset);
  SGL_ON_DEVICE(k, downcast_fp8_cuda(p, k.scalar_type(), k), downcast_fp8_cpu(p, k.scalar_type()));
}

void concat_mla_k(at::Tensor& k, const at::Tensor& k_nope, const at::Tensor& k_rope) {
  const ConcatParams p = make_concat_params(k, "k", k_nope, "k_nope", k_rope, "k_rope", true);
  SGL_ON_DEVICE(k, concat_cuda(p, k), concat_cpu(p));
}

void concat_mla_absorb_q(const at::Tensor& a, const at::Tensor& b, at::Tensor& out) {
  const ConcatParams p = make_concat_params(out, "out", a, "a", b, "b", false);
  SGL_ON_DEVICE(out, concat_cuda(p, out), concat_cpu(p));
}

void cast(at::Tensor& out, const at::Tensor& input) {
  const CastParams p = make_cast_params(out, input);
  SGL_ON_DEVICE(out, cast_cuda(p, out.scalar_type(), input.scalar_type(), out),
                cast_cpu(p, out.scalar_type(), input.scalar_type()));
}

void timestep_embedding_out(const at::Tensor& t, at::Tensor& output, int64_t dim, bool flip_sin_to_cos,
                            double downscale_freq_shift, double scale, int64_t max_period) {
  const TimestepEmbeddingParams p =
      make_timestep_embedding_params(t, output, dim, flip_sin_to_cos, downscale_freq_shift, scale, max_period);
  SGL_ON_DEVICE(output, timestep_embedding_cuda(p, t.scalar_type(), output),
                timestep_embedding_cpu(p, t.scalar_type()));
}

// Upstream's op returns `output` (our schema marks the alias). torch.compile
// cannot functionalize a custom op whose output aliases an input, so the
// Python function calls timestep_embedding_out (same work, returns nothing).
at::Tensor timestep_embedding(const at::Tensor& t, at::Tensor& output, int64_t dim, bool flip_sin_to_cos,
                              double downscale_freq_shift, double scale, int64_t max_period) {
  timestep_embedding_out(t, output, dim, flip_sin_to_cos, downscale_freq_shift, scale, max_period);
  return output;
}

void copy_to_gpu_no_ce(const at::Tensor& input, at::Tensor& output) {
  check_copy_no_ce(input, output);
  SGL_ON_DEVICE(output, copy_to_gpu_no_ce_cuda(input, output), output.copy_(input));
}

// A second tensor over the same memory without a reference to its storage:
// the caller keeps the original alive (CUDA-graph output buffers).
at::Tensor weak_ref_tensor(const at::Tensor& t) {
  return at::from_blob(t.data_ptr(), t.sizes(), t.strides(), t.options());
}

#undef SGL_ON_DEVICE

}  // namespace
}  // namespace sgl_kernel

TORCH_LIBRARY_FRAGMENT(sgl_kernel, m) {
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
  m.impl("store_kv_cache", &sgl_kernel::store_kv_cache);                \
  m.impl("downcast_fp8", &sgl_kernel::downcast_fp8);                    \
  m.impl("concat_mla_k", &sgl_kernel::concat_mla_k);                    \
  m.impl("concat_mla_absorb_q", &sgl_kernel::concat_mla_absorb_q);      \
  m.impl("cast", &sgl_kernel::cast);                                    \
  m.impl("timestep_embedding", &sgl_kernel::timestep_embedding);        \
  m.impl("timestep_embedding_out", &sgl_kernel::timestep_embedding_out); \
  m.impl("copy_to_gpu_no_ce", &sgl_kernel::copy_to_gpu_no_ce);          \
  m.impl("weak_ref_tensor", &sgl_kernel::weak_ref_tensor)

TORCH_LIBRARY_IMPL(sgl_kernel, CPU, m) { SGL_MEMORY_IMPLS(m); }

#ifdef SGL_KERNEL_WITH_CUDA
TORCH_LIBRARY_IMPL(sgl_kernel, CUDA, m) { SGL_MEMORY_IMPLS(m); }
#endif
