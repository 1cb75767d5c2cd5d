#include "raft/types.h"

#include <algorithm>
#include <sstream>

namespace vectron::raft {

const char* ErrorName(Error e) {
  switch (e) {
    case Error::kOk: return "OK";
    case Error::kCompacted: return "Compacted";
    case Error::kUnavailable: return "Unavailable";
    case Error::kSnapshotOutOfDate: return "SnapshotOutOfDate";
    case Error::kProposalDropped: return "ProposalDropped";
    case Error::kNotLeader: return "NotLeader";
    case Error::kConfChangePending: return "ConfChangePending";
    case Error::kInvalidArgument: return "InvalidArgument";
    case Error::kIo: return "Io";
    case Error::kCorruption: return "Corruption";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(ErrorName(code_)) + ": " + message_;
}

bool ConfState::IsVoter(uint64_t id) const {
  return std::binary_search(voters.begin(), voters.end(), id);
}

bool ConfState::IsLearner(uint64_t id) const {
  return std::binary_search(learners.begin(), learners.end(), id);
}

static void AppendIds(std::ostringstream& os, const std::vector<uint64_t>& ids) {
  os << '[';
  for (size_t i = 0; i < ids.size(); ++i) os << (i ? " " : "") << ids[i];
  os << ']';
}

std::string ConfState::ToString() const {
  std::ostringstream os;
  os << "voters=";
  AppendIds(os, voters);
  os << " learners=";
  AppendIds(os, learners);
  return os.str();
}

std::string ConfChange::Encode() const {
  std::string s(9, '\0');
  s[0] = static_cast<char>(type);
  for (int i = 0; i < 8; ++i) s[1 + i] = static_cast<char>((node_id >> (8 * i)) & 0xff);
  return s;
}

bool ConfChange::Decode(const std::string& data, ConfChange* out) {
  if (data.size() != 9) return false;
  auto t = static_cast<uint8_t>(data[0]);
  if (t > static_cast<uint8_t>(ConfChangeType::kAddLearner)) return false;
  out->type = static_cast<ConfChangeType>(t);
  out->node_id = 0;
  for (int i = 0; i < 8; ++i) out->node_id |= uint64_t{static_cast<uint8_t>(data[1 + i])} << (8 * i);
  return out->node_id != kNone;
}

std::string ConfChange::ToString() const {
  const char* names[] = {"AddVoter", "RemoveVoter", "AddLearner"};
  return std::string(names[static_cast<int>(type)]) + "(" + std::to_string(node_id) + ")";
}

static void Erase(std::vector<uint64_t>& v, uint64_t id) {
  v.erase(std::remove(v.begin(), v.end(), id), v.end());
}

static void Insert(std::vector<uint64_t>& v, uint64_t id) {
  auto it = std::lower_bound(v.begin(), v.end(), id);
  if (it == v.end() || *it != id) v.insert(it, id);
}

ConfState ApplyConfChangeTo(ConfState cs, const ConfChange& cc) {
  switch (cc.type) {
    case ConfChangeType::kAddVoter:
      Erase(cs.learners, cc.node_id);
      Insert(cs.voters, cc.node_id);
      break;
    case ConfChangeType::kRemoveVoter:
      Erase(cs.learners, cc.node_id);
      Erase(cs.voters, cc.node_id);
      break;
    case ConfChangeType::kAddLearner:
      Erase(cs.voters, cc.node_id);
      Insert(cs.learners, cc.node_id);
      break;
  }
  return cs;
}

const char* MessageTypeName(MessageType t) {
  switch (t) {
    case MessageType::kPreVote: return "MsgPreVote";
    case MessageType::kPreVoteResp: return "MsgPreVoteResp";
    case MessageType::kVote: return "MsgVote";
    case MessageType::kVoteResp: return "MsgVoteResp";
    case MessageType::kAppend: return "MsgApp";
    case MessageType::kAppendResp: return "MsgAppResp";
    case MessageType::kHeartbeat: return "MsgHeartbeat";
    case MessageType::kHeartbeatResp: return "MsgHeartbeatResp";
    case MessageType::kSnapshot: return "MsgSnap";
    case MessageType::kSnapshotResp: return "MsgSnapResp";
    case MessageType::kTimeoutNow: return "MsgTimeoutNow";
    case MessageType::kProposal: return "MsgProp";
    case MessageType::kReadIndex: return "MsgReadIndex";
    case MessageType::kReadIndexResp: return "MsgReadIndexResp";
  }
  return "Msg?";
}

const char* RoleName(Role r) {
  switch (r) {
    case Role::kFollower: return "Follower";
    case Role::kPreCandidate: return "PreCandidate";
    case Role::kCandidate: return "Candidate";
    case Role::kLeader: return "Leader";
  }
  return "?";
}

std::string Message::ToString() const {
  std::ostringstream os;
  os << from << "->" << to << ' ' << MessageTypeName(type) << " t" << term;
  switch (type) {
    case MessageType::kAppend:
      os << " prev=" << index << '/' << log_term << " c" << commit;
      if (!entries.empty()) os << " [" << entries.front().index << ".." << entries.back().index << ']';
      break;
    case MessageType::kAppendResp:
      os << " i" << index;
      if (reject) os << " REJECT hint=" << reject_hint << '/' << log_term;
      break;
    case MessageType::kVote:
    case MessageType::kPreVote:
      os << " last=" << index << '/' << log_term << (force ? " force" : "");
      break;
    case MessageType::kVoteResp:
    case MessageType::kPreVoteResp:
      os << (reject ? " rejected" : " granted");
      break;
    case MessageType::kHeartbeat:
    case MessageType::kHeartbeatResp:
      os << " c" << commit << " seq=" << seq << (hibernate ? " hibernate" : "");
      break;
    case MessageType::kSnapshot:
      os << " snap=" << snapshot.metadata.index << '/' << snapshot.metadata.term << " off=" << offset
         << " len=" << snapshot.data.size() << " total=" << total << (done ? " done" : "");
      break;
    case MessageType::kSnapshotResp:
      os << " snap=" << index << " off=" << offset << (reject ? " REJECT" : "");
      break;
    case MessageType::kProposal:
      os << " n=" << entries.size();
      break;
    case MessageType::kReadIndex:
    case MessageType::kReadIndexResp:
      os << " i" << index << " ctx=" << context.size() << 'B' << (reject ? " REJECT" : "");
      break;
    default:
      break;
  }
  return os.str();
}

}  // namespace vectron::raft
