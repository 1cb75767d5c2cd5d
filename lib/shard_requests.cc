// ShardStore's requests table: the outcome of every logged request a client has not yet
// acknowledged, written in the transaction that applies the request, so a retried or
// duplicated proposal is answered with the first outcome instead of being applied again
// (docs/formats/storage.md, "requests").
#include <cstring>
#include <vector>

#include "shard_store.h"
#include "storage/keys.h"

namespace vectron {

using storage::DecodeU64;
using storage::EncodeU64;
using storage::EncodeU64To;

namespace {

std::string RequestKey(uint64_t client, uint64_t seq) {
  std::string k(16, '\0');
  EncodeU64To(client, k.data());
  EncodeU64To(seq, k.data() + 8);
  return k;
}

// [u8 status code, its high bit set if a route follows][u64 deleted]
// ([u64 route start][u64 route end][u64 route epoch] if that bit is set)[message].
// Records written before routes were recorded have the bit clear, and still decode.
constexpr uint8_t kOutcomeHasRoute = 0x80;
constexpr size_t kOutcomeFixedBytes = 9;
constexpr size_t kOutcomeRouteBytes = 24;

}  // namespace

std::string EncodeRequestOutcome(const LoggedOutcome& o) {
  const size_t fixed = kOutcomeFixedBytes + (o.applied_by ? kOutcomeRouteBytes : 0);
  std::string v(fixed, '\0');
  uint8_t code = static_cast<uint8_t>(static_cast<int>(o.status.code()));
  if (o.applied_by) code = static_cast<uint8_t>(code | kOutcomeHasRoute);
  v[0] = static_cast<char>(code);
  EncodeU64To(o.deleted, v.data() + 1);
  if (o.applied_by) {
    EncodeU64To(o.applied_by->start, v.data() + kOutcomeFixedBytes);
    EncodeU64To(o.applied_by->end, v.data() + kOutcomeFixedBytes + 8);
    EncodeU64To(o.applied_by->epoch, v.data() + kOutcomeFixedBytes + 16);
  }
  v += o.status.message();
  return v;
}

Result<LoggedOutcome> DecodeRequestOutcome(std::string_view v) {
  if (v.size() < kOutcomeFixedBytes) return Status::Corruption("request record is too short");
  const uint8_t first = static_cast<uint8_t>(v[0]);
  const bool has_route = (first & kOutcomeHasRoute) != 0;
  const int code = first & ~kOutcomeHasRoute;
  if (code > static_cast<int>(StatusCode::kCancelled)) return Status::Corruption("request record has a bad status code");
  const size_t fixed = kOutcomeFixedBytes + (has_route ? kOutcomeRouteBytes : 0);
  if (v.size() < fixed) return Status::Corruption("request record is too short for its route");
  LoggedOutcome o;
  if (code != 0) o.status = Status(static_cast<StatusCode>(code), std::string(v.substr(fixed)));
  o.deleted = DecodeU64(v.substr(1, 8));
  if (has_route)
    o.applied_by = ShardRoute{DecodeU64(v.substr(kOutcomeFixedBytes, 8)), DecodeU64(v.substr(kOutcomeFixedBytes + 8, 8)),
                              DecodeU64(v.substr(kOutcomeFixedBytes + 16, 8))};
  o.duplicate = true;
  return o;
}

namespace {

struct ClientRecord {
  uint64_t acked_below = 0;
  uint64_t last_index = 0;
};

Result<std::optional<ClientRecord>> ReadClient(const storage::Txn& txn, storage::Dbi clients, uint64_t client) {
  VECTRON_ASSIGN_OR_RETURN(auto v, txn.Get(clients, EncodeU64(client)));
  if (!v) return std::optional<ClientRecord>();
  if (v->size() != 16) return Status::Corruption("client record has a bad size");
  return std::optional<ClientRecord>(ClientRecord{DecodeU64(v->substr(0, 8)), DecodeU64(v->substr(8, 8))});
}

// Deletes the client's request records with seq < `below`.
Status ForgetBelow(storage::WriteTxn& txn, storage::Dbi requests, uint64_t client, uint64_t below) {
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(requests));
  const std::string end = RequestKey(client, below);
  VECTRON_ASSIGN_OR_RETURN(bool any, c.Seek(RequestKey(client, 0)));
  while (any && c.key() < end) {
    VECTRON_RETURN_IF_ERROR(c.Delete());
    VECTRON_ASSIGN_OR_RETURN(any, c.Seek(RequestKey(client, 0)));
  }
  return Status::OK();
}

}  // namespace

Result<std::optional<LoggedOutcome>> ShardStore::RequestOutcome(const storage::Txn& txn,
                                                                 const RequestId& request) const {
  VECTRON_ASSIGN_OR_RETURN(auto client, ReadClient(txn, clients_, request.client));
  if (client && request.seq < client->acked_below) {
    LoggedOutcome o;
    o.status = Status::Aborted("request " + std::to_string(request.seq) + " of client " +
                               std::to_string(request.client) + " was answered already");
    o.duplicate = true;
    return std::optional<LoggedOutcome>(std::move(o));
  }
  VECTRON_ASSIGN_OR_RETURN(auto v, txn.Get(requests_, RequestKey(request.client, request.seq)));
  if (!v) return std::optional<LoggedOutcome>();
  VECTRON_ASSIGN_OR_RETURN(LoggedOutcome o, DecodeRequestOutcome(*v));
  return std::optional<LoggedOutcome>(std::move(o));
}

Status ShardStore::RecordRequest(storage::WriteTxn& txn, const RequestId& request, const LoggedOutcome& outcome,
                                 uint64_t log_index) const {
  VECTRON_ASSIGN_OR_RETURN(auto old, ReadClient(txn, clients_, request.client));
  ClientRecord rec = old.value_or(ClientRecord{});
  if (request.acked_below > rec.acked_below) {
    VECTRON_RETURN_IF_ERROR(ForgetBelow(txn, requests_, request.client, request.acked_below));
    rec.acked_below = request.acked_below;
  }
  rec.last_index = log_index;
  if (request.seq >= rec.acked_below)
    VECTRON_RETURN_IF_ERROR(txn.Put(requests_, RequestKey(request.client, request.seq), EncodeRequestOutcome(outcome)));
  std::string v(16, '\0');
  EncodeU64To(rec.acked_below, v.data());
  EncodeU64To(rec.last_index, v.data() + 8);
  VECTRON_RETURN_IF_ERROR(txn.Put(clients_, EncodeU64(request.client), v));

  if (log_index % kRequestSweepEvery != 0 || log_index <= kRequestIdleEntries) return Status::OK();
  // Forget the clients idle for too long (a gateway that went away), and their records.
  std::vector<uint64_t> idle;
  {
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(clients_));
    VECTRON_ASSIGN_OR_RETURN(bool any, c.First());
    while (any) {
      if (c.key().size() != 8 || c.value().size() != 16) return Status::Corruption("client record has a bad size");
      if (DecodeU64(c.value().substr(8, 8)) + kRequestIdleEntries < log_index) idle.push_back(DecodeU64(c.key()));
      VECTRON_ASSIGN_OR_RETURN(any, c.Next());
    }
  }
  for (uint64_t client : idle) {
    VECTRON_RETURN_IF_ERROR(ForgetBelow(txn, requests_, client, UINT64_MAX));
    VECTRON_RETURN_IF_ERROR(txn.Del(clients_, EncodeU64(client)).status());
  }
  return Status::OK();
}

}  // namespace vectron
