package override

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// prefix starts every token: the format version.
const prefix = "dg1."

// Config configures Tokens.
type Config struct {
	// Secret signs new tokens; Previous (optional) still verifies during a rotation. Each at
	// least 32 bytes.
	Secret   []byte
	Previous []byte
	// TTL is a token's lifetime. Default 10m.
	TTL time.Duration
	// AllowedUsers (lower-case Entra object ids or systemuserids) and AllowedRoles limit who
	// may obtain a token; both empty allows every authenticated user.
	AllowedUsers []string
	AllowedRoles []string
	// Used remembers spent token ids. Default: in memory (one gateway instance).
	Used UsedStore
	// Now replaces time.Now (tests).
	Now func() time.Time
}

// UsedStore remembers spent token ids until they expire.
type UsedStore interface {
	// Spend records id as used until until. It reports false when id was already spent.
	Spend(ctx context.Context, id string, until time.Time) (bool, error)
}

// Tokens issues and verifies override tokens. It implements rules.OverrideVerifier and is safe
// for concurrent use.
type Tokens struct {
	cfg   Config
	users map[string]bool
}

var _ rules.OverrideVerifier = (*Tokens)(nil)

// New returns a token issuer and verifier.
func New(cfg Config) (*Tokens, error) {
	if len(cfg.Secret) < 32 {
		return nil, errors.New("override: the secret must be at least 32 bytes")
	}
	if len(cfg.Previous) > 0 && len(cfg.Previous) < 32 {
		return nil, errors.New("override: the previous secret must be at least 32 bytes")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Used == nil {
		cfg.Used = NewMemoryUsed(cfg.Now)
	}
	t := &Tokens{cfg: cfg, users: map[string]bool{}}
	for _, u := range cfg.AllowedUsers {
		t.users[strings.ToLower(strings.TrimSpace(u))] = true
	}
	return t, nil
}

// TTL returns the tokens' lifetime.
func (t *Tokens) TTL() time.Duration { return t.cfg.TTL }

// MayOverride reports whether a caller with these user ids (Entra object id, systemuserid)
// and app roles may be offered a token.
func (t *Tokens) MayOverride(userIDs, roles []string) bool {
	if len(t.users) == 0 && len(t.cfg.AllowedRoles) == 0 {
		return true
	}
	for _, u := range userIDs {
		if u != "" && t.users[strings.ToLower(u)] {
			return true
		}
	}
	for _, r := range roles {
		if slices.Contains(t.cfg.AllowedRoles, r) {
			return true
		}
	}
	return false
}

// claims is the signed payload. Short JSON names keep the token small (it travels in a column
// or the tag parameter).
type claims struct {
	ID      string   `json:"j"`           // random token id (single use)
	User    string   `json:"u"`           // lower-case Entra object id or systemuserid
	Table   string   `json:"t"`           // logical name of the table
	Record  string   `json:"r,omitempty"` // record id for an update; empty for a create
	Attrs   []string `json:"a"`           // watched attributes the digest covers, sorted
	Digest  string   `json:"d"`           // digest of those attributes' normalised values
	Matches []string `json:"m"`           // hashes of the matched records (entity/id)
	Expires int64    `json:"e"`           // unix seconds
}

// Token is an issued token.
type Token struct {
	Value     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Issue returns a token for user to save rec despite matches. attrs are the attributes the
// table's rules read (rules.Set.WatchedAttrs): the token stays valid only while their values
// stay the same.
func (t *Tokens) Issue(user string, rec matcher.Record, attrs []string, matches []rules.Match) (Token, error) {
	if user == "" {
		return Token{}, errors.New("override: a token must be bound to a user")
	}
	if rec.Entity == "" {
		return Token{}, errors.New("override: a token must be bound to a table")
	}
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Token{}, fmt.Errorf("override: %w", err)
	}
	attrs = slices.Clone(attrs)
	sort.Strings(attrs)
	attrs = slices.Compact(attrs)
	exp := t.cfg.Now().Add(t.cfg.TTL).Truncate(time.Second)
	c := claims{
		ID:      base64.RawURLEncoding.EncodeToString(id[:]),
		User:    strings.ToLower(user),
		Table:   rec.Entity,
		Record:  strings.ToLower(rec.ID),
		Attrs:   attrs,
		Digest:  Digest(rec, attrs),
		Matches: []string{},
		Expires: exp.Unix(),
	}
	for _, m := range matches {
		if m.Reserved || m.ID == "" {
			continue
		}
		if h := matchHash(m.Entity, m.ID); !slices.Contains(c.Matches, h) {
			c.Matches = append(c.Matches, h)
		}
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return Token{}, fmt.Errorf("override: %w", err)
	}
	body := prefix + base64.RawURLEncoding.EncodeToString(payload)
	return Token{Value: body + "." + base64.RawURLEncoding.EncodeToString(sign(t.cfg.Secret, body)), ExpiresAt: exp}, nil
}

// Refusal reasons. Verify wraps one of them; the text is safe to log and to show (no data).
var (
	ErrMalformed   = errors.New("override token is malformed")
	ErrSignature   = errors.New("override token signature is invalid")
	ErrExpired     = errors.New("override token has expired")
	ErrOtherUser   = errors.New("override token was issued to another user")
	ErrOtherTable  = errors.New("override token was issued for another table")
	ErrOtherRecord = errors.New("override token was issued for another record")
	ErrOtherData   = errors.New("override token was issued for other values of the matched columns")
	ErrNewMatch    = errors.New("the save matches a record the override token does not cover")
	ErrConcurrent  = errors.New("a concurrent save of the same record is in progress; an override cannot cover it")
	ErrReplayed    = errors.New("override token was already used")
)

// Verify implements rules.OverrideVerifier: nil when token lets req be saved despite matches.
// A token passes once; every check runs before it is spent, so a refused token is not burned.
func (t *Tokens) Verify(ctx context.Context, token string, req rules.Request, matches []rules.Match) error {
	c, err := t.parse(token)
	if err != nil {
		return err
	}
	now := t.cfg.Now()
	exp := time.Unix(c.Expires, 0)
	if !now.Before(exp) {
		return ErrExpired
	}
	if c.User == "" || (!strings.EqualFold(c.User, req.UserAADID) && !strings.EqualFold(c.User, req.UserID)) {
		return ErrOtherUser
	}
	if c.Table != req.Record.Entity {
		return ErrOtherTable
	}
	if c.Record != "" && !strings.EqualFold(c.Record, req.Record.ID) {
		return ErrOtherRecord
	}
	if !hmac.Equal([]byte(Digest(req.Record, c.Attrs)), []byte(c.Digest)) {
		return ErrOtherData
	}
	for _, m := range matches {
		if m.Action != rules.ActionBlock || m.Level != rules.OutcomeBlock {
			continue // this match does not block the save
		}
		if m.Reserved {
			return ErrConcurrent
		}
		if !slices.Contains(c.Matches, matchHash(m.Entity, m.ID)) {
			return ErrNewMatch
		}
	}
	first, err := t.cfg.Used.Spend(ctx, c.ID, exp)
	if err != nil {
		return fmt.Errorf("override token could not be checked for reuse: %w", err)
	}
	if !first {
		return ErrReplayed
	}
	return nil
}

// parse checks the format and the signature and decodes the claims.
func (t *Tokens) parse(token string) (claims, error) {
	var c claims
	token = strings.TrimSpace(token)
	if !strings.HasPrefix(token, prefix) || len(token) > 4096 {
		return c, ErrMalformed
	}
	dot := strings.LastIndexByte(token, '.')
	if dot <= len(prefix) {
		return c, ErrMalformed
	}
	body, sig64 := token[:dot], token[dot+1:]
	sig, err := base64.RawURLEncoding.DecodeString(sig64)
	if err != nil {
		return c, ErrMalformed
	}
	ok := hmac.Equal(sig, sign(t.cfg.Secret, body))
	if !ok && len(t.cfg.Previous) > 0 {
		ok = hmac.Equal(sig, sign(t.cfg.Previous, body))
	}
	if !ok {
		return c, ErrSignature
	}
	payload, err := base64.RawURLEncoding.DecodeString(body[len(prefix):])
	if err != nil {
		return c, ErrMalformed
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.ID == "" {
		return c, ErrMalformed
	}
	return c, nil
}

func sign(secret []byte, body string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// Digest hashes the normalised values of attrs in rec: Unicode NFKC, case folded, surrounding
// and repeated white space removed, a date-time reduced to its date; an empty value counts as
// absent. The check API and the webhook render values the same way (dataverse.ValueString), so
// the same data gives the same digest whichever door it came through. Dates keep only their
// day because a browser sends a date column as the user's local day while Dataverse may send
// it as a UTC instant (UNCONFIRMED for Date Only columns; see docs/check-api.md).
func Digest(rec matcher.Record, attrs []string) string {
	h := sha256.New()
	for _, a := range attrs {
		h.Write([]byte(a))
		h.Write([]byte{0})
		h.Write([]byte(normalise(rec.Attrs[a])))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
}

func normalise(v string) string {
	v = strings.ToLower(strings.Join(strings.Fields(norm.NFKC.String(v)), " "))
	if dateRE.MatchString(v) {
		return v[:10]
	}
	return v
}

// dateRE matches an ISO 8601 date or date-time (2024-05-01, 2024-05-01t00:00:00z after folding).
var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(t\d{2}:\d{2}(:\d{2}(\.\d+)?)?(z|[+-]\d{2}:?\d{2})?)?$`)

// matchHash identifies a matched record without revealing its id.
func matchHash(entity, id string) string {
	s := sha256.Sum256([]byte(entity + "/" + strings.ToLower(id)))
	return base64.RawURLEncoding.EncodeToString(s[:9])
}
