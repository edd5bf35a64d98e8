package accuracy

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

func TestZZDev(t *testing.T) {
	dir := datasetsDir(t)
	set := shippedSet(t, dir)
	only := strings.Split(os.Getenv("ONLY"), ",")
	if only[0] == "" {
		only = nil
	}
	results, err := Run(context.Background(), Options{Dir: dir, Set: set, Explain: 100, Only: only})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	Print(&buf, results)
	os.WriteFile("/tmp/eval.txt", buf.Bytes(), 0o644)
}
