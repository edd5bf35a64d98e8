package entra_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dedupegate/dedupegate/entra"
	"github.com/dedupegate/dedupegate/entra/entratest"
)

const oid = "0a1b2c3d-0000-1111-2222-333344445555"

func newValidator(t *testing.T, tn *entratest.Tenant, minRefetch time.Duration, roles ...string) (*entra.Validator, *entra.KeySet) {
	t.Helper()
	ks := entra.NewKeySet(entra.KeySetConfig{URL: tn.JWKSURL(), MinRefetch: minRefetch})
	v, err := entra.NewValidator(entra.Config{Issuers: []string{tn.Issuer(), "https://sts.windows.net/" + tn.ID + "/"},
		Audiences: []string{tn.Audience}, TenantID: tn.ID, Keys: ks, RequiredRoles: roles})
	if err != nil {
		t.Fatal(err)
	}
	return v, ks
}

func TestValidate(t *testing.T) {
	tn := entratest.New(t)
	v, _ := newValidator(t, tn, time.Minute)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	with := func(mod func(c jwt.MapClaims)) string {
		c := tn.Claims(strings.ToUpper(oid))
		mod(c)
		return tn.Token(t, c)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, tn.Claims(oid))
	hs.Header["kid"] = "k1"
	hsToken, _ := hs.SignedString([]byte("guessable"))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, tn.Claims(oid)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	valid := tn.UserToken(t, oid)

	tests := []struct {
		name  string
		token string
		want  string // "" = accepted; else a substring of the error
	}{
		{"valid", valid, ""},
		{"v1 issuer", with(func(c jwt.MapClaims) { c["iss"] = "https://sts.windows.net/" + tn.ID + "/" }), ""},
		{"audience in a list", with(func(c jwt.MapClaims) { c["aud"] = []string{"other", tn.Audience} }), ""},
		{"within clock skew", with(func(c jwt.MapClaims) { c["exp"] = now.Add(-30 * time.Second).Unix() }), ""},
		{"expired", with(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * time.Minute).Unix() }), "expired"},
		{"no exp", with(func(c jwt.MapClaims) { delete(c, "exp") }), "exp"},
		{"not yet valid", with(func(c jwt.MapClaims) { c["nbf"] = now.Add(5 * time.Minute).Unix() }), "not valid yet"},
		{"no nbf", with(func(c jwt.MapClaims) { delete(c, "nbf") }), "nbf"},
		{"issued in the future", with(func(c jwt.MapClaims) { c["iat"] = now.Add(5 * time.Minute).Unix() }), "used before issued"},
		{"other audience", with(func(c jwt.MapClaims) { c["aud"] = "api://someone-else" }), "audience"},
		{"other issuer", with(func(c jwt.MapClaims) { c["iss"] = "https://login.microsoftonline.com/evil/v2.0" }), "issuer"},
		{"other tenant", with(func(c jwt.MapClaims) { c["tid"] = "ffffffff-0000-0000-0000-000000000000" }), "tenant"},
		{"no oid", with(func(c jwt.MapClaims) { delete(c, "oid") }), "oid"},
		{"signed by another key with a known kid", entratest.SignWith(t, other, "k1", tn.Claims(oid)), "signature"},
		{"unknown kid", entratest.SignWith(t, other, "k9", tn.Claims(oid)), "not found"},
		{"no kid", entratest.SignWith(t, other, "", tn.Claims(oid)), "key id"},
		{"HS256 (algorithm confusion)", hsToken, "signing method"},
		{"alg none", none, "signing method"},
		{"tampered payload", tamper(valid), "signature"},
		{"garbage", "not.a.token", "invalid token"},
		{"empty", "", "invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Validate(context.Background(), tt.token)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.OID != oid {
					t.Errorf("oid %q, want lower-case %q", c.OID, oid)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, entra.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

// tamper changes one claim without re-signing.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	claims, _ := jwt.NewParser().DecodeSegment(parts[1])
	s := strings.Replace(string(claims), `"oid":"`, `"oid":"f`, 1)
	parts[1] = strings.TrimRight(jwtEncode([]byte(s)), "=")
	return strings.Join(parts, ".")
}

func jwtEncode(b []byte) string { return (&jwt.Token{}).EncodeSegment(b) }

func TestRequiredRoles(t *testing.T) {
	tn := entratest.New(t)
	v, _ := newValidator(t, tn, time.Minute, "DedupeGate.Check")
	if _, err := v.Validate(context.Background(), tn.UserToken(t, oid)); err == nil || !strings.Contains(err.Error(), "role") {
		t.Fatalf("token without the role: %v", err)
	}
	if _, err := v.Validate(context.Background(), tn.UserToken(t, oid, "Other", "DedupeGate.Check")); err != nil {
		t.Fatalf("token with the role: %v", err)
	}
}

func TestKeyRotationRefetchesOnce(t *testing.T) {
	tn := entratest.New(t)
	v, ks := newValidator(t, tn, time.Hour)
	ctx := context.Background()
	if _, err := v.Validate(ctx, tn.UserToken(t, oid)); err != nil {
		t.Fatal(err)
	}
	if ks.Fetches() != 1 {
		t.Fatalf("fetches %d after first token", ks.Fetches())
	}
	for i := 0; i < 5; i++ {
		if _, err := v.Validate(ctx, tn.UserToken(t, oid)); err != nil {
			t.Fatal(err)
		}
	}
	if ks.Fetches() != 1 {
		t.Fatalf("cached keys refetched: %d fetches", ks.Fetches())
	}
	// Entra rotates: the new key is published and used at once. The first token with the new
	// kid triggers a refetch even though the cache is fresh... but only once per MinRefetch.
	tn.Rotate(t, "k2", false)
	// A fresh validator (no rate limit yet) accepts the new key.
	v2, _ := newValidator(t, tn, 0)
	if _, err := v2.Validate(ctx, tn.UserToken(t, oid)); err != nil {
		t.Fatal(err)
	}
	// With MinRefetch 1h, the validator that already fetched once may not refetch: the new kid
	// stays unknown (rate limit), and forged kids cannot make it hammer the tenant.
	for i := 0; i < 3; i++ {
		if _, err := v.Validate(ctx, tn.UserToken(t, oid)); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("rate-limited refetch: %v", err)
		}
	}
	if ks.Fetches() != 1 {
		t.Fatalf("unknown kid refetched despite the rate limit: %d fetches", ks.Fetches())
	}
}

func TestUnknownKidRefetchedAfterGap(t *testing.T) {
	tn := entratest.New(t)
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ks := entra.NewKeySet(entra.KeySetConfig{URL: tn.JWKSURL(), MinRefetch: time.Minute, RefreshInterval: time.Hour, Now: clock})
	v, err := entra.NewValidator(entra.Config{Issuers: []string{tn.Issuer()}, Audiences: []string{tn.Audience}, Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Validate(ctx, tn.UserToken(t, oid)); err != nil {
		t.Fatal(err)
	}
	tn.Rotate(t, "k2", true)
	if _, err := v.Validate(ctx, tn.UserToken(t, oid)); err == nil {
		t.Fatal("new kid accepted within the refetch gap")
	}
	advance(61 * time.Second)
	if _, err := v.Validate(ctx, tn.UserToken(t, oid)); err != nil {
		t.Fatalf("new kid after the gap: %v", err)
	}
	if ks.Fetches() != 2 {
		t.Fatalf("fetches %d, want 2", ks.Fetches())
	}
	// Periodic refresh: after RefreshInterval the set is refetched even for a known kid, and a
	// dropped key stops being accepted.
	old := tn.UserToken(t, oid)
	tn.Rotate(t, "k3", true)
	advance(time.Hour)
	if _, err := v.Validate(ctx, old); err == nil {
		t.Fatal("token signed by a key the tenant no longer publishes was accepted after refresh")
	}
	if ks.Fetches() != 3 {
		t.Fatalf("fetches %d, want 3", ks.Fetches())
	}
}

func TestKeySetUnavailable(t *testing.T) {
	tn := entratest.New(t)
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ks := entra.NewKeySet(entra.KeySetConfig{URL: tn.JWKSURL(), MinRefetch: time.Minute, RefreshInterval: time.Hour, Now: clock})
	v, _ := entra.NewValidator(entra.Config{Issuers: []string{tn.Issuer()}, Audiences: []string{tn.Audience}, Keys: ks, Now: clock})
	ctx := context.Background()
	c := tn.Claims(oid)
	c["exp"] = now.Add(3 * time.Hour).Unix()
	tok := tn.Token(t, c)

	tn.SetDown(true)
	_, err := v.Validate(ctx, tok)
	if err == nil || errors.Is(err, entra.ErrInvalid) {
		t.Fatalf("key set down at start: want an availability error, not a verdict on the token: %v", err)
	}
	tn.SetDown(false)
	advance(6 * time.Second) // the no-keys retry gap is 5 s
	if _, err := v.Validate(ctx, tok); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	// Down again when the cache goes stale: the keys it has stay in use.
	tn.SetDown(true)
	advance(time.Hour + time.Second)
	before := ks.Fetches()
	if _, err := v.Validate(ctx, tok); err != nil {
		t.Fatalf("stale keys not used while the key set is down: %v", err)
	}
	if ks.Fetches() != before+1 {
		t.Fatalf("stale cache not refetched: %d fetches, want %d", ks.Fetches(), before+1)
	}
}

func TestConcurrentFirstUseFetchesOnce(t *testing.T) {
	tn := entratest.New(t)
	v, ks := newValidator(t, tn, time.Minute)
	tok := tn.UserToken(t, oid)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Validate(context.Background(), tok); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ks.Fetches() != 1 {
		t.Fatalf("fetches %d, want 1", ks.Fetches())
	}
}

func TestParseKeySetRejectsBadKeys(t *testing.T) {
	for _, body := range []string{`nope`, `{"keys":[]}`, `{"keys":[{"kty":"EC","kid":"a"}]}`,
		`{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"}]}`, `{"keys":[{"kty":"RSA","kid":"a","n":"!!","e":"AQAB"}]}`} {
		if _, err := entra.ParseKeySet([]byte(body)); err == nil {
			t.Errorf("%s: accepted", body)
		}
	}
}
