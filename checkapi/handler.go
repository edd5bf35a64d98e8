package checkapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/inapp"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/override"
	"github.com/dedupegate/dedupegate/rules"
	"github.com/dedupegate/dedupegate/webhook"
)

// Decider is the engine as the check API uses it: the same *rules.Engine as the webhook.
type Decider interface {
	Decide(ctx context.Context, req rules.Request) rules.Decision
	Rules() *rules.Set
}

// RowReader reads a stored row (the gateway's Dataverse reader, as the service principal). An
// update check uses it to fill the columns the caller did not send, as the webhook does with
// the pre-image.
type RowReader interface {
	Retrieve(ctx context.Context, entity, id string) (matcher.Record, error)
}

// Config configures the handler. Zero values take the documented defaults.
type Config struct {
	// Auth authenticates callers. Required.
	Auth *Authenticator
	// Overrides issues "Ignore and Save" tokens; nil offers none.
	Overrides *override.Tokens
	// APIKeysMayOverride lets API-key callers obtain tokens bound to the user_id they name.
	APIKeysMayOverride bool
	// Visibility re-reads matches as the caller; nil (no Dataverse) shows every match.
	Visibility RecordReader
	// ShowAll shows every caller every match even with Visibility set.
	ShowAll bool
	// Rows fills the unchanged columns of an update check; nil checks what was sent.
	Rows RowReader
	// MaxBatch caps a batch (413 past it). Default and maximum 1000.
	MaxBatch int
	// BatchConcurrency bounds the decisions and the Dataverse reads a request runs at once.
	// Default 8.
	BatchConcurrency int
	// MaxBodyBytes caps a single check's body; a batch may use MaxBatch times as much, up to
	// 16 MiB. Default 64 KiB.
	MaxBodyBytes int64
	// CORSOrigins are the browser origins allowed to call; empty sends no CORS headers.
	CORSOrigins []string
	// ReadTimeout bounds the Dataverse reads of one request. Default 3s.
	ReadTimeout time.Duration
}

// Handler serves the check API.
type Handler struct {
	cfg    Config
	engine Decider
	log    *zap.Logger
}

// New returns a handler over engine.
func New(cfg Config, engine Decider, log *zap.Logger) (*Handler, error) {
	if cfg.Auth == nil {
		return nil, errors.New("checkapi: an authenticator is required")
	}
	if engine == nil {
		return nil, errors.New("checkapi: an engine is required")
	}
	if cfg.MaxBatch <= 0 || cfg.MaxBatch > 1000 {
		cfg.MaxBatch = 1000
	}
	if cfg.BatchConcurrency <= 0 {
		cfg.BatchConcurrency = 8
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 3 * time.Second
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Handler{cfg: cfg, engine: engine, log: log}, nil
}

// Paths of the API.
const (
	CheckPath = "/api/v1/check"
	BatchPath = "/api/v1/check/batch"
)

// Mount adds the API's routes to e: CORS (when origins are configured) answers preflights
// before authentication; every other request must authenticate.
func (h *Handler) Mount(e *echo.Echo) {
	var mws []echo.MiddlewareFunc
	if len(h.cfg.CORSOrigins) > 0 {
		mws = append(mws, middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:  h.cfg.CORSOrigins,
			AllowMethods:  []string{http.MethodPost, http.MethodOptions},
			AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType, APIKeyHeader},
			ExposeHeaders: []string{echo.HeaderXRequestID},
			MaxAge:        600,
		}))
	}
	mws = append(mws, h.cfg.Auth.middleware(h.log))
	// Route-level middleware, not a group: a group would catch every unknown path of e.
	e.POST(CheckPath, h.check, mws...)
	e.POST(BatchPath, h.batch, mws...)
	// Preflights reach the CORS middleware through these routes; without CORS they are 401/405.
	e.OPTIONS(CheckPath, methodNotAllowed, mws...)
	e.OPTIONS(BatchPath, methodNotAllowed, mws...)
}

func methodNotAllowed(c echo.Context) error {
	return c.JSON(http.StatusMethodNotAllowed, errorBody{Error: "method not allowed"})
}

// CheckRequest is one record to check.
type CheckRequest struct {
	// Entity is the table's logical name (contact, lead, account...).
	Entity string `json:"entity"`
	// ID is the record's id when checking an update: the record never matches itself.
	ID string `json:"id,omitempty"`
	// Attributes are column values by logical name: strings, numbers, booleans, null (a
	// cleared column), arrays (multi-select choices) or lookups ({"id": "..."}).
	Attributes map[string]any `json:"attributes"`
	// EntryPoint selects the rules' per-entry-point actions: api (default), form,
	// integration or import. The form script asks as "form" to learn what its save will meet.
	EntryPoint string `json:"entry_point,omitempty"`
	// UserID (API-key callers only) is the systemuserid or Entra object id of the user who
	// will save: the override token is bound to it, and rules' bypass lists apply.
	UserID string `json:"user_id,omitempty"`
	// Key is echoed in a batch result, to tie it to the caller's row.
	Key string `json:"key,omitempty"`
}

// MatchView is a match as the caller may see it.
type MatchView struct {
	ID      string                `json:"id,omitempty"`
	Entity  string                `json:"entity"`
	Name    string                `json:"name,omitempty"`
	Score   float64               `json:"score"`
	Rule    string                `json:"rule"`
	Level   rules.Outcome         `json:"level"`
	Action  rules.Action          `json:"action"`
	Reasons []string              `json:"reasons,omitempty"`
	Fields  []matcher.FieldResult `json:"fields,omitempty"`
	// Hidden is set when the caller may not read the matched record: only Message is given.
	Hidden   bool   `json:"hidden,omitempty"`
	Reserved bool   `json:"reserved,omitempty"`
	Message  string `json:"message,omitempty"`
}

// CheckResponse is the answer for one record.
type CheckResponse struct {
	Decision rules.Outcome `json:"decision"`
	Matches  []MatchView   `json:"matches"`
	// Override is an "Ignore and Save" token, offered for a block or warn decision when the
	// caller may override.
	Override *override.Token `json:"override,omitempty"`
	// Fallback is set when the engine could not decide in time and the failure policy answered.
	Fallback  string `json:"fallback,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// BatchRequest is POST /api/v1/check/batch.
type BatchRequest struct {
	Records []CheckRequest `json:"records"`
}

// BatchResult is one record's answer in a batch: a CheckResponse, or Error for a record that
// could not be checked (the others still are).
type BatchResult struct {
	Index int    `json:"index"`
	Key   string `json:"key,omitempty"`
	*CheckResponse
	Error string `json:"error,omitempty"`
}

// BatchResponse is the answer to a batch.
type BatchResponse struct {
	Results   []BatchResult  `json:"results"`
	Summary   map[string]int `json:"summary"`
	RequestID string         `json:"request_id,omitempty"`
}

type errorBody struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// inputError is a problem with the caller's input (400).
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

func badInput(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

func (h *Handler) check(c echo.Context) error {
	var in CheckRequest
	if err := h.decode(c, h.cfg.MaxBodyBytes, &in); err != nil {
		return h.fail(c, err)
	}
	p, _ := PrincipalFrom(c.Request().Context())
	rc := newReadCache(h.cfg.Visibility, p.OID)
	sem := make(chan struct{}, h.cfg.BatchConcurrency)
	out, err := h.one(c.Request().Context(), p, in, requestID(c), rc, sem)
	if err != nil {
		return h.fail(c, err)
	}
	out.RequestID = requestID(c)
	return c.JSON(http.StatusOK, out)
}

func (h *Handler) batch(c echo.Context) error {
	limit := h.cfg.MaxBodyBytes * int64(h.cfg.MaxBatch)
	if limit > 16<<20 {
		limit = 16 << 20
	}
	var in BatchRequest
	if err := h.decode(c, limit, &in); err != nil {
		return h.fail(c, err)
	}
	if len(in.Records) == 0 {
		return h.fail(c, badInput("records is empty: send {\"records\": [{\"entity\": ..., \"attributes\": {...}}, ...]}"))
	}
	if len(in.Records) > h.cfg.MaxBatch {
		return c.JSON(http.StatusRequestEntityTooLarge, errorBody{
			Error:     fmt.Sprintf("%d records in one batch; at most %d are accepted: split the batch", len(in.Records), h.cfg.MaxBatch),
			RequestID: requestID(c)})
	}
	ctx := c.Request().Context()
	p, _ := PrincipalFrom(ctx)
	rid := requestID(c)
	rc := newReadCache(h.cfg.Visibility, p.OID)
	readSem := make(chan struct{}, h.cfg.BatchConcurrency)
	results := make([]BatchResult, len(in.Records))
	work := make(chan int)
	var wg sync.WaitGroup
	workers := min(h.cfg.BatchConcurrency, len(in.Records))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				rec := in.Records[i]
				res := BatchResult{Index: i, Key: rec.Key}
				out, err := h.one(ctx, p, rec, fmt.Sprintf("%s/%d", rid, i), rc, readSem)
				if err != nil {
					var ie *inputError
					if !errors.As(err, &ie) {
						webhook.LoggerFrom(ctx, h.log).Error("batch record failed", zap.Int("index", i), zap.Error(err))
						err = errors.New("internal error")
					}
					res.Error = err.Error()
				} else {
					res.CheckResponse = out
				}
				results[i] = res
			}
		}()
	}
	for i := range in.Records {
		work <- i
	}
	close(work)
	wg.Wait()
	summary := map[string]int{"allow": 0, "warn": 0, "block": 0, "error": 0}
	for _, r := range results {
		if r.CheckResponse == nil {
			summary["error"]++
		} else {
			summary[string(r.Decision)]++
		}
	}
	webhook.LoggerFrom(ctx, h.log).Info("batch checked", zap.Int("records", len(results)),
		zap.Int("block", summary["block"]), zap.Int("warn", summary["warn"]), zap.Int("errors", summary["error"]))
	return c.JSON(http.StatusOK, BatchResponse{Results: results, Summary: summary, RequestID: rid})
}

// one checks one record for caller p.
func (h *Handler) one(ctx context.Context, p Principal, in CheckRequest, correlation string, rc *readCache, sem chan struct{}) (*CheckResponse, error) {
	set := h.engine.Rules()
	req, err := h.request(ctx, set, p, in)
	if err != nil {
		return nil, err
	}
	req.CorrelationID = correlation
	// A check is a dry run: nobody is notified of its block (package inapp).
	d := h.engine.Decide(inapp.Quiet(ctx), req)
	out := &CheckResponse{Decision: d.Outcome, Fallback: d.Fallback, Matches: h.views(ctx, p, d.Matches, rc, sem)}
	log := webhook.LoggerFrom(ctx, h.log)
	if d.Fallback != "" {
		// The engine's error may name internal addresses: logged, not returned.
		log.Warn("check decided by the failure policy", zap.String("fallback", d.Fallback), zap.String("error", d.Error))
	}
	if (d.Outcome == rules.OutcomeBlock || d.Outcome == rules.OutcomeWarn) && d.Fallback == "" && h.cfg.Overrides != nil {
		if user := h.overrideUser(p, req); user != "" {
			tok, err := h.cfg.Overrides.Issue(user, req.Record, set.WatchedAttrs(req.Record.Entity), d.Matches)
			if err != nil {
				return nil, err
			}
			out.Override = &tok
		}
	}
	log.Info("check", zap.String("entity", req.Record.Entity), zap.String("message", req.Message),
		zap.String("entry_point", req.EntryPoint), zap.String("decision", string(d.Outcome)),
		zap.Int("matches", len(d.Matches)), zap.Bool("override_offered", out.Override != nil))
	return out, nil
}

// overrideUser returns the user an override token is bound to, or "" when p may not override.
func (h *Handler) overrideUser(p Principal, req rules.Request) string {
	switch p.Kind {
	case KindUser:
		if h.cfg.Overrides.MayOverride([]string{p.OID}, p.Roles) {
			return p.OID
		}
	case KindAPIKey:
		if h.cfg.APIKeysMayOverride && req.UserID != "" && h.cfg.Overrides.MayOverride([]string{req.UserID}, nil) {
			return req.UserID
		}
	}
	return ""
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// normID lower-cases a GUID and strips the braces Xrm's getId() adds; "" when s is no GUID.
func normID(s string) string {
	s = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "{"), "}"))
	if !guidRE.MatchString(s) {
		return ""
	}
	return s
}

var entryPoints = map[string]bool{rules.EntryAPI: true, rules.EntryForm: true, rules.EntryIntegration: true, rules.EntryImport: true}

// request validates in and builds the engine's request.
func (h *Handler) request(ctx context.Context, set *rules.Set, p Principal, in CheckRequest) (rules.Request, error) {
	entity := strings.ToLower(strings.TrimSpace(in.Entity))
	if entity == "" {
		return rules.Request{}, badInput("entity is required (the table's logical name, e.g. contact)")
	}
	if len(set.ForEntity(entity)) == 0 {
		return rules.Request{}, badInput("no rule checks table %q (checked tables: %s)", entity, strings.Join(set.Tables(), ", "))
	}
	if in.Attributes == nil {
		return rules.Request{}, badInput("attributes is required (an object of column values)")
	}
	req := rules.Request{Message: "Check", EntryPoint: rules.EntryAPI}
	if in.EntryPoint != "" {
		if !entryPoints[in.EntryPoint] {
			return rules.Request{}, badInput("entry_point %q is not one of api, form, integration, import", in.EntryPoint)
		}
		req.EntryPoint = in.EntryPoint
	}
	switch p.Kind {
	case KindUser:
		if in.UserID != "" {
			return rules.Request{}, badInput("user_id is for API-key callers; a token caller is the user")
		}
		req.UserAADID = p.OID
	case KindAPIKey:
		if in.UserID != "" {
			if req.UserID = normID(in.UserID); req.UserID == "" {
				return rules.Request{}, badInput("user_id %q is not a GUID", in.UserID)
			}
		}
	}
	rec := matcher.Record{Entity: entity, Attrs: map[string]string{}}
	if in.ID != "" {
		if rec.ID = normID(in.ID); rec.ID == "" {
			return rules.Request{}, badInput("id %q is not a GUID", in.ID)
		}
		req.Message = "Update"
	}
	cleared := map[string]bool{}
	for k, v := range in.Attributes {
		name := strings.ToLower(strings.TrimSpace(k))
		if name == "" {
			return rules.Request{}, badInput("an attribute has an empty name")
		}
		s, ok, err := valueString(v)
		if err != nil {
			return rules.Request{}, badInput("attribute %q: %v", name, err)
		}
		if !ok {
			cleared[name] = true
			continue
		}
		rec.Attrs[name] = s
	}
	if rec.ID != "" && h.cfg.Rows != nil {
		// An update: the columns the caller did not send keep their stored values.
		rctx, cancel := context.WithTimeout(ctx, h.cfg.ReadTimeout)
		stored, err := h.cfg.Rows.Retrieve(rctx, entity, rec.ID)
		cancel()
		if err != nil {
			webhook.LoggerFrom(ctx, h.log).Warn("update check: reading the stored row failed; checking the sent columns only", zap.Error(err))
		} else {
			for k, v := range stored.Attrs {
				if _, sent := rec.Attrs[k]; !sent && !cleared[k] {
					rec.Attrs[k] = v
				}
			}
		}
	}
	req.Record = rec
	return req, nil
}

// valueString renders a JSON attribute value as the webhook renders the same column
// (dataverse.ValueString over the decoded value); ok is false for null. Two normalisations
// keep browser input equal to Dataverse's: an RFC 3339 date-time is rendered in UTC to the
// second, and a lookup object ({"id": ...}) is its id.
func valueString(v any) (string, bool, error) {
	switch x := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.UTC().Truncate(time.Second).Format(time.RFC3339), true, nil
		}
	case map[string]any:
		if id, ok := x["id"].(string); ok {
			if n := normID(id); n != "" {
				return n, true, nil
			}
		}
	case []any:
		if len(x) == 1 {
			// Xrm's lookup value is an array of one {id, name, entityType}.
			if m, ok := x[0].(map[string]any); ok {
				return valueString(m)
			}
		}
	}
	d, err := dataverse.DecodeValue(v, 0)
	if err != nil {
		return "", false, err
	}
	s, ok := dataverse.ValueString(d)
	return s, ok, nil
}

// views renders matches for caller p: a match it may not read keeps only its rule, level and
// "a matching record exists".
func (h *Handler) views(ctx context.Context, p Principal, ms []rules.Match, rc *readCache, sem chan struct{}) []MatchView {
	out := make([]MatchView, len(ms))
	check := p.Kind == KindUser && h.cfg.Visibility != nil && !h.cfg.ShowAll
	var wg sync.WaitGroup
	rctx, cancel := context.WithTimeout(ctx, h.cfg.ReadTimeout)
	defer cancel()
	for i, m := range ms {
		out[i] = MatchView{ID: m.ID, Entity: m.Entity, Name: m.Name, Score: m.Score, Rule: m.Rule, Level: m.Level,
			Action: m.Action, Reasons: m.Reasons, Fields: m.Fields, Reserved: m.Reserved}
		if m.Reserved {
			out[i].Message = "a record with the same identifiers is being saved right now"
			continue
		}
		if !check || m.ID == "" {
			continue
		}
		wg.Add(1)
		go func(i int, m rules.Match) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-rctx.Done():
				out[i] = hidden(m)
				return
			}
			ok, err := rc.canRead(rctx, m.Entity, m.ID)
			<-sem
			if err != nil {
				// Not knowing is not permission: hide, and say so in the log.
				webhook.LoggerFrom(ctx, h.log).Warn("visibility check failed; match details hidden", zap.String("entity", m.Entity), zap.Error(err))
			}
			if !ok || err != nil {
				out[i] = hidden(m)
			}
		}(i, m)
	}
	wg.Wait()
	return out
}

func hidden(m rules.Match) MatchView {
	return MatchView{Entity: m.Entity, Score: m.Score, Rule: m.Rule, Level: m.Level, Action: m.Action,
		Hidden: true, Message: "a matching record exists"}
}

// decode reads a JSON body of at most limit bytes into v, strictly (unknown fields are errors).
func (h *Handler) decode(c echo.Context, limit int64, v any) error {
	r := c.Request()
	if mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); err != nil || mt != echo.MIMEApplicationJSON {
		return &statusError{status: http.StatusUnsupportedMediaType, msg: "content type must be application/json"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &statusError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("body larger than %d bytes", limit)}
		}
		return badInput("reading body: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badInput("body is not the expected JSON: %v", err)
	}
	if dec.More() {
		return badInput("trailing data after the JSON object")
	}
	return nil
}

type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func (h *Handler) fail(c echo.Context, err error) error {
	var ie *inputError
	var se *statusError
	switch {
	case errors.As(err, &ie):
		return c.JSON(http.StatusBadRequest, errorBody{Error: ie.msg, RequestID: requestID(c)})
	case errors.As(err, &se):
		return c.JSON(se.status, errorBody{Error: se.msg, RequestID: requestID(c)})
	}
	webhook.LoggerFrom(c.Request().Context(), h.log).Error("check failed", zap.Error(err))
	return c.JSON(http.StatusInternalServerError, errorBody{Error: "internal error", RequestID: requestID(c)})
}

func requestID(c echo.Context) string {
	if id := c.Response().Header().Get(echo.HeaderXRequestID); id != "" {
		return id
	}
	return c.Request().Header.Get(echo.HeaderXRequestID)
}

// AuthMiddleware is the API's authentication (Entra token or API key) for other routes that
// share it (the admin dashboard's JSON API).
func (h *Handler) AuthMiddleware() echo.MiddlewareFunc { return h.cfg.Auth.middleware(h.log) }
