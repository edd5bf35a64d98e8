package entra

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// KeySet fetches a JSON Web Key Set and caches its RSA signing keys by key id. It refetches
// after RefreshInterval, and on a key id it does not know (Entra rotates keys without notice),
// at most once per MinRefetch. When a refetch fails, the keys it already has stay in use.
// It is safe for concurrent use.
type KeySet struct {
	url        string
	client     *http.Client
	refresh    time.Duration
	minRefetch time.Duration
	now        func() time.Time

	mu        sync.Mutex
	keys      map[string]*rsa.PublicKey
	fetched   time.Time // last successful fetch
	attempted time.Time // last attempt, successful or not
	fetching  chan struct{}
	lastErr   error
	fetches   int
}

// KeySetConfig configures a KeySet.
type KeySetConfig struct {
	URL string
	// Client defaults to an http.Client with a 10 s timeout.
	Client *http.Client
	// RefreshInterval defaults to 1h; MinRefetch (the unknown-key rate limit) to 1m.
	RefreshInterval time.Duration
	MinRefetch      time.Duration
	// Now replaces time.Now (tests).
	Now func() time.Time
}

// NewKeySet returns a key set that fetches lazily, on first use.
func NewKeySet(cfg KeySetConfig) *KeySet {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = time.Hour
	}
	if cfg.MinRefetch < 0 {
		cfg.MinRefetch = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &KeySet{url: cfg.URL, client: cfg.Client, refresh: cfg.RefreshInterval, minRefetch: cfg.MinRefetch, now: cfg.Now}
}

// ErrUnknownKey is returned for a key id the key set does not hold, even after a refetch.
var ErrUnknownKey = errors.New("signing key not found in the tenant's key set")

// Key returns the public key with id kid, fetching the key set when it is stale or does not
// hold kid. Fetches are rate-limited: at most one per MinRefetch (one per 5 s while no key set
// was ever fetched), and concurrent callers share one fetch.
func (s *KeySet) Key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	waited := false
	for {
		s.mu.Lock()
		now := s.now()
		k, ok := s.keys[kid]
		fresh := s.keys != nil && now.Sub(s.fetched) < s.refresh
		if ok && fresh {
			s.mu.Unlock()
			return k, nil
		}
		gap := s.minRefetch
		if s.keys == nil && gap > 5*time.Second {
			gap = 5 * time.Second
		}
		if s.fetching != nil && !waited {
			// Another caller is fetching: wait for it, then look again.
			ch := s.fetching
			s.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			waited = true
			continue
		}
		if waited || (!s.attempted.IsZero() && now.Sub(s.attempted) < gap) {
			// Rate-limited, or a fetch just ran for us: answer from what we have.
			err, haveKeys := s.lastErr, s.keys != nil
			s.mu.Unlock()
			switch {
			case ok:
				return k, nil // stale but still the best we have
			case !haveKeys && err != nil:
				return nil, fmt.Errorf("fetching signing keys: %w", err)
			}
			return nil, ErrUnknownKey
		}
		ch := make(chan struct{})
		s.fetching = ch
		s.attempted = now
		s.mu.Unlock()

		keys, err := s.fetch(ctx)
		s.mu.Lock()
		s.fetches++
		s.lastErr = err
		if err == nil {
			s.keys, s.fetched = keys, s.now()
		}
		s.fetching = nil
		close(ch)
		s.mu.Unlock()
		waited = true
	}
}

// Fetches returns how many fetches were attempted (metrics, tests).
func (s *KeySet) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// jwk is the part of a JSON Web Key that RS256 verification needs.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func (s *KeySet) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	// Detached from the caller: one caller giving up must not fail the fetch others wait for.
	timeout := s.client.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("key set answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return ParseKeySet(body)
}

// ParseKeySet decodes a JWKS document and keeps its RSA signature keys (use "sig" or unset).
func ParseKeySet(body []byte) (map[string]*rsa.PublicKey, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("key set is not valid JSON: %w", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range doc.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") || k.Kid == "" {
			continue
		}
		pub, err := rsaKey(k.N, k.E)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.Kid, err)
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("key set holds no RSA signing key")
	}
	return keys, nil
}

func rsaKey(n64, e64 string) (*rsa.PublicKey, error) {
	nb, err := base64.RawURLEncoding.DecodeString(n64)
	if err != nil {
		return nil, fmt.Errorf("modulus: %w", err)
	}
	eb, err := base64.RawURLEncoding.DecodeString(e64)
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	if len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("exponent out of range")
	}
	e := 0
	for _, b := range eb {
		e = e<<8 | int(b)
	}
	n := new(big.Int).SetBytes(nb)
	if n.BitLen() < 2048 {
		return nil, fmt.Errorf("modulus of %d bits is shorter than 2048", n.BitLen())
	}
	if e < 3 || e%2 == 0 {
		return nil, errors.New("bad exponent")
	}
	return &rsa.PublicKey{N: n, E: e}, nil
}
