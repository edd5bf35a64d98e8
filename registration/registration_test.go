package registration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/dataverse/emulator"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

const tok = "registration-test-token"

func setup(t *testing.T) (*emulator.Emulator, *dataverse.Client) {
	t.Helper()
	emu, err := emulator.New(emulator.Config{Token: tok})
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
	c, err := dataverse.New(context.Background(), config.Dataverse{URL: srv.URL, Auth: config.DataverseAuth{Method: "static_token", Token: tok}})
	if err != nil {
		t.Fatal(err)
	}
	return emu, c
}

func rule(t *testing.T, name, table, cand string, attrs ...string) *rules.Rule {
	t.Helper()
	var fields []matcher.FieldSpec
	for i, a := range attrs {
		fields = append(fields, matcher.FieldSpec{Attr: a, Comparator: "exact", Weight: 1, Blocking: i == 0, Strong: i == 0})
	}
	m, err := matcher.Compile(matcher.RuleSpec{Name: name, Entity: table, CandidateEntity: cand, Fields: fields}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cand == "" {
		cand = table
	}
	return &rules.Rule{Name: name, Entity: table, CandidateEntity: cand, Matcher: m, BlockThreshold: 0.9, WarnThreshold: 0.5, Action: rules.ActionBlock}
}

func defaultSet(t *testing.T) *rules.Set {
	return rules.NewSet([]*rules.Rule{
		rule(t, "contact-dup", "contact", "", "emailaddress1", "lastname", "firstname"),
		rule(t, "lead-is-contact", "lead", "contact", "emailaddress1", "lastname"),
		rule(t, "account-dup", "account", "", "name", "telephone1"),
	})
}

func options(url string) Options {
	return Options{WebhookURL: url, Auth: Auth{Type: "header", Name: "x-dedupegate-secret", Secret: `s3cret"<&>-value`}}
}

func count(t *testing.T, c *dataverse.Client, table string, q dataverse.Query) int {
	t.Helper()
	n := 0
	if err := c.List(context.Background(), table, q, func(rows []map[string]any) error { n += len(rows); return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func byAction(rep *Report, kind string) map[string]int {
	out := map[string]int{}
	for _, ch := range rep.Changes {
		if ch.Kind == kind {
			out[ch.Action]++
		}
	}
	return out
}

func TestDesired(t *testing.T) {
	p, err := Desired(defaultSet(t), options("https://gw.example.com/webhooks/dataverse"))
	if err != nil {
		t.Fatal(err)
	}
	// Checked tables: account, contact, lead (2 sync steps each); candidate tables: account,
	// contact (3 async steps each).
	if len(p.Steps) != 12 {
		t.Fatalf("%d steps, want 12", len(p.Steps))
	}
	got := map[string]StepSpec{}
	for _, s := range p.Steps {
		got[s.Name] = s
	}
	up := got["dedupegate: Update of lead (PreValidation, sync)"]
	if strings.Join(up.FilteringAttributes, ",") != "emailaddress1,lastname" || len(up.Images) != 1 || up.Images[0].Type != 0 ||
		up.Images[0].MessageProperty != "Target" || up.Mode != 0 || up.Stage != 10 {
		t.Fatalf("lead update step: %+v", up)
	}
	cr := got["dedupegate: Create of contact (PostOperation, async)"]
	if cr.Mode != 1 || cr.Stage != 40 || cr.Images[0].MessageProperty != "Id" || cr.Images[0].Type != 1 ||
		strings.Join(cr.Images[0].Attributes, ",") != "emailaddress1,firstname,lastname" {
		t.Fatalf("contact async create: %+v", cr)
	}
	if _, ok := got["dedupegate: Create of lead (PostOperation, async)"]; ok {
		t.Fatal("lead is not a candidate table: no index upkeep steps")
	}
	if !strings.Contains(p.Endpoint.authValue, `value="s3cret&#34;&lt;&amp;&gt;-value"`) || p.Endpoint.AuthType != 5 {
		t.Fatalf("auth value not XML-escaped: %s", p.Endpoint.authValue)
	}
	for _, bad := range []Options{{WebhookURL: "gw/x", Auth: Auth{Secret: "x"}}, {WebhookURL: "https://a/b?code=1", Auth: Auth{Secret: "x"}},
		{WebhookURL: "https://a/b"}, {WebhookURL: "https://a/b", Auth: Auth{Type: "basic", Secret: "x"}}, {Prefix: "a:b", WebhookURL: "https://a", Auth: Auth{Secret: "x"}}} {
		if _, err := Desired(defaultSet(t), bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestRegisterIdempotentAndUnregister(t *testing.T) {
	emu, c := setup(t)
	ctx := context.Background()
	p, err := Desired(defaultSet(t), options("http://127.0.0.1:9/webhooks/dataverse"))
	if err != nil {
		t.Fatal(err)
	}

	// Dry run: a full plan, nothing written.
	rep, err := Register(ctx, c, p, true)
	if err != nil {
		t.Fatal(err)
	}
	if a := byAction(rep, "step"); a["create"] != 12 || rep.Applied {
		t.Fatalf("dry run plan: %v", a)
	}
	if emu.Count("serviceendpoint")+emu.Count("sdkmessageprocessingstep")+emu.Count("sdkmessageprocessingstepimage") != 0 {
		t.Fatal("dry run wrote something")
	}

	if _, err := Register(ctx, c, p, false); err != nil {
		t.Fatal(err)
	}
	steps, images := emu.Count("sdkmessageprocessingstep"), emu.Count("sdkmessageprocessingstepimage")
	if emu.Count("serviceendpoint") != 1 || steps != 12 || images != 3+2*(1+2+1) {
		t.Fatalf("after register: %d endpoints, %d steps, %d images", emu.Count("serviceendpoint"), steps, images)
	}

	// Twice: no step or image is created or deleted; only the secret is re-applied.
	rep, err = Register(ctx, c, p, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Drift()) != 0 || emu.Count("sdkmessageprocessingstep") != steps || emu.Count("sdkmessageprocessingstepimage") != images || emu.Count("serviceendpoint") != 1 {
		t.Fatalf("second register changed things: %v", rep.Changes)
	}
	st, _, err := Status(ctx, c, p)
	if err != nil || len(st.Drift()) != 0 {
		t.Fatalf("status after register: %v %v", st.Drift(), err)
	}

	// Unregister dry run removes nothing; unregister removes everything.
	if _, err := Unregister(ctx, c, "", true); err != nil || emu.Count("sdkmessageprocessingstep") != steps {
		t.Fatalf("unregister dry run: %v", err)
	}
	rep, err = Unregister(ctx, c, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if n := emu.Count("serviceendpoint") + emu.Count("sdkmessageprocessingstep") + emu.Count("sdkmessageprocessingstepimage"); n != 0 || len(rep.Changes) != 13 {
		t.Fatalf("after unregister: %d rows left, %d changes", n, len(rep.Changes))
	}
}

func TestStatusFlagsDriftAndRegisterRepairs(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	p, _ := Desired(defaultSet(t), options("http://127.0.0.1:9/webhooks/dataverse"))
	if _, err := Register(ctx, c, p, false); err != nil {
		t.Fatal(err)
	}
	cur, err := Read(ctx, c, DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	find := func(name string) CurrentStep {
		for _, s := range cur.Steps {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no step %s", name)
		return CurrentStep{}
	}
	upd := find("dedupegate: Update of contact (PreValidation, sync)")
	if err := c.Update(ctx, "sdkmessageprocessingstep", upd.ID, map[string]any{"filteringattributes": "emailaddress1"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, "sdkmessageprocessingstep", find("dedupegate: Create of account (PreValidation, sync)").ID, map[string]any{"statecode": 1, "statuscode": 2}); err != nil {
		t.Fatal(err)
	}
	gone := find("dedupegate: Delete of contact (PostOperation, async)")
	if err := c.Delete(ctx, "sdkmessageprocessingstep", gone.ID); err != nil {
		t.Fatal(err)
	}
	post := find("dedupegate: Create of contact (PostOperation, async)")
	if err := c.Update(ctx, "sdkmessageprocessingstepimage", post.Images[0].ID, map[string]any{"attributes": "emailaddress1"}); err != nil {
		t.Fatal(err)
	}
	// An extra step with the prefix (left from an older rule set) and a foreign step on the
	// endpoint (someone else's).
	filter := ""
	_ = c.List(ctx, "sdkmessagefilter", dataverse.Query{Select: []string{"sdkmessagefilterid"},
		Filter: dataverse.And(dataverse.Eq("primaryobjecttypecode", "lead"), dataverse.Eq("sdkmessageid/name", "Delete"))},
		func(r []map[string]any) error { filter = r[0]["sdkmessagefilterid"].(string); return nil })
	msg := ""
	_ = c.List(ctx, "sdkmessage", dataverse.Query{Select: []string{"sdkmessageid"}, Filter: dataverse.Eq("name", "Delete")},
		func(r []map[string]any) error { msg = r[0]["sdkmessageid"].(string); return nil })
	for _, name := range []string{"dedupegate: Delete of lead (PostOperation, async)", "someone else's step"} {
		if _, err := c.Create(ctx, "sdkmessageprocessingstep", map[string]any{"name": name, "stage": 40, "mode": 1, "rank": 1,
			"eventhandler_serviceendpoint@odata.bind": "/serviceendpoints(" + cur.Endpoint.ID + ")",
			"sdkmessageid@odata.bind":                 "/sdkmessages(" + msg + ")", "sdkmessagefilterid@odata.bind": "/sdkmessagefilters(" + filter + ")"}); err != nil {
			t.Fatal(err)
		}
	}

	st, _, err := Status(ctx, c, p)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, d := range st.Drift() {
		lines = append(lines, d.String())
	}
	report := strings.Join(lines, "\n")
	for _, want := range []string{
		"update   step     dedupegate: Update of contact (PreValidation, sync): filtering attributes [emailaddress1] → [emailaddress1,firstname,lastname]",
		"update   step     dedupegate: Create of account (PreValidation, sync): disabled → enabled",
		"create   step     dedupegate: Delete of contact (PostOperation, async)",
		"update   image    dedupegate: Create of contact (PostOperation, async) / PostImage: attributes [emailaddress1] → [emailaddress1,firstname,lastname]",
		"delete   step     dedupegate: Delete of lead (PostOperation, async): not needed by the rules",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("status misses %q\n%s", want, report)
		}
	}
	if len(st.Drift()) != 5 || len(st.Foreign) != 1 || st.Foreign[0] != "someone else's step" {
		t.Fatalf("drift %d (want 5), foreign %v\n%s", len(st.Drift()), st.Foreign, report)
	}

	if _, err := Register(ctx, c, p, false); err != nil {
		t.Fatal(err)
	}
	st, _, err = Status(ctx, c, p)
	if err != nil || len(st.Drift()) != 0 {
		t.Fatalf("drift after repair: %v %v", st.Drift(), err)
	}
	// The foreign step keeps the endpoint: unregister removes our steps and says so.
	rep, err := Unregister(ctx, c, "", false)
	if err != nil || len(rep.Foreign) != 1 {
		t.Fatalf("unregister with a foreign step: %v %v", rep, err)
	}
	if n := count(t, c, "sdkmessageprocessingstep", dataverse.Query{Filter: dataverse.StartsWith("name", "dedupegate: ")}); n != 0 {
		t.Fatalf("%d of our steps left", n)
	}
	if n := count(t, c, "serviceendpoint", dataverse.Query{}); n != 1 {
		t.Fatalf("the endpoint in use by a foreign step was deleted (%d left)", n)
	}
}

func TestRulesChangeMovesSteps(t *testing.T) {
	emu, c := setup(t)
	ctx := context.Background()
	p, _ := Desired(defaultSet(t), options("http://127.0.0.1:9/webhooks/dataverse"))
	if _, err := Register(ctx, c, p, false); err != nil {
		t.Fatal(err)
	}
	smaller := rules.NewSet([]*rules.Rule{rule(t, "contact-dup", "contact", "", "emailaddress1", "telephone1")})
	p2, _ := Desired(smaller, options("http://127.0.0.1:9/webhooks/dataverse"))
	rep, err := Register(ctx, c, p2, false)
	if err != nil {
		t.Fatal(err)
	}
	if a := byAction(rep, "step"); a["delete"] != 7 || emu.Count("sdkmessageprocessingstep") != 5 {
		t.Fatalf("after narrowing the rules: %v, %d steps", a, emu.Count("sdkmessageprocessingstep"))
	}
	// Unknown table: a clear error, nothing half-written.
	bad := rules.NewSet([]*rules.Rule{rule(t, "x", "new_nosuchtable", "", "new_code")})
	p3, _ := Desired(bad, options("http://127.0.0.1:9/webhooks/dataverse"))
	if _, err := Register(ctx, c, p3, false); err == nil || !strings.Contains(err.Error(), "new_nosuchtable") {
		t.Fatalf("unknown table: %v", err)
	}
	if emu.Count("sdkmessageprocessingstep") != 5 {
		t.Fatal("a failed registration changed the steps")
	}
}

// TestRegisteredStepsDeliver: the registration works in the pipeline — a create and an update
// of a contact reach the webhook with the secret header, the update with its pre-image.
func TestRegisteredStepsDeliver(t *testing.T) {
	emu, c := setup(t)
	ctx := context.Background()
	var mu sync.Mutex
	var got []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-dedupegate-secret") != `s3cret"<&>-value` {
			w.WriteHeader(401)
			return
		}
		b, _ := io.ReadAll(r.Body)
		ec, err := dataverse.DecodeContext(b)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		got = append(got, map[string]any{"msg": ec.MessageName, "stage": ec.Stage, "pre": ec.PreImage(), "post": ec.PostImage()})
		mu.Unlock()
	}))
	defer hook.Close()
	p, _ := Desired(defaultSet(t), options(hook.URL+"/webhooks/dataverse"))
	if _, err := Register(ctx, c, p, false); err != nil {
		t.Fatal(err)
	}
	id, err := c.Create(ctx, "contact", map[string]any{"firstname": "Reg", "lastname": "Istered", "emailaddress1": "reg@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, "contact", id, map[string]any{"lastname": "Changed"}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := emu.WaitIdle(wctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]bool{}
	for _, g := range got {
		k, _ := json.Marshal([]any{g["msg"], g["stage"]})
		seen[string(k)] = true
		if g["msg"] == "Update" && g["stage"] == 10 {
			pre := g["pre"].(*dataverse.Entity)
			if pre == nil || pre.Attributes["emailaddress1"] != "reg@example.com" || pre.Attributes["lastname"] != "Istered" {
				t.Errorf("PreValidation update pre-image: %+v", pre)
			}
		}
	}
	for _, want := range []string{`["Create",10]`, `["Create",40]`, `["Update",10]`, `["Update",40]`} {
		if !seen[want] {
			t.Errorf("no %s call (got %v)", want, seen)
		}
	}
}
