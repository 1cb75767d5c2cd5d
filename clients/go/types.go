package vectron

// Metric is a collection's distance function. Scores are distances: lower is nearer.
type Metric string

const (
	MetricCosine Metric = "cosine" // 1 - cosine similarity (the default)
	MetricL2     Metric = "l2"     // squared Euclidean distance
	MetricIP     Metric = "ip"     // negative inner product
)

// Include names what a search, get or scroll returns besides ids and scores.
type Include string

const (
	IncludeMetadata Include = "metadata"
	IncludeVector   Include = "vector"
)

// Scope is what an API key may do. Scopes do not imply each other, except that rating
// points takes ScopeFeedback or ScopeWrite (a feedback key can rate and nothing else).
type Scope string

const (
	ScopeRead     Scope = "read"
	ScopeWrite    Scope = "write"
	ScopeAdmin    Scope = "admin"
	ScopeFeedback Scope = "feedback"
)

// PayloadIndexType is the type of a payload index on a metadata field.
type PayloadIndexType string

const (
	IndexKeyword PayloadIndexType = "keyword"
	IndexInteger PayloadIndexType = "integer"
	IndexFloat   PayloadIndexType = "float"
	IndexBool    PayloadIndexType = "bool"
)

// Filter is a `where` filter (docs/filter.md), e.g.
// Filter{"genre": "jazz", "year": Filter{"$gte": 1960}}.
type Filter map[string]any

// HNSWParams are a collection's graph parameters; zero fields take the server's default.
type HNSWParams struct {
	M              int    `json:"m,omitempty"`               // graph degree (16)
	EFConstruction int    `json:"ef_construction,omitempty"` // beam width while building (200)
	EFSearch       int    `json:"ef_search,omitempty"`       // default beam width of searches (64)
	Seed           uint64 `json:"seed,omitempty"`            // level generator seed (100)
}

// CollectionSpec describes a collection to create. Zero fields take the server's default.
type CollectionSpec struct {
	Name               string      `json:"name"` // 1 to 64 of [A-Za-z0-9_-]
	Dim                int         `json:"dim"`
	Metric             Metric      `json:"metric,omitempty"` // default cosine
	HNSW               *HNSWParams `json:"hnsw,omitempty"`
	Shards             int         `json:"shards,omitempty"`               // points hashed by id to shards (1)
	FlatMaxPoints      int64       `json:"flat_max_points,omitempty"`      // exact search up to this many per shard (10000)
	CheckpointEveryOps int64       `json:"checkpoint_every_ops,omitempty"` // save the graph after this many changes
	Quantization       string      `json:"quantization,omitempty"`         // "none" (default) or "sq8"
	// Metadata is a JSON object stored with the collection (at most 64 KiB).
	Metadata map[string]any `json:"metadata,omitempty"`
}

// CollectionConfig is a collection's stored configuration.
type CollectionConfig struct {
	Version            int        `json:"version"`
	Dim                int        `json:"dim"`
	Metric             Metric     `json:"metric"`
	HNSW               HNSWParams `json:"hnsw"`
	Shards             int        `json:"shards"`
	FlatMaxPoints      int64      `json:"flat_max_points"`
	CheckpointEveryOps int64      `json:"checkpoint_every_ops"`
}

// CollectionStats are a collection's sizes.
type CollectionStats struct {
	Count            int64  `json:"count"`
	IndexMemoryBytes int64  `json:"index_memory_bytes"`
	DiskBytes        int64  `json:"disk_bytes"`
	DeletedSlots     int64  `json:"deleted_slots"`
	IndexKind        string `json:"index_kind"`
}

// CollectionInfo is a collection's name and config; Stats is set by GetCollection and
// Collection.Info, nil from CreateCollection.
type CollectionInfo struct {
	Name     string           `json:"name"`
	Config   CollectionConfig `json:"config"`
	Stats    *CollectionStats `json:"stats,omitempty"`
	Metadata map[string]any   `json:"metadata,omitempty"` // nil: none
}

// CollectionSummary is one entry of ListCollections.
type CollectionSummary struct {
	Name   string `json:"name"`
	Dim    int    `json:"dim"`
	Metric Metric `json:"metric"`
	Shards int    `json:"shards"`
	Count  int64  `json:"count"`
	// IndexKind is "flat", "hnsw" or "mixed" (shards of both kinds).
	IndexKind        string `json:"index_kind"`
	IndexMemoryBytes int64  `json:"index_memory_bytes"`
	DiskBytes        int64  `json:"disk_bytes"`
}

// Point is a point to upsert, or one read back (Vector and Metadata then as requested
// with Include; Metadata nil when the point has none).
type Point struct {
	ID       string         `json:"id"`
	Vector   []float32      `json:"vector,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// Hit is one search result.
type Hit struct {
	ID       string         `json:"id"`
	Score    float32        `json:"score"` // a distance: lower is nearer
	Metadata map[string]any `json:"metadata,omitempty"`
	Vector   []float32      `json:"vector,omitempty"`
}

// SearchRequest is one query. Zero fields take the server's default.
type SearchRequest struct {
	Vector  []float32
	K       int       // neighbours (10, at most 10000)
	EF      int       // beam width; 0 = the collection's ef_search
	Exact   bool      // brute force instead of the graph
	Where   Filter    // nil: no filter
	Include []Include // nil: neither metadata nor vectors
	Offset  int       // hits skipped first (paging)
	// ScoreThreshold, if set, drops hits whose score (a distance) is above it.
	ScoreThreshold *float32
}

// SearchBatchRequest is several queries (at most 4096) with the same parameters.
type SearchBatchRequest struct {
	Vectors [][]float32
	K       int
	EF      int
	Exact   bool
	Where   Filter
	Include []Include
}

// GetResult holds the points found, in the order asked, and the ids not found.
type GetResult struct {
	Points   []Point  `json:"points"`
	NotFound []string `json:"not_found"`
}

// ScrollRequest asks for one page of points in id order.
type ScrollRequest struct {
	Limit   int    // points per page (100, at most 10000)
	Cursor  string // NextCursor of the previous page; "" for the first
	Where   Filter
	Include []Include // nil: metadata only
}

// ScrollPage is one page; NextCursor is "" after the last.
type ScrollPage struct {
	Points     []Point
	NextCursor string
}

// PayloadIndex is an index on a metadata field.
type PayloadIndex struct {
	Field string           `json:"field"`
	Type  PayloadIndexType `json:"type"`
}
