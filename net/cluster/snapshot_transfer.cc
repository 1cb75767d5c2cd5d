#include "net/cluster/snapshot_transfer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/cluster/codec.h"
#include "util/crc32c.h"
#include "util/files.h"

namespace vectron::net::cluster {

namespace {
constexpr char kMagic[8] = {'V', 'X', 'S', 'N', 'A', 'P', '0', '1'};
constexpr uint64_t kMaxSnapshotBytes = uint64_t{1} << 42;  // 4 TiB

bool GoodName(std::string_view n) {
  return !n.empty() && n.size() <= kSnapshotMaxNameBytes && n != "." && n != ".." && n.find('/') == std::string::npos &&
         n.find('\0') == std::string::npos;
}

Status Errno(const std::string& what) { return Status::IOError(what + ": " + std::strerror(errno)); }
}  // namespace

// ---- SnapshotArchive ----

Result<SnapshotArchive> SnapshotArchive::Scan(const std::string& dir, uint64_t index) {
  SnapshotArchive a;
  a.dir_ = dir;
  a.index_ = index;
  VECTRON_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  std::sort(names.begin(), names.end());
  if (names.size() > kSnapshotMaxFiles) return Status::InvalidArgument("snapshot " + dir + " has too many files");
  for (const std::string& n : names) {
    if (!GoodName(n)) return Status::InvalidArgument("snapshot file name \"" + n + "\" is not allowed");
    struct stat st;
    if (::stat((dir + "/" + n).c_str(), &st) != 0) return Errno("stat " + dir + "/" + n);
    if (!S_ISREG(st.st_mode)) return Status::InvalidArgument("snapshot " + dir + " holds a non-file: " + n);
    a.files_.push_back(File{n, static_cast<uint64_t>(st.st_size), 0});
  }
  ByteWriter w;
  w.str().append(kMagic, 8);
  w.U64(index);
  w.U32(static_cast<uint32_t>(a.files_.size()));
  for (const File& f : a.files_) {
    w.Bytes(f.name);
    w.U64(f.size);
  }
  a.header_ = w.Take();
  uint64_t off = a.header_.size();
  for (File& f : a.files_) {
    f.start = off;
    off += f.size;
  }
  a.body_ = off - a.header_.size();
  return a;
}

Status SnapshotArchive::Read(uint64_t offset, size_t max_bytes, std::string* out) {
  const uint64_t body_end = header_.size() + body_;
  if (offset > total()) return Status::InvalidArgument("offset past the end of the snapshot");
  if (offset >= body_end) {
    // Reads skipped part of the body (the receiver resumed past the bytes checksummed so
    // far): checksum the rest from disk, a bounded piece at a time.
    std::string scratch;
    while (crc_offset_ < body_end) {
      scratch.clear();
      VECTRON_RETURN_IF_ERROR(ReadBody(crc_offset_, 1 << 20, &scratch));
    }
    ByteWriter w;
    w.U32(crc_);
    out->append(w.str().substr(offset - body_end));
    return Status::OK();
  }
  return ReadBody(offset, static_cast<size_t>(std::min<uint64_t>(max_bytes, body_end - offset)), out);
}

Status SnapshotArchive::ReadBody(uint64_t offset, size_t n, std::string* out) {
  size_t before = out->size();
  uint64_t pos = offset;
  if (pos < header_.size()) {
    size_t k = static_cast<size_t>(std::min<uint64_t>(n, header_.size() - pos));
    out->append(header_, static_cast<size_t>(pos), k);
    pos += k;
  }
  for (const File& f : files_) {
    if (pos >= offset + n) break;
    if (pos >= f.start + f.size || f.size == 0) continue;
    uint64_t want = std::min<uint64_t>(offset + n, f.start + f.size) - pos;
    int fd = ::open((dir_ + "/" + f.name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("open " + dir_ + "/" + f.name);
    size_t at = out->size();
    out->resize(at + want);
    uint64_t got = 0;
    while (got < want) {
      ssize_t r = ::pread(fd, out->data() + at + got, want - got, static_cast<off_t>(pos - f.start + got));
      if (r <= 0) {
        ::close(fd);
        out->resize(before);
        return r < 0 ? Errno("read " + f.name) : Status::IOError(f.name + " shrank while being sent");
      }
      got += static_cast<uint64_t>(r);
    }
    ::close(fd);
    pos += want;
  }
  // The running CRC takes whatever part of these bytes extends it (a resumed receiver's
  // chunks need not start where the checksummed bytes end).
  const uint64_t end = offset + (out->size() - before);
  if (offset <= crc_offset_ && crc_offset_ < end) {
    const size_t skip = static_cast<size_t>(crc_offset_ - offset);
    crc_ = Crc32c(crc_, out->data() + before + skip, out->size() - before - skip);
    crc_offset_ = end;
  }
  return Status::OK();
}

// ---- SnapshotWriter ----

Result<std::unique_ptr<SnapshotWriter>> SnapshotWriter::Create(const std::string& dir, uint64_t writeback_bytes) {
  VECTRON_RETURN_IF_ERROR(RemoveAll(dir));
  VECTRON_RETURN_IF_ERROR(MakeDirs(dir));
  std::unique_ptr<SnapshotWriter> w(new SnapshotWriter());
  w->dir_ = dir;
  w->writeback_bytes_ = writeback_bytes;
  return w;
}

SnapshotWriter::~SnapshotWriter() {
  if (fd_ >= 0) ::close(fd_);
}

Status SnapshotWriter::ParseHeader() {
  // The header is complete once every name and size is in; until then, wait for more.
  ByteReader r(header_buf_);
  std::string_view magic = std::string_view(header_buf_).substr(0, std::min<size_t>(8, header_buf_.size()));
  if (magic != std::string_view(kMagic, magic.size())) return Status::Corruption("snapshot stream: bad magic");
  if (header_buf_.size() < 20) return Status::OK();
  for (int i = 0; i < 8; ++i) r.U8();
  uint64_t index = r.U64();
  uint32_t n = r.U32();
  if (n > kSnapshotMaxFiles) return Status::Corruption("snapshot stream: too many files");
  std::vector<std::pair<std::string, uint64_t>> files;
  uint64_t total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    std::string name = r.Bytes(kSnapshotMaxNameBytes);
    uint64_t size = r.U64();
    if (!r.ok()) {
      if (header_buf_.size() > 20 + kSnapshotMaxFiles * (4 + kSnapshotMaxNameBytes + 8))
        return Status::Corruption("snapshot stream: bad header");
      return Status::OK();  // Not all here yet.
    }
    if (!GoodName(name)) return Status::Corruption("snapshot stream: bad file name");
    total += size;
    if (total > kMaxSnapshotBytes) return Status::Corruption("snapshot stream: too large");
    files.emplace_back(std::move(name), size);
  }
  size_t used = header_buf_.size() - r.remaining();
  std::string rest = header_buf_.substr(used);
  header_done_ = true;
  index_ = index;
  files_ = std::move(files);
  crc_ = Crc32c(0, header_buf_.data(), used);
  header_ = header_buf_.substr(0, used);
  header_buf_.clear();
  return WriteBody(rest);
}

Status SnapshotWriter::WriteBody(std::string_view data) {
  while (!data.empty() && file_ < files_.size()) {
    const auto& [name, size] = files_[file_];
    if (fd_ < 0) {
      fd_ = ::open((dir_ + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd_ < 0) return Errno("create " + dir_ + "/" + name);
    }
    size_t k = static_cast<size_t>(std::min<uint64_t>(data.size(), size - file_done_));
    size_t done = 0;
    while (done < k) {
      ssize_t w = ::write(fd_, data.data() + done, k - done);
      if (w < 0) return Errno("write " + name);
      done += static_cast<size_t>(w);
    }
    crc_ = Crc32c(crc_, data.data(), k);
    data.remove_prefix(k);
    file_done_ += k;
    if (writeback_bytes_ > 0 && file_done_ - written_back_ >= writeback_bytes_ && file_done_ < size) {
      // Start writing these pages out now (no wait), so the fsync below does not flush
      // the whole file in one burst that stalls every other writer of the disk.
      (void)::sync_file_range(fd_, static_cast<off_t>(written_back_), static_cast<off_t>(file_done_ - written_back_),
                              SYNC_FILE_RANGE_WRITE);
      written_back_ = file_done_;
    }
    if (file_done_ == size) {
      written_back_ = 0;
      if (::fsync(fd_) != 0) return Errno("fsync " + name);
      ::close(fd_);
      fd_ = -1;
      ++file_;
      file_done_ = 0;
    }
  }
  // Files of size 0 at the end.
  while (file_ < files_.size() && files_[file_].second == 0) {
    int fd = ::open((dir_ + "/" + files_[file_].first).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Errno("create " + files_[file_].first);
    ::close(fd);
    ++file_;
  }
  if (file_ < files_.size() || data.empty()) return Status::OK();
  trailer_.append(data.data(), data.size());
  if (trailer_.size() > 4) return Status::Corruption("snapshot stream: bytes after the trailer");
  if (trailer_.size() == 4) return Complete();
  return Status::OK();
}

Status SnapshotWriter::Complete() {
  ByteReader r(trailer_);
  const uint32_t want = r.U32();
  if (want != crc_) return Status::Corruption("snapshot stream: checksum mismatch");
  if (resumed_) {
    // The running CRC covers the bytes as they arrived, but the bytes staged before the
    // resume were never seen by this writer: what is on disk is checked (FinishCheck).
    check_pending_ = true;
    return Status::OK();
  }
  return MarkComplete();
}

Status SnapshotWriter::MarkComplete() {
  VECTRON_RETURN_IF_ERROR(FsyncPath(dir_));
  complete_ = true;
  return Status::OK();
}

Status SnapshotWriter::FinishCheck(uint32_t staged) {
  if (!check_pending_) return Status::FailedPrecondition("snapshot stream: no check of the staged copy is pending");
  check_pending_ = false;
  ByteReader r(trailer_);
  if (staged != r.U32()) return Status::Corruption("snapshot stream: the staged copy does not match its checksum");
  return MarkComplete();
}

Result<std::unique_ptr<SnapshotWriter>> SnapshotWriter::Resume(const std::string& dir, const SnapshotWriterState& state,
                                                                uint64_t writeback_bytes) {
  std::unique_ptr<SnapshotWriter> w(new SnapshotWriter());
  w->dir_ = dir;
  w->writeback_bytes_ = writeback_bytes;
  w->header_buf_ = state.header;
  VECTRON_RETURN_IF_ERROR(w->ParseHeader());
  if (!w->header_done_ || w->header_.size() != state.header.size())
    return Status::Corruption("snapshot progress: the recorded header does not parse");
  uint64_t pos = w->header_.size();
  if (state.offset < pos) return Status::Corruption("snapshot progress: offset inside the header");
  // Files wholly before the offset must be there in full; the one the offset falls in is
  // cut back to it (bytes written after the last checkpoint may be torn).
  w->file_ = w->files_.size();
  for (size_t i = 0; i < w->files_.size(); ++i) {
    const auto& [name, size] = w->files_[i];
    const std::string path = dir + "/" + name;
    if (state.offset >= pos + size) {
      if (size == 0) {
        // (Made when the stream passes it; the crash may have come first.)
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return Errno("create " + path);
        ::close(fd);
        continue;
      }
      struct stat st;
      if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != size)
        return Status::Corruption("snapshot progress: staged file " + name + " is missing or not its size");
      pos += size;
      continue;
    }
    const uint64_t have = state.offset - pos;
    struct stat st;
    if (have > 0 && (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) < have))
      return Status::Corruption("snapshot progress: staged file " + name + " is shorter than recorded");
    w->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (w->fd_ < 0) return Errno("open " + path);
    if (::ftruncate(w->fd_, static_cast<off_t>(have)) != 0) return Errno("truncate " + path);
    if (::lseek(w->fd_, static_cast<off_t>(have), SEEK_SET) < 0) return Errno("seek " + path);
    w->file_ = i;
    w->file_done_ = have;
    w->written_back_ = have;
    pos += have;
    break;
  }
  if (pos != state.offset) return Status::Corruption("snapshot progress: offset past the end of the files");
  w->received_ = state.offset;
  w->crc_ = state.crc;
  w->resumed_ = true;
  return w;
}

Result<SnapshotWriterState> SnapshotWriter::Checkpoint() {
  if (!header_done_) return Status::FailedPrecondition("snapshot stream: the header has not arrived yet");
  if (fd_ >= 0 && ::fdatasync(fd_) != 0) return Errno("fdatasync a staged snapshot file");
  VECTRON_RETURN_IF_ERROR(FsyncPath(dir_));
  SnapshotWriterState s;
  s.header = header_;
  // Trailer bytes are not staged anywhere: resume before them.
  s.offset = received_ - trailer_.size();
  s.crc = crc_;
  return s;
}

std::function<Result<uint32_t>()> SnapshotWriter::StagedChecksum() const {
  return [dir = dir_, header = header_, files = files_]() -> Result<uint32_t> {
    return ChecksumStagedCopy(dir, header, files);
  };
}

Result<uint32_t> SnapshotWriter::ChecksumStagedCopy(const std::string& dir, const std::string& header,
                                                    const std::vector<std::pair<std::string, uint64_t>>& files) {
  uint32_t crc = Crc32c(0, header.data(), header.size());
  std::string buf(1 << 20, '\0');
  for (const auto& [name, size] : files) {
    const std::string path = dir + "/" + name;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("open " + path);
    uint64_t done = 0;
    while (done < size) {
      ssize_t r = ::read(fd, buf.data(), static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done)));
      if (r <= 0) {
        ::close(fd);
        return r < 0 ? Errno("read " + path) : Status::Corruption("snapshot stream: staged " + name + " is short");
      }
      crc = Crc32c(crc, buf.data(), static_cast<size_t>(r));
      done += static_cast<uint64_t>(r);
    }
    ::close(fd);
  }
  return crc;
}

Status SnapshotWriter::Append(std::string_view data) {
  if (complete_ || check_pending_) return data.empty() ? Status::OK() : Status::Corruption("snapshot stream: bytes after the end");
  received_ += data.size();
  if (!header_done_) {
    header_buf_.append(data.data(), data.size());
    return ParseHeader();
  }
  return WriteBody(data);
}

// ---- SnapshotProgress ----

namespace {
constexpr char kSnapshotProgressMagic[8] = {'V', 'X', 'S', 'N', 'P', 'R', 'G', '1'};
constexpr size_t kSnapshotHeaderBytesMax = 20 + kSnapshotMaxFiles * (4 + kSnapshotMaxNameBytes + 8);
}  // namespace

std::string SnapshotProgress::Encode() const {
  ByteWriter w;
  w.str().append(kSnapshotProgressMagic, 8);
  w.U8(static_cast<uint8_t>(from.kind));
  w.U64(from.id);
  w.U64(group);
  w.U64(fetch_id);
  w.U64(index);
  w.U64(total);
  w.U64(state.offset);
  w.U32(state.crc);
  w.Bytes(state.header);
  w.U32(Crc32c(0, w.str().data(), w.str().size()));
  return w.Take();
}

Result<SnapshotProgress> SnapshotProgress::Decode(std::string_view data) {
  if (data.size() < 12 || std::string_view(data.data(), 8) != std::string_view(kSnapshotProgressMagic, 8))
    return Status::Corruption("snapshot progress: bad magic");
  ByteReader sum(data.substr(data.size() - 4));
  if (sum.U32() != Crc32c(0, data.data(), data.size() - 4)) return Status::Corruption("snapshot progress: bad checksum");
  ByteReader r(data.substr(8, data.size() - 12));
  SnapshotProgress p;
  const uint8_t kind = r.U8();
  p.from.kind = static_cast<NodeKind>(kind);
  p.from.id = r.U64();
  p.group = r.U64();
  p.fetch_id = r.U64();
  p.index = r.U64();
  p.total = r.U64();
  p.state.offset = r.U64();
  p.state.crc = r.U32();
  p.state.header = r.Bytes(kSnapshotHeaderBytesMax);
  if (!r.ok() || r.remaining() != 0) return Status::Corruption("snapshot progress: bad record");
  if (kind < static_cast<uint8_t>(NodeKind::kPd) || kind > static_cast<uint8_t>(NodeKind::kGateway) || p.total > kMaxSnapshotBytes + kSnapshotHeaderBytesMax + 4 ||
      p.state.offset < p.state.header.size() || p.state.offset + 4 > p.total)
    return Status::Corruption("snapshot progress: out-of-range fields");
  return p;
}

}  // namespace vectron::net::cluster
