package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
)

// AuthType is how Dataverse presents the shared secret (serviceendpoint.authtype).
type AuthType string

// The three webhook auth types (dataverse-facts.md §4).
const (
	AuthHeader      AuthType = "header"      // HttpHeader (authtype 5): a header with the secret
	AuthWebhookKey  AuthType = "webhookkey"  // WebhookKey (authtype 4): ?code=<secret>
	AuthQueryString AuthType = "querystring" // HttpQueryString (authtype 6): ?<name>=<secret>
)

// Authenticator checks the shared secret of a webhook call. It accepts any of up to two secrets
// (current and previous) so that a secret can be rotated without downtime.
type Authenticator struct {
	typ     AuthType
	name    string
	digests [][32]byte
}

// NewAuthenticator returns an authenticator. name is the header or query parameter (ignored for
// AuthWebhookKey, which always uses "code").
func NewAuthenticator(typ AuthType, name string, secrets ...string) *Authenticator {
	a := &Authenticator{typ: typ, name: name}
	if typ == AuthWebhookKey {
		a.name = "code"
	}
	for _, s := range secrets {
		if s != "" {
			a.digests = append(a.digests, sha256.Sum256([]byte(s)))
		}
	}
	return a
}

// Check reports whether r carries one of the secrets. Comparison is constant-time: both sides
// are hashed to a fixed length first, so neither the secret's length nor its content leaks
// through timing, and every configured secret is compared whatever the outcome.
func (a *Authenticator) Check(r *http.Request) bool {
	var got string
	if a.typ == AuthHeader {
		got = r.Header.Get(a.name)
	} else {
		got = r.URL.Query().Get(a.name)
	}
	if got == "" || len(a.digests) == 0 {
		return false
	}
	d := sha256.Sum256([]byte(got))
	ok := 0
	for i := range a.digests {
		ok |= subtle.ConstantTimeCompare(d[:], a.digests[i][:])
	}
	return ok == 1
}
