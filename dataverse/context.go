package dataverse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Pipeline stages (sdkmessageprocessingstep.stage), see dataverse-facts.md §3 and §5.
const (
	StagePreValidation = 10
	StagePreOperation  = 20
	StageMainOperation = 30
	StagePostOperation = 40
)

// Execution modes (sdkmessageprocessingstep.mode).
const (
	ModeSynchronous  = 0
	ModeAsynchronous = 1
)

// ExecutionContext is the decoded RemoteExecutionContext a webhook step sends. Only the fields
// dedupegate reads are typed; everything arrives through the generic decoder so that unknown or
// differently typed fields never make a payload unreadable.
type ExecutionContext struct {
	MessageName       string
	Stage             int
	Mode              int
	Depth             int
	PrimaryEntityName string
	PrimaryEntityID   string
	CorrelationID     string
	RequestID         string
	OperationID       string
	OrganizationID    string
	OrganizationName  string
	UserID            string
	InitiatingUserID  string
	// UserAADObjectID and InitiatingUserAADObjectID are the Entra object ids Dataverse adds in
	// newer payloads (InitiatingUserAzureActiveDirectoryObjectId); empty when absent.
	UserAADObjectID           string
	InitiatingUserAADObjectID string
	BusinessUnitID            string
	OperationCreatedOn        time.Time
	IsInTransaction           bool

	// InputParameters, OutputParameters and SharedVariables are the decoded key/value arrays.
	InputParameters  map[string]any
	OutputParameters map[string]any
	SharedVariables  map[string]any
	// PreEntityImages and PostEntityImages map an image alias to its entity.
	PreEntityImages  map[string]*Entity
	PostEntityImages map[string]*Entity
	// OwningExtension is the step (sdkmessageprocessingstep) that sent the payload.
	OwningExtension *EntityReference
	// Parent is the decoded ParentContext, nil when absent.
	Parent *ExecutionContext
	// HasInputParameters reports whether the payload carried the InputParameters property at
	// all; Dataverse strips it from payloads over 256 KB (dataverse-facts.md §2).
	HasInputParameters bool
}

// Entity is a Dataverse row as the SDK serialises it: a logical name, an id and attribute values
// already decoded to Go values (see DecodeValue for the mapping).
type Entity struct {
	LogicalName     string
	ID              string
	Attributes      map[string]any
	FormattedValues map[string]string
}

// EntityReference is a lookup value (owner, customer, parent account...).
type EntityReference struct {
	LogicalName string
	ID          string
	Name        string
}

// OptionSetValue is a choice column value.
type OptionSetValue struct{ Value int }

// Money is a currency column value.
type Money struct{ Value float64 }

// ErrMalformed is wrapped by every decoding error caused by the payload itself (as opposed to an
// I/O error), so that the webhook can answer 400.
var ErrMalformed = errors.New("malformed RemoteExecutionContext")

// Target returns the Target entity of the InputParameters, or nil when there is none (a Delete
// carries an EntityReference instead, and oversized payloads carry no parameters at all).
func (c *ExecutionContext) Target() *Entity {
	if c == nil {
		return nil
	}
	e, _ := c.InputParameters["Target"].(*Entity)
	return e
}

// TargetReference returns the Target of a Delete (an EntityReference), or nil.
func (c *ExecutionContext) TargetReference() *EntityReference {
	if c == nil {
		return nil
	}
	r, _ := c.InputParameters["Target"].(*EntityReference)
	return r
}

// SharedString returns the string shared variable key from this context or, failing that, its
// parents (the `tag` optional parameter may surface at either level; dataverse-facts.md §7).
func (c *ExecutionContext) SharedString(key string) string {
	for x := c; x != nil; x = x.Parent {
		if s, ok := x.SharedVariables[key].(string); ok {
			return s
		}
	}
	return ""
}

// PreImage returns the first pre-image (by alias order) or nil.
func (c *ExecutionContext) PreImage() *Entity { return firstImage(c.PreEntityImages) }

// PostImage returns the first post-image (by alias order) or nil.
func (c *ExecutionContext) PostImage() *Entity { return firstImage(c.PostEntityImages) }

func firstImage(m map[string]*Entity) *Entity {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return m[keys[0]]
}

// Merge returns a new entity whose attributes are base's overlaid with over's: the full row as it
// will be after an Update, when base is the pre-image and over the Target. Either may be nil.
func Merge(base, over *Entity) *Entity {
	out := &Entity{Attributes: map[string]any{}, FormattedValues: map[string]string{}}
	for _, e := range []*Entity{base, over} {
		if e == nil {
			continue
		}
		if e.LogicalName != "" {
			out.LogicalName = e.LogicalName
		}
		if e.ID != "" && e.ID != EmptyGUID {
			out.ID = e.ID
		}
		for k, v := range e.Attributes {
			out.Attributes[k] = v
		}
		for k, v := range e.FormattedValues {
			out.FormattedValues[k] = v
		}
	}
	return out
}

// EmptyGUID is the all-zero id Dataverse uses for "no id yet".
const EmptyGUID = "00000000-0000-0000-0000-000000000000"

// StringAttrs renders every attribute as the string the matcher compares: strings as they are,
// numbers in their shortest form, booleans as true/false, choices as their number, currency as
// its amount, lookups as their id, dates as RFC 3339 in UTC, multi-select choices as a sorted
// comma-separated list. Nulls are left out.
func (e *Entity) StringAttrs() map[string]string {
	out := make(map[string]string, len(e.Attributes))
	for k, v := range e.Attributes {
		if s, ok := ValueString(v); ok {
			out[k] = s
		}
	}
	return out
}

// ValueString renders one decoded value as StringAttrs does; ok is false for nil.
func ValueString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	case time.Time:
		return x.UTC().Format(time.RFC3339), true
	case OptionSetValue:
		return strconv.Itoa(x.Value), true
	case Money:
		return strconv.FormatFloat(x.Value, 'f', -1, 64), true
	case *EntityReference:
		return x.ID, true
	case []any:
		parts := make([]string, 0, len(x))
		for _, el := range x {
			if s, ok := ValueString(el); ok {
				parts = append(parts, s)
			}
		}
		sort.Strings(parts)
		return strings.Join(parts, ","), true
	case *Entity:
		return x.ID, true
	case map[string]any:
		b, _ := json.Marshal(x)
		return string(b), true
	default:
		return fmt.Sprint(x), true
	}
}

// maxDepth bounds ParentContext and value nesting so a hostile payload cannot exhaust the stack.
const maxDepth = 32

// DecodeContext parses a RemoteExecutionContext JSON body. A UTF-8 byte order mark is accepted.
// Errors caused by the content wrap ErrMalformed.
//
// Well-formed bodies take the fast path (decodeContextFast, a walk over a pooled fastjson tree);
// every body the fast path cannot vouch for, including every one that is not valid JSON, is
// decoded by decodeContextStd, the encoding/json decoder that defines the behaviour. The two
// agree on every input (TestDecodeContextMatchesReference, FuzzDecodeContextMatchesReference).
func DecodeContext(body []byte) (*ExecutionContext, error) {
	if c, ok, err := decodeContextFast(body); ok {
		return c, err
	}
	return decodeContextStd(body)
}

// decodeContextStd is the reference decoder: encoding/json into map[string]any (UseNumber), then
// a walk over the maps. DecodeContext falls back to it for bodies the fast path declines, and the
// tests hold the fast path equal to it.
func decodeContextStd(body []byte) (*ExecutionContext, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrMalformed)
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: body is null", ErrMalformed)
	}
	return decodeContext(raw, 0)
}

func decodeContext(raw map[string]any, depth int) (*ExecutionContext, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: ParentContext nested deeper than %d", ErrMalformed, maxDepth)
	}
	c := &ExecutionContext{}
	var err error
	str := func(key string) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = optString(raw, key)
		return s
	}
	num := func(key string) int {
		if err != nil {
			return 0
		}
		var n int
		n, err = optInt(raw, key)
		return n
	}
	c.MessageName = str("MessageName")
	c.PrimaryEntityName = str("PrimaryEntityName")
	c.PrimaryEntityID = normGUID(str("PrimaryEntityId"))
	c.CorrelationID = normGUID(str("CorrelationId"))
	c.RequestID = normGUID(str("RequestId"))
	c.OperationID = normGUID(str("OperationId"))
	c.OrganizationID = normGUID(str("OrganizationId"))
	c.OrganizationName = str("OrganizationName")
	c.UserID = normGUID(str("UserId"))
	c.InitiatingUserID = normGUID(str("InitiatingUserId"))
	c.UserAADObjectID = normGUID(str("UserAzureActiveDirectoryObjectId"))
	c.InitiatingUserAADObjectID = normGUID(str("InitiatingUserAzureActiveDirectoryObjectId"))
	c.BusinessUnitID = normGUID(str("BusinessUnitId"))
	c.Stage = num("Stage")
	c.Mode = num("Mode")
	c.Depth = num("Depth")
	if err != nil {
		return nil, err
	}
	if b, ok := raw["IsInTransaction"].(bool); ok {
		c.IsInTransaction = b
	}
	if s, ok := raw["OperationCreatedOn"].(string); ok {
		if t, ok := ParseDate(s); ok {
			c.OperationCreatedOn = t
		}
	}
	if c.MessageName == "" {
		return nil, fmt.Errorf("%w: MessageName is missing", ErrMalformed)
	}
	if _, ok := raw["InputParameters"]; ok {
		c.HasInputParameters = true
	}
	if c.InputParameters, err = decodeParams(raw, "InputParameters", depth); err != nil {
		return nil, err
	}
	if c.OutputParameters, err = decodeParams(raw, "OutputParameters", depth); err != nil {
		return nil, err
	}
	if c.SharedVariables, err = decodeParams(raw, "SharedVariables", depth); err != nil {
		return nil, err
	}
	if c.PreEntityImages, err = decodeImages(raw, "PreEntityImages", depth); err != nil {
		return nil, err
	}
	if c.PostEntityImages, err = decodeImages(raw, "PostEntityImages", depth); err != nil {
		return nil, err
	}
	if oe, ok := raw["OwningExtension"].(map[string]any); ok {
		if c.OwningExtension, err = decodeReference(oe); err != nil {
			return nil, fmt.Errorf("OwningExtension: %w", err)
		}
	}
	if pc, ok := raw["ParentContext"].(map[string]any); ok {
		if c.Parent, err = decodeContext(pc, depth+1); err != nil {
			return nil, fmt.Errorf("ParentContext: %w", err)
		}
	}
	return c, nil
}

func optString(raw map[string]any, key string) (string, error) {
	switch v := raw[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case map[string]any:
		// {"__type":"Guid:#System","__value":"…"}
		if s, ok := v["__value"].(string); ok {
			return s, nil
		}
	}
	return "", fmt.Errorf("%w: %s is %T, want a string", ErrMalformed, key, raw[key])
}

func optInt(raw map[string]any, key string) (int, error) {
	switch v := raw[key].(type) {
	case nil:
		return 0, nil
	case json.Number:
		n, err := v.Int64()
		if err != nil || n > math.MaxInt32 || n < math.MinInt32 {
			return 0, fmt.Errorf("%w: %s = %s is not a 32-bit integer", ErrMalformed, key, v)
		}
		return int(n), nil
	}
	return 0, fmt.Errorf("%w: %s is %T, want a number", ErrMalformed, key, raw[key])
}

// decodeParams decodes a [{"key":…,"value":…}] array (ParameterCollection).
func decodeParams(raw map[string]any, key string, depth int) (map[string]any, error) {
	out := map[string]any{}
	v, ok := raw[key]
	if !ok || v == nil {
		return out, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s is %T, want an array of key/value pairs", ErrMalformed, key, v)
	}
	for i, item := range arr {
		kv, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: %s[%d] is %T, want {key,value}", ErrMalformed, key, i, item)
		}
		k, ok := kv["key"].(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s[%d].key is missing or not a string", ErrMalformed, key, i)
		}
		val, err := DecodeValue(kv["value"], depth+1)
		if err != nil {
			return nil, fmt.Errorf("%s[%q]: %w", key, k, err)
		}
		out[k] = val
	}
	return out, nil
}

func decodeImages(raw map[string]any, key string, depth int) (map[string]*Entity, error) {
	params, err := decodeParams(raw, key, depth)
	if err != nil {
		return nil, err
	}
	return imagesFromParams(params, key)
}

// imagesFromParams keeps the entities of a decoded image collection (alias → value); a null image
// is dropped and anything else is an error. Shared by both decoders so that they fail alike.
func imagesFromParams(params map[string]any, key string) (map[string]*Entity, error) {
	out := make(map[string]*Entity, len(params))
	for alias, v := range params {
		switch e := v.(type) {
		case *Entity:
			out[alias] = e
		case nil:
		default:
			return nil, fmt.Errorf("%w: %s[%q] is not an entity", ErrMalformed, key, alias)
		}
	}
	return out, nil
}

// DecodeValue turns one generically parsed JSON value (numbers as json.Number) into its Go form:
//
//	string "/Date(ms±zzzz)/"           → time.Time (UTC)
//	other strings, bools, numbers        → themselves (numbers stay json.Number)
//	{"__type":"Entity:…"} or an object with LogicalName and Attributes → *Entity
//	{"__type":"EntityReference:…"} or an object with LogicalName and Id → *EntityReference
//	{"__type":"OptionSetValue:…"}        → OptionSetValue
//	{"__type":"Money:…"}                 → Money
//	{"__type":"Guid:#System"|"DateTime:#System"|…,"__value":v} → v, decoded
//	arrays                               → []any of decoded values
//	other objects                        → map[string]any of decoded values
func DecodeValue(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: value nested deeper than %d", ErrMalformed, maxDepth)
	}
	switch x := v.(type) {
	case nil, bool, json.Number:
		return x, nil
	case float64:
		return json.Number(strconv.FormatFloat(x, 'f', -1, 64)), nil
	case string:
		if t, ok := ParseDate(x); ok {
			return t, nil
		}
		return x, nil
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			d, err := DecodeValue(el, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	case map[string]any:
		return decodeObject(x, depth)
	}
	return nil, fmt.Errorf("%w: unexpected JSON value %T", ErrMalformed, v)
}

func decodeObject(x map[string]any, depth int) (any, error) {
	typ, _ := x["__type"].(string)
	kind, _, _ := strings.Cut(typ, ":")
	if inner, ok := x["__value"]; ok && typ != "" {
		// Typed primitive wrapper: Guid:#System, DateTime:#System, String:#System, ...
		d, err := DecodeValue(inner, depth+1)
		if err != nil {
			return nil, err
		}
		if kind == "Guid" {
			if s, ok := d.(string); ok {
				return normGUID(s), nil
			}
		}
		return d, nil
	}
	switch kind {
	case "Entity":
		return decodeEntity(x, depth)
	case "EntityReference":
		return decodeReference(x)
	case "OptionSetValue":
		n, err := optInt(x, "Value")
		if err != nil {
			return nil, fmt.Errorf("OptionSetValue: %w", err)
		}
		return OptionSetValue{Value: n}, nil
	case "Money":
		num, ok := x["Value"].(json.Number)
		if !ok {
			return nil, fmt.Errorf("%w: Money.Value is %T, want a number", ErrMalformed, x["Value"])
		}
		f, err := num.Float64()
		if err != nil {
			return nil, fmt.Errorf("%w: Money.Value %s: %v", ErrMalformed, num, err)
		}
		return Money{Value: f}, nil
	case "":
		// Untyped objects: the default async post-image entity has no __type, nor does
		// OwningExtension. Recognise them by their members.
		if _, ok := x["Attributes"]; ok {
			if _, ok := x["LogicalName"]; ok {
				return decodeEntity(x, depth)
			}
		}
		if _, ok := x["LogicalName"]; ok {
			if _, ok := x["Id"]; ok {
				return decodeReference(x)
			}
		}
	}
	out := make(map[string]any, len(x))
	for k, el := range x {
		d, err := DecodeValue(el, depth+1)
		if err != nil {
			return nil, err
		}
		out[k] = d
	}
	return out, nil
}

func decodeEntity(x map[string]any, depth int) (*Entity, error) {
	e := &Entity{}
	var err error
	if e.LogicalName, err = optString(x, "LogicalName"); err != nil {
		return nil, err
	}
	id, err := optString(x, "Id")
	if err != nil {
		return nil, err
	}
	e.ID = normGUID(id)
	if e.Attributes, err = decodeParams(x, "Attributes", depth); err != nil {
		return nil, err
	}
	fv, err := decodeParams(x, "FormattedValues", depth)
	if err != nil {
		return nil, err
	}
	e.FormattedValues = make(map[string]string, len(fv))
	for k, v := range fv {
		if s, ok := ValueString(v); ok {
			e.FormattedValues[k] = s
		}
	}
	return e, nil
}

func decodeReference(x map[string]any) (*EntityReference, error) {
	r := &EntityReference{}
	var err error
	if r.LogicalName, err = optString(x, "LogicalName"); err != nil {
		return nil, err
	}
	id, err := optString(x, "Id")
	if err != nil {
		return nil, err
	}
	r.ID = normGUID(id)
	if r.Name, err = optString(x, "Name"); err != nil {
		return nil, err
	}
	return r, nil
}

// ParseDate parses the WCF JSON date form "/Date(1506384247000)/" or "/Date(1506409448000-0700)/".
// The milliseconds are UTC whatever the offset says (the offset only records the sender's zone).
func ParseDate(s string) (time.Time, bool) {
	if !strings.HasPrefix(s, "/Date(") || !strings.HasSuffix(s, ")/") {
		return time.Time{}, false
	}
	body := s[len("/Date(") : len(s)-len(")/")]
	if len(body) == 0 {
		return time.Time{}, false
	}
	digits := body
	if i := strings.IndexAny(body[1:], "+-"); i >= 0 {
		digits = body[:i+1]
		off := body[i+1:]
		if len(off) != 5 {
			return time.Time{}, false
		}
		if _, err := strconv.Atoi(off[1:]); err != nil {
			return time.Time{}, false
		}
	}
	ms, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// FormatDate renders t in the WCF JSON date form Dataverse sends, "/Date(ms)/".
func FormatDate(t time.Time) string {
	return "/Date(" + strconv.FormatInt(t.UnixMilli(), 10) + ")/"
}

// normGUID lower-cases a GUID and strips braces; other strings are returned as they are.
func normGUID(s string) string {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if len(s) == 36 && s[8] == '-' {
		return strings.ToLower(s)
	}
	return s
}
