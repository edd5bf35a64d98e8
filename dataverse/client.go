package dataverse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/matcher"
)

// APIPath is the Web API root under an environment URL (dataverse-facts.md §9).
const APIPath = "/api/data/v9.2/"

// maxResponseBytes bounds one response body: a 5,000-row page of wide rows stays far below it.
const maxResponseBytes = 256 << 20

// Client talks to one Dataverse environment through the Web API v9.2. It gets its bearer
// token from an azcore.TokenCredential (scope "<environment URL>/.default"), sends the OData
// headers, honours service protection limits (429 + Retry-After) and retries transient
// failures with jittered backoff, always within the caller's context. It never logs tokens,
// query strings or record data. It is safe for concurrent use.
type Client struct {
	env      *url.URL // scheme://host[/path] of the environment, no trailing slash
	base     *url.URL // env + APIPath
	cred     azcore.TokenCredential
	scope    string
	hc       *http.Client
	timeout  time.Duration
	retry    RetryPolicy
	pageSize int
	log      *zap.Logger

	mu      sync.Mutex
	tables  map[string]TableInfo
	lookups map[string]map[string]bool
}

// RetryPolicy bounds retries. The caller's context bounds them too: a wait that would outlast
// the context's deadline is not started.
type RetryPolicy struct {
	// MaxAttempts counts the first try. Defaults to 5.
	MaxAttempts int
	// BaseDelay and MaxDelay shape the exponential backoff on 5xx and network errors (full
	// jitter: a random wait in [0, min(MaxDelay, BaseDelay·2^n))). Default 500ms and 30s.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits out; a longer one is returned
	// as an error at once. Defaults to 5 minutes, the length of Dataverse's sliding window.
	MaxRetryAfter time.Duration
}

func (p *RetryPolicy) setDefaults() {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 500 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 30 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 5 * time.Minute
	}
}

// TableInfo is what the client needs to know about a table: its entity set (the URL segment)
// and its primary key column.
type TableInfo struct {
	LogicalName string
	EntitySet   string
	PrimaryID   string
}

// builtinTables are the tables dedupegate uses whose names are fixed in every environment.
// Other tables are looked up once in EntityDefinitions (or given with WithTables).
var builtinTables = map[string]TableInfo{
	"contact":                       {"contact", "contacts", "contactid"},
	"account":                       {"account", "accounts", "accountid"},
	"lead":                          {"lead", "leads", "leadid"},
	"systemuser":                    {"systemuser", "systemusers", "systemuserid"},
	"serviceendpoint":               {"serviceendpoint", "serviceendpoints", "serviceendpointid"},
	"sdkmessage":                    {"sdkmessage", "sdkmessages", "sdkmessageid"},
	"sdkmessagefilter":              {"sdkmessagefilter", "sdkmessagefilters", "sdkmessagefilterid"},
	"sdkmessageprocessingstep":      {"sdkmessageprocessingstep", "sdkmessageprocessingsteps", "sdkmessageprocessingstepid"},
	"sdkmessageprocessingstepimage": {"sdkmessageprocessingstepimage", "sdkmessageprocessingstepimages", "sdkmessageprocessingstepimageid"},
	"asyncoperation":                {"asyncoperation", "asyncoperations", "asyncoperationid"},
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces the HTTP client (its Timeout should be zero: the client sets a
// per-request timeout itself).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithCredential replaces the credential that config.Dataverse.Auth selects.
func WithCredential(cred azcore.TokenCredential) Option { return func(c *Client) { c.cred = cred } }

// WithRetry sets the retry policy; zero fields keep their defaults.
func WithRetry(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// WithPageSize sets odata.maxpagesize for List and Rows (1..5000). Defaults to 5000.
func WithPageSize(n int) Option { return func(c *Client) { c.pageSize = n } }

// WithTables declares tables (custom tables whose entity set name or key is not to be looked
// up in EntityDefinitions, e.g. because the application user may not read metadata).
func WithTables(ts ...TableInfo) Option {
	return func(c *Client) {
		for _, t := range ts {
			c.tables[t.LogicalName] = t
		}
	}
}

// WithLookups declares the lookup columns of a table (logical names), so that the client does
// not read them from EntityDefinitions (an application user with a minimal role may not).
func WithLookups(table string, columns ...string) Option {
	return func(c *Client) {
		m := make(map[string]bool, len(columns))
		for _, col := range columns {
			m[strings.ToLower(col)] = true
		}
		c.lookups[table] = m
	}
}

// WithLogger sets the logger for retries and throttling (never given record data).
func WithLogger(l *zap.Logger) Option { return func(c *Client) { c.log = l } }

// New returns a client for cfg.URL with the credential cfg.Auth selects.
func New(ctx context.Context, cfg config.Dataverse, opts ...Option) (*Client, error) {
	raw := strings.TrimRight(strings.TrimSpace(cfg.URL), "/")
	if raw == "" {
		return nil, errors.New("dataverse: no environment URL configured")
	}
	env, err := url.Parse(raw)
	if err != nil || env.Host == "" || (env.Scheme != "https" && env.Scheme != "http") {
		return nil, fmt.Errorf("dataverse: %q is not an environment URL (https://org.crm.dynamics.com)", cfg.URL)
	}
	env.RawQuery, env.Fragment = "", ""
	base := *env
	base.Path = strings.TrimRight(env.Path, "/") + APIPath
	c := &Client{
		env: env, base: &base,
		scope:   env.Scheme + "://" + env.Host + "/.default",
		hc:      &http.Client{},
		timeout: cfg.Timeout.D(),
		log:     zap.NewNop(),
		tables:  map[string]TableInfo{},
		lookups: map[string]map[string]bool{},
	}
	for k, v := range builtinTables {
		c.tables[k] = v
	}
	for _, o := range opts {
		o(c)
	}
	if c.timeout <= 0 {
		c.timeout = 10 * time.Second
	}
	if c.pageSize <= 0 || c.pageSize > 5000 {
		c.pageSize = 5000
	}
	c.retry.setDefaults()
	if c.cred == nil {
		if c.cred, err = NewCredential(cfg.Auth); err != nil {
			return nil, fmt.Errorf("dataverse credential: %w", err)
		}
	}
	return c, nil
}

// EnvironmentURL returns the environment URL the client talks to.
func (c *Client) EnvironmentURL() string { return c.env.String() }

// CallOption adjusts one request.
type CallOption func(*callOpts)

type callOpts struct {
	header http.Header
	query  url.Values
}

// AsCaller impersonates the user with this Entra object id (header CallerObjectId). The
// application user needs the prvActOnBehalfOfAnotherUser privilege (dataverse-facts.md §7).
func AsCaller(objectID string) CallOption {
	return func(o *callOpts) { o.header.Set("CallerObjectId", objectID) }
}

// WithTag passes the `tag` optional parameter, which plug-ins and webhooks read as the shared
// variable "tag" (dataverse-facts.md §7).
func WithTag(tag string) CallOption { return func(o *callOpts) { o.query.Set("tag", tag) } }

// BypassCustomSync sends MSCRM.BypassBusinessLogicExecution: CustomSync, skipping synchronous
// custom logic (the caller needs prvBypassCustomBusinessLogic).
func BypassCustomSync() CallOption {
	return func(o *callOpts) { o.header.Set("MSCRM.BypassBusinessLogicExecution", "CustomSync") }
}

// WithHeader sets any request header.
func WithHeader(name, value string) CallOption {
	return func(o *callOpts) { o.header.Set(name, value) }
}

func collect(opts []CallOption) callOpts {
	o := callOpts{header: http.Header{}, query: url.Values{}}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// response is a successful answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// resolve turns a path relative to the Web API root (or an absolute URL from @odata.nextLink)
// into a URL, refusing any other origin so that the token never leaves the environment.
func (c *Client) resolve(ref string) (*url.URL, error) {
	u, err := c.base.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("dataverse: bad request path: %w", err)
	}
	if u.Scheme != c.base.Scheme || u.Host != c.base.Host || !strings.HasPrefix(u.Path, c.base.Path) {
		return nil, fmt.Errorf("dataverse: refusing to send the token to %s://%s%s", u.Scheme, u.Host, u.Path)
	}
	return u, nil
}

// logPath is the request path relative to the Web API root, without the query string.
func (c *Client) logPath(u *url.URL) string { return strings.TrimPrefix(u.Path, c.base.Path) }

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPatch:
		return true
	}
	return false
}

// do sends one logical request with retries. ref is relative to the Web API root or absolute.
func (c *Client) do(ctx context.Context, method, ref string, body []byte, co callOpts) (*response, error) {
	if len(co.query) > 0 {
		sep := "?"
		if strings.Contains(ref, "?") {
			sep = "&"
		}
		ref += sep + strings.ReplaceAll(co.query.Encode(), "+", "%20")
	}
	u, err := c.resolve(ref)
	if err != nil {
		return nil, err
	}
	path := c.logPath(u)
	var lastErr error
	for attempt := 0; attempt < c.retry.MaxAttempts; attempt++ {
		resp, err := c.once(ctx, method, u, body, co.header)
		var wait time.Duration
		switch {
		case err == nil && resp.status < 300:
			return resp, nil
		case err != nil:
			if ctx.Err() != nil {
				if lastErr != nil {
					return nil, fmt.Errorf("dataverse: %s %s: %w (after: %w)", method, path, ctx.Err(), lastErr)
				}
				return nil, fmt.Errorf("dataverse: %s %s: %w", method, path, ctx.Err())
			}
			var tokErr *tokenError
			if errors.As(err, &tokErr) || !idempotent(method) {
				return nil, err
			}
			lastErr = err
			wait = c.backoff(attempt)
		default:
			apiErr := parseError(method, path, resp.status, resp.header, resp.body)
			lastErr = apiErr
			switch {
			case resp.status == http.StatusTooManyRequests:
				wait = apiErr.RetryAfter
				if wait <= 0 {
					wait = c.backoff(attempt)
				}
				if wait > c.retry.MaxRetryAfter {
					return nil, apiErr
				}
			case resp.status == http.StatusServiceUnavailable,
				resp.status >= 500 && idempotent(method):
				wait = c.backoff(attempt)
				if apiErr.RetryAfter > wait && apiErr.RetryAfter <= c.retry.MaxRetryAfter {
					wait = apiErr.RetryAfter
				}
			default:
				return nil, apiErr
			}
		}
		if attempt+1 >= c.retry.MaxAttempts {
			break
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, fmt.Errorf("%w (not retried: waiting %s would pass the deadline)", lastErr, wait.Round(time.Millisecond))
		}
		c.log.Warn("dataverse request retried", zap.String("method", method), zap.String("path", path),
			zap.Int("attempt", attempt+1), zap.Duration("wait", wait), zap.String("error", errSummary(lastErr)))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("dataverse: %s %s: %w (after: %w)", method, path, ctx.Err(), lastErr)
		case <-t.C:
		}
	}
	return nil, lastErr
}

func errSummary(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return strconv.Itoa(e.StatusCode) + " " + e.Code
	}
	return err.Error()
}

func (c *Client) backoff(attempt int) time.Duration {
	ceil := c.retry.BaseDelay << min(attempt, 20)
	if ceil > c.retry.MaxDelay || ceil <= 0 {
		ceil = c.retry.MaxDelay
	}
	return time.Duration(rand.Int64N(int64(ceil)) + 1)
}

// tokenError marks a credential failure (not retried here: azidentity retries itself).
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "dataverse: getting a token: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// once sends a single attempt with the per-request timeout.
func (c *Client) once(ctx context.Context, method string, u *url.URL, body []byte, hdr http.Header) (*response, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tok, err := c.cred.GetToken(actx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
	if err != nil {
		return nil, &tokenError{err}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("dataverse: building request: %w", err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("OData-MaxVersion", "4.0")
	req.Header.Set("OData-Version", "4.0")
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		// The url.Error names the URL with its query string (record values): drop it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("dataverse: %s %s: %w", method, c.logPath(u), err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("dataverse: %s %s: reading response: %w", method, c.logPath(u), err)
	}
	if len(data) > maxResponseBytes {
		return nil, fmt.Errorf("dataverse: %s %s: response larger than %d bytes", method, c.logPath(u), maxResponseBytes)
	}
	return &response{status: res.StatusCode, header: res.Header, body: data}, nil
}

// Do sends a request to path (relative to /api/data/v9.2/, with its query string) and decodes a
// JSON answer into out (when out is non-nil and there is a body). body is JSON-encoded unless
// it is a []byte or nil. It returns the response headers.
func (c *Client) Do(ctx context.Context, method, path string, body, out any, opts ...CallOption) (http.Header, error) {
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			return nil, fmt.Errorf("dataverse: encoding request body: %w", err)
		}
	}
	resp, err := c.do(ctx, method, path, raw, collect(opts))
	if err != nil {
		return nil, err
	}
	if out != nil && len(bytes.TrimSpace(resp.body)) > 0 {
		if err := decodeJSON(resp.body, out); err != nil {
			return resp.header, fmt.Errorf("dataverse: %s %s: decoding response: %w", method, strings.SplitN(path, "?", 2)[0], err)
		}
	}
	return resp.header, nil
}

func decodeJSON(data []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(out)
}

// Table returns the entity set and primary key of a table: built in for the standard tables,
// declared with WithTables, or read once from EntityDefinitions and cached.
func (c *Client) Table(ctx context.Context, logical string) (TableInfo, error) {
	c.mu.Lock()
	t, ok := c.tables[logical]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	if !ValidAttr(logical) || strings.Contains(logical, "/") {
		return TableInfo{}, fmt.Errorf("dataverse: %q is not a table logical name", logical)
	}
	var def struct {
		EntitySetName      string
		PrimaryIDAttribute string `json:"PrimaryIdAttribute"`
	}
	path := "EntityDefinitions(LogicalName=" + escapeQueryValue(Quote(logical)) + ")?$select=EntitySetName,PrimaryIdAttribute"
	if _, err := c.Do(ctx, http.MethodGet, path, nil, &def); err != nil {
		return TableInfo{}, fmt.Errorf("looking up table %s: %w", logical, err)
	}
	if def.EntitySetName == "" || def.PrimaryIDAttribute == "" {
		return TableInfo{}, fmt.Errorf("dataverse: EntityDefinitions gave no entity set for %s", logical)
	}
	t = TableInfo{LogicalName: logical, EntitySet: def.EntitySetName, PrimaryID: def.PrimaryIDAttribute}
	c.mu.Lock()
	c.tables[logical] = t
	c.mu.Unlock()
	return t, nil
}

// builtinLookups are lookup columns of the standard tables, used when the metadata cannot be
// read.
var builtinLookups = map[string][]string{
	"contact": {"parentcustomerid", "ownerid", "owninguser", "owningteam", "owningbusinessunit", "createdby", "modifiedby", "createdonbehalfby", "modifiedonbehalfby", "transactioncurrencyid", "masterid", "preferredsystemuserid", "originatingleadid"},
	"account": {"parentaccountid", "primarycontactid", "ownerid", "owninguser", "owningteam", "owningbusinessunit", "createdby", "modifiedby", "createdonbehalfby", "modifiedonbehalfby", "transactioncurrencyid", "masterid", "preferredsystemuserid", "originatingleadid"},
	"lead":    {"parentaccountid", "parentcontactid", "customerid", "ownerid", "owninguser", "owningteam", "owningbusinessunit", "createdby", "modifiedby", "createdonbehalfby", "modifiedonbehalfby", "transactioncurrencyid", "masterid", "qualifyingopportunityid"},
}

// Lookups returns the lookup columns of a table (which must be selected and filtered as
// _name_value), read once from EntityDefinitions/Attributes and cached; the built-in list of
// the standard tables is used while the metadata cannot be read.
func (c *Client) Lookups(ctx context.Context, logical string) map[string]bool {
	c.mu.Lock()
	m, ok := c.lookups[logical]
	c.mu.Unlock()
	if ok {
		return m
	}
	var res struct {
		Value []struct{ LogicalName string } `json:"value"`
	}
	path := "EntityDefinitions(LogicalName=" + escapeQueryValue(Quote(logical)) + ")/Attributes/Microsoft.Dynamics.CRM.LookupAttributeMetadata?$select=LogicalName"
	if _, err := c.Do(ctx, http.MethodGet, path, nil, &res); err != nil {
		c.log.Debug("lookup metadata unavailable, using the built-in list", zap.String("table", logical), zap.String("error", errSummary(err)))
		m = map[string]bool{}
		for _, a := range builtinLookups[logical] {
			m[a] = true
		}
		return m
	}
	m = make(map[string]bool, len(res.Value))
	for _, v := range res.Value {
		m[strings.ToLower(v.LogicalName)] = true
	}
	c.mu.Lock()
	c.lookups[logical] = m
	c.mu.Unlock()
	return m
}

// SelectNames maps column logical names to the names the Web API selects and filters:
// lookups become _name_value. Invalid names are an error.
func (c *Client) SelectNames(ctx context.Context, table string, attrs []string) ([]string, error) {
	lk := c.Lookups(ctx, table)
	out := make([]string, 0, len(attrs))
	seen := map[string]bool{}
	for _, a := range attrs {
		if !ValidAttr(a) || strings.Contains(a, "/") {
			return nil, fmt.Errorf("dataverse: %q is not a column name", a)
		}
		if lk[a] {
			a = "_" + a + "_value"
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}

var entityIDPattern = regexp.MustCompile(`\(([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\)\s*$`)

// Create inserts a row and returns its id (from the OData-EntityId header). attrs are Web API
// properties: columns by logical name, lookups as "nav@odata.bind": "/entityset(id)".
func (c *Client) Create(ctx context.Context, table string, attrs map[string]any, opts ...CallOption) (string, error) {
	t, err := c.Table(ctx, table)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(attrs)
	if err != nil {
		return "", fmt.Errorf("dataverse: encoding %s: %w", table, err)
	}
	resp, err := c.do(ctx, http.MethodPost, t.EntitySet, body, collect(opts))
	if err != nil {
		return "", err
	}
	if m := entityIDPattern.FindStringSubmatch(resp.header.Get("OData-EntityId")); m != nil {
		return strings.ToLower(m[1]), nil
	}
	var row map[string]any
	if len(resp.body) > 0 && decodeJSON(resp.body, &row) == nil {
		if id, ok := row[t.PrimaryID].(string); ok {
			return strings.ToLower(id), nil
		}
	}
	return "", fmt.Errorf("dataverse: POST %s: the answer carried no OData-EntityId", t.EntitySet)
}

// Update changes columns of an existing row (PATCH with If-Match: *, so that a missing row is
// a 404 rather than an upsert).
func (c *Client) Update(ctx context.Context, table, id string, attrs map[string]any, opts ...CallOption) error {
	t, err := c.Table(ctx, table)
	if err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	body, err := json.Marshal(attrs)
	if err != nil {
		return fmt.Errorf("dataverse: encoding %s: %w", table, err)
	}
	co := collect(opts)
	co.header.Set("If-Match", "*")
	_, err = c.do(ctx, http.MethodPatch, t.EntitySet+"("+id+")", body, co)
	return err
}

// Delete removes a row.
func (c *Client) Delete(ctx context.Context, table, id string, opts ...CallOption) error {
	t, err := c.Table(ctx, table)
	if err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodDelete, t.EntitySet+"("+id+")", nil, collect(opts))
	return err
}

// Get reads one row as the Web API returns it (lookups as _name_value). attrs selects columns
// by logical name; empty means all columns.
func (c *Client) Get(ctx context.Context, table, id string, attrs []string, opts ...CallOption) (map[string]any, error) {
	t, err := c.Table(ctx, table)
	if err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	path := t.EntitySet + "(" + id + ")"
	if len(attrs) > 0 {
		sel, err := c.SelectNames(ctx, table, attrs)
		if err != nil {
			return nil, err
		}
		path += "?" + Query{Select: sel}.Encode()
	}
	var row map[string]any
	if _, err := c.Do(ctx, http.MethodGet, path, nil, &row, opts...); err != nil {
		return nil, err
	}
	return row, nil
}

// Retrieve reads one row with all its columns as a matcher record (webhook.RowReader): the
// re-read of a row whose webhook payload arrived without its Target.
func (c *Client) Retrieve(ctx context.Context, table, id string) (matcher.Record, error) {
	t, err := c.Table(ctx, table)
	if err != nil {
		return matcher.Record{}, err
	}
	row, err := c.Get(ctx, table, id, nil)
	if err != nil {
		return matcher.Record{}, err
	}
	return rowRecord(t, row, nil), nil
}

// Execute calls an unbound action (POST /Merge, ...) with body and decodes any answer into out.
func (c *Client) Execute(ctx context.Context, action string, body, out any, opts ...CallOption) error {
	if !ValidAttr(action) && !strings.HasPrefix(action, "Microsoft.Dynamics.CRM.") {
		return fmt.Errorf("dataverse: %q is not an action name", action)
	}
	if body == nil {
		body = map[string]any{}
	}
	_, err := c.Do(ctx, http.MethodPost, action, body, out, opts...)
	return err
}

// List runs q over table and hands each page of rows to page, following @odata.nextLink with
// Prefer: odata.maxpagesize until the last page (dataverse-facts.md §6). With q.Top set, one
// page of at most Top rows is read (Dataverse ignores $top when paging is asked for).
func (c *Client) List(ctx context.Context, table string, q Query, page func(rows []map[string]any) error, opts ...CallOption) error {
	t, err := c.Table(ctx, table)
	if err != nil {
		return err
	}
	co := collect(opts)
	if q.Top == 0 {
		co.header.Set("Prefer", "odata.maxpagesize="+strconv.Itoa(c.pageSize))
	}
	next := t.EntitySet
	if enc := q.Encode(); enc != "" {
		next += "?" + enc
	}
	for next != "" {
		resp, err := c.do(ctx, http.MethodGet, next, nil, co)
		if err != nil {
			return err
		}
		var body struct {
			Value    []map[string]any `json:"value"`
			NextLink string           `json:"@odata.nextLink"`
		}
		if err := decodeJSON(resp.body, &body); err != nil {
			return fmt.Errorf("dataverse: GET %s: decoding page: %w", t.EntitySet, err)
		}
		if err := page(body.Value); err != nil {
			return err
		}
		if q.Top > 0 {
			return nil
		}
		next = body.NextLink
		co.query = url.Values{} // the nextLink already carries every parameter
	}
	return nil
}

func checkID(id string) error {
	if !guidPattern.MatchString(id) {
		return fmt.Errorf("dataverse: %q is not a row id (GUID)", id)
	}
	return nil
}

var guidPattern = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// IsGUID reports whether s is a GUID in its 36-character form.
func IsGUID(s string) bool { return guidPattern.MatchString(s) }
