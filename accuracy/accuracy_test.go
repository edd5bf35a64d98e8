package accuracy

import (
	"bytes"
	"context"
	"testing"

	"github.com/dedupegate/dedupegate/accuracy/datasettest"
)

// TestShippedRulesMeetTargets replays every dataset through the engine with the shipped rules
// and asserts the accuracy targets of issue 3.
func TestShippedRulesMeetTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("accuracy replay skipped in -short mode")
	}
	dir := datasettest.Dir(t)
	set := datasettest.ShippedRules(t, dir)
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
