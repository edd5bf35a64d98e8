package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// mergeBody is the Merge action's body as MS documents it.
func mergeBody(table, pk, target, sub string, content map[string]any, checks any) map[string]any {
	typ := "Microsoft.Dynamics.CRM." + table
	b := map[string]any{
		"Target":      map[string]any{"@odata.type": typ, pk: target},
		"Subordinate": map[string]any{"@odata.type": typ, pk: sub},
	}
	if checks != nil {
		b["PerformParentingChecks"] = checks
	}
	if content != nil {
		uc := map[string]any{"@odata.type": typ}
		for k, v := range content {
			uc[k] = v
		}
		b["UpdateContent"] = uc
	}
	return b
}

func TestMergeContacts(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	c := e.client
	target, err := c.Create(ctx, "contact", map[string]any{"firstname": "Jane", "lastname": "Doe", "emailaddress1": "jane@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := c.Create(ctx, "contact", map[string]any{"firstname": "Jane", "lastname": "Doe", "telephone1": "+44 20 7946 0000", "jobtitle": "Buyer"})
	if err != nil {
		t.Fatal(err)
	}
	// Rows that point at the subordinate: an activity regarding it, a child contact.
	task, err := c.Create(ctx, "task", map[string]any{"subject": "call back", "regardingobjectid_contact@odata.bind": "/contacts(" + sub + ")"})
	if err != nil {
		t.Fatal(err)
	}
	child, err := c.Create(ctx, "contact", map[string]any{"lastname": "Child", "parentcustomerid_contact@odata.bind": "/contacts(" + sub + ")"})
	if err != nil {
		t.Fatal(err)
	}

	res, out := e.do(http.MethodPost, "Merge", mergeBody("contact", "contactid", target, sub, map[string]any{"telephone1": "+44 20 7946 0000"}, false), nil)
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("Merge: %d %v", res.StatusCode, out)
	}
	tr, _ := c.Get(ctx, "contact", target, nil)
	if tr["telephone1"] != "+44 20 7946 0000" || tr["emailaddress1"] != "jane@example.com" {
		t.Fatalf("target after merge: %v", tr)
	}
	if tr["jobtitle"] != nil {
		t.Fatalf("a column outside UpdateContent was copied: jobtitle=%v", tr["jobtitle"])
	}
	sr, _ := c.Get(ctx, "contact", sub, nil)
	if sr["statecode"].(interface{ String() string }).String() != "1" || sr["statuscode"].(interface{ String() string }).String() != "2" ||
		sr["_masterid_value"] != target || sr["merged"] != true {
		t.Fatalf("subordinate after merge: statecode=%v statuscode=%v masterid=%v merged=%v", sr["statecode"], sr["statuscode"], sr["_masterid_value"], sr["merged"])
	}
	if r, _ := c.Get(ctx, "task", task, nil); r["_regardingobjectid_value"] != target {
		t.Fatalf("task not re-parented: %v", r["_regardingobjectid_value"])
	}
	if r, _ := c.Get(ctx, "contact", child, nil); r["_parentcustomerid_value"] != target {
		t.Fatalf("child contact not re-parented: %v", r["_parentcustomerid_value"])
	}

	// What Dataverse refuses.
	third, _ := c.Create(ctx, "contact", map[string]any{"lastname": "Third"})
	acct, _ := c.Create(ctx, "account", map[string]any{"name": "Contoso"})
	refusals := []struct {
		name string
		body map[string]any
		want string
	}{
		{"inactive subordinate", mergeBody("contact", "contactid", target, sub, nil, false), "is deactive"},
		{"inactive target", mergeBody("contact", "contactid", sub, third, nil, false), "is deactive"},
		{"same row", mergeBody("contact", "contactid", target, target, nil, false), "identical"},
		{"unsupported table", mergeBody("task", "activityid", task, task, nil, false), "not supported with merge"},
		{"no PerformParentingChecks", mergeBody("contact", "contactid", target, third, nil, nil), "PerformParentingChecks"},
		{"two tables", map[string]any{"Target": map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": target},
			"Subordinate": map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": acct}, "PerformParentingChecks": false}, "same table"},
		{"no type", map[string]any{"Target": map[string]any{"contactid": target}, "Subordinate": map[string]any{"contactid": third}, "PerformParentingChecks": false}, "@odata.type"},
		{"unknown column", mergeBody("contact", "contactid", target, third, map[string]any{"nosuchcolumn": map[string]any{}}, false), "nosuchcolumn"},
	}
	for _, r := range refusals {
		res, out := e.do(http.MethodPost, "Merge", r.body, nil)
		msg, _ := out["error"].(map[string]any)["message"].(string)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(msg, r.want) {
			t.Errorf("%s: %d %v, want 400 mentioning %q", r.name, res.StatusCode, out, r.want)
		}
	}
	if r, _ := c.Get(ctx, "contact", third, nil); r["statecode"].(interface{ String() string }).String() != "0" {
		t.Fatal("a refused merge changed the subordinate")
	}
	if res, _ := e.do(http.MethodGet, "Merge", nil, nil); res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /Merge: %d", res.StatusCode)
	}
}

func TestMergeParentingChecks(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	c := e.client
	a1, _ := c.Create(ctx, "account", map[string]any{"name": "Contoso"})
	a2, _ := c.Create(ctx, "account", map[string]any{"name": "Fabrikam"})
	mk := func(acct string) string {
		id, err := c.Create(ctx, "contact", map[string]any{"lastname": "Doe", "parentcustomerid_account@odata.bind": "/accounts(" + acct + ")"})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	x, y := mk(a1), mk(a2)
	res, out := e.do(http.MethodPost, "Merge", mergeBody("contact", "contactid", x, y, nil, true), nil)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(out["error"].(map[string]any)["message"].(string), "different parents") {
		t.Fatalf("merge across parents with checks: %d %v", res.StatusCode, out)
	}
	// Without the checks the same pair merges.
	if res, out := e.do(http.MethodPost, "Merge", mergeBody("contact", "contactid", x, y, nil, false), nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("merge without checks: %d %v", res.StatusCode, out)
	}
	// Same parent: allowed with checks.
	p, q := mk(a1), mk(a1)
	if res, out := e.do(http.MethodPost, "Merge", mergeBody("contact", "contactid", p, q, nil, true), nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("merge with the same parent: %d %v", res.StatusCode, out)
	}
}

func TestMergeIncidentIgnoresUpdateContent(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	c := e.client
	t1, _ := c.Create(ctx, "incident", map[string]any{"title": "Printer broken"})
	t2, _ := c.Create(ctx, "incident", map[string]any{"title": "Printer broken again", "description": "paper jam"})
	res, out := e.do(http.MethodPost, "Merge", mergeBody("incident", "incidentid", t1, t2, map[string]any{"description": "paper jam"}, false), nil)
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("Merge: %d %v", res.StatusCode, out)
	}
	r, _ := c.Get(ctx, "incident", t1, nil)
	if r["description"] != nil {
		t.Fatalf("incident merge applied UpdateContent: %v", r["description"])
	}
	if s, _ := c.Get(ctx, "incident", t2, nil); s["_masterid_value"] != t1 {
		t.Fatalf("subordinate case masterid = %v", s["_masterid_value"])
	}
}

func TestActionTables(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	c := e.client
	id, err := c.Create(ctx, "appnotification", map[string]any{
		"title": "Possible duplicate", "body": "b", "ownerid@odata.bind": "/systemusers(" + SampleUserID + ")",
		"icontype": 100000003, "toasttype": 200000000, "ttlinseconds": 1209600, "data": `{"actions":[]}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := c.Get(ctx, "appnotification", id, nil)
	if r["_ownerid_value"] != SampleUserID || r["title"] != "Possible duplicate" {
		t.Fatalf("appnotification: %v", r)
	}
	// Strict tables refuse columns Dataverse does not have.
	if _, err := c.Create(ctx, "appnotification", map[string]any{"title": "x", "message": "y"}); err == nil {
		t.Fatal("appnotification accepted an unknown column")
	}
	team, err := c.Create(ctx, "team", map[string]any{"name": "Sales"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "teammembership", map[string]any{"teamid": team, "systemuserid": SampleUserID}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "annotation", map[string]any{"subject": "s", "notetext": "n", "objectid_contact@odata.bind": "/contacts(" + mustCreate(t, e, "contact") + ")"}); err != nil {
		t.Fatal(err)
	}
}

func mustCreate(t *testing.T, e *env, table string) string {
	t.Helper()
	id, err := e.client.Create(context.Background(), table, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
