package main

// End-to-end tests of the notify, merge and review actions (issue 9): a Dataverse emulator and
// the gateway on loopback, the webhook steps registered in the emulator, records created by an
// application user through the emulated Web API, and the Dataverse state checked afterwards.
// The review item is dismissed with the real `dedupegate review` command.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/dedupegate/dedupegate/actions"
	"github.com/dedupegate/dedupegate/audit"
	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/dataverse/emulator"
	"github.com/dedupegate/dedupegate/gateway"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

const (
	e2eToken  = "e2e-token-0123456789abcdef"
	e2eSecret = "e2e-webhook-secret-0123456789"
)

// actionsEnv is an emulator and a gateway wired together.
type actionsEnv struct {
	t       *testing.T
	emu     *emulator.Emulator
	emuURL  string
	gw      *gateway.Gateway
	client  *dataverse.Client
	cfgPath string
	dir     string
	// others are more gateway instances whose follow-ups settle waits for too.
	others []*gateway.Gateway
}

// e2eRules is one contact rule: a pair scoring ≥ 0.9 fires the rule's action; the action for
// application users (the integration entry point) is the one under test; merges need 0.95.
func e2eRules(t *testing.T, integration rules.Action) *rules.Set {
	t.Helper()
	lex, err := matcher.LoadLexicon(matcher.LexiconFiles{NoDefaultFiles: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := matcher.Compile(matcher.RuleSpec{Name: "contact-email-name", Entity: "contact", Fields: []matcher.FieldSpec{
		{Attr: "emailaddress1", Comparator: "email", Weight: 0.5, Blocking: true},
		{Attr: "firstname", Comparator: "firstname", Weight: 0.25},
		{Attr: "lastname", Comparator: "lastname", Weight: 0.25, Blocking: true},
	}}, lex)
	if err != nil {
		t.Fatal(err)
	}
	return rules.NewSet([]*rules.Rule{{
		Name: "contact-email-name", Entity: "contact", CandidateEntity: "contact", Matcher: m,
		BlockThreshold: 0.9, WarnThreshold: 0.7, MergeThreshold: 0.95,
		Action: rules.ActionBlock, ActionsByEntry: map[string]rules.Action{rules.EntryIntegration: integration},
	}})
}

// newActionsEnv starts the emulator and the gateway. extra is YAML appended to the actions
// section of the gateway config.
func newActionsEnv(t *testing.T, set *rules.Set, extra string, emuOpts ...func(*emulator.Config)) *actionsEnv {
	t.Helper()
	e := startEmulator(t, emuOpts...)
	gw, url, cfgPath := e.startGateway(set, "", extra)
	e.gw, e.cfgPath = gw, cfgPath
	e.registerSteps(url, url)
	return e
}

// startEmulator starts the emulator on loopback with a client for the test's own calls (as
// the application user).
func startEmulator(t *testing.T, emuOpts ...func(*emulator.Config)) *actionsEnv {
	t.Helper()
	ecfg := emulator.Config{Token: e2eToken, Tables: []emulator.Table{emulator.DefaultTable("dg_duplicatereview")}}
	for _, o := range emuOpts {
		o(&ecfg)
	}
	emu, err := emulator.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	emuSrv := httptest.NewServer(emu)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = emu.Close(cctx)
		emuSrv.Close()
	})
	client, err := dataverse.New(context.Background(), config.Dataverse{URL: emuSrv.URL, Timeout: config.Duration(5 * time.Second),
		Auth: config.DataverseAuth{Method: "static_token", Token: e2eToken}})
	if err != nil {
		t.Fatal(err)
	}
	return &actionsEnv{t: t, emu: emu, client: client, dir: t.TempDir(), emuURL: emuSrv.URL}
}

// startGateway writes a config (top is YAML added at the top level, extra inside actions:),
// starts a gateway on loopback and returns it with its webhook URL and config path.
func (e *actionsEnv) startGateway(set *rules.Set, top, extra string) (*gateway.Gateway, string, string) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	cfgYAML := fmt.Sprintf(`listen: 127.0.0.1:0
log: {level: warn}
webhook:
  auth:
    secrets: [%s]
  application_users: [%s]
dataverse:
  url: %s
  auth: {method: static_token, token: %s}
  timeout: 5s
%s
actions:
  exceptions:
    file: exceptions.json
    refresh: 100ms
  retry:
    attempts: 3
    initial_backoff: 10ms
    max_backoff: 50ms
%s`, e2eSecret, emulator.AppUserID, e.emuURL, e2eToken, top, extra)
	cfgPath := filepath.Join(e.dir, fmt.Sprintf("dedupegate-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	// The gateway's Dataverse client gives up sooner than the default so that retries and
	// failures show within a test's time.
	gwClient, err := dataverse.New(ctx, cfg.Dataverse, dataverse.WithRetry(dataverse.RetryPolicy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), gateway.WithRules(set), gateway.WithRowReader(gwClient))
	if err != nil {
		t.Fatal(err)
	}
	gwSrv := httptest.NewServer(gw.Echo)
	t.Cleanup(func() {
		gwSrv.Close()
		_ = gw.Close()
	})
	return gw, gwSrv.URL + cfg.Webhook.Path, cfgPath
}

// registerSteps registers the gateway's webhook steps for contact as dedupegate register does:
// synchronous PreValidation Create and Update (with a pre-image), asynchronous PostOperation
// Create, Update and Delete. (The registration package is another issue's; these are the rows
// it writes.)
func (e *actionsEnv) registerSteps(syncURL, asyncURL string) {
	e.t.Helper()
	ctx := context.Background()
	endpoint := func(url string) string {
		ep, err := e.client.Create(ctx, "serviceendpoint", map[string]any{
			"name": "dedupegate " + url, "url": url, "contract": 8, "authtype": 5, "messageformat": 2, "connectionmode": 1,
			"authvalue": `<settings><setting name="x-dedupegate-secret" value="` + e2eSecret + `" /></settings>`,
		})
		if err != nil {
			e.t.Fatalf("service endpoint: %v", err)
		}
		return ep
	}
	syncEP := endpoint(syncURL)
	asyncEP := syncEP
	if asyncURL != syncURL {
		asyncEP = endpoint(asyncURL)
	}
	steps := []struct {
		message     string
		stage, mode int
		images      []map[string]any
	}{
		{"Create", 10, 0, nil},
		{"Update", 10, 0, []map[string]any{{"imagetype": 0, "entityalias": "pre", "messagepropertyname": "Target"}}},
		{"Create", 40, 1, []map[string]any{{"imagetype": 1, "entityalias": "post", "messagepropertyname": "Id"}}},
		{"Update", 40, 1, []map[string]any{{"imagetype": 2, "entityalias": "both", "messagepropertyname": "Target"}}},
		{"Delete", 40, 1, []map[string]any{{"imagetype": 0, "entityalias": "pre", "messagepropertyname": "Target"}}},
	}
	for _, s := range steps {
		var msgID, filterID string
		if err := e.client.List(ctx, "sdkmessage", dataverse.Query{Select: []string{"sdkmessageid"}, Filter: dataverse.Eq("name", s.message)},
			func(rows []map[string]any) error { msgID = rows[0]["sdkmessageid"].(string); return nil }); err != nil {
			e.t.Fatal(err)
		}
		if err := e.client.List(ctx, "sdkmessagefilter", dataverse.Query{Select: []string{"sdkmessagefilterid"},
			Filter: dataverse.And(dataverse.Eq("primaryobjecttypecode", "contact"), dataverse.Eq("sdkmessageid/name", s.message))},
			func(rows []map[string]any) error { filterID = rows[0]["sdkmessagefilterid"].(string); return nil }); err != nil {
			e.t.Fatal(err)
		}
		ep := syncEP
		if s.mode == 1 {
			ep = asyncEP
		}
		id, err := e.client.Create(ctx, "sdkmessageprocessingstep", map[string]any{
			"name": fmt.Sprintf("dedupegate: %s of contact (stage %d)", s.message, s.stage), "stage": s.stage, "mode": s.mode,
			"rank": 1, "supporteddeployment": 0, "asyncautodelete": false,
			"eventhandler_serviceendpoint@odata.bind": "/serviceendpoints(" + ep + ")",
			"sdkmessageid@odata.bind":                 "/sdkmessages(" + msgID + ")",
			"sdkmessagefilterid@odata.bind":           "/sdkmessagefilters(" + filterID + ")",
		})
		if err != nil {
			e.t.Fatalf("step: %v", err)
		}
		for i, img := range s.images {
			img["name"] = fmt.Sprintf("image %d", i)
			img["sdkmessageprocessingstepid@odata.bind"] = "/sdkmessageprocessingsteps(" + id + ")"
			if _, err := e.client.Create(ctx, "sdkmessageprocessingstepimage", img); err != nil {
				e.t.Fatalf("image: %v", err)
			}
		}
	}
}

// settle waits until the emulator has delivered every asynchronous step and the gateway has
// run every follow-up.
func (e *actionsEnv) settle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if err := e.emu.WaitIdle(ctx); err != nil {
			e.t.Fatalf("emulator not idle: %v", err)
		}
		if e.idle() {
			// A follow-up's own writes may have queued asynchronous steps: check again.
			time.Sleep(20 * time.Millisecond)
			if e.idle() && e.emu.WaitIdle(ctx) == nil && e.idle() {
				return
			}
		}
		select {
		case <-ctx.Done():
			e.t.Fatal("follow-ups still running")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (e *actionsEnv) idle() bool {
	for _, g := range append([]*gateway.Gateway{e.gw}, e.others...) {
		if !g.Actions.Idle() {
			return false
		}
	}
	return true
}

// create creates a contact as the application user and waits for everything it triggers.
func (e *actionsEnv) create(attrs map[string]any) (string, error) {
	e.t.Helper()
	id, err := e.client.Create(context.Background(), "contact", attrs)
	e.settle()
	return id, err
}

// rows lists a table's rows matching filter.
func (e *actionsEnv) rows(table, filter string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	if err := e.client.List(context.Background(), table, dataverse.Query{Filter: filter}, func(rs []map[string]any) error {
		out = append(out, rs...)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// review runs the review command.
func (e *actionsEnv) review(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"review"}, append(args, "--config", e.cfgPath)...), &out, &errb)
	return code, out.String(), errb.String()
}

func num(v any) string { return fmt.Sprint(v) }

var jane = map[string]any{"firstname": "Jane", "lastname": "Doe", "emailaddress1": "jane.doe@example.com"}

func withAttrs(base map[string]any, more map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func TestActionBlockLeavesNoRow(t *testing.T) {
	e := newActionsEnv(t, e2eRules(t, rules.ActionBlock), "")
	if _, err := e.create(jane); err != nil {
		t.Fatalf("first save: %v", err)
	}
	_, err := e.create(withAttrs(jane, map[string]any{"telephone1": "+44 20 7946 0000"}))
	var de *dataverse.Error
	if !errors.As(err, &de) || de.StatusCode < 400 || de.StatusCode >= 500 {
		t.Fatalf("duplicate save: err = %v, want a 4xx", err)
	}
	if n := e.emu.Count("contact"); n != 1 {
		t.Fatalf("%d contacts, want 1 (the duplicate was saved)", n)
	}
	if n := e.emu.Count("task") + e.emu.Count("appnotification"); n != 0 {
		t.Fatalf("a blocked save left %d follow-up rows", n)
	}
}

func TestActionNotifyAlertsTheOwnerAndTheTeam(t *testing.T) {
	// The config notifies a team too (its id fixed, since the config is written before the
	// emulator has rows); its one member is a second user.
	const teamID = "0a1b2c3d-0000-4000-8000-0000000000e1"
	const memberID = "0a1b2c3d-0000-4000-8000-0000000000e2"
	e := newActionsEnv(t, e2eRules(t, rules.ActionNotify), "  notify:\n    teams: ["+teamID+"]\n")
	_, err := e.emu.Insert("systemuser", map[string]any{"systemuserid": memberID, "fullname": "Tess Team", "isdisabled": false})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = e.emu.Insert("team", map[string]any{"teamid": teamID, "name": "Data stewards"}); err != nil {
		t.Fatal(err)
	}
	if _, err = e.emu.Insert("teammembership", map[string]any{"teamid": teamID, "systemuserid": memberID}); err != nil {
		t.Fatal(err)
	}
	existing, err := e.create(withAttrs(jane, map[string]any{"ownerid@odata.bind": "/systemusers(" + emulator.SampleUserID + ")"}))
	if err != nil {
		t.Fatal(err)
	}
	if n := e.emu.Count("appnotification"); n != 0 {
		t.Fatalf("a unique save sent %d notifications", n)
	}
	dup, err := e.create(withAttrs(jane, map[string]any{"firstname": "Jane", "telephone1": "+44 20 7946 0000"}))
	if err != nil {
		t.Fatalf("notify must let the duplicate through: %v", err)
	}
	if n := e.emu.Count("contact"); n != 2 {
		t.Fatalf("%d contacts, want 2", n)
	}
	notes := e.rows("appnotification", "")
	owners := map[string]map[string]any{}
	for _, n := range notes {
		owners[n["_ownerid_value"].(string)] = n
	}
	if len(notes) != 2 || owners[emulator.SampleUserID] == nil || owners[memberID] == nil {
		t.Fatalf("notifications = %v, want one for the record owner and one for the team member", notes)
	}
	n := owners[emulator.SampleUserID]
	if !strings.Contains(n["title"].(string), "Possible duplicate contact") || !strings.Contains(n["body"].(string), "contact-email-name") ||
		num(n["icontype"]) != "100000003" || num(n["toasttype"]) != "200000000" || num(n["ttlinseconds"]) != "1209600" {
		t.Fatalf("notification = %v", n)
	}
	var data struct {
		Actions []struct {
			Title string `json:"title"`
			Data  struct {
				URL string `json:"url"`
			} `json:"data"`
		} `json:"actions"`
	}
	if err := json.Unmarshal([]byte(n["data"].(string)), &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Actions) != 2 || data.Actions[0].Data.URL != "?pagetype=entityrecord&etn=contact&id="+existing ||
		data.Actions[1].Data.URL != "?pagetype=entityrecord&etn=contact&id="+dup {
		t.Fatalf("notification links = %+v", data.Actions)
	}
	m := metricsCount(t, e, "notify", "done")
	if m != 1 {
		t.Fatalf("followups_total{notify,done} = %v", m)
	}
}

func metricsCount(t *testing.T, e *actionsEnv, action, status string) float64 {
	t.Helper()
	return gatewayCount(t, e.gw, action, status)
}

// gatewayCount reads dedupegate_followups_total{action,status} of one gateway.
func gatewayCount(t *testing.T, g *gateway.Gateway, action, status string) float64 {
	t.Helper()
	n, err := testutil.GatherAndCount(g.Metrics.Registry, "dedupegate_followups_total")
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		return 0
	}
	mfs, err := g.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "dedupegate_followups_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["action"] == action && labels["status"] == status {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestActionMergeKeepsOneRecord(t *testing.T) {
	e := newActionsEnv(t, e2eRules(t, rules.ActionMerge), `  merge:
    precedence: fill_blanks
    columns:
      contact: [firstname, lastname, emailaddress1, telephone1, jobtitle]
`)
	existing, err := e.create(withAttrs(jane, map[string]any{"jobtitle": "Buyer"}))
	if err != nil {
		t.Fatal(err)
	}
	dup, err := e.create(withAttrs(jane, map[string]any{"telephone1": "+44 20 7946 0000", "jobtitle": "Head buyer", "lastname": "Doe"}))
	if err != nil {
		t.Fatalf("merge must let the duplicate through: %v", err)
	}
	ctx := context.Background()
	survivor, err := e.client.Get(ctx, "contact", existing, nil)
	if err != nil {
		t.Fatal(err)
	}
	// fill_blanks: the survivor keeps its values and gains the new record's telephone.
	if survivor["telephone1"] != "+44 20 7946 0000" || survivor["jobtitle"] != "Buyer" || survivor["emailaddress1"] != "jane.doe@example.com" ||
		num(survivor["statecode"]) != "0" {
		t.Fatalf("survivor = %v", survivor)
	}
	merged, err := e.client.Get(ctx, "contact", dup, nil)
	if err != nil {
		t.Fatal(err)
	}
	if num(merged["statecode"]) != "1" || num(merged["statuscode"]) != "2" || merged["_masterid_value"] != existing {
		t.Fatalf("merged record: statecode %v statuscode %v masterid %v", merged["statecode"], merged["statuscode"], merged["_masterid_value"])
	}
	active := e.rows("contact", dataverse.Eq("statecode", 0))
	if len(active) != 1 || active[0]["contactid"] != existing {
		t.Fatalf("active contacts = %v, want only the survivor", active)
	}
	// The merge audit: a note on the survivor with both records' values before the merge.
	notes := e.rows("annotation", dataverse.Eq("_objectid_value", dataverse.GUID(existing)))
	if len(notes) != 1 {
		t.Fatalf("%d audit notes on the survivor, want 1", len(notes))
	}
	var ma actions.MergeAudit
	if err := json.Unmarshal([]byte(notes[0]["notetext"].(string)), &ma); err != nil {
		t.Fatal(err)
	}
	if ma.Target["jobtitle"] != "Buyer" || ma.Subordinate["jobtitle"] != "Head buyer" || ma.Subordinate["telephone1"] != "+44 20 7946 0000" ||
		len(ma.UpdateContent) != 1 || ma.UpdateContent["telephone1"] == nil || ma.SubordinateID != dup {
		t.Fatalf("merge audit = %+v", ma)
	}
	if m := metricsCount(t, e, "merge", "done"); m != 1 {
		t.Fatalf("followups_total{merge,done} = %v", m)
	}
	// The audit trail has the merge, without the records' values (masked by default).
	if err := e.gw.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	entries, err := e.gw.Audit.List(ctx, time.Time{}, audit.Filter{Kinds: []audit.Kind{actions.KindFollowUp}})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Outcome != "done" || entries[0].RecordID != dup || entries[0].Matches[0].ID != existing ||
		entries[0].Matches[0].Action != "merge" || !strings.Contains(entries[0].Note, "merged columns: telephone1") ||
		strings.Contains(entries[0].Note, "7946") {
		t.Fatalf("audit entries = %+v", entries)
	}
	// The merged record left the candidate index: a third save matches the survivor only.
	if _, err := e.create(withAttrs(jane, map[string]any{"mobilephone": "+44 7700 900123"})); err != nil {
		t.Fatal(err)
	}
	if m := metricsCount(t, e, "merge", "done"); m != 2 {
		t.Fatalf("followups_total{merge,done} = %v after a third save", m)
	}
	if len(e.rows("contact", dataverse.Eq("statecode", 0))) != 1 {
		t.Fatal("the third save was not merged into the survivor")
	}
	if n := e.emu.Count("task"); n != 0 {
		t.Fatalf("%d review tasks: the merged record was still a candidate", n)
	}
}

func TestActionMergeBelowThresholdGoesToReview(t *testing.T) {
	set := e2eRules(t, rules.ActionMerge)
	set.Rules()[0].MergeThreshold = 1.01 // no score can reach it
	e := newActionsEnv(t, set, "")
	existing, err := e.create(jane)
	if err != nil {
		t.Fatal(err)
	}
	dup, err := e.create(withAttrs(jane, map[string]any{"telephone1": "+44 20 7946 0000"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.rows("contact", dataverse.Eq("statecode", 0))) != 2 {
		t.Fatal("a pair below the merge threshold was merged")
	}
	tasks := e.rows("task", dataverse.Eq("subcategory", actions.PairKey("contact", existing, "contact", dup)))
	if len(tasks) != 1 || tasks[0]["_regardingobjectid_value"] != existing {
		t.Fatalf("review tasks = %v, want one regarding the existing record", tasks)
	}
}

func TestActionReviewThenDismissStaysQuiet(t *testing.T) {
	e := newActionsEnv(t, e2eRules(t, rules.ActionReview), "")
	existing, err := e.create(jane)
	if err != nil {
		t.Fatal(err)
	}
	dup, err := e.create(withAttrs(jane, map[string]any{"telephone1": "+44 20 7946 0000"}))
	if err != nil {
		t.Fatalf("review must let the duplicate through: %v", err)
	}
	pair := actions.PairKey("contact", existing, "contact", dup)
	tasks := e.rows("task", "")
	if len(tasks) != 1 {
		t.Fatalf("%d tasks, want 1", len(tasks))
	}
	task := tasks[0]
	desc := task["description"].(string)
	if task["_regardingobjectid_value"] != existing || task["subcategory"] != pair || task["category"] != "dedupegate-review" ||
		!strings.Contains(desc, "Rule: contact-email-name") || !strings.Contains(desc, "Score: 1.000") ||
		!strings.Contains(desc, dup) || !strings.Contains(desc, "email") {
		t.Fatalf("review task = %v", task)
	}
	taskID := task["activityid"].(string)

	// An update of the pair while the item is open does not open a second one.
	if err := e.client.Update(context.Background(), "contact", dup, map[string]any{"jobtitle": "Buyer"}); err != nil {
		t.Fatal(err)
	}
	e.settle()
	if n := len(e.rows("task", "")); n != 1 {
		t.Fatalf("%d tasks after an update of the open pair, want 1", n)
	}
	if m := metricsCount(t, e, "review", "skipped"); m != 1 {
		t.Fatalf("followups_total{review,skipped} = %v: the update did not fire", m)
	}

	code, out, errs := e.review("list")
	if code != exitOK || !strings.Contains(out, taskID) || !strings.Contains(out, "contact-email-name") {
		t.Fatalf("review list: %d %q %q", code, out, errs)
	}
	if code, _, errs := e.review("dismiss", taskID); code != exitUsage || !strings.Contains(errs, "--not-duplicate") {
		t.Fatalf("dismiss without a verdict: %d %q", code, errs)
	}
	code, out, errs = e.review("dismiss", taskID, "--not-duplicate", "--by", "e2e-tester")
	if code != exitOK || !strings.Contains(out, "not duplicates") {
		t.Fatalf("review dismiss: %d %q %q", code, out, errs)
	}
	closed, err := e.client.Get(context.Background(), "task", taskID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if num(closed["statecode"]) != "1" || closed["category"] != "dedupegate-not-duplicate" ||
		!strings.Contains(closed["description"].(string), "Dismissed as not a duplicate by e2e-tester") {
		t.Fatalf("dismissed task = %v", closed)
	}
	if code, out, _ := e.review("list"); code != exitOK || strings.Contains(out, taskID) {
		t.Fatalf("a dismissed item is still listed as open: %q", out)
	}
	if code, out, _ := e.review("exceptions"); code != exitOK || !strings.Contains(out, pair) {
		t.Fatalf("review exceptions: %q", out)
	}

	// The running gateway learns the pair within the refresh interval...
	deadline := time.Now().Add(5 * time.Second)
	for !e.gw.Exceptions.NotDuplicate("contact", dup, "contact", existing) {
		if time.Now().After(deadline) {
			t.Fatal("the gateway never learned the dismissed pair")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// ...and an update of the pair no longer fires.
	if err := e.client.Update(context.Background(), "contact", dup, map[string]any{"jobtitle": "Head buyer"}); err != nil {
		t.Fatal(err)
	}
	e.settle()
	if n := len(e.rows("task", "")); n != 1 {
		t.Fatalf("%d tasks after dismissal, want 1", n)
	}
	if m := metricsCount(t, e, "review", "skipped") + metricsCount(t, e, "review", "done"); m != 2 {
		t.Fatalf("review follow-ups after dismissal = %v, want the 2 from before", m)
	}
	if e.gw.Actions.Pending() != 0 {
		t.Fatalf("%d follow-ups pending", e.gw.Actions.Pending())
	}
	// Dismissing again reports it and changes nothing.
	if code, out, _ := e.review("dismiss", taskID, "--not-duplicate"); code != exitOK || !strings.Contains(out, "already closed") {
		t.Fatalf("second dismiss: %d %q", code, out)
	}
}

func TestActionReviewCustomTable(t *testing.T) {
	e := newActionsEnv(t, e2eRules(t, rules.ActionReview), "  review:\n    target: table\n    table: dg_duplicatereview\n")
	existing, err := e.create(jane)
	if err != nil {
		t.Fatal(err)
	}
	dup, err := e.create(withAttrs(jane, map[string]any{"telephone1": "+44 20 7946 0000"}))
	if err != nil {
		t.Fatal(err)
	}
	rows := e.rows("dg_duplicatereview", "")
	if len(rows) != 1 || rows[0]["dg_pair"] != actions.PairKey("contact", existing, "contact", dup) || rows[0]["dg_rule"] != "contact-email-name" ||
		rows[0]["dg_idb"] != existing || rows[0]["dg_ida"] != dup {
		t.Fatalf("review rows = %v", rows)
	}
	id := rows[0]["dg_duplicatereviewid"].(string)
	code, out, errs := e.review("dismiss", id, "--not-duplicate")
	if code != exitOK {
		t.Fatalf("dismiss: %d %q %q", code, out, errs)
	}
	row, _ := e.client.Get(context.Background(), "dg_duplicatereview", id, nil)
	if num(row["statecode"]) != "1" || row["dg_verdict"] != "not_duplicate" {
		t.Fatalf("dismissed row = %v", row)
	}
}

// A follow-up that Dataverse throttles is retried and still lands.
func TestActionReviewSurvivesThrottling(t *testing.T) {
	// PostOperation jobs wait 300ms, so the throttling set after the save hits the follow-up.
	e := newActionsEnv(t, e2eRules(t, rules.ActionReview), "", func(c *emulator.Config) { c.AsyncDelay = 300 * time.Millisecond })
	if _, err := e.create(jane); err != nil {
		t.Fatal(err)
	}
	id, err := e.client.Create(context.Background(), "contact", withAttrs(jane, map[string]any{"telephone1": "+44 20 7946 0000"}))
	if err != nil {
		t.Fatal(err)
	}
	// The decision and the save are done; throttle the follow-up's calls: three 429s outlast
	// the client's own two tries, so the follow-up's retry must wait them out.
	e.emu.Throttle(3, time.Second)
	e.settle()
	if n := len(e.rows("task", "")); n != 1 {
		t.Fatalf("%d tasks after throttling, want 1 (new record %s)", n, id)
	}
	if e.emu.Stats().Throttled == 0 {
		t.Fatal("nothing was throttled: the test proves nothing")
	}
}

// Without a reachable Dataverse the follow-up fails visibly.
func TestActionFailureIsRecorded(t *testing.T) {
	e := newActionsEnv(t, e2eRules(t, rules.ActionReview), "", func(c *emulator.Config) { c.AsyncDelay = 300 * time.Millisecond })
	if _, err := e.create(jane); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Create(context.Background(), "contact", withAttrs(jane, map[string]any{"telephone1": "+44 20 7946 0000"})); err != nil {
		t.Fatal(err)
	}
	// Every call of the follow-up fails with 500, beyond the retries.
	e.emu.Fail(100, http.StatusInternalServerError)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for metricsCount(t, e, "review", "failed") == 0 {
		if ctx.Err() != nil {
			t.Fatal("the failed follow-up was never recorded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if e.gw.Actions.Pending() != 0 || metricsCount(t, e, "review", "done") != 0 {
		t.Fatal("a failed follow-up is still pending or counted as done")
	}
}

// Two gateway instances share a Redis (index, exceptions, pending follow-ups). The decision is
// taken by one and the PostOperation call reaches the other, which runs the follow-up.
func TestActionAcrossTwoInstances(t *testing.T) {
	srv := redistest.Start(t)
	e := startEmulator(t)
	top := "index:\n  backend: redis\n  redis:\n    addrs: [" + srv.Addr + "]\n    prefix: \"e2e:\"\n"
	set := e2eRules(t, rules.ActionReview)
	a, urlA, cfgA := e.startGateway(set, top, "")
	b, urlB, _ := e.startGateway(set, top, "")
	e.gw, e.others, e.cfgPath = a, []*gateway.Gateway{b}, cfgA
	e.registerSteps(urlA, urlB) // decisions to A, commits to B
	existing, err := e.create(jane)
	if err != nil {
		t.Fatal(err)
	}
	dup, err := e.create(withAttrs(jane, map[string]any{"telephone1": "+44 20 7946 0000"}))
	if err != nil {
		t.Fatal(err)
	}
	tasks := e.rows("task", dataverse.Eq("subcategory", actions.PairKey("contact", existing, "contact", dup)))
	if len(tasks) != 1 {
		t.Fatalf("%d review tasks, want 1", len(tasks))
	}
	if ga, gb := gatewayCount(t, a, "review", "done"), gatewayCount(t, b, "review", "done"); ga != 0 || gb != 1 {
		t.Fatalf("review done: instance A %v, B %v; want the follow-up run by B", ga, gb)
	}
	// A dismissal reaches both instances through the shared exceptions set.
	code, out, errs := e.review("dismiss", tasks[0]["activityid"].(string), "--not-duplicate")
	if code != exitOK {
		t.Fatalf("dismiss: %d %q %q", code, out, errs)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !a.Exceptions.NotDuplicate("contact", existing, "contact", dup) || !b.Exceptions.NotDuplicate("contact", existing, "contact", dup) {
		if time.Now().After(deadline) {
			t.Fatal("an instance never learned the dismissed pair")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
