package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// Decider is the engine as the webhook uses it.
type Decider interface {
	Decide(ctx context.Context, req rules.Request) rules.Decision
}

// RowReader re-reads a row from Dataverse: for an Update whose payload exceeded 256 KB and
// arrived without its Target, or one registered without a pre-image.
type RowReader interface {
	Retrieve(ctx context.Context, entity, id string) (matcher.Record, error)
}

// Change is a committed Create, Update or Delete, delivered by an asynchronous PostOperation
// step.
type Change struct {
	Message string // Create, Update or Delete
	Entity  string
	ID      string
	// Record is the row after the change (post-image, else Target over pre-image); empty for
	// a Delete.
	Record matcher.Record
	// Before is the pre-image, when the step was registered with one.
	Before *matcher.Record
	// UserID is the user whose save it was; CorrelationID ties it to the pre-stage decision.
	UserID        string
	CorrelationID string
	// Context is the whole decoded payload, for handlers that need more.
	Context *dataverse.ExecutionContext
}

// ChangeHandler receives committed changes (index upkeep, follow-up actions). An error makes
// the webhook answer 503 so that Dataverse retries the asynchronous job once; the periodic
// incremental sync heals whatever is still missed.
type ChangeHandler interface {
	HandleChange(ctx context.Context, ch Change) error
}

// ChangeHandlerFunc adapts a function to ChangeHandler.
type ChangeHandlerFunc func(ctx context.Context, ch Change) error

// HandleChange calls f.
func (f ChangeHandlerFunc) HandleChange(ctx context.Context, ch Change) error { return f(ctx, ch) }

// Config configures the handler.
type Config struct {
	Auth *Authenticator
	// MaxBodyBytes caps the body (413 past it).
	MaxBodyBytes int64
	// SizeExceededCreate is "allow" or "block": what to answer for a Create that arrives without
	// InputParameters (payload over 256 KB), when there is nothing to check.
	SizeExceededCreate string
	// OverrideAttribute is a column that may carry an override token; it is removed from the
	// record before matching.
	OverrideAttribute string
	// ApplicationUsers are user ids (systemuserid or Entra object id, lower-case) whose saves
	// count as the integration entry point.
	ApplicationUsers map[string]bool
	// Deadline bounds the re-read of a row; the engine has its own deadline.
	Deadline time.Duration
}

// Handler serves POST /webhooks/dataverse.
type Handler struct {
	cfg     Config
	decider Decider
	reader  RowReader
	changes []ChangeHandler
	log     *zap.Logger
}

// New returns a handler. reader may be nil (no Dataverse configured).
func New(cfg Config, decider Decider, reader RowReader, log *zap.Logger, changes ...ChangeHandler) *Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 1500 * time.Millisecond
	}
	return &Handler{cfg: cfg, decider: decider, reader: reader, changes: changes, log: log}
}

// AddChangeHandler adds a receiver of committed changes.
func (h *Handler) AddChangeHandler(c ChangeHandler) { h.changes = append(h.changes, c) }

// Response is the JSON body of every webhook answer. Dataverse reads only the status code;
// logs, tools and tests read the body.
type Response struct {
	Result        string        `json:"result"` // allow, warn, block, indexed, ignored, error
	Reasons       []string      `json:"reasons,omitempty"`
	Matches       []rules.Match `json:"matches,omitempty"`
	Fallback      string        `json:"fallback,omitempty"`
	Overridden    bool          `json:"overridden,omitempty"`
	OverrideError string        `json:"override_error,omitempty"`
	Error         string        `json:"error,omitempty"`
	CorrelationID string        `json:"correlation_id,omitempty"`
}

// statusError is an error that carries its HTTP status: the single place statuses are chosen
// for failures is errorStatus.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &statusError{status: status, msg: fmt.Sprintf(format, args...)}
}

// Serve is the echo handler for the webhook route.
func (h *Handler) Serve(c echo.Context) error {
	r := c.Request()
	log := LoggerFrom(r.Context(), h.log)
	if !h.cfg.Auth.Check(r) {
		log.Warn("webhook call refused: bad or missing secret")
		return h.fail(c, errorf(http.StatusUnauthorized, "unauthorized"))
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); err != nil || mt != echo.MIMEApplicationJSON {
		return h.fail(c, errorf(http.StatusUnsupportedMediaType, "content type must be application/json"))
	}
	body, err := readBody(http.MaxBytesReader(c.Response(), r.Body, h.cfg.MaxBodyBytes), r.ContentLength, h.cfg.MaxBodyBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return h.fail(c, errorf(http.StatusRequestEntityTooLarge, "body larger than %d bytes", h.cfg.MaxBodyBytes))
		}
		return h.fail(c, errorf(http.StatusBadRequest, "reading body: %v", err))
	}
	ec, err := dataverse.DecodeContext(body)
	if err != nil {
		log.Warn("malformed webhook payload", zap.Error(err), zap.Int("bytes", len(body)))
		return h.fail(c, errorf(http.StatusBadRequest, "%v", err))
	}
	call := append(make([]zap.Field, 0, 5), zap.String("message", ec.MessageName), zap.String("entity", ec.PrimaryEntityName),
		zap.Int("stage", ec.Stage), zap.Int("mode", ec.Mode))
	if hdr := r.Header.Get("x-ms-correlation-request-id"); ec.CorrelationID != "" && ec.CorrelationID != hdr {
		// The request logger carries the header's id when there is one; add the body's.
		key := "correlation_id"
		if hdr != "" {
			key = "body_correlation_id"
		}
		call = append(call, zap.String(key, ec.CorrelationID))
	}
	// On the access line, and on any line this call logs itself (built only if it does).
	AddAccessFields(r.Context(), call...)
	log = log.WithLazy(call...)
	ctx := WithLogger(r.Context(), log)
	sizeExceeded := r.Header.Get("x-ms-dynamics-msg-size-exceeded") != "" || !ec.HasInputParameters

	switch {
	case ec.Mode == dataverse.ModeSynchronous && (ec.Stage == dataverse.StagePreValidation || ec.Stage == dataverse.StagePreOperation) &&
		(ec.MessageName == "Create" || ec.MessageName == "Update"):
		return h.decide(ctx, c, ec, sizeExceeded)
	case ec.Stage == dataverse.StagePostOperation && (ec.MessageName == "Create" || ec.MessageName == "Update" || ec.MessageName == "Delete"):
		return h.committed(ctx, c, ec, sizeExceeded)
	default:
		log.Info("webhook call ignored: no handler for this message, stage and mode")
		return c.JSON(http.StatusOK, Response{Result: "ignored", CorrelationID: ec.CorrelationID})
	}
}

func (h *Handler) decide(ctx context.Context, c echo.Context, ec *dataverse.ExecutionContext, sizeExceeded bool) error {
	log := LoggerFrom(ctx, h.log)
	req := rules.Request{
		Message:       ec.MessageName,
		UserID:        ec.InitiatingUserID,
		UserAADID:     ec.InitiatingUserAADObjectID,
		EntryPoint:    h.entryPoint(ec),
		CorrelationID: ec.CorrelationID,
		OverrideToken: ec.SharedString("tag"),
	}
	if req.UserID == "" {
		req.UserID = ec.UserID
	}
	rec, err := h.record(ctx, ec, sizeExceeded)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) && se.status == http.StatusOK {
			// A policy decision without a check (oversized Create, allow policy).
			log.Warn("decision without check", zap.String("why", se.msg))
			return c.JSON(http.StatusOK, Response{Result: "allow", Fallback: "size-exceeded", Error: se.msg, CorrelationID: ec.CorrelationID})
		}
		if errors.As(err, &se) && se.status == http.StatusConflict {
			log.Warn("blocked without check", zap.String("why", se.msg))
			return c.JSON(http.StatusConflict, Response{Result: "block", Fallback: "size-exceeded", Error: se.msg, CorrelationID: ec.CorrelationID})
		}
		return h.fail(c, err)
	}
	if h.cfg.OverrideAttribute != "" {
		// Only a token written by this save counts: the Target carries it, while a pre-image
		// may still hold the token of an earlier, already spent override.
		if tg := ec.Target(); tg != nil {
			if tok, ok := tg.Attributes[h.cfg.OverrideAttribute].(string); ok && tok != "" {
				req.OverrideToken = tok
			}
		}
		delete(rec.Attrs, h.cfg.OverrideAttribute)
	}
	req.Record = rec
	if ec.MessageName == "Create" {
		req.Holder = holder(ec)
	}
	d := h.decider.Decide(ctx, req)
	resp := Response{Result: string(d.Outcome), Reasons: d.Reasons(), Matches: d.Matches, Fallback: d.Fallback,
		Overridden: d.Overridden, OverrideError: d.OverrideError, Error: d.Error, CorrelationID: ec.CorrelationID}
	fields := append(make([]zap.Field, 0, 8), zap.String("decision", string(d.Outcome)), zap.Int("matches", len(d.Matches)), zap.String("entry_point", req.EntryPoint))
	if len(d.Matches) > 0 {
		fields = append(fields, zap.String("rule", d.Matches[0].Rule), zap.Float64("score", d.Matches[0].Score), zap.String("matched_id", d.Matches[0].ID))
	}
	if d.Fallback != "" {
		fields = append(fields, zap.String("fallback", d.Fallback), zap.String("error", d.Error))
	}
	if d.Overridden {
		fields = append(fields, zap.Bool("overridden", true))
	}
	if !AddAccessFields(ctx, fields...) {
		log.Info("decision", fields...)
	}
	status := http.StatusOK
	if d.Outcome == rules.OutcomeBlock {
		// 409 Conflict: a 4xx that Dataverse does not retry (it retries 502/503/504 once).
		status = http.StatusConflict
	}
	return c.JSON(status, resp)
}

// record builds the row as it will be after the save.
func (h *Handler) record(ctx context.Context, ec *dataverse.ExecutionContext, sizeExceeded bool) (matcher.Record, error) {
	entity := ec.PrimaryEntityName
	id := ec.PrimaryEntityID
	if id == dataverse.EmptyGUID {
		id = ""
	}
	target := ec.Target()
	if sizeExceeded || target == nil {
		if ec.MessageName == "Create" {
			if h.cfg.SizeExceededCreate == "block" {
				return matcher.Record{}, errorf(http.StatusConflict, "payload exceeded 256 KB and arrived without its Target; policy blocks such creates")
			}
			return matcher.Record{}, errorf(http.StatusOK, "payload exceeded 256 KB and arrived without its Target; policy allows such creates")
		}
		// Update: check the row as it stands (the new values are not in the payload).
		if h.reader == nil || id == "" {
			return matcher.Record{}, errorf(http.StatusOK, "payload arrived without its Target and no Dataverse connection is configured to re-read the row")
		}
		rec, err := h.reread(ctx, entity, id)
		if err != nil {
			return matcher.Record{}, errorf(http.StatusOK, "re-reading the row failed: %v", err)
		}
		return rec, nil
	}
	if target.LogicalName != "" {
		entity = target.LogicalName
	}
	if target.ID != "" && target.ID != dataverse.EmptyGUID {
		id = target.ID
	}
	var full *dataverse.Entity
	if ec.MessageName == "Update" {
		pre := ec.PreImage()
		if pre == nil && h.reader != nil && id != "" {
			// Registered without a pre-image: read the row to know the unchanged columns.
			if rec, err := h.reread(ctx, entity, id); err == nil {
				pre = &dataverse.Entity{LogicalName: entity, ID: id, Attributes: map[string]any{}}
				for k, v := range rec.Attrs {
					pre.Attributes[k] = v
				}
			} else {
				LoggerFrom(ctx, h.log).Warn("update without pre-image; re-read failed, checking changed columns only", zap.Error(err))
			}
		}
		full = dataverse.Merge(pre, target)
	} else {
		full = target
	}
	return matcher.Record{Entity: entity, ID: id, Attrs: full.StringAttrs()}, nil
}

func (h *Handler) reread(ctx context.Context, entity, id string) (matcher.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Deadline/2)
	defer cancel()
	return h.reader.Retrieve(ctx, entity, id)
}

func (h *Handler) committed(ctx context.Context, c echo.Context, ec *dataverse.ExecutionContext, sizeExceeded bool) error {
	log := LoggerFrom(ctx, h.log)
	ch := Change{Message: ec.MessageName, Entity: ec.PrimaryEntityName, ID: ec.PrimaryEntityID,
		UserID: ec.InitiatingUserID, CorrelationID: ec.CorrelationID, Context: ec}
	if ch.Message == "Create" {
		if id, ok := ec.OutputParameters["id"].(string); ok && id != "" {
			ch.ID = strings.ToLower(id)
		}
	}
	if pre := ec.PreImage(); pre != nil {
		b := matcher.Record{Entity: ch.Entity, ID: ch.ID, Attrs: pre.StringAttrs()}
		ch.Before = &b
	}
	if ch.Message != "Delete" {
		var full *dataverse.Entity
		if post := ec.PostImage(); post != nil {
			full = dataverse.Merge(ec.PreImage(), dataverse.Merge(ec.Target(), post))
		} else {
			full = dataverse.Merge(ec.PreImage(), ec.Target())
		}
		if (sizeExceeded || len(full.Attributes) == 0) && h.reader != nil && ch.ID != "" {
			rec, err := h.reread(ctx, ch.Entity, ch.ID)
			if err != nil {
				log.Warn("index upkeep: re-read failed", zap.Error(err))
				return h.fail(c, errorf(http.StatusServiceUnavailable, "re-reading the row failed"))
			}
			ch.Record = rec
		} else {
			ch.Record = matcher.Record{Entity: ch.Entity, ID: ch.ID, Attrs: full.StringAttrs()}
		}
	}
	if ch.ID == "" || ch.ID == dataverse.EmptyGUID {
		return h.fail(c, errorf(http.StatusBadRequest, "post-operation payload carries no record id"))
	}
	for _, hd := range h.changes {
		if err := hd.HandleChange(ctx, ch); err != nil {
			log.Error("index upkeep failed", zap.Error(err))
			// 503 asks Dataverse for its one retry of the asynchronous job; this is upkeep,
			// not a decision, so a retry is what we want.
			return h.fail(c, errorf(http.StatusServiceUnavailable, "upkeep failed: %v", err))
		}
	}
	log.Info("change applied", zap.String("id", ch.ID))
	return c.JSON(http.StatusOK, Response{Result: "indexed", CorrelationID: ec.CorrelationID})
}

func (h *Handler) entryPoint(ec *dataverse.ExecutionContext) string {
	for _, id := range []string{ec.InitiatingUserID, ec.UserID, ec.InitiatingUserAADObjectID, ec.UserAADObjectID} {
		if id != "" && h.cfg.ApplicationUsers[id] {
			return rules.EntryIntegration
		}
	}
	return rules.EntryForm
}

// holder identifies a pre-stage Create across Dataverse's one retry (which resends the same
// context) while telling apart two creates of one transaction.
func holder(ec *dataverse.ExecutionContext) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{ec.CorrelationID, ec.RequestID, ec.OperationID, ec.PrimaryEntityName, ec.PrimaryEntityID}, "|")))
	return hex.EncodeToString(sum[:12])
}

// fail writes an error answer; the status comes from the error (500 when it has none).
// A decision is never answered with 502/503/504 here: only upkeep uses 503.
func (h *Handler) fail(c echo.Context, err error) error {
	status := http.StatusInternalServerError
	var se *statusError
	if errors.As(err, &se) {
		status = se.status
	}
	msg := err.Error()
	if status == http.StatusUnauthorized {
		msg = "unauthorized" // no detail on auth failures
	}
	return c.JSON(status, Response{Result: "error", Error: msg})
}

// readBody reads a request body of announced length size (-1: unknown) into one buffer of
// that size when it is within limit, instead of the doubling reads of io.ReadAll: a payload is
// a few kilobytes, read on every save. r enforces the limit itself.
func readBody(r io.Reader, size, limit int64) ([]byte, error) {
	if size < 0 || size > limit {
		return io.ReadAll(r)
	}
	// One buffer of the announced size (+1: EOF is seen without growing). bytes.Buffer's
	// ReadFrom would grow it anyway, wanting 512 bytes free before each read: a second,
	// larger allocation for every request.
	buf := make([]byte, 0, size+1)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case errors.Is(err, io.EOF):
			return buf, nil
		case err != nil:
			return buf, err
		case len(buf) == cap(buf): // longer than announced: the rest as it comes
			rest, err := io.ReadAll(r)
			return append(buf, rest...), err
		}
	}
}
