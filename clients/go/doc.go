// Package vectron is the Go client of `vectron serve` (REST/JSON over HTTPS), using only
// the standard library.
//
//	client, err := vectron.NewClient("https://127.0.0.1:7700", sdkToken,
//		vectron.WithCAFile("vectron-data/tls/cert.pem"))
//	if err != nil { ... }
//	docs := client.Collection("docs")
//	n, err := docs.Upsert(ctx, []vectron.Point{{ID: "a", Vector: []float32{1, 2, 3}}})
//	hits, err := docs.Search(ctx, vectron.SearchRequest{Vector: q, K: 5, Where: vectron.Filter{"genre": "jazz"}})
//	if vectron.IsNotFound(err) { ... }
//
// Every method takes a context.Context and is safe for concurrent use. Errors from the
// server are *APIError values (use errors.As, or the IsNotFound-style helpers, or
// errors.Is with ErrNotFound and its siblings); failures to get any answer are
// *ConnectionError; a passed deadline is context.DeadlineExceeded (errors.Is).
//
// Calls that are safe to repeat are retried on 503, 429 (after its Retry-After) and
// connection errors, with exponential backoff and jitter; the others never are. Each
// method's comment says which it is; docs/clients.md explains the choice.
package vectron
