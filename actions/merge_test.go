package actions

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestUpdateContent(t *testing.T) {
	older := map[string]any{
		"modifiedon":              "2026-01-01T10:00:00Z",
		"firstname":               "Jane",
		"lastname":                "Doe",
		"emailaddress1":           "",
		"telephone1":              nil,
		"jobtitle":                "Buyer",
		"numberofchildren":        json.Number("2"),
		"_parentcustomerid_value": "44444444-4444-4444-4444-444444444444",
	}
	newer := map[string]any{
		"modifiedon":              "2026-02-01T10:00:00Z",
		"firstname":               "Janet",
		"lastname":                "",
		"emailaddress1":           "jane@example.com",
		"telephone1":              "+44 20 7946 0000",
		"jobtitle":                "Buyer",
		"numberofchildren":        json.Number("3"),
		"statecode":               json.Number("0"),
		"_parentcustomerid_value": "55555555-5555-5555-5555-555555555555",
	}
	cols := []string{"firstname", "lastname", "emailaddress1", "telephone1", "jobtitle", "numberofchildren", "parentcustomerid", "statecode", "mobilephone"}
	tests := []struct {
		name        string
		precedence  string
		target, sub map[string]any
		want        map[string]any
	}{
		{"keep target copies nothing", "keep_target", older, newer, map[string]any{}},
		{"fill blanks", "fill_blanks", older, newer, map[string]any{
			"emailaddress1": "jane@example.com", "telephone1": "+44 20 7946 0000"}},
		{"newest wins: newer subordinate", "newest_wins", older, newer, map[string]any{
			"firstname": "Janet", "emailaddress1": "jane@example.com", "telephone1": "+44 20 7946 0000",
			"numberofchildren": json.Number("3")}},
		{"newest wins: newer target keeps its values, fills blanks", "newest_wins", newer, older, map[string]any{
			"lastname": "Doe"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := updateContent(tt.precedence, cols, tt.target, tt.sub)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("updateContent = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRowRecordMatchesWebhookStrings(t *testing.T) {
	row := map[string]any{
		"@odata.etag": "W/\"1\"", "contactid": idA, "firstname": "Jane", "numberofchildren": json.Number("2"),
		"birthdate": "1990-05-01", "createdon": "2026-01-01T10:00:00Z", "donotemail": false,
		"_parentcustomerid_value": idB, "_parentcustomerid_value@OData.Community.Display.V1.FormattedValue": "Contoso",
		"telephone1": nil, "middlename": "",
	}
	rec := rowRecord("contact", idA, row)
	want := map[string]string{"contactid": idA, "firstname": "Jane", "numberofchildren": "2", "birthdate": "1990-05-01T00:00:00Z",
		"createdon": "2026-01-01T10:00:00Z", "donotemail": "false", "parentcustomerid": idB}
	if !reflect.DeepEqual(rec.Attrs, want) {
		t.Fatalf("attrs = %v, want %v", rec.Attrs, want)
	}
}
