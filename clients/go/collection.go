package vectron

import (
	"context"
	"errors"
	"net/http"
)

// CreateCollection creates a collection (token scope admin). Not retried.
// Errors: ErrAlreadyExists, ErrInvalidArgument.
func (c *Client) CreateCollection(ctx context.Context, spec CollectionSpec) (*CollectionInfo, error) {
	var out CollectionInfo
	if err := c.call(ctx, http.MethodPost, "/v1/collections", spec, false, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListCollections returns the collections the token may see, with their sizes. Retried.
func (c *Client) ListCollections(ctx context.Context) ([]CollectionSummary, error) {
	var out struct {
		Collections []CollectionSummary `json:"collections"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/collections", nil, true, &out); err != nil {
		return nil, err
	}
	return out.Collections, nil
}

// GetCollection returns a collection's config and stats. Retried. Errors: ErrNotFound.
func (c *Client) GetCollection(ctx context.Context, name string) (*CollectionInfo, error) {
	var out CollectionInfo
	if err := c.call(ctx, http.MethodGet, "/v1/collections/"+seg(name), nil, true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DropCollection deletes a collection and its files (token scope admin). Not retried.
// Errors: ErrNotFound.
func (c *Client) DropCollection(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, "/v1/collections/"+seg(name), nil, false, nil)
}

// Collection is a handle on one collection's points; it makes no request, and the first
// call reports ErrNotFound if the collection does not exist. Safe for concurrent use.
type Collection struct {
	c    *Client
	name string
	base string
}

// Collection returns a handle on the collection name.
func (c *Client) Collection(name string) *Collection {
	return &Collection{c: c, name: name, base: "/v1/collections/" + seg(name)}
}

// Name returns the collection's name.
func (col *Collection) Name() string { return col.name }

// Info returns the collection's config and stats. Retried.
func (col *Collection) Info(ctx context.Context) (*CollectionInfo, error) {
	return col.c.GetCollection(ctx, col.name)
}

// Upsert inserts or replaces points, atomically (all or none) and durably, and returns
// how many were written. Retried: writing the same points again leaves the same state.
// Errors: ErrInvalidArgument (wrong dimension, NaN, bad id or metadata; nothing written).
func (col *Collection) Upsert(ctx context.Context, points []Point) (int, error) {
	var out struct {
		Upserted int `json:"upserted"`
	}
	err := col.c.call(ctx, http.MethodPut, col.base+"/points", map[string]any{"points": points}, true, &out)
	return out.Upserted, err
}

func searchBody(k, ef int, exact bool, where Filter, include []Include) map[string]any {
	body := map[string]any{}
	if k != 0 {
		body["k"] = k
	}
	if ef != 0 {
		body["ef"] = ef
	}
	if exact {
		body["exact"] = true
	}
	if where != nil {
		body["where"] = where
	}
	if include != nil {
		body["include"] = include
	}
	return body
}

// Search returns the nearest points to one vector, nearest first. Retried.
// Errors: ErrInvalidArgument (wrong dimension, malformed filter, k out of range).
func (col *Collection) Search(ctx context.Context, req SearchRequest) ([]Hit, error) {
	body := searchBody(req.K, req.EF, req.Exact, req.Where, req.Include)
	body["vector"] = req.Vector
	if req.Offset != 0 {
		body["offset"] = req.Offset
	}
	if req.ScoreThreshold != nil {
		body["score_threshold"] = *req.ScoreThreshold
	}
	var out struct {
		Hits []Hit `json:"hits"`
	}
	if err := col.c.call(ctx, http.MethodPost, col.base+"/search", body, true, &out); err != nil {
		return nil, err
	}
	return out.Hits, nil
}

// SearchBatch runs several queries in one request: one hit list per query, in order. Retried.
func (col *Collection) SearchBatch(ctx context.Context, req SearchBatchRequest) ([][]Hit, error) {
	body := searchBody(req.K, req.EF, req.Exact, req.Where, req.Include)
	body["vectors"] = req.Vectors
	var out struct {
		Results []struct {
			Hits []Hit `json:"hits"`
		} `json:"results"`
	}
	if err := col.c.call(ctx, http.MethodPost, col.base+"/search", body, true, &out); err != nil {
		return nil, err
	}
	hits := make([][]Hit, len(out.Results))
	for i, r := range out.Results {
		hits[i] = r.Hits
	}
	return hits, nil
}

// Get returns points by id, with metadata and vectors unless include names what to
// return; ids that do not exist are in NotFound. Retried.
func (col *Collection) Get(ctx context.Context, ids []string, include ...Include) (*GetResult, error) {
	body := map[string]any{"ids": ids}
	if len(include) > 0 {
		body["include"] = include
	}
	var out GetResult
	if err := col.c.call(ctx, http.MethodPost, col.base+"/points/get", body, true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes points by id, atomically, and returns how many existed. Retried: a
// second delete of the same ids changes nothing (after a retry the count is what the
// last attempt found).
func (col *Collection) Delete(ctx context.Context, ids []string) (int64, error) {
	var out struct {
		Deleted int64 `json:"deleted"`
	}
	err := col.c.call(ctx, http.MethodPost, col.base+"/points/delete", map[string]any{"ids": ids}, true, &out)
	return out.Deleted, err
}

// DeleteWhere deletes every point matching where, atomically, and returns how many.
// Not retried: a repeat could delete points written in between.
func (col *Collection) DeleteWhere(ctx context.Context, where Filter) (int64, error) {
	if where == nil {
		return 0, errors.New("vectron: DeleteWhere needs a filter (to delete everything, drop the collection)")
	}
	var out struct {
		Deleted int64 `json:"deleted"`
	}
	err := col.c.call(ctx, http.MethodPost, col.base+"/points/delete", map[string]any{"where": where}, false, &out)
	return out.Deleted, err
}

// Count returns how many points there are, or how many match where (if not nil). Retried.
func (col *Collection) Count(ctx context.Context, where Filter) (int64, error) {
	body := map[string]any{}
	if where != nil {
		body["where"] = where
	}
	var out struct {
		Count int64 `json:"count"`
	}
	err := col.c.call(ctx, http.MethodPost, col.base+"/count", body, true, &out)
	return out.Count, err
}

// Scroll returns one page of points in id order. Retried.
func (col *Collection) Scroll(ctx context.Context, req ScrollRequest) (*ScrollPage, error) {
	body := map[string]any{}
	if req.Limit != 0 {
		body["limit"] = req.Limit
	}
	if req.Cursor != "" {
		body["cursor"] = req.Cursor
	}
	if req.Where != nil {
		body["where"] = req.Where
	}
	if req.Include != nil {
		body["include"] = req.Include
	}
	var out struct {
		Points     []Point `json:"points"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := col.c.call(ctx, http.MethodPost, col.base+"/scroll", body, true, &out); err != nil {
		return nil, err
	}
	page := &ScrollPage{Points: out.Points}
	if out.NextCursor != nil {
		page.NextCursor = *out.NextCursor
	}
	return page, nil
}

// ScrollAll calls fn with every point (matching req.Where), in id order, fetching a page
// at a time from req.Cursor (or the start). It stops at the first error, fn's included.
func (col *Collection) ScrollAll(ctx context.Context, req ScrollRequest, fn func(Point) error) error {
	for {
		page, err := col.Scroll(ctx, req)
		if err != nil {
			return err
		}
		for _, p := range page.Points {
			if err := fn(p); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		req.Cursor = page.NextCursor
	}
}

// CreatePayloadIndex indexes a metadata field for faster filters. Not retried.
// Errors: ErrAlreadyExists, ErrInvalidArgument (unknown type).
func (col *Collection) CreatePayloadIndex(ctx context.Context, field string, typ PayloadIndexType) error {
	body := map[string]any{"field": field, "type": typ}
	return col.c.call(ctx, http.MethodPost, col.base+"/indexes", body, false, nil)
}

// ListPayloadIndexes returns the collection's payload indexes. Retried.
func (col *Collection) ListPayloadIndexes(ctx context.Context) ([]PayloadIndex, error) {
	var out struct {
		Indexes []PayloadIndex `json:"indexes"`
	}
	if err := col.c.call(ctx, http.MethodGet, col.base+"/indexes", nil, true, &out); err != nil {
		return nil, err
	}
	return out.Indexes, nil
}

// DropPayloadIndex drops a payload index. Not retried. Errors: ErrNotFound.
func (col *Collection) DropPayloadIndex(ctx context.Context, field string) error {
	return col.c.call(ctx, http.MethodDelete, col.base+"/indexes/"+seg(field), nil, false, nil)
}
