// The ratings of a shard's points in the shard's LMDB environment, database "feedback"
// (docs/formats/storage.md, "feedback"):
//   [u16 BE id length][id]                 → summary: 5 × u64 BE (count of each rating)
//   [u16 BE id length][id][u64 BE number]  → one rating: [u8 rating][u64 BE time_ms]
//                                            [u16 BE query id length][query id][comment]
// A point's keys are contiguous (the summary first), so deleting a point deletes a range.
// The number of a new rating is the point's count before it (0, 1, 2, ...).
#pragma once

#include <functional>
#include <optional>
#include <string_view>

#include "storage/lmdb.h"
#include "vectron/feedback.h"
#include "vectron/status.h"

namespace vectron::feedback {

// Appends `r` (validated) to point r.point_id's ratings and updates its summary.
// REQUIRES: the point exists in `txn` (the caller checked), r.time_ms set.
Status Append(storage::WriteTxn& txn, storage::Dbi dbi, const Rating& r);
// The summary of point `id` (zero counts if it has no rating). Errors: Corruption.
Result<RatingStats> Stats(const storage::Txn& txn, storage::Dbi dbi, std::string_view id);
// Deletes every rating of point `id` (no-op if none).
Status Erase(storage::WriteTxn& txn, storage::Dbi dbi, std::string_view id);
// The point id a key of the database belongs to (nullopt for a key too short to hold one).
std::optional<std::string_view> PointOfKey(std::string_view key);
// Calls fn on every rating whose key is above `after` ("" = every rating), in (point id
// length, point id, number) order, until fn fails; fn also gets the rating's key (pass it
// as `after` to go on after it). Errors: Corruption, fn's.
Status ScanAfter(const storage::Txn& txn, storage::Dbi dbi, std::string_view after,
                 const std::function<Status(const Rating&, std::string_view key)>& fn);

}  // namespace vectron::feedback
