package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// twoIndexes looks up the CRM and the file rows filed so far apart, each purging broad keys on
// its own count: not the scan's semantics, which the test shows to differ on purged blocks.
type twoIndexes struct{ crm, file *index.Memory }

func (t twoIndexes) Lookup(ctx context.Context, q rules.Lookup) (rules.LookupResult, error) {
	a, err := t.crm.Lookup(ctx, q)
	if err != nil {
		return a, err
	}
	b, err := t.file.Lookup(ctx, q)
	a.Records = append(a.Records, b.Records...)
	return a, err
}

func (t twoIndexes) Release(context.Context, []string, string) error { return nil }

// referenceScan is the obvious sequential replay: check a row against the CRM export and the
// rows imported so far, then import it. With apart, the rows are filed in an index of their
// own rather than with the CRM's records.
func referenceScan(t *testing.T, set *rules.Set, crmCSV, data []byte, apart bool) []string {
	t.Helper()
	ctx := context.Background()
	m, _ := ParseMapping(synthMapping)
	crm := index.NewMemory()
	if _, err := LoadAgainst(ctx, set, "contact", bytes.NewReader(crmCSV), Input{Name: "crm.csv", Mapping: m, IDColumn: "id"}, crm, nil); err != nil {
		t.Fatal(err)
	}
	var idx rules.Index = crm
	file := crm
	if apart {
		file = index.NewMemory()
		idx = twoIndexes{crm, file}
	}
	eng := rules.NewEngine(set, idx, rules.EngineConfig{MaxMatches: 100})
	r := csv.NewReader(bytes.NewReader(data))
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, rec := range recs[1:] {
		row := i + 1
		attrs := map[string]string{"firstname": rec[1], "lastname": rec[2], "emailaddress1": rec[3]}
		d, err := eng.Evaluate(ctx, rules.Request{Record: matcher.Record{Entity: "contact", ID: rec[0], Attrs: attrs},
			Message: "Create", EntryPoint: rules.EntryImport})
		if err != nil {
			t.Fatal(err)
		}
		var ms []string
		for _, m := range d.Matches {
			src, id := SourceCRM, m.ID
			if strings.HasPrefix(id, "file-") {
				src, id = SourceFile, strings.TrimPrefix(id, "file-")
			}
			ms = append(ms, fmt.Sprintf("%s:%s=%.3f", src, id, m.Score))
		}
		sort.Strings(ms)
		out = append(out, fmt.Sprintf("%d %s %s", row, d.Outcome, strings.Join(ms, ",")))
		if err := index.File(ctx, file, set, matcher.Record{Entity: "contact", ID: "file-" + rec[0], Attrs: attrs}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestReplayOrder checks that the parallel pipeline gives, for any number of workers and any
// batch size, exactly the verdicts of a sequential replay: each row matched against the CRM and
// the rows before it, never after.
func TestReplayOrder(t *testing.T) {
	for _, tc := range []struct {
		rules  string
		purged bool // the rules have broad keys with a maximum
	}{{"rules.yaml", false}, {"rules-purge.yaml", true}} {
		t.Run(tc.rules, func(t *testing.T) { testReplayOrder(t, tc.rules, tc.purged) })
	}
}

func testReplayOrder(t *testing.T, rulesFile string, purged bool) {
	set, err := rules.LoadFile(filepath.Join("testdata", rulesFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	var crmCSV, impCSV bytes.Buffer
	if _, err := writeSynthFiles(&crmCSV, &impCSV, 500, 3000, 0.1, 0.2, 42); err != nil {
		t.Fatal(err)
	}
	m, _ := ParseMapping(synthMapping)
	crm := index.NewMemory()
	if _, err := LoadAgainst(context.Background(), set, "contact", bytes.NewReader(crmCSV.Bytes()),
		Input{Name: "crm.csv", Mapping: m, IDColumn: "id"}, crm, nil); err != nil {
		t.Fatal(err)
	}
	want := referenceScan(t, set, crmCSV.Bytes(), impCSV.Bytes(), false)
	blocked, fileMatches := 0, 0
	for _, w := range want {
		if strings.Contains(w, " block ") {
			blocked++
		}
		if strings.Contains(w, "file:") {
			fileMatches++
		}
	}
	if blocked < 100 || fileMatches < 100 {
		t.Fatalf("the data should hold many duplicates: %d blocked, %d rows matching the file", blocked, fileMatches)
	}
	if purged {
		// Purging on the CRM and the rows apart would give other verdicts: the test tells
		// the two apart.
		apart := referenceScan(t, set, crmCSV.Bytes(), impCSV.Bytes(), true)
		differ := 0
		for i := range want {
			if want[i] != apart[i] {
				differ++
			}
		}
		if differ == 0 {
			t.Fatal("the purge rules should give other verdicts when the CRM and the rows are purged apart")
		}
		t.Logf("%d of %d rows would differ with the blocks purged apart", differ, len(want))
	}
	for _, tc := range []struct{ workers, batch int }{{1, 1}, {3, 7}, {8, 256}, {16, 1000}} {
		t.Run(fmt.Sprintf("workers=%d,batch=%d", tc.workers, tc.batch), func(t *testing.T) {
			var res bytes.Buffer
			rw, _ := NewResultWriter(OutputJSONL, &res)
			_, err := Scan(context.Background(), Config{Entity: "contact", Rules: set, CRM: crm, Workers: tc.workers, BatchSize: tc.batch,
				Input: Input{Name: "import.csv", Mapping: m, IDColumn: "id"}}, bytes.NewReader(impCSV.Bytes()), Outputs{Results: rw})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			sc := bufio.NewScanner(&res)
			for sc.Scan() {
				var r Result
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatal(err)
				}
				var ms []string
				for _, m := range r.Matches {
					if m.Source == SourceFile && m.Row >= r.Row {
						t.Fatalf("row %d matched a later row %d", r.Row, m.Row)
					}
					ms = append(ms, fmt.Sprintf("%s:%s=%.3f", m.Source, m.ID, m.Score))
				}
				sort.Strings(ms)
				got = append(got, fmt.Sprintf("%d %s %s", r.Row, r.Decision, strings.Join(ms, ",")))
			}
			if len(got) != len(want) {
				t.Fatalf("%d results, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("row %s:\n got %s\nwant %s", strconv.Itoa(i+1), got[i], want[i])
				}
			}
		})
	}
}
