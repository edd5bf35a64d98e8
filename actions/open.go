package actions

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/dedupegate/dedupegate/config"
)

// StoreKind resolves actions.exceptions.store: "auto" is redis when the index is in Redis, the
// file otherwise.
func StoreKind(cfg *config.Config) string {
	k := cfg.Actions.Exceptions.Store
	if k == "" || k == "auto" {
		if cfg.Index.Backend == "redis" {
			return "redis"
		}
		return "file"
	}
	return k
}

// PendingKind resolves actions.pending_store: "auto" is redis when the index is in Redis.
func PendingKind(cfg *config.Config) string {
	k := cfg.Actions.PendingStore
	if k == "" || k == "auto" {
		if cfg.Index.Backend == "redis" {
			return "redis"
		}
		return "memory"
	}
	return k
}

// NewRedisClient builds a go-redis client from index.redis (standalone, cluster or Sentinel).
func NewRedisClient(r config.Redis) (redis.UniversalClient, error) {
	if len(r.Addrs) == 0 {
		return nil, errors.New("index.redis.addrs is empty")
	}
	opts := &redis.UniversalOptions{Addrs: r.Addrs, MasterName: r.MasterName, Username: r.Username,
		Password: r.Password.Value(), DB: r.DB, DialTimeout: r.DialTimeout.D(), ReadTimeout: r.ReadTimeout.D(),
		WriteTimeout: r.WriteTimeout.D()}
	if r.TLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewUniversalClient(opts), nil
}

// OpenExceptionStore builds the configured exceptions store. For the redis store, client and
// prefix are the index's (nil client: a client is built from index.redis and closed by the
// returned function). dv is needed by the dataverse store only.
func OpenExceptionStore(cfg *config.Config, dv Dataverse, client redis.UniversalClient, prefix string) (ExceptionStore, func() error, error) {
	noop := func() error { return nil }
	switch kind := StoreKind(cfg); kind {
	case "file":
		return FileStore{Path: cfg.Resolve(cfg.Actions.Exceptions.File)}, noop, nil
	case "dataverse":
		if dv == nil {
			return nil, noop, errors.New("actions.exceptions.store dataverse needs a Dataverse connection (dataverse.url)")
		}
		return DataverseStore{Client: dv}, noop, nil
	case "redis":
		closer := noop
		if client == nil {
			c, err := NewRedisClient(cfg.Index.Redis)
			if err != nil {
				return nil, noop, fmt.Errorf("actions.exceptions.store redis: %w", err)
			}
			client, closer = c, c.Close
		}
		if prefix == "" {
			prefix = cfg.Index.Redis.Prefix
		}
		return RedisStore{Client: client, Prefix: prefix}, closer, nil
	default:
		return nil, noop, fmt.Errorf("unknown exceptions store %q", kind)
	}
}
