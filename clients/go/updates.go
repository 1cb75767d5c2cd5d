package vectron

import (
	"context"
	"net/http"
)

// MetadataUpdate is the new metadata of one existing point.
type MetadataUpdate struct {
	ID       string         `json:"id"`
	Metadata map[string]any `json:"metadata"` // nil: clears it (replace) or changes nothing (merge)
}

// VectorUpdate is the new vector of one existing point.
type VectorUpdate struct {
	ID     string    `json:"id"`
	Vector []float32 `json:"vector"`
}

// ListRequest selects a page of points in id order: those matching Where, after
// skipping Offset of them, at most Limit (100 by default, at most 10000).
type ListRequest struct {
	Where   Filter
	Limit   int
	Offset  int64
	Include []Include // nil: metadata only
}

// UpdateMetadata sets the metadata of existing points, keeping their vectors, atomically,
// and returns how many were updated. With merge, each object is an RFC 7396 merge patch
// of the stored one (keys set, nested objects merged, a nil value removes a key);
// without, it replaces it. Retried (applying it twice gives the same result).
// Errors: ErrNotFound naming a missing id (nothing written), ErrInvalidArgument.
func (col *Collection) UpdateMetadata(ctx context.Context, updates []MetadataUpdate, merge bool) (int, error) {
	var out struct {
		Updated int `json:"updated"`
	}
	body := map[string]any{"points": updates, "merge": merge}
	err := col.c.call(ctx, http.MethodPost, col.base+"/points/metadata", body, true, &out)
	return out.Updated, err
}

// UpdateVectors replaces the vectors of existing points, keeping their metadata,
// atomically. Retried. Errors: ErrNotFound naming a missing id (nothing written),
// ErrInvalidArgument.
func (col *Collection) UpdateVectors(ctx context.Context, updates []VectorUpdate) (int, error) {
	var out struct {
		Updated int `json:"updated"`
	}
	err := col.c.call(ctx, http.MethodPost, col.base+"/points/vectors", map[string]any{"points": updates}, true, &out)
	return out.Updated, err
}

// List returns a page of points (see ListRequest). Retried. Its cost grows with
// Offset + Limit: page large sets with Scroll.
func (col *Collection) List(ctx context.Context, req ListRequest) ([]Point, error) {
	body := map[string]any{}
	if req.Where != nil {
		body["where"] = req.Where
	}
	if req.Limit != 0 {
		body["limit"] = req.Limit
	}
	if req.Offset != 0 {
		body["offset"] = req.Offset
	}
	if req.Include != nil {
		body["include"] = req.Include
	}
	var out struct {
		Points []Point `json:"points"`
	}
	if err := col.c.call(ctx, http.MethodPost, col.base+"/points/list", body, true, &out); err != nil {
		return nil, err
	}
	return out.Points, nil
}

// SetCollectionMetadata replaces the JSON object stored with a collection (nil removes
// it). Token scope admin. Retried. Errors: ErrNotFound, ErrInvalidArgument.
func (c *Client) SetCollectionMetadata(ctx context.Context, name string, metadata map[string]any) error {
	return c.call(ctx, http.MethodPut, "/v1/collections/"+seg(name)+"/metadata",
		map[string]any{"metadata": metadata}, true, nil)
}

// RenameCollection renames a collection (token scope admin on both names). Not retried.
// Errors: ErrNotFound, ErrAlreadyExists, ErrInvalidArgument.
func (c *Client) RenameCollection(ctx context.Context, from, to string) error {
	return c.call(ctx, http.MethodPost, "/v1/collections/"+seg(from)+"/rename", map[string]any{"name": to}, false, nil)
}
