package checkapi

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/entra"
	"github.com/dedupegate/dedupegate/override"
)

// OverridesFromConfig builds the override token issuer and verifier from the check_api
// section, or returns nil when no override secret is configured (tokens are then refused).
// used may be nil (in-memory single-use store).
func OverridesFromConfig(cfg config.CheckAPI, used override.UsedStore) (*override.Tokens, error) {
	o := cfg.Override
	if o.Secret == "" {
		return nil, nil
	}
	t, err := override.New(override.Config{
		Secret:       []byte(o.Secret.Value()),
		Previous:     []byte(o.PreviousSecret.Value()),
		TTL:          o.TTL.D(),
		AllowedUsers: o.AllowedUsers,
		AllowedRoles: o.AllowedRoles,
		Used:         used,
	})
	if err != nil {
		return nil, fmt.Errorf("check_api.override: %w", err)
	}
	return t, nil
}

// Deps are the parts of the gateway the handler uses besides its configuration.
type Deps struct {
	Engine Decider
	// Overrides is the issuer built by OverridesFromConfig (the same one the engine verifies
	// with); nil offers no tokens.
	Overrides *override.Tokens
	// Visibility and Rows come from the Dataverse connection; nil without one.
	Visibility RecordReader
	Rows       RowReader
	Log        *zap.Logger
}

// FromConfig builds the handler from the check_api section.
func FromConfig(cfg config.CheckAPI, d Deps) (*Handler, error) {
	var tokens TokenValidator
	if cfg.Entra.Configured() {
		keys := entra.NewKeySet(entra.KeySetConfig{
			URL:             cfg.Entra.JWKSURL,
			RefreshInterval: cfg.Entra.JWKSRefresh.D(),
			MinRefetch:      cfg.Entra.JWKSMinRefetch.D(),
		})
		v, err := entra.NewValidator(entra.Config{
			Issuers:       cfg.Entra.Issuers,
			Audiences:     cfg.Entra.Audiences,
			TenantID:      cfg.Entra.TenantID,
			Keys:          keys,
			Leeway:        cfg.Entra.ClockSkew.D(),
			RequiredRoles: cfg.Entra.RequiredRoles,
		})
		if err != nil {
			return nil, fmt.Errorf("check_api.entra: %w", err)
		}
		tokens = v
	}
	keys := make([]string, 0, len(cfg.APIKeys))
	for _, k := range cfg.APIKeys {
		keys = append(keys, k.Value())
	}
	return New(Config{
		Auth:               NewAuthenticator(tokens, keys...),
		Overrides:          d.Overrides,
		APIKeysMayOverride: cfg.Override.APIKeysMayOverride,
		Visibility:         d.Visibility,
		ShowAll:            cfg.Visibility == "all",
		Rows:               d.Rows,
		MaxBatch:           cfg.MaxBatch,
		BatchConcurrency:   cfg.BatchConcurrency,
		MaxBodyBytes:       cfg.MaxBodyBytes,
		CORSOrigins:        cfg.CORSOrigins,
		ReadTimeout:        3 * time.Second,
	}, d.Engine, d.Log)
}
