package gateway

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/checkapi"
	"github.com/dedupegate/dedupegate/inapp"
	"github.com/dedupegate/dedupegate/override"
)

// Check API wiring (docs/check-api.md): the "Ignore and Save" token verifier the engine uses
// for the webhook, the check API routes, and the in-app notification after a webhook block.

// overrides builds the token issuer/verifier from check_api.override (nil when no secret is
// set). Spent token ids live in Redis when the index is Redis (shared by every instance),
// else in memory.
func (g *Gateway) overrides() (*override.Tokens, error) {
	var used override.UsedStore
	if src, ok := g.Index.(redisClientSource); ok {
		used = redisUsed{src: src, prefix: g.Config.Index.Redis.Prefix}
	}
	return checkapi.OverridesFromConfig(g.Config.CheckAPI, used)
}

// redisUsed spends token ids in the index's Redis once it is ready.
type redisUsed struct {
	src    redisClientSource
	prefix string
}

func (r redisUsed) Spend(ctx context.Context, id string, until time.Time) (bool, error) {
	if err := r.src.Ready(ctx); err != nil {
		return false, err
	}
	return override.NewRedisUsed(r.src.Client(), r.prefix).Spend(ctx, id, until)
}

// wireCheckAPI mounts the check API when check_api.enabled, and adds the in-app notifier when
// check_api.app_notifications.enabled. The Dataverse connection (g.Reader, a *dataverse.Client
// in serve) gives the visibility re-reads, the update checks' stored columns and the
// notifications; without one, every caller sees every match and no notification is sent.
func (g *Gateway) wireCheckAPI(overrides *override.Tokens) error {
	cfg := g.Config.CheckAPI
	dv, _ := g.Reader.(checkapi.DataverseAPI)
	var vis checkapi.RecordReader
	if dv != nil {
		vis = checkapi.DataverseVisibility(dv)
	}
	if cfg.Enabled {
		d := checkapi.Deps{Engine: g.Engine, Overrides: overrides, Log: g.Log.Named("checkapi")}
		if g.Reader != nil {
			d.Rows = g.Reader
		}
		if vis != nil && cfg.Visibility == "caller" {
			d.Visibility = vis
		}
		h, err := checkapi.FromConfig(cfg, d)
		if err != nil {
			return err
		}
		h.Mount(g.Echo)
		g.SetAPIAuth(h.AuthMiddleware())
		g.Log.Info("check API on", zap.Bool("entra", cfg.Entra.Configured()), zap.Int("api_keys", len(cfg.APIKeys)),
			zap.Strings("cors_origins", cfg.CORSOrigins), zap.Bool("overrides", overrides != nil),
			zap.Bool("visibility_checked", d.Visibility != nil))
	}
	if n := cfg.AppNotifications; n.Enabled {
		creator, ok := g.Reader.(inapp.Creator)
		if !ok {
			return fmt.Errorf("check_api.app_notifications needs a Dataverse connection (dataverse.url)")
		}
		toast := inapp.ToastTimed
		if n.Toast == "hidden" {
			toast = inapp.ToastHidden
		}
		notifier := inapp.New(creator, inapp.Config{Delay: n.Delay.D(), Queue: n.Queue, TTL: n.TTL.D(), Toast: toast,
			Visibility: vis, Log: g.Log.Named("inapp")})
		g.Engine.AddObserver(notifier)
		g.OnClose(notifier.Close)
	}
	return nil
}
