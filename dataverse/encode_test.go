package dataverse

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readSamples(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(samplesDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Skipf("no Dataverse samples in %s (the shared reference folder is missing)", samplesDir)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// TestEncodeRoundTripSamples decodes each real payload, encodes it and decodes the result: the
// second decoding must equal the first.
func TestEncodeRoundTripSamples(t *testing.T) {
	for name, body := range readSamples(t) {
		t.Run(name, func(t *testing.T) {
			first, err := DecodeContext(body)
			if err != nil {
				t.Fatalf("decode sample: %v", err)
			}
			enc, err := EncodeContext(first)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			second, err := DecodeContext(enc)
			if err != nil {
				t.Fatalf("decode encoded: %v\n%s", err, enc)
			}
			if !reflect.DeepEqual(first, second) {
				t.Fatalf("round trip changed the context\nfirst:  %#v\nsecond: %#v", first, second)
			}
		})
	}
}

// TestEncodeShape checks the encoded form against the shape of the real payloads: the same
// top-level property names, __type tags and WCF dates.
func TestEncodeShape(t *testing.T) {
	samples := readSamples(t)
	body := samples["ms-docs-contact-update-async-postop.json"]
	if body == nil {
		t.Skip("MS docs sample missing")
	}
	ec, err := DecodeContext(body)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := EncodeContext(ec)
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(enc, &got); err != nil {
		t.Fatal(err)
	}
	if wk, gk := sortedMapKeys(want), sortedMapKeys(got); !reflect.DeepEqual(wk, gk) {
		t.Fatalf("top-level properties differ\nsample:  %v\nencoded: %v", wk, gk)
	}
	// The property order of the encoded object is alphabetical, like the serializer's.
	var order []string
	dec := json.NewDecoder(strings.NewReader(string(enc)))
	dec.Token() // {
	for dec.More() {
		k, _ := dec.Token()
		order = append(order, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i-1] > order[i] {
			t.Fatalf("properties not in order: %q before %q", order[i-1], order[i])
		}
	}
	target := got["InputParameters"].([]any)[0].(map[string]any)["value"].(map[string]any)
	if target["__type"] != "Entity:http://schemas.microsoft.com/xrm/2011/Contracts" {
		t.Fatalf("Target __type = %v", target["__type"])
	}
	for _, kv := range target["Attributes"].([]any) {
		m := kv.(map[string]any)
		switch m["key"] {
		case "modifiedon":
			if m["value"] != "/Date(1506384247000)/" {
				t.Fatalf("modifiedon = %v, want /Date(1506384247000)/", m["value"])
			}
		case "modifiedby":
			ref := m["value"].(map[string]any)
			if ref["__type"] != "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts" || ref["LogicalName"] != "systemuser" {
				t.Fatalf("modifiedby = %v", ref)
			}
		}
	}
	if got["SecondaryEntityName"] != "none" || got["IsolationMode"] != float64(1) {
		t.Fatalf("constant properties wrong: %v %v", got["SecondaryEntityName"], got["IsolationMode"])
	}
}

func sampleContext() *ExecutionContext {
	when := time.Date(2024, 3, 1, 10, 30, 0, 0, time.UTC)
	target := &Entity{LogicalName: "contact", ID: "6d81597f-0f9f-e711-8122-000d3aa2331c", Attributes: map[string]any{
		"firstname":      "Zoë",
		"lastname":       "O'Brien \"Jr\" </script>",
		"emailaddress1":  "zoe@example.com",
		"birthdate":      when,
		"gendercode":     OptionSetValue{Value: 2},
		"creditlimit":    Money{Value: 2154.32},
		"numberofkids":   json.Number("3"),
		"donotemail":     true,
		"parentcustomer": &EntityReference{LogicalName: "account", ID: "b76b3f4b-1be7-e611-8101-e0071b6af231", Name: "Contoso"},
		"interests":      []any{OptionSetValue{Value: 1}, OptionSetValue{Value: 7}},
		"cleared":        nil,
	}, FormattedValues: map[string]string{"gendercode": "Female"}}
	return &ExecutionContext{
		MessageName: "Create", Stage: StagePreValidation, Mode: ModeSynchronous, Depth: 1,
		PrimaryEntityName: "contact", PrimaryEntityID: EmptyGUID,
		CorrelationID: "b374239d-4233-41a9-8b17-a86cb4f737b5", RequestID: "3fab629b-b795-4834-a2ca-5a09b2cc6934",
		OperationID: "4af10637-4ea2-e711-8122-000d3aa2331c", OrganizationID: "4ef5b371-e89e-e711-8122-000d3aa2331c",
		OrganizationName: "sandbox", UserID: "75c2dd85-e89e-e711-8122-000d3aa2331c",
		InitiatingUserID: "75c2dd85-e89e-e711-8122-000d3aa2331c", UserAADObjectID: "aaaa0000-bb11-2222-33cc-444444dddddd",
		InitiatingUserAADObjectID: "aaaa0000-bb11-2222-33cc-444444dddddd",
		BusinessUnitID:            "e2b9dd85-e89e-e711-8122-000d3aa2331c", OperationCreatedOn: when, HasInputParameters: true,
		InputParameters:  map[string]any{"Target": target, "SuppressDuplicateDetection": false},
		OutputParameters: map[string]any{},
		SharedVariables:  map[string]any{"tag": "dedupegate:override", "IsAutoTransact": true},
		PreEntityImages:  map[string]*Entity{},
		PostEntityImages: map[string]*Entity{"PostImage": {LogicalName: "contact", ID: target.ID, Attributes: map[string]any{"fullname": "Zoë O'Brien"}, FormattedValues: map[string]string{}}},
		OwningExtension:  &EntityReference{LogicalName: "sdkmessageprocessingstep", ID: "75417616-4ea2-e711-8122-000d3aa2331c", Name: "dedupegate: Create of contact"},
		Parent: &ExecutionContext{MessageName: "Create", Stage: StageMainOperation, Mode: ModeSynchronous, Depth: 1,
			PrimaryEntityName: "contact", PrimaryEntityID: EmptyGUID, CorrelationID: "b374239d-4233-41a9-8b17-a86cb4f737b5",
			OperationCreatedOn: when, HasInputParameters: true,
			InputParameters:  map[string]any{"Target": target},
			OutputParameters: map[string]any{}, SharedVariables: map[string]any{"ChangedEntityTypes": map[string]any{}},
			PreEntityImages: map[string]*Entity{}, PostEntityImages: map[string]*Entity{}},
	}
}

func TestEncodeRoundTripConstructed(t *testing.T) {
	ec := sampleContext()
	enc, err := EncodeContext(ec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeContext(enc)
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, enc)
	}
	// Decoding turns integers into json.Number and bare maps into maps of decoded values.
	ec.Parent.SharedVariables["ChangedEntityTypes"] = map[string]any{}
	if !reflect.DeepEqual(ec, got) {
		t.Fatalf("round trip changed the context\nwant: %#v\ngot:  %#v", ec, got)
	}
	if s := got.Target().StringAttrs(); s["lastname"] != `O'Brien "Jr" </script>` || s["birthdate"] != "2024-03-01T10:30:00Z" || s["interests"] != "1,7" {
		t.Fatalf("StringAttrs after round trip: %v", s)
	}
	if !strings.Contains(string(enc), `</script>`) {
		t.Fatalf("HTML characters should not be escaped: %s", enc)
	}
}

func TestEncodeTruncated(t *testing.T) {
	enc, err := EncodeContextTruncated(sampleContext())
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(enc, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"InputParameters", "PreEntityImages", "PostEntityImages", "ParentContext"} {
		if _, ok := raw[k]; ok {
			t.Errorf("%s present in a truncated payload", k)
		}
	}
	got, err := DecodeContext(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got.HasInputParameters || got.Target() != nil || got.Parent != nil || got.PrimaryEntityName != "contact" || got.MessageName != "Create" {
		t.Fatalf("truncated context decoded wrongly: %#v", got)
	}
}

func TestEncodeRejectsUnencodable(t *testing.T) {
	ec := sampleContext()
	ec.InputParameters["bad"] = struct{}{}
	if _, err := EncodeContext(ec); err == nil {
		t.Fatal("a struct value should not encode")
	}
	ec = sampleContext()
	ec.SharedVariables["n"] = json.Number("12abc")
	if _, err := EncodeContext(ec); err == nil {
		t.Fatal("an invalid json.Number should not encode")
	}
}

// FuzzEncodeRoundTrip: whatever DecodeContext accepts, EncodeContext writes back, and decoding
// that gives the same context.
func FuzzEncodeRoundTrip(f *testing.F) {
	for _, b := range readSamples(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"MessageName":"Create","InputParameters":[{"key":"Target","value":{"LogicalName":"contact","Attributes":[]}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		first, err := DecodeContext(body)
		if err != nil {
			return
		}
		enc, err := EncodeContext(first)
		if err != nil {
			t.Fatalf("encode of a decoded context failed: %v", err)
		}
		second, err := DecodeContext(enc)
		if err != nil {
			t.Fatalf("decode of encoded context failed: %v\n%s", err, enc)
		}
		// EncodeContext always writes InputParameters (an empty array when there are none).
		for a, b := first, second; a != nil && b != nil; a, b = a.Parent, b.Parent {
			b.HasInputParameters = a.HasInputParameters
		}
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("round trip changed the context\n%s", enc)
		}
	})
}
