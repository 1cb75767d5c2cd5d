package vectron_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"vectron.dev/vectron"
)

func anonHTTP() *http.Client { return &http.Client{} }

// closedPort is a loopback port with nothing listening on it.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestConnectionRefusedIsRetriedOnlyForIdempotentCalls(t *testing.T) {
	addr := closedPort(t)
	var retries []vectron.RetryInfo
	c, err := vectron.NewClient("https://"+addr, "t", vectron.WithCAFile(shared.srv.CAFile), vectron.WithRetries(2),
		vectron.WithBackoff(5*time.Millisecond, 20*time.Millisecond), vectron.WithOnRetry(func(i vectron.RetryInfo) { retries = append(retries, i) }))
	check(t, err)
	_, err = c.Collection("x").Count(ctx, nil)
	var ce *vectron.ConnectionError
	if !errors.As(err, &ce) || !ce.Transient || !errors.Is(err, syscall.ECONNREFUSED) || vectron.ErrorCode(err) != "" {
		t.Fatalf("want a transient *ConnectionError wrapping ECONNREFUSED, got %T %v", err, err)
	}
	if len(retries) != 2 || retries[0].Attempt != 1 || retries[1].Attempt != 2 {
		t.Fatalf("retries %+v", retries)
	}
	for _, r := range retries {
		if r.Delay < 2500*time.Microsecond || r.Delay > 20*time.Millisecond {
			t.Fatalf("delay %v outside [2.5 ms, 20 ms]", r.Delay)
		}
	}
	retries = nil
	if _, err := c.CreateCollection(ctx, vectron.CollectionSpec{Name: "x", Dim: 2}); !errors.As(err, &ce) {
		t.Fatalf("create: %v", err)
	}
	if _, err := c.Collection("x").DeleteWhere(ctx, vectron.Filter{"a": 1}); !errors.As(err, &ce) {
		t.Fatalf("delete where: %v", err)
	}
	if len(retries) != 0 {
		t.Fatalf("non-idempotent calls were retried: %+v", retries)
	}
}

func TestCertificateChecks(t *testing.T) {
	other := startServer(t)
	retried := 0
	c, err := vectron.NewClient(shared.srv.URL, "", vectron.WithCAFile(other.CAFile), vectron.WithOnRetry(func(vectron.RetryInfo) { retried++ }))
	check(t, err)
	err = c.Health(ctx)
	var ce *vectron.ConnectionError
	if !errors.As(err, &ce) || ce.Transient || !strings.Contains(err.Error(), "certificate") || retried != 0 {
		t.Fatalf("want a permanent *ConnectionError about the certificate, not retried; got %v (retried %d)", err, retried)
	}
	// Without a CA file the system store does not know the self-signed certificate.
	sys, err := vectron.NewClient(shared.srv.URL, "")
	check(t, err)
	if err := sys.Health(ctx); !errors.As(err, &ce) || ce.Transient {
		t.Fatalf("system trust store: %v", err)
	}
	// The certificate names 127.0.0.1 and localhost.
	host, err := vectron.NewClient(strings.Replace(shared.srv.URL, "127.0.0.1", "localhost", 1), "", vectron.WithCAFile(shared.srv.CAFile))
	check(t, err)
	check(t, host.Health(ctx))
	// WithHTTPClient: the caller's transport decides TLS (here: trusting nothing extra).
	own, err := vectron.NewClient(shared.srv.URL, "", vectron.WithHTTPClient(anonHTTP()), vectron.WithRetries(0))
	check(t, err)
	if err := own.Health(ctx); !errors.As(err, &ce) {
		t.Fatalf("own client: %v", err)
	}
}

// The example is its own module (examples/go, with a replace directive to this one): it
// is built and run against the shared server.
func TestExampleRuns(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "examples", "go"))
	check(t, err)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, "go", "run", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VECTRON_URL="+shared.srv.URL, "VECTRON_CA="+shared.srv.CAFile, "VECTRON_PASSWORD="+adminPassword,
		"VECTRON_TOKEN=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		`(?m)^created API key vk_`,
		`(?m)^points: 6$`,
		`(?m)^hit earth `,
		`(?m)^planets with moons near phobos: mars, earth$`,
		`(?m)^moons: 2$`,
		`(?m)^get: earth; not found: pluto$`,
		`(?m)^scroll: earth, mars, mercury, moon, phobos, venus$`,
		`(?m)^error: 400 invalid_argument: query vector has dimension 2, the collection's is 4$`,
		`(?m)^deleted by id: 1$`,
		`(?m)^deleted by filter: 2$`,
		`(?m)^left: 3$`,
		`(?m)^done$`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}
