package dataverse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// The fast path of DecodeContext: the body is parsed by a pooled fastjson parser (no maps, no
// per-value allocations) and the tree is walked member by member, in the same order and with the
// same checks and error messages as the map walk of decodeContextStd.
//
// fastjson alone is laxer than encoding/json and reads a few things differently, so the fast path
// only takes bodies on which the two cannot differ and declines the rest (decodeContextStd then
// decodes them, which is also how every syntax error gets encoding/json's own message):
//
//   - invalid UTF-8: encoding/json turns each bad byte inside a string into U+FFFD, fastjson keeps
//     the bytes;
//   - \uD800–\uDFFF escapes: encoding/json turns an unpaired surrogate into U+FFFD, fastjson keeps
//     the escape text or swallows the next escape;
//   - any token that is not strict JSON (strictTokens): fastjson's parser takes any run of
//     [0-9.eE+-] for a number (01, 1.5.3, +1), NaN and Inf, raw control characters and unknown
//     escapes in strings, all of which encoding/json refuses (fastjson.Validate is stricter but,
//     in v1.6.10, misses a control character that comes before an escape, and it recurses
//     without bound);
//   - anything fastjson's parser rejects, which covers the structure (brackets, commas, colons,
//     literals) but also nesting deeper than fastjson.MaxDepth, 300, which encoding/json accepts
//     up to 10000, and data after the value, where encoding/json's Decoder.More lets a stray '}'
//     or ']' through;
//   - a top-level value that is not an object (null, arrays...).
//
// What is left is strict RFC 8259 JSON in valid UTF-8 without surrogate escapes, on which both
// libraries produce the same strings (keys unescaped alike), the same number text and the same
// structure. Duplicate keys are resolved as encoding/json does: the last one wins.

// fastParsers recycles fastjson parsers and the value trees they keep between calls.
var fastParsers fastjson.ParserPool

// utf8BOM is the byte order mark DecodeContext tolerates in front of the body.
var utf8BOM = []byte("\xef\xbb\xbf")

// decodeContextFast decodes body as decodeContextStd would. handled is false when the body is
// one the fast path declines (see above); c and err are then meaningless.
func decodeContextFast(body []byte) (c *ExecutionContext, handled bool, err error) {
	b := bytes.TrimPrefix(body, utf8BOM)
	if !utf8.Valid(b) || !strictTokens(b) {
		return nil, false, nil
	}
	p := fastParsers.Get()
	defer fastParsers.Put(p)
	v, perr := p.ParseBytes(b)
	if perr != nil || v.Type() != fastjson.TypeObject {
		return nil, false, nil
	}
	c, err = fastContext(v, 0)
	return c, true, err
}

// strictTokens reports whether every token of b is one encoding/json accepts, with no
// \uD800–\uDFFF escape in its strings: only JSON whitespace and punctuation between tokens;
// true, false and null spelled out; numbers as RFC 8259 has them; strings without raw control
// characters and with only the standard escapes. Each number or literal must be followed by
// whitespace, ',', ']', '}' or the end, so that fastjson, which reads any run of number
// characters as one token, cannot see one token where this sees two. How the tokens fit
// together is left to fastjson's parser, which is strict about that.
func strictTokens(b []byte) bool {
	for i := 0; i < len(b); {
		switch c := b[i]; c {
		case ' ', '\t', '\n', '\r', '{', '}', '[', ']', ':', ',':
			i++
			continue
		case '"':
			if i = strictString(b, i+1); i < 0 {
				return false
			}
			continue
		case 't', 'f', 'n':
			lit := "null"
			if c == 't' {
				lit = "true"
			} else if c == 'f' {
				lit = "false"
			}
			if !bytes.HasPrefix(b[i:], []byte(lit)) {
				return false
			}
			i += len(lit)
		default:
			if i = strictNumber(b, i); i < 0 {
				return false
			}
		}
		if i < len(b) {
			switch b[i] {
			case ' ', '\t', '\n', '\r', ',', ']', '}':
			default:
				return false
			}
		}
	}
	return true
}

// strictString checks the string whose content starts at b[i] and returns the index after its
// closing quote, or -1 if it holds a raw control character, an unknown or short escape, a
// surrogate escape (\uD800–\uDFFF, which encoding/json and fastjson decode differently) or no
// closing quote.
func strictString(b []byte, i int) int {
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c != '\\':
			i++
			continue
		}
		if i+1 >= len(b) {
			return -1
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(b) {
				return -1
			}
			var r rune
			for _, h := range b[i+2 : i+6] {
				switch {
				case h >= '0' && h <= '9':
					r = r<<4 | rune(h-'0')
				case h >= 'a' && h <= 'f':
					r = r<<4 | rune(h-'a'+10)
				case h >= 'A' && h <= 'F':
					r = r<<4 | rune(h-'A'+10)
				default:
					return -1
				}
			}
			if r >= 0xD800 && r <= 0xDFFF {
				return -1
			}
			i += 6
		default:
			return -1
		}
	}
	return -1
}

// strictNumber checks the number starting at b[i] against RFC 8259's grammar,
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and returns the index after it, or -1.
func strictNumber(b []byte, i int) int {
	digits := func(i int) int {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if i = digits(i); i < 0 {
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if i = digits(i + 1); i < 0 {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i = digits(i); i < 0 {
			return -1
		}
	}
	return i
}

// fastTypeName names the Go type encoding/json would have decoded v to (nil for a missing
// member), so that error messages read as decodeContextStd's "%T" ones.
func fastTypeName(v *fastjson.Value) string {
	if v == nil {
		return "<nil>"
	}
	switch v.Type() {
	case fastjson.TypeString:
		return "string"
	case fastjson.TypeNumber:
		return "json.Number"
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "bool"
	case fastjson.TypeArray:
		return "[]interface {}"
	case fastjson.TypeObject:
		return "map[string]interface {}"
	}
	return "<nil>"
}

// isNull reports whether a member is missing or JSON null.
func isNull(v *fastjson.Value) bool { return v == nil || v.Type() == fastjson.TypeNull }

// fastStringBytes returns v's unescaped text if v is a string. The bytes belong to the parser:
// copy them before the parser goes back to the pool.
func fastStringBytes(v *fastjson.Value) ([]byte, bool) {
	if v == nil || v.Type() != fastjson.TypeString {
		return nil, false
	}
	b, err := v.StringBytes()
	return b, err == nil
}

// fastString mirrors optString: null or missing is "", a string is itself, and a typed wrapper
// ({"__type":…,"__value":"…"}) is its string __value.
func fastString(key string, v *fastjson.Value) (string, error) {
	if isNull(v) {
		return "", nil
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return string(b), nil
	case fastjson.TypeObject:
		o, _ := v.Object()
		var inner *fastjson.Value
		o.Visit(func(k []byte, x *fastjson.Value) {
			if string(k) == "__value" {
				inner = x
			}
		})
		if b, ok := fastStringBytes(inner); ok {
			return string(b), nil
		}
	}
	return "", fmt.Errorf("%w: %s is %s, want a string", ErrMalformed, key, fastTypeName(v))
}

// fastNumber returns the literal text of a number value, as json.Number keeps it. (String
// renders a number as its literal text, into a fresh string.)
func fastNumber(v *fastjson.Value) json.Number { return json.Number(v.String()) }

// fastInt mirrors optInt: null or missing is 0, otherwise a number that is a 32-bit integer.
func fastInt(key string, v *fastjson.Value) (int, error) {
	if isNull(v) {
		return 0, nil
	}
	if v.Type() != fastjson.TypeNumber {
		return 0, fmt.Errorf("%w: %s is %s, want a number", ErrMalformed, key, fastTypeName(v))
	}
	text := v.String()
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n > math.MaxInt32 || n < math.MinInt32 {
		return 0, fmt.Errorf("%w: %s = %s is not a 32-bit integer", ErrMalformed, key, text)
	}
	return int(n), nil
}

// contextMembers holds the members of a RemoteExecutionContext object that the decoder reads
// (nil when missing; the last one when repeated).
type contextMembers struct {
	messageName, primaryEntityName, primaryEntityID, correlationID, requestID, operationID,
	organizationID, organizationName, userID, initiatingUserID, userAAD, initiatingUserAAD,
	businessUnitID, stage, mode, depth, isInTransaction, operationCreatedOn,
	inputParameters, outputParameters, sharedVariables, preEntityImages, postEntityImages,
	owningExtension, parentContext *fastjson.Value
}

func (m *contextMembers) collect(o *fastjson.Object) {
	o.Visit(func(k []byte, x *fastjson.Value) {
		switch string(k) {
		case "MessageName":
			m.messageName = x
		case "PrimaryEntityName":
			m.primaryEntityName = x
		case "PrimaryEntityId":
			m.primaryEntityID = x
		case "CorrelationId":
			m.correlationID = x
		case "RequestId":
			m.requestID = x
		case "OperationId":
			m.operationID = x
		case "OrganizationId":
			m.organizationID = x
		case "OrganizationName":
			m.organizationName = x
		case "UserId":
			m.userID = x
		case "InitiatingUserId":
			m.initiatingUserID = x
		case "UserAzureActiveDirectoryObjectId":
			m.userAAD = x
		case "InitiatingUserAzureActiveDirectoryObjectId":
			m.initiatingUserAAD = x
		case "BusinessUnitId":
			m.businessUnitID = x
		case "Stage":
			m.stage = x
		case "Mode":
			m.mode = x
		case "Depth":
			m.depth = x
		case "IsInTransaction":
			m.isInTransaction = x
		case "OperationCreatedOn":
			m.operationCreatedOn = x
		case "InputParameters":
			m.inputParameters = x
		case "OutputParameters":
			m.outputParameters = x
		case "SharedVariables":
			m.sharedVariables = x
		case "PreEntityImages":
			m.preEntityImages = x
		case "PostEntityImages":
			m.postEntityImages = x
		case "OwningExtension":
			m.owningExtension = x
		case "ParentContext":
			m.parentContext = x
		}
	})
}

// fastContext mirrors decodeContext over an object value.
func fastContext(v *fastjson.Value, depth int) (*ExecutionContext, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: ParentContext nested deeper than %d", ErrMalformed, maxDepth)
	}
	o, _ := v.Object()
	var m contextMembers
	m.collect(o)
	c := &ExecutionContext{}
	var err error
	str := func(key string, v *fastjson.Value) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = fastString(key, v)
		return s
	}
	num := func(key string, v *fastjson.Value) int {
		if err != nil {
			return 0
		}
		var n int
		n, err = fastInt(key, v)
		return n
	}
	c.MessageName = str("MessageName", m.messageName)
	c.PrimaryEntityName = str("PrimaryEntityName", m.primaryEntityName)
	c.PrimaryEntityID = normGUID(str("PrimaryEntityId", m.primaryEntityID))
	c.CorrelationID = normGUID(str("CorrelationId", m.correlationID))
	c.RequestID = normGUID(str("RequestId", m.requestID))
	c.OperationID = normGUID(str("OperationId", m.operationID))
	c.OrganizationID = normGUID(str("OrganizationId", m.organizationID))
	c.OrganizationName = str("OrganizationName", m.organizationName)
	c.UserID = normGUID(str("UserId", m.userID))
	c.InitiatingUserID = normGUID(str("InitiatingUserId", m.initiatingUserID))
	c.UserAADObjectID = normGUID(str("UserAzureActiveDirectoryObjectId", m.userAAD))
	c.InitiatingUserAADObjectID = normGUID(str("InitiatingUserAzureActiveDirectoryObjectId", m.initiatingUserAAD))
	c.BusinessUnitID = normGUID(str("BusinessUnitId", m.businessUnitID))
	c.Stage = num("Stage", m.stage)
	c.Mode = num("Mode", m.mode)
	c.Depth = num("Depth", m.depth)
	if err != nil {
		return nil, err
	}
	if m.isInTransaction != nil {
		switch m.isInTransaction.Type() {
		case fastjson.TypeTrue:
			c.IsInTransaction = true
		case fastjson.TypeFalse:
			c.IsInTransaction = false
		}
	}
	if b, ok := fastStringBytes(m.operationCreatedOn); ok {
		if t, ok := ParseDate(string(b)); ok {
			c.OperationCreatedOn = t
		}
	}
	if c.MessageName == "" {
		return nil, fmt.Errorf("%w: MessageName is missing", ErrMalformed)
	}
	c.HasInputParameters = m.inputParameters != nil
	if c.InputParameters, err = fastParams("InputParameters", m.inputParameters, depth); err != nil {
		return nil, err
	}
	if c.OutputParameters, err = fastParams("OutputParameters", m.outputParameters, depth); err != nil {
		return nil, err
	}
	if c.SharedVariables, err = fastParams("SharedVariables", m.sharedVariables, depth); err != nil {
		return nil, err
	}
	if c.PreEntityImages, err = fastImages("PreEntityImages", m.preEntityImages, depth); err != nil {
		return nil, err
	}
	if c.PostEntityImages, err = fastImages("PostEntityImages", m.postEntityImages, depth); err != nil {
		return nil, err
	}
	if m.owningExtension != nil && m.owningExtension.Type() == fastjson.TypeObject {
		var vm valueMembers
		vm.collect(m.owningExtension)
		if c.OwningExtension, err = fastReference(&vm); err != nil {
			return nil, fmt.Errorf("OwningExtension: %w", err)
		}
	}
	if m.parentContext != nil && m.parentContext.Type() == fastjson.TypeObject {
		if c.Parent, err = fastContext(m.parentContext, depth+1); err != nil {
			return nil, fmt.Errorf("ParentContext: %w", err)
		}
	}
	return c, nil
}

// fastParams mirrors decodeParams: v is the [{"key":…,"value":…}] array, key its member name.
func fastParams(key string, v *fastjson.Value, depth int) (map[string]any, error) {
	if isNull(v) {
		return map[string]any{}, nil
	}
	if v.Type() != fastjson.TypeArray {
		return nil, fmt.Errorf("%w: %s is %s, want an array of key/value pairs", ErrMalformed, key, fastTypeName(v))
	}
	arr, _ := v.Array()
	out := make(map[string]any, len(arr))
	for i, item := range arr {
		k, d, err := fastParam(key, i, item, depth)
		if err != nil {
			return nil, err
		}
		out[k] = d
	}
	return out, nil
}

// fastFormatted decodes a FormattedValues collection straight to strings, as decodeEntity does
// with the map decodeParams returns, without that intermediate map.
func fastFormatted(v *fastjson.Value, depth int) (map[string]string, error) {
	const key = "FormattedValues"
	if isNull(v) {
		return map[string]string{}, nil
	}
	if v.Type() != fastjson.TypeArray {
		return nil, fmt.Errorf("%w: %s is %s, want an array of key/value pairs", ErrMalformed, key, fastTypeName(v))
	}
	arr, _ := v.Array()
	out := make(map[string]string, len(arr))
	for i, item := range arr {
		k, d, err := fastParam(key, i, item, depth)
		if err != nil {
			return nil, err
		}
		// A later pair replaces an earlier one, even with a null (which the string form omits).
		if s, ok := ValueString(d); ok {
			out[k] = s
		} else {
			delete(out, k)
		}
	}
	return out, nil
}

// fastParam decodes item i, {"key":…,"value":…}, of the parameter array named key.
func fastParam(key string, i int, item *fastjson.Value, depth int) (string, any, error) {
	if item.Type() != fastjson.TypeObject {
		return "", nil, fmt.Errorf("%w: %s[%d] is %s, want {key,value}", ErrMalformed, key, i, fastTypeName(item))
	}
	o, _ := item.Object()
	var kv, val *fastjson.Value
	o.Visit(func(k []byte, x *fastjson.Value) {
		switch string(k) {
		case "key":
			kv = x
		case "value":
			val = x
		}
	})
	kb, ok := fastStringBytes(kv)
	if !ok {
		return "", nil, fmt.Errorf("%w: %s[%d].key is missing or not a string", ErrMalformed, key, i)
	}
	k := string(kb)
	d, err := fastValue(val, depth+1)
	if err != nil {
		return "", nil, fmt.Errorf("%s[%q]: %w", key, k, err)
	}
	return k, d, nil
}

// fastImages mirrors decodeImages.
func fastImages(key string, v *fastjson.Value, depth int) (map[string]*Entity, error) {
	params, err := fastParams(key, v, depth)
	if err != nil {
		return nil, err
	}
	return imagesFromParams(params, key)
}

// fastValue mirrors DecodeValue; v is nil for a missing member (decoded as null).
func fastValue(v *fastjson.Value, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: value nested deeper than %d", ErrMalformed, maxDepth)
	}
	if v == nil {
		return nil, nil
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return nil, nil
	case fastjson.TypeTrue:
		return true, nil
	case fastjson.TypeFalse:
		return false, nil
	case fastjson.TypeNumber:
		return fastNumber(v), nil
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if bytes.HasPrefix(b, []byte("/Date(")) {
			if t, ok := ParseDate(string(b)); ok {
				return t, nil
			}
		}
		return string(b), nil
	case fastjson.TypeArray:
		arr, _ := v.Array()
		out := make([]any, len(arr))
		for i, el := range arr {
			d, err := fastValue(el, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	case fastjson.TypeObject:
		return fastObject(v, depth)
	}
	return nil, fmt.Errorf("%w: unexpected JSON value %s", ErrMalformed, v.Type())
}

// valueMembers holds the members of a value object that decodeObject, decodeEntity and
// decodeReference read (nil when missing; the last one when repeated).
type valueMembers struct {
	typ, value, numValue, logicalName, id, name, attributes, formattedValues *fastjson.Value
}

func (m *valueMembers) collect(v *fastjson.Value) {
	o, _ := v.Object()
	o.Visit(func(k []byte, x *fastjson.Value) {
		switch string(k) {
		case "__type":
			m.typ = x
		case "__value":
			m.value = x
		case "Value":
			m.numValue = x
		case "LogicalName":
			m.logicalName = x
		case "Id":
			m.id = x
		case "Name":
			m.name = x
		case "Attributes":
			m.attributes = x
		case "FormattedValues":
			m.formattedValues = x
		}
	})
}

// fastObject mirrors decodeObject.
func fastObject(v *fastjson.Value, depth int) (any, error) {
	var m valueMembers
	m.collect(v)
	typ, _ := fastStringBytes(m.typ)
	kind, _, _ := bytes.Cut(typ, []byte(":"))
	if m.value != nil && len(typ) > 0 {
		// Typed primitive wrapper: Guid:#System, DateTime:#System, String:#System, ...
		d, err := fastValue(m.value, depth+1)
		if err != nil {
			return nil, err
		}
		if string(kind) == "Guid" {
			if s, ok := d.(string); ok {
				return normGUID(s), nil
			}
		}
		return d, nil
	}
	switch string(kind) {
	case "Entity":
		return fastEntity(&m, depth)
	case "EntityReference":
		return fastReference(&m)
	case "OptionSetValue":
		n, err := fastInt("Value", m.numValue)
		if err != nil {
			return nil, fmt.Errorf("OptionSetValue: %w", err)
		}
		return OptionSetValue{Value: n}, nil
	case "Money":
		if m.numValue == nil || m.numValue.Type() != fastjson.TypeNumber {
			return nil, fmt.Errorf("%w: Money.Value is %s, want a number", ErrMalformed, fastTypeName(m.numValue))
		}
		num := fastNumber(m.numValue)
		f, err := num.Float64()
		if err != nil {
			return nil, fmt.Errorf("%w: Money.Value %s: %v", ErrMalformed, num, err)
		}
		return Money{Value: f}, nil
	case "":
		// Untyped objects: recognised by their members, as decodeObject does.
		if m.attributes != nil && m.logicalName != nil {
			return fastEntity(&m, depth)
		}
		if m.logicalName != nil && m.id != nil {
			return fastReference(&m)
		}
	}
	// Any other object becomes a map. Only the last of repeated keys is decoded, as only it
	// survives in encoding/json's map.
	o, _ := v.Object()
	members := make(map[string]*fastjson.Value, o.Len())
	o.Visit(func(k []byte, x *fastjson.Value) { members[string(k)] = x })
	out := make(map[string]any, len(members))
	for k, x := range members {
		d, err := fastValue(x, depth+1)
		if err != nil {
			return nil, err
		}
		out[k] = d
	}
	return out, nil
}

// fastEntity mirrors decodeEntity.
func fastEntity(m *valueMembers, depth int) (*Entity, error) {
	e := &Entity{}
	var err error
	if e.LogicalName, err = fastString("LogicalName", m.logicalName); err != nil {
		return nil, err
	}
	id, err := fastString("Id", m.id)
	if err != nil {
		return nil, err
	}
	e.ID = normGUID(id)
	if e.Attributes, err = fastParams("Attributes", m.attributes, depth); err != nil {
		return nil, err
	}
	if e.FormattedValues, err = fastFormatted(m.formattedValues, depth); err != nil {
		return nil, err
	}
	return e, nil
}

// fastReference mirrors decodeReference.
func fastReference(m *valueMembers) (*EntityReference, error) {
	r := &EntityReference{}
	var err error
	if r.LogicalName, err = fastString("LogicalName", m.logicalName); err != nil {
		return nil, err
	}
	id, err := fastString("Id", m.id)
	if err != nil {
		return nil, err
	}
	r.ID = normGUID(id)
	if r.Name, err = fastString("Name", m.name); err != nil {
		return nil, err
	}
	return r, nil
}
