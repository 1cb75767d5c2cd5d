package vectron

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestBackoffDoublesToItsCapWithEqualJitter(t *testing.T) {
	b := backoff{initial: 100 * time.Millisecond, max: 5 * time.Second}
	for _, c := range []struct {
		attempt int
		d       time.Duration
	}{{0, 100 * time.Millisecond}, {1, 200 * time.Millisecond}, {5, 3200 * time.Millisecond}, {6, 5 * time.Second}, {63, 5 * time.Second}} {
		if got := b.delay(c.attempt, 0, func() float64 { return 0 }); got != c.d/2 {
			t.Errorf("attempt %d, jitter 0: %v, want %v", c.attempt, got, c.d/2)
		}
		if got := b.delay(c.attempt, 0, func() float64 { return 0.999 }); got < c.d/2 || got >= c.d {
			t.Errorf("attempt %d, jitter max: %v outside [%v, %v)", c.attempt, got, c.d/2, c.d)
		}
	}
	if got := b.delay(2, 3*time.Second, func() float64 { return 1 }); got != 3*time.Second+200*time.Millisecond {
		t.Errorf("Retry-After is a floor plus up to d/2: %v", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"3": 3 * time.Second, " 0 ": 0, "Thu, 01 Jan 2026 00:00:05 GMT": 5 * time.Second,
		"Wed, 31 Dec 2025 23:00:00 GMT": 0, "": 0, "soon": 0, "-1": 0, "1.5": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}

func TestAPIErrorsParseAndMatch(t *testing.T) {
	e := parseAPIError("POST", "/v1/x", 404, []byte(`{"error": {"code": "not_found", "message": "no collection x"}}`), 0)
	if e.Code != CodeNotFound || e.Message != "no collection x" || e.HTTPStatus != 404 ||
		e.Error() != "vectron: POST /v1/x: not_found (HTTP 404): no collection x" {
		t.Fatalf("%+v", e)
	}
	wrapped := fmt.Errorf("loading: %w", e)
	var got *APIError
	if !errors.As(wrapped, &got) || got != e || !errors.Is(wrapped, ErrNotFound) || errors.Is(wrapped, ErrInvalidArgument) ||
		!IsNotFound(wrapped) || IsAlreadyExists(wrapped) || ErrorCode(wrapped) != CodeNotFound || ErrorCode(errors.New("x")) != "" {
		t.Fatal("errors.As / errors.Is / helpers")
	}
	// Not the server's body: the code is guessed from the status, the text kept.
	p := parseAPIError("GET", "/", 502, []byte("<html>Bad Gateway</html>"), 2*time.Second)
	if p.Code != CodeUnavailable || p.Message != "HTTP 502: <html>Bad Gateway</html>" || p.RetryAfter != 2*time.Second {
		t.Fatalf("%+v", p)
	}
	if u := parseAPIError("GET", "/", 418, nil, 0); u.Code != "http_error" || u.Message != "HTTP 418" {
		t.Fatalf("%+v", u)
	}
}
