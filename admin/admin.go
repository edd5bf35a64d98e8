// Package admin serves the admin dashboard and the JSON it reads: GET /ui (one self-contained
// page, embedded in the binary, that loads nothing from elsewhere), GET /api/v1/audit (audit
// entries) and GET /api/v1/stats (blocks and warnings over time by table and rule, totals, and
// the health of the gateway's dependencies).
//
// The JSON routes sit behind the check API's authentication (an Entra bearer token or an
// X-API-Key). The page itself holds no data and is served without it: a browser cannot attach
// a bearer token or an API key to a page navigation, so the page asks for the key (or takes it
// from the URL fragment, #key=…, which browsers never send to the server), keeps it in the
// tab's sessionStorage, and sends it with every JSON request.
package admin

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dedupegate/dedupegate/audit"
)

// Lister reads the audit trail (audit.Trail, or an audit.Store).
type Lister interface {
	List(ctx context.Context, since time.Time, f audit.Filter) ([]audit.Entry, error)
}

// Config wires the dashboard.
type Config struct {
	// Trail is read by both JSON routes. Nil: the routes answer 404 "audit trail disabled".
	Trail Lister
	// Store names where the trail lives (redis, memory), shown on the dashboard.
	Store string
	// Auth guards the JSON routes. Nil refuses every request with 403 and a message saying how
	// to configure the check API's authentication: the trail is never served unauthenticated.
	Auth echo.MiddlewareFunc
	// Health reports the readiness of the gateway's dependencies (the /readyz data).
	Health func(ctx context.Context) (ok bool, deps map[string]string)
	// MaxEntries caps the entries one request reads. Default 100,000.
	MaxEntries int
	// Now replaces time.Now (tests).
	Now func() time.Time
}

// Mount adds the dashboard's routes to e.
func Mount(e *echo.Echo, cfg Config) {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &handlers{cfg: cfg}
	auth := cfg.Auth
	if auth == nil {
		auth = refuseAll
	}
	e.GET("/ui", h.page)
	e.GET("/ui/", h.page)
	g := e.Group("/api/v1", auth)
	g.GET("/audit", h.audit)
	g.GET("/stats", h.stats)
}

func refuseAll(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		return echo.NewHTTPError(http.StatusForbidden,
			"the audit API needs the check API's authentication: configure check_api.api_keys (DEDUPEGATE_API_KEYS) or check_api.entra")
	}
}

type handlers struct{ cfg Config }

//go:embed ui.html
var pageHTML []byte

// pageCSP allows exactly the page's own inline script and style (by hash) and requests to
// its own origin: nothing else loads or runs.
var pageCSP = func() string {
	hashes := func(tag string) string {
		re := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`)
		var out []string
		for _, m := range re.FindAllSubmatch(pageHTML, -1) {
			sum := sha256.Sum256(m[1])
			out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		}
		return strings.Join(out, " ")
	}
	return "default-src 'none'; script-src " + hashes("script") + "; style-src " + hashes("style") +
		"; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}()

func (h *handlers) page(c echo.Context) error {
	hd := c.Response().Header()
	hd.Set("Content-Security-Policy", pageCSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "text/html; charset=utf-8", pageHTML)
}

// AuditResponse is the body of GET /api/v1/audit.
type AuditResponse struct {
	Since   time.Time     `json:"since"`
	Until   time.Time     `json:"until"`
	Count   int           `json:"count"`
	Entries []audit.Entry `json:"entries"`
}

// audit answers GET /api/v1/audit?since=7d&until=…&kind=block,warn&outcome=&table=&rule=&user=&limit=.
// Entries come oldest first; limit keeps the newest (default 1000, at most MaxEntries).
func (h *handlers) audit(c echo.Context) error {
	if h.cfg.Trail == nil {
		return echo.NewHTTPError(http.StatusNotFound, "the audit trail is disabled (audit.enabled: false)")
	}
	since, until, err := h.period(c, "7d")
	if err != nil {
		return err
	}
	f := audit.Filter{Until: until, Outcome: c.QueryParam("outcome"), Table: c.QueryParam("table"), Rule: c.QueryParam("rule"),
		UserID: c.QueryParam("user"), Limit: 1000}
	if k := c.QueryParam("kind"); k != "" {
		for _, s := range strings.Split(k, ",") {
			f.Kinds = append(f.Kinds, audit.Kind(strings.TrimSpace(s)))
		}
	}
	if l := c.QueryParam("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return echo.NewHTTPError(http.StatusBadRequest, "limit must be a positive integer")
		}
		f.Limit = n
	}
	f.Limit = min(f.Limit, h.cfg.MaxEntries)
	entries, err := h.cfg.Trail.List(c.Request().Context(), since, f)
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "reading the audit trail failed").SetInternal(err)
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	return c.JSON(http.StatusOK, AuditResponse{Since: since.UTC(), Until: until.UTC(), Count: len(entries), Entries: entries})
}

// StatsResponse is the body of GET /api/v1/stats.
type StatsResponse struct {
	Since       time.Time      `json:"since"`
	Until       time.Time      `json:"until"`
	StepSeconds int64          `json:"step_seconds"`
	Buckets     []time.Time    `json:"buckets"`
	Series      []audit.Series `json:"series"`
	Summary     audit.Summary  `json:"summary"`
	// Truncated is set when the period held more entries than one request reads.
	Truncated bool   `json:"truncated,omitempty"`
	Store     string `json:"store"`
	Health    Health `json:"health"`
}

// Health is the readiness of the gateway's dependencies.
type Health struct {
	Status       string            `json:"status"` // ok or unavailable
	Dependencies map[string]string `json:"dependencies"`
	// Audit is ok, or unavailable when the trail could not be read.
	Audit string `json:"audit"`
}

// stats answers GET /api/v1/stats?since=24h&step=1h: blocks, warnings and the other kinds
// over time by table and rule, the period's summary and the dependencies' health.
func (h *handlers) stats(c echo.Context) error {
	since, until, err := h.period(c, "24h")
	if err != nil {
		return err
	}
	step := defaultStep(until.Sub(since))
	if s := c.QueryParam("step"); s != "" {
		if step, err = audit.ParsePeriod(s); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "step: "+err.Error())
		}
	}
	since = since.Truncate(step) // buckets on round boundaries (UTC)
	if until.Sub(since)/step > 1000 {
		return echo.NewHTTPError(http.StatusBadRequest, "too many buckets: at most 1000 steps per period")
	}
	ctx := c.Request().Context()
	resp := StatsResponse{Since: since.UTC(), Until: until.UTC(), StepSeconds: int64(step / time.Second), Store: h.cfg.Store,
		Health: Health{Status: "ok", Dependencies: map[string]string{}, Audit: "ok"}}
	if h.cfg.Health != nil {
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		ok, deps := h.cfg.Health(hctx)
		cancel()
		if !ok {
			resp.Health.Status = "unavailable"
		}
		if deps != nil {
			resp.Health.Dependencies = deps
		}
	}
	var entries []audit.Entry
	if h.cfg.Trail == nil {
		resp.Health.Audit = "disabled"
	} else {
		entries, err = h.cfg.Trail.List(ctx, since, audit.Filter{Until: until, Limit: h.cfg.MaxEntries})
		if err != nil {
			resp.Health.Audit = "unavailable"
			resp.Health.Status = "unavailable"
		}
		resp.Truncated = len(entries) == h.cfg.MaxEntries
	}
	resp.Buckets, resp.Series = audit.Timeline(entries, since, until, step)
	if resp.Buckets == nil {
		resp.Buckets = []time.Time{}
	}
	if resp.Series == nil {
		resp.Series = []audit.Series{}
	}
	resp.Summary = audit.Summarize(entries, since, until)
	return c.JSON(http.StatusOK, resp)
}

// period reads since (default def back from now) and until (default now).
func (h *handlers) period(c echo.Context, def string) (time.Time, time.Time, error) {
	now := h.cfg.Now()
	until := now
	if u := c.QueryParam("until"); u != "" {
		t, err := audit.ParseSince(u, now)
		if err != nil {
			return time.Time{}, time.Time{}, echo.NewHTTPError(http.StatusBadRequest, "until: "+err.Error())
		}
		until = t
	}
	s := c.QueryParam("since")
	if s == "" {
		s = def
	}
	since, err := audit.ParseSince(s, until)
	if err != nil {
		return time.Time{}, time.Time{}, echo.NewHTTPError(http.StatusBadRequest, "since: "+err.Error())
	}
	if !since.Before(until) {
		return time.Time{}, time.Time{}, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("since (%s) must be before until (%s)", since.Format(time.RFC3339), until.Format(time.RFC3339)))
	}
	return since, until, nil
}

// defaultStep picks a bucket width giving 24–60 buckets for common periods.
func defaultStep(p time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 24 * time.Hour} {
		if p/s <= 60 {
			return s
		}
	}
	return 7 * 24 * time.Hour
}
