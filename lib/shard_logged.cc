// ShardImpl::ApplyLogged: a replication log's command (a write batch, a delete-by-filter,
// a payload index change, a rating) applied in one LMDB transaction with its log index and its
// request's outcome, so that replays and duplicate proposals change nothing
// (docs/cluster.md, "Shard groups"; docs/formats/shard-entry.md).
#include <optional>

#include "filter/filter.h"
#include "payload/payload.h"
#include "shard_impl.h"
#include "validate.h"

namespace vectron {

using storage::WriteTxn;

namespace {

// A refusal that depends on the command and the shard's state only, so every replica
// refuses it the same way: the index is recorded and the proposer told why.
bool IsRejection(const Status& s) {
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kAlreadyExists ||
         s.code() == StatusCode::kNotFound;
}

}  // namespace

Result<LoggedOutcome> ShardImpl::ApplyLogged(const LoggedCommand& cmd, uint64_t log_index, const RequestId& request,
                                             const std::optional<ShardRoute>& applied_by) {
  if (log_index == 0) return Status::InvalidArgument("a logged command needs a log index above 0");
  // The checks that depend on the command alone.
  std::vector<std::string> metadata;
  std::optional<filter::Filter> where;
  Status valid;
  switch (cmd.kind) {
    case LoggedCommand::Kind::kWrite:
      valid = ValidateBatch(cmd.batch, config(), &metadata);
      break;
    case LoggedCommand::Kind::kDeleteWhere: {
      Result<filter::Filter> f = filter::ParseText(cmd.where);
      if (f.ok()) where = std::move(*f);
      else valid = f.status();
      break;
    }
    case LoggedCommand::Kind::kCreatePayloadIndex:
      valid = payload::ParseFieldName(cmd.field).status();
      break;
    case LoggedCommand::Kind::kDropPayloadIndex:
      break;
    case LoggedCommand::Kind::kRate:
      // The proposer stamps the time: a replica's own clock would make replicas differ.
      valid = ValidateRating(cmd.rating);
      if (valid.ok() && cmd.rating.time_ms == 0)
        valid = Status::InvalidArgument("a logged rating needs the time its proposer gave it (time_ms 0)");
      break;
    default:
      valid = Status::InvalidArgument("unknown command kind " + std::to_string(static_cast<int>(cmd.kind)));
  }

  IndexSync::LocalWriter writer(sync_);
  // A delete-by-filter selects its points through the in-memory index, which must hold
  // exactly what the store holds (this process's writer lock keeps it so until commit).
  if (where) VECTRON_RETURN_IF_ERROR(sync_.CatchUp());
  LoggedOutcome out;
  out.applied_by = applied_by;
  bool changed = false;
  std::optional<WriteTxn> wt;
  {
    VECTRON_ASSIGN_OR_RETURN(WriteTxn t, WriteTxn::Begin(store_.env()));
    wt.emplace(std::move(t));
  }
  VECTRON_ASSIGN_OR_RETURN(uint64_t applied, store_.Counter(*wt, meta_key::kAppliedIndex));
  if (log_index <= applied) {
    out.replay = true;
    return out;
  }
  std::optional<LoggedOutcome> first;
  if (!request.empty()) {
    VECTRON_ASSIGN_OR_RETURN(first, store_.RequestOutcome(*wt, request));
  }
  if (first) {
    out = std::move(*first);
  } else if (!valid.ok()) {
    out.status = valid;
  } else {
    Result<bool> r = false;
    switch (cmd.kind) {
      case LoggedCommand::Kind::kWrite:
        r = WritePoints(*wt, cmd.batch, metadata);
        break;
      case LoggedCommand::Kind::kDeleteWhere: {
        Result<std::vector<std::string>> ids = cache_.IdsWhere(*where, store_.MetadataLoader(*wt));
        if (!ids.ok()) {
          r = ids.status();
          break;
        }
        WriteBatch deletes;
        for (std::string& id : *ids) deletes.Delete(std::move(id));
        out.deleted = ids->size();
        r = WritePoints(*wt, deletes, std::vector<std::string>(deletes.size()));
        break;
      }
      case LoggedCommand::Kind::kCreatePayloadIndex: {
        Status s = CreatePayloadIndexIn(*wt, cmd.field, cmd.type);
        r = s.ok() ? Result<bool>(true) : Result<bool>(s);
        break;
      }
      case LoggedCommand::Kind::kDropPayloadIndex: {
        Status s = DropPayloadIndexIn(*wt, cmd.field);
        r = s.ok() ? Result<bool>(true) : Result<bool>(s);
        break;
      }
      case LoggedCommand::Kind::kRate: {
        // A rating leaves the in-memory index alone: nothing to catch up.
        Status s = AddRatingIn(*wt, cmd.rating);
        r = s.ok() ? Result<bool>(false) : Result<bool>(s);
        break;
      }
    }
    if (r.ok()) {
      changed = *r;
    } else {
      if (!IsRejection(r.status())) return r.status();  // Not the command's fault: the node stops.
      // Rejected part way: drop what was written, record only the index and the outcome.
      out.status = r.status();
      out.deleted = 0;
      wt.reset();
      VECTRON_ASSIGN_OR_RETURN(WriteTxn t, WriteTxn::Begin(store_.env()));
      wt.emplace(std::move(t));
    }
  }
  VECTRON_RETURN_IF_ERROR(store_.PutCounter(*wt, meta_key::kAppliedIndex, log_index));
  if (!request.empty()) {
    LoggedOutcome record = out;
    record.duplicate = false;
    VECTRON_RETURN_IF_ERROR(store_.RecordRequest(*wt, request, record, log_index));
  }
  VECTRON_RETURN_IF_ERROR(std::move(*wt).Commit());
  wt.reset();
  if (changed) {
    Status s = sync_.CatchUp();
    if (!s.ok()) return s.WithContext("command committed, but the in-memory index did not catch up");
  }
  return out;
}

}  // namespace vectron
