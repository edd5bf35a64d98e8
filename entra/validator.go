package entra

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the parts of an Entra ID access token the gateway uses.
type Claims struct {
	jwt.RegisteredClaims
	// OID is the caller's object id: the user (or service principal) in the tenant. It is what
	// Dataverse's CallerObjectId impersonation header takes.
	OID string `json:"oid"`
	// TID is the tenant id.
	TID string `json:"tid"`
	// Roles are the app roles assigned to the caller.
	Roles []string `json:"roles"`
	// Scp holds the delegated scopes, space-separated (user tokens).
	Scp string `json:"scp"`
	// Name and PreferredUsername are for display; never logged.
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	// AppID identifies the client application (azp in v2 tokens, appid in v1).
	AZP   string `json:"azp"`
	AppID string `json:"appid"`
}

// Config configures a Validator.
type Config struct {
	// Issuers are the accepted iss values; Audiences the accepted aud values (any one).
	Issuers   []string
	Audiences []string
	// TenantID, when set, must equal the tid claim.
	TenantID string
	// Keys resolves key ids to public keys.
	Keys *KeySet
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 1m.
	Leeway time.Duration
	// RequiredRoles, when set, admits only tokens holding one of these app roles.
	RequiredRoles []string
	// Now replaces time.Now (tests).
	Now func() time.Time
}

// Validator checks Entra ID bearer tokens: RS256 signature by a key of the tenant's key set,
// issuer, audience, expiry and not-before, tenant, and the presence of an object id.
type Validator struct {
	cfg    Config
	parser *jwt.Parser
}

// NewValidator returns a validator. It fetches no keys until the first token.
func NewValidator(cfg Config) (*Validator, error) {
	if len(cfg.Issuers) == 0 || len(cfg.Audiences) == 0 || cfg.Keys == nil {
		return nil, errors.New("entra: issuers, audiences and a key set are required")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithAudience(cfg.Audiences...),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(cfg.Now),
	)
	return &Validator{cfg: cfg, parser: p}, nil
}

// ErrInvalid wraps every rejection, so callers can tell "bad token" from "could not check".
var ErrInvalid = errors.New("invalid token")

// Validate parses and checks a raw bearer token and returns its claims. A token that cannot be
// checked because the key set is unreachable returns an error that is not ErrInvalid.
func (v *Validator) Validate(ctx context.Context, raw string) (*Claims, error) {
	var keyErr error
	claims := &Claims{}
	_, err := v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no key id")
		}
		k, err := v.cfg.Keys.Key(ctx, kid)
		if err != nil && !errors.Is(err, ErrUnknownKey) {
			keyErr = err
		}
		return k, err
	})
	if keyErr != nil {
		return nil, fmt.Errorf("entra: %w", keyErr)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !slices.Contains(v.cfg.Issuers, claims.Issuer) {
		return nil, fmt.Errorf("%w: issuer not accepted", ErrInvalid)
	}
	if claims.NotBefore == nil {
		// Entra always sets nbf; a token without it was not minted by Entra.
		return nil, fmt.Errorf("%w: token has no nbf", ErrInvalid)
	}
	if v.cfg.TenantID != "" && !strings.EqualFold(claims.TID, v.cfg.TenantID) {
		return nil, fmt.Errorf("%w: token is from another tenant", ErrInvalid)
	}
	if claims.OID == "" {
		return nil, fmt.Errorf("%w: token has no oid", ErrInvalid)
	}
	claims.OID = strings.ToLower(claims.OID)
	if len(v.cfg.RequiredRoles) > 0 && !HasAnyRole(claims.Roles, v.cfg.RequiredRoles) {
		return nil, fmt.Errorf("%w: caller lacks a required role", ErrInvalid)
	}
	return claims, nil
}

// HasAnyRole reports whether roles holds one of want (case-sensitive, as Entra role values are).
func HasAnyRole(roles, want []string) bool {
	for _, r := range roles {
		if slices.Contains(want, r) {
			return true
		}
	}
	return false
}
