package vectron

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Client talks to one `vectron serve`. It is safe for concurrent use; make one and reuse
// it (it keeps connections alive).
type Client struct {
	base       string
	httpClient *http.Client
	timeout    time.Duration
	retries    int
	backoff    backoff
	onRetry    func(RetryInfo)
	rand       *lockedRand

	mu    sync.RWMutex
	token string
}

// Option configures NewClient.
type Option func(*config) error

type config struct {
	caFile     string
	httpClient *http.Client
	timeout    time.Duration
	retries    int
	backoff    backoff
	onRetry    func(RetryInfo)
}

// WithCAFile trusts the CA certificates in a PEM file instead of the system's (for the
// server's generated self-signed certificate: DATA/tls/cert.pem). Host names are checked.
func WithCAFile(path string) Option {
	return func(c *config) error { c.caFile = path; return nil }
}

// WithHTTPClient sends requests with hc (its Transport decides TLS and proxies). Cannot
// be combined with WithCAFile.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("vectron: WithHTTPClient(nil)")
		}
		c.httpClient = hc
		return nil
	}
}

// WithTimeout bounds each call, retries and waits included (default 30 s); 0 leaves it
// to the context alone. A context deadline that comes sooner wins.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("vectron: WithTimeout(%v): must not be negative", d)
		}
		c.timeout = d
		return nil
	}
}

// WithRetries sets how often an idempotent call is retried after a 503, a 429 or a
// connection error (default 3); 0 turns retrying off.
func WithRetries(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("vectron: WithRetries(%d): must not be negative", n)
		}
		c.retries = n
		return nil
	}
}

// WithBackoff sets the wait before the first retry (default 100 ms; it doubles on each
// retry, with jitter) and its cap (default 5 s).
func WithBackoff(initial, max time.Duration) Option {
	return func(c *config) error {
		if initial <= 0 || max < initial {
			return fmt.Errorf("vectron: WithBackoff(%v, %v): need 0 < initial <= max", initial, max)
		}
		c.backoff = backoff{initial: initial, max: max}
		return nil
	}
}

// WithOnRetry calls fn before each retry (for logging or metrics). fn must not block.
func WithOnRetry(fn func(RetryInfo)) Option {
	return func(c *config) error { c.onRetry = fn; return nil }
}

// NewClient returns a client of the server at baseURL (e.g. https://127.0.0.1:7700)
// sending token (an SDK token; a login token for key management; "" for none, e.g.
// before Login). It makes no request. Errors: a malformed URL or option, an unreadable
// CA file or one without certificates.
func NewClient(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("vectron: base URL must be http://HOST:PORT or https://HOST:PORT, got %q", baseURL)
	}
	cfg := config{timeout: 30 * time.Second, retries: 3, backoff: backoff{initial: 100 * time.Millisecond, max: 5 * time.Second}}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	hc := cfg.httpClient
	if hc != nil && cfg.caFile != "" {
		return nil, errors.New("vectron: WithCAFile and WithHTTPClient both given; set RootCAs in your client's transport")
	}
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.caFile != "" {
			pem, err := os.ReadFile(cfg.caFile)
			if err != nil {
				return nil, fmt.Errorf("vectron: CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("vectron: CA file %s holds no PEM certificate", cfg.caFile)
			}
			t.TLSClientConfig.RootCAs = pool
		}
		hc = &http.Client{Transport: t}
	}
	return &Client{
		base:       strings.TrimRight(baseURL, "/"),
		httpClient: hc,
		timeout:    cfg.timeout,
		retries:    cfg.retries,
		backoff:    cfg.backoff,
		onRetry:    cfg.onRetry,
		rand:       newLockedRand(),
		token:      token,
	}, nil
}

// SetToken replaces the token sent with each request.
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
}

// Token returns the token sent with each request.
func (c *Client) Token() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// CloseIdleConnections closes the client's idle keep-alive connections.
func (c *Client) CloseIdleConnections() { c.httpClient.CloseIdleConnections() }

// call is one API call: it encodes in, sends it (retrying when idempotent), and decodes
// a 2xx answer into out (if not nil).
func (c *Client) call(ctx context.Context, method, path string, in any, idempotent bool, out any) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("vectron: %s %s: encoding the request: %w", method, path, err)
		}
	}
	var last error
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return deadlineError(ctx, method, path, attempt, last)
		}
		status, respBody, retryAfter, err := c.send(ctx, method, path, body)
		retryable := false
		switch {
		case err != nil && ctx.Err() != nil:
			return deadlineError(ctx, method, path, attempt+1, last)
		case err != nil:
			ce := newConnectionError(method, c.base+path, err)
			err, retryable = ce, ce.Transient
		case status >= 200 && status < 300:
			if out == nil || len(bytes.TrimSpace(respBody)) == 0 {
				return nil
			}
			if err := json.Unmarshal(respBody, out); err != nil {
				return fmt.Errorf("vectron: %s %s: the server's answer is not the expected JSON: %w", method, path, err)
			}
			return nil
		default:
			err = parseAPIError(method, path, status, respBody, retryAfter)
			retryable = status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests
		}
		last = err
		if !idempotent || !retryable || attempt >= c.retries {
			return err
		}
		delay := c.backoff.delay(attempt, retryAfter, c.rand.Float64)
		// Waiting past the deadline cannot succeed: report the server's answer instead.
		if dl, ok := ctx.Deadline(); ok && time.Now().Add(delay).After(dl) {
			return err
		}
		if c.onRetry != nil {
			c.onRetry(RetryInfo{Method: method, Path: path, Attempt: attempt + 1, Delay: delay, Err: err})
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return deadlineError(ctx, method, path, attempt+1, last)
		case <-timer.C:
		}
	}
}

// send makes one HTTP exchange; err is set only when no complete response arrived.
func (c *Client) send(ctx context.Context, method, path string, body []byte) (int, []byte, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := c.Token(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, 0, err
	}
	return resp.StatusCode, data, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), nil
}

// Health returns nil when the server answers GET /healthz (no token needed). Retried.
func (c *Client) Health(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, "/healthz", nil, true, nil)
}

// seg escapes one path segment (a collection name, field or key id).
func seg(s string) string { return url.PathEscape(s) }
