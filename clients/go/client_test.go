package vectron_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"vectron.dev/vectron"
)

// shared is the server of the data-route tests, started once in TestMain.
var shared struct {
	srv   *server
	token string // SDK token: read, write, admin
}

func TestMain(m *testing.M) {
	s, err := launch()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared.srv = s
	code := m.Run()
	if err := s.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n%s", err, s.output())
		code = 1
	}
	os.Exit(code)
}

var ctx = context.Background()

// data returns a client with an admin SDK token on the shared server.
func data(t *testing.T) *vectron.Client {
	t.Helper()
	if shared.token == "" {
		shared.token = shared.srv.adminKey(t)
	}
	return shared.srv.client(t, shared.token)
}

// wantAPIError checks that err is an *APIError with the status and code, and a message containing fragment.
func wantAPIError(t *testing.T, err error, status int, code, fragment string) *vectron.APIError {
	t.Helper()
	var e *vectron.APIError
	if !errors.As(err, &e) {
		t.Fatalf("want *APIError %s, got %T: %v", code, err, err)
	}
	if e.HTTPStatus != status || e.Code != code || !strings.Contains(e.Message, fragment) {
		t.Fatalf("want %d %s %q, got %d %s %q", status, code, fragment, e.HTTPStatus, e.Code, e.Message)
	}
	return e
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ids(points []vectron.Point) []string {
	out := []string{}
	for _, p := range points {
		out = append(out, p.ID)
	}
	return out
}

func hitIDs(hits []vectron.Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.ID)
	}
	return out
}

func TestLoginMeRefreshAndKeys(t *testing.T) {
	s := shared.srv
	anon := s.client(t, "")
	_, err := anon.Login(ctx, "admin", "wrong password")
	wantAPIError(t, err, 401, vectron.CodeUnauthenticated, "wrong user name or password")
	if !vectron.IsUnauthenticated(err) || !errors.Is(err, vectron.ErrUnauthenticated) || anon.Token() != "" {
		t.Fatalf("helpers disagree or the token was set: %v", err)
	}
	tok := must[*vectron.LoginToken](t)(anon.Login(ctx, "admin", adminPassword))
	if tok.TokenType != "Bearer" || !tok.ExpiresAt.After(time.Now()) || anon.Token() != tok.Token {
		t.Fatalf("login token %+v", tok)
	}
	me := must[*vectron.WhoAmI](t)(anon.Me(ctx))
	if me.User != "admin" || me.Role != "admin" || me.AuthTime.IsZero() {
		t.Fatalf("me %+v", me)
	}
	tok2 := must[*vectron.LoginToken](t)(anon.Refresh(ctx))
	if tok2.Token == tok.Token || anon.Token() != tok2.Token {
		t.Fatal("refresh did not replace the token")
	}

	key := must[*vectron.CreatedKey](t)(anon.CreateKey(ctx, vectron.KeyRequest{Name: "reader",
		Scopes: []vectron.Scope{vectron.ScopeRead}, Collections: []string{"k1"}, ExpiresIn: time.Hour}))
	if !strings.HasPrefix(key.KeyID, "vk_") || strings.Count(key.Token, ".") != 2 || !key.ExpiresAt.After(time.Now()) {
		t.Fatalf("key %+v", key)
	}
	var listed *vectron.APIKey
	for _, k := range must[[]vectron.APIKey](t)(anon.ListKeys(ctx)) {
		if k.KeyID == key.KeyID {
			k := k
			listed = &k
		}
	}
	if listed == nil || listed.Name != "reader" || listed.Owner != "admin" || !reflect.DeepEqual(listed.Scopes, []vectron.Scope{"read"}) ||
		!reflect.DeepEqual(listed.Collections, []string{"k1"}) || !listed.ExpiresAt.Equal(key.ExpiresAt) || listed.Revoked || listed.CreatedAt.IsZero() {
		t.Fatalf("listed %+v", listed)
	}
	// An SDK token cannot manage keys; a login token cannot use the data API.
	sdk := s.client(t, key.Token)
	_, err = sdk.ListKeys(ctx)
	wantAPIError(t, err, 403, vectron.CodePermissionDenied, "")
	_, err = anon.Collection("k1").Count(ctx, nil)
	wantAPIError(t, err, 403, vectron.CodePermissionDenied, "")
	c := data(t)
	must[*vectron.CollectionInfo](t)(c.CreateCollection(ctx, vectron.CollectionSpec{Name: "k1", Dim: 2}))
	if n := must[int64](t)(sdk.Collection("k1").Count(ctx, nil)); n != 0 {
		t.Fatalf("count %d", n)
	}
	_, err = sdk.GetCollection(ctx, "other") // outside the allow-list
	wantAPIError(t, err, 403, vectron.CodePermissionDenied, "")

	check(t, anon.RevokeKey(ctx, key.KeyID))
	check(t, anon.RevokeKey(ctx, key.KeyID)) // twice is fine (why RevokeKey is retried)
	_, err = sdk.Collection("k1").Count(ctx, nil)
	wantAPIError(t, err, 401, vectron.CodeUnauthenticated, "revoked")
	wantAPIError(t, anon.RevokeKey(ctx, "vk_nosuchkey"), 404, vectron.CodeNotFound, "")
	check(t, c.DropCollection(ctx, "k1"))
}

func TestCollections(t *testing.T) {
	c := data(t)
	info := must[*vectron.CollectionInfo](t)(c.CreateCollection(ctx, vectron.CollectionSpec{Name: "c1", Dim: 3, Metric: vectron.MetricL2,
		HNSW: &vectron.HNSWParams{M: 8, EFConstruction: 50, EFSearch: 20, Seed: 7}, Shards: 2, FlatMaxPoints: 500}))
	want := vectron.HNSWParams{M: 8, EFConstruction: 50, EFSearch: 20, Seed: 7}
	if info.Name != "c1" || info.Config.HNSW != want || info.Config.Dim != 3 || info.Config.Metric != vectron.MetricL2 ||
		info.Config.Shards != 2 || info.Config.FlatMaxPoints != 500 || info.Config.CheckpointEveryOps <= 0 || info.Stats != nil {
		t.Fatalf("created %+v", info)
	}
	_, err := c.CreateCollection(ctx, vectron.CollectionSpec{Name: "c1", Dim: 3})
	wantAPIError(t, err, 409, vectron.CodeAlreadyExists, "c1")
	if !vectron.IsAlreadyExists(err) || !errors.Is(err, vectron.ErrAlreadyExists) || errors.Is(err, vectron.ErrNotFound) {
		t.Fatal("errors.Is / IsAlreadyExists")
	}
	_, err = c.CreateCollection(ctx, vectron.CollectionSpec{Name: "bad name!", Dim: 3})
	wantAPIError(t, err, 400, vectron.CodeInvalidArgument, "")
	_, err = c.CreateCollection(ctx, vectron.CollectionSpec{Name: "c2"})
	wantAPIError(t, err, 400, vectron.CodeInvalidArgument, "dim")

	var found *vectron.CollectionSummary
	for _, s := range must[[]vectron.CollectionSummary](t)(c.ListCollections(ctx)) {
		if s.Name == "c1" {
			s := s
			found = &s
		}
	}
	if found == nil || found.DiskBytes <= 0 || found.IndexMemoryBytes < 0 {
		t.Fatalf("listed %+v", found)
	}
	if f := *found; (vectron.CollectionSummary{Name: f.Name, Dim: f.Dim, Metric: f.Metric, Shards: f.Shards, Count: f.Count, IndexKind: f.IndexKind}) !=
		(vectron.CollectionSummary{Name: "c1", Dim: 3, Metric: "l2", Shards: 2, Count: 0, IndexKind: "flat"}) {
		t.Fatalf("listed %+v", found)
	}
	must[int](t)(c.Collection("c1").Upsert(ctx, []vectron.Point{{ID: "a", Vector: []float32{1, 2, 3}}}))
	got := must[*vectron.CollectionInfo](t)(c.GetCollection(ctx, "c1"))
	if got.Stats == nil || got.Stats.Count != 1 || got.Stats.DiskBytes <= 0 || got.Stats.IndexKind == "" || got.Config != info.Config {
		t.Fatalf("got %+v %+v", got, got.Stats)
	}
	if again := must[*vectron.CollectionInfo](t)(c.Collection("c1").Info(ctx)); again.Config != got.Config {
		t.Fatal("Info differs from GetCollection")
	}
	check(t, c.DropCollection(ctx, "c1"))
	_, err = c.GetCollection(ctx, "c1")
	wantAPIError(t, err, 404, vectron.CodeNotFound, "c1")
	wantAPIError(t, c.DropCollection(ctx, "c1"), 404, vectron.CodeNotFound, "")
	_, err = c.Collection("c1").Count(ctx, nil)
	if !vectron.IsNotFound(err) {
		t.Fatalf("count on a dropped collection: %v", err)
	}
}

func TestPoints(t *testing.T) {
	c := data(t)
	must[*vectron.CollectionInfo](t)(c.CreateCollection(ctx, vectron.CollectionSpec{Name: "p", Dim: 3, Metric: vectron.MetricL2}))
	col := c.Collection("p")
	n := must[int](t)(col.Upsert(ctx, []vectron.Point{
		{ID: "a", Vector: []float32{1, 0, 0}, Metadata: map[string]any{"color": "red", "n": 1}},
		{ID: "b", Vector: []float32{0, 1, 0}, Metadata: map[string]any{"color": "blue", "n": 2}},
		{ID: "c", Vector: []float32{0, 0, 1}},
	}))
	if n != 3 {
		t.Fatalf("upserted %d", n)
	}
	got := must[*vectron.GetResult](t)(col.Get(ctx, []string{"a", "b", "zz"}))
	want := &vectron.GetResult{Points: []vectron.Point{
		{ID: "a", Vector: []float32{1, 0, 0}, Metadata: map[string]any{"color": "red", "n": 1.0}},
		{ID: "b", Vector: []float32{0, 1, 0}, Metadata: map[string]any{"color": "blue", "n": 2.0}},
	}, NotFound: []string{"zz"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("get %+v", got)
	}
	onlyMeta := must[*vectron.GetResult](t)(col.Get(ctx, []string{"c", "a"}, vectron.IncludeMetadata))
	if len(onlyMeta.Points) != 2 || onlyMeta.Points[0].Vector != nil || onlyMeta.Points[0].Metadata != nil ||
		onlyMeta.Points[1].Metadata["color"] != "red" || len(onlyMeta.NotFound) != 0 {
		t.Fatalf("get metadata only %+v", onlyMeta)
	}
	for where, want := range map[string]int64{"": 3, "red": 1} {
		var f vectron.Filter
		if where != "" {
			f = vectron.Filter{"color": where}
		}
		if n := must[int64](t)(col.Count(ctx, f)); n != want {
			t.Fatalf("count %q = %d", where, n)
		}
	}
	if n := must[int64](t)(col.Count(ctx, vectron.Filter{"n": vectron.Filter{"$gte": 1}})); n != 2 {
		t.Fatalf("count n >= 1: %d", n)
	}
	// One bad vector: InvalidArgument naming it, and nothing of the batch is written.
	_, err := col.Upsert(ctx, []vectron.Point{{ID: "d", Vector: []float32{1, 1, 1}}, {ID: "e", Vector: []float32{1, 1}}})
	wantAPIError(t, err, 400, vectron.CodeInvalidArgument, "dimension")
	if n := must[int64](t)(col.Count(ctx, nil)); n != 3 {
		t.Fatalf("a failed batch wrote %d points", n-3)
	}
	_, err = col.Count(ctx, vectron.Filter{"n": vectron.Filter{"$gt": []int{1}}})
	wantAPIError(t, err, 400, vectron.CodeInvalidArgument, "$gt")
	_, err = col.Upsert(ctx, []vectron.Point{{ID: "nan", Vector: []float32{float32(math.NaN()), 0, 0}}})
	if err == nil || !strings.Contains(err.Error(), "encoding the request") {
		t.Fatalf("NaN: %v", err)
	}

	if d := must[int64](t)(col.Delete(ctx, []string{"a", "nope"})); d != 1 {
		t.Fatalf("deleted %d", d)
	}
	if d := must[int64](t)(col.DeleteWhere(ctx, vectron.Filter{"color": "blue"})); d != 1 {
		t.Fatalf("deleted where %d", d)
	}
	_, err = col.DeleteWhere(ctx, vectron.Filter{"color": vectron.Filter{"$bad": 1}})
	wantAPIError(t, err, 400, vectron.CodeInvalidArgument, "")
	if _, err := col.DeleteWhere(ctx, nil); err == nil {
		t.Fatal("DeleteWhere(nil) must be refused")
	}
	if n := must[int64](t)(col.Count(ctx, nil)); n != 1 {
		t.Fatalf("left %d", n)
	}
	check(t, c.DropCollection(ctx, "p"))
}

func TestSearch(t *testing.T) {
	c := data(t)
	must[*vectron.CollectionInfo](t)(c.CreateCollection(ctx, vectron.CollectionSpec{Name: "s", Dim: 2, Metric: vectron.MetricL2}))
	col := c.Collection("s")
	var pts []vectron.Point
	for i := 0; i < 20; i++ {
		pts = append(pts, vectron.Point{ID: fmt.Sprintf("p%d", i), Vector: []float32{float32(i), 0},
			Metadata: map[string]any{"even": i%2 == 0, "i": i}})
	}
	must[int](t)(col.Upsert(ctx, pts))

	hits := must[[]vectron.Hit](t)(col.Search(ctx, vectron.SearchRequest{Vector: []float32{3.2, 0}, K: 3}))
	if !reflect.DeepEqual(hitIDs(hits), []string{"p3", "p4", "p2"}) || math.Abs(float64(hits[0].Score)-0.04) > 1e-5 ||
		hits[0].Metadata != nil || hits[0].Vector != nil {
		t.Fatalf("hits %+v", hits)
	}
	all := must[[]vectron.Hit](t)(col.Search(ctx, vectron.SearchRequest{Vector: []float32{3.2, 0}, K: 1, EF: 64,
		Include: []vectron.Include{vectron.IncludeMetadata, vectron.IncludeVector}}))
	if !reflect.DeepEqual(all[0].Metadata, map[string]any{"even": false, "i": 3.0}) || !reflect.DeepEqual(all[0].Vector, []float32{3, 0}) {
		t.Fatalf("include %+v", all[0])
	}
	even := must[[]vectron.Hit](t)(col.Search(ctx, vectron.SearchRequest{Vector: []float32{3.2, 0}, K: 2, Exact: true,
		Where: vectron.Filter{"even": true}}))
	if !reflect.DeepEqual(hitIDs(even), []string{"p4", "p2"}) {
		t.Fatalf("filtered %v", hitIDs(even))
	}
	if none := must[[]vectron.Hit](t)(col.Search(ctx, vectron.SearchRequest{Vector: []float32{0, 0}, K: 5,
		Where: vectron.Filter{"i": vectron.Filter{"$gt": 100}}})); len(none) != 0 {
		t.Fatalf("nothing matches, got %v", none)
	}
	batch := must[[][]vectron.Hit](t)(col.SearchBatch(ctx, vectron.SearchBatchRequest{Vectors: [][]float32{{0, 0}, {19, 0}}, K: 2,
		Include: []vectron.Include{vectron.IncludeMetadata}}))
	if len(batch) != 2 || !reflect.DeepEqual(hitIDs(batch[0]), []string{"p0", "p1"}) ||
		!reflect.DeepEqual(hitIDs(batch[1]), []string{"p19", "p18"}) || batch[1][0].Metadata["i"] != 19.0 {
		t.Fatalf("batch %+v", batch)
	}
	odd := must[[][]vectron.Hit](t)(col.SearchBatch(ctx, vectron.SearchBatchRequest{Vectors: [][]float32{{0, 0}}, K: 1,
		Where: vectron.Filter{"even": false}}))
	if !reflect.DeepEqual(hitIDs(odd[0]), []string{"p1"}) {
		t.Fatalf("batch filtered %v", odd)
	}
	_, err := col.Search(ctx, vectron.SearchRequest{Vector: []float32{1, 2, 3}, K: 1})
	wantAPIError(t, err, 400, vectron.CodeInvalidArgument, "dimension")
	_, err = col.Search(ctx, vectron.SearchRequest{Vector: []float32{1, 2}, K: -1})
	wantAPIError(t, err, 400, vectron.CodeInvalidArgument, `"k"`)
	_, err = col.SearchBatch(ctx, vectron.SearchBatchRequest{Vectors: [][]float32{{1, 2}, {1}}, K: 1})
	wantAPIError(t, err, 400, vectron.CodeInvalidArgument, "")
	check(t, c.DropCollection(ctx, "s"))
}

func TestScroll(t *testing.T) {
	c := data(t)
	must[*vectron.CollectionInfo](t)(c.CreateCollection(ctx, vectron.CollectionSpec{Name: "sc", Dim: 2}))
	col := c.Collection("sc")
	var pts []vectron.Point
	var all []string
	for i := 0; i < 25; i++ {
		id := fmt.Sprintf("id%02d", i)
		all = append(all, id)
		pts = append(pts, vectron.Point{ID: id, Vector: []float32{1, float32(i + 1)}, Metadata: map[string]any{"i": i}})
	}
	must[int](t)(col.Upsert(ctx, pts))
	first := must[*vectron.ScrollPage](t)(col.Scroll(ctx, vectron.ScrollRequest{Limit: 10}))
	if len(first.Points) != 10 || first.Points[0].ID != "id00" || first.Points[0].Metadata["i"] != 0.0 ||
		first.Points[0].Vector != nil || first.NextCursor == "" {
		t.Fatalf("first page %+v", first)
	}
	second := must[*vectron.ScrollPage](t)(col.Scroll(ctx, vectron.ScrollRequest{Limit: 10, Cursor: first.NextCursor,
		Include: []vectron.Include{vectron.IncludeVector}}))
	if !reflect.DeepEqual(second.Points[0], vectron.Point{ID: "id10", Vector: []float32{1, 11}}) {
		t.Fatalf("second page %+v", second.Points[0])
	}
	var seen []string
	check(t, col.ScrollAll(ctx, vectron.ScrollRequest{Limit: 7}, func(p vectron.Point) error { seen = append(seen, p.ID); return nil }))
	if !reflect.DeepEqual(seen, all) {
		t.Fatalf("scrolled %v", seen)
	}
	var odd []float64
	check(t, col.ScrollAll(ctx, vectron.ScrollRequest{Limit: 3, Where: vectron.Filter{"i": vectron.Filter{"$in": []int{1, 3, 5, 7, 9}}}},
		func(p vectron.Point) error { odd = append(odd, p.Metadata["i"].(float64)); return nil }))
	if !reflect.DeepEqual(odd, []float64{1, 3, 5, 7, 9}) {
		t.Fatalf("filtered scroll %v", odd)
	}
	stop := errors.New("stop")
	n := 0
	if err := col.ScrollAll(ctx, vectron.ScrollRequest{Limit: 2}, func(vectron.Point) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("ScrollAll must stop at fn's error: %v after %d", err, n)
	}
	if last := must[*vectron.ScrollPage](t)(col.Scroll(ctx, vectron.ScrollRequest{Limit: 100})); last.NextCursor != "" || len(last.Points) != 25 {
		t.Fatalf("one page of all: %d points, cursor %q", len(last.Points), last.NextCursor)
	}
	_, err := col.Scroll(ctx, vectron.ScrollRequest{Limit: -1})
	wantAPIError(t, err, 400, vectron.CodeInvalidArgument, "limit")
	check(t, c.DropCollection(ctx, "sc"))
}

func TestPayloadIndexes(t *testing.T) {
	c := data(t)
	must[*vectron.CollectionInfo](t)(c.CreateCollection(ctx, vectron.CollectionSpec{Name: "ix", Dim: 2}))
	col := c.Collection("ix")
	must[int](t)(col.Upsert(ctx, []vectron.Point{
		{ID: "a", Vector: []float32{1, 0}, Metadata: map[string]any{"genre": "jazz", "year": 1959}},
		{ID: "b", Vector: []float32{0, 1}, Metadata: map[string]any{"genre": "rock", "year": 1971}},
	}))
	check(t, col.CreatePayloadIndex(ctx, "genre", vectron.IndexKeyword))
	check(t, col.CreatePayloadIndex(ctx, "year", vectron.IndexInteger))
	wantAPIError(t, col.CreatePayloadIndex(ctx, "genre", vectron.IndexKeyword), 409, vectron.CodeAlreadyExists, "")
	wantAPIError(t, col.CreatePayloadIndex(ctx, "x", "colour"), 400, vectron.CodeInvalidArgument, "")
	listed := must[[]vectron.PayloadIndex](t)(col.ListPayloadIndexes(ctx))
	sort.Slice(listed, func(i, j int) bool { return listed[i].Field < listed[j].Field })
	if !reflect.DeepEqual(listed, []vectron.PayloadIndex{{Field: "genre", Type: "keyword"}, {Field: "year", Type: "integer"}}) {
		t.Fatalf("indexes %+v", listed)
	}
	if n := must[int64](t)(col.Count(ctx, vectron.Filter{"genre": "jazz", "year": vectron.Filter{"$lt": 1960}})); n != 1 {
		t.Fatalf("count %d", n)
	}
	check(t, col.DropPayloadIndex(ctx, "genre"))
	if l := must[[]vectron.PayloadIndex](t)(col.ListPayloadIndexes(ctx)); !reflect.DeepEqual(l, []vectron.PayloadIndex{{Field: "year", Type: "integer"}}) {
		t.Fatalf("after drop %+v", l)
	}
	wantAPIError(t, col.DropPayloadIndex(ctx, "genre"), 404, vectron.CodeNotFound, "")
	check(t, c.DropCollection(ctx, "ix"))
}

func TestScopesAndTokens(t *testing.T) {
	s := shared.srv
	c := data(t)
	must[*vectron.CollectionInfo](t)(c.CreateCollection(ctx, vectron.CollectionSpec{Name: "ro", Dim: 2}))
	must[int](t)(c.Collection("ro").Upsert(ctx, []vectron.Point{{ID: "a", Vector: []float32{1, 1}}}))
	admin := s.client(t, "")
	must[*vectron.LoginToken](t)(admin.Login(ctx, "admin", adminPassword))
	key := must[*vectron.CreatedKey](t)(admin.CreateKey(ctx, vectron.KeyRequest{Name: "ro", Scopes: []vectron.Scope{vectron.ScopeRead}}))
	reader := s.client(t, key.Token)
	if h := must[[]vectron.Hit](t)(reader.Collection("ro").Search(ctx, vectron.SearchRequest{Vector: []float32{1, 1}, K: 1})); !reflect.DeepEqual(hitIDs(h), []string{"a"}) {
		t.Fatalf("reader search %v", h)
	}
	_, err := reader.Collection("ro").Upsert(ctx, []vectron.Point{{ID: "b", Vector: []float32{1, 2}}})
	wantAPIError(t, err, 403, vectron.CodePermissionDenied, "write")
	if !vectron.IsPermissionDenied(err) || !errors.Is(err, vectron.ErrPermissionDenied) {
		t.Fatal("IsPermissionDenied")
	}
	wantAPIError(t, reader.DropCollection(ctx, "ro"), 403, vectron.CodePermissionDenied, "")
	_, err = s.client(t, "not.a.token").ListCollections(ctx)
	wantAPIError(t, err, 401, vectron.CodeUnauthenticated, "")
	_, err = s.client(t, "").ListCollections(ctx)
	wantAPIError(t, err, 401, vectron.CodeUnauthenticated, "")
	// SetToken switches the token of a live client.
	reader.SetToken(shared.token)
	must[int](t)(reader.Collection("ro").Upsert(ctx, []vectron.Point{{ID: "b", Vector: []float32{1, 2}}}))
	check(t, c.DropCollection(ctx, "ro"))
}

func TestHealthOptionsAndEscaping(t *testing.T) {
	s := shared.srv
	anon := s.client(t, "")
	check(t, anon.Health(ctx))
	// Names are escaped into the path: the server sees (and refuses) the name as given.
	_, err := data(t).GetCollection(ctx, "a b")
	wantAPIError(t, err, 400, vectron.CodeInvalidArgument, `"a b"`)
	_, err = data(t).GetCollection(ctx, "a/b")
	wantAPIError(t, err, 404, vectron.CodeNotFound, "")
	for _, bad := range []string{"127.0.0.1:7700", "ftp://x", "https://", ""} {
		if _, err := vectron.NewClient(bad, ""); err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
		}
	}
	for name, opts := range map[string][]vectron.Option{
		"missing CA file":  {vectron.WithCAFile("/nonexistent/cert.pem")},
		"CA file not PEM":  {vectron.WithCAFile("server_test.go")},
		"CA + HTTP client": {vectron.WithCAFile(s.CAFile), vectron.WithHTTPClient(anonHTTP())},
		"negative retries": {vectron.WithRetries(-1)},
		"negative timeout": {vectron.WithTimeout(-time.Second)},
		"bad backoff":      {vectron.WithBackoff(time.Second, time.Millisecond)},
	} {
		if _, err := vectron.NewClient(s.URL, "", opts...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
