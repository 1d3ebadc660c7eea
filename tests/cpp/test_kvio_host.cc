// Host-side tests of transfer.h's side builders: the strides each builds
// address every (token, layer, head) of upstream's pool shapes exactly where
// a row-major array of that shape has it (the kernels and the CPU backend
// read only these strides).
#include <gtest/gtest.h>

#include <cstdint>

#include "sgl_kernel/kvcacheio/transfer.h"

using namespace sgl_kernel;

namespace {

// Byte offset from base[0] of head piece h of (token t, layer l) on side s,
// by transfer.h's formula (no runs).
int64_t offset(const KVSide& s, int64_t item, int64_t heads, int64_t t, int64_t l, int64_t h) {
  return (s.layer_offset + l) * s.layer_stride + t / s.page_size * s.page_stride + t % s.page_size * s.slot_stride +
         h * kv_head_stride(s, item, heads);
}

TEST(KVSideBuilders, PageHeadIsUpstreamsShape) {
  // [pages, heads, page_size, layers, head_dim] of 2-byte elements.
  for (int64_t page : {1, 4, 16}) {
    constexpr int64_t kHeads = 3, kLayers = 5, kDim = 8, kElem = 2, kPages = 3;
    const int64_t item = kHeads * kDim * kElem, layout_dim = kLayers * item;
    for (int64_t layer_id : {0, 2}) {
      const KVSide s = kv_page_head_side(nullptr, nullptr, item, layout_dim, page, kHeads, layer_id);
      for (int64_t t = 0; t < kPages * page; ++t)
        for (int64_t l = 0; l + layer_id < kLayers; ++l)
          for (int64_t h = 0; h < kHeads; ++h) {
            const int64_t element = (((t / page * kHeads + h) * page + t % page) * kLayers + l + layer_id) * kDim;
            ASSERT_EQ(offset(s, item, kHeads, t, l, h), element * kElem)
                << "page " << page << " token " << t << " layer " << l << " head " << h;
          }
    }
  }
}

TEST(KVSideBuilders, PageFirstDirectIsUpstreamsShape) {
  // [pages, layers, page_size, heads, head_dim]; one piece an item.
  for (int64_t page : {1, 16}) {
    constexpr int64_t kLayers = 4, kRow = 96, kPages = 3;
    const KVSide s = kv_page_first_direct_side(nullptr, nullptr, kRow, kLayers, page, 1);
    EXPECT_TRUE(s.page_runs);
    for (int64_t t = 0; t < kPages * page; ++t)
      for (int64_t l = 0; l + 1 < kLayers; ++l)
        ASSERT_EQ(offset(s, kRow, 1, t, l, 0), ((t / page * kLayers + l + 1) * page + t % page) * kRow);
  }
}

TEST(KVSideBuilders, PageFirstAndLayerFirst) {
  const KVSide pf = kv_page_first_side(nullptr, nullptr, 64, 4 * 64 + 32, 1);  // rows padded past the layers
  EXPECT_EQ(offset(pf, 64, 1, 7, 2, 0), 7 * (4 * 64 + 32) + 3 * 64);
  EXPECT_EQ(offset(pf, 64, 4, 7, 2, 3), 7 * (4 * 64 + 32) + 3 * 64 + 3 * 16);  // pieces contiguous
  const KVSide lf = kv_layer_first_side(nullptr, nullptr, 64);
  EXPECT_EQ(offset(lf, 64, 1, 9, 0, 0), 9 * 64);
  EXPECT_EQ(lf.layer_stride, 0);  // one buffer per layer
}

}  // namespace
