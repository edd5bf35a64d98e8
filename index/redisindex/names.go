package redisindex

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// names maps table and attribute names to the small codes stored in refs and record values.
// The codes live in the meta hash, shared by every gateway instance; each instance caches them
// and reloads on an unknown code (another instance allocated it).
type names struct {
	mu     sync.RWMutex
	tables map[string]uint64
	attrs  map[string]uint64
	tableN map[uint64]string
	attrN  map[uint64]string
}

const (
	kindTable = "e:"
	kindAttr  = "a:"
)

func newNames() *names {
	return &names{tables: map[string]uint64{}, attrs: map[string]uint64{}, tableN: map[uint64]string{}, attrN: map[uint64]string{}}
}

// load replaces the cache from the meta hash's fields.
func (n *names) load(meta map[string]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for f, v := range meta {
		code, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(f, kindTable):
			n.tables[f[2:]], n.tableN[code] = code, f[2:]
		case strings.HasPrefix(f, kindAttr):
			n.attrs[f[2:]], n.attrN[code] = code, f[2:]
		}
	}
}

func (n *names) cached(kind, name string) (uint64, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if kind == kindTable {
		c, ok := n.tables[name]
		return c, ok
	}
	c, ok := n.attrs[name]
	return c, ok
}

func (n *names) name(kind string, code uint64) (string, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if kind == kindTable {
		s, ok := n.tableN[code]
		return s, ok
	}
	s, ok := n.attrN[code]
	return s, ok
}

func (n *names) set(kind, name string, code uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if kind == kindTable {
		n.tables[name], n.tableN[code] = code, name
	} else {
		n.attrs[name], n.attrN[code] = code, name
	}
}

// allocScript returns the code of ARGV[1] in the meta hash, allocating the next one from the
// counter ARGV[2] when it has none. One key: safe in Cluster mode.
var allocScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then return tonumber(v) end
local n = redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('HSET', KEYS[1], ARGV[1], n)
return n
`)

// code returns name's code, allocating it in Redis the first time any instance meets it.
func (x *Index) code(ctx context.Context, st *state, kind, name string) (uint64, error) {
	if c, ok := st.names.cached(kind, name); ok {
		return c, nil
	}
	counter := "n" + kind[:1]
	c, err := allocScript.Eval(ctx, x.client, []string{x.metaKey()}, kind+name, counter).Uint64()
	if err != nil {
		return 0, fmt.Errorf("allocate code for %s%s: %w", kind, name, err)
	}
	if kind == kindTable && c > maxTableCode {
		return 0, fmt.Errorf("too many tables in the index (at most %d)", maxTableCode)
	}
	st.names.set(kind, name, c)
	return c, nil
}

// nameOf returns the name of a code, reloading the meta hash once when the code is unknown.
func (x *Index) nameOf(ctx context.Context, st *state, kind string, code uint64) (string, error) {
	if s, ok := st.names.name(kind, code); ok {
		return s, nil
	}
	meta, err := x.client.HGetAll(ctx, x.metaKey()).Result()
	if err != nil {
		return "", fmt.Errorf("reload name codes: %w", err)
	}
	if meta["epoch"] != st.epoch {
		return "", errStale
	}
	st.names.load(meta)
	if s, ok := st.names.name(kind, code); ok {
		return s, nil
	}
	return "", fmt.Errorf("unknown %s code %d", strings.TrimSuffix(kind, ":"), code)
}
