package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// testRules loads testdata/rules.yaml: exact comparators, so scores are 1, 2/3 or 1/3.
func testRules(t testing.TB) *rules.Set {
	t.Helper()
	set, err := rules.LoadFile(filepath.Join("testdata", "rules.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

const testMapping = "first=firstname,last=lastname,email=emailaddress1"

type goldenCase struct {
	name     string
	file     string
	mapping  string
	idColumn string
	against  string // a CRM export in testdata
	out      OutputFormat
	noClean  bool   // no --clean-out / --report-out
	rules    string // rules file in testdata; default rules.yaml
	entry    string // entry point; default import
}

var goldenCases = []goldenCase{
	{name: "against-file", file: "import.csv", mapping: testMapping, idColumn: "ref", against: "existing.csv", out: OutputJSONL},
	{name: "in-file-only", file: "import.csv", mapping: testMapping, idColumn: "ref", out: OutputJSONL},
	{name: "no-id-column", file: "import.csv", mapping: testMapping, against: "existing.csv", out: OutputJSONL},
	{name: "format-csv", file: "import.csv", mapping: testMapping, idColumn: "ref", against: "existing.csv", out: OutputCSV},
	{name: "format-table", file: "import.csv", mapping: testMapping, idColumn: "ref", against: "existing.csv", out: OutputTable},
	{name: "results-only", file: "import.csv", mapping: testMapping, idColumn: "ref", against: "existing.csv", out: OutputJSONL, noClean: true},
	{name: "jsonl-input", file: "import.jsonl", mapping: testMapping, idColumn: "ref", against: "existing.csv", out: OutputJSONL},
	{name: "jsonl-bad-lines", file: "bad.jsonl", mapping: testMapping, idColumn: "ref", out: OutputJSONL},
	{name: "ragged-rows", file: "ragged.csv", mapping: testMapping, idColumn: "ref", out: OutputJSONL},
	{name: "bad-encoding", file: "badenc.csv", mapping: testMapping, idColumn: "ref", out: OutputJSONL},
	{name: "bare-quote", file: "badquote.csv", mapping: testMapping, idColumn: "ref", out: OutputJSONL},
	{name: "unterminated-quote", file: "unterminated.csv", mapping: testMapping, idColumn: "ref", out: OutputCSV},
	{name: "bom-crlf", file: "bom-crlf.csv", mapping: testMapping, idColumn: "ref", against: "existing.csv", out: OutputJSONL},
	{name: "header-only", file: "header-only.csv", mapping: testMapping, idColumn: "ref", out: OutputJSONL},
	{name: "same-name-columns", file: "import.csv", mapping: "first=firstname,last=lastname", idColumn: "ref", out: OutputJSONL},
	{name: "joined-columns", file: "joined.csv", mapping: "title+family=lastname,email=emailaddress1", idColumn: "ref", out: OutputJSONL},
	{name: "action-review", file: "import.csv", mapping: testMapping, idColumn: "ref", against: "existing.csv", out: OutputJSONL, rules: "rules-review.yaml"},
	{name: "action-review-form", file: "import.csv", mapping: testMapping, idColumn: "ref", against: "existing.csv", out: OutputCSV, rules: "rules-review.yaml", entry: rules.EntryForm},
	{name: "action-audit", file: "import.csv", mapping: testMapping, idColumn: "ref", against: "existing.csv", out: OutputCSV, rules: "rules-audit.yaml"},
	{name: "empty-file", file: "empty.csv", mapping: testMapping, out: OutputJSONL},
	{name: "bom-only", file: "bom-only.csv", mapping: testMapping, out: OutputJSONL},
	{name: "unknown-mapped-column", file: "import.csv", mapping: testMapping + ",phone=telephone1", out: OutputJSONL},
	{name: "unknown-id-column", file: "import.csv", mapping: testMapping, idColumn: "contactid", out: OutputJSONL},
	{name: "no-rule-column", file: "unmapped.csv", out: OutputJSONL},
	{name: "against-unknown-column", file: "import.csv", mapping: testMapping + ",notes=description", idColumn: "ref", against: "existing.csv", out: OutputJSONL},
}

// runCase scans a case and renders everything it produced.
func runCase(t *testing.T, set *rules.Set, c goldenCase, workers, batch int) (string, Summary, error) {
	t.Helper()
	if c.rules != "" {
		var err error
		if set, err = rules.LoadFile(filepath.Join("testdata", c.rules), nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	m, err := ParseMapping(c.mapping)
	if err != nil {
		t.Fatal(err)
	}
	var doc strings.Builder
	cfg := Config{Entity: "contact", Rules: set, Workers: workers, BatchSize: batch, EntryPoint: c.entry,
		Input: Input{Name: c.file, Format: DetectFormat(c.file), Mapping: m, IDColumn: c.idColumn}}
	if c.against != "" {
		idx := index.NewMemory()
		f, err := os.Open(filepath.Join("testdata", c.against))
		if err != nil {
			t.Fatal(err)
		}
		st, err := LoadAgainst(ctx, set, "contact", f, Input{Name: c.against, Mapping: m, IDColumn: "contactid"}, idx, nil)
		f.Close()
		if err != nil {
			fmt.Fprintf(&doc, "== against error\n%v\n", err)
			return doc.String(), Summary{}, err
		}
		fmt.Fprintf(&doc, "== against\n%+v\n", st)
		cfg.CRM = idx
	}
	in, err := os.Open(filepath.Join("testdata", c.file))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var results, clean, report, notes bytes.Buffer
	rw, err := NewResultWriter(c.out, &results)
	if err != nil {
		t.Fatal(err)
	}
	outs := Outputs{Results: rw, Notes: &notes}
	if !c.noClean {
		outs.Clean, outs.Report = &clean, &report
	}
	sum, err := Scan(ctx, cfg, in, outs)
	sum.Elapsed = 0
	if err != nil {
		fmt.Fprintf(&doc, "== error\n%v\n", err)
		return doc.String(), sum, err
	}
	fmt.Fprintf(&doc, "== results\n%s== clean\n%s\n== report\n%s\n== notes\n%s== summary\n%s\n",
		strings.ReplaceAll(results.String(), "\r", "\\r"), escapeBytes(clean.Bytes()), escapeBytes(report.Bytes()), notes.String(), sum)
	if !c.noClean {
		checkEveryRowOnce(t, c, sum, results.Bytes(), clean.Bytes(), report.Bytes())
	}
	return doc.String(), sum, nil
}

// escapeBytes shows CR and bytes that are not UTF-8, so that golden files stay readable text.
func escapeBytes(b []byte) string {
	s := strings.ToValidUTF8(strings.ReplaceAll(string(b), "\r", "\\r"), "\\x??")
	if !bytes.Equal(b, bytes.ReplaceAll(b, []byte{0xef, 0xbb, 0xbf}, nil)) {
		s = strings.ReplaceAll(s, "\ufeff", "<BOM>")
	}
	return s
}

// checkEveryRowOnce asserts the contract: one result per row, and each row in exactly one of
// the clean file (allowed) and the report (everything else).
func checkEveryRowOnce(t *testing.T, c goldenCase, sum Summary, results, clean, report []byte) {
	t.Helper()
	var allowed, flagged []int
	if c.out == OutputJSONL {
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(results))
		for sc.Scan() {
			var r Result
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			n++
			if r.Row != n {
				t.Fatalf("result %d has row %d", n, r.Row)
			}
			if r.Decision == DecisionAllow {
				allowed = append(allowed, r.Row)
			} else {
				flagged = append(flagged, r.Row)
			}
		}
		if n != sum.Rows {
			t.Fatalf("%d results for %d rows", n, sum.Rows)
		}
	}
	if got := sum.Blocked + sum.Warned + sum.Allowed + sum.Errors + sum.Undecided; got != sum.Rows {
		t.Fatalf("summary counts add up to %d, rows %d", got, sum.Rows)
	}
	cleanRows, reportRows := countRecords(t, c.file, clean), countRecords(t, c.file, report)
	if DetectFormat(c.file) == InputCSV { // minus the header lines
		cleanRows--
		reportRows--
	}
	if cleanRows != sum.Allowed || reportRows != sum.Rows-sum.Allowed {
		t.Fatalf("clean has %d rows (allowed %d), report %d (flagged %d)", cleanRows, sum.Allowed, reportRows, sum.Rows-sum.Allowed)
	}
	if c.out == OutputJSONL && DetectFormat(c.file) == InputJSONL {
		var got []int
		sc := bufio.NewScanner(bytes.NewReader(report))
		for sc.Scan() {
			var r Result
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			got = append(got, r.Row)
		}
		if fmt.Sprint(got) != fmt.Sprint(flagged) {
			t.Fatalf("report rows %v, flagged %v", got, flagged)
		}
	}
}

// countRecords counts CSV records (malformed ones included) or JSON lines.
func countRecords(t *testing.T, name string, b []byte) int {
	t.Helper()
	if DetectFormat(name) == InputJSONL {
		return bytes.Count(b, []byte("\n"))
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, utf8BOM)))
	r.FieldsPerRecord = -1
	n := 0
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			return n
		}
		n++
	}
}

func TestGolden(t *testing.T) {
	set := testRules(t)
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			got, _, _ := runCase(t, set, c, 2, 3)
			path := filepath.Join("testdata", "golden", c.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./scan -run TestGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (rerun with -update if intended)\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

// TestInputErrors checks that problems with the file as a whole are *InputError with a line.
func TestInputErrors(t *testing.T) {
	set := testRules(t)
	for _, tc := range []struct {
		name, file, mapping, id string
		line                    int
		msg                     string
	}{
		{"empty", "empty.csv", testMapping, "", 0, "empty file"},
		{"bom only", "bom-only.csv", testMapping, "", 0, "empty file"},
		{"unknown mapped column", "import.csv", testMapping + ",phone=telephone1", "", 1, `no column "phone"`},
		{"unknown id column", "import.csv", testMapping, "contactid", 1, `--id-column contactid: no column "contactid"`},
		{"nothing the rules read", "unmapped.csv", "", "", 1, "no column maps to an attribute"},
		{"jsonl unknown key", "import.jsonl", testMapping + ",phone=telephone1", "", 0, `in the keys of the first 5 objects`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMapping(tc.mapping)
			if err != nil {
				t.Fatal(err)
			}
			in, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			rw, _ := NewResultWriter(OutputJSONL, io.Discard)
			_, err = Scan(context.Background(), Config{Entity: "contact", Rules: set,
				Input: Input{Name: tc.file, Format: DetectFormat(tc.file), Mapping: m, IDColumn: tc.id}},
				bytes.NewReader(in), Outputs{Results: rw})
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v, want an *InputError", err)
			}
			if ie.Line != tc.line || !strings.Contains(ie.Msg, tc.msg) {
				t.Fatalf("got line %d %q, want line %d containing %q", ie.Line, ie.Msg, tc.line, tc.msg)
			}
		})
	}
}

func TestParseMapping(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"", "", ""},
		{"given_name=FirstName, surname = lastname", "given_name=firstname,surname=lastname", ""},
		{"a=b,a=c", "", "mapped twice"},
		{"a=x,b=x", "", "both mapped to x"},
		{"a", "", "not SRC=ATTR"},
		{"=a", "", "not SRC=ATTR"},
	} {
		m, err := ParseMapping(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got %v, want error %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || m.String() != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.in, m.String(), err, tc.want)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	for name, want := range map[string]InputFormat{"a.csv": InputCSV, "a.JSONL": InputJSONL, "a.ndjson": InputJSONL, "a.txt": InputCSV, "-": InputCSV} {
		if got := DetectFormat(name); got != want {
			t.Errorf("%s: got %s, want %s", name, got, want)
		}
	}
}

func TestUnionFind(t *testing.T) {
	u := unionFind{}
	for _, p := range [][2]int32{{2, 1}, {3, 2}, {9, 7}, {8, 9}, {5, 5}} {
		u.union(p[0], p[1])
	}
	if g, r := u.clusters(); g != 2 || r != 6 { // {1,2,3} {7,8,9}; {5} alone is no cluster
		t.Fatalf("got %d groups of %d rows", g, r)
	}
	if u.find(3) != 1 || u.find(8) != 7 {
		t.Fatalf("roots: %d %d, want the earliest rows", u.find(3), u.find(8))
	}
}
