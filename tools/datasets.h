// Readers for vector files: fvecs/ivecs (TexMex), .npy (float32, C order), and JSONL
// ({"id", "vector", "metadata"} per line). Streaming, so imports need not fit in memory.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron::tools {

struct Matrix {
  size_t rows = 0;
  uint32_t dim = 0;
  std::vector<float> data;  // row-major
};

struct IntMatrix {
  size_t rows = 0;
  uint32_t dim = 0;
  std::vector<int32_t> data;
};

// Whole-file readers (benchmarks). `max_rows` 0 = all.
Result<Matrix> ReadFvecs(const std::string& path, size_t max_rows = 0);
Result<IntMatrix> ReadIvecs(const std::string& path, size_t max_rows = 0);

// A stream of points from a file, read in batches.
class PointSource {
 public:
  virtual ~PointSource() = default;
  // Appends up to `max` points to `batch`; returns how many (0 at the end).
  // Errors: InvalidArgument naming the line/row and problem.
  virtual Result<size_t> Next(WriteBatch& batch, size_t max) = 0;
  virtual uint64_t total() const = 0;  // Rows in the file, or 0 if unknown.
  virtual uint32_t dim() const = 0;    // 0 until known.
};

// format: "fvecs", "npy", "jsonl", or "" to pick by file extension. Rows of fvecs/npy
// get ids "<id_prefix><row>".
Result<std::unique_ptr<PointSource>> OpenPointSource(const std::string& path, std::string format,
                                                     const std::string& id_prefix);

}  // namespace vectron::tools
