package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/index/redistest"
)

// startReplicaGateway starts a gateway keeping a replica of the Redis index at addr; with a
// Dataverse URL it syncs from it every 100 ms, without one it never reads Dataverse.
func startReplicaGateway(t *testing.T, addr, dvURL, token string) *httptest.Server {
	t.Helper()
	g, srv := newRedisGateway(t, addr, "replica:", true, dvURL, token)
	t.Cleanup(func() { srv.Close(); _ = g.Close() })
	return srv
}

// metric returns the line of /metrics that starts with name, or "".
func metric(t *testing.T, url, name string) string {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	return ""
}

// TestReplicaGateways: two gateways keeping replicas of one Redis index. What one files (the
// sync from Dataverse, a PostOperation step) the other blocks by, through the change feed;
// each reports its copy fresh in /metrics.
func TestReplicaGateways(t *testing.T) {
	rds := redistest.Start(t)
	const token = "replica-test-token-0123456789"
	_, dv := emulatorWithRobert(t, token, "replicatest")
	withSync := startReplicaGateway(t, rds.Addr, dv.URL, token)
	noDataverse := startReplicaGateway(t, rds.Addr, "", "")
	for _, srv := range []*httptest.Server{withSync, noDataverse} {
		// The copy loads in the background (decisions read Redis meanwhile).
		deadline := time.Now().Add(30 * time.Second)
		for metric(t, srv.URL, "dedupegate_index_replica_fresh") != "dedupegate_index_replica_fresh 1" {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the replica is not fresh after 30 s", srv.URL)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor(t, withSync.URL, http.StatusConflict, "the syncing gateway")
	waitFor(t, noDataverse.URL, http.StatusConflict, "the other gateway, through the change feed")

	// A PostOperation Create filed by the second gateway blocks a new create on the first.
	postop, err := os.ReadFile("../webhook/testdata/postop-create.json")
	if err != nil {
		t.Fatal(err)
	}
	if status, r := postBody(t, noDataverse.URL, postop); status != http.StatusOK || r.Result != "indexed" {
		t.Fatalf("PostOperation on the second gateway: %d %+v", status, r)
	}
	unique, err := os.ReadFile("../webhook/testdata/create-unique.json")
	if err != nil {
		t.Fatal(err)
	}
	anna := strings.NewReplacer("Łucja", "Anna", "Ørsted", "Kowalska", "lucja@example.org", "anna.k@example.pl").Replace(string(unique))
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, r := postBody(t, withSync.URL, []byte(anna))
		if status == http.StatusConflict {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Anna Kowalska's create on the first gateway: %d %+v", status, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, srv := range []*httptest.Server{withSync, noDataverse} {
		if got := metric(t, srv.URL, "dedupegate_index_replica_fresh"); got != "dedupegate_index_replica_fresh 1" {
			t.Errorf("%s: %q", srv.URL, got)
		}
		if got := metric(t, srv.URL, "dedupegate_index_replica_loads_total"); got != "dedupegate_index_replica_loads_total 1" {
			t.Errorf("%s: %q", srv.URL, got)
		}
		if got := metric(t, srv.URL, "dedupegate_index_records"); got != "dedupegate_index_records 2" {
			t.Errorf("%s: %q", srv.URL, got)
		}
	}
}
