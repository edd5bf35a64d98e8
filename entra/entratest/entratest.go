// Package entratest stands in for a Microsoft Entra ID tenant in tests: it generates RSA signing
// keys, serves them as a JSON Web Key Set on a loopback HTTP server, and mints RS256 access
// tokens shaped like Entra's v2.0 tokens.
package entratest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Tenant is a fake tenant: a key set served over HTTP and a token minter.
type Tenant struct {
	ID       string
	Audience string
	Server   *httptest.Server

	mu      sync.Mutex
	keys    map[string]*rsa.PrivateKey // published keys by kid
	current string                     // kid that signs
	down    atomic.Bool
	hits    atomic.Int64
}

// TB is the part of testing.TB the package needs.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// New starts a tenant with one published 2048-bit key "k1". The server stops at cleanup.
func New(t TB) *Tenant {
	t.Helper()
	tn := &Tenant{ID: "aaaabbbb-0000-cccc-1111-dddd2222eeee", Audience: "api://dedupegate", keys: map[string]*rsa.PrivateKey{}}
	tn.AddKey(t, "k1")
	tn.current = "k1"
	tn.Server = httptest.NewServer(http.HandlerFunc(tn.serve))
	t.Cleanup(tn.Server.Close)
	return tn
}

// JWKSURL is the key set's address.
func (tn *Tenant) JWKSURL() string { return tn.Server.URL + "/discovery/v2.0/keys" }

// Issuer is the tenant's v2.0 issuer.
func (tn *Tenant) Issuer() string { return "https://login.microsoftonline.com/" + tn.ID + "/v2.0" }

// Hits counts key set requests.
func (tn *Tenant) Hits() int64 { return tn.hits.Load() }

// SetDown makes the key set answer 503 (or recover).
func (tn *Tenant) SetDown(down bool) { tn.down.Store(down) }

// AddKey generates and publishes a key.
func (tn *Tenant) AddKey(t TB, kid string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tn.mu.Lock()
	tn.keys[kid] = k
	tn.mu.Unlock()
}

// Rotate publishes a new key kid and signs with it from now on; it keeps the old keys
// published unless drop is set.
func (tn *Tenant) Rotate(t TB, kid string, drop bool) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if drop {
		tn.keys = map[string]*rsa.PrivateKey{}
	}
	tn.keys[kid] = k
	tn.current = kid
}

func (tn *Tenant) serve(w http.ResponseWriter, r *http.Request) {
	tn.hits.Add(1)
	if tn.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	type jwk struct {
		Kty string   `json:"kty"`
		Use string   `json:"use"`
		Kid string   `json:"kid"`
		N   string   `json:"n"`
		E   string   `json:"e"`
		X5c []string `json:"x5c,omitempty"`
	}
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	tn.mu.Lock()
	for kid, k := range tn.keys {
		doc.Keys = append(doc.Keys, jwk{Kty: "RSA", Use: "sig", Kid: kid,
			N: base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
	}
	tn.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

// Claims returns valid claims for a user with object id oid, valid for an hour.
func (tn *Tenant) Claims(oid string, roles ...string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": tn.Issuer(), "aud": tn.Audience, "tid": tn.ID, "oid": oid, "sub": "sub-" + oid,
		"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
		"name": "Test User", "preferred_username": "test.user@contoso.example", "scp": "Check", "ver": "2.0",
		"roles": roles, "azp": "11112222-3333-4444-5555-666677778888",
	}
}

// Token signs claims with the current key.
func (tn *Tenant) Token(t TB, claims jwt.MapClaims) string {
	t.Helper()
	tn.mu.Lock()
	kid := tn.current
	k := tn.keys[kid]
	tn.mu.Unlock()
	return SignWith(t, k, kid, claims)
}

// SignWith signs claims with an arbitrary key and key id (forgeries in tests).
func SignWith(t TB, k *rsa.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// UserToken is Token(Claims(oid, roles...)).
func (tn *Tenant) UserToken(t TB, oid string, roles ...string) string {
	t.Helper()
	return tn.Token(t, tn.Claims(oid, roles...))
}
