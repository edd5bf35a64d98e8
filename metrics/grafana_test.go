package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/dedupegate/dedupegate/metrics"
)

// TestGrafanaDashboardMatchesMetrics keeps configs/grafana-dashboard.json in step with the
// metrics: every dedupegate_* series a panel queries must be one this package exports.
func TestGrafanaDashboardMatchesMetrics(t *testing.T) {
	b, err := os.ReadFile("../configs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	m := metrics.New()
	m.IndexSize(func() float64 { return 0 })
	m.ReservationsHeld(func() float64 { return 0 })
	m.IndexReplica(func() bool { return true }, func() int64 { return 0 }, func() int64 { return 0 })
	known := map[string]bool{}
	for _, n := range m.Names() {
		known[n] = true
	}
	if !known["dedupegate_decisions_total"] || !known["dedupegate_index_records"] || !known["dedupegate_redis_errors_total"] {
		t.Fatalf("Names() = %v", m.Names())
	}
	name := regexp.MustCompile(`dedupegate_[a-z_]+`)
	queried := 0
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")
				if !known[n] && !known[base] {
					t.Errorf("panel %q queries %s, which is not exported", p.Title, n)
				}
				queried++
			}
		}
	}
	if queried < 20 {
		t.Fatalf("only %d metric references in the dashboard", queried)
	}
}
