package gateway

import (
	"context"
	"fmt"

	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/index/indexsync"
	"github.com/dedupegate/dedupegate/rules"
)

// connectDataverse builds the one Dataverse client of the gateway when dataverse.url is set and
// the caller did not pass a reader: it re-reads rows (oversized updates, updates without a
// pre-image), answers the engine's fallback query when the index cannot, and is checked by
// /readyz. Its requests are timed and counted in the dependency metrics.
func (g *Gateway) connectDataverse(ctx context.Context, o *options) error {
	if o.reader != nil || g.Config.Dataverse.URL == "" {
		return nil
	}
	client, err := dataverse.New(ctx, g.Config.Dataverse, dataverse.WithLogger(g.Log.Named("dataverse")),
		dataverse.WithHTTPClient(g.DataverseHTTPClient()))
	if err != nil {
		return fmt.Errorf("dataverse: %w", err)
	}
	g.Dataverse = client
	o.reader = client
	fb := &dataverse.Fallback{Client: client}
	fb.Rules = func() *rules.Set {
		if g.Engine != nil {
			return g.Engine.Rules()
		}
		return g.Rules
	}
	o.engine = append(o.engine, rules.WithFallback(fb))
	g.AddReadiness("dataverse", func(ctx context.Context) error {
		var out map[string]any
		_, err := client.Do(ctx, "GET", "WhoAmI", nil, &out)
		return err
	})
	return nil
}

// startSync runs the incremental index sync by modifiedon every index.sync_interval, from the
// gateway's own Dataverse client, until Close: it heals PostOperation events the index missed
// (a webhook that failed twice, a bypassed step). With the in-process index the first run has
// no watermark and loads every candidate table in full.
func (g *Gateway) startSync(ctx context.Context) {
	interval := g.Config.Index.SyncInterval.D()
	idx, ok := g.Index.(indexsync.Index)
	if g.Dataverse == nil || interval <= 0 || !ok {
		return
	}
	s := indexsync.New(g.Dataverse, idx, g.Engine.Rules, indexsync.WithLogger(g.Log.Named("sync")))
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(rctx, interval)
	}()
	g.OnClose(func() error {
		cancel()
		<-done
		return nil
	})
}
