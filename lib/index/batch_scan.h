// Exact search of many queries in one pass over the vectors (Index::SearchBatch with
// `exact`): rows are taken in blocks that stay in cache, and each block is compared
// with the queries four at a time (Kernels::l2_sqr_x4 / dot_x4), so every vector is
// read from memory once per block of queries instead of once per query.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "index/kernels.h"
#include "index/top_k.h"
#include "vectron/index.h"

namespace vectron {

// The k nearest of `n` rows to each query (nq rows of `dim` floats in `queries`):
// `row(r)` is row r's vector; `keep(r)` says whether it may be returned and `label(r)`
// what it is returned as (both asked only of rows that would enter a top k, so they
// may be costly). Distances as the index's: squared L2 if `l2`, else 1 - dot.
template <class Row, class Keep, class Label>
std::vector<std::vector<Neighbor>> BatchScan(std::span<const float> queries, size_t dim, size_t k, bool l2, size_t n,
                                             const Row& row, const Keep& keep, const Label& label) {
  const size_t nq = dim ? queries.size() / dim : 0;
  std::vector<std::vector<Neighbor>> out(nq);
  if (k == 0 || nq == 0) return out;
  std::vector<TopK> tops(nq, TopK(k));
  const Kernels& kern = ActiveKernels();
  // 256 rows of up to 1,536 floats stay within this machine's 2 MB of L2 per core.
  constexpr size_t kRows = 256;
  for (size_t r0 = 0; r0 < n; r0 += kRows) {
    const size_t r1 = std::min(n, r0 + kRows);
    for (size_t g = 0; g < nq; g += 4) {
      const size_t m = std::min<size_t>(4, nq - g);
      const float* q[4];
      for (size_t j = 0; j < 4; ++j) q[j] = queries.data() + (g + std::min(j, m - 1)) * dim;
      for (size_t r = r0; r < r1; ++r) {
        if (g == 0 && r + 4 < r1) __builtin_prefetch(row(r + 4));
        float d[4];
        const float* x = row(r);
        if (l2) {
          kern.l2_sqr_x4(x, q, dim, d);
        } else {
          kern.dot_x4(x, q, dim, d);
          for (float& v : d) v = 1.0f - v;
        }
        for (size_t j = 0; j < m; ++j)
          if (tops[g + j].Accepts(d[j]) && keep(r)) tops[g + j].Push(label(r), d[j]);
      }
    }
  }
  for (size_t i = 0; i < nq; ++i) out[i] = tops[i].Take();
  return out;
}

}  // namespace vectron
