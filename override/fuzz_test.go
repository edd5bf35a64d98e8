package override_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/dedupegate/dedupegate/override"
	"github.com/dedupegate/dedupegate/rules"
)

// FuzzVerify: whatever arrives in the tag parameter or the override column, Verify neither
// panics nor accepts anything but an untouched token it issued.
func FuzzVerify(f *testing.F) {
	tk, err := override.New(override.Config{Secret: []byte(secret)})
	if err != nil {
		f.Fatal(err)
	}
	ms := []rules.Match{blockMatch(dupID)}
	good, err := tk.Issue(oid, record(), watched, ms)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.Value)
	f.Add("dg1.")
	f.Add("dg1.e30.")
	f.Add("dg1.eyJqIjoieCJ9.AAAA")
	f.Add(strings.Repeat("dg1.", 2000))
	f.Fuzz(func(t *testing.T, token string) {
		fresh, _ := override.New(override.Config{Secret: []byte(secret)})
		if fresh.Verify(context.Background(), token, req(record()), ms) != nil {
			return
		}
		// Accepted: it must carry this secret's signature of its body (the fuzzer cannot forge
		// one), and it must not pass twice.
		tok := strings.TrimSpace(token)
		dot := strings.LastIndexByte(tok, '.')
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(tok[:dot]))
		if base64.RawURLEncoding.EncodeToString(m.Sum(nil)) != tok[dot+1:] {
			t.Fatalf("accepted a token without a valid signature: %q", token)
		}
		if fresh.Verify(context.Background(), token, req(record()), ms) == nil {
			t.Fatalf("accepted twice: %q", token)
		}
	})
}
