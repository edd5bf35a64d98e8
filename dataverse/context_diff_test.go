package dataverse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fastjson"
)

// corpusDirs hold the payloads the decoders are compared on: the real captured samples, this
// package's edge cases and the webhook fixtures.
var corpusDirs = []string{samplesDir, "testdata/contexts", "../webhook/testdata"}

// readCorpus returns every *.json payload of corpusDirs by file name.
func readCorpus(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, dir := range corpusDirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[p] = b
		}
	}
	return out
}

// edgeBodies are small bodies aimed at the places where fastjson and encoding/json differ, or
// where the walk has to reproduce a detail of encoding/json's maps.
var edgeBodies = []string{
	``, ` `, `null`, ` null `, `[]`, `"x"`, `1`, `true`, `{}`, `{`, `}`, `{"MessageName":"Create"`,
	`{"MessageName":"Create"}`,
	"\xef\xbb\xbf{\"MessageName\":\"Create\"}",
	"\xef\xbb\xbf\xef\xbb\xbf{\"MessageName\":\"Create\"}",
	"{\"MessageName\":\"Create\"}\xef\xbb\xbf",
	`{"MessageName":"Create"} `, `{"MessageName":"Create"} {}`, `{"MessageName":"Create"}}`,
	`{"MessageName":"Create"}]]`, `{"MessageName":"Create"} x`, `{"MessageName":"Create"}null`,
	"{\"MessageName\":\"Create\"}\x00", "\x0c{\"MessageName\":\"Create\"}", "\v{\"MessageName\":\"Create\"}",
	`{"MessageName":"Create",}`, `{"MessageName":"Create" "Stage":1}`, `{"MessageName" "Create"}`,
	`{'MessageName':"Create"}`, `{MessageName:"Create"}`,
	`{"MessageName":"Create","Stage":01}`, `{"MessageName":"Create","Stage":1.}`, `{"MessageName":"Create","Stage":.5}`,
	`{"MessageName":"Create","Stage":+1}`, `{"MessageName":"Create","Stage":-}`, `{"MessageName":"Create","Stage":1e}`,
	`{"MessageName":"Create","Stage":NaN}`, `{"MessageName":"Create","Stage":nan}`, `{"MessageName":"Create","Stage":Inf}`,
	`{"MessageName":"Create","Stage":-Inf}`, `{"MessageName":"Create","Stage":infinity}`, `{"MessageName":"Create","Stage":1-2}`,
	`{"MessageName":"Create","Stage":1e2}`, `{"MessageName":"Create","Stage":-0}`, `{"MessageName":"Create","Stage":2147483648}`,
	`{"MessageName":"Create","Stage":-2147483648}`, `{"MessageName":"Create","Stage":40.0}`,
	`{"MessageName":"Create","Stage":99999999999999999999999}`, `{"MessageName":"Create","Stage":true}`,
	`{"MessageName":"Create","Stage":[]}`, `{"MessageName":"Create","Stage":{}}`, `{"MessageName":"Create","Stage":null}`,
	`{"MessageName":"Create","Stage":tru}`, `{"MessageName":"Create","Stage":nul}`, `{"MessageName":"Create","Stage":truex}`,
	"{\"MessageName\":\"Cre\tate\"}", "{\"MessageName\":\"Cre\x00ate\"}", "{\"MessageName\":\"Cre\x7fate\"}",
	// Raw control characters before an escape, which fastjson.Validate does not see.
	"{\"MessageName\":\"Create\",\"X\":\"\x1a\\b\"}", "{\"MessageName\":\"Create\",\"X\x01\\n\":1}",
	"{\"MessageName\":\"Create\",\"X\":\"a\n\\tb\"}", "{\"MessageName\":\"Create\",\"X\":\"a\r\\\"b\\\\\"}",
	"{\"MessageName\":\"Create\",\"X\":\"a\\\\\",\"Y\":\"\x1f\"}", "{\"MessageName\":\"Create\",\"X\":\"\\\\\"}\n",
	"{\"MessageName\":\"Create\",\"X\":\"\\\\\", \"Y\":\"\\/\\\\\\\"\"}",
	"{\"Message\x01Name\":\"Create\"}",
	`{"MessageName":"Cre\ate"}`, `{"MessageName":"Cre\u00"}`, `{"MessageName":"Cre\u00zzate"}`, `{"MessageName":"\u0043reate"}`,
	`{"MessageName":"Create\"}`, `{"MessageName":"Create\\"}`, `{"MessageName":"\\\"Create"}`,
	`{"MessageName":"\ud83d\ude00"}`, `{"MessageName":"\ud83d"}`, `{"MessageName":"\ude00x"}`, `{"MessageName":"\ud83d\u0041"}`,
	`{"MessageName":"\\ud83d"}`, `{"MessageName":"\uD7FF\uE000"}`,
	"{\"MessageName\":\"a\xffb\"}", "{\"MessageName\":\"\xc3\"}", "{\"MessageName\":\"\xed\xa0\x80\"}", "{\"Message\xffName\":\"x\",\"MessageName\":\"y\"}",
	`{"MessageName":""}`, `{"MessageName":null}`, `{"MessageName":1}`, `{"MessageName":{}}`,
	`{"MessageName":{"__value":"Create"}}`, `{"MessageName":{"__value":"Create","__value":1}}`, `{"MessageName":{"__value":1,"__value":"Create"}}`,
	`{"MessageName":"A","MessageName":"B"}`, `{"MessageName":"A","MessageName":null}`, `{"MessageName":"A","MessageName":1}`,
	`{"MessageName":"Create","InputParameters":null}`, `{"MessageName":"Create","InputParameters":{}}`,
	`{"MessageName":"Create","InputParameters":[1]}`, `{"MessageName":"Create","InputParameters":[{}]}`,
	`{"MessageName":"Create","InputParameters":[{"key":"a"}]}`, `{"MessageName":"Create","InputParameters":[{"key":1,"value":1}]}`,
	`{"MessageName":"Create","InputParameters":[{"key":"a","key":null,"value":1}]}`,
	`{"MessageName":"Create","InputParameters":[{"key":"a","value":{"__type":"Money:x","Value":"a"}},{"key":"a","value":1}]}`,
	`{"MessageName":"Create","InputParameters":[{"key":"a","value":{"__type":"Money:x","Value":1e400}}]}`,
	`{"MessageName":"Create","InputParameters":[{"key":"a","value":{"__type":"Money:x"}}]}`,
	`{"MessageName":"Create","InputParameters":[{"key":"a","value":{"__type":"OptionSetValue:x","Value":1.5}}]}`,
	`{"MessageName":"Create","InputParameters":[{"key":"a","value":{"__type":"Entity:x","Attributes":{}}}]}`,
	`{"MessageName":"Create","InputParameters":[{"key":"a","value":{"__type":"Entity:x","LogicalName":1}}]}`,
	`{"MessageName":"Create","InputParameters":[{"key":"a","value":{"__type":"EntityReference:x","Name":[]}}]}`,
	`{"MessageName":"Create","InputParameters":[{"key":"a","value":{"m":{"__type":"Money:x","Value":"a"},"m":2}}]}`,
	`{"MessageName":"Create","InputParameters":[{"key":"a","value":{"m":2,"m":{"__type":"Money:x","Value":"a"}}}]}`,
	`{"MessageName":"Create","PreEntityImages":[{"key":"p","value":"s"}]}`,
	`{"MessageName":"Create","PreEntityImages":[{"key":"p","value":"s"},{"key":"p","value":null}]}`,
	`{"MessageName":"Create","PreEntityImages":[{"key":"p","value":"s"},{"key":"q","value":1}]}`,
	`{"MessageName":"Create","PostEntityImages":[{"key":"p","value":{"LogicalName":"x","Attributes":[]}}]}`,
	`{"MessageName":"Create","OwningExtension":{"Id":5}}`, `{"MessageName":"Create","OwningExtension":[]}`,
	`{"MessageName":"Create","ParentContext":{}}`, `{"MessageName":"Create","ParentContext":"x"}`,
	`{"MessageName":"Create","OperationCreatedOn":"\/Date(1)\/","IsInTransaction":1}`,
	`{"MessageName":"Create","InputParameters":[{"key":"x","value":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}]}`,
	`{"MessageName":"Create","InputParameters":[{"key":"x","value":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}]}`,
	`{"MessageName":"Create","InputParameters":[{"key":"x","value":` + strings.Repeat(`{"a":`, 31) + `1` + strings.Repeat("}", 31) + `}]}`,
	`{"MessageName":"Create","InputParameters":[{"key":"x","value":` + strings.Repeat(`{"a":`, 32) + `1` + strings.Repeat("}", 32) + `}]}`,
	`{"MessageName":"Create","X":` + strings.Repeat("[", 299) + strings.Repeat("]", 299) + `}`,
	`{"MessageName":"Create","X":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`,
	`{"MessageName":"Create","X":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	`{"MessageName":"Create","X":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
	strings.Repeat(`{"MessageName":"C","ParentContext":`, 32) + `{"MessageName":"C"}` + strings.Repeat("}", 32),
	strings.Repeat(`{"MessageName":"C","ParentContext":`, 33) + `{"MessageName":"C"}` + strings.Repeat("}", 33),
}

// TestDecodeContextMatchesReference holds DecodeContext equal to the encoding/json reference
// decoder on every corpus payload and edge case, and checks that the real payloads take the
// fast path (otherwise the speed-up would silently vanish).
func TestDecodeContextMatchesReference(t *testing.T) {
	for name, body := range readCorpus(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			checkMatchesReference(t, body)
			if strings.HasPrefix(name, samplesDir) {
				if _, handled, err := decodeContextFast(body); !handled || err != nil {
					t.Errorf("real sample not decoded by the fast path: handled=%v err=%v", handled, err)
				}
			}
		})
	}
	for i, body := range edgeBodies {
		t.Run(fmt.Sprintf("edge%d", i), func(t *testing.T) { checkMatchesReference(t, []byte(body)) })
	}
}

// TestDecodeContextNoAliasing decodes the corpus from several goroutines while earlier results
// are kept, then checks those results against fresh reference decodes: nothing a result holds may
// point into a pooled parser's buffers, which later decodes overwrite.
func TestDecodeContextNoAliasing(t *testing.T) {
	corpus := readCorpus(t)
	var bodies [][]byte
	for _, b := range corpus {
		if _, handled, err := decodeContextFast(b); handled && err == nil {
			bodies = append(bodies, b)
		}
	}
	if len(bodies) == 0 {
		t.Skip("no corpus")
	}
	const workers = 4
	kept := make([][]*ExecutionContext, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range 20 {
				for _, b := range bodies {
					c, err := DecodeContext(b)
					if err != nil {
						t.Error(err)
						return
					}
					if len(kept[w]) < len(bodies) {
						kept[w] = append(kept[w], c)
					}
				}
			}
		})
	}
	wg.Wait()
	for w := range workers {
		for i, c := range kept[w] {
			want, err := decodeContextStd(bodies[i])
			if err != nil || !reflect.DeepEqual(c, want) {
				t.Fatalf("worker %d body %d changed after later decodes:\n%s", w, i, describeDiff(c, want))
			}
		}
	}
}

// TestDecodeContextFastPathCoverage makes sure the edge cases exercise the fast path's own walk
// (not only the fallback) on both outcomes.
func TestDecodeContextFastPathCoverage(t *testing.T) {
	var ok, failed int
	for _, body := range edgeBodies {
		if _, handled, err := decodeContextFast([]byte(body)); handled && err == nil {
			ok++
		} else if handled {
			failed++
		}
	}
	if ok < 10 || failed < 20 {
		t.Fatalf("fast path handled %d good and %d bad edge bodies, want ≥10 and ≥20", ok, failed)
	}
}

// checkMatchesReference fails t unless DecodeContext and decodeContextStd agree on body: equal
// contexts, or both failing with ErrMalformed and the same message. When the reference walks a
// map and several members fail, which one it reports depends on map order, so a different
// message is accepted if the reference gives the same one on some run.
func checkMatchesReference(t testing.TB, body []byte) {
	t.Helper()
	got, gotErr := DecodeContext(body)
	want, wantErr := decodeContextStd(body)
	switch {
	case gotErr == nil && wantErr == nil:
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoders disagree on %q:\n%s", clip(body), describeDiff(got, want))
		}
	case gotErr != nil && wantErr != nil:
		if !errors.Is(gotErr, ErrMalformed) {
			t.Fatalf("error is not ErrMalformed: %v", gotErr)
		}
		if gotErr.Error() == wantErr.Error() {
			return
		}
		for range 100 {
			if _, e := decodeContextStd(body); e.Error() == gotErr.Error() {
				return
			}
		}
		t.Fatalf("decoders fail differently on %q:\n got: %v\nwant: %v", clip(body), gotErr, wantErr)
	default:
		t.Fatalf("decoders disagree on %q: got err %v, reference err %v", clip(body), gotErr, wantErr)
	}
}

// clip shortens a body for a failure message.
func clip(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}

// describeDiff names the ExecutionContext fields (and attributes) where a and b differ.
func describeDiff(a, b *ExecutionContext) string {
	if a == nil || b == nil {
		return fmt.Sprintf("got %v, want %v", a == nil, b == nil)
	}
	var sb strings.Builder
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range va.NumField() {
		fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
		if !reflect.DeepEqual(fa, fb) {
			fmt.Fprintf(&sb, "%s:\n got %#v\nwant %#v\n", va.Type().Field(i).Name, fa, fb)
		}
	}
	if ta, tb := a.Target(), b.Target(); ta != nil && tb != nil {
		for k, v := range ta.Attributes {
			if !reflect.DeepEqual(v, tb.Attributes[k]) {
				fmt.Fprintf(&sb, "Target[%q]: got %#v want %#v\n", k, v, tb.Attributes[k])
			}
		}
	}
	return sb.String()
}

// FuzzDecodeContextMatchesReference: on any body, DecodeContext (fast path or not) gives what
// the encoding/json reference decoder gives.
func FuzzDecodeContextMatchesReference(f *testing.F) {
	for _, dir := range corpusDirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	for _, b := range edgeBodies {
		if len(b) < 4096 {
			f.Add([]byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkMatchesReference(t, body) })
}

// BenchmarkDecodeContext decodes each real captured payload: "new" is DecodeContext, "old" the
// encoding/json decoder it replaced (decodeContextStd).
func BenchmarkDecodeContext(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(samplesDir, "*.json"))
	if len(files) == 0 {
		b.Skip("shared samples not available")
	}
	for _, impl := range []struct {
		name   string
		decode func([]byte) (*ExecutionContext, error)
	}{{"new", DecodeContext}, {"old", decodeContextStd}} {
		for _, p := range files {
			body, err := os.ReadFile(p)
			if err != nil {
				b.Fatal(err)
			}
			name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(p), ".json"), ".raw")
			b.Run(impl.name+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					if _, err := impl.decode(body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// payloadGen turns fuzz bytes into a well-formed, Dataverse-shaped JSON body, so that the fast
// path's walk (rather than encoding/json's syntax checks) is what gets explored: member names the
// decoders look for, parameter arrays, typed wrappers, repeated keys, escapes and odd numbers.
type payloadGen struct {
	data []byte
	sb   strings.Builder
}

var (
	genKeys = []string{"MessageName", "Stage", "Mode", "Depth", "PrimaryEntityId", "CorrelationId", "IsInTransaction",
		"OperationCreatedOn", "InputParameters", "OutputParameters", "SharedVariables", "PreEntityImages",
		"PostEntityImages", "OwningExtension", "ParentContext", "__type", "__value", "Value", "LogicalName", "Id",
		"Name", "Attributes", "FormattedValues", "key", "value", "Target", "x", "", `Message\u004eame`, `__valu\u0065`}
	genStrings = []string{"", "Create", "Update", "contact", `\/Date(1506409448000-0700)\/`, "/Date(12a)/", "/Date(-1)/",
		"{6D81597F-0F9F-E711-8122-000D3AA2331C}", "6d81597f-0f9f-e711-8122-000d3aa2331c", "Entity:x", "EntityReference:x",
		"OptionSetValue:x", "Money:x", "Guid:#System", "DateTime:#System", "String:#System", "Entity", ":x",
		`caf\u00e9 \"q\" \\ \n`, "日本", `\u0000`, `\u20ac`}
	genTypes = []string{"Entity:x", "EntityReference:x", "OptionSetValue:x", "Money:x", "Guid:#System",
		"DateTime:#System", "String:#System", "Entity", "", "KeyValuePairOfstringstring:#x"}
	genNumbers = []string{"0", "-0", "1", "10", "20", "40", "2147483647", "2147483648", "-2147483649", "1.5", "1e3",
		"1E+2", "-1.0e-7", "123456789012345678901234567890", "1e400", "0.1"}
)

// next returns the next choice in [0, n); an exhausted stream always chooses 0.
func (g *payloadGen) next(n int) int {
	if len(g.data) == 0 || n <= 1 {
		return 0
	}
	c := int(g.data[0]) % n
	g.data = g.data[1:]
	return c
}

func (g *payloadGen) str(list []string) {
	g.sb.WriteByte('"')
	g.sb.WriteString(list[g.next(len(list))])
	g.sb.WriteByte('"')
}

func (g *payloadGen) value(depth int) {
	kind := g.next(10)
	if depth > 6 && kind >= 6 {
		kind = 0
	}
	switch kind {
	case 0:
		g.sb.WriteString([]string{"null", "true", "false"}[g.next(3)])
	case 1:
		g.sb.WriteString(genNumbers[g.next(len(genNumbers))])
	case 2, 3:
		g.str(genStrings)
	case 4, 5:
		g.str(genKeys)
	case 6: // array of values
		g.sb.WriteByte('[')
		for i := range g.next(4) {
			if i > 0 {
				g.sb.WriteByte(',')
			}
			g.value(depth + 1)
		}
		g.sb.WriteByte(']')
	case 7:
		g.params(depth)
	case 8: // typed object
		g.object(depth, true)
	default:
		g.object(depth, false)
	}
}

// params writes a parameter array: [{"key":…,"value":…}, …].
func (g *payloadGen) params(depth int) {
	g.sb.WriteByte('[')
	for i := range g.next(4) {
		if i > 0 {
			g.sb.WriteByte(',')
		}
		g.sb.WriteString(`{"key":`)
		g.str(genKeys)
		g.sb.WriteString(`,"value":`)
		g.value(depth + 1)
		g.sb.WriteByte('}')
	}
	g.sb.WriteByte(']')
}

// member writes one "key":value pair, mostly giving collections parameter arrays and __type
// a type name, as Dataverse does.
func (g *payloadGen) member(depth int) {
	key := genKeys[g.next(len(genKeys))]
	g.sb.WriteString(`"` + key + `":`)
	switch key {
	case "InputParameters", "OutputParameters", "SharedVariables", "PreEntityImages", "PostEntityImages",
		"Attributes", "FormattedValues":
		if g.next(4) > 0 {
			g.params(depth)
			return
		}
	case "__type":
		if g.next(4) > 0 {
			g.str(genTypes)
			return
		}
	}
	g.value(depth)
}

// object writes an object of a few members, led by a __type when typed.
func (g *payloadGen) object(depth int, typed bool) {
	g.sb.WriteString("{")
	if typed {
		g.sb.WriteString(`"__type":`)
		g.str(genTypes)
	}
	for i := range g.next(6) {
		if i > 0 || typed {
			g.sb.WriteString(", ")
		}
		g.member(depth + 1)
	}
	g.sb.WriteString("}")
}

// FuzzDecodeContextGenerated checks the decoders agree on generated well-formed payloads.
func FuzzDecodeContextGenerated(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x05\x08\x17\x03\x01\x09\x07\x02\x19\x02\x04\x08\x02\x10\x03\x01"))
	f.Add([]byte("generated dataverse payload seed with some more bytes to spend on choices"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &payloadGen{data: data}
		g.sb.WriteString(`{"MessageName":"Create"`)
		for range g.next(8) {
			g.sb.WriteString(",")
			g.member(0)
		}
		g.sb.WriteString("}")
		checkMatchesReference(t, []byte(g.sb.String()))
	})
}

// FuzzStrictTokens holds the fast path's gate to encoding/json's grammar: whatever fastjson parses
// and strictTokens passes is valid JSON, and valid JSON without \u escapes (which may be
// surrogates) passes strictTokens.
func FuzzStrictTokens(f *testing.F) {
	for _, b := range edgeBodies {
		if len(b) < 4096 {
			f.Add([]byte(b))
		}
	}
	for _, s := range []string{`[01]`, `[1.5.3]`, `[-]`, `[1e+]`, `[0.0e-0]`, `["\u00e9\/"]`, `[nan]`, `[truefalse]`, `[1,-0,2E9]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p fastjson.Parser
		_, perr := p.ParseBytes(b)
		ok := strictTokens(b)
		if ok && perr == nil && !json.Valid(b) {
			t.Fatalf("strictTokens and fastjson accept invalid JSON %q", b)
		}
		if json.Valid(b) && !bytes.Contains(b, []byte(`\u`)) && !ok {
			t.Fatalf("strictTokens refuses valid JSON %q", b)
		}
	})
}
