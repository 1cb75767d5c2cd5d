package vectron_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptrace"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vectron.dev/vectron"
)

// Retries, deadlines and cancellation against a real server: a 503 from a full queue
// (--workers 1 --queue 1, and /v1/_debug/block holds the only worker) and a 429 with
// Retry-After from the login rate limit. The subtests share one server and run in order.
func TestRetries(t *testing.T) {
	s := startServer(t, "--debug-routes", "--workers", "1", "--queue", "1")
	token := s.adminKey(t)
	c := s.client(t, token)
	must[*vectron.CollectionInfo](t)(c.CreateCollection(ctx, vectron.CollectionSpec{Name: "r", Dim: 2}))
	must[int](t)(c.Collection("r").Upsert(ctx, []vectron.Point{{ID: "a", Vector: []float32{1, 1}}}))
	q := &queue{t: t, s: s, token: token}

	t.Run("an idempotent call (Count) is retried after a real 503 with Retry-After and then succeeds", func(t *testing.T) {
		q.t = t
		q.block(true)
		var mu sync.Mutex
		var retries []vectron.RetryInfo
		var released sync.WaitGroup
		cl := s.client(t, token, vectron.WithOnRetry(func(i vectron.RetryInfo) {
			mu.Lock()
			defer mu.Unlock()
			retries = append(retries, i)
			if len(retries) == 1 {
				released.Add(1)
				go func() { defer released.Done(); q.release() }() // frees the worker while the client waits
			}
		}))
		if n := must[int64](t)(cl.Collection("r").Count(ctx, nil)); n != 1 {
			t.Fatalf("count %d", n)
		}
		released.Wait()
		first := retries[0]
		if first.Attempt != 1 || first.Method != "POST" || first.Path != "/v1/collections/r/count" || first.Delay < time.Second {
			t.Fatalf("first retry %+v", first)
		}
		e := wantAPIError(t, first.Err, 503, vectron.CodeUnavailable, "busy")
		if e.RetryAfter != time.Second || !vectron.IsUnavailable(first.Err) {
			t.Fatalf("Retry-After %v", e.RetryAfter)
		}
		if got := q.served("/v1/collections/{name}/count", 503); got != len(retries) {
			t.Fatalf("the server sent %d 503s, the client retried %d times", got, len(retries))
		}
	})

	t.Run("a non-idempotent call (CreateCollection) is not retried after a 503", func(t *testing.T) {
		q.t = t
		q.block(true)
		retried := 0
		cl := s.client(t, token, vectron.WithOnRetry(func(vectron.RetryInfo) { retried++ }))
		before := q.served("/v1/collections", 503)
		_, err := cl.CreateCollection(ctx, vectron.CollectionSpec{Name: "r2", Dim: 2})
		e := wantAPIError(t, err, 503, vectron.CodeUnavailable, "")
		if e.RetryAfter != time.Second || retried != 0 {
			t.Fatalf("Retry-After %v, retried %d", e.RetryAfter, retried)
		}
		q.release()
		if got := q.served("/v1/collections", 503); got != before+1 {
			t.Fatalf("%d attempts reached the server", got-before)
		}
		// The server changed nothing, so the caller may retry it itself.
		must[*vectron.CollectionInfo](t)(cl.CreateCollection(ctx, vectron.CollectionSpec{Name: "r2", Dim: 2}))
	})

	t.Run("WithRetries(0) turns retrying off", func(t *testing.T) {
		q.t = t
		q.block(true)
		retried := 0
		cl := s.client(t, token, vectron.WithRetries(0), vectron.WithOnRetry(func(vectron.RetryInfo) { retried++ }))
		_, err := cl.Collection("r").Count(ctx, nil)
		if !vectron.IsUnavailable(err) || retried != 0 {
			t.Fatalf("%v, retried %d", err, retried)
		}
		q.release()
	})

	t.Run("WithTimeout and context deadlines bound a call stuck in the server's queue", func(t *testing.T) {
		q.t = t
		q.block(false)
		cl := s.client(t, token, vectron.WithTimeout(300*time.Millisecond))
		_, err := cl.Collection("r").Count(ctx, nil)
		if !errors.Is(err, context.DeadlineExceeded) || vectron.ErrorCode(err) != "" {
			t.Fatalf("want context.DeadlineExceeded, got %v", err)
		}
		// A context cancelled while the request waits in the server's queue ends the call
		// with context.Canceled: it is cancelled once the request is on the wire (the
		// worker is blocked, so no answer can come first), not before the call starts.
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wrote atomic.Bool
		cctx = httptrace.WithClientTrace(cctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
			wrote.Store(true)
			cancel()
		}})
		_, err = s.client(t, token, vectron.WithRetries(0)).Collection("r").Count(cctx, nil)
		if !wrote.Load() || !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled after the request was sent (sent: %v), got %v", wrote.Load(), err)
		}
		q.release()
	})

	// Last: it empties the rate limiter's bucket for 127.0.0.1.
	t.Run("429 from the login rate limit: Retry-After is honoured, or reported at once when past the deadline", func(t *testing.T) {
		q.t = t
		var retries []vectron.RetryInfo
		cl := s.client(t, "", vectron.WithTimeout(20*time.Second), vectron.WithOnRetry(func(i vectron.RetryInfo) { retries = append(retries, i) }))
		// Per user name: 5 failures, then one more per 60 s, past the deadline: no retry.
		for i := 0; i < 5; i++ {
			_, err := cl.Login(ctx, "nobody", "wrong-password")
			wantAPIError(t, err, 401, vectron.CodeUnauthenticated, "")
		}
		_, err := cl.Login(ctx, "nobody", "wrong-password")
		e := wantAPIError(t, err, 429, vectron.CodeRateLimited, "")
		if e.RetryAfter <= 20*time.Second || len(retries) != 0 || !vectron.IsRateLimited(err) {
			t.Fatalf("Retry-After %v, %d retries", e.RetryAfter, len(retries))
		}
		// Per address: 20 failures, then one more per 3 s. Fail with fresh names (and no
		// retries, which would wait each 429 out) until the address is limited; then a
		// good login gets a 429, waits Retry-After, and succeeds.
		once := s.client(t, "", vectron.WithRetries(0))
		limited := false
		for i := 0; i < 60 && !limited; i++ {
			_, err := once.Login(ctx, fmt.Sprintf("ghost%d", i), "wrong-password")
			limited = vectron.ErrorCode(err) == vectron.CodeRateLimited
			if !limited && !vectron.IsUnauthenticated(err) {
				t.Fatal(err)
			}
		}
		if !limited {
			t.Fatal("the address was never rate limited")
		}
		tok := must[*vectron.LoginToken](t)(cl.Login(ctx, "admin", adminPassword))
		if tok.Token == "" || len(retries) == 0 {
			t.Fatalf("login after the limit: %+v, %d retries", tok, len(retries))
		}
		first := wantAPIError(t, retries[0].Err, 429, vectron.CodeRateLimited, "")
		if first.RetryAfter < time.Second || retries[0].Delay < first.RetryAfter {
			t.Fatalf("waited %v for Retry-After %v", retries[0].Delay, first.RetryAfter)
		}
	})
}

// queue fills the server's only worker and queue slot with /v1/_debug/block.
type queue struct {
	t     *testing.T
	s     *server
	token string
	mu    sync.Mutex // held by release
	done  []chan int
}

func (q *queue) state() (st struct{ Blocked, Queued, Running int }) {
	code, body := q.s.raw(q.t, "GET", "/v1/_debug/state", q.token, nil)
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
		q.t.Errorf("debug state: %d %s", code, body)
	}
	return st
}

func (q *queue) startBlock() {
	ch := make(chan int, 1)
	q.done = append(q.done, ch)
	go func() {
		code, _ := q.s.raw(q.t, "POST", "/v1/_debug/block", q.token, map[string]int{"ms": 60000})
		ch <- code
	}()
}

// block holds the worker and, with fill, the one queue slot; returns once they are in place.
func (q *queue) block(fill bool) {
	q.t.Cleanup(q.release) // also when the test fails before it releases
	waitFor(q.t, "an idle server", func() bool { st := q.state(); return st.Blocked == 0 && st.Queued == 0 && st.Running == 0 })
	q.startBlock()
	waitFor(q.t, "the worker to block", func() bool { return q.state().Blocked == 1 })
	if fill {
		q.startBlock()
		waitFor(q.t, "the queue to fill", func() bool { return q.state().Queued == 1 })
	}
}

// release frees the first block (callable from any goroutine), then the queued one once it runs and blocks in turn.
func (q *queue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.done == nil {
		return
	}
	q.s.raw(q.t, "POST", "/v1/_debug/release", q.token, nil)
	if len(q.done) > 1 {
		if code := <-q.done[0]; code != 200 {
			q.t.Errorf("block answered %d", code)
		}
		q.done[0] = nil
		if !poll("the queued block to run", func() bool { st := q.state(); return st.Blocked == 1 && st.Queued == 0 }) {
			q.t.Error("timed out waiting for the queued block to run")
		}
		q.s.raw(q.t, "POST", "/v1/_debug/release", q.token, nil)
	}
	for _, ch := range q.done {
		if ch != nil {
			if code := <-ch; code != 200 {
				q.t.Errorf("block answered %d", code)
			}
		}
	}
	q.done = nil
}

// served is how many responses of status the server sent on route (from /metrics).
func (q *queue) served(route string, status int) int {
	_, text := q.s.raw(q.t, "GET", "/metrics", q.token, nil)
	re := regexp.MustCompile(`vectron_http_requests_total\{[^}]*route="` + regexp.QuoteMeta(route) + `",status="` + strconv.Itoa(status) + `"\} (\d+)`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
