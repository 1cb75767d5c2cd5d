package vectron

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Error codes the server sends (docs/server.md, docs/auth.md).
const (
	CodeInvalidArgument    = "invalid_argument"    // 400: bad input; nothing was changed
	CodeNotFound           = "not_found"           // 404: unknown collection, payload index, key or route
	CodeAlreadyExists      = "already_exists"      // 409: the collection or payload index exists
	CodeFailedPrecondition = "failed_precondition" // 409: the state does not allow this
	CodeAborted            = "aborted"             // 409: a conflicting concurrent change
	CodeResourceExhausted  = "resource_exhausted"  // 429: out of a resource for this request
	CodeUnavailable        = "unavailable"         // 503: queue full or shutting down (Retry-After)
	CodeCancelled          = "cancelled"           // 503: cancelled by the server
	CodeCorruption         = "corruption"          // 500: damaged data
	CodeIOError            = "io_error"            // 500: the server's disk failed
	CodeInternal           = "internal"            // 500: a server bug
	CodeUnauthenticated    = "unauthenticated"     // 401: no, bad, expired or revoked token; wrong password
	CodePermissionDenied   = "permission_denied"   // 403: a valid token without the right
	CodeRateLimited        = "rate_limited"        // 429: too many failed logins (Retry-After)
	CodeBadRequest         = "bad_request"         // 400: malformed HTTP
	CodeMethodNotAllowed   = "method_not_allowed"  // 405
	CodeRequestTimeout     = "request_timeout"     // 408: the request arrived too slowly
	CodePayloadTooLarge    = "payload_too_large"   // 413: body over --max-body-bytes
	CodeHeaderTooLarge     = "header_too_large"    // 431: headers over --max-header-bytes
	CodeNotImplemented     = "not_implemented"     // 501
)

// APIError is an error answer from the server: {"error": {"code", "message"}} and its
// HTTP status. Test for one with errors.As, the IsX helpers, or errors.Is(err, ErrX).
type APIError struct {
	Code       string        // the server's code, one of the Code constants (or a newer one)
	Message    string        // the server's message
	HTTPStatus int           // the response's status
	RetryAfter time.Duration // the response's Retry-After (429, 503), 0 if none
	Method     string        // the request's method
	Path       string        // the request's path
}

func (e *APIError) Error() string {
	return fmt.Sprintf("vectron: %s %s: %s (HTTP %d): %s", e.Method, e.Path, e.Code, e.HTTPStatus, e.Message)
}

// Is reports whether target is a sentinel (ErrNotFound, ...) with the same code.
func (e *APIError) Is(target error) bool {
	t, ok := target.(*APIError)
	return ok && t.HTTPStatus == 0 && t.Message == "" && t.Code == e.Code
}

// Sentinels for errors.Is: errors.Is(err, vectron.ErrNotFound) holds for any *APIError
// with that code.
var (
	ErrInvalidArgument    = &APIError{Code: CodeInvalidArgument}
	ErrNotFound           = &APIError{Code: CodeNotFound}
	ErrAlreadyExists      = &APIError{Code: CodeAlreadyExists}
	ErrFailedPrecondition = &APIError{Code: CodeFailedPrecondition}
	ErrUnavailable        = &APIError{Code: CodeUnavailable}
	ErrUnauthenticated    = &APIError{Code: CodeUnauthenticated}
	ErrPermissionDenied   = &APIError{Code: CodePermissionDenied}
	ErrRateLimited        = &APIError{Code: CodeRateLimited}
	ErrResourceExhausted  = &APIError{Code: CodeResourceExhausted}
)

// ErrorCode returns the server's error code of err (an *APIError anywhere in its
// chain), or "" if there is none.
func ErrorCode(err error) string {
	var e *APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsInvalidArgument reports whether err is the server's invalid_argument (400).
func IsInvalidArgument(err error) bool { return ErrorCode(err) == CodeInvalidArgument }

// IsNotFound reports whether err is the server's not_found (404).
func IsNotFound(err error) bool { return ErrorCode(err) == CodeNotFound }

// IsAlreadyExists reports whether err is the server's already_exists (409).
func IsAlreadyExists(err error) bool { return ErrorCode(err) == CodeAlreadyExists }

// IsUnauthenticated reports whether err is the server's unauthenticated (401).
func IsUnauthenticated(err error) bool { return ErrorCode(err) == CodeUnauthenticated }

// IsPermissionDenied reports whether err is the server's permission_denied (403).
func IsPermissionDenied(err error) bool { return ErrorCode(err) == CodePermissionDenied }

// IsUnavailable reports whether err is the server's unavailable (503).
func IsUnavailable(err error) bool { return ErrorCode(err) == CodeUnavailable }

// IsRateLimited reports whether err is a 429: rate_limited or resource_exhausted.
func IsRateLimited(err error) bool {
	c := ErrorCode(err)
	return c == CodeRateLimited || c == CodeResourceExhausted
}

// ConnectionError means no answer arrived: connection refused or reset, DNS failure,
// TLS handshake or certificate failure. Err is the underlying error (errors.Unwrap).
type ConnectionError struct {
	Method string
	URL    string
	Err    error
	// Transient is false when a retry cannot help: the certificate or host name check
	// failed, or the host name does not resolve.
	Transient bool
}

func (e *ConnectionError) Error() string {
	return fmt.Sprintf("vectron: %s %s: no response: %v", e.Method, e.URL, e.Err)
}

func (e *ConnectionError) Unwrap() error { return e.Err }

func newConnectionError(method, url string, err error) *ConnectionError {
	transient := true
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var dns *net.DNSError
	switch {
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalid):
		transient = false
	case errors.As(err, &dns) && dns.IsNotFound:
		transient = false
	case strings.Contains(err.Error(), "certificate"):
		transient = false
	}
	return &ConnectionError{Method: method, URL: url, Err: err, Transient: transient}
}

// Guesses the code of an error response without the server's JSON body (a proxy's page).
var codeForStatus = map[int]string{
	400: CodeBadRequest, 401: CodeUnauthenticated, 403: CodePermissionDenied, 404: CodeNotFound,
	405: CodeMethodNotAllowed, 408: CodeRequestTimeout, 409: CodeAlreadyExists, 413: CodePayloadTooLarge,
	429: CodeResourceExhausted, 431: CodeHeaderTooLarge, 500: CodeInternal, 501: CodeNotImplemented,
	502: CodeUnavailable, 503: CodeUnavailable, 504: CodeUnavailable,
}

func parseAPIError(method, path string, status int, body []byte, retryAfter time.Duration) *APIError {
	e := &APIError{HTTPStatus: status, RetryAfter: retryAfter, Method: method, Path: path}
	var wire struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &wire) == nil && wire.Error.Code != "" {
		e.Code, e.Message = wire.Error.Code, wire.Error.Message
		return e
	}
	e.Code = codeForStatus[status]
	if e.Code == "" {
		e.Code = "http_error"
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	e.Message = fmt.Sprintf("HTTP %d", status)
	if text != "" {
		e.Message += ": " + text
	}
	return e
}

// deadlineError wraps the context's error with what the call was doing.
func deadlineError(ctx context.Context, method, path string, attempts int, last error) error {
	if last == nil {
		return fmt.Errorf("vectron: %s %s: %w", method, path, ctx.Err())
	}
	return fmt.Errorf("vectron: %s %s: %w (%d attempts; last error: %v)", method, path, ctx.Err(), attempts, last)
}
