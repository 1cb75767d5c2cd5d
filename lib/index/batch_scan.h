// Exact search of many queries in one pass over the vectors (Index::SearchBatch with
// `exact`), as a blocked matrix product: rows are packed in blocks that stay in cache,
// and each block is compared with 256 queries at a time by the tile kernels
// (Kernels::l2_sqr_tile / dot_tile, 32 queries per vector register column), so every
// vector is read from memory once per block of queries instead of once per query, and
// no horizontal sums are needed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

#include "index/kernels.h"
#include "index/top_k.h"
#include "vectron/index.h"

namespace vectron {

// The k nearest of `n` rows to each query (nq rows of `dim` floats in `queries`):
// `row(r)` is row r's vector; `keep(r)` says whether it may be returned and `label(r)`
// what it is returned as (both asked only of rows that would enter a top k, at most once
// per row and pass of 256 queries, so they may be costly). Distances as the index's: squared L2 if `l2`, else 1 - dot.
template <class Row, class Keep, class Label>
std::vector<std::vector<Neighbor>> BatchScan(std::span<const float> queries, size_t dim, size_t k, bool l2, size_t n,
                                             const Row& row, const Keep& keep, const Label& label) {
  const size_t nq = dim ? queries.size() / dim : 0;
  std::vector<std::vector<Neighbor>> out(nq);
  if (k == 0 || nq == 0) return out;
  std::vector<TopK> tops(nq, TopK(k));
  std::vector<float> thr(nq, tops[0].Threshold());  // tops[j].Threshold(), kept in step.
  const Kernels& kern = ActiveKernels();
  const auto tile = l2 ? kern.l2_sqr_tile : kern.dot_tile;
  // The queries transposed (element i of query j at i * ldq + j), padded with zeros to
  // whole tile columns; the padding's results are not read.
  const size_t ldq = (nq + kTileQueries - 1) / kTileQueries * kTileQueries;
  std::vector<float> qt(dim * ldq, 0.0f);
  for (size_t j = 0; j < nq; ++j)
    for (size_t i = 0; i < dim; ++i) qt[i * ldq + j] = queries[j * dim + i];
  // About 128 KB of rows per block and 256 queries per pass: the block, one column of
  // the queries and the block's results stay within this machine's 2 MB of L2 per core.
  constexpr size_t kGroup = 256;
  static_assert(kGroup % kTileQueries == 0);
  const size_t block = std::clamp<size_t>(32768 / dim, 4, 256);
  std::vector<float> packed(block * dim);
  std::vector<float> dist(block * kGroup);
  for (size_t r0 = 0; r0 < n; r0 += block) {
    const size_t m = std::min(n, r0 + block) - r0;
    for (size_t r = 0; r < m; ++r) {
      if (r + 4 < m) __builtin_prefetch(row(r0 + r + 4));
      std::memcpy(packed.data() + r * dim, row(r0 + r), dim * sizeof(float));
    }
    for (size_t g0 = 0; g0 < ldq; g0 += kGroup) {
      const size_t w = std::min(kGroup, ldq - g0);  // A whole number of tile columns.
      tile(packed.data(), m, dim, qt.data() + g0, ldq, w, dist.data(), w);
      const size_t cnt = std::min(w, nq - g0);
      if (!l2)
        for (size_t e = 0; e < m * w; ++e) dist[e] = 1.0f - dist[e];
      for (size_t r = 0; r < m; ++r) {
        const float* d = dist.data() + r * w;
        // Most rows enter no query's top k once the tops have filled: one branch-free
        // comparison with the thresholds (vectorized) decides that for the whole row.
        bool any = false;
        for (size_t j = 0; j < cnt; ++j) any |= d[j] <= thr[g0 + j];
        if (!any) continue;
        if (!keep(r0 + r)) continue;
        const uint64_t lab = label(r0 + r);
        for (size_t j = 0; j < cnt; ++j)
          if (d[j] <= thr[g0 + j]) {  // Push keeps only what beats its k-th (an infinite distance too, until full).
            tops[g0 + j].Push(lab, d[j]);
            thr[g0 + j] = tops[g0 + j].Threshold();
          }
      }
    }
  }
  for (size_t i = 0; i < nq; ++i) out[i] = tops[i].Take();
  return out;
}

}  // namespace vectron
