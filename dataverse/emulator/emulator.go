package emulator

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/dataverse"
)

// Well-known ids of the emulated organisation. They are fixed so that payloads and tests are
// reproducible; none is a real environment's.
const (
	OrganizationID    = "0a1b2c3d-0000-4000-8000-00000000e001"
	BusinessUnitID    = "0a1b2c3d-0000-4000-8000-00000000b001"
	AppUserID         = "0a1b2c3d-0000-4000-8000-00000000a001" // the application user the token maps to
	AppUserAADID      = "0a1b2c3d-0000-4000-8000-00000000aad1"
	SampleUserID      = "0a1b2c3d-0000-4000-8000-00000000a002" // an interactive user to impersonate
	SampleUserAADID   = "0a1b2c3d-0000-4000-8000-00000000aad2"
	defaultMaxBody    = 16 << 20
	defaultPageSize   = 5000
	defaultPayloadMax = 256 * 1024
)

// Config configures an Emulator. Zero values take the documented defaults.
type Config struct {
	// Token is the bearer token callers must send (Authorization: Bearer <Token>); requests
	// without it get 401. Empty disables the check (any caller is the application user).
	Token string
	// Tokens maps further tokens to the systemuserid of their caller.
	Tokens map[string]string
	// OrganizationName is the context's OrganizationName. Defaults to "sandbox".
	OrganizationName string
	// OrganizationDomain is sent as x-ms-dynamics-organization. Defaults to the host name the
	// request was sent to.
	OrganizationDomain string
	// Tables declares custom tables (contact, account, lead and the registration tables are
	// built in). A table named here with a built-in name replaces the built-in declaration.
	Tables []Table
	// WebhookTimeout is how long a webhook may take before the call fails. Defaults to 60s,
	// Dataverse's timeout (dataverse-facts.md §3).
	WebhookTimeout time.Duration
	// WebhookClient sends webhook calls. Defaults to a client that does not follow redirects.
	WebhookClient *http.Client
	// SyncFailureStatus is the HTTP status the caller of a write gets when a synchronous step's
	// webhook fails. Defaults to 400 (UNCONFIRMED: Microsoft documents only that "the operation
	// fails"; 400 is what a plug-in's InvalidPluginExecutionException gives Web API callers).
	SyncFailureStatus int
	// PayloadLimit is the size above which payloads are stripped and flagged with
	// x-ms-dynamics-msg-size-exceeded. Defaults to 256 KiB.
	PayloadLimit int
	// AsyncConcurrency bounds asynchronous deliveries in flight. Defaults to 8.
	AsyncConcurrency int
	// AsyncDelay delays each asynchronous job, to make "after the response" visible. Default 0.
	AsyncDelay time.Duration
	// MaxPageSize is the page size without a Prefer header, and the largest accepted. Default 5000.
	MaxPageSize int
	// Now replaces time.Now (tests).
	Now func() time.Time
	// Logger logs delivery failures (never payloads). Defaults to a no-op logger.
	Logger *zap.Logger
}

// Emulator is an in-memory Dataverse Web API v9.2 with the plugin pipeline for webhook steps.
// It is an http.Handler for paths under /api/data/v9.2/. See docs/dataverse.md for what it
// emulates and where it deviates.
type Emulator struct {
	cfg   Config
	store *store
	log   *zap.Logger

	faultMu sync.Mutex
	faults  []fault

	asyncSem chan struct{}
	idleMu   sync.Mutex
	inFlight int
	idle     chan struct{} // closed when inFlight drops to 0; replaced when it rises
	closed   atomic.Bool

	requests     atomic.Int64
	throttled    atomic.Int64
	webhookCalls atomic.Int64
}

type fault struct {
	status     int
	retryAfter time.Duration
}

// New returns an emulator with the built-in tables, the Create/Update/Delete messages and
// their filters for every table, the organisation's business unit, an application user (the
// caller of Token) and one interactive user.
func New(cfg Config) (*Emulator, error) {
	if cfg.OrganizationName == "" {
		cfg.OrganizationName = "sandbox"
	}
	if cfg.WebhookTimeout <= 0 {
		cfg.WebhookTimeout = 60 * time.Second
	}
	if cfg.WebhookClient == nil {
		cfg.WebhookClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.SyncFailureStatus == 0 {
		cfg.SyncFailureStatus = http.StatusBadRequest
	}
	if cfg.PayloadLimit <= 0 {
		cfg.PayloadLimit = defaultPayloadMax
	}
	if cfg.AsyncConcurrency <= 0 {
		cfg.AsyncConcurrency = 8
	}
	if cfg.MaxPageSize <= 0 {
		cfg.MaxPageSize = defaultPageSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	e := &Emulator{cfg: cfg, store: newStore(), log: cfg.Logger, asyncSem: make(chan struct{}, cfg.AsyncConcurrency)}
	e.idle = make(chan struct{})
	close(e.idle)
	for _, t := range builtinTables() {
		e.store.addTable(t)
	}
	for _, t := range cfg.Tables {
		if err := e.AddTable(t); err != nil {
			return nil, err
		}
	}
	if err := e.seedSystem(); err != nil {
		return nil, err
	}
	return e, nil
}

var messageIDs = map[string]string{
	// Create's id is the well-known one seen in public code (dataverse-facts.md §5); the others
	// are the emulator's own. Clients must look them up, never hard-code them.
	"Create":   "9ebdbb1b-ea3e-db11-86a7-000a3a5473e8",
	"Update":   "20bebb1b-ea3e-db11-86a7-000a3a5473e8",
	"Delete":   "1fbebb1b-ea3e-db11-86a7-000a3a5473e8",
	"Retrieve": "7c5cbb1b-ea3e-db11-86a7-000a3a5473e8", "Merge": "a2bebb1b-ea3e-db11-86a7-000a3a5473e8",
	"Assign": "7bbebb1b-ea3e-db11-86a7-000a3a5473e8", "SetState": "6bbebb1b-ea3e-db11-86a7-000a3a5473e8",
}

// systemTables have no message filters for custom steps.
var systemTables = map[string]bool{"sdkmessage": true, "sdkmessagefilter": true, "asyncoperation": true, "businessunit": true}

func (e *Emulator) seedSystem() error {
	now := e.cfg.Now().UTC()
	put := func(table string, attrs map[string]any) error {
		td := e.store.table(table)
		if e.store.get(table, attrs[td.def.PrimaryIDAttribute].(string)) != nil {
			return nil
		}
		attrs["createdon"], attrs["modifiedon"] = now, now
		_, err := e.store.insert(table, attrs)
		if err != nil {
			return err
		}
		return nil
	}
	if err := put("businessunit", map[string]any{"businessunitid": BusinessUnitID, "name": e.cfg.OrganizationName}); err != nil {
		return err
	}
	bu := &dataverse.EntityReference{LogicalName: "businessunit", ID: BusinessUnitID}
	for _, u := range []map[string]any{
		{"systemuserid": AppUserID, "fullname": "# dedupegate (application user)", "azureactivedirectoryobjectid": AppUserAADID,
			"applicationid": "0a1b2c3d-0000-4000-8000-0000000a9901", "isdisabled": false, "businessunitid": bu},
		{"systemuserid": SampleUserID, "fullname": "Sam Sandbox", "firstname": "Sam", "lastname": "Sandbox",
			"internalemailaddress": "sam.sandbox@example.com", "azureactivedirectoryobjectid": SampleUserAADID,
			"isdisabled": false, "businessunitid": bu},
	} {
		if err := put("systemuser", u); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(messageIDs))
	for n := range messageIDs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := put("sdkmessage", map[string]any{"sdkmessageid": messageIDs[n], "name": n, "categoryname": "", "isprivate": false}); err != nil {
			return err
		}
	}
	e.store.mu.RLock()
	var tables []string
	for name := range e.store.tables {
		tables = append(tables, name)
	}
	e.store.mu.RUnlock()
	sort.Strings(tables)
	for _, t := range tables {
		if err := e.addFilters(t); err != nil {
			return err
		}
	}
	return nil
}

// addFilters creates the Create/Update/Delete sdkmessagefilters of a table.
func (e *Emulator) addFilters(table string) error {
	if systemTables[table] {
		return nil
	}
	for _, m := range []string{"Create", "Update", "Delete"} {
		id := filterID(table, m)
		if e.store.get("sdkmessagefilter", id) != nil {
			continue
		}
		now := e.cfg.Now().UTC()
		_, err := e.store.insert("sdkmessagefilter", map[string]any{
			"sdkmessagefilterid": id, "name": m + " " + table, "primaryobjecttypecode": table, "secondaryobjecttypecode": "none",
			"iscustomprocessingstepallowed": true, "isvisible": true,
			"sdkmessageid": &dataverse.EntityReference{LogicalName: "sdkmessage", ID: messageIDs[m]},
			"createdon":    now, "modifiedon": now,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// filterID derives a stable id for a (table, message) filter.
func filterID(table, message string) string {
	return stableID("sdkmessagefilter/" + table + "/" + message)
}

// stableID derives a reproducible GUID from a name (a version 5 UUID in the organisation's
// namespace).
func stableID(name string) string {
	return uuid.NewSHA1(uuid.MustParse(OrganizationID), []byte(name)).String()
}

// AddTable declares a (custom) table and creates its message filters.
func (e *Emulator) AddTable(t Table) error {
	if t.LogicalName == "" || !validName.MatchString(t.LogicalName) {
		return fmt.Errorf("emulator: %q is not a table logical name", t.LogicalName)
	}
	def := DefaultTable(t.LogicalName)
	if t.EntitySetName == "" {
		t.EntitySetName = def.EntitySetName
	}
	if t.PrimaryIDAttribute == "" {
		t.PrimaryIDAttribute = def.PrimaryIDAttribute
	}
	if t.PrimaryNameAttribute == "" {
		t.PrimaryNameAttribute = def.PrimaryNameAttribute
	}
	if t.ObjectTypeCode == 0 {
		t.ObjectTypeCode = 10000 + len(e.store.tables)
	}
	t.Owned = true
	if existing := e.store.table(t.LogicalName); existing != nil && t.Attributes == nil {
		return nil // already declared (built in): keep the richer declaration
	}
	e.store.addTable(t)
	return e.addFilters(t.LogicalName)
}

// TableForSet returns the logical name of the table served under an entity set name.
func (e *Emulator) TableForSet(set string) (string, bool) {
	td := e.store.tableBySet(set)
	if td == nil {
		return "", false
	}
	return td.def.LogicalName, true
}

// HasTable reports whether the emulator serves a table.
func (e *Emulator) HasTable(logical string) bool { return e.store.table(logical) != nil }

// Throttle makes the next n requests answer 429 Too Many Requests with Retry-After (whole
// seconds, rounded up) and the service protection error body.
func (e *Emulator) Throttle(n int, retryAfter time.Duration) {
	e.faultMu.Lock()
	defer e.faultMu.Unlock()
	for i := 0; i < n; i++ {
		e.faults = append(e.faults, fault{status: http.StatusTooManyRequests, retryAfter: retryAfter})
	}
}

// Fail makes the next n requests answer status (e.g. 503) with a Dataverse error body.
func (e *Emulator) Fail(n, status int) {
	e.faultMu.Lock()
	defer e.faultMu.Unlock()
	for i := 0; i < n; i++ {
		e.faults = append(e.faults, fault{status: status})
	}
}

func (e *Emulator) nextFault() (fault, bool) {
	e.faultMu.Lock()
	defer e.faultMu.Unlock()
	if len(e.faults) == 0 {
		return fault{}, false
	}
	f := e.faults[0]
	e.faults = e.faults[1:]
	return f, true
}

// Stats counts what the emulator has seen.
type Stats struct {
	Requests     int64 // Web API requests received
	Throttled    int64 // requests answered 429
	WebhookCalls int64 // webhook HTTP calls made (a retry counts twice)
}

// Stats returns the counters.
func (e *Emulator) Stats() Stats {
	return Stats{Requests: e.requests.Load(), Throttled: e.throttled.Load(), WebhookCalls: e.webhookCalls.Load()}
}

// Count returns the number of rows of a table.
func (e *Emulator) Count(logical string) int {
	e.store.mu.RLock()
	defer e.store.mu.RUnlock()
	if td := e.store.tables[logical]; td != nil {
		return len(td.rows)
	}
	return 0
}

// Insert stores a row given as Web API JSON properties (lookups with @odata.bind), without
// running any step: seeding. It returns the row id.
func (e *Emulator) Insert(table string, props map[string]any) (string, error) {
	td := e.store.table(table)
	if td == nil {
		return "", fmt.Errorf("emulator: no table %s", table)
	}
	norm, err := normaliseJSON(props)
	if err != nil {
		return "", err
	}
	attrs, aerr := e.parseBody(td.def, norm, true, "")
	if aerr != nil {
		return "", fmt.Errorf("emulator: seeding %s: %s", table, aerr.message)
	}
	u := e.user(AppUserID)
	op := &operation{e: e, message: "Create", table: td.def, target: attrs, caller: u, initiator: u, created: e.cfg.Now().UTC()}
	if aerr := op.prepareCreate(); aerr != nil {
		return "", fmt.Errorf("emulator: seeding %s: %s", table, aerr.message)
	}
	if aerr := op.commit(); aerr != nil {
		return "", fmt.Errorf("emulator: seeding %s: %s", table, aerr.message)
	}
	return op.id, nil
}

// SeedJSON reads a JSON array of rows (Web API properties) and inserts them without running
// steps. It returns the number of rows inserted.
func (e *Emulator) SeedJSON(table string, r io.Reader) (int, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var rows []map[string]any
	if err := dec.Decode(&rows); err != nil {
		return 0, fmt.Errorf("emulator: seed for %s: %w", table, err)
	}
	for i, p := range rows {
		if _, err := e.Insert(table, p); err != nil {
			return i, fmt.Errorf("row %d: %w", i+1, err)
		}
	}
	return len(rows), nil
}

// normaliseJSON re-decodes props so that numbers are json.Number, as from a request body.
func normaliseJSON(props map[string]any) (map[string]any, error) {
	b, err := json.Marshal(props)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out map[string]any
	return out, dec.Decode(&out)
}

// WaitIdle blocks until no asynchronous job is queued or running, or ctx ends.
func (e *Emulator) WaitIdle(ctx context.Context) error {
	for {
		e.idleMu.Lock()
		ch := e.idle
		e.idleMu.Unlock()
		select {
		case <-ch:
			e.idleMu.Lock()
			done := e.inFlight == 0
			e.idleMu.Unlock()
			if done {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops accepting asynchronous jobs and waits for those in flight (bounded by ctx).
func (e *Emulator) Close(ctx context.Context) error {
	e.closed.Store(true)
	return e.WaitIdle(ctx)
}

func (e *Emulator) jobStarted() {
	e.idleMu.Lock()
	if e.inFlight == 0 {
		e.idle = make(chan struct{})
	}
	e.inFlight++
	e.idleMu.Unlock()
}

func (e *Emulator) jobDone() {
	e.idleMu.Lock()
	e.inFlight--
	if e.inFlight == 0 {
		close(e.idle)
	}
	e.idleMu.Unlock()
}

// user is a caller identity.
type user struct {
	id  string
	aad string
}

func (e *Emulator) user(id string) user {
	u := user{id: id}
	if r := e.store.get("systemuser", id); r != nil {
		u.aad, _ = r.attrs["azureactivedirectoryobjectid"].(string)
	}
	return u
}

// ServeHTTP implements http.Handler.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.requests.Add(1)
	h := w.Header()
	h.Set("OData-Version", "4.0")
	rest, ok := strings.CutPrefix(r.URL.Path, dataverse.APIPath)
	if !ok {
		if r.URL.Path+"/" == dataverse.APIPath {
			rest, ok = "", true
		} else {
			writeError(w, &apiError{status: 404, code: codeQuerySyntax, message: "Resource not found: the Web API is at " + dataverse.APIPath})
			return
		}
	}
	if f, ok := e.nextFault(); ok {
		if f.status == http.StatusTooManyRequests {
			e.throttled.Add(1)
			secs := int((f.retryAfter + time.Second - 1) / time.Second)
			writeError(w, &apiError{status: 429, code: codeThrottled,
				message: "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
				header:  map[string]string{"Retry-After": strconv.Itoa(secs)}})
			return
		}
		writeError(w, &apiError{status: f.status, code: "0x80040216", message: "An unexpected error occurred (injected by the emulator)."})
		return
	}
	caller, aerr := e.authenticate(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	rq := &request{e: e, w: w, r: r, path: rest, caller: caller, initiator: caller}
	if aerr := rq.impersonate(); aerr != nil {
		writeError(w, aerr)
		return
	}
	if aerr := rq.route(); aerr != nil {
		writeError(w, aerr)
	}
	if len(rq.jobs) > 0 {
		// Asynchronous steps run after the response (dataverse-facts.md §3): flush it first.
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	for _, j := range rq.jobs {
		e.enqueue(j)
	}
}

// authenticate maps the bearer token to a caller.
func (e *Emulator) authenticate(r *http.Request) (user, *apiError) {
	if e.cfg.Token == "" && len(e.cfg.Tokens) == 0 {
		return e.user(AppUserID), nil
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok {
		if e.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(e.cfg.Token)) == 1 {
			return e.user(AppUserID), nil
		}
		for t, id := range e.cfg.Tokens {
			if subtle.ConstantTimeCompare([]byte(tok), []byte(t)) == 1 {
				return e.user(id), nil
			}
		}
	}
	// Dataverse answers 401 with an empty body and a WWW-Authenticate challenge.
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return user{}, &apiError{status: 401, header: map[string]string{
		"WWW-Authenticate": `Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize, resource_id=` + scheme + `://` + r.Host + `/`,
	}}
}

// request is one Web API call in progress.
type request struct {
	e         *Emulator
	w         http.ResponseWriter
	r         *http.Request
	path      string
	caller    user // the effective user (impersonated, when impersonating)
	initiator user // the authenticated user
	jobs      []asyncJob
}

// impersonate applies CallerObjectId / MSCRMCallerID (dataverse-facts.md §7). Every caller may
// impersonate (the prvActOnBehalfOfAnotherUser privilege is not emulated).
func (rq *request) impersonate() *apiError {
	if oid := rq.r.Header.Get("CallerObjectId"); oid != "" {
		oid = strings.ToLower(strings.TrimSpace(oid))
		id := rq.e.userByAAD(oid)
		if id == "" {
			// The answer for an unknown object id is UNCONFIRMED.
			return notFound("systemuser", oid)
		}
		rq.caller = rq.e.user(id)
		return nil
	}
	if id := rq.r.Header.Get("MSCRMCallerID"); id != "" {
		id = strings.ToLower(strings.TrimSpace(id))
		if rq.e.store.get("systemuser", id) == nil {
			return notFound("systemuser", id)
		}
		rq.caller = rq.e.user(id)
	}
	return nil
}

func (e *Emulator) userByAAD(oid string) string {
	e.store.mu.RLock()
	defer e.store.mu.RUnlock()
	for id, r := range e.store.tables["systemuser"].rows {
		if a, _ := r.attrs["azureactivedirectoryobjectid"].(string); a == oid {
			return id
		}
	}
	return ""
}

// base is the absolute Web API root as the caller addressed it.
func (rq *request) base() string {
	scheme := "http"
	if rq.r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + rq.r.Host + dataverse.APIPath
}

var (
	reKeyed  = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\(([^)]*)\)$`)
	reGUIDID = regexp.MustCompile(`^\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?$`)
)

func (rq *request) route() *apiError {
	segs := strings.Split(strings.TrimSuffix(rq.path, "/"), "/")
	first := segs[0]
	switch {
	case first == "":
		return rq.serviceDocument()
	case first == "$metadata" || first == "$batch":
		return unsupported("%s", first)
	case first == "WhoAmI" || first == "WhoAmI()":
		if rq.r.Method != http.MethodGet {
			return methodNotAllowed(rq.r.Method)
		}
		writeJSON(rq.w, 200, map[string]any{"@odata.context": rq.base() + "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
			"BusinessUnitId": BusinessUnitID, "UserId": rq.caller.id, "OrganizationId": OrganizationID})
		return nil
	case first == "EntityDefinitions" || strings.HasPrefix(first, "EntityDefinitions("):
		return rq.metadata(segs)
	case unboundActions[first] != nil && len(segs) == 1: // actions.go
		return unboundActions[first](rq)
	}
	set, key := first, ""
	if m := reKeyed.FindStringSubmatch(first); m != nil {
		set, key = m[1], m[2]
	}
	td := rq.e.store.tableBySet(set)
	if td == nil {
		return &apiError{status: 404, code: codeQuerySyntax, message: fmt.Sprintf("Resource not found for the segment '%s'.", set)}
	}
	if len(segs) > 1 {
		return unsupported("addressing a property or navigation of a row (%s)", rq.path)
	}
	if key == "" {
		if strings.Contains(first, "(") {
			return querySyntax("Bad Request - Error in query syntax.")
		}
		switch rq.r.Method {
		case http.MethodGet:
			return rq.list(td)
		case http.MethodPost:
			return rq.create(td)
		}
		return methodNotAllowed(rq.r.Method)
	}
	if !reGUIDID.MatchString(key) {
		if strings.Contains(key, "=") {
			return unsupported("alternate keys (%s)", key)
		}
		return querySyntax("Bad Request - Error in query syntax.")
	}
	id := strings.ToLower(strings.Trim(key, "{}"))
	switch rq.r.Method {
	case http.MethodGet:
		return rq.retrieve(td, id)
	case http.MethodPatch:
		return rq.patch(td, id)
	case http.MethodDelete:
		return rq.delete(td, id)
	}
	return methodNotAllowed(rq.r.Method)
}

func methodNotAllowed(m string) *apiError {
	return &apiError{status: 405, code: codeQuerySyntax, message: fmt.Sprintf("The HTTP method '%s' is not allowed for this resource.", m)}
}

func (rq *request) serviceDocument() *apiError {
	if rq.r.Method != http.MethodGet {
		return methodNotAllowed(rq.r.Method)
	}
	rq.e.store.mu.RLock()
	var sets []string
	for s := range rq.e.store.bySet {
		sets = append(sets, s)
	}
	rq.e.store.mu.RUnlock()
	sort.Strings(sets)
	val := make([]map[string]string, 0, len(sets))
	for _, s := range sets {
		val = append(val, map[string]string{"name": s, "kind": "EntitySet", "url": s})
	}
	writeJSON(rq.w, 200, map[string]any{"@odata.context": rq.base() + "$metadata", "value": val})
	return nil
}

// readBody decodes a JSON object body (numbers as json.Number).
func (rq *request) readBody() (map[string]any, *apiError) {
	data, err := io.ReadAll(http.MaxBytesReader(rq.w, rq.r.Body, defaultMaxBody))
	if err != nil {
		return nil, &apiError{status: 413, code: codeBadRequest, message: "The request body is too large."}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil || body == nil {
		return nil, badRequest("The request body is not a JSON object.")
	}
	return body, nil
}

const jsonContentType = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"error":{"code":"0x80040216","message":"An unexpected error occurred."}}`)
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	for k, v := range e.header {
		w.Header().Set(k, v)
	}
	if e.status == http.StatusUnauthorized {
		w.WriteHeader(e.status)
		return
	}
	writeJSON(w, e.status, map[string]any{"error": map[string]string{"code": e.code, "message": e.message}})
}

// preferences parses the Prefer header (several may be comma-separated).
func preferences(r *http.Request) map[string]string {
	out := map[string]string{}
	for _, h := range r.Header.Values("Prefer") {
		for _, p := range splitPrefer(h) {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			out[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return out
}

// splitPrefer splits on commas outside double quotes.
func splitPrefer(s string) []string {
	var out []string
	start, inQ := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQ = !inQ
		case ',':
			if !inQ {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func jsonInt(n int64) json.Number { return json.Number(strconv.FormatInt(n, 10)) }

func newGUID() string { return uuid.NewString() }
