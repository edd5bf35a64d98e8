package dataverse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
)

// maxEncodeDepth bounds nesting when writing. It is looser than the decoder's maxDepth because
// the writer counts every level (entity, collection, value) while the decoder counts fewer, so
// anything DecodeContext accepted can be written back.
const maxEncodeDepth = 4 * maxDepth

// contractsNS is the data-contract namespace Dataverse writes after the type name in __type tags.
const contractsNS = ":http://schemas.microsoft.com/xrm/2011/Contracts"

// EncodeContext renders c as the JSON body Dataverse POSTs to a webhook: a serialised
// RemoteExecutionContext with its properties in alphabetical order (as the WCF data-contract
// serializer writes them), key/value arrays for parameter collections, "__type"-tagged Entity,
// EntityReference, OptionSetValue and Money values, and dates as "/Date(ms)/".
//
// The decoder (DecodeContext) reads what this writes; the emulator uses it to send payloads of
// the real shape (dataverse-facts.md §1.3). Forward slashes are not escaped as "\/": JSON
// parsers treat both forms alike.
//
// Values in Attributes, parameters and shared variables may be: nil, string, bool, json.Number,
// int, int64, float64, time.Time, OptionSetValue, Money, *EntityReference, *Entity,
// []OptionSetValue, []any of those, map[string]string (written as KeyValuePairOfstringstring
// items) and map[string]any (a plain object).
func EncodeContext(c *ExecutionContext) ([]byte, error) {
	var b bytes.Buffer
	if err := writeContext(&b, c, false, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// EncodeContextTruncated renders c the way Dataverse sends a payload larger than 256 KB: without
// ParentContext, InputParameters, PreEntityImages and PostEntityImages (dataverse-facts.md §2).
// The caller adds the x-ms-dynamics-msg-size-exceeded header.
func EncodeContextTruncated(c *ExecutionContext) ([]byte, error) {
	var b bytes.Buffer
	if err := writeContext(&b, c, true, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// objWriter writes one JSON object member by member, in the order given.
type objWriter struct {
	b     *bytes.Buffer
	n     int
	depth int
	err   error
}

func newObj(b *bytes.Buffer, depth int) *objWriter {
	b.WriteByte('{')
	return &objWriter{b: b, depth: depth}
}

func (o *objWriter) key(k string) {
	if o.n > 0 {
		o.b.WriteByte(',')
	}
	o.n++
	writeString(o.b, k)
	o.b.WriteByte(':')
}

func (o *objWriter) str(k, v string) { o.key(k); writeString(o.b, v) }

// guid writes a GUID, or null when it is empty.
func (o *objWriter) guid(k, v string) {
	o.key(k)
	if v == "" {
		o.b.WriteString("null")
		return
	}
	writeString(o.b, v)
}

func (o *objWriter) raw(k, v string) { o.key(k); o.b.WriteString(v) }

func (o *objWriter) num(k string, v int) { o.raw(k, strconv.Itoa(v)) }

func (o *objWriter) boolean(k string, v bool) { o.raw(k, strconv.FormatBool(v)) }

func (o *objWriter) value(k string, v any) {
	if o.err != nil {
		return
	}
	o.key(k)
	o.err = writeValue(o.b, v, o.depth+1)
}

func (o *objWriter) close() error {
	o.b.WriteByte('}')
	return o.err
}

func writeContext(b *bytes.Buffer, c *ExecutionContext, truncated bool, depth int) error {
	if c == nil {
		b.WriteString("null")
		return nil
	}
	if depth > maxEncodeDepth {
		return fmt.Errorf("ParentContext nested deeper than %d", maxEncodeDepth)
	}
	o := newObj(b, depth)
	o.guid("BusinessUnitId", c.BusinessUnitID)
	o.guid("CorrelationId", c.CorrelationID)
	o.num("Depth", c.Depth)
	if c.InitiatingUserAADObjectID != "" {
		o.guid("InitiatingUserAzureActiveDirectoryObjectId", c.InitiatingUserAADObjectID)
	}
	o.guid("InitiatingUserId", c.InitiatingUserID)
	if !truncated {
		o.key("InputParameters")
		if err := writeParams(b, c.InputParameters, depth+1); err != nil {
			return fmt.Errorf("InputParameters: %w", err)
		}
	}
	o.boolean("IsExecutingOffline", false)
	o.boolean("IsInTransaction", c.IsInTransaction)
	o.boolean("IsOfflinePlayback", false)
	o.num("IsolationMode", 1)
	o.str("MessageName", c.MessageName)
	o.num("Mode", c.Mode)
	if c.OperationCreatedOn.IsZero() {
		o.raw("OperationCreatedOn", "null")
	} else {
		o.str("OperationCreatedOn", FormatDate(c.OperationCreatedOn))
	}
	o.guid("OperationId", c.OperationID)
	o.guid("OrganizationId", c.OrganizationID)
	o.str("OrganizationName", c.OrganizationName)
	o.key("OutputParameters")
	if err := writeParams(b, c.OutputParameters, depth+1); err != nil {
		return fmt.Errorf("OutputParameters: %w", err)
	}
	o.key("OwningExtension")
	if c.OwningExtension == nil {
		b.WriteString("null")
	} else {
		writeReference(b, c.OwningExtension, false)
	}
	if !truncated {
		o.key("ParentContext")
		if err := writeContext(b, c.Parent, false, depth+1); err != nil {
			return fmt.Errorf("ParentContext: %w", err)
		}
		o.key("PostEntityImages")
		if err := writeImages(b, c.PostEntityImages, depth+1); err != nil {
			return fmt.Errorf("PostEntityImages: %w", err)
		}
		o.key("PreEntityImages")
		if err := writeImages(b, c.PreEntityImages, depth+1); err != nil {
			return fmt.Errorf("PreEntityImages: %w", err)
		}
	}
	o.guid("PrimaryEntityId", c.PrimaryEntityID)
	o.str("PrimaryEntityName", c.PrimaryEntityName)
	o.guid("RequestId", c.RequestID)
	o.str("SecondaryEntityName", "none")
	o.key("SharedVariables")
	if err := writeParams(b, c.SharedVariables, depth+1); err != nil {
		return fmt.Errorf("SharedVariables: %w", err)
	}
	o.num("Stage", c.Stage)
	if c.UserAADObjectID != "" {
		o.guid("UserAzureActiveDirectoryObjectId", c.UserAADObjectID)
	}
	o.guid("UserId", c.UserID)
	return o.close()
}

// writeParams writes a ParameterCollection as [{"key":…,"value":…}], keys sorted so that the
// output is deterministic (Dataverse's own order is insertion order, which a map cannot keep).
func writeParams(b *bytes.Buffer, m map[string]any, depth int) error {
	b.WriteByte('[')
	for i, k := range sortedMapKeys(m) {
		if i > 0 {
			b.WriteByte(',')
		}
		o := newObj(b, depth)
		o.str("key", k)
		o.value("value", m[k])
		if err := o.close(); err != nil {
			return fmt.Errorf("%q: %w", k, err)
		}
	}
	b.WriteByte(']')
	return nil
}

// writeImages writes an EntityImageCollection. Image entities carry no __type tag, as in the
// default AsynchronousStepPrimaryName image of the Microsoft sample.
func writeImages(b *bytes.Buffer, m map[string]*Entity, depth int) error {
	b.WriteByte('[')
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		o := newObj(b, depth)
		o.str("key", k)
		o.key("value")
		if err := writeEntity(b, m[k], false, depth+1); err != nil {
			return fmt.Errorf("%q: %w", k, err)
		}
		if err := o.close(); err != nil {
			return err
		}
	}
	b.WriteByte(']')
	return nil
}

func writeEntity(b *bytes.Buffer, e *Entity, typed bool, depth int) error {
	if e == nil {
		b.WriteString("null")
		return nil
	}
	if depth > maxEncodeDepth {
		return fmt.Errorf("entity nested deeper than %d", maxEncodeDepth)
	}
	o := newObj(b, depth)
	if typed {
		o.str("__type", "Entity"+contractsNS)
	}
	o.key("Attributes")
	if err := writeParams(b, e.Attributes, depth+1); err != nil {
		return fmt.Errorf("Attributes: %w", err)
	}
	o.raw("EntityState", "null")
	o.key("FormattedValues")
	b.WriteByte('[')
	fkeys := make([]string, 0, len(e.FormattedValues))
	for k := range e.FormattedValues {
		fkeys = append(fkeys, k)
	}
	sort.Strings(fkeys)
	for i, k := range fkeys {
		if i > 0 {
			b.WriteByte(',')
		}
		fo := newObj(b, depth+1)
		fo.str("key", k)
		fo.str("value", e.FormattedValues[k])
		_ = fo.close()
	}
	b.WriteByte(']')
	o.guid("Id", e.ID)
	o.raw("KeyAttributes", "[]")
	o.str("LogicalName", e.LogicalName)
	o.raw("RelatedEntities", "[]")
	o.raw("RowVersion", "null")
	return o.close()
}

func writeReference(b *bytes.Buffer, r *EntityReference, typed bool) {
	o := newObj(b, 0)
	if typed {
		o.str("__type", "EntityReference"+contractsNS)
	}
	o.guid("Id", r.ID)
	o.raw("KeyAttributes", "[]")
	o.str("LogicalName", r.LogicalName)
	if r.Name == "" {
		o.raw("Name", "null")
	} else {
		o.str("Name", r.Name)
	}
	o.raw("RowVersion", "null")
	_ = o.close()
}

func writeValue(b *bytes.Buffer, v any, depth int) error {
	if depth > maxEncodeDepth {
		return fmt.Errorf("value nested deeper than %d", maxEncodeDepth)
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		writeString(b, x)
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		if !json.Valid([]byte(x)) || len(x) == 0 || x[0] == '"' || x[0] == '[' || x[0] == '{' || x == "true" || x == "false" || x == "null" {
			return fmt.Errorf("%q is not a JSON number", string(x))
		}
		b.WriteString(string(x))
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%v cannot be written as JSON", x)
		}
		b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
	case time.Time:
		writeString(b, FormatDate(x))
	case OptionSetValue:
		o := newObj(b, depth)
		o.str("__type", "OptionSetValue"+contractsNS)
		o.num("Value", x.Value)
		return o.close()
	case Money:
		if math.IsNaN(x.Value) || math.IsInf(x.Value, 0) {
			return fmt.Errorf("money %v cannot be written as JSON", x.Value)
		}
		o := newObj(b, depth)
		o.str("__type", "Money"+contractsNS)
		o.raw("Value", strconv.FormatFloat(x.Value, 'f', -1, 64))
		return o.close()
	case *EntityReference:
		if x == nil {
			b.WriteString("null")
			return nil
		}
		writeReference(b, x, true)
	case EntityReference:
		writeReference(b, &x, true)
	case *Entity:
		return writeEntity(b, x, true, depth)
	case []OptionSetValue:
		b.WriteByte('[')
		for i, el := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeValue(b, el, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case []any:
		b.WriteByte('[')
		for i, el := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeValue(b, el, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]string:
		// A string dictionary, as in ParentContext.SharedVariables.ChangedEntityTypes.
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('[')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			o := newObj(b, depth)
			o.str("__type", "KeyValuePairOfstringstring:#System.Collections.Generic")
			o.str("key", k)
			o.str("value", x[k])
			_ = o.close()
		}
		b.WriteByte(']')
	case map[string]any:
		o := newObj(b, depth)
		for _, k := range sortedMapKeys(x) {
			o.value(k, x[k])
		}
		return o.close()
	default:
		return fmt.Errorf("cannot encode a %T", v)
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // strings always encode
	b.Truncate(b.Len() - 1)
}

func sortedMapKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
