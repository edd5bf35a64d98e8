package actions

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/rules"
)

// The engine consults the list through the rules.Exceptions interface.
var _ rules.Exceptions = (*Exceptions)(nil)

const (
	idA = "11111111-1111-1111-1111-111111111111"
	idB = "22222222-2222-2222-2222-222222222222"
	idC = "33333333-3333-3333-3333-333333333333"
)

func TestPairKey(t *testing.T) {
	tests := []struct {
		name           string
		ea, ia, eb, ib string
		want           string
	}{
		{"ordered", "contact", idA, "contact", idB, "contact/" + idA + "|contact/" + idB},
		{"reversed gives the same key", "contact", idB, "contact", idA, "contact/" + idA + "|contact/" + idB},
		{"case folded", "Contact", "AAAAAAAA-1111-1111-1111-111111111111", "contact", idB,
			"contact/" + idB + "|contact/aaaaaaaa-1111-1111-1111-111111111111"},
		{"cross table sorts by table", "lead", idA, "contact", idB, "contact/" + idB + "|lead/" + idA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PairKey(tt.ea, tt.ia, tt.eb, tt.ib)
			if got != tt.want {
				t.Fatalf("PairKey = %q, want %q", got, tt.want)
			}
			a, b, err := ParsePairKey(got)
			if err != nil {
				t.Fatal(err)
			}
			if PairKey(a.Entity, a.ID, b.Entity, b.ID) != got {
				t.Fatalf("round trip changed the key")
			}
		})
	}
	for _, bad := range []string{"", "contact/x", "contact|lead/x", "/x|contact/y"} {
		if _, _, err := ParsePairKey(bad); err == nil {
			t.Errorf("ParsePairKey(%q) accepted a malformed key", bad)
		}
	}
}

// exerciseStore checks a store through two Exceptions lists (two gateway instances, or the
// review command and a gateway): a pair added through one reaches the other on Refresh.
func exerciseStore(t *testing.T, newStore func() ExceptionStore) {
	ctx := context.Background()
	writer := NewExceptions(newStore(), nil)
	reader := NewExceptions(newStore(), nil)
	if err := reader.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if reader.NotDuplicate("contact", idA, "contact", idB) {
		t.Fatal("empty store reports a pair")
	}
	if err := writer.Add(ctx, Exception{Pair: PairKey("contact", idB, "contact", idA), By: "tester", Item: idC}); err != nil {
		t.Fatal(err)
	}
	if !writer.NotDuplicate("contact", idA, "contact", idB) {
		t.Fatal("writer does not know the pair it added")
	}
	if reader.NotDuplicate("contact", idA, "contact", idB) {
		t.Fatal("reader knows the pair before refreshing")
	}
	if err := reader.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !reader.NotDuplicate("contact", idB, "contact", idA) || !reader.NotDuplicate("contact", idA, "contact", idB) {
		t.Fatal("reader does not know the pair after refreshing (either order)")
	}
	if !reader.NotDuplicate("Contact", strings.ToUpper(idB), "CONTACT", idA) {
		t.Fatal("the lookup is case sensitive")
	}
	if reader.NotDuplicate("contact", idA, "contact", idC) || reader.NotDuplicate("contact", idA, "", "") ||
		reader.NotDuplicate("lead", idA, "contact", idB) {
		t.Fatal("reader reports a pair that was never added")
	}
	// Adding the same pair again is harmless.
	if err := writer.Add(ctx, Exception{Pair: PairKey("contact", idA, "contact", idB)}); err != nil {
		t.Fatal(err)
	}
	if err := reader.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if reader.Len() != 1 {
		t.Fatalf("reader holds %d pairs, want 1", reader.Len())
	}
	// Concurrent adds from several writers all land.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w := NewExceptions(newStore(), nil)
			id := fmt.Sprintf("44444444-4444-4444-4444-%012d", i)
			if err := w.Add(ctx, Exception{Pair: PairKey("account", id, "account", idA)}); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if err := reader.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if reader.Len() != 9 {
		t.Fatalf("reader holds %d pairs after 8 concurrent adds, want 9", reader.Len())
	}
}

func TestFileStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "exceptions.json")
	exerciseStore(t, func() ExceptionStore { return FileStore{Path: path} })
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 || data[0] != '{' {
		t.Fatalf("file is not a JSON object: %q", data)
	}
}

func TestFileStoreRejectsCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exceptions.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	x := NewExceptions(FileStore{Path: path}, nil)
	if err := x.Refresh(context.Background()); err == nil {
		t.Fatal("a corrupt file loaded without error")
	}
	// Adding refuses too, rather than overwrite what it cannot read.
	if err := x.Add(context.Background(), Exception{Pair: PairKey("contact", idA, "contact", idB)}); err == nil {
		t.Fatal("add over a corrupt file succeeded")
	}
	data, _ := os.ReadFile(path)
	if string(data) != "{not json" {
		t.Fatalf("corrupt file was rewritten: %q", data)
	}
}

func TestRedisStore(t *testing.T) {
	srv := redistest.Start(t)
	client := redistest.Client(t, srv.Addr)
	exerciseStore(t, func() ExceptionStore { return RedisStore{Client: client, Prefix: "dgtest:"} })
	details, err := RedisStore{Client: client, Prefix: "dgtest:"}.Details(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(details) != 9 || details[0].By != "tester" || details[0].Item != idC {
		t.Fatalf("details = %+v", details[:1])
	}
}

func TestRedisStoreInCluster(t *testing.T) {
	addrs := redistest.Cluster(t)
	client := redistest.Client(t, addrs...)
	prefix := redistest.Prefix(t)
	exerciseStore(t, func() ExceptionStore { return RedisStore{Client: client, Prefix: prefix} })
}

func TestRefreshKeepsListWhenStoreFails(t *testing.T) {
	srv := redistest.Start(t)
	client := redistest.Client(t, srv.Addr)
	x := NewExceptions(RedisStore{Client: client, Prefix: "dg:"}, nil)
	ctx := context.Background()
	if err := x.Add(ctx, Exception{Pair: PairKey("contact", idA, "contact", idB)}); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := x.Refresh(rctx); err == nil {
		t.Fatal("refresh against a dead Redis succeeded")
	}
	if !x.NotDuplicate("contact", idA, "contact", idB) {
		t.Fatal("a failed refresh emptied the list")
	}
}
