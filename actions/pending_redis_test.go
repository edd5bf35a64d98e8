package actions

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/rules"
)

// Two gateway instances share a Redis: the one that decided is not the one that receives the
// PostOperation call.
func TestSharedPendingHandsFollowUpsOver(t *testing.T) {
	srv := redistest.Start(t)
	client := redistest.Client(t, srv.Addr)
	store := RedisPending{Client: client, Prefix: "dgtest:", TTL: time.Minute}
	ctx := context.Background()

	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cfg := testActionsConfig()
	cfg.PendingTTL = config.Duration(time.Minute)
	recA, recB := &capture{}, &capture{}
	a := New(cfg, nil, nil, WithRecorder(recA), WithSharedPending(store), WithClock(clock, nil))
	b := New(cfg, nil, nil, WithRecorder(recB), WithSharedPending(store), WithClock(clock, nil))
	a.Start()
	b.Start()

	// A decides two saves; B receives the PostOperation call of the first.
	a.Observe(ctx, event(corr1, "Create", newRec("one@example.com"), rules.OutcomeAllow, match(rules.ActionReview, rules.OutcomeBlock, idA, 0.9)))
	a.Observe(ctx, event(corr2, "Create", newRec("two@example.com"), rules.OutcomeAllow, match(rules.ActionReview, rules.OutcomeBlock, idB, 0.9)))
	waitShared(t, store, corr1)
	waitShared(t, store, corr2)
	if err := b.HandleChange(ctx, change(corr1, "Create", idC, map[string]string{"emailaddress1": "one@example.com"})); err != nil {
		t.Fatal(err)
	}
	got := recB.wait(t, 1)
	if got[0].MatchID != idA || got[0].ID != idC || got[0].Status != StatusFailed { // failed: no Dataverse in this test
		t.Fatalf("B ran %+v", got[0])
	}
	// A's copy of the first is stale: a late retry of the call reaching A does not run it
	// twice, and A's expiry does not report it.
	_ = a.HandleChange(ctx, change(corr1, "Create", idC, map[string]string{"emailaddress1": "one@example.com"}))
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	a.expire(clock())
	outA := recA.all()
	if len(outA) != 1 || outA[0].MatchID != idB || outA[0].Status != StatusExpired {
		t.Fatalf("A recorded %+v, want only the second follow-up, expired", outA)
	}
	if l, _ := client.LLen(ctx, store.key(corr2)).Result(); l != 0 {
		t.Fatal("the expired follow-up is still shared")
	}
	// B received nothing else.
	if len(recB.all()) != 1 {
		t.Fatalf("B recorded %+v", recB.all())
	}
	// At shutdown, a shared follow-up is left to the other instances, not reported dropped.
	a.Observe(ctx, event("aaaaaaaa-0000-0000-0000-000000000003", "Create", newRec("three@example.com"), rules.OutcomeAllow,
		match(rules.ActionNotify, rules.OutcomeBlock, idA, 1)))
	_ = a.Close(ctx)
	if len(recA.all()) != 1 {
		t.Fatalf("A recorded %+v at close", recA.all())
	}
	_ = b.HandleChange(ctx, change("aaaaaaaa-0000-0000-0000-000000000003", "Create", idB, map[string]string{"emailaddress1": "three@example.com"}))
	if got := recB.wait(t, 2); got[1].Action != rules.ActionNotify {
		t.Fatalf("B did not take over the follow-up A left: %+v", got[1])
	}
	_ = b.Close(ctx)
}

func waitShared(t *testing.T, s RedisPending, cid string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if n, _ := s.Client.LLen(context.Background(), s.key(cid)).Result(); n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("follow-up %s never reached the shared store", cid)
}
