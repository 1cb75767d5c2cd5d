// libFuzzer target for the RPC frame decoder and Request verification: any bytes, split
// anywhere, must give frames or an error, and every frame the verifier accepts must be
// safe to read in full (as the server does before executing it).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "net/rpc/frame.h"
#include "rpc_generated.h"

namespace fb = ::vectron::rpc;

namespace {

size_t Touch(const flatbuffers::String* s) { return s ? s->size() + (s->size() ? s->c_str()[s->size() - 1] : 0) : 0; }

size_t ReadAll(const fb::Request* r) {
  size_t n = r->id() + r->deadline_ms() + Touch(r->token());
  if (r->body() == nullptr) return n;  // The server refuses these before reading.
  switch (r->body_type()) {
    case fb::Body::SearchRequest: {
      auto* s = r->body_as_SearchRequest();
      n += Touch(s->collection()) + Touch(s->where()) + s->nq() + s->k();
      if (s->vectors())
        for (float f : *s->vectors()) n += f > 0;
      break;
    }
    case fb::Body::UpsertRequest: {
      auto* u = r->body_as_UpsertRequest();
      n += Touch(u->collection());
      if (u->ids())
        for (auto id : *u->ids()) n += Touch(id);
      if (u->metadata())
        for (auto m : *u->metadata()) n += Touch(m);
      if (u->vectors()) n += u->vectors()->size();
      break;
    }
    case fb::Body::GetRequest:
      if (r->body_as_GetRequest()->ids())
        for (auto id : *r->body_as_GetRequest()->ids()) n += Touch(id);
      break;
    case fb::Body::DeleteRequest:
      if (r->body_as_DeleteRequest()->ids())
        for (auto id : *r->body_as_DeleteRequest()->ids()) n += Touch(id);
      n += Touch(r->body_as_DeleteRequest()->where());
      break;
    case fb::Body::ScrollRequest: {
      auto* s = r->body_as_ScrollRequest();
      n += Touch(s->collection()) + Touch(s->cursor()) + Touch(s->where()) + s->limit() + s->include_vector();
      break;
    }
    case fb::Body::CreateIndexRequest: {
      auto* c = r->body_as_CreateIndexRequest();
      n += Touch(c->collection()) + Touch(c->field()) + Touch(c->type());
      break;
    }
    case fb::Body::ListIndexesRequest:
      n += Touch(r->body_as_ListIndexesRequest()->collection());
      break;
    case fb::Body::DropIndexRequest:
      n += Touch(r->body_as_DropIndexRequest()->collection()) + Touch(r->body_as_DropIndexRequest()->field());
      break;
    case fb::Body::DescribeCollectionRequest:
      n += Touch(r->body_as_DescribeCollectionRequest()->collection());
      break;
    case fb::Body::CountRequest:
      n += Touch(r->body_as_CountRequest()->collection()) + Touch(r->body_as_CountRequest()->where());
      break;
    default:
      break;
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t split = data[0] % 32 + 1;
  ++data;
  --size;
  vectron::net::FrameDecoder d(4096);
  volatile size_t sink = 0;
  for (size_t pos = 0; pos < size; pos += split) {
    std::vector<std::string> frames;
    auto st = d.Feed(std::string_view(reinterpret_cast<const char*>(data) + pos, std::min(split, size - pos)), &frames);
    for (auto& f : frames) {
      // Copy into aligned storage, as std::string data is.
      flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(f.data()), f.size());
      if (f.size() >= 8 && v.VerifyBuffer<fb::Request>(nullptr)) sink = sink + ReadAll(flatbuffers::GetRoot<fb::Request>(f.data()));
    }
    if (!st.ok()) break;
  }
  return 0;
}
