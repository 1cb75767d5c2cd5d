// The five-minute walkthrough of docs/clients.md with the Go client, against a running
// `vectron serve` (TLS and auth on):
//
//	VECTRON_ADMIN_PASSWORD='correct horse battery staple' vectron serve --db ./vectron-data &
//	cd examples/go && VECTRON_PASSWORD='correct horse battery staple' go run .
//
// Environment: VECTRON_URL (https://127.0.0.1:7700), VECTRON_CA (the server's certificate,
// ../../vectron-data/tls/cert.pem; empty = the system trust store), and either
// VECTRON_TOKEN (an SDK token with the read, write and admin scopes) or VECTRON_PASSWORD
// (the admin's password: the example then logs in and makes an API key, revoked at the end).
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"vectron.dev/vectron"
)

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func main() {
	ctx := context.Background()
	url := env("VECTRON_URL", "https://127.0.0.1:7700")
	var opts []vectron.Option
	if ca := env("VECTRON_CA", "../../vectron-data/tls/cert.pem"); ca != "" {
		opts = append(opts, vectron.WithCAFile(ca))
	}

	// 1. A token. Programs use an SDK token; a login token (user name and password) only manages keys.
	token := os.Getenv("VECTRON_TOKEN")
	var admin *vectron.Client
	var keyID string
	if token == "" {
		var err error
		admin, err = vectron.NewClient(url, "", opts...)
		check(err)
		_, err = admin.Login(ctx, "admin", os.Getenv("VECTRON_PASSWORD"))
		check(err)
		key, err := admin.CreateKey(ctx, vectron.KeyRequest{Name: "quickstart",
			Scopes: []vectron.Scope{vectron.ScopeRead, vectron.ScopeWrite, vectron.ScopeAdmin}})
		check(err)
		token, keyID = key.Token, key.KeyID
		fmt.Printf("created API key %s\n", keyID)
	}

	// 2. Connect. Calls that are safe to repeat are retried on 503, 429 and connection errors.
	client, err := vectron.NewClient(url, token, append(opts, vectron.WithTimeout(10*time.Second), vectron.WithRetries(3))...)
	check(err)

	// 3. A collection (an earlier run's is dropped: not_found if there is none).
	if err := client.DropCollection(ctx, "quickstart"); err != nil && !vectron.IsNotFound(err) {
		check(err)
	}
	_, err = client.CreateCollection(ctx, vectron.CollectionSpec{Name: "quickstart", Dim: 4, Metric: vectron.MetricCosine})
	check(err)
	docs := client.Collection("quickstart")

	// 4. Points: id, vector, optional metadata; one atomic, durable batch.
	_, err = docs.Upsert(ctx, []vectron.Point{
		{ID: "mercury", Vector: []float32{0.9, 0.1, 0.0, 0.0}, Metadata: map[string]any{"kind": "planet", "moons": 0}},
		{ID: "venus", Vector: []float32{0.8, 0.3, 0.1, 0.0}, Metadata: map[string]any{"kind": "planet", "moons": 0}},
		{ID: "earth", Vector: []float32{0.6, 0.6, 0.2, 0.1}, Metadata: map[string]any{"kind": "planet", "moons": 1}},
		{ID: "moon", Vector: []float32{0.5, 0.7, 0.1, 0.1}, Metadata: map[string]any{"kind": "moon", "of": "earth"}},
		{ID: "mars", Vector: []float32{0.4, 0.4, 0.7, 0.1}, Metadata: map[string]any{"kind": "planet", "moons": 2}},
		{ID: "phobos", Vector: []float32{0.3, 0.4, 0.8, 0.2}, Metadata: map[string]any{"kind": "moon", "of": "mars"}},
	})
	check(err)
	n, err := docs.Count(ctx, nil)
	check(err)
	fmt.Printf("points: %d\n", n)

	// 5. Search: nearest first; Score is a distance (lower is nearer).
	hits, err := docs.Search(ctx, vectron.SearchRequest{Vector: []float32{0.6, 0.62, 0.18, 0.1}, K: 3,
		Include: []vectron.Include{vectron.IncludeMetadata}})
	check(err)
	for _, h := range hits {
		fmt.Printf("hit %s %.4f %v\n", h.ID, h.Score, h.Metadata)
	}

	// 6. Filters (docs/filter.md); a payload index makes them faster.
	check(docs.CreatePayloadIndex(ctx, "kind", vectron.IndexKeyword))
	planets, err := docs.Search(ctx, vectron.SearchRequest{Vector: []float32{0.3, 0.4, 0.8, 0.2}, K: 2,
		Where: vectron.Filter{"kind": "planet", "moons": vectron.Filter{"$gte": 1}}})
	check(err)
	fmt.Printf("planets with moons near phobos: %s\n", strings.Join(ids(planets), ", "))
	moons, err := docs.Count(ctx, vectron.Filter{"kind": "moon"})
	check(err)
	fmt.Printf("moons: %d\n", moons)

	// 7. Read back: by id, and every point page by page.
	got, err := docs.Get(ctx, []string{"earth", "pluto"}, vectron.IncludeMetadata)
	check(err)
	var found []string
	for _, p := range got.Points {
		found = append(found, p.ID)
	}
	fmt.Printf("get: %s; not found: %s\n", strings.Join(found, ", "), strings.Join(got.NotFound, ", "))
	var all []string
	check(docs.ScrollAll(ctx, vectron.ScrollRequest{Limit: 2}, func(p vectron.Point) error {
		all = append(all, p.ID)
		return nil
	}))
	fmt.Printf("scroll: %s\n", strings.Join(all, ", "))

	// 8. Errors carry the server's code, message and HTTP status.
	_, err = docs.Search(ctx, vectron.SearchRequest{Vector: []float32{1, 0}, K: 3})
	var apiErr *vectron.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != vectron.CodeInvalidArgument {
		log.Fatalf("expected invalid_argument, got %v", err)
	}
	fmt.Printf("error: %d %s: %s\n", apiErr.HTTPStatus, apiErr.Code, apiErr.Message)

	// 9. Delete by id and by filter, then clean up.
	deleted, err := docs.Delete(ctx, []string{"venus"})
	check(err)
	fmt.Printf("deleted by id: %d\n", deleted)
	deleted, err = docs.DeleteWhere(ctx, vectron.Filter{"kind": "moon"})
	check(err)
	fmt.Printf("deleted by filter: %d\n", deleted)
	n, err = docs.Count(ctx, nil)
	check(err)
	fmt.Printf("left: %d\n", n)
	check(client.DropCollection(ctx, "quickstart"))
	if admin != nil {
		check(admin.RevokeKey(ctx, keyID))
	}
	fmt.Println("done")
}

func ids(hits []vectron.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
