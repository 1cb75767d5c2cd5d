package vectron

import (
	"context"
	"net/http"
	"time"
)

// LoginToken is a login token (for key management), from Login and Refresh.
type LoginToken struct {
	Token     string
	TokenType string
	ExpiresAt time.Time
}

// WhoAmI is the owner of a login token.
type WhoAmI struct {
	User     string
	Role     string // "admin" or "user"
	AuthTime time.Time
}

// KeyRequest describes an API key to create.
type KeyRequest struct {
	Name        string
	Scopes      []Scope
	Collections []string      // allow-list; nil = every collection
	ExpiresIn   time.Duration // 0 = never (rounded down to seconds)
}

// CreatedKey is a new API key; Token is its SDK token, shown only this once.
type CreatedKey struct {
	KeyID     string
	Token     string
	Name      string
	Scopes    []Scope
	ExpiresAt time.Time // zero: never
}

// APIKey is an API key as listed (never with its token).
type APIKey struct {
	KeyID       string
	Name        string
	Owner       string
	Scopes      []Scope
	Collections []string // nil: every collection
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero: never
	Revoked     bool
	RevokedAt   time.Time // zero unless revoked
}

type tokenWire struct {
	Token     string `json:"token"`
	TokenType string `json:"token_type"`
	ExpiresAt int64  `json:"expires_at"`
}

func unix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}

func (c *Client) loginCall(ctx context.Context, path string, in any) (*LoginToken, error) {
	var w tokenWire
	if err := c.call(ctx, http.MethodPost, path, in, true, &w); err != nil {
		return nil, err
	}
	c.SetToken(w.Token)
	return &LoginToken{Token: w.Token, TokenType: w.TokenType, ExpiresAt: unix(w.ExpiresAt)}, nil
}

// Login logs in with a user name and password; the client then sends the login token
// (for key management). Retried on 429 and 503 (a refused login changed nothing; a
// repeated one only issues another token). Errors: ErrUnauthenticated, ErrRateLimited.
func (c *Client) Login(ctx context.Context, username, password string) (*LoginToken, error) {
	return c.loginCall(ctx, "/v1/auth/login", map[string]string{"username": username, "password": password})
}

// Refresh exchanges the current login token for a fresh one, which the client then sends. Retried.
func (c *Client) Refresh(ctx context.Context) (*LoginToken, error) {
	return c.loginCall(ctx, "/v1/auth/refresh", nil)
}

// Me returns who the login token belongs to. Retried.
func (c *Client) Me(ctx context.Context) (*WhoAmI, error) {
	var w struct {
		User     string `json:"user"`
		Role     string `json:"role"`
		AuthTime int64  `json:"auth_time"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/auth/me", nil, true, &w); err != nil {
		return nil, err
	}
	return &WhoAmI{User: w.User, Role: w.Role, AuthTime: unix(w.AuthTime)}, nil
}

// CreateKey creates an API key (needs a login token). Not retried: a repeat would make
// a second key. Errors: ErrPermissionDenied (an SDK token; the admin scope from a non-admin).
func (c *Client) CreateKey(ctx context.Context, req KeyRequest) (*CreatedKey, error) {
	body := map[string]any{"name": req.Name, "scopes": req.Scopes}
	if req.Collections != nil {
		body["collections"] = req.Collections
	}
	if req.ExpiresIn > 0 {
		body["expires_in"] = int64(req.ExpiresIn / time.Second)
	}
	var w struct {
		KeyID     string  `json:"key_id"`
		Token     string  `json:"token"`
		Name      string  `json:"name"`
		Scopes    []Scope `json:"scopes"`
		ExpiresAt int64   `json:"expires_at"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/keys", body, false, &w); err != nil {
		return nil, err
	}
	return &CreatedKey{KeyID: w.KeyID, Token: w.Token, Name: w.Name, Scopes: w.Scopes, ExpiresAt: unix(w.ExpiresAt)}, nil
}

// ListKeys returns the caller's API keys (an admin's: everyone's). Retried.
func (c *Client) ListKeys(ctx context.Context) ([]APIKey, error) {
	var w struct {
		Keys []struct {
			KeyID       string   `json:"key_id"`
			Name        string   `json:"name"`
			Owner       string   `json:"owner"`
			Scopes      []Scope  `json:"scopes"`
			Collections []string `json:"collections"`
			CreatedAt   int64    `json:"created_at"`
			ExpiresAt   int64    `json:"expires_at"`
			Revoked     bool     `json:"revoked"`
			RevokedAt   int64    `json:"revoked_at"`
		} `json:"keys"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/keys", nil, true, &w); err != nil {
		return nil, err
	}
	keys := make([]APIKey, len(w.Keys))
	for i, k := range w.Keys {
		keys[i] = APIKey{KeyID: k.KeyID, Name: k.Name, Owner: k.Owner, Scopes: k.Scopes, Collections: k.Collections,
			CreatedAt: unix(k.CreatedAt), ExpiresAt: unix(k.ExpiresAt), Revoked: k.Revoked, RevokedAt: unix(k.RevokedAt)}
	}
	return keys, nil
}

// RevokeKey revokes an API key, effective on the server's next request. Retried
// (revoking twice is fine). Errors: ErrNotFound.
func (c *Client) RevokeKey(ctx context.Context, keyID string) error {
	return c.call(ctx, http.MethodDelete, "/v1/keys/"+seg(keyID), nil, true, nil)
}
