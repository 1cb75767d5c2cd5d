package vectron_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"vectron.dev/vectron"
)

const adminPassword = "correct horse battery staple"

// server is a real `vectron serve`: TLS with its generated self-signed certificate, auth
// on, ports chosen by the kernel on 127.0.0.1.
type server struct {
	URL    string
	CAFile string
	data   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	log    bytes.Buffer
	exited chan error
}

func binary() string {
	if b := os.Getenv("VECTRON_BIN"); b != "" {
		return b
	}
	return filepath.Join("..", "..", "build", "tools", "vectron")
}

var listening = regexp.MustCompile(`http listening on (https://[\d.]+:\d+)`)

// startServer starts a server; it is stopped (and must exit 0) when the test ends.
func startServer(t testing.TB, extra ...string) *server {
	t.Helper()
	s, err := launch(extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("%v\n%s", err, s.output())
		}
	})
	return s
}

func launch(extra ...string) (*server, error) {
	data, err := os.MkdirTemp("", "vectron-go-")
	if err != nil {
		return nil, err
	}
	s := &server{data: data, exited: make(chan error, 1)}
	args := append([]string{"serve", "--db", data, "--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--no-request-log"}, extra...)
	s.cmd = exec.Command(binary(), args...)
	s.cmd.Env = append(os.Environ(), "VECTRON_ADMIN_PASSWORD="+adminPassword)
	dieWithTest(s.cmd)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.cmd.Stderr = writerFunc(func(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.log.Write(p) })
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(data)
		return nil, fmt.Errorf("cannot run %s (set VECTRON_BIN): %w", binary(), err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		url := ""
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				url = m[1]
			}
			if line == "vectron serve: ready" {
				ready <- url
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		s.exited <- s.cmd.Wait()
	}()
	select {
	case s.URL = <-ready:
		s.CAFile = filepath.Join(data, "tls", "cert.pem")
		return s, nil
	case err := <-s.exited:
		os.RemoveAll(data)
		return nil, fmt.Errorf("vectron serve exited (%v) before it was ready:\n%s", err, s.output())
	case <-time.After(120 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		os.RemoveAll(data)
		return nil, fmt.Errorf("vectron serve did not get ready in 120 s:\n%s", s.output())
	}
}

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *server) stop() error {
	defer os.RemoveAll(s.data)
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		if err != nil {
			return fmt.Errorf("vectron serve exited with %v", err)
		}
		return nil
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		return fmt.Errorf("vectron serve did not stop within 60 s of SIGTERM")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// client returns a client of s trusting its certificate.
func (s *server) client(t testing.TB, token string, opts ...vectron.Option) *vectron.Client {
	t.Helper()
	c, err := vectron.NewClient(s.URL, token, append([]vectron.Option{vectron.WithCAFile(s.CAFile)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// adminKey logs in as admin and returns an SDK token with every scope.
func (s *server) adminKey(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	admin := s.client(t, "")
	if _, err := admin.Login(ctx, "admin", adminPassword); err != nil {
		t.Fatal(err)
	}
	key, err := admin.CreateKey(ctx, vectron.KeyRequest{Name: "go-tests",
		Scopes: []vectron.Scope{vectron.ScopeRead, vectron.ScopeWrite, vectron.ScopeAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	return key.Token
}

// raw sends one request outside the client (debug routes, metrics): status and body.
func (s *server) raw(t testing.TB, method, path, token string, body any) (int, string) {
	t.Helper()
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// poll calls check until it is true (and returns true), or returns false after 30 s.
func poll(what string, check func() bool) bool {
	deadline := time.Now().Add(30 * time.Second)
	for delay := 5 * time.Millisecond; !check(); delay *= 2 {
		if time.Now().After(deadline) {
			return false
		}
		if delay > 100*time.Millisecond {
			delay = 100 * time.Millisecond
		}
		time.Sleep(delay)
	}
	return true
}

// waitFor polls check until it is true, or fails the test after 30 s.
func waitFor(t testing.TB, what string, check func() bool) {
	t.Helper()
	if !poll(what, check) {
		t.Fatalf("timed out waiting for %s", what)
	}
}
