package vectron_test

import (
	"reflect"
	"testing"

	"vectron.dev/vectron"
)

func TestPartialUpdatesListAndCollectionMetadata(t *testing.T) {
	c := data(t)
	_, err := c.CreateCollection(ctx, vectron.CollectionSpec{Name: "upd", Dim: 2, Metric: vectron.MetricL2,
		Metadata: map[string]any{"owner": "go"}})
	check(t, err)
	defer func() { _ = c.DropCollection(ctx, "upd2") }()
	col := c.Collection("upd")
	_, err = col.Upsert(ctx, []vectron.Point{
		{ID: "a", Vector: []float32{0, 0}, Metadata: map[string]any{"k": "a", "n": 1.0}},
		{ID: "b", Vector: []float32{1, 0}, Metadata: map[string]any{"k": "b"}},
		{ID: "c", Vector: []float32{2, 0}, Metadata: map[string]any{"k": "c"}},
	})
	check(t, err)
	n, err := col.UpdateMetadata(ctx, []vectron.MetadataUpdate{{ID: "a", Metadata: map[string]any{"n": nil, "x": true}}}, true)
	check(t, err)
	if n != 1 {
		t.Fatalf("updated %d", n)
	}
	got := must[*vectron.GetResult](t)(col.Get(ctx, []string{"a"}))
	if !reflect.DeepEqual(got.Points[0].Metadata, map[string]any{"k": "a", "x": true}) ||
		!reflect.DeepEqual(got.Points[0].Vector, []float32{0, 0}) {
		t.Fatalf("after merge: %+v", got.Points[0])
	}
	_, err = col.UpdateVectors(ctx, []vectron.VectorUpdate{{ID: "c", Vector: []float32{9, 9}}})
	check(t, err)
	got = must[*vectron.GetResult](t)(col.Get(ctx, []string{"c"}))
	if !reflect.DeepEqual(got.Points[0].Vector, []float32{9, 9}) || got.Points[0].Metadata["k"] != "c" {
		t.Fatalf("after vector update: %+v", got.Points[0])
	}
	_, err = col.UpdateMetadata(ctx, []vectron.MetadataUpdate{{ID: "ghost", Metadata: map[string]any{}}}, false)
	wantAPIError(t, err, 404, vectron.CodeNotFound, "ghost")

	page := must[[]vectron.Point](t)(col.List(ctx, vectron.ListRequest{Limit: 2, Offset: 1}))
	if !reflect.DeepEqual(ids(page), []string{"b", "c"}) {
		t.Fatalf("list %v", ids(page))
	}
	th := float32(1.5)
	hits := must[[]vectron.Hit](t)(col.Search(ctx, vectron.SearchRequest{Vector: []float32{0, 0}, K: 3, Exact: true,
		ScoreThreshold: &th}))
	if !reflect.DeepEqual(hitIDs(hits), []string{"a", "b"}) {
		t.Fatalf("threshold %v", hitIDs(hits))
	}
	hits = must[[]vectron.Hit](t)(col.Search(ctx, vectron.SearchRequest{Vector: []float32{0, 0}, K: 1, Offset: 1, Exact: true}))
	if !reflect.DeepEqual(hitIDs(hits), []string{"b"}) {
		t.Fatalf("offset %v", hitIDs(hits))
	}

	check(t, c.SetCollectionMetadata(ctx, "upd", map[string]any{"v": 2.0}))
	check(t, c.RenameCollection(ctx, "upd", "upd2"))
	info := must[*vectron.CollectionInfo](t)(c.GetCollection(ctx, "upd2"))
	if !reflect.DeepEqual(info.Metadata, map[string]any{"v": 2.0}) || info.Stats.Count != 3 {
		t.Fatalf("renamed: %+v", info)
	}
	_, err = c.GetCollection(ctx, "upd")
	wantAPIError(t, err, 404, vectron.CodeNotFound, "")
}
