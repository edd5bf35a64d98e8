package dataverse_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/dataverse/emulator"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

const token = "client-test-token-42"

type harness struct {
	emu    *emulator.Emulator
	srv    *httptest.Server
	client *dataverse.Client
}

func start(t *testing.T, cfg emulator.Config, opts ...dataverse.Option) *harness {
	t.Helper()
	cfg.Token = token
	emu, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = emu.Close(ctx)
		srv.Close()
	})
	return &harness{emu: emu, srv: srv, client: newClient(t, srv.URL, token, opts...)}
}

func newClient(t *testing.T, url, tok string, opts ...dataverse.Option) *dataverse.Client {
	t.Helper()
	opts = append([]dataverse.Option{dataverse.WithRetry(dataverse.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond})}, opts...)
	c, err := dataverse.New(context.Background(), config.Dataverse{URL: url, Timeout: config.Duration(5 * time.Second),
		Auth: config.DataverseAuth{Method: "static_token", Token: config.Secret(tok)}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPaging12000 reads 12,000 rows through @odata.nextLink pages, in full and incrementally.
func TestPaging12000(t *testing.T) {
	var now atomic.Pointer[time.Time]
	t0 := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	now.Store(&t0)
	h := start(t, emulator.Config{Now: func() time.Time { return *now.Load() }})
	for i := 0; i < 12000; i++ {
		if _, err := h.emu.Insert("contact", map[string]any{"firstname": fmt.Sprintf("F%05d", i), "lastname": "Paged",
			"emailaddress1": fmt.Sprintf("p%05d@example.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	var pages []int
	ids := map[string]bool{}
	err := h.client.Rows(ctx, "contact", []string{"firstname", "emailaddress1"}, time.Time{}, func(recs []matcher.Record) error {
		pages = append(pages, len(recs))
		for _, r := range recs {
			if ids[r.ID] {
				return fmt.Errorf("row %s twice", r.ID)
			}
			ids[r.ID] = true
			if r.Entity != "contact" || !strings.HasSuffix(r.Attrs["emailaddress1"], "@example.com") || r.Attrs["lastname"] != "" {
				return fmt.Errorf("record %+v", r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 12000 || fmt.Sprint(pages) != "[5000 5000 2000]" {
		t.Fatalf("%d rows in pages %v, want 12000 in [5000 5000 2000]", len(ids), pages)
	}

	// A smaller page size: twelve pages of 1,000.
	small := newClient(t, h.srv.URL, token, dataverse.WithPageSize(1000))
	n, count := 0, 0
	err = small.List(ctx, "contact", dataverse.Query{Select: []string{"contactid"}, Filter: dataverse.Eq("lastname", "paged")},
		func(rows []map[string]any) error { n++; count += len(rows); return nil })
	if err != nil || n != 12 || count != 12000 {
		t.Fatalf("page size 1000: %d pages, %d rows, %v", n, count, err)
	}

	// Incremental: only rows modified after the cursor.
	t1 := t0.Add(time.Hour)
	now.Store(&t1)
	for i := 0; i < 3; i++ {
		if _, err := h.emu.Insert("contact", map[string]any{"lastname": "Later"}); err != nil {
			t.Fatal(err)
		}
	}
	var later []matcher.Record
	err = h.client.Rows(ctx, "contact", []string{"lastname", "modifiedon"}, t0.Add(time.Minute), func(recs []matcher.Record) error {
		later = append(later, recs...)
		return nil
	})
	if err != nil || len(later) != 3 || later[0].Attrs["modifiedon"] != "2024-03-01T10:00:00Z" {
		t.Fatalf("incremental: %v %v", later, err)
	}
}

// TestThrottling: 429 answers are waited out for Retry-After, and a Retry-After beyond the
// caller's deadline is not waited for.
func TestThrottling(t *testing.T) {
	h := start(t, emulator.Config{})
	ctx := context.Background()
	h.emu.Throttle(2, time.Second)
	before := h.emu.Stats()
	start := time.Now()
	if _, err := h.client.Create(ctx, "account", map[string]any{"name": "Patience Ltd"}); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	st := h.emu.Stats()
	if st.Throttled-before.Throttled != 2 || st.Requests-before.Requests != 3 {
		t.Fatalf("throttled %d, requests %d; want 2 and 3", st.Throttled-before.Throttled, st.Requests-before.Requests)
	}
	if elapsed < 2*time.Second || elapsed > 4*time.Second {
		t.Fatalf("two Retry-After: 1 waits took %s", elapsed)
	}
	if h.emu.Count("account") != 1 {
		t.Fatalf("%d accounts, want exactly 1", h.emu.Count("account"))
	}

	h.emu.Throttle(1, 30*time.Second)
	dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err := h.client.Get(dctx, "account", "00000000-0000-4000-8000-000000000001", nil)
	if !errors.Is(err, dataverse.ErrThrottled) || time.Since(start) > 300*time.Millisecond {
		t.Fatalf("a long Retry-After within a short deadline: %v after %s", err, time.Since(start))
	}
	var de *dataverse.Error
	if !errors.As(err, &de) || de.RetryAfter != 30*time.Second || de.Code != "0x80072322" {
		t.Fatalf("typed throttle error: %#v", de)
	}
}

func TestServerErrorsRetried(t *testing.T) {
	h := start(t, emulator.Config{})
	ctx := context.Background()
	id, err := h.client.Create(ctx, "contact", map[string]any{"lastname": "Retry"})
	if err != nil {
		t.Fatal(err)
	}
	h.client.Lookups(ctx, "contact") // read and cache the metadata first
	h.emu.Fail(2, 503)
	before := h.emu.Stats().Requests
	if _, err := h.client.Get(ctx, "contact", id, []string{"lastname"}); err != nil {
		t.Fatalf("GET after two 503s: %v", err)
	}
	if n := h.emu.Stats().Requests - before; n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	// A POST is not retried on a 500: it may have been applied.
	h.emu.Fail(1, 500)
	before = h.emu.Stats().Requests
	if _, err := h.client.Create(ctx, "contact", map[string]any{"lastname": "Once"}); err == nil {
		t.Fatal("a 500 on create should be returned")
	}
	if n := h.emu.Stats().Requests - before; n != 1 {
		t.Fatalf("a failed POST was sent %d times", n)
	}
}

// TestQuotesAndNonASCII round-trips awkward values through filters.
func TestQuotesAndNonASCII(t *testing.T) {
	h := start(t, emulator.Config{})
	ctx := context.Background()
	names := []string{"O'Brien", "D''Angelo", `Say "Hi"`, "Smith & Sons", "a+b@example.com", "Zoë Ñúñez", "Strauß", "张伟", "100% #1?", "Ørsted/Łukasz"}
	ids := map[string]string{}
	for _, n := range names {
		id, err := h.client.Create(ctx, "contact", map[string]any{"lastname": n})
		if err != nil {
			t.Fatalf("create %q: %v", n, err)
		}
		ids[n] = id
	}
	for _, n := range names {
		for _, variant := range []string{n, strings.ToUpper(n)} {
			var got []string
			err := h.client.List(ctx, "contact", dataverse.Query{Select: []string{"lastname"}, Filter: dataverse.Eq("lastname", variant)},
				func(rows []map[string]any) error {
					for _, r := range rows {
						got = append(got, r["lastname"].(string))
					}
					return nil
				})
			if err != nil || len(got) != 1 || got[0] != n {
				t.Errorf("eq %q: %v %v", variant, got, err)
			}
		}
	}
	var got []string
	err := h.client.List(ctx, "contact", dataverse.Query{Select: []string{"lastname"}, Filter: dataverse.In("lastname", names...)},
		func(rows []map[string]any) error {
			for _, r := range rows {
				got = append(got, r["lastname"].(string))
			}
			return nil
		})
	sort.Strings(got)
	want := append([]string(nil), names...)
	sort.Strings(want)
	if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("In: %v %v", got, err)
	}
}

func TestTypedErrors(t *testing.T) {
	h := start(t, emulator.Config{})
	ctx := context.Background()
	_, err := h.client.Get(ctx, "contact", "6d81597f-0f9f-e711-8122-000d3aa2331c", nil)
	var de *dataverse.Error
	if !errors.Is(err, dataverse.ErrNotFound) || !errors.As(err, &de) || de.Code != "0x80040217" || de.StatusCode != 404 {
		t.Fatalf("missing row: %v", err)
	}
	_, err = h.client.Do(ctx, http.MethodGet, "contacts?$filter="+"emailaddress1%20eq%20'secret@example.com'%20or", nil, nil)
	if !errors.As(err, &de) || de.StatusCode != 400 || de.Code != "0x80060888" {
		t.Fatalf("bad filter: %v", err)
	}
	if strings.Contains(err.Error(), "secret@example.com") {
		t.Fatalf("the error message leaks a filter value: %v", err)
	}
	if _, err := h.client.Get(ctx, "contact", "not-a-guid", nil); err == nil {
		t.Fatal("a bad id was sent")
	}
	bad := newClient(t, h.srv.URL, "wrong-token")
	if _, err := bad.Get(ctx, "contact", "6d81597f-0f9f-e711-8122-000d3aa2331c", nil); !errors.Is(err, dataverse.ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
	if err := h.client.Update(ctx, "contact", "6d81597f-0f9f-e711-8122-000d3aa2331c", map[string]any{"lastname": "x"}); !errors.Is(err, dataverse.ErrNotFound) {
		t.Fatalf("update of a missing row must not upsert: %v", err)
	}
	if h.emu.Count("contact") != 0 {
		t.Fatal("an update created a row")
	}
}

func TestCRUDImpersonationAndMetadata(t *testing.T) {
	h := start(t, emulator.Config{Tables: []emulator.Table{{LogicalName: "new_project", EntitySetName: "new_projectz",
		Attributes: map[string]emulator.Attr{"new_name": {Type: emulator.TypeString}, "new_client": {Type: emulator.TypeLookup, Targets: []string{"account"}}}}}})
	ctx := context.Background()
	acc, err := h.client.Create(ctx, "account", map[string]any{"name": "Client Co"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.client.Create(ctx, "contact", map[string]any{"firstname": "Ivy", "lastname": "Imp",
		"parentcustomerid_account@odata.bind": "/accounts(" + acc + ")"}, dataverse.AsCaller(emulator.SampleUserAADID))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := h.client.Retrieve(ctx, "contact", id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID != id || rec.Attrs["fullname"] != "Ivy Imp" || rec.Attrs["parentcustomerid"] != acc || rec.Attrs["createdby"] != emulator.SampleUserID {
		t.Fatalf("retrieved: %+v", rec)
	}
	if err := h.client.Update(ctx, "contact", id, map[string]any{"lastname": "Updated"}); err != nil {
		t.Fatal(err)
	}
	row, err := h.client.Get(ctx, "contact", id, []string{"fullname", "parentcustomerid"})
	if err != nil || row["fullname"] != "Ivy Updated" || row["_parentcustomerid_value"] != acc {
		t.Fatalf("after update: %v %v", row, err)
	}
	if err := h.client.Delete(ctx, "contact", id); err != nil {
		t.Fatal(err)
	}
	// A custom table: its entity set name and lookups come from EntityDefinitions.
	pid, err := h.client.Create(ctx, "new_project", map[string]any{"new_name": "Apollo", "new_client@odata.bind": "/accounts(" + acc + ")"})
	if err != nil {
		t.Fatal(err)
	}
	ti, err := h.client.Table(ctx, "new_project")
	if err != nil || ti.EntitySet != "new_projectz" || ti.PrimaryID != "new_projectid" {
		t.Fatalf("table info: %+v %v", ti, err)
	}
	var recs []matcher.Record
	if err := h.client.Rows(ctx, "new_project", []string{"new_name", "new_client"}, time.Time{}, func(r []matcher.Record) error {
		recs = append(recs, r...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != pid || recs[0].Attrs["new_client"] != acc || recs[0].Attrs["new_name"] != "Apollo" {
		t.Fatalf("custom rows: %+v", recs)
	}
}

// TestRequestTimeout: a request that outlives the per-request timeout is abandoned and retried.
func TestRequestTimeout(t *testing.T) {
	emu, err := emulator.New(emulator.Config{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}
		emu.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := dataverse.New(context.Background(), config.Dataverse{URL: srv.URL, Timeout: config.Duration(200 * time.Millisecond),
		Auth: config.DataverseAuth{Method: "static_token", Token: token}},
		dataverse.WithRetry(dataverse.RetryPolicy{BaseDelay: 10 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = c.List(context.Background(), "contact", dataverse.Query{Top: 1}, func([]map[string]any) error { return nil })
	if err != nil || n.Load() != 2 || time.Since(start) > time.Second {
		t.Fatalf("timeout then retry: err %v, %d requests, %s", err, n.Load(), time.Since(start))
	}
}

// TestNextLinkOrigin: the client never sends its token to another origin.
func TestNextLinkOrigin(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"value":[{"contactid":"6d81597f-0f9f-e711-8122-000d3aa2331c"}],"@odata.nextLink":"https://attacker.invalid/api/data/v9.2/contacts?x=1"}`)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, token)
	err := c.List(context.Background(), "contact", dataverse.Query{}, func([]map[string]any) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "refusing") || hits.Load() != 1 {
		t.Fatalf("foreign nextLink: %v (%d hits)", err, hits.Load())
	}
}

func compileRule(t *testing.T, spec matcher.RuleSpec) *rules.Rule {
	t.Helper()
	m, err := matcher.Compile(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	cand := spec.CandidateEntity
	if cand == "" {
		cand = spec.Entity
	}
	return &rules.Rule{Name: spec.Name, Entity: spec.Entity, CandidateEntity: cand, Matcher: m, BlockThreshold: 0.9, WarnThreshold: 0.5, Action: rules.ActionBlock}
}

// TestFallback: one OData query per decision built from the blocking attributes.
func TestFallback(t *testing.T) {
	h := start(t, emulator.Config{})
	ctx := context.Background()
	rule := compileRule(t, matcher.RuleSpec{Name: "contact-dup", Entity: "contact", Fields: []matcher.FieldSpec{
		{Attr: "emailaddress1", Comparator: "email", Weight: 1, Blocking: true, Strong: true},
		{Attr: "telephone1", Comparator: "phone", Weight: 1, Blocking: true, Strong: true},
		{Attr: "lastname", Comparator: "lastname", Weight: 1, Blocking: true},
		{Attr: "firstname", Comparator: "firstname", Weight: 1, Blocking: true},
		{Attr: "address1_city", Comparator: "jarowinkler", Weight: 1},
	}})
	seed := map[string]map[string]any{
		"email":   {"firstname": "X", "lastname": "Y", "emailaddress1": "JO@example.com"},
		"phone":   {"firstname": "P", "lastname": "Q", "telephone1": "0123 456"},
		"name":    {"firstname": "jo", "lastname": "o'hara", "address1_city": "Leeds"},
		"surname": {"firstname": "Al", "lastname": "O'Hara"},
		"self":    {"firstname": "Jo", "lastname": "O'Hara", "emailaddress1": "jo@example.com"},
	}
	ids := map[string]string{}
	for k, p := range seed {
		id, err := h.emu.Insert("contact", p)
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = id
	}
	fb := &dataverse.Fallback{Client: h.client, Top: 10}
	rec := matcher.Record{Entity: "contact", ID: ids["self"], Attrs: map[string]string{
		"firstname": "Jo", "lastname": "O'Hara", "emailaddress1": "jo@example.com", "telephone1": "0123 456"}}
	got, err := fb.Candidates(ctx, []*rules.Rule{rule}, rec)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]matcher.Record{}
	for _, r := range got {
		found[r.ID] = r
	}
	for _, k := range []string{"email", "phone", "name"} {
		if _, ok := found[ids[k]]; !ok {
			t.Errorf("candidate %s not found", k)
		}
	}
	if _, ok := found[ids["surname"]]; ok {
		t.Error("a row matching only the last name (not the name group) was returned")
	}
	if _, ok := found[ids["self"]]; ok {
		t.Error("the record itself was returned")
	}
	if c := found[ids["name"]]; c.Attrs["address1_city"] != "Leeds" || c.Entity != "contact" {
		t.Errorf("candidate attributes: %+v", c)
	}
	// Exactly one request per decision once the metadata is cached.
	before := h.emu.Stats().Requests
	if _, err := fb.Candidates(ctx, []*rules.Rule{rule}, rec); err != nil {
		t.Fatal(err)
	}
	if n := h.emu.Stats().Requests - before; n != 1 {
		t.Fatalf("%d requests for one decision, want 1", n)
	}
	// A record without blocking values asks nothing.
	before = h.emu.Stats().Requests
	if got, err := fb.Candidates(ctx, []*rules.Rule{rule}, matcher.Record{Entity: "contact", Attrs: map[string]string{"address1_city": "Leeds"}}); err != nil || len(got) != 0 {
		t.Fatalf("no blocking values: %v %v", got, err)
	}
	if n := h.emu.Stats().Requests - before; n != 0 {
		t.Fatalf("%d requests without blocking values", n)
	}
	filter, _ := dataverse.FallbackFilter([]*rules.Rule{rule}, rec, nil)
	want := "(emailaddress1 eq 'jo@example.com') or (telephone1 eq '0123 456') or ((lastname eq 'O''Hara') and (firstname eq 'Jo'))"
	if filter != want {
		t.Fatalf("filter\n got %s\nwant %s", filter, want)
	}
}

// TestRowAttrsMatchWebhook: a row read over OData gives the matcher the same strings as the
// same row in a webhook payload.
func TestRowAttrsMatchWebhook(t *testing.T) {
	h := start(t, emulator.Config{})
	ctx := context.Background()
	var mu sync.Mutex
	var payload []byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		payload = b
		mu.Unlock()
	}))
	defer hook.Close()
	registerAsyncCreate(t, h.client, hook.URL, "contact")
	acc, _ := h.client.Create(ctx, "account", map[string]any{"name": "Acme"})
	id, err := h.client.Create(ctx, "contact", map[string]any{"firstname": "Types", "lastname": "Galore", "birthdate": "1990-02-03",
		"gendercode": 2, "creditlimit": 2154.32, "donotemail": true, "numberofchildren": 3,
		"parentcustomerid_account@odata.bind": "/accounts(" + acc + ")"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := h.emu.WaitIdle(wctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	ec, err := dataverse.DecodeContext(payload)
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	fromHook := ec.Target().StringAttrs()
	rec, err := h.client.Retrieve(ctx, "contact", id)
	if err != nil {
		t.Fatal(err)
	}
	delete(fromHook, "contactid") // the record's ID, not an attribute, on the OData side
	if len(fromHook) < 15 {
		t.Fatalf("too few attributes in the payload: %v", fromHook)
	}
	for k, v := range fromHook {
		if rec.Attrs[k] != v {
			t.Errorf("%s: webhook %q, Web API %q", k, v, rec.Attrs[k])
		}
	}
}

func registerAsyncCreate(t *testing.T, c *dataverse.Client, url, table string) {
	t.Helper()
	ctx := context.Background()
	ep, err := c.Create(ctx, "serviceendpoint", map[string]any{"name": "hook", "url": url, "contract": 8, "authtype": 5,
		"authvalue": `<settings><setting name="x-k" value="v" /></settings>`, "messageformat": 2, "connectionmode": 1})
	if err != nil {
		t.Fatal(err)
	}
	var msg, filter string
	_ = c.List(ctx, "sdkmessage", dataverse.Query{Select: []string{"sdkmessageid"}, Filter: dataverse.Eq("name", "Create")}, func(r []map[string]any) error {
		msg = r[0]["sdkmessageid"].(string)
		return nil
	})
	_ = c.List(ctx, "sdkmessagefilter", dataverse.Query{Select: []string{"sdkmessagefilterid"},
		Filter: dataverse.And(dataverse.Eq("primaryobjecttypecode", table), dataverse.Eq("sdkmessageid/name", "Create"))}, func(r []map[string]any) error {
		filter = r[0]["sdkmessagefilterid"].(string)
		return nil
	})
	if _, err := c.Create(ctx, "sdkmessageprocessingstep", map[string]any{"name": "async create", "stage": 40, "mode": 1, "rank": 1,
		"eventhandler_serviceendpoint@odata.bind": "/serviceendpoints(" + ep + ")", "sdkmessageid@odata.bind": "/sdkmessages(" + msg + ")",
		"sdkmessagefilterid@odata.bind": "/sdkmessagefilters(" + filter + ")"}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkFallbackDecision measures one fallback query (the OData round trip of a decision
// whose index is down) against an emulator holding 10,000 contacts, on loopback.
func BenchmarkFallbackDecision(b *testing.B) {
	emu, err := emulator.New(emulator.Config{Token: token})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	for i := 0; i < 10000; i++ {
		if _, err := emu.Insert("contact", map[string]any{"firstname": fmt.Sprintf("F%d", i%500), "lastname": fmt.Sprintf("L%d", i%2000),
			"emailaddress1": fmt.Sprintf("p%d@mail.example", i), "telephone1": fmt.Sprintf("+44 20 7946 %04d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	c, err := dataverse.New(context.Background(), config.Dataverse{URL: srv.URL, Auth: config.DataverseAuth{Method: "static_token", Token: token}})
	if err != nil {
		b.Fatal(err)
	}
	m, err := matcher.Compile(matcher.RuleSpec{Name: "r", Entity: "contact", Fields: []matcher.FieldSpec{
		{Attr: "emailaddress1", Comparator: "email", Weight: 1, Blocking: true, Strong: true},
		{Attr: "telephone1", Comparator: "phone", Weight: 1, Blocking: true, Strong: true},
		{Attr: "lastname", Comparator: "lastname", Weight: 1, Blocking: true},
		{Attr: "firstname", Comparator: "firstname", Weight: 1, Blocking: true},
	}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	rs := []*rules.Rule{{Name: "r", Entity: "contact", CandidateEntity: "contact", Matcher: m}}
	fb := &dataverse.Fallback{Client: c, Top: 50}
	rec := matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "F7", "lastname": "L7", "emailaddress1": "p7@mail.example", "telephone1": "+44 20 7946 0007"}}
	ctx := context.Background()
	if got, err := fb.Candidates(ctx, rs, rec); err != nil || len(got) == 0 {
		b.Fatalf("warm-up: %d candidates, %v", len(got), err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := fb.Candidates(ctx, rs, rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRows12000 measures reading 12,000 rows through three 5,000-row pages.
func BenchmarkRows12000(b *testing.B) {
	emu, err := emulator.New(emulator.Config{Token: token})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	for i := 0; i < 12000; i++ {
		if _, err := emu.Insert("contact", map[string]any{"firstname": fmt.Sprintf("F%d", i), "lastname": "Paged",
			"emailaddress1": fmt.Sprintf("p%d@mail.example", i)}); err != nil {
			b.Fatal(err)
		}
	}
	c, err := dataverse.New(context.Background(), config.Dataverse{URL: srv.URL, Auth: config.DataverseAuth{Method: "static_token", Token: token}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		if err := c.Rows(context.Background(), "contact", []string{"firstname", "lastname", "emailaddress1"}, time.Time{}, func(r []matcher.Record) error {
			n += len(r)
			return nil
		}); err != nil || n != 12000 {
			b.Fatal(n, err)
		}
	}
}

func TestWithLookupsSkipsMetadata(t *testing.T) {
	h := start(t, emulator.Config{})
	c := newClient(t, h.srv.URL, token, dataverse.WithLookups("contact", "parentcustomerid"))
	before := h.emu.Stats().Requests
	sel, err := c.SelectNames(context.Background(), "contact", []string{"lastname", "parentcustomerid"})
	if err != nil || strings.Join(sel, ",") != "lastname,_parentcustomerid_value" || h.emu.Stats().Requests != before {
		t.Fatalf("declared lookups: %v %v (%d requests)", sel, err, h.emu.Stats().Requests-before)
	}
	if _, err := c.SelectNames(context.Background(), "contact", []string{"lastname or 1"}); err == nil {
		t.Fatal("an invalid column name was accepted")
	}
}
