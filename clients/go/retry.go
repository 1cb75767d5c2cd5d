package vectron

import (
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RetryInfo describes a retry about to happen (see WithOnRetry).
type RetryInfo struct {
	Method  string
	Path    string
	Attempt int           // 1 for the first retry
	Delay   time.Duration // the wait before it
	Err     error         // why: the *APIError (503, 429) or the *ConnectionError
}

type backoff struct {
	initial, max time.Duration
}

// delay is the wait before retry number attempt (0 = the first). Without Retry-After:
// "equal jitter", uniformly in [d/2, d] with d = min(max, initial * 2^attempt). With
// Retry-After: that wait plus up to d/2, so clients told the same moment spread out.
func (b backoff) delay(attempt int, retryAfter time.Duration, random func() float64) time.Duration {
	if attempt > 30 {
		attempt = 30
	}
	d := b.initial << uint(attempt)
	if d > b.max || d <= 0 {
		d = b.max
	}
	if retryAfter > 0 {
		return retryAfter + time.Duration(random()*float64(d/2))
	}
	return d/2 + time.Duration(random()*float64(d/2))
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date. 0 if absent or malformed.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// lockedRand is a goroutine-safe jitter source, seeded per client.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand() *lockedRand {
	return &lockedRand{r: rand.New(rand.NewSource(time.Now().UnixNano()))}
}

func (l *lockedRand) Float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}
