package dataverse

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeContext feeds the decoder arbitrary bodies, seeded with the real captured payloads
// and the webhook fixtures. It must never panic, and every error must be ErrMalformed.
func FuzzDecodeContext(f *testing.F) {
	for _, dir := range []string{samplesDir, "../webhook/testdata"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"MessageName":"Create","InputParameters":[{"key":"Target","value":{"__type":"Entity:x","Attributes":[{"key":"a","value":{"__type":"Guid:#System","__value":"X"}}]}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := DecodeContext(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		// Whatever decoded must be usable by the webhook without panicking.
		if tg := c.Target(); tg != nil {
			_ = Merge(c.PreImage(), tg).StringAttrs()
		}
		_ = c.SharedString("tag")
		_ = c.PostImage()
	})
}
