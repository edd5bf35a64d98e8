package dataverse

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// samplesDir holds the real captured payloads (outside the repo; see DEVELOPERS.md).
const samplesDir = "../../shared/reference/dataverse-samples"

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, name))
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("sample missing in CI: %v", err)
		}
		t.Skipf("shared samples not available: %v", err)
	}
	return b
}

func TestDecodeSamples(t *testing.T) {
	t.Run("ms-docs contact update async postop", func(t *testing.T) {
		c, err := DecodeContext(readSample(t, "ms-docs-contact-update-async-postop.json"))
		if err != nil {
			t.Fatal(err)
		}
		if c.MessageName != "Update" || c.Stage != StagePostOperation || c.Mode != ModeAsynchronous || c.PrimaryEntityName != "contact" {
			t.Fatalf("header fields: %+v", c)
		}
		tg := c.Target()
		if tg == nil || tg.LogicalName != "contact" || tg.ID != "6d81597f-0f9f-e711-8122-000d3aa2331c" {
			t.Fatalf("target %+v", tg)
		}
		if tg.Attributes["firstname"] != "James" {
			t.Errorf("firstname %v", tg.Attributes["firstname"])
		}
		if got := tg.Attributes["modifiedon"]; got != time.UnixMilli(1506384247000).UTC() {
			t.Errorf("modifiedon %v", got)
		}
		if ref, ok := tg.Attributes["modifiedby"].(*EntityReference); !ok || ref.LogicalName != "systemuser" {
			t.Errorf("modifiedby %#v", tg.Attributes["modifiedby"])
		}
		if v, ok := tg.Attributes["modifiedonbehalfby"]; !ok || v != nil {
			t.Errorf("null attribute %v %v", v, ok)
		}
		if want := time.UnixMilli(1506409448000).UTC(); !c.OperationCreatedOn.Equal(want) {
			t.Errorf("OperationCreatedOn %v want %v", c.OperationCreatedOn, want)
		}
		if c.Parent == nil || c.Parent.Stage != StageMainOperation {
			t.Errorf("parent %+v", c.Parent)
		}
		if c.PostImage() == nil {
			t.Error("no post image")
		}
	})
	t.Run("albanianxrm create custom all types", func(t *testing.T) {
		c, err := DecodeContext(readSample(t, "albanianxrm-create-custom-alltypes-async-postop.raw.json"))
		if err != nil {
			t.Fatal(err)
		}
		a := c.Target().Attributes
		if _, ok := a["albxrm_wholenumber"].(json.Number); !ok {
			t.Errorf("whole number %T", a["albxrm_wholenumber"])
		}
		if a["albxrm_twooptions"] != true {
			t.Errorf("bool %v", a["albxrm_twooptions"])
		}
		var money, option, multi bool
		for _, v := range a {
			switch x := v.(type) {
			case Money:
				money = true
			case OptionSetValue:
				option = true
			case []any:
				if len(x) > 0 {
					_, multi = x[0].(OptionSetValue)
				}
			}
		}
		if !money || !option || !multi {
			t.Errorf("money %v option %v multi %v", money, option, multi)
		}
		if c.OutputParameters["id"] != c.PrimaryEntityID {
			t.Errorf("output id %v vs %s", c.OutputParameters["id"], c.PrimaryEntityID)
		}
		if c.InitiatingUserAADObjectID == "" {
			t.Error("no initiating AAD object id")
		}
		post := c.PostEntityImages["AsynchronousStepPrimaryName"]
		if post == nil || post.Attributes["albxrm_name"] != "Test Betim" {
			t.Errorf("untyped post image %+v", post)
		}
	})
	t.Run("albanianxrm account update sync with typed primitives", func(t *testing.T) {
		c, err := DecodeContext(readSample(t, "albanianxrm-account-update-sync-postop.raw.json"))
		if err != nil {
			t.Fatal(err)
		}
		a := c.Target().Attributes
		if a["accountid"] != "ec4e2f7d-9d60-e811-a95a-000d3af24950" {
			t.Errorf("Guid wrapper: %v", a["accountid"])
		}
		if _, ok := a["modifiedon"].(time.Time); !ok {
			t.Errorf("DateTime wrapper: %T", a["modifiedon"])
		}
		if c.Mode != ModeSynchronous || !c.IsInTransaction {
			t.Errorf("mode %d tx %v", c.Mode, c.IsInTransaction)
		}
	})
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"/Date(1506384247000)/", 1506384247000, true},
		{"/Date(1506409448000-0700)/", 1506409448000, true},
		{"/Date(1608007658000+0000)/", 1608007658000, true},
		{"/Date(-86400000)/", -86400000, true},
		{"/Date(-86400000+0100)/", -86400000, true},
		{"/Date()/", 0, false},
		{"/Date(12a)/", 0, false},
		{"/Date(1+07)/", 0, false},
		{"Date(1)", 0, false},
		{"2020-01-01", 0, false},
	}
	for _, tc := range tests {
		got, ok := ParseDate(tc.in)
		if ok != tc.ok || (ok && got.UnixMilli() != tc.want) {
			t.Errorf("ParseDate(%q) = %v %v, want %d %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if s := FormatDate(time.UnixMilli(1506384247000)); s != "/Date(1506384247000)/" {
		t.Errorf("FormatDate %s", s)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"empty", ``, "EOF"},
		{"array", `[]`, "cannot unmarshal array"},
		{"null", `null`, "body is null"},
		{"no message", `{"Stage":10}`, "MessageName is missing"},
		{"stage string", `{"MessageName":"Create","Stage":"ten"}`, "Stage is string"},
		{"stage huge", `{"MessageName":"Create","Stage":99999999999}`, "not a 32-bit integer"},
		{"params not array", `{"MessageName":"Create","InputParameters":{}}`, "want an array"},
		{"param without key", `{"MessageName":"Create","InputParameters":[{"value":1}]}`, "key is missing"},
		{"bad money", `{"MessageName":"Create","InputParameters":[{"key":"x","value":{"__type":"Money:x","Value":"a"}}]}`, "Money.Value"},
		{"image not entity", `{"MessageName":"Create","PreEntityImages":[{"key":"p","value":"s"}]}`, "not an entity"},
		{"trailing", `{"MessageName":"Create"} {}`, "trailing data"},
		{"deep", `{"MessageName":"Create","InputParameters":[{"key":"x","value":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}]}`, "nested deeper"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeContext([]byte(tc.body))
			if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrMalformed containing %q", err, tc.want)
			}
		})
	}
}

func TestMergeAndStringAttrs(t *testing.T) {
	pre := &Entity{LogicalName: "contact", ID: "a", Attributes: map[string]any{"firstname": "Rob", "lastname": "Smith", "emailaddress1": "old@x.com"}}
	target := &Entity{LogicalName: "contact", ID: "a", Attributes: map[string]any{"emailaddress1": "new@x.com", "telephone1": nil,
		"gendercode": OptionSetValue{Value: 2}, "revenue": Money{Value: 10.5}, "parentcustomerid": &EntityReference{LogicalName: "account", ID: "b"},
		"birthdate": time.Date(1980, 5, 1, 0, 0, 0, 0, time.UTC), "n": json.Number("42"), "multi": []any{OptionSetValue{Value: 3}, OptionSetValue{Value: 1}}}}
	got := Merge(pre, target).StringAttrs()
	want := map[string]string{"firstname": "Rob", "lastname": "Smith", "emailaddress1": "new@x.com", "gendercode": "2", "revenue": "10.5",
		"parentcustomerid": "b", "birthdate": "1980-05-01T00:00:00Z", "n": "42", "multi": "1,3"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
