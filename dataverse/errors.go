package dataverse

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error is a Web API answer outside 2xx. Dataverse error bodies look like
// {"error":{"code":"0x80040217","message":"contact With Id = … Does Not Exist"}}; Code and
// Message are empty when the body is not of that form (a 401 has no body).
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is Dataverse's hexadecimal error code, e.g. 0x80072322 (too many requests).
	Code string
	// Message is Dataverse's message, verbatim. It can quote record values (a filter, a
	// duplicate key), so Error() prints it with quoted parts elided; read Message only where
	// personal data may appear.
	Message string
	// Method and Path name the request (the path without its query string, which may carry
	// record values).
	Method string
	Path   string
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
}

// Sentinel errors matched by errors.Is against an *Error.
var (
	// ErrNotFound: the row (or table) does not exist (404).
	ErrNotFound = errors.New("dataverse: not found")
	// ErrThrottled: service protection limits were hit (429) and retries ran out.
	ErrThrottled = errors.New("dataverse: too many requests")
	// ErrUnauthorized: the token was missing, expired or refused (401/403).
	ErrUnauthorized = errors.New("dataverse: unauthorized")
	// ErrPreconditionFailed: a conditional write failed or the key already exists (412).
	ErrPreconditionFailed = errors.New("dataverse: precondition failed")
)

// Error renders the error without record data.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("dataverse: ")
	if e.Method != "" {
		b.WriteString(e.Method + " " + e.Path + ": ")
	}
	fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		b.WriteString(" (" + e.Code + ")")
	}
	if e.Message != "" {
		b.WriteString(": " + elideQuoted(e.Message))
	}
	return b.String()
}

// Is matches the sentinel errors by status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrThrottled:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrPreconditionFailed:
		return e.StatusCode == http.StatusPreconditionFailed
	}
	return false
}

// parseError builds an *Error from a non-2xx response body.
func parseError(method, path string, status int, header http.Header, body []byte) *Error {
	e := &Error{StatusCode: status, Method: method, Path: path}
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if len(body) > 0 && json.Unmarshal(body, &env) == nil {
		e.Code, e.Message = env.Error.Code, env.Error.Message
	}
	if d, ok := parseRetryAfter(header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = d
	}
	return e
}

// parseRetryAfter reads Retry-After as seconds (what Dataverse sends, dataverse-facts.md §6) or
// as an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var secs float64
	if _, err := fmt.Sscanf(v, "%g", &secs); err == nil && !strings.ContainsAny(v, " ,") {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// elideQuoted replaces everything between the first and the last quote (of each kind) with
// "…": Dataverse quotes values there (filter literals, which may themselves hold quotes,
// duplicate keys). The rest of a message is safe to log.
func elideQuoted(s string) string {
	for _, q := range []string{"'", `"`} {
		i, j := strings.Index(s, q), strings.LastIndex(s, q)
		if i >= 0 && j > i {
			s = s[:i+1] + "…" + s[j:]
		}
	}
	return s
}
