package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dedupegate/dedupegate/admin"
	"github.com/dedupegate/dedupegate/audit"
)

const apiKey = "dashboard-test-key-0123456789"

// now is the dashboard's clock in these tests.
var now = time.Date(2025, 11, 26, 12, 0, 0, 0, time.UTC)

// seed returns a day of entries: blocks and warnings on contact and lead by two rules, an
// override, a fail-closed fallback and an audit-mode hit.
func seed() []audit.Entry {
	var out []audit.Entry
	add := func(hoursAgo float64, kind audit.Kind, outcome, table, rule, level, id, corr string) {
		e := audit.Entry{Time: now.Add(-time.Duration(hoursAgo * float64(time.Hour))), Kind: kind, Outcome: outcome, Table: table,
			Message: "Create", EntryPoint: "form", UserID: "75c2dd85-e89e-e711-8122-000d3aa2331c", CorrelationID: corr, LatencyMS: 1.2}
		if rule != "" {
			action := "block"
			if kind == audit.KindAudit {
				action = "audit"
			}
			e.Matches = []audit.Match{{Rule: rule, Action: action, Level: level, Entity: "contact", ID: id, Score: 0.97,
				Reasons: []string{"email equal after normalisation", "first name ~ (nickname)"}}}
		}
		out = append(out, e)
	}
	for i := 0; i < 18; i++ {
		h := 23 - float64(i)*1.25
		add(h, audit.KindBlock, "block", "contact", "contact-email", "block", "6d81597f-0f9f-e711-8122-000d3aa2331c", fmt.Sprintf("blk-contact-%02d", i))
		if i%2 == 0 {
			add(h-0.3, audit.KindWarn, "warn", "contact", "contact-name", "warn", "7e92608a-1a0a-f822-9233-000d3aa2331d", fmt.Sprintf("wrn-contact-%02d", i))
		}
		if i%3 == 0 {
			add(h-0.6, audit.KindBlock, "block", "lead", "lead-vs-contact", "block", "8fa3719b-2b1b-0933-a344-000d3aa2331e", fmt.Sprintf("blk-lead-%02d", i))
		}
	}
	add(2, audit.KindOverride, "allow", "contact", "contact-email", "block", "6d81597f-0f9f-e711-8122-000d3aa2331c", "ovr-1")
	e := audit.Entry{Time: now.Add(-90 * time.Minute), Kind: audit.KindFallback, Outcome: "block", Table: "account", Fallback: "fail-closed",
		Error: "index: context deadline exceeded", CorrelationID: "fbk-1"}
	out = append(out, e)
	add(1, audit.KindAudit, "allow", "lead", "lead-audit", "block", "9a", "aud-1")
	return out
}

// server starts the dashboard on a real loopback listener over a ring holding entries, with
// an X-API-Key check standing in for the check API's middleware (nil auth: none configured).
func server(t *testing.T, entries []audit.Entry, withAuth bool, health func() (bool, map[string]string)) string {
	t.Helper()
	ring := audit.NewRing(10_000)
	if err := ring.Append(t.Context(), entries); err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	cfg := admin.Config{Trail: ring, Store: "memory", Now: func() time.Time { return now }}
	if withAuth {
		cfg.Auth = func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if c.Request().Header.Get("X-API-Key") != apiKey {
					return echo.NewHTTPError(http.StatusUnauthorized, "unauthorized")
				}
				return next(c)
			}
		}
	}
	if health != nil {
		cfg.Health = func(context.Context) (bool, map[string]string) { return health() }
	}
	admin.Mount(e, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url, key string, into any) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if into != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s: %v: %s", url, err, b)
		}
	}
	return resp.StatusCode
}

func TestAuth(t *testing.T) {
	open := server(t, seed(), false, nil)
	guarded := server(t, seed(), true, nil)
	tests := []struct {
		name, url, key string
		want           int
	}{
		{"no auth configured refuses", open + "/api/v1/audit", apiKey, http.StatusForbidden},
		{"no auth configured refuses stats", open + "/api/v1/stats", "", http.StatusForbidden},
		{"missing key", guarded + "/api/v1/audit", "", http.StatusUnauthorized},
		{"wrong key", guarded + "/api/v1/stats", "nope", http.StatusUnauthorized},
		{"good key", guarded + "/api/v1/audit", apiKey, http.StatusOK},
		{"the page holds no data and needs no key", guarded + "/ui", "", http.StatusOK},
	}
	for _, tc := range tests {
		if got := get(t, tc.url, tc.key, nil); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestAuditAPI(t *testing.T) {
	url := server(t, seed(), true, nil)
	var r admin.AuditResponse
	if code := get(t, url+"/api/v1/audit?since=24h&kind=block&table=lead", apiKey, &r); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if r.Count != 6 || len(r.Entries) != 6 {
		t.Fatalf("want the 6 lead blocks, got %d", r.Count)
	}
	for i, e := range r.Entries {
		if e.Kind != audit.KindBlock || e.Table != "lead" || (i > 0 && e.Time.Before(r.Entries[i-1].Time)) {
			t.Fatalf("entry %d out of filter or order: %+v", i, e)
		}
	}
	if code := get(t, url+"/api/v1/audit?since=24h&limit=5", apiKey, &r); code != http.StatusOK || r.Count != 5 || r.Entries[4].CorrelationID != "aud-1" {
		t.Fatalf("limit keeps the newest: %d %+v", code, r.Entries)
	}
	for _, bad := range []string{"audit?since=yesterday", "audit?limit=-1", "audit?since=2025-11-27&until=2025-11-26", "stats?step=1s", "stats?step=soon"} {
		if code := get(t, url+"/api/v1/"+bad, apiKey, nil); code != http.StatusBadRequest {
			t.Errorf("%s: got %d, want 400", bad, code)
		}
	}
}

func TestStatsAPI(t *testing.T) {
	url := server(t, seed(), true, func() (bool, map[string]string) {
		return false, map[string]string{"index": "ok", "dataverse": "unavailable"}
	})
	var s admin.StatsResponse
	if code := get(t, url+"/api/v1/stats?since=24h&step=1h", apiKey, &s); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if s.StepSeconds != 3600 || len(s.Buckets) != 24 {
		t.Fatalf("buckets: step %d, %d buckets", s.StepSeconds, len(s.Buckets))
	}
	sum := map[string]int{}
	for _, se := range s.Series {
		if len(se.Counts) != len(s.Buckets) {
			t.Fatalf("series %+v has %d counts for %d buckets", se, len(se.Counts), len(s.Buckets))
		}
		for _, c := range se.Counts {
			sum[string(se.Kind)+"/"+se.Table+"/"+se.Rule] += c
		}
	}
	want := map[string]int{"block/contact/contact-email": 18, "warn/contact/contact-name": 9, "block/lead/lead-vs-contact": 6,
		"override/contact/contact-email": 1, "fallback/account/": 1, "audit/lead/lead-audit": 1}
	if fmt.Sprint(sum) != fmt.Sprint(want) {
		t.Fatalf("series sums %v, want %v", sum, want)
	}
	tot := s.Summary.Totals
	if tot.Block != 24 || tot.Warn != 9 || tot.Override != 1 || tot.Fallback != 1 || tot.Audit != 1 {
		t.Fatalf("totals %+v", tot)
	}
	if s.Health.Status != "unavailable" || s.Health.Dependencies["dataverse"] != "unavailable" || s.Health.Audit != "ok" || s.Store != "memory" {
		t.Fatalf("health %+v store %q", s.Health, s.Store)
	}
}

func TestPageIsSelfContained(t *testing.T) {
	url := server(t, nil, true, nil)
	resp, err := http.Get(url + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'sha256-") || strings.Contains(csp, "unsafe") {
		t.Fatalf("CSP %q", csp)
	}
	for _, s := range []string{"http://", "https://", "//cdn", "@import", "<link", "src="} {
		if strings.Contains(strings.ReplaceAll(page, `"http://www.w3.org/2000/svg"`, ""), s) {
			t.Errorf("page refers to something outside itself: %q", s)
		}
	}
}
