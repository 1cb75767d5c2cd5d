// Plain data types shared by the Raft core, its storage and its callers.
// Nothing here owns a resource; everything is a copyable value.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

namespace vectron::raft {

// Node ids are nonzero; 0 (kNone) means "no node".
inline constexpr uint64_t kNone = 0;

// Error codes of the raft library (raft/ keeps its own small enum, see STYLE.md).
enum class Error : uint8_t {
  kOk = 0,
  kCompacted,          // The requested index is below the storage's first index.
  kUnavailable,        // The requested index is above the storage's last index.
  kSnapshotOutOfDate,  // A snapshot older than the current one was offered.
  kProposalDropped,    // No leader known, or a leadership transfer is in progress.
  kNotLeader,          // The operation needs the local node to be leader.
  kConfChangePending,  // Another membership change is not yet committed (or the leader has
                       // not yet committed an entry of its own term).
  kInvalidArgument,    // Bad configuration or request; the message says which.
  kIo,                 // The persistent store failed; the message carries the store's text.
  kCorruption,         // Persistent data failed to decode.
};

// Returns a short constant name for `e`, such as "Compacted".
const char* ErrorName(Error e);

// An error code with a human-readable message. Cheap when ok().
class [[nodiscard]] Status {
 public:
  // OK.
  Status() = default;
  // An error (or kOk) with a message naming what failed.
  Status(Error code, std::string message) : code_(code), message_(std::move(message)) {}
  // OK.
  static Status Ok() { return Status(); }
  // Whether this is OK.
  bool ok() const { return code_ == Error::kOk; }
  // The error code (kOk if ok()).
  Error code() const { return code_; }
  // The message; empty for OK.
  const std::string& message() const { return message_; }
  // "OK" or "<ErrorName>: <message>".
  std::string ToString() const;

 private:
  Error code_ = Error::kOk;
  std::string message_;
};

// Kind of a log entry. Persisted: values must never change.
enum class EntryType : uint8_t { kNormal = 0, kConfChange = 1 };

// One log entry. An entry with empty data of type kNormal is the no-op a new leader appends.
struct Entry {
  uint64_t term = 0;
  uint64_t index = 0;
  EntryType type = EntryType::kNormal;
  std::string data;
  bool operator==(const Entry&) const = default;
};

// The state that must be durable before any message produced with it is sent.
// Where a log ended: the term and index of its last entry (or of its snapshot, if it held
// no entries). Ordered as Raft orders logs: by term, then by index.
struct LogEnd {
  uint64_t term = 0;
  uint64_t index = 0;
  // Not known (a tombstone written before they recorded it): no candidate's log reaches it.
  static constexpr LogEnd Unknown() { return LogEnd{UINT64_MAX, UINT64_MAX}; }
  friend auto operator<=>(const LogEnd&, const LogEnd&) = default;
};

struct HardState {
  uint64_t term = 0;
  uint64_t vote = kNone;
  uint64_t commit = 0;
  bool operator==(const HardState&) const = default;
  // True for the state of a node that has never run.
  bool empty() const { return term == 0 && vote == kNone && commit == 0; }
};

// Cluster membership: voters and learners, each sorted ascending, disjoint.
struct ConfState {
  std::vector<uint64_t> voters;
  std::vector<uint64_t> learners;
  bool operator==(const ConfState&) const = default;
  // Membership tests. REQUIRES: voters and learners sorted.
  bool IsVoter(uint64_t id) const;
  bool IsLearner(uint64_t id) const;
  bool Contains(uint64_t id) const { return IsVoter(id) || IsLearner(id); }
  // "voters=[1 2 3] learners=[4]".
  std::string ToString() const;
};

// What a snapshot covers: the log up to and including `index`, and membership at that index.
struct SnapshotMetadata {
  uint64_t index = 0;
  uint64_t term = 0;
  ConfState conf_state;
  bool operator==(const SnapshotMetadata&) const = default;
};

// An application snapshot. index == 0 means "no snapshot".
struct Snapshot {
  SnapshotMetadata metadata;
  std::string data;
  bool empty() const { return metadata.index == 0; }
};

// One-at-a-time membership change. Adding a voter that is a learner promotes it.
enum class ConfChangeType : uint8_t { kAddVoter = 0, kRemoveVoter = 1, kAddLearner = 2 };

struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddVoter;
  uint64_t node_id = kNone;
  // Serialized form stored as the data of a kConfChange entry (9 bytes, little endian).
  std::string Encode() const;
  // Parses Encode()'s output. Returns false on malformed input.
  [[nodiscard]] static bool Decode(const std::string& data, ConfChange* out);
  // "AddVoter(4)".
  std::string ToString() const;
};

// Returns `cs` with `cc` applied: AddVoter adds or promotes, RemoveVoter removes the id from
// either set, AddLearner adds (or demotes a voter). Applying to a member already in the target
// role is a no-op.
ConfState ApplyConfChangeTo(ConfState cs, const ConfChange& cc);

enum class MessageType : uint8_t {
  kPreVote,
  kPreVoteResp,
  kVote,
  kVoteResp,
  kAppend,          // AppendEntries: index/log_term = previous entry, entries, commit.
  kAppendResp,      // index = last matching index, or reject with reject_hint/log_term.
  kHeartbeat,       // commit, seq (read/lease round), sent_tick (leader's tick); index = the
                    // leader's own commit index (informational: a follower that has applied
                    // it was up to date when the heartbeat left; bounded-staleness reads).
  kHeartbeatResp,   // Echoes seq and sent_tick.
  kSnapshot,        // One chunk: snapshot.metadata, chunk data at offset, done flag.
  kSnapshotResp,    // Acknowledges `offset` bytes of the snapshot at `index`, or reject.
  kTimeoutNow,      // Leadership transfer: the target campaigns immediately.
  kProposal,        // A follower forwards proposals to the leader (entries).
  kReadIndex,       // A follower forwards a read request (context) to the leader.
  kReadIndexResp,   // Leader's answer: index, context; reject if it could not serve it.
};

// Returns the message type's short name, such as "MsgApp".
const char* MessageTypeName(MessageType t);

// A message between nodes. Fields not used by a type are left at their defaults.
struct Message {
  MessageType type = MessageType::kAppend;
  uint64_t from = kNone;
  uint64_t to = kNone;
  uint64_t term = 0;      // 0 for kProposal/kReadIndex forwarded without a term check.
  uint64_t log_term = 0;
  uint64_t index = 0;
  uint64_t commit = 0;
  bool reject = false;
  uint64_t reject_hint = 0;
  std::vector<Entry> entries;
  // kSnapshot: the snapshot metadata and this chunk's bytes in snapshot.data.
  Snapshot snapshot;
  uint64_t offset = 0;    // kSnapshot/kSnapshotResp: byte offset of the chunk / bytes held.
  bool done = false;      // kSnapshot: last chunk.
  uint64_t total = 0;     // kSnapshot: total snapshot size in bytes.
  uint64_t seq = 0;       // Heartbeat round, echoed in the response (ReadIndex, lease).
  uint64_t sent_tick = 0; // Leader's tick when the heartbeat was sent, echoed (lease).
  bool force = false;     // kVote/kPreVote after kTimeoutNow: bypasses leader stickiness.
  // kHeartbeat: the leader hibernates (its group is quiet), so may the follower.
  // kHeartbeatResp: the follower did (RawNode::Hibernate).
  bool hibernate = false;
  std::string context;    // kReadIndex/kReadIndexResp: the caller's request id.
  // One line for traces, such as "1->2 MsgApp t3 i5/2 c4 [6..7]".
  std::string ToString() const;
};

// A linearizable read: once the local state machine has applied `index`, reads issued with
// ReadIndex(`context`) may be served.
struct ReadState {
  uint64_t index = 0;
  std::string context;
};

// Role of a node.
enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
// "Follower", "PreCandidate", "Candidate" or "Leader".
const char* RoleName(Role r);

// Volatile state that callers may inspect; not persisted.
struct SoftState {
  uint64_t lead = kNone;
  Role role = Role::kFollower;
  bool operator==(const SoftState&) const = default;
};

}  // namespace vectron::raft
