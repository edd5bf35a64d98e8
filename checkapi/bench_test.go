package checkapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/dedupegate/dedupegate/checkapi"
)

// BenchmarkCheck measures one duplicate check over HTTP on loopback (API key, shipped rules,
// in-memory index, a block decision with an override token).
func BenchmarkCheck(b *testing.B) {
	e := newEnv(b, nil)
	body, _ := json.Marshal(map[string]any{"entity": "contact", "attributes": robert()})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest(http.MethodPost, e.url+checkapi.CheckPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err, resp)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkBatch1000 measures a batch of 1,000 records (half duplicates) over HTTP.
func BenchmarkBatch1000(b *testing.B) {
	e := newEnv(b, nil)
	rs := make([]map[string]any, 1000)
	for i := range rs {
		if i%2 == 0 {
			rs[i] = map[string]any{"entity": "contact", "attributes": robert()}
		} else {
			rs[i] = map[string]any{"entity": "contact", "attributes": map[string]any{"firstname": "Ann", "lastname": fmt.Sprintf("Other%d", i), "emailaddress1": fmt.Sprintf("a%d@wingtip.net", i)}}
		}
	}
	body, _ := json.Marshal(map[string]any{"records": rs})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest(http.MethodPost, e.url+checkapi.BatchPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err, resp)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "µs/record")
}
