// Small POSIX file helpers with Status errors: durable writes (temp, fsync, rename,
// fsync dir), checksummed reads, directory listing and removal.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vectron/status.h"

namespace vectron {

Status MakeDirs(const std::string& dir);
bool PathExists(const std::string& path);
Status RemoveAll(const std::string& path);
// Writes `data` to `path` atomically and durably: temp file, fsync, rename, fsync dir.
Status WriteFileAtomic(const std::string& path, std::string_view data);
Result<std::string> ReadFile(const std::string& path);
Status FsyncPath(const std::string& path);  // fsync a file or directory by name.
Status RenamePath(const std::string& from, const std::string& to);
Result<std::vector<std::string>> ListDir(const std::string& dir);
// Total bytes of regular files under `path` (recursive).
uint64_t DiskUsage(const std::string& path);
// CRC-32C of a file's contents and its size.
Status ChecksumFile(const std::string& path, uint32_t* crc, uint64_t* size);

// An exclusive advisory lock (flock) on a file, held until destruction. Serialises
// writers across processes; callers also need an in-process mutex.
class FileLock {
 public:
  static Result<FileLock> Acquire(const std::string& path);
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace vectron
