package scan

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dedupegate/dedupegate/rules"
)

// fuzzScan scans data and checks the contract whatever the bytes: the file is refused as a
// whole (*InputError), or every row gets exactly one result and lands in exactly one of the
// clean file and the report.
func fuzzScan(t *testing.T, set *rules.Set, format InputFormat, data []byte) {
	m, _ := ParseMapping(testMapping)
	var results, clean, report bytes.Buffer
	rw, _ := NewResultWriter(OutputJSONL, &results)
	sum, err := Scan(context.Background(), Config{Entity: "contact", Rules: set, Workers: 2, BatchSize: 2,
		Input: Input{Name: "fuzz", Format: format, Mapping: m, IDColumn: "ref"}},
		bytes.NewReader(data), Outputs{Results: rw, Clean: &clean, Report: &report})
	if err != nil {
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	if n := bytes.Count(results.Bytes(), []byte("\n")); n != sum.Rows {
		t.Fatalf("%d results for %d rows", n, sum.Rows)
	}
	if sum.Blocked+sum.Warned+sum.Allowed+sum.Errors+sum.Undecided != sum.Rows {
		t.Fatalf("counts do not add up: %+v", sum)
	}
	if format == InputJSONL {
		if n := bytes.Count(report.Bytes(), []byte("\n")); n != sum.Rows-sum.Allowed {
			t.Fatalf("report has %d lines for %d flagged rows", n, sum.Rows-sum.Allowed)
		}
	}
}

func FuzzScanCSV(f *testing.F) {
	for _, name := range []string{"import.csv", "ragged.csv", "badenc.csv", "badquote.csv", "bom-crlf.csv", "unterminated.csv", "header-only.csv", "joined.csv"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	set := testRules(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzScan(t, set, InputCSV, data) })
}

func FuzzScanJSONL(f *testing.F) {
	for _, name := range []string{"import.jsonl", "bad.jsonl"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	set := testRules(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzScan(t, set, InputJSONL, data) })
}
