#include "net/cluster/shard_command.h"

#include <cstdint>

#include "net/cluster/codec.h"

namespace vectron::net::cluster {

std::string EncodeShardCommand(const ShardCommand& cmd) {
  ByteWriter w;
  w.U8(kShardCommandVersion);
  w.U8(cmd.split ? kShardSplitKind : static_cast<uint8_t>(cmd.kind));
  w.U64(cmd.request.client);
  w.U64(cmd.request.seq);
  w.U64(cmd.request.acked_below);
  w.U64(cmd.epoch);
  if (cmd.split) {
    w.U64(cmd.split->new_group);
    w.U64(cmd.split->start);
    w.U64(cmd.split->end);
    w.U64(cmd.split->key);
    w.U32(static_cast<uint32_t>(cmd.split->voters.size()));
    for (uint64_t v : cmd.split->voters) w.U64(v);
    return w.Take();
  }
  switch (cmd.kind) {
    case ShardCommand::Kind::kWrite:
      w.U32(static_cast<uint32_t>(cmd.batch.size()));
      for (const WriteBatch::Entry& e : cmd.batch.entries()) {
        w.U8(static_cast<uint8_t>(e.op));
        w.Bytes(e.id);
        switch (e.op) {
          case WriteBatch::Op::kUpsert:
            w.Floats(cmd.batch.vector(e));
            w.Bytes(e.metadata);
            break;
          case WriteBatch::Op::kDelete: break;
          case WriteBatch::Op::kSetMetadata:
          case WriteBatch::Op::kMergeMetadata: w.Bytes(e.metadata); break;
          case WriteBatch::Op::kUpdateVector: w.Floats(cmd.batch.vector(e)); break;
        }
      }
      break;
    case ShardCommand::Kind::kDeleteWhere:
      w.Bytes(cmd.where);
      break;
    case ShardCommand::Kind::kCreatePayloadIndex:
      w.Bytes(cmd.field);
      w.U8(static_cast<uint8_t>(cmd.type));
      break;
    case ShardCommand::Kind::kDropPayloadIndex:
      w.Bytes(cmd.field);
      break;
    case ShardCommand::Kind::kRate:
      w.Bytes(cmd.rating.point_id);
      w.U8(static_cast<uint8_t>(cmd.rating.rating));
      w.U64(static_cast<uint64_t>(cmd.rating.time_ms));
      w.Bytes(cmd.rating.query_id);
      w.Bytes(cmd.rating.comment);
      break;
  }
  return w.Take();
}

Status DecodeShardCommand(std::string_view data, ShardCommand* out) {
  ByteReader r(data);
  uint8_t version = r.U8();
  if (r.ok() && version != 1 && version != kShardCommandVersion)
    return Status::Corruption("shard command: unknown format version " + std::to_string(version));
  uint8_t kind = r.U8();
  *out = ShardCommand{};
  out->request.client = r.U64();
  out->request.seq = r.U64();
  out->request.acked_below = r.U64();
  if (version >= 2) out->epoch = r.U64();
  if (!r.ok()) return Status::Corruption("shard command: truncated header");
  switch (kind) {
    case kShardSplitKind: {
      ShardSplit sp;
      sp.new_group = r.U64();
      sp.start = r.U64();
      sp.end = r.U64();
      sp.key = r.U64();
      uint32_t n = r.Count(16, 8);
      for (uint32_t i = 0; i < n && r.ok(); ++i) sp.voters.push_back(r.U64());
      if (r.ok() && (sp.new_group == 0 || sp.voters.empty() || !(sp.key > sp.start && (sp.end == 0 || sp.key < sp.end))))
        return Status::Corruption("shard command: a split needs a new group, voters and a cut inside its range");
      out->split = std::move(sp);
      break;
    }
    case static_cast<uint8_t>(ShardCommand::Kind::kWrite): {
      out->kind = ShardCommand::Kind::kWrite;
      // An entry takes at least 1 (op) + 4 (id length) bytes.
      uint32_t n = r.Count(kMaxCommandEntries, 5);
      for (uint32_t i = 0; i < n && r.ok(); ++i) {
        uint8_t op = r.U8();
        std::string id = r.Bytes(kMaxIdBytes);
        if (op == static_cast<uint8_t>(WriteBatch::Op::kUpsert)) {
          std::vector<float> v = r.Floats(kMaxDim);
          std::string meta = r.Bytes(kMaxMetadataBytes);
          if (r.ok()) out->batch.Upsert(std::move(id), v, std::move(meta));
        } else if (op == static_cast<uint8_t>(WriteBatch::Op::kDelete)) {
          if (r.ok()) out->batch.Delete(std::move(id));
        } else if (op == static_cast<uint8_t>(WriteBatch::Op::kSetMetadata) ||
                   op == static_cast<uint8_t>(WriteBatch::Op::kMergeMetadata)) {
          std::string meta = r.Bytes(kMaxMetadataBytes);
          if (r.ok())
            out->batch.SetMetadata(std::move(id), std::move(meta),
                                   op == static_cast<uint8_t>(WriteBatch::Op::kMergeMetadata));
        } else if (op == static_cast<uint8_t>(WriteBatch::Op::kUpdateVector)) {
          std::vector<float> v = r.Floats(kMaxDim);
          if (r.ok()) out->batch.UpdateVector(std::move(id), v);
        } else if (r.ok()) {
          return Status::Corruption("shard command: unknown write op " + std::to_string(op) + " in entry " +
                                    std::to_string(i));
        }
      }
      break;
    }
    case static_cast<uint8_t>(ShardCommand::Kind::kDeleteWhere):
      out->kind = ShardCommand::Kind::kDeleteWhere;
      out->where = r.Bytes(kMaxFilterBytes);
      break;
    case static_cast<uint8_t>(ShardCommand::Kind::kCreatePayloadIndex): {
      out->kind = ShardCommand::Kind::kCreatePayloadIndex;
      out->field = r.Bytes(kMaxFilterBytes);
      uint8_t t = r.U8();
      if (r.ok() && (t < static_cast<uint8_t>(PayloadType::kKeyword) || t > static_cast<uint8_t>(PayloadType::kBool)))
        return Status::Corruption("shard command: unknown payload type " + std::to_string(t));
      out->type = static_cast<PayloadType>(t);
      break;
    }
    case static_cast<uint8_t>(ShardCommand::Kind::kDropPayloadIndex):
      out->kind = ShardCommand::Kind::kDropPayloadIndex;
      out->field = r.Bytes(kMaxFilterBytes);
      break;
    case static_cast<uint8_t>(ShardCommand::Kind::kRate): {
      // The rating's value and the point id's form are the shard's to judge (a
      // deterministic rejection); the decoder bounds only what it allocates.
      out->kind = ShardCommand::Kind::kRate;
      out->rating.point_id = r.Bytes(kMaxIdBytes);
      out->rating.rating = r.U8();
      const uint64_t t = r.U64();
      if (r.ok() && t > static_cast<uint64_t>(INT64_MAX))
        return Status::Corruption("shard command: rating time " + std::to_string(t) + " is out of range");
      out->rating.time_ms = static_cast<int64_t>(t);
      out->rating.query_id = r.Bytes(kMaxQueryIdBytes);
      out->rating.comment = r.Bytes(kMaxFeedbackCommentBytes);
      break;
    }
    default:
      return Status::Corruption("shard command: unknown kind " + std::to_string(kind));
  }
  if (!r.ok()) return Status::Corruption("shard command: truncated or over a size limit");
  if (!r.done()) return Status::Corruption("shard command: trailing bytes");
  return Status::OK();
}

}  // namespace vectron::net::cluster
