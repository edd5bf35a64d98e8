package accuracy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// datasetsDir finds shared/datasets beside the module root, or skips the test.
func datasetsDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("module root not found")
		}
		dir = parent
	}
	ds := filepath.Join(dir, "..", "shared", "datasets")
	if err := CheckDir(ds); err != nil {
		t.Skipf("labelled datasets not available: %v", err)
	}
	return ds
}

func shippedSet(t testing.TB, dir string) *rules.Set {
	t.Helper()
	lex, err := matcher.LoadLexicon(matcher.LexiconFiles{
		Nicknames:       filepath.Join(dir, "nicknames", "names.csv"),
		CompanySuffixes: filepath.Join(dir, "company_suffixes", "fingerprints_types.yml"),
		NoDefaultFiles:  true,
	})
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Parse(configs.DefaultRules, "configs/rules.yaml", lex)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestShippedRulesMeetTargets replays every dataset through the engine with the shipped rules
// and asserts the accuracy targets of issue 3.
func TestShippedRulesMeetTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("accuracy replay skipped in -short mode")
	}
	dir := datasetsDir(t)
	set := shippedSet(t, dir)
	results, err := Run(context.Background(), Options{Dir: dir, Set: set})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	Print(&buf, results)
	t.Log("\n" + buf.String())
	if len(results) != len(Datasets) {
		t.Fatalf("ran %d datasets, want %d", len(results), len(Datasets))
	}
	for _, m := range Misses(results) {
		t.Error(m)
	}
	for _, r := range results {
		if r.Name == "chicago_childcare" && r.Block.F1() < 0.5 {
			t.Errorf("chicago_childcare F1 %.3f: account rules regressed", r.Block.F1())
		}
	}
}
