#include "datasets.h"

#include <sys/stat.h>

#include <charconv>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace vectron::tools {
namespace {

struct FileCloser {
  void operator()(FILE* f) const { if (f) std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

Result<File> OpenFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status::NotFound("cannot open " + path + ": " + std::strerror(errno));
  return File(f);
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

template <typename T, typename M>
Result<M> ReadVecs(const std::string& path, size_t max_rows) {
  VECTRON_ASSIGN_OR_RETURN(File f, OpenFile(path));
  M m;
  int32_t d;
  while (std::fread(&d, 4, 1, f.get()) == 1) {
    if (d <= 0 || d > 1 << 16) return Status::InvalidArgument(path + ": bad dimension " + std::to_string(d) + " at row " + std::to_string(m.rows));
    if (m.rows == 0) {
      m.dim = static_cast<uint32_t>(d);
      uint64_t rows = FileSize(path) / (4 + 4ull * m.dim);
      m.data.reserve((max_rows ? std::min<uint64_t>(rows, max_rows) : rows) * m.dim);
    } else if (static_cast<uint32_t>(d) != m.dim) {
      return Status::InvalidArgument(path + ": row " + std::to_string(m.rows) + " has dimension " + std::to_string(d));
    }
    size_t off = m.data.size();
    m.data.resize(off + m.dim);
    if (std::fread(m.data.data() + off, sizeof(T), m.dim, f.get()) != m.dim)
      return Status::InvalidArgument(path + ": truncated at row " + std::to_string(m.rows));
    if (++m.rows == max_rows) break;
  }
  if (m.rows == 0) return Status::InvalidArgument(path + ": no vectors");
  return m;
}

class FvecsSource final : public PointSource {
 public:
  FvecsSource(File f, uint32_t dim, uint64_t total, std::string prefix)
      : f_(std::move(f)), dim_(dim), total_(total), prefix_(std::move(prefix)), row_(dim) {}
  Result<size_t> Next(WriteBatch& batch, size_t max) override {
    size_t n = 0;
    int32_t d;
    while (n < max && std::fread(&d, 4, 1, f_.get()) == 1) {
      if (static_cast<uint32_t>(d) != dim_)
        return Status::InvalidArgument("fvecs row " + std::to_string(next_) + " has dimension " + std::to_string(d) +
                                       ", expected " + std::to_string(dim_));
      if (std::fread(row_.data(), 4, dim_, f_.get()) != dim_)
        return Status::InvalidArgument("fvecs file is truncated at row " + std::to_string(next_));
      batch.Upsert(prefix_ + std::to_string(next_++), row_);
      ++n;
    }
    return n;
  }
  uint64_t total() const override { return total_; }
  uint32_t dim() const override { return dim_; }

 private:
  File f_;
  uint32_t dim_;
  uint64_t total_, next_ = 0;
  std::string prefix_;
  std::vector<float> row_;
};

class NpySource final : public PointSource {
 public:
  NpySource(File f, uint32_t dim, uint64_t rows, std::string prefix)
      : f_(std::move(f)), dim_(dim), rows_(rows), prefix_(std::move(prefix)), row_(dim) {}
  Result<size_t> Next(WriteBatch& batch, size_t max) override {
    size_t n = 0;
    while (n < max && next_ < rows_) {
      if (std::fread(row_.data(), 4, dim_, f_.get()) != dim_)
        return Status::InvalidArgument("npy file is truncated at row " + std::to_string(next_));
      batch.Upsert(prefix_ + std::to_string(next_++), row_);
      ++n;
    }
    return n;
  }
  uint64_t total() const override { return rows_; }
  uint32_t dim() const override { return dim_; }

 private:
  File f_;
  uint32_t dim_;
  uint64_t rows_, next_ = 0;
  std::string prefix_;
  std::vector<float> row_;
};

class JsonlSource final : public PointSource {
 public:
  explicit JsonlSource(std::ifstream in) : in_(std::move(in)) {}
  Result<size_t> Next(WriteBatch& batch, size_t max) override {
    size_t n = 0;
    std::string line;
    while (n < max && std::getline(in_, line)) {
      ++line_no_;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto where = [&](const std::string& what) {
        return Status::InvalidArgument("line " + std::to_string(line_no_) + ": " + what);
      };
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) return where("not a JSON object");
      if (!j.contains("id") || !(j["id"].is_string() || j["id"].is_number_integer()))
        return where("\"id\" must be a string or integer");
      std::string id = j["id"].is_string() ? j["id"].get<std::string>() : j["id"].dump();
      if (!j.contains("vector") || !j["vector"].is_array()) return where("\"vector\" must be an array of numbers");
      row_.clear();
      for (const auto& x : j["vector"]) {
        if (!x.is_number()) return where("\"vector\" must be an array of numbers");
        row_.push_back(x.get<float>());
      }
      if (dim_ == 0) dim_ = static_cast<uint32_t>(row_.size());
      std::string meta;
      if (j.contains("metadata") && !j["metadata"].is_null()) {
        if (!j["metadata"].is_object()) return where("\"metadata\" must be an object");
        meta = j["metadata"].dump();
      }
      batch.Upsert(std::move(id), row_, std::move(meta));
      ++n;
    }
    return n;
  }
  uint64_t total() const override { return 0; }
  uint32_t dim() const override { return dim_; }

 private:
  std::ifstream in_;
  uint64_t line_no_ = 0;
  uint32_t dim_ = 0;
  std::vector<float> row_;
};


// The shape of a 2-D .npy header, "'shape': (ROWS, DIM)". False if it is missing, not
// 2-D, or a number does not fit (no std::regex: GCC 12 warns inside <regex> under ASan,
// GCC bug 105616, and std::stoull would throw on a huge number).
bool ParseShape2D(const std::string& header, uint64_t* rows, uint32_t* dim) {
  static const std::string kKey = "'shape': (";
  const size_t at = header.find(kKey);
  if (at == std::string::npos) return false;
  const char* s = header.data() + at + kKey.size();
  const char* end = header.data() + header.size();
  auto r = std::from_chars(s, end, *rows);
  if (r.ec != std::errc() || r.ptr == s || end - r.ptr < 2 || r.ptr[0] != ',' || r.ptr[1] != ' ') return false;
  s = r.ptr + 2;
  auto d = std::from_chars(s, end, *dim);
  return d.ec == std::errc() && d.ptr != s && d.ptr < end && *d.ptr == ')';
}
Result<std::unique_ptr<PointSource>> OpenNpy(const std::string& path, const std::string& prefix) {
  VECTRON_ASSIGN_OR_RETURN(File f, OpenFile(path));
  char magic[8];
  if (std::fread(magic, 1, 8, f.get()) != 8 || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    return Status::InvalidArgument(path + " is not a .npy file");
  uint32_t header_len = 0;
  unsigned char lenb[4] = {0, 0, 0, 0};
  size_t lb = magic[6] == 1 ? 2 : 4;
  if (std::fread(lenb, 1, lb, f.get()) != lb) return Status::InvalidArgument(path + ": truncated header");
  header_len = lenb[0] | (lenb[1] << 8) | (lb == 4 ? (lenb[2] << 16) | (lenb[3] << 24) : 0);
  std::string header(header_len, '\0');
  if (std::fread(header.data(), 1, header_len, f.get()) != header_len) return Status::InvalidArgument(path + ": truncated header");
  if (header.find("'descr': '<f4'") == std::string::npos)
    return Status::InvalidArgument(path + ": only little-endian float32 arrays ('<f4') are supported");
  if (header.find("'fortran_order': False") == std::string::npos)
    return Status::InvalidArgument(path + ": Fortran-order arrays are not supported");
  uint64_t rows = 0;
  uint32_t dim = 0;
  if (!ParseShape2D(header, &rows, &dim)) return Status::InvalidArgument(path + ": array must be 2-D (rows, dim)");
  return std::unique_ptr<PointSource>(std::make_unique<NpySource>(std::move(f), dim, rows, prefix));
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Result<Matrix> ReadFvecs(const std::string& path, size_t max_rows) { return ReadVecs<float, Matrix>(path, max_rows); }
Result<IntMatrix> ReadIvecs(const std::string& path, size_t max_rows) {
  return ReadVecs<int32_t, IntMatrix>(path, max_rows);
}

Result<std::unique_ptr<PointSource>> OpenPointSource(const std::string& path, std::string format,
                                                     const std::string& id_prefix) {
  if (format.empty()) {
    if (EndsWith(path, ".fvecs")) format = "fvecs";
    else if (EndsWith(path, ".npy")) format = "npy";
    else if (EndsWith(path, ".jsonl") || EndsWith(path, ".ndjson")) format = "jsonl";
    else return Status::InvalidArgument("cannot tell the format of " + path + "; pass --format fvecs|npy|jsonl");
  }
  if (format == "fvecs") {
    VECTRON_ASSIGN_OR_RETURN(File f, OpenFile(path));
    int32_t d;
    if (std::fread(&d, 4, 1, f.get()) != 1 || d <= 0) return Status::InvalidArgument(path + ": not an fvecs file");
    std::rewind(f.get());
    uint64_t total = FileSize(path) / (4 + 4ull * static_cast<uint32_t>(d));
    return std::unique_ptr<PointSource>(
        std::make_unique<FvecsSource>(std::move(f), static_cast<uint32_t>(d), total, id_prefix));
  }
  if (format == "npy") return OpenNpy(path, id_prefix);
  if (format == "jsonl") {
    std::ifstream in(path);
    if (!in) return Status::NotFound("cannot open " + path);
    return std::unique_ptr<PointSource>(std::make_unique<JsonlSource>(std::move(in)));
  }
  return Status::InvalidArgument("unknown format \"" + format + "\" (expected fvecs, npy or jsonl)");
}

}  // namespace vectron::tools
