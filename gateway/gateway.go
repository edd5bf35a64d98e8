package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/actions"
	"github.com/dedupegate/dedupegate/audit"
	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/metrics"
	"github.com/dedupegate/dedupegate/rules"
	"github.com/dedupegate/dedupegate/webhook"
)

// Index is the candidate index as the gateway wires it: the engine reads it, the upkeep writes it.
type Index interface {
	rules.Index
	index.Writer
}

// starter is an index with background work to begin once the engine exists (a replica's
// load and change feed).
type starter interface{ Start(ctx context.Context) }

// pinger is implemented by dependencies that can report readiness.
type pinger interface {
	Ping(ctx context.Context) error
}

// Gateway is a wired dedupegate server.
type Gateway struct {
	Config  *config.Config
	Log     *zap.Logger
	Echo    *echo.Echo
	Rules   *rules.Set
	Index   Index
	Engine  *rules.Engine
	Webhook *webhook.Handler
	// Reader re-reads rows from Dataverse; nil without a Dataverse connection.
	Reader webhook.RowReader
	// Dataverse is the Web API client New built from dataverse.url (nil when a reader was
	// passed in, or no URL is configured).
	Dataverse *dataverse.Client
	// Metrics are the Prometheus metrics (GET /metrics); Audit is the audit trail (nil when
	// audit.enabled is false). See governance.go.
	Metrics *metrics.Metrics
	Audit   *audit.Trail
	// Actions runs notify/merge/review follow-ups (nil when actions.enabled is false);
	// Exceptions is the "not a duplicate" list the engine consults. See actions.go.
	Actions    *actions.Runner
	Exceptions *actions.Exceptions

	auth apiAuth

	mu      sync.Mutex
	checks  map[string]func(ctx context.Context) error
	closers []func() error
}

// Option changes how New wires the gateway (tests, sandbox).
type Option func(*options)

type options struct {
	rules  *rules.Set
	index  Index
	reader webhook.RowReader
	engine []rules.Option
	// static are the rules file's "not a duplicate" pairs, combined with the review
	// workflow's list (see exceptions).
	static rules.Exceptions
}

// WithRules uses set instead of loading the rules file.
func WithRules(set *rules.Set) Option { return func(o *options) { o.rules = set } }

// WithIndex uses idx instead of building the configured backend.
func WithIndex(idx Index) Option { return func(o *options) { o.index = idx } }

// WithRowReader sets the Dataverse row reader (re-reads of oversized updates).
func WithRowReader(r webhook.RowReader) Option { return func(o *options) { o.reader = r } }

// WithEngineOptions passes options to rules.NewEngine (fallback source, override verifier...).
func WithEngineOptions(opts ...rules.Option) Option {
	return func(o *options) { o.engine = append(o.engine, opts...) }
}

// New wires a gateway from cfg. It loads the rules, builds the index and the engine, and mounts
// the webhook and health routes. Close releases what it opened.
func New(ctx context.Context, cfg *config.Config, log *zap.Logger, opts ...Option) (*Gateway, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	g := &Gateway{Config: cfg, Log: log, checks: map[string]func(context.Context) error{}, Metrics: metrics.New()}
	set := o.rules
	if set == nil {
		f, err := LoadRules(cfg, "")
		if err != nil {
			return nil, err
		}
		set = f.Set
		if f.NotDuplicates != nil && f.NotDuplicates.Len() > 0 {
			o.static = f.NotDuplicates
		}
	}
	g.Rules = set
	idx := o.index
	if idx == nil {
		var err error
		if idx, err = g.buildIndex(ctx); err != nil {
			return nil, err
		}
	}
	g.Index = idx
	if p, ok := idx.(pinger); ok {
		g.AddReadiness("index", p.Ping)
	}
	if err := g.connectDataverse(ctx, &o); err != nil {
		return nil, err
	}
	g.Reader = o.reader

	ecfg := rules.EngineConfig{
		Deadline:       cfg.Decision.Deadline.D(),
		FailurePolicy:  rules.Policy(cfg.Decision.FailurePolicy),
		TablePolicy:    map[string]rules.Policy{},
		Reservations:   *cfg.Decision.Reservations,
		ReservationTTL: cfg.Decision.ReservationTTL.D(),
		PerKeyLimit:    cfg.Decision.PerKeyLimit,
	}
	for t, p := range cfg.Decision.Tables {
		ecfg.TablePolicy[t] = rules.Policy(p)
	}
	// "Ignore and Save" tokens: the engine verifies them for the webhook (gateway/checkapi.go).
	overrides, err := g.overrides()
	if err != nil {
		return nil, err
	}
	acts, err := g.prepareActions(ctx, &o) // exceptions list and follow-ups (gateway/actions.go)
	if err != nil {
		return nil, err
	}
	engineOpts := o.engine
	if overrides != nil {
		engineOpts = append([]rules.Option{rules.WithOverride(overrides)}, engineOpts...)
	}
	g.Engine = rules.NewEngine(set, idx, ecfg, engineOpts...)
	if s, ok := idx.(starter); ok {
		s.Start(ctx) // a replica loads now that it can read the engine's rules
	}

	apps := map[string]bool{}
	for _, u := range cfg.Webhook.ApplicationUsers {
		apps[strings.ToLower(u)] = true
	}
	secrets := make([]string, 0, len(cfg.Webhook.Auth.Secrets))
	for _, s := range cfg.Webhook.Auth.Secrets {
		secrets = append(secrets, s.Value())
	}
	g.Webhook = webhook.New(webhook.Config{
		Auth:               webhook.NewAuthenticator(webhook.AuthType(cfg.Webhook.Auth.Type), cfg.Webhook.Auth.Name, secrets...),
		MaxBodyBytes:       cfg.Webhook.MaxBodyBytes,
		SizeExceededCreate: cfg.Webhook.SizeExceededCreate,
		OverrideAttribute:  cfg.Webhook.OverrideAttribute,
		ApplicationUsers:   apps,
		Deadline:           cfg.Decision.Deadline.D(),
	}, g.Engine, g.Reader, log, webhook.ChangeHandlerFunc(g.upkeep))

	g.Echo = newEcho(log)
	g.Echo.POST(cfg.Webhook.Path, g.Webhook.Serve)
	g.Echo.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	g.Echo.GET("/readyz", g.ready)
	if err := g.wireCheckAPI(overrides); err != nil {
		return nil, err
	}
	if err := g.wireGovernance(ctx); err != nil {
		return nil, err
	}
	if err := g.wireActions(acts); err != nil {
		return nil, err
	}
	g.startSync(ctx)
	return g, nil
}

// upkeep files committed changes in the index (the PostOperation seam).
func (g *Gateway) upkeep(ctx context.Context, ch webhook.Change) error {
	set := g.Engine.Rules()
	if ch.Message == "Delete" {
		return g.Index.Delete(ctx, ch.Entity, ch.ID)
	}
	if len(set.IndexedAttrs(ch.Entity)) == 0 {
		return nil // no rule searches this table
	}
	// Commit files the row and settles its strong-key reservations (docs/index.md).
	return index.Commit(ctx, g.Index, set, ch.Record)
}

// AddReadiness registers a dependency check for /readyz.
func (g *Gateway) AddReadiness(name string, check func(ctx context.Context) error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.checks[name] = check
}

// OnClose registers a function Close calls (in reverse order).
func (g *Gateway) OnClose(f func() error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closers = append(g.closers, f)
}

// Close releases what New and OnClose registered.
func (g *Gateway) Close() error {
	g.mu.Lock()
	cs := g.closers
	g.closers = nil
	g.mu.Unlock()
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		errs = append(errs, cs[i]())
	}
	return errors.Join(errs...)
}

// ready answers /readyz: 200 when every dependency answers within a second, else 503 naming
// the ones that did not (no secrets or addresses in the body).
func (g *Gateway) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), time.Second)
	defer cancel()
	ok, status := g.Readiness(ctx)
	if !ok {
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "dependencies": status})
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ok", "dependencies": status})
}

// Readiness runs every dependency check: ok when all pass, and each dependency's status
// ("ok" or "unavailable"). /readyz and the admin dashboard report it.
func (g *Gateway) Readiness(ctx context.Context) (bool, map[string]string) {
	g.mu.Lock()
	checks := make(map[string]func(context.Context) error, len(g.checks))
	for k, v := range g.checks {
		checks[k] = v
	}
	g.mu.Unlock()
	status := map[string]string{}
	ok := true
	for name, check := range checks {
		if err := check(ctx); err != nil {
			status[name] = "unavailable"
			ok = false
			webhook.LoggerFrom(ctx, g.Log).Warn("readiness check failed", zap.String("dependency", name), zap.Error(err))
		} else {
			status[name] = "ok"
		}
	}
	return ok, status
}

func (g *Gateway) buildIndex(ctx context.Context) (Index, error) {
	switch g.Config.Index.Backend {
	case "memory":
		return index.NewMemory(), nil
	case "redis":
		return newRedisIndex(ctx, g)
	}
	return nil, fmt.Errorf("unknown index backend %q", g.Config.Index.Backend)
}
