// CPU implementation of the memory family: the semantic oracle for the CUDA
// kernels (same params; copies are bitwise, conversions round to nearest even
// and fp8 saturates like CUDA's satfinite conversion).
#include <cmath>
#include <cstring>


#include "common/torch_utils.h"
#include "memory/memory.h"

namespace sgl_kernel {

uint8_t fp8_e4m3_bits(float x) {
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  const float a = std::fabs(x);
  if (std::isnan(x)) return sign | 0x7f;
  if (a >= 448.f) return sign | 0x7e;  // saturate (inf included), never NaN
  if (a < 0.015625f) {
    // Below the smallest normal (2^-6) the grid step is 2^-9; the scaling is
    // exact and 8 steps encode 2^-6 itself (exponent field 1, mantissa 0).
    return sign | static_cast<uint8_t>(std::nearbyint(a * 512.f));
  }
  int e = 0;
  const float m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  int q = static_cast<int>(std::nearbyint(m * 16.f));  // 1.xxx in eighths: [8, 16]
  int exp = e - 1;
  if (q == 16) {
    q = 8;
    ++exp;
  }
  if (exp > 8 || (exp == 8 && q > 14)) return sign | 0x7e;
  return sign | static_cast<uint8_t>(((exp + 7) << 3) | (q - 8));
}

namespace {

int64_t load_index(const void* idx, bool is_int64, int64_t i) {
  return is_int64 ? static_cast<const int64_t*>(idx)[i] : static_cast<int64_t>(static_cast<const int32_t*>(idx)[i]);
}

// Runs f(TypeTag<T>{}) with T the CPU element type of a castable dtype.
template <class F>
void with_cast_type(ScalarType st, const char* name, F&& f) {
  switch (st) {
    case kFloat: f(TypeTag<float>{}); return;
    case kHalf: f(TypeTag<Half>{}); return;
    case kBFloat16: f(TypeTag<BFloat16>{}); return;
    case kFloat8_e4m3fn: f(TypeTag<Float8_e4m3fn>{}); return;
    default: break;
  }
  SGL_CHECK_TYPE(false, name, " must have dtype in {float32, float16, bfloat16, float8_e4m3fn}, got ", st);
}

template <class Out>
Out from_float_cpu(float x) {
  if constexpr (std::is_same_v<Out, Float8_e4m3fn>) {
    return Float8_e4m3fn(fp8_e4m3_bits(x), Float8_e4m3fn::from_bits());
  } else {
    return static_cast<Out>(x);
  }
}

template <class In, class Out>
void cast_rows(const CastParams& p) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, p.cols));
  torch::stable::parallel_for(0, p.rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const In* in = static_cast<const In*>(p.in) + r * p.in_stride;
      Out* out = static_cast<Out*>(p.out) + r * p.out_stride;
      if constexpr (std::is_same_v<In, Out>) {
        std::memcpy(out, in, p.cols * sizeof(In));
      } else {
        for (int64_t j = 0; j < p.cols; ++j) out[j] = from_float_cpu<Out>(static_cast<float>(in[j]));
      }
    }
  });
}

template <class T>
void downcast_rows(const DowncastFp8Params& p) {
  const float k_scale = *p.k_scale, v_scale = *p.v_scale;
  torch::stable::parallel_for(0, p.tokens, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t row = load_index(p.loc, p.loc_int64, t * p.loc_stride) * p.mult + p.offset;
      for (int64_t h = 0; h < p.heads; ++h) {
        const T* k = static_cast<const T*>(p.k) + t * p.k_stride_t + h * p.k_stride_h;
        const T* v = static_cast<const T*>(p.v) + t * p.v_stride_t + h * p.v_stride_h;
        uint8_t* ko = static_cast<uint8_t*>(p.k_out) + row * p.ko_stride_t + h * p.ko_stride_h;
        uint8_t* vo = static_cast<uint8_t*>(p.v_out) + row * p.vo_stride_t + h * p.vo_stride_h;
        for (int64_t j = 0; j < p.dim; ++j) {
          ko[j] = fp8_e4m3_bits(static_cast<float>(k[j]) / k_scale);
          vo[j] = fp8_e4m3_bits(static_cast<float>(v[j]) / v_scale);
        }
      }
    }
  });
}

template <class T>
void timestep_rows(const TimestepEmbeddingParams& p) {
  const int64_t half = p.dim / 2;
  const float denom = static_cast<float>(half) - p.downscale_freq_shift;
  std::vector<float> freq(half);
  for (int64_t j = 0; j < half; ++j) freq[j] = std::exp(-p.log_max_period * static_cast<float>(j) / denom);
  torch::stable::parallel_for(0, p.n, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, p.dim)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float tv = static_cast<float>(static_cast<const T*>(p.t)[r * p.t_stride]);
      float* out = p.out + r * p.out_stride;
      for (int64_t j = 0; j < half; ++j) {
        const float arg = tv * freq[j] * p.scale;
        const float s = std::sin(arg), c = std::cos(arg);
        out[j] = p.flip_sin_to_cos ? c : s;
        out[j + half] = p.flip_sin_to_cos ? s : c;
      }
      if (p.dim & 1) out[p.dim - 1] = 0.f;
    }
  });
}

}  // namespace

void store_kv_cache_cpu(const StoreKVParams& p) {
  for (int64_t t = 0; t < p.tokens; ++t) {
    const int64_t slot = load_index(p.loc, p.loc_int64, t * p.loc_stride);
    SGL_CHECK_VALUE(slot >= 0 && slot < p.cache_rows, "out_loc[", t, "] = ", slot, " is outside the cache [0, ",
                      p.cache_rows, ")");
  }
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, p.k_row_bytes + p.v_row_bytes));
  torch::stable::parallel_for(0, p.tokens, grain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t slot = load_index(p.loc, p.loc_int64, t * p.loc_stride);
      std::memcpy(static_cast<char*>(p.k_cache) + slot * p.k_cache_stride,
                  static_cast<const char*>(p.k) + t * p.k_stride, p.k_row_bytes);
      std::memcpy(static_cast<char*>(p.v_cache) + slot * p.v_cache_stride,
                  static_cast<const char*>(p.v) + t * p.v_stride, p.v_row_bytes);
    }
  });
}

void concat_cpu(const ConcatParams& p) {
  const int64_t rows = p.outer * p.inner;
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, p.a_bytes + p.b_bytes));
  torch::stable::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t o = r / p.inner, i = r % p.inner;
      char* out = static_cast<char*>(p.out) + o * p.out_stride_outer + i * p.out_stride_inner;
      std::memcpy(out, static_cast<const char*>(p.a) + o * p.a_stride_outer + i * p.a_stride_inner, p.a_bytes);
      std::memcpy(out + p.a_bytes, static_cast<const char*>(p.b) + o * p.b_stride_outer + i * p.b_stride_inner,
                  p.b_bytes);
    }
  });
}

void cast_cpu(const CastParams& p, ScalarType out_dtype, ScalarType in_dtype) {
  with_cast_type(in_dtype, "input", [&](auto in_tag) {
    with_cast_type(out_dtype, "out", [&](auto out_tag) {
      cast_rows<typename decltype(in_tag)::type, typename decltype(out_tag)::type>(p);
    });
  });
}

void downcast_fp8_cpu(const DowncastFp8Params& p, ScalarType dtype) {
  for (int64_t t = 0; t < p.tokens; ++t) {
    const int64_t slot = load_index(p.loc, p.loc_int64, t * p.loc_stride);
    const int64_t row = slot * p.mult + p.offset;
    SGL_CHECK_VALUE(row >= 0 && row < p.out_rows, "loc[", t, "] * mult + offset = ", slot, " * ", p.mult, " + ",
                      p.offset, " = ", row, " is outside k_out's rows [0, ", p.out_rows, ")");
  }
  dispatch_or_throw<float, Half, BFloat16>(dtype, "k", [&](auto tag) {
    downcast_rows<typename decltype(tag)::type>(p);
  });
}

void timestep_embedding_cpu(const TimestepEmbeddingParams& p, ScalarType t_dtype) {
  switch (t_dtype) {
    case kFloat: return timestep_rows<float>(p);
    case kHalf: return timestep_rows<Half>(p);
    case kBFloat16: return timestep_rows<BFloat16>(p);
    case kDouble: return timestep_rows<double>(p);
    case kInt: return timestep_rows<int32_t>(p);
    case kLong: return timestep_rows<int64_t>(p);
    default: break;
  }
  SGL_CHECK_TYPE(false, "t: unsupported dtype ", t_dtype);
}

}  // namespace sgl_kernel
