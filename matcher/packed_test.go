package matcher

import (
	"reflect"
	"strings"
	"testing"
)

func TestPackedAttrs(t *testing.T) {
	long := strings.Repeat("Ünïcødé ", 40) // lengths past one varint byte
	tests := []struct {
		name  string
		attrs map[string]string
	}{
		{"empty map", map[string]string{}},
		{"one", map[string]string{"firstname": "Ann"}},
		{"empty value", map[string]string{"firstname": "", "lastname": "Lee"}},
		{"unicode and long", map[string]string{"address1_city": "Kraków", "description": long, "ключ": "значение"}},
		{"many", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7", "h": "8", "i": "9", "j": "10"}},
		{"more than AppendPacked sorts on the stack", func() map[string]string {
			m := map[string]string{}
			for i := range 40 {
				m[string(rune('a'+i%26))+strings.Repeat("x", i)] = strings.Repeat("v", i)
			}
			return m
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PackAttrs(tt.attrs)
			if n := PackedLen(tt.attrs); n != len(p) {
				t.Fatalf("PackedLen = %d, PackAttrs is %d bytes", n, len(p))
			}
			if got := string(AppendPacked([]byte("prefix"), tt.attrs)); got != "prefix"+p {
				t.Fatalf("AppendPacked = %q, want the prefix then %q", got, p)
			}
			var list []Attr
			for k, v := range tt.attrs {
				list = append(list, Attr{Name: k, Value: v})
			}
			if got := PackAttrList(list); got != p {
				t.Fatalf("PackAttrList = %q, PackAttrs = %q", got, p)
			}
			if got := UnpackAttrs(p); !reflect.DeepEqual(got, tt.attrs) {
				t.Fatalf("UnpackAttrs(PackAttrs(m)) = %v, want %v", got, tt.attrs)
			}
			rec := Record{Entity: "contact", ID: "1", Packed: p}
			for k, v := range tt.attrs {
				if got, ok := rec.Attr(k); !ok || got != v {
					t.Fatalf("Attr(%q) = %q, %v; want %q", k, got, ok, v)
				}
			}
			for _, k := range []string{"", "zzz", "firstnam", "firstnamex"} {
				if _, in := tt.attrs[k]; in {
					continue
				}
				if got, ok := rec.Attr(k); ok {
					t.Fatalf("Attr(%q) = %q, found; want absent", k, got)
				}
			}
			u := rec.Unpacked()
			if u.Packed != "" || (len(tt.attrs) > 0 && !reflect.DeepEqual(u.Attrs, tt.attrs)) {
				t.Fatalf("Unpacked() = %+v", u)
			}
		})
	}
	// A record with a map reads the map, even if it were given packed attributes as well.
	withMap := Record{Attrs: map[string]string{"firstname": "Map"}}
	if v, ok := withMap.Attr("firstname"); !ok || v != "Map" {
		t.Fatalf("Attr on a map record = %q, %v", v, ok)
	}
	if u := withMap.Unpacked(); !reflect.DeepEqual(u, withMap) {
		t.Fatalf("Unpacked changed a map record: %+v", u)
	}
}

// FuzzPackedAttrs: any string is read without a panic, and a packed map reads back whole.
func FuzzPackedAttrs(f *testing.F) {
	f.Add(PackAttrs(map[string]string{"firstname": "Ann", "lastname": "Lee"}), "lastname", "Zoë")
	f.Add("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01x", "x", "")
	f.Add("\x05ab", "ab", "v")
	f.Fuzz(func(t *testing.T, s, name, value string) {
		_ = UnpackAttrs(s)
		_, _ = Record{Packed: s}.Attr(name)
		m := map[string]string{name: value, "firstname": s}
		p := PackAttrs(m)
		if got := UnpackAttrs(p); !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip: %q → %q", m, got)
		}
		rec := Record{Packed: p}
		if v, ok := rec.Attr(name); !ok || v != value {
			t.Fatalf("Attr(%q) = %q, %v; want %q", name, v, ok, value)
		}
	})
}
