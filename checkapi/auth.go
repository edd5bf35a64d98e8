package checkapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/entra"
	"github.com/dedupegate/dedupegate/webhook"
)

// Principal is an authenticated caller.
type Principal struct {
	// Kind is KindUser (an Entra token) or KindAPIKey.
	Kind string
	// OID is the Entra object id of a token caller (lower-case); empty for API keys.
	OID string
	// Roles are the token's app roles.
	Roles []string
	// Key names the API key used ("api-key-1"...), for logs; never the key itself.
	Key string
}

// Caller kinds.
const (
	KindUser   = "user"
	KindAPIKey = "api-key"
)

// TokenValidator checks bearer tokens (entra.Validator).
type TokenValidator interface {
	Validate(ctx context.Context, raw string) (*entra.Claims, error)
}

// Authenticator accepts Entra ID bearer tokens and API keys.
type Authenticator struct {
	tokens TokenValidator // nil: bearer tokens are refused
	keys   [][32]byte     // SHA-256 of each accepted API key
}

// NewAuthenticator returns an authenticator. tokens may be nil (API keys only); keys may be
// empty (tokens only).
func NewAuthenticator(tokens TokenValidator, keys ...string) *Authenticator {
	a := &Authenticator{tokens: tokens}
	for _, k := range keys {
		if k != "" {
			a.keys = append(a.keys, sha256.Sum256([]byte(k)))
		}
	}
	return a
}

// Errors of Authenticate; the HTTP layer turns them into 401 and 503.
var (
	ErrNoCredentials = errors.New("no credentials: send Authorization: Bearer <Entra ID token> or X-API-Key")
	ErrBadCredential = errors.New("credentials refused")
)

// APIKeyHeader carries an API key.
const APIKeyHeader = "X-API-Key"

// Authenticate identifies the caller of r.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (Principal, error) {
	if key := r.Header.Get(APIKeyHeader); key != "" {
		// Compare against every key, in constant time, so that timing tells nothing about
		// which key (or how much of one) matched.
		sum := sha256.Sum256([]byte(key))
		found := -1
		for i := range a.keys {
			if subtle.ConstantTimeCompare(sum[:], a.keys[i][:]) == 1 {
				found = i
			}
		}
		if found < 0 {
			return Principal{}, fmt.Errorf("%w: unknown API key", ErrBadCredential)
		}
		return Principal{Kind: KindAPIKey, Key: fmt.Sprintf("api-key-%d", found+1)}, nil
	}
	authz := r.Header.Get(echo.HeaderAuthorization)
	if authz == "" {
		return Principal{}, ErrNoCredentials
	}
	scheme, raw, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return Principal{}, fmt.Errorf("%w: Authorization must be a Bearer token", ErrBadCredential)
	}
	if a.tokens == nil {
		return Principal{}, fmt.Errorf("%w: bearer tokens are not configured (check_api.entra)", ErrBadCredential)
	}
	c, err := a.tokens.Validate(ctx, strings.TrimSpace(raw))
	if err != nil {
		if errors.Is(err, entra.ErrInvalid) {
			return Principal{}, fmt.Errorf("%w: %w", ErrBadCredential, err)
		}
		return Principal{}, err // could not check (key set unreachable)
	}
	return Principal{Kind: KindUser, OID: c.OID, Roles: c.Roles}, nil
}

type principalKey struct{}

// PrincipalFrom returns the caller stored by the auth middleware.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// middleware authenticates every request except CORS preflights (answered before it).
func (a *Authenticator) middleware(log *zap.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			l := webhook.LoggerFrom(r.Context(), log)
			p, err := a.Authenticate(r.Context(), r)
			if err != nil {
				if errors.Is(err, ErrNoCredentials) || errors.Is(err, ErrBadCredential) {
					// The reason is logged (it names no secret); the caller only learns 401.
					l.Info("check API call refused", zap.String("why", err.Error()))
					c.Response().Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
					return c.JSON(http.StatusUnauthorized, errorBody{Error: "unauthorized"})
				}
				l.Error("check API authentication unavailable", zap.Error(err))
				return c.JSON(http.StatusServiceUnavailable, errorBody{Error: "authentication is temporarily unavailable"})
			}
			ctx := context.WithValue(r.Context(), principalKey{}, p)
			fields := []zap.Field{zap.String("caller_kind", p.Kind)}
			if p.Key != "" {
				fields = append(fields, zap.String("api_key", p.Key))
			}
			if p.OID != "" {
				fields = append(fields, zap.String("caller_oid", p.OID)) // an opaque id, not personal data in clear
			}
			ctx = webhook.WithLogger(ctx, l.With(fields...))
			c.SetRequest(r.WithContext(ctx))
			return next(c)
		}
	}
}
