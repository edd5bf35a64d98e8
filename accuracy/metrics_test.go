package accuracy

import "testing"

func TestMetrics(t *testing.T) {
	m := Metrics{TP: 8, FP: 2, FN: 8}
	if m.Precision() != 0.8 || m.Recall() != 0.5 || m.F1() < 0.615 || m.F1() > 0.616 {
		t.Errorf("P %v R %v F1 %v", m.Precision(), m.Recall(), m.F1())
	}
	if (Metrics{}).F1() != 0 || (Metrics{}).Precision() != 0 {
		t.Error("empty metrics not zero")
	}
}

func TestBestThresholdAndGroups(t *testing.T) {
	clusterOf := map[string]string{"a": "1", "b": "1", "c": "1", "d": "2", "e": "3"}
	all := []pair{
		{a: "b", b: "a", score: 0.999, ok: true, block: true, warn: true},
		{a: "c", b: "b", score: 0.995, ok: true, block: true, warn: true},
		{a: "d", b: "c", score: 0.9, ok: false, warn: true},
		{a: "c", b: "a", score: 0.5, ok: true},
		{a: "e", b: "d", score: 0.1, ok: false},
	}
	res := &Result{TruePairs: 3}
	(&runner{}).metrics(res, all)
	if res.Block != (Metrics{TP: 2, FN: 1}) || res.Warn != (Metrics{TP: 2, FP: 1, FN: 1}) {
		t.Errorf("block %+v warn %+v", res.Block, res.Warn)
	}
	// Cutting at 0.5 keeps the three true pairs and one false one: F1 6/7, better than 0.995's 0.8.
	if res.BestThreshold != 0.5 || res.Best != (Metrics{TP: 3, FP: 1}) {
		t.Errorf("best %+v at %v", res.Best, res.BestThreshold)
	}
	// Grouping the block-level pairs a-b and b-c adds the pair a-c.
	if g := clustered(all, clusterOf, 3); *g != (Metrics{TP: 3}) {
		t.Errorf("grouped %+v", *g)
	}
}

func TestCheckDir(t *testing.T) {
	if err := CheckDir(t.TempDir() + "/missing"); err == nil {
		t.Error("missing folder accepted")
	}
	if _, err := Run(t.Context(), Options{Dir: t.TempDir() + "/missing"}); err == nil {
		t.Error("Run without datasets succeeded")
	}
}
