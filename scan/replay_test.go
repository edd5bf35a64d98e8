package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// twoIndexes is the reference's candidate index: the CRM and the file rows filed so far.
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

// referenceScan is the obvious sequential replay: check a row against the CRM and the rows
// filed so far, then file it.
func referenceScan(t *testing.T, set *rules.Set, crm *index.Memory, data []byte) []string {
	t.Helper()
	ctx := context.Background()
	file := index.NewMemory()
	eng := rules.NewEngine(set, twoIndexes{crm, file}, rules.EngineConfig{MaxMatches: 100})
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
	set := testRules(t)
	var crmCSV, impCSV bytes.Buffer
	if err := writeSynthFiles(&crmCSV, &impCSV, 500, 3000, 0.1, 0.2, 42); err != nil {
		t.Fatal(err)
	}
	m, _ := ParseMapping(synthMapping)
	crm := index.NewMemory()
	if _, err := LoadAgainst(context.Background(), set, "contact", bytes.NewReader(crmCSV.Bytes()),
		Input{Name: "crm.csv", Mapping: m, IDColumn: "id"}, crm, nil); err != nil {
		t.Fatal(err)
	}
	want := referenceScan(t, set, crm, impCSV.Bytes())
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
