// Package redisindex is the shared, durable candidate index in Redis: standalone, Sentinel or
// Cluster through go-redis's UniversalClient. A Lookup, reservations included, costs at most
// two pipelined round trips; every command names a single key, so pipelines work unchanged in
// Cluster mode (go-redis splits them by slot). The layout is described in layout.go and
// docs/index.md.
package redisindex

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/rules"
)

var (
	_ rules.Index       = (*Index)(nil)
	_ index.Writer      = (*Index)(nil)
	_ index.BatchWriter = (*Index)(nil)
	_ index.Settler     = (*Index)(nil)
	_ index.Watermarks  = (*Index)(nil)
	_ index.Enumerator  = (*Index)(nil)
)

// Index is the Redis candidate index. It is safe for concurrent use. It connects on first use
// (or Ready), so a gateway can start while Redis is down: operations then fail fast with an
// error, the engine applies its failure policy, and the index works again once Redis is back.
type Index struct {
	cfg    config.Redis
	prefix string
	opt    options
	log    *zap.Logger

	initMu sync.Mutex
	client redis.UniversalClient
	st     atomic.Pointer[state] // nil until initialised, and again after the metadata changed

	stripes [256]sync.Mutex // serialise this instance's writes of one record slot

	big bigKeys // keys known to have a list

	dangling atomic.Int64

	writer string // this Index's id in the change feed (feed.go)

	releases releaseQueue
	trips    roundTrips // the lookups' round trips
}

type options struct {
	buckets int
	log     *zap.Logger
	hooks   []redis.Hook
	client  redis.UniversalClient
	batch   int
	trips   int
	feedLen int64
}

// Option configures an Index.
type Option func(*options)

// WithBuckets sets the key bucket count used when the index is created (a power of two,
// default DefaultBuckets; about records × keys per record / 50). An existing index keeps the
// count it was built with.
func WithBuckets(n int) Option { return func(o *options) { o.buckets = n } }

// WithLogger sets the logger (default: none).
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithHook adds a go-redis hook to the client (metrics, tracing, round-trip counting).
func WithHook(h redis.Hook) Option { return func(o *options) { o.hooks = append(o.hooks, h) } }

// WithClient uses c instead of a client built from the configuration (the configuration's
// Prefix still applies). Close does not close it.
func WithClient(c redis.UniversalClient) Option { return func(o *options) { o.client = c } }

// WithLookupTrips sets how many lookup round trips an instance keeps in flight before
// concurrent lookups wait and share the next one (default 2; see roundTrips).
func WithLookupTrips(n int) Option { return func(o *options) { o.trips = n } }

// WithBatchSize sets how many records UpsertBatch writes per pipeline (default 500).
func WithBatchSize(n int) Option { return func(o *options) { o.batch = n } }

// Default timeouts when the configuration leaves them zero: fractions of the engine's default
// 1.5 s decision deadline, so that a dead Redis costs a decision well under its deadline.
const (
	DefaultDialTimeout = 500 * time.Millisecond
	DefaultIOTimeout   = 375 * time.Millisecond
)

// New returns an index over the Redis that cfg describes: one address is a standalone server
// (or a cluster, detected on connection), several are a cluster's seed nodes, and MasterName
// selects Sentinel (the addresses are then the sentinels). It does not connect; see Ready.
func New(cfg config.Redis, opts ...Option) (*Index, error) {
	o := options{buckets: DefaultBuckets, batch: 500, trips: defaultTrips, feedLen: DefaultFeedLength}
	if cfg.Buckets != 0 {
		o.buckets = cfg.Buckets
	}
	for _, f := range opts {
		f(&o)
	}
	if o.client == nil && len(cfg.Addrs) == 0 {
		return nil, errors.New("redisindex: no address configured")
	}
	if o.buckets <= 0 || o.buckets&(o.buckets-1) != 0 {
		return nil, fmt.Errorf("redisindex: bucket count %d is not a power of two", o.buckets)
	}
	if o.batch <= 0 {
		o.batch = 500
	}
	if o.trips <= 0 {
		o.trips = defaultTrips
	}
	if o.feedLen == 0 {
		o.feedLen = DefaultFeedLength
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "dg:"
	}
	log := o.log
	if log == nil {
		log = zap.NewNop()
	}
	return &Index{cfg: cfg, prefix: cfg.Prefix, opt: o, log: log, writer: newEpoch()}, nil
}

// Ready connects and loads the index's metadata if that has not happened yet. It returns the
// error every operation would return while Redis is unreachable.
func (x *Index) Ready(ctx context.Context) error {
	_, err := x.ensure(ctx)
	return err
}

// Client returns the go-redis client once Ready has succeeded (nil before).
func (x *Index) Client() redis.UniversalClient {
	x.initMu.Lock()
	defer x.initMu.Unlock()
	return x.client
}

// Buckets returns the key bucket count in use (0 before Ready).
func (x *Index) Buckets() int {
	if st := x.st.Load(); st != nil {
		return int(st.keyBuckets)
	}
	return 0
}

// Prefix returns the prefix of every key of the index.
func (x *Index) Prefix() string { return x.prefix }

// Dangling counts the members met by lookups whose record entry was missing: zero unless keys
// were deleted behind the index's back (a maxmemory eviction policy, a manual DEL). Such
// members are skipped; dedupegate sync --full rebuilds the index.
func (x *Index) Dangling() int64 { return x.dangling.Load() }

// Close closes the client it built.
func (x *Index) Close() error {
	x.flushReleases()
	x.initMu.Lock()
	defer x.initMu.Unlock()
	if x.client != nil && x.opt.client == nil {
		return x.client.Close()
	}
	return nil
}

func (x *Index) metaKey() string { return x.prefix + "meta" }

// newEpoch names one life of an index: a Redis that lost its data (restarted without
// persistence, flushed) gets a new one when it is next initialised.
func newEpoch() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// errStale reports that the index's metadata changed under this instance (Redis lost its
// data): the caches were dropped and the operation should be done again.
var errStale = errors.New("redisindex: index metadata changed; caches reloaded")

// checkEpoch compares the epoch read with an operation's commands with st's. On a
// difference (Redis lost its data, or the index was rebuilt) it drops st, so that the next
// operation reloads the metadata, and returns errStale; the caller retries once.
func (x *Index) checkEpoch(st *state, got *redis.StringCmd) error {
	v, err := got.Result()
	if err == nil && v == st.epoch {
		return nil
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisindex: %w", err)
	}
	if x.st.CompareAndSwap(st, nil) {
		x.log.Warn("index metadata changed under this instance (Redis data lost or flushed?): reloading; run dedupegate sync --full to refill the index",
			zap.String("prefix", x.prefix))
		x.big.clear()
	}
	return errStale
}

// retryStale runs op, and once more when it found the metadata changed.
func (x *Index) retryStale(ctx context.Context, op func(*state) error) error {
	st, err := x.ensure(ctx)
	if err != nil {
		return err
	}
	if err = op(st); !errors.Is(err, errStale) {
		return err
	}
	if st, err = x.ensure(ctx); err != nil {
		return err
	}
	return op(st)
}

// state is what an instance knows about one life of the index, loaded from its meta hash.
// It never changes; a new life (Redis lost its data) gets a new state.
type state struct {
	prefix     string
	keyBuckets uint64
	recBuckets uint64
	epoch      string
	names      *names
	setNXGet   bool // the server takes SET with both NX and GET (claimOne)
}

func (st *state) keyBucket(kid uint64) string {
	return bucketKey(st.prefix, "k:", kid&(st.keyBuckets-1))
}

func (st *state) recBucket(rid uint32) string {
	return bucketKey(st.prefix, "r:", uint64(rid)&(st.recBuckets-1))
}

// ensure connects and loads the metadata if needed; on failure the next call tries again.
func (x *Index) ensure(ctx context.Context) (*state, error) {
	if st := x.st.Load(); st != nil {
		return st, nil
	}
	x.initMu.Lock()
	defer x.initMu.Unlock()
	if st := x.st.Load(); st != nil {
		return st, nil
	}
	if x.client == nil {
		c, err := x.connect(ctx)
		if err != nil {
			return nil, err
		}
		x.client = c
		x.trips = roundTrips{client: c, max: x.opt.trips}
	}
	pipe := x.client.Pipeline()
	pipe.HSetNX(ctx, x.metaKey(), "layout", layoutVersion)
	pipe.HSetNX(ctx, x.metaKey(), "buckets", x.opt.buckets)
	pipe.HSetNX(ctx, x.metaKey(), "epoch", newEpoch())
	all := pipe.HGetAll(ctx, x.metaKey())
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redisindex: %w", err)
	}
	meta := all.Val()
	if v := meta["layout"]; v != layoutVersion {
		return nil, fmt.Errorf("redisindex: the index under prefix %q has layout %q; this version reads %q (rebuild it: delete the keys and run dedupegate sync --full)", x.prefix, v, layoutVersion)
	}
	b, err := strconv.ParseUint(meta["buckets"], 10, 64)
	if err != nil || b == 0 || b&(b-1) != 0 {
		return nil, fmt.Errorf("redisindex: bad bucket count %q in %s", meta["buckets"], x.metaKey())
	}
	st := &state{prefix: x.prefix, keyBuckets: b, recBuckets: max(1, b/8), epoch: meta["epoch"], names: newNames()}
	st.names.load(meta)
	// A single key is claimed with SET NX GET where the server has it (Redis 7.0 on): a
	// fraction of the reservation script's cost. Asked of the server itself, not of its
	// version string (proxies and forks report what they like).
	err = x.client.Do(ctx, "set", reservationKey(x.prefix, "\x00probe"), "probe", "px", 1000, "nx", "get").Err()
	var rerr redis.Error
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		st.setNXGet = true
	case errors.As(err, &rerr):
		// An error reply (Redis 6: NX and GET do not combine): the script claims every key.
	default:
		return nil, fmt.Errorf("redisindex: %w", err)
	}
	x.st.Store(st)
	return st, nil
}

// connect builds the client; for a single address without Sentinel it asks the server whether
// it is a cluster node.
func (x *Index) connect(ctx context.Context) (redis.UniversalClient, error) {
	if x.opt.client != nil {
		for _, h := range x.opt.hooks {
			x.opt.client.AddHook(h)
		}
		return x.opt.client, nil
	}
	uo := x.universalOptions()
	if uo.MasterName == "" && len(uo.Addrs) == 1 {
		probe := redis.NewClient(uo.Simple())
		info, err := probe.Info(ctx, "cluster").Result()
		_ = probe.Close()
		if err != nil {
			return nil, fmt.Errorf("redisindex: connect %s: %w", uo.Addrs[0], err)
		}
		uo.IsClusterMode = strings.Contains(info, "cluster_enabled:1")
	}
	c := redis.NewUniversalClient(uo)
	for _, h := range x.opt.hooks {
		c.AddHook(h)
	}
	return c, nil
}

func (x *Index) universalOptions() *redis.UniversalOptions {
	c := x.cfg
	dial, read, write := c.DialTimeout.D(), c.ReadTimeout.D(), c.WriteTimeout.D()
	if dial <= 0 {
		dial = DefaultDialTimeout
	}
	if read <= 0 {
		read = DefaultIOTimeout
	}
	if write <= 0 {
		write = DefaultIOTimeout
	}
	uo := &redis.UniversalOptions{
		Addrs:      c.Addrs,
		MasterName: c.MasterName,
		Username:   c.Username,
		Password:   c.Password.Value(),
		DB:         c.DB,
		// Sentinels usually share the data nodes' credentials in managed offerings.
		SentinelUsername: c.Username,
		SentinelPassword: c.Password.Value(),
		DialTimeout:      dial,
		ReadTimeout:      read,
		WriteTimeout:     write,
		PoolTimeout:      read,
		// The caller's context (the decision deadline) bounds every call as well.
		ContextTimeoutEnabled: true,
		// One retry with a short back-off: a decision cannot wait for more.
		MaxRetries:         1,
		MinRetryBackoff:    5 * time.Millisecond,
		MaxRetryBackoff:    50 * time.Millisecond,
		DialerRetries:      2,
		DialerRetryTimeout: 20 * time.Millisecond,
		ClientName:         "dedupegate",
		DisableIdentity:    true,
		// RESP2: the index reads no RESP3-only reply, and with RESP3 the client looks for
		// push notifications around every pipeline (1.5% of the gateway's CPU under load).
		Protocol: 2,
	}
	if c.TLS {
		host := ""
		if len(c.Addrs) > 0 {
			host, _, _ = net.SplitHostPort(c.Addrs[0])
		}
		uo.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	return uo
}
