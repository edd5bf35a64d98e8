package emulator

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/dataverse"
)

const secret = "s3cret-header-value-123"

func idFrom(t *testing.T, res *http.Response) string {
	t.Helper()
	m := regexp.MustCompile(`\(([0-9a-f-]{36})\)$`).FindStringSubmatch(res.Header.Get("OData-EntityId"))
	if m == nil {
		t.Fatalf("no OData-EntityId (status %d)", res.StatusCode)
	}
	return m[1]
}

// A synchronous PreValidation step that answers 409 aborts the create: the caller gets a
// Dataverse-style 4xx error and nothing is written. The payload has the real shape, the
// documented headers and the endpoint's HttpHeader auth.
func TestSyncStepAbortsWrite(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, func(n int, c call) int {
		if c.ctx.Target().Attributes["lastname"] == "Blocked" {
			return http.StatusConflict
		}
		return http.StatusOK
	})
	e.register(rc.srv.URL+"/webhooks/dataverse", 5, headerAuth("x-dedupegate-secret", secret),
		stepSpec{table: "contact", message: "Create", stage: 10, mode: 0})

	before := e.emu.Count("contact")
	res, out := e.do("POST", "contacts", map[string]any{"firstname": "Bea", "lastname": "Blocked", "emailaddress1": "bea@example.com"}, nil)
	errObj, _ := out["error"].(map[string]any)
	if res.StatusCode != 400 || errObj["code"] != "0x80040265" || !strings.Contains(errObj["message"].(string), "409") {
		t.Fatalf("blocked create: %d %v", res.StatusCode, out)
	}
	if e.emu.Count("contact") != before {
		t.Fatal("a blocked create was written")
	}
	res, _ = e.do("POST", "contacts", map[string]any{"firstname": "Al", "lastname": "Allowed"}, nil)
	if res.StatusCode != 204 || e.emu.Count("contact") != before+1 {
		t.Fatalf("allowed create: %d", res.StatusCode)
	}

	calls := rc.all()
	if len(calls) != 2 {
		t.Fatalf("%d webhook calls, want 2", len(calls))
	}
	c := calls[0]
	for h, want := range map[string]string{
		"X-Dedupegate-Secret": secret, "X-Ms-Dynamics-Entity-Name": "contact", "X-Ms-Dynamics-Request-Name": "Create",
		"X-Ms-Dynamics-Organization": "127.0.0.1", "Content-Type": "application/json",
	} {
		if got := c.header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if !dataverse.IsGUID(c.header.Get("x-ms-correlation-request-id")) || c.header.Get("x-ms-dynamics-msg-size-exceeded") != "" {
		t.Errorf("correlation header %q, size header %q", c.header.Get("x-ms-correlation-request-id"), c.header.Get("x-ms-dynamics-msg-size-exceeded"))
	}
	ec := c.ctx
	if ec.Stage != 10 || ec.Mode != 0 || ec.MessageName != "Create" || ec.PrimaryEntityName != "contact" ||
		ec.PrimaryEntityID != dataverse.EmptyGUID || ec.IsInTransaction || ec.Parent != nil ||
		ec.UserID != AppUserID || ec.InitiatingUserAADObjectID != AppUserAADID || ec.CorrelationID != c.header.Get("x-ms-correlation-request-id") {
		t.Fatalf("context: %+v", ec)
	}
	if s := ec.Target().StringAttrs(); s["emailaddress1"] != "bea@example.com" || s["firstname"] != "Bea" {
		t.Fatalf("target: %v", s)
	}
	if ec.OwningExtension == nil || ec.OwningExtension.LogicalName != "sdkmessageprocessingstep" {
		t.Fatalf("owning extension: %+v", ec.OwningExtension)
	}
}

// 502, 503 and 504 are retried exactly once; other failures are not retried.
func TestSyncRetryOnce(t *testing.T) {
	for _, tc := range []struct {
		name      string
		statuses  []int
		wantCalls int
		wantOK    bool
	}{
		{"502 then 200", []int{502, 200}, 2, true},
		{"503 twice", []int{503, 503, 200}, 2, false},
		{"504 then 200", []int{504, 200}, 2, true},
		{"500 not retried", []int{500, 200}, 1, false},
		{"409 not retried", []int{409, 200}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			rc := newReceiver(t, func(n int, c call) int { return tc.statuses[min(n-1, len(tc.statuses)-1)] })
			e.register(rc.srv.URL, 5, headerAuth("x-k", "v"), stepSpec{table: "account", message: "Create", stage: 20, mode: 0})
			res, _ := e.do("POST", "accounts", map[string]any{"name": "Retry Ltd"}, nil)
			if got := len(rc.all()); got != tc.wantCalls {
				t.Fatalf("%d calls, want %d", got, tc.wantCalls)
			}
			if (res.StatusCode == 204) != tc.wantOK || (e.emu.Count("account") == 1) != tc.wantOK {
				t.Fatalf("status %d, rows %d", res.StatusCode, e.emu.Count("account"))
			}
			calls := rc.all()
			if len(calls) == 2 && calls[0].ctx.PrimaryEntityID != calls[1].ctx.PrimaryEntityID {
				t.Fatal("the retry sent a different context")
			}
			if ec := calls[0].ctx; ec.Stage != 20 || !ec.IsInTransaction || ec.Parent == nil || ec.Parent.Stage != 30 || !dataverse.IsGUID(ec.PrimaryEntityID) || ec.PrimaryEntityID == dataverse.EmptyGUID {
				t.Fatalf("PreOperation context: stage %d tx %v parent %v id %s", ec.Stage, ec.IsInTransaction, ec.Parent, ec.PrimaryEntityID)
			}
		})
	}
}

// Asynchronous PostOperation steps run after the response, with the registered images.
func TestAsyncPostOperationWithImages(t *testing.T) {
	e := newEnv(t, Config{AsyncDelay: 50 * time.Millisecond})
	rc := newReceiver(t, nil)
	attrs := "firstname,lastname,emailaddress1"
	e.register(rc.srv.URL, 5, headerAuth("x-k", "v"),
		stepSpec{table: "contact", message: "Create", stage: 40, mode: 1,
			images: []map[string]any{{"imagetype": 1, "entityalias": "PostImage", "attributes": attrs, "messagepropertyname": "Id"}}},
		stepSpec{table: "contact", message: "Update", stage: 40, mode: 1, filtering: attrs,
			images: []map[string]any{{"imagetype": 0, "entityalias": "PreImage", "attributes": attrs, "messagepropertyname": "Target"},
				{"imagetype": 1, "entityalias": "PostImage", "attributes": attrs, "messagepropertyname": "Target"}}},
		stepSpec{table: "contact", message: "Delete", stage: 40, mode: 1,
			images: []map[string]any{{"imagetype": 0, "entityalias": "PreImage", "attributes": attrs, "messagepropertyname": "Target"}}},
	)
	res, _ := e.do("POST", "contacts", map[string]any{"firstname": "Cy", "lastname": "Old", "emailaddress1": "cy@example.com", "jobtitle": "CTO"}, nil)
	id := idFrom(t, res)
	if n := len(rc.all()); n != 0 {
		t.Fatalf("the asynchronous step ran before the response (%d calls)", n)
	}
	waitIdle(t, e.emu)
	e.do("PATCH", "contacts("+id+")", map[string]any{"jobtitle": "CEO"}, nil) // not a filtering attribute
	waitIdle(t, e.emu)
	e.do("PATCH", "contacts("+id+")", map[string]any{"lastname": "New"}, nil)
	waitIdle(t, e.emu)
	e.do("DELETE", "contacts("+id+")", nil, nil)
	waitIdle(t, e.emu)

	calls := rc.all()
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3 (create, filtered update, delete)", len(calls))
	}
	cr, up, del := calls[0].ctx, calls[1].ctx, calls[2].ctx
	if cr.Mode != 1 || cr.Stage != 40 || cr.IsInTransaction || cr.OutputParameters["id"] != id {
		t.Fatalf("create context: mode %d stage %d out %v", cr.Mode, cr.Stage, cr.OutputParameters)
	}
	post := cr.PostEntityImages["PostImage"]
	if post == nil || post.Attributes["emailaddress1"] != "cy@example.com" || post.Attributes["jobtitle"] != nil || post.ID != id {
		t.Fatalf("create post-image: %+v", post)
	}
	if _, ok := cr.PostEntityImages["AsynchronousStepPrimaryName"]; ok {
		t.Fatal("default image added although the step has its own post-image")
	}
	if cr.Target().Attributes["createdon"] == nil {
		t.Fatal("a PostOperation Create Target lacks the system columns")
	}
	if up.MessageName != "Update" || up.PreEntityImages["PreImage"].Attributes["lastname"] != "Old" ||
		up.PostEntityImages["PostImage"].Attributes["lastname"] != "New" || up.Target().Attributes["lastname"] != "New" {
		t.Fatalf("update images: pre %v post %v", up.PreEntityImages["PreImage"], up.PostEntityImages["PostImage"])
	}
	if del.MessageName != "Delete" || del.TargetReference() == nil || del.TargetReference().ID != id ||
		del.PreEntityImages["PreImage"].Attributes["lastname"] != "New" {
		t.Fatalf("delete context: %+v", del)
	}
	// Successful asynchronous jobs are kept as system jobs (asyncautodelete false).
	if n := e.emu.Count("asyncoperation"); n != 3 {
		t.Fatalf("%d system jobs, want 3", n)
	}
}

// Failed asynchronous calls are recorded as failed system jobs and do not affect the write.
func TestAsyncFailureRecorded(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, func(n int, c call) int { return 500 })
	_, steps := e.register(rc.srv.URL, 5, headerAuth("x-k", "v"), stepSpec{table: "lead", message: "Create", stage: 40, mode: 1})
	res, _ := e.do("POST", "leads", map[string]any{"subject": "x"}, nil)
	if res.StatusCode != 204 {
		t.Fatalf("create: %d", res.StatusCode)
	}
	waitIdle(t, e.emu)
	var rows []map[string]any
	err := e.client.List(context.Background(), "asyncoperation", dataverse.Query{
		Select: []string{"statuscode", "message"},
		Filter: dataverse.And(dataverse.Eq("statuscode", 31), dataverse.Eq("_owningextensionid_value", dataverse.GUID(steps[0]))),
	}, func(r []map[string]any) error { rows = append(rows, r...); return nil })
	if err != nil || len(rows) != 1 || !strings.Contains(rows[0]["message"].(string), "500") {
		t.Fatalf("failed system job: %v %v", rows, err)
	}
}

// Two creates whose synchronous webhooks each take 300 ms run their pipelines concurrently.
func TestConcurrentPipelines(t *testing.T) {
	e := newEnv(t, Config{})
	var inFlight, maxInFlight atomic.Int32
	rc := newReceiver(t, func(n int, c call) int {
		cur := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if cur <= m || maxInFlight.CompareAndSwap(m, cur) {
				break
			}
		}
		time.Sleep(300 * time.Millisecond)
		inFlight.Add(-1)
		return 200
	})
	e.register(rc.srv.URL, 5, headerAuth("x-k", "v"), stepSpec{table: "contact", message: "Create", stage: 10, mode: 0})
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, _ := e.do("POST", "contacts", map[string]any{"lastname": "Parallel"}, nil); res.StatusCode != 204 {
				t.Errorf("create: %d", res.StatusCode)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if maxInFlight.Load() != 2 {
		t.Fatalf("at most %d webhook calls in flight, want 2: the pipelines were serialised (%s)", maxInFlight.Load(), elapsed)
	}
	t.Logf("two 300 ms pipelines took %s", elapsed)
}

func TestTagBypassAndImpersonation(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, nil)
	e.register(rc.srv.URL, 5, headerAuth("x-k", "v"), stepSpec{table: "contact", message: "Create", stage: 10, mode: 0})

	e.do("POST", "contacts?tag=dg-override%3Aabc", map[string]any{"lastname": "Tagged"}, map[string]string{"CallerObjectId": SampleUserAADID})
	e.do("POST", "contacts", map[string]any{"lastname": "Bypass"}, map[string]string{"MSCRM.BypassBusinessLogicExecution": "CustomSync"})
	calls := rc.all()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1 (the bypassed create calls nothing)", len(calls))
	}
	ec := calls[0].ctx
	if ec.SharedString("tag") != "dg-override:abc" {
		t.Fatalf("tag shared variable = %q", ec.SharedString("tag"))
	}
	if ec.UserID != SampleUserID || ec.InitiatingUserID != SampleUserID || ec.UserAADObjectID != SampleUserAADID {
		t.Fatalf("impersonation: user %s initiating %s", ec.UserID, ec.InitiatingUserID)
	}
	var rows []map[string]any
	_ = e.client.List(context.Background(), "contact", dataverse.Query{Select: []string{"_createdby_value", "_createdonbehalfby_value"},
		Filter: dataverse.Eq("lastname", "Tagged")}, func(r []map[string]any) error { rows = r; return nil })
	if len(rows) != 1 || rows[0]["_createdby_value"] != SampleUserID || rows[0]["_createdonbehalfby_value"] != AppUserID {
		t.Fatalf("created by: %v", rows)
	}
	if res, _ := e.do("POST", "contacts", map[string]any{"lastname": "x"}, map[string]string{"CallerObjectId": "99999999-9999-4999-8999-999999999999"}); res.StatusCode != 404 {
		t.Fatalf("unknown caller object id: %d", res.StatusCode)
	}
}

func TestAuthTypesAndClientID(t *testing.T) {
	e := newEnv(t, Config{})
	rcKey := newReceiver(t, nil)
	rcQS := newReceiver(t, nil)
	e.register(rcKey.srv.URL+"/hook?x=1", 4, "the-function-key", stepSpec{table: "account", message: "Create", stage: 10, mode: 0})
	e.register(rcQS.srv.URL, 6, headerAuth("secret", "q s&amp;v"), stepSpec{table: "account", message: "Create", stage: 10, mode: 0})
	id := "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
	if res, _ := e.do("POST", "accounts", map[string]any{"name": "Keyed", "accountid": id}, nil); res.StatusCode != 204 {
		t.Fatalf("create: %d", res.StatusCode)
	}
	k := rcKey.all()[0]
	if k.query.Get("code") != "the-function-key" || k.query.Get("x") != "1" {
		t.Fatalf("webhook key query: %v", k.query)
	}
	if q := rcQS.all()[0]; q.query.Get("secret") != "q s&v" {
		t.Fatalf("query string auth: %v", q.query)
	}
	if k.ctx.PrimaryEntityID != id || k.ctx.Target().ID != id {
		t.Fatalf("client-supplied id not in PreValidation context: %s", k.ctx.PrimaryEntityID)
	}
}

func TestInvalidAuthValueFails(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, nil)
	e.register(rc.srv.URL, 5, "Authorization: Basic abc", stepSpec{table: "account", message: "Create", stage: 10, mode: 0})
	res, out := e.do("POST", "accounts", map[string]any{"name": "x"}, nil)
	if res.StatusCode != 400 || !strings.Contains(out["error"].(map[string]any)["message"].(string), "invalid http headers in authValue") || len(rc.all()) != 0 {
		t.Fatalf("bad authvalue: %d %v", res.StatusCode, out)
	}
}

func TestPayloadOver256KB(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, nil)
	e.register(rc.srv.URL, 5, headerAuth("x-k", "v"), stepSpec{table: "contact", message: "Create", stage: 10, mode: 0})
	big := strings.Repeat("x", 300*1024)
	if res, _ := e.do("POST", "contacts", map[string]any{"lastname": "Big", "description": big}, nil); res.StatusCode != 204 {
		t.Fatalf("create: %d", res.StatusCode)
	}
	c := rc.all()[0]
	if c.header.Get("x-ms-dynamics-msg-size-exceeded") == "" || c.ctx.HasInputParameters || c.ctx.Target() != nil || len(c.body) > 256*1024 {
		t.Fatalf("oversized payload not stripped: header %q, %d bytes", c.header.Get("x-ms-dynamics-msg-size-exceeded"), len(c.body))
	}
	if c.ctx.PrimaryEntityName != "contact" || c.ctx.MessageName != "Create" {
		t.Fatalf("stripped payload lost its identity: %+v", c.ctx)
	}
}

func TestRegistrationValidation(t *testing.T) {
	e := newEnv(t, Config{})
	ep, steps := e.register("http://127.0.0.1:1/x", 5, headerAuth("a", "b"),
		stepSpec{table: "contact", message: "Create", stage: 10, mode: 0})
	msg := messageIDs["Create"]
	base := map[string]any{"name": "bad", "rank": 1, "eventhandler_serviceendpoint@odata.bind": "/serviceendpoints(" + ep + ")",
		"sdkmessageid@odata.bind": "/sdkmessages(" + msg + ")"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	for name, body := range map[string]map[string]any{
		"async at PreOperation": with("stage", 20),
		"stage 30":              with("stage", 30),
		"statecode on create":   with("statecode", 0),
	} {
		if name == "async at PreOperation" {
			body["mode"] = 1
		} else {
			body["mode"] = 0
			if body["stage"] == nil {
				body["stage"] = 10
			}
		}
		if res, out := e.do("POST", "sdkmessageprocessingsteps", body, nil); res.StatusCode != 400 {
			t.Errorf("%s: %d %v", name, res.StatusCode, out)
		}
	}
	img := func(typ int, prop string) map[string]any {
		return map[string]any{"name": "i", "entityalias": "img", "imagetype": typ, "messagepropertyname": prop,
			"sdkmessageprocessingstepid@odata.bind": "/sdkmessageprocessingsteps(" + steps[0] + ")"}
	}
	if res, _ := e.do("POST", "sdkmessageprocessingstepimages", img(0, "Id"), nil); res.StatusCode != 400 {
		t.Errorf("pre-image on Create: %d", res.StatusCode)
	}
	if res, out := e.do("POST", "sdkmessageprocessingstepimages", img(1, "Target"), nil); res.StatusCode != 400 ||
		out["error"].(map[string]any)["code"] != "0x8004416b" {
		t.Errorf("Target on Create: %d %v", res.StatusCode, out)
	}
	if res, _ := e.do("POST", "sdkmessageprocessingstepimages", img(1, "Id"), nil); res.StatusCode != 400 {
		t.Errorf("post-image at PreValidation: %d", res.StatusCode)
	}
	// An endpoint with steps cannot be deleted; deleting the step first (which removes its
	// images) makes it deletable.
	if res, _ := e.do("DELETE", "serviceendpoints("+ep+")", nil, nil); res.StatusCode != 400 {
		t.Errorf("delete endpoint in use: %d", res.StatusCode)
	}
	e.do("DELETE", "sdkmessageprocessingsteps("+steps[0]+")", nil, nil)
	if res, _ := e.do("DELETE", "serviceendpoints("+ep+")", nil, nil); res.StatusCode != 204 {
		t.Errorf("delete unused endpoint: %d", res.StatusCode)
	}
	// authvalue is write-only.
	_, out := e.do("GET", "serviceendpoints", nil, nil)
	for _, r := range out["value"].([]any) {
		if _, ok := r.(map[string]any)["authvalue"]; ok {
			t.Fatal("authvalue is readable")
		}
	}
}

// Update steps with filtering attributes and a pre-image at PreValidation; a disabled step
// does not run.
func TestUpdateFilteringAndDisabledStep(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t, nil)
	_, steps := e.register(rc.srv.URL, 5, headerAuth("x-k", "v"), stepSpec{table: "contact", message: "Update", stage: 10, mode: 0,
		filtering: "emailaddress1,lastname",
		images:    []map[string]any{{"imagetype": 0, "entityalias": "PreImage", "attributes": "emailaddress1,lastname,firstname", "messagepropertyname": "Target"}}})
	id, err := e.emu.Insert("contact", map[string]any{"firstname": "Di", "lastname": "Before", "emailaddress1": "di@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e.do("PATCH", "contacts("+id+")", map[string]any{"jobtitle": "x"}, nil)
	e.do("PATCH", "contacts("+id+")", map[string]any{"lastname": "After"}, nil)
	calls := rc.all()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	ec := calls[0].ctx
	full := dataverse.Merge(ec.PreImage(), ec.Target()).StringAttrs()
	if full["lastname"] != "After" || full["emailaddress1"] != "di@example.com" || full["firstname"] != "Di" || ec.PrimaryEntityID != id {
		t.Fatalf("pre-image merged with target: %v", full)
	}
	// Disable the step (statecode 1 / statuscode 2): it no longer runs.
	if res, out := e.do("PATCH", "sdkmessageprocessingsteps("+steps[0]+")", map[string]any{"statecode": 1, "statuscode": 2}, nil); res.StatusCode != 204 {
		t.Fatalf("disable: %d %v", res.StatusCode, out)
	}
	e.do("PATCH", "contacts("+id+")", map[string]any{"lastname": "Again"}, nil)
	if len(rc.all()) != 1 {
		t.Fatal("a disabled step ran")
	}
}
