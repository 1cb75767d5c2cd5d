// Status and Result<T>: how every fallible Vectron call reports errors.
//
// No exception crosses the public API. A call returns Status (OK or an error code with
// a message naming the problem) or Result<T> (a value or an error Status). Codes follow
// Abseil's canonical codes and tell the caller what to do next.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace vectron {

// Persisted nowhere; values may change between versions. Map by name, not by number.
enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,     // The request is malformed; fix it, do not retry as is.
  kNotFound,            // A named collection, id or file does not exist.
  kAlreadyExists,       // Creating something that exists.
  kFailedPrecondition,  // The system is not in a state for this call (fix state first).
  kResourceExhausted,   // Out of space, memory or quota (LMDB map full, queue full).
  kUnavailable,         // Transient; retry later.
  kAborted,             // Interrupted or conflicted; retry the whole operation.
  kCorruption,          // Stored data failed a checksum or format check.
  kIOError,             // The operating system refused a file operation.
  kInternal,            // A bug: an invariant did not hold.
  kCancelled,           // The caller asked to stop.
  // The server's codes (`vectron serve`); the embedded engine never returns them.
  kUnauthenticated,     // No valid credentials (missing, bad, expired or revoked token).
  kPermissionDenied,    // Valid credentials without the right for this call.
  kRateLimited,         // Too many attempts; retry after retry_after_s() seconds.
};

// Returns a stable lower-case name such as "invalid_argument".
std::string_view StatusCodeName(StatusCode code);

// A cheap value: OK carries no message.
class [[nodiscard]] Status {
 public:
  Status() = default;  // OK.
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  // OK, and one factory per error code, each taking the message.
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
  static Status RateLimited(std::string m, int64_t retry_after_s) {
    return Status(StatusCode::kRateLimited, std::move(m)).WithRetryAfter(retry_after_s);
  }

  // True for OK.
  bool ok() const { return code_ == StatusCode::kOk; }
  // kOk for OK, else the error's code.
  StatusCode code() const { return code_; }
  // The error's text ("" for OK); valid while this Status lives unchanged.
  const std::string& message() const { return message_; }
  // A hint for RateLimited and Unavailable: seconds after which a retry may succeed
  // (0: no hint). Carried by WithContext.
  int64_t retry_after_s() const { return retry_after_s_; }
  // A copy with the retry hint set.
  Status WithRetryAfter(int64_t seconds) const {
    Status s = *this;
    s.retry_after_s_ = seconds;
    return s;
  }
  // Shorthands for code() == kNotFound / kInvalidArgument.
  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsInvalidArgument() const { return code_ == StatusCode::kInvalidArgument; }

  // "invalid_argument: dimension mismatch ..." or "ok".
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context` + ": ".
  Status WithContext(std::string_view context) const;

  // Equal when both code and message are equal (as absl::Status). To test for a kind
  // of error, compare code() instead.
  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  int64_t retry_after_s_ = 0;
};

// A value of T or an error Status. Accessing value() of an error is a bug (checked).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                 // NOLINT: implicit by design.
  Result(Status status) : v_(std::move(status)) { Check(); }  // NOLINT: must be an error.

  // True if it holds a value.
  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error, or OK when it holds a value.
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  // The value. REQUIRES: ok() (reading the value of an error is a bug).
  // The operators below are shorthands for value().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  // By value, so `for (auto& x : F().value())` does not dangle.
  T value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void Check();
  std::variant<T, Status> v_;
};

// VECTRON_CHECK's failure path: prints file, line, expression and message, then aborts.
[[noreturn]] void CheckFailed(const char* file, int line, const char* expr, std::string_view msg);

template <typename T>
void Result<T>::Check() {
  if (std::get<Status>(v_).ok()) CheckFailed(__FILE__, __LINE__, "!status.ok()", "Result built from OK status");
}

}  // namespace vectron

// Invariant check, on in release builds too. A failure is a bug: it prints and aborts.
#define VECTRON_CHECK(cond)                                                   \
  do {                                                                        \
    if (!(cond)) ::vectron::CheckFailed(__FILE__, __LINE__, #cond, "");       \
  } while (0)

#define VECTRON_CONCAT_INNER_(a, b) a##b
#define VECTRON_CONCAT_(a, b) VECTRON_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define VECTRON_RETURN_IF_ERROR(expr)            \
  do {                                           \
    ::vectron::Status _st = (expr);              \
    if (!_st.ok()) return _st;                   \
  } while (0)

// `lhs = value of expr`, or returns its error Status from the enclosing function.
#define VECTRON_ASSIGN_OR_RETURN(lhs, expr) \
  VECTRON_ASSIGN_OR_RETURN_IMPL_(VECTRON_CONCAT_(_res_, __LINE__), lhs, expr)
#define VECTRON_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()
