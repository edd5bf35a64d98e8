package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dedupegate/dedupegate/admin"
	"github.com/dedupegate/dedupegate/audit"
	"github.com/dedupegate/dedupegate/index/redistest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// seededTrail is three days of a small CRM's trail: blocks and warnings on contact and lead,
// overrides by two users, a fallback, audit-mode hits and a review action. One entry lies
// before the period and must not count.
func seededTrail() []audit.Entry {
	t0 := time.Date(2025, 11, 24, 9, 0, 0, 0, time.UTC)
	at := func(day, hour int) time.Time { return t0.AddDate(0, 0, day).Add(time.Duration(hour) * time.Hour) }
	m := func(rule, action, level, entity, id string, score float64) audit.Match {
		return audit.Match{Rule: rule, Action: action, Level: level, Entity: entity, ID: id, Score: score, Reasons: []string{"email equal after normalisation"}}
	}
	const (
		alice = "11111111-0000-0000-0000-000000000001"
		bob   = "11111111-0000-0000-0000-000000000002"
		carol = "11111111-0000-0000-0000-000000000003"
		rec1  = "6d81597f-0f9f-e711-8122-000d3aa2331c"
		rec2  = "7e92608a-1a0a-f822-9233-000d3aa2331d"
		rec3  = "8fa3719b-2b1b-0933-a344-000d3aa2331e"
	)
	e := func(t time.Time, kind audit.Kind, outcome, table, ep, user string, ms ...audit.Match) audit.Entry {
		return audit.Entry{Time: t, Kind: kind, Outcome: outcome, Table: table, Message: "Create", EntryPoint: ep, UserID: user,
			CorrelationID: fmt.Sprintf("c-%s-%d", kind, t.Unix()), LatencyMS: 1.5, Matches: ms}
	}
	return []audit.Entry{
		e(at(-3, 0), audit.KindBlock, "block", "contact", "form", alice, m("contact-email", "block", "block", "contact", rec1, 0.97)), // before the period
		e(at(0, 0), audit.KindBlock, "block", "contact", "form", alice, m("contact-email", "block", "block", "contact", rec1, 0.97)),
		e(at(0, 1), audit.KindBlock, "block", "contact", "form", bob, m("contact-email", "block", "block", "contact", rec1, 0.95), m("contact-name", "warn", "warn", "contact", rec2, 0.7)),
		e(at(0, 2), audit.KindWarn, "warn", "contact", "form", carol, m("contact-name", "warn", "warn", "contact", rec2, 0.72)),
		e(at(0, 3), audit.KindOverride, "allow", "contact", "form", alice, m("contact-email", "block", "block", "contact", rec1, 0.96)),
		e(at(1, 0), audit.KindBlock, "block", "lead", "integration", carol, m("lead-vs-contact", "block", "block", "contact", rec3, 0.91)),
		e(at(1, 1), audit.KindAudit, "allow", "lead", "import", carol, m("lead-audit", "audit", "block", "lead", rec2, 0.88)),
		e(at(1, 2), audit.KindFallback, "allow", "account", "form", bob),
		e(at(1, 3), audit.KindOverride, "allow", "contact", "api", bob, m("contact-email", "block", "block", "contact", rec1, 0.99)),
		e(at(2, 0), audit.KindOverride, "allow", "contact", "form", alice, m("contact-email", "block", "block", "contact", rec3, 0.93)),
		e(at(2, 1), audit.KindAction, "allow", "contact", "integration", carol, m("contact-review", "review", "block", "contact", rec1, 0.9)),
		e(at(2, 2), audit.KindWarn, "warn", "lead", "form", alice, m("lead-vs-contact", "block", "warn", "contact", rec3, 0.66)),
		// A follow-up's outcome, written by the actions runner under its own kind.
		e(at(2, 3), audit.Kind("followup"), "done", "contact", "integration", carol, m("contact-review", "review", "block", "contact", rec1, 0.9)),
	}
}

const (
	reportSince = "2025-11-24T00:00:00Z"
	reportUntil = "2025-11-26T23:59:59Z"
	testAPIKey  = "test-api-key-0123456789abcdef"
)

// serveAudit starts a real loopback HTTP server with the admin routes over a ring holding
// entries, behind an X-API-Key check.
func serveAudit(t *testing.T, entries []audit.Entry) string {
	t.Helper()
	ring := audit.NewRing(1000)
	if err := ring.Append(t.Context(), entries); err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	auth := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().Header.Get("X-API-Key") != testAPIKey {
				return echo.NewHTTPError(http.StatusUnauthorized, "unauthorized")
			}
			return next(c)
		}
	}
	admin.Mount(e, admin.Config{Trail: ring, Store: "memory", Auth: auth})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs (run with -update after checking):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// sourceLine drops the "source:" line, which names the server's address.
func sourceLine(s string) (string, string) {
	var src string
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "source: ") || strings.HasPrefix(l, `  "source": `) {
			src = l
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n"), src
}

func TestReportFromGatewayAPI(t *testing.T) {
	url := serveAudit(t, seededTrail())
	for _, format := range []string{"table", "json"} {
		t.Run(format, func(t *testing.T) {
			out, errs, code := runCLI(t, "report", "--url", url, "--api-key", testAPIKey, "--since", reportSince, "--until", reportUntil, "--format", format)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			body, src := sourceLine(out)
			if !strings.Contains(src, "gateway http://127.0.0.1:") {
				t.Errorf("source line %q", src)
			}
			golden(t, "report."+format+".golden", body)
		})
	}
}

// TestReportFromRedisStream reads the same trail from a real Redis stream, through a config
// file naming it: the figures must be the same as through the API.
func TestReportFromRedisStream(t *testing.T) {
	addr := redistest.Standalone(t)
	prefix := redistest.Prefix(t)
	store := audit.NewRedisStore(redistest.Client(t, addr), prefix+"audit", 100_000)
	if err := store.Append(t.Context(), seededTrail()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf("webhook:\n  auth:\n    secrets: [a-long-enough-test-secret]\nindex:\n  backend: redis\n  redis:\n    addrs: [%s]\n    prefix: %q\n", addr, prefix)
	path := filepath.Join(dir, "dedupegate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code := runCLI(t, "report", "--config", path, "--since", reportSince, "--until", reportUntil)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	body, src := sourceLine(out)
	if src != "source: redis stream "+prefix+"audit" {
		t.Errorf("source line %q", src)
	}
	golden(t, "report.table.golden", body)
}

func TestReportErrors(t *testing.T) {
	url := serveAudit(t, nil)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad format", []string{"--format", "xml"}, exitUsage, "not one of table, json"},
		{"bad since", []string{"--since", "last week"}, exitUsage, "--since"},
		{"since after until", []string{"--since", "2025-12-01", "--until", "2025-11-01"}, exitUsage, "before --until"},
		{"no key", []string{"--url", url}, exitFailure, "needs an API key"},
		{"wrong key", []string{"--url", url, "--api-key", "wrong-key-wrong-key-wrong"}, exitFailure, "answered 401"},
		{"gateway down", []string{"--url", "http://127.0.0.1:1", "--api-key", testAPIKey}, exitFailure, "reading 127.0.0.1:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DEDUPEGATE_API_KEY", "")
			_, errs, code := runCLI(t, append([]string{"report"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errs, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errs, tc.code, tc.msg)
			}
		})
	}
}
