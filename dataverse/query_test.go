package dataverse

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestLiteralsAndFilters(t *testing.T) {
	when := time.Date(2024, 3, 1, 10, 30, 0, 0, time.FixedZone("CET", 3600))
	cases := []struct{ got, want string }{
		{Eq("lastname", "O'Brien"), "lastname eq 'O''Brien'"},
		{Eq("lastname", "''"), "lastname eq ''''''"},
		{Eq("statecode", 0), "statecode eq 0"},
		{Eq("donotemail", true), "donotemail eq true"},
		{Eq("_parentcustomerid_value", GUID("b76b3f4b-1be7-e611-8101-e0071b6af231")), "_parentcustomerid_value eq b76b3f4b-1be7-e611-8101-e0071b6af231"},
		{Gt("modifiedon", when), "modifiedon gt 2024-03-01T09:30:00Z"},
		{Ne("telephone1", nil), "telephone1 ne null"},
		{And(Eq("a", "x"), "", Or(Eq("b", "y"), Eq("c", "z"))), "(a eq 'x') and ((b eq 'y') or (c eq 'z'))"},
		{Or(Eq("a", "x")), "a eq 'x'"},
		{Or(), ""},
		{Not(Eq("a", "x")), "not (a eq 'x')"},
		{StartsWith("name", "Jo'"), "startswith(name,'Jo''')"},
		{In("lastname", "OBrian", "O'Brian", `Say "hi"`, "Zoë"), `Microsoft.Dynamics.CRM.In(PropertyName='lastname',PropertyValues=["OBrian","O'Brian","Say \"hi\"","Zoë"])`},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
}

func TestQueryEncode(t *testing.T) {
	q := Query{
		Select:  []string{"fullname", "emailaddress1"},
		Filter:  Or(Eq("emailaddress1", "a+b@x.com"), Eq("lastname", "Smith & Sons"), Eq("firstname", "Zoë #1?")),
		OrderBy: []string{"fullname desc"},
		Top:     10,
		Params:  map[string]string{"p1": "'x'"},
	}
	enc := q.Encode()
	for _, bad := range []string{" ", "+", "&lastname", "#", "?"} {
		if strings.Contains(strings.SplitN(enc, "$filter=", 2)[1], bad) && bad != "&lastname" {
			t.Errorf("encoded filter contains %q: %s", bad, enc)
		}
	}
	if strings.Contains(enc, "&lastname") {
		t.Fatalf("an ampersand in a value split the query: %s", enc)
	}
	// The server decodes exactly the filter we built.
	vals, err := url.ParseQuery(enc)
	if err != nil {
		t.Fatal(err)
	}
	if vals.Get("$filter") != q.Filter || vals.Get("$select") != "fullname,emailaddress1" || vals.Get("$top") != "10" ||
		vals.Get("$orderby") != "fullname desc" || vals.Get("@p1") != "'x'" {
		t.Fatalf("round trip: %v", vals)
	}
	if !strings.Contains(enc, "a%2Bb%40x.com") || !strings.Contains(enc, "%20") {
		t.Fatalf("plus sign or space not percent-encoded: %s", enc)
	}
}

func TestValidAttr(t *testing.T) {
	for name, want := range map[string]bool{
		"emailaddress1": true, "_parentcustomerid_value": true, "sdkmessageid/name": true, "new_Field": true,
		"a b": false, "x eq 'y' or 1": false, "": false, "1abc": false, "a/": false, "name)": false,
	} {
		if ValidAttr(name) != want {
			t.Errorf("ValidAttr(%q) = %v", name, !want)
		}
	}
}

func TestRowAttrs(t *testing.T) {
	row := map[string]any{
		"@odata.etag":             `W/"1"`,
		"contactid":               "6D81597F-0F9F-E711-8122-000D3AA2331C",
		"fullname":                "Ann O'Brien",
		"birthdate":               "1980-05-01",
		"createdon":               "2024-03-01T10:30:00+01:00",
		"modifiedon":              "2024-03-01T09:30:00.123Z",
		"_parentcustomerid_value": "B76B3F4B-1BE7-E611-8101-E0071B6AF231",
		"_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "account",
		"gendercode":        jsonNumber("2"),
		"new_interests":     "100000002,100000001",
		"creditlimit":       jsonNumber("2154.32"),
		"donotemail":        false,
		"telephone1":        nil,
		"primarycontactid":  map[string]any{"x": 1},
		"address1_postcode": "12,34",
	}
	got := RowAttrs(row)
	want := map[string]string{
		"contactid": "6D81597F-0F9F-E711-8122-000D3AA2331C", "fullname": "Ann O'Brien", "birthdate": "1980-05-01T00:00:00Z",
		"createdon": "2024-03-01T09:30:00Z", "modifiedon": "2024-03-01T09:30:00Z",
		"parentcustomerid": "b76b3f4b-1be7-e611-8101-e0071b6af231", "gendercode": "2", "new_interests": "100000001,100000002",
		"creditlimit": "2154.32", "donotemail": "false", "address1_postcode": "12,34",
	}
	if len(got) != len(want) {
		t.Errorf("got %d attributes, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"3": 3 * time.Second, "0.5": 500 * time.Millisecond, "Fri, 01 Mar 2024 10:00:07 GMT": 7 * time.Second,
	} {
		if d, ok := parseRetryAfter(in, now); !ok || d != want {
			t.Errorf("%q: %v %v", in, d, ok)
		}
	}
	for _, in := range []string{"", "soon", "-1"} {
		if _, ok := parseRetryAfter(in, now); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestErrorRedaction(t *testing.T) {
	e := &Error{StatusCode: 400, Code: "0x80060888", Method: "GET", Path: "contacts",
		Message: `Syntax error at position 20 in 'emailaddress1 eq 'bob@example.com''.`}
	s := e.Error()
	if strings.Contains(s, "bob@example.com") || !strings.Contains(s, "0x80060888") || !strings.Contains(s, "GET contacts") {
		t.Fatalf("Error() = %s", s)
	}
}

func jsonNumber(s string) json.Number { return json.Number(s) }
