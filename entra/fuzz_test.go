package entra_test

import (
	"testing"

	"github.com/dedupegate/dedupegate/entra"
)

// FuzzParseKeySet: a key set document from the network never panics the parser, and every key
// it keeps is a usable RSA key.
func FuzzParseKeySet(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"RSA","use":"sig","kid":"a","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"a","n":"","e":"AAAAAAAA"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := entra.ParseKeySet(body)
		if err != nil {
			return
		}
		for kid, k := range keys {
			if k.N.BitLen() < 2048 || k.E < 3 {
				t.Fatalf("key %q kept: %d bits, e=%d", kid, k.N.BitLen(), k.E)
			}
		}
	})
}
