package registration

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/dedupegate/dedupegate/dataverse"
)

// Client is the Web API as registration uses it; *dataverse.Client implements it.
type Client interface {
	List(ctx context.Context, table string, q dataverse.Query, page func([]map[string]any) error, opts ...dataverse.CallOption) error
	Create(ctx context.Context, table string, attrs map[string]any, opts ...dataverse.CallOption) (string, error)
	Update(ctx context.Context, table, id string, attrs map[string]any, opts ...dataverse.CallOption) error
	Delete(ctx context.Context, table, id string, opts ...dataverse.CallOption) error
}

var _ Client = (*dataverse.Client)(nil)

// Current is what is registered now under a prefix.
type Current struct {
	Endpoint *CurrentEndpoint
	// Steps are the steps named with the prefix or attached to the endpoint.
	Steps []CurrentStep
}

// CurrentEndpoint is a registered webhook endpoint (its auth value cannot be read back).
type CurrentEndpoint struct {
	ID, Name, URL                     string
	AuthType, MessageFormat, ConnMode int
	AuthValueSet                      bool
}

// CurrentStep is a registered step.
type CurrentStep struct {
	ID, Name            string
	Message, Table      string
	MessageID, FilterID string
	EndpointID          string
	Stage, Mode, Rank   int
	Enabled             bool
	AsyncAutoDelete     bool
	FilteringAttributes []string
	Images              []CurrentImage
	ours                bool // named with the prefix
}

// CurrentImage is a registered image.
type CurrentImage struct {
	ID, Name, Alias, MessageProperty string
	Type                             int
	Attributes                       []string
}

func str(row map[string]any, k string) string { s, _ := row[k].(string); return s }

func num(row map[string]any, k string) int {
	switch v := row[k].(type) {
	case interface{ String() string }:
		n, _ := strconv.Atoi(v.String())
		return n
	case float64:
		return int(v)
	}
	return 0
}

func list(ctx context.Context, c Client, table string, q dataverse.Query) ([]map[string]any, error) {
	var out []map[string]any
	err := c.List(ctx, table, q, func(rows []map[string]any) error {
		out = append(out, rows...)
		return nil
	})
	return out, err
}

// orChunks runs q once per chunk of ids (an OR of "attr eq id" clauses), so that URLs stay far
// below the 32 KB limit however many steps there are.
func orChunks(ctx context.Context, c Client, table, attr string, ids []string, q dataverse.Query) ([]map[string]any, error) {
	var out []map[string]any
	for start := 0; start < len(ids); start += 40 {
		end := min(start+40, len(ids))
		var clauses []string
		for _, id := range ids[start:end] {
			clauses = append(clauses, dataverse.Eq(attr, dataverse.GUID(id)))
		}
		q.Filter = dataverse.Or(clauses...)
		rows, err := list(ctx, c, table, q)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// Read loads the registration named with prefix: the endpoint called prefix (contract 8), the
// steps attached to it or named "<prefix>: …", their images, messages and tables.
func Read(ctx context.Context, c Client, prefix string) (*Current, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	cur := &Current{}
	eps, err := list(ctx, c, "serviceendpoint", dataverse.Query{
		Select: []string{"serviceendpointid", "name", "url", "contract", "authtype", "messageformat", "connectionmode", "isauthvalueset"},
		Filter: dataverse.And(dataverse.Eq("name", prefix), dataverse.Eq("contract", contractWebhook)),
	})
	if err != nil {
		return nil, fmt.Errorf("reading service endpoints: %w", err)
	}
	switch len(eps) {
	case 0:
	case 1:
		e := eps[0]
		cur.Endpoint = &CurrentEndpoint{ID: str(e, "serviceendpointid"), Name: str(e, "name"), URL: str(e, "url"),
			AuthType: num(e, "authtype"), MessageFormat: num(e, "messageformat"), ConnMode: num(e, "connectionmode")}
		cur.Endpoint.AuthValueSet, _ = e["isauthvalueset"].(bool)
	default:
		return nil, fmt.Errorf("%d webhook service endpoints are named %q: remove the extra ones by hand", len(eps), prefix)
	}
	filter := dataverse.StartsWith("name", prefix+": ")
	if cur.Endpoint != nil {
		filter = dataverse.Or(dataverse.Eq("_eventhandler_value", dataverse.GUID(cur.Endpoint.ID)), filter)
	}
	steps, err := list(ctx, c, "sdkmessageprocessingstep", dataverse.Query{
		Select: []string{"sdkmessageprocessingstepid", "name", "stage", "mode", "rank", "filteringattributes", "statecode",
			"asyncautodelete", "_eventhandler_value", "_sdkmessageid_value", "_sdkmessagefilterid_value"},
		Filter: filter,
	})
	if err != nil {
		return nil, fmt.Errorf("reading steps: %w", err)
	}
	msgIDs, filterIDs, stepIDs := map[string]bool{}, map[string]bool{}, []string{}
	for _, s := range steps {
		st := CurrentStep{ID: str(s, "sdkmessageprocessingstepid"), Name: str(s, "name"), Stage: num(s, "stage"), Mode: num(s, "mode"),
			Rank: num(s, "rank"), Enabled: num(s, "statecode") == 0, EndpointID: str(s, "_eventhandler_value"),
			MessageID: str(s, "_sdkmessageid_value"), FilterID: str(s, "_sdkmessagefilterid_value"),
			FilteringAttributes: splitAttrs(str(s, "filteringattributes"))}
		st.AsyncAutoDelete, _ = s["asyncautodelete"].(bool)
		st.ours = strings.HasPrefix(st.Name, prefix+": ")
		cur.Steps = append(cur.Steps, st)
		if st.MessageID != "" {
			msgIDs[st.MessageID] = true
		}
		if st.FilterID != "" {
			filterIDs[st.FilterID] = true
		}
		stepIDs = append(stepIDs, st.ID)
	}
	msgs, err := orChunks(ctx, c, "sdkmessage", "sdkmessageid", keys(msgIDs), dataverse.Query{Select: []string{"sdkmessageid", "name"}})
	if err != nil {
		return nil, fmt.Errorf("reading messages: %w", err)
	}
	msgName := map[string]string{}
	for _, m := range msgs {
		msgName[str(m, "sdkmessageid")] = str(m, "name")
	}
	filters, err := orChunks(ctx, c, "sdkmessagefilter", "sdkmessagefilterid", keys(filterIDs), dataverse.Query{Select: []string{"sdkmessagefilterid", "primaryobjecttypecode"}})
	if err != nil {
		return nil, fmt.Errorf("reading message filters: %w", err)
	}
	filterTable := map[string]string{}
	for _, f := range filters {
		filterTable[str(f, "sdkmessagefilterid")] = str(f, "primaryobjecttypecode")
	}
	images, err := orChunks(ctx, c, "sdkmessageprocessingstepimage", "_sdkmessageprocessingstepid_value", stepIDs, dataverse.Query{
		Select: []string{"sdkmessageprocessingstepimageid", "name", "entityalias", "imagetype", "attributes", "messagepropertyname", "_sdkmessageprocessingstepid_value"}})
	if err != nil {
		return nil, fmt.Errorf("reading step images: %w", err)
	}
	byStep := map[string][]CurrentImage{}
	for _, im := range images {
		sid := str(im, "_sdkmessageprocessingstepid_value")
		byStep[sid] = append(byStep[sid], CurrentImage{ID: str(im, "sdkmessageprocessingstepimageid"), Name: str(im, "name"),
			Alias: str(im, "entityalias"), Type: num(im, "imagetype"), Attributes: splitAttrs(str(im, "attributes")),
			MessageProperty: str(im, "messagepropertyname")})
	}
	for i := range cur.Steps {
		s := &cur.Steps[i]
		s.Message, s.Table = msgName[s.MessageID], filterTable[s.FilterID]
		s.Images = byStep[s.ID]
		sort.Slice(s.Images, func(a, b int) bool { return s.Images[a].Alias < s.Images[b].Alias })
	}
	sort.Slice(cur.Steps, func(i, j int) bool { return cur.Steps[i].Name < cur.Steps[j].Name })
	return cur, nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Change is one difference between the plan and what is registered, and what register does
// about it.
type Change struct {
	Action string // create, update, delete, recreate
	Kind   string // endpoint, step, image
	Name   string
	Detail string
	// Drift marks a difference status reports (re-applying the endpoint's secret, which cannot
	// be read back, is a change but not drift).
	Drift bool
	apply func(ctx context.Context, c Client, ids *idState) error
}

func (ch Change) String() string {
	s := fmt.Sprintf("%-8s %-8s %s", ch.Action, ch.Kind, ch.Name)
	if ch.Detail != "" {
		s += ": " + ch.Detail
	}
	return s
}

// Report is the outcome of Register, Unregister or Status.
type Report struct {
	Changes []Change
	// Foreign lists steps attached to the endpoint that register did not create.
	Foreign []string
	Applied bool
}

// Drift returns the changes that are drift from the plan.
func (r *Report) Drift() []Change {
	var out []Change
	for _, c := range r.Changes {
		if c.Drift {
			out = append(out, c)
		}
	}
	return out
}

// idState carries ids created while applying (the endpoint and new steps).
type idState struct {
	endpointID string
	steps      map[string]string // step name → id
}

// lookups resolves message and filter ids by query, never hard-coded (dataverse-facts.md §5).
type lookups struct {
	messages map[string]string    // name → id
	filters  map[[2]string]string // (table, message) → id
}

func resolveIDs(ctx context.Context, c Client, p *Plan) (*lookups, error) {
	lk := &lookups{messages: map[string]string{}, filters: map[[2]string]string{}}
	need := map[string]bool{}
	for _, s := range p.Steps {
		need[s.Message] = true
	}
	var clauses []string
	for _, m := range keys(need) {
		clauses = append(clauses, dataverse.Eq("name", m))
	}
	if len(clauses) == 0 {
		return lk, nil
	}
	msgs, err := list(ctx, c, "sdkmessage", dataverse.Query{Select: []string{"sdkmessageid", "name"}, Filter: dataverse.Or(clauses...)})
	if err != nil {
		return nil, fmt.Errorf("looking up sdkmessages: %w", err)
	}
	for _, m := range msgs {
		lk.messages[str(m, "name")] = str(m, "sdkmessageid")
	}
	for _, s := range p.Steps {
		if lk.messages[s.Message] == "" {
			return nil, fmt.Errorf("the environment has no %s sdkmessage", s.Message)
		}
		key := [2]string{s.Table, s.Message}
		if _, done := lk.filters[key]; done {
			continue
		}
		rows, err := list(ctx, c, "sdkmessagefilter", dataverse.Query{Select: []string{"sdkmessagefilterid"},
			Filter: dataverse.And(dataverse.Eq("primaryobjecttypecode", s.Table), dataverse.Eq("sdkmessageid/name", s.Message))})
		if err != nil {
			return nil, fmt.Errorf("looking up the %s filter of %s: %w", s.Message, s.Table, err)
		}
		if len(rows) != 1 {
			return nil, fmt.Errorf("table %q has %d %s message filters, want 1: is it a table logical name that allows custom steps?", s.Table, len(rows), s.Message)
		}
		lk.filters[key] = str(rows[0], "sdkmessagefilterid")
	}
	return lk, nil
}

func endpointBody(e EndpointSpec) map[string]any {
	return map[string]any{"name": e.Name, "url": e.URL, "description": e.Description, "contract": contractWebhook,
		"authtype": e.AuthType, "authvalue": e.authValue, "messageformat": messageFormatJSON, "connectionmode": connectionModeNormal}
}

func stepBody(s StepSpec, lk *lookups, endpointID string) map[string]any {
	b := map[string]any{
		"name": s.Name, "description": "Managed by 'dedupegate register'.", "stage": s.Stage, "mode": s.Mode, "rank": s.Rank,
		"supporteddeployment": 0, "asyncautodelete": s.AsyncAutoDelete,
		"eventhandler_serviceendpoint@odata.bind": "/serviceendpoints(" + endpointID + ")",
		"sdkmessageid@odata.bind":                 "/sdkmessages(" + lk.messages[s.Message] + ")",
		"sdkmessagefilterid@odata.bind":           "/sdkmessagefilters(" + lk.filters[[2]string{s.Table, s.Message}] + ")",
	}
	if len(s.FilteringAttributes) > 0 {
		b["filteringattributes"] = strings.Join(s.FilteringAttributes, ",")
	}
	return b
}

func imageBody(im ImageSpec, stepID string) map[string]any {
	return map[string]any{"name": im.Name, "entityalias": im.Alias, "imagetype": im.Type, "attributes": strings.Join(im.Attributes, ","),
		"messagepropertyname": im.MessageProperty, "sdkmessageprocessingstepid@odata.bind": "/sdkmessageprocessingsteps(" + stepID + ")"}
}

// diff computes the changes that take cur to p.
func diff(p *Plan, cur *Current, lk *lookups) (*Report, error) {
	rep := &Report{}
	add := func(c Change) { rep.Changes = append(rep.Changes, c) }

	// The endpoint.
	ep := p.Endpoint
	if cur.Endpoint == nil {
		add(Change{Action: "create", Kind: "endpoint", Name: ep.Name, Detail: ep.URL, Drift: true,
			apply: func(ctx context.Context, c Client, ids *idState) error {
				id, err := c.Create(ctx, "serviceendpoint", endpointBody(ep))
				ids.endpointID = id
				return err
			}})
	} else {
		var diffs []string
		if cur.Endpoint.URL != ep.URL {
			diffs = append(diffs, fmt.Sprintf("url %s → %s", cur.Endpoint.URL, ep.URL))
		}
		if cur.Endpoint.AuthType != ep.AuthType {
			diffs = append(diffs, fmt.Sprintf("authtype %d → %d", cur.Endpoint.AuthType, ep.AuthType))
		}
		if cur.Endpoint.MessageFormat != messageFormatJSON {
			diffs = append(diffs, "messageformat → 2 (Json)")
		}
		if !cur.Endpoint.AuthValueSet {
			diffs = append(diffs, "auth value not set")
		}
		detail := strings.Join(diffs, "; ")
		if detail == "" {
			detail = "secret re-applied (an auth value cannot be read back to compare)"
		}
		id := cur.Endpoint.ID
		add(Change{Action: "update", Kind: "endpoint", Name: ep.Name, Detail: detail, Drift: len(diffs) > 0,
			apply: func(ctx context.Context, c Client, ids *idState) error {
				return c.Update(ctx, "serviceendpoint", id, endpointBody(ep))
			}})
	}

	// Steps, by name.
	have := map[string][]CurrentStep{}
	for _, s := range cur.Steps {
		if !s.ours {
			rep.Foreign = append(rep.Foreign, s.Name)
			continue
		}
		have[s.Name] = append(have[s.Name], s)
	}
	want := map[string]bool{}
	for _, s := range p.Steps {
		s := s
		want[s.Name] = true
		existing := have[s.Name]
		for _, dup := range existing[min(1, len(existing)):] {
			addDelete(add, dup, "duplicate")
		}
		if len(existing) == 0 {
			add(Change{Action: "create", Kind: "step", Name: s.Name, Detail: stepDetail(s), Drift: true,
				apply: func(ctx context.Context, c Client, ids *idState) error {
					id, err := c.Create(ctx, "sdkmessageprocessingstep", stepBody(s, lk, ids.endpointID))
					if err != nil {
						return err
					}
					ids.steps[s.Name] = id
					for _, im := range s.Images {
						if _, err := c.Create(ctx, "sdkmessageprocessingstepimage", imageBody(im, id)); err != nil {
							return fmt.Errorf("image %s: %w", im.Alias, err)
						}
					}
					return nil
				}})
			continue
		}
		cs := existing[0]
		wantMsg, wantFilter := lk.messages[s.Message], lk.filters[[2]string{s.Table, s.Message}]
		if cs.Stage != s.Stage || cs.Mode != s.Mode || cs.MessageID != wantMsg || cs.FilterID != wantFilter {
			addDelete(add, cs, "stage, mode, message or table differ")
			add(Change{Action: "create", Kind: "step", Name: s.Name, Detail: stepDetail(s), Drift: true,
				apply: func(ctx context.Context, c Client, ids *idState) error {
					id, err := c.Create(ctx, "sdkmessageprocessingstep", stepBody(s, lk, ids.endpointID))
					if err != nil {
						return err
					}
					for _, im := range s.Images {
						if _, err := c.Create(ctx, "sdkmessageprocessingstepimage", imageBody(im, id)); err != nil {
							return fmt.Errorf("image %s: %w", im.Alias, err)
						}
					}
					return nil
				}})
			continue
		}
		var diffs []string
		patch := map[string]any{}
		if !sameSet(cs.FilteringAttributes, s.FilteringAttributes) {
			diffs = append(diffs, fmt.Sprintf("filtering attributes [%s] → [%s]", strings.Join(cs.FilteringAttributes, ","), strings.Join(s.FilteringAttributes, ",")))
			patch["filteringattributes"] = strings.Join(s.FilteringAttributes, ",")
		}
		if cs.Rank != s.Rank {
			diffs = append(diffs, fmt.Sprintf("rank %d → %d", cs.Rank, s.Rank))
			patch["rank"] = s.Rank
		}
		if cs.AsyncAutoDelete != s.AsyncAutoDelete {
			diffs = append(diffs, fmt.Sprintf("asyncautodelete → %v", s.AsyncAutoDelete))
			patch["asyncautodelete"] = s.AsyncAutoDelete
		}
		if !cs.Enabled {
			diffs = append(diffs, "disabled → enabled")
			patch["statecode"], patch["statuscode"] = 0, 1
		}
		endpointMoved := cur.Endpoint == nil || cs.EndpointID != cur.Endpoint.ID
		if endpointMoved {
			diffs = append(diffs, "attached to another endpoint")
		}
		if len(diffs) > 0 {
			id := cs.ID
			add(Change{Action: "update", Kind: "step", Name: s.Name, Detail: strings.Join(diffs, "; "), Drift: true,
				apply: func(ctx context.Context, c Client, ids *idState) error {
					if endpointMoved {
						patch["eventhandler_serviceendpoint@odata.bind"] = "/serviceendpoints(" + ids.endpointID + ")"
					}
					return c.Update(ctx, "sdkmessageprocessingstep", id, patch)
				}})
		}
		diffImages(add, s, cs)
	}
	for _, name := range sortedNames(have) {
		if !want[name] {
			for _, s := range have[name] {
				addDelete(add, s, "not needed by the rules")
			}
		}
	}
	return rep, nil
}

func sortedNames(m map[string][]CurrentStep) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func stepDetail(s StepSpec) string {
	d := fmt.Sprintf("%s of %s at %s, %s", s.Message, s.Table, stageName(s.Stage), modeName(s.Mode))
	if len(s.FilteringAttributes) > 0 {
		d += ", filtering [" + strings.Join(s.FilteringAttributes, ",") + "]"
	}
	for _, im := range s.Images {
		d += fmt.Sprintf(", %s [%s]", im.Alias, strings.Join(im.Attributes, ","))
	}
	return d
}

// addDelete removes a step with its images (images first: Dataverse deletes them with the step,
// but deleting them explicitly does not depend on that).
func addDelete(add func(Change), s CurrentStep, why string) {
	add(Change{Action: "delete", Kind: "step", Name: s.Name, Detail: why, Drift: true,
		apply: func(ctx context.Context, c Client, ids *idState) error {
			for _, im := range s.Images {
				if err := c.Delete(ctx, "sdkmessageprocessingstepimage", im.ID); err != nil && !errors.Is(err, dataverse.ErrNotFound) {
					return err
				}
			}
			if err := c.Delete(ctx, "sdkmessageprocessingstep", s.ID); err != nil && !errors.Is(err, dataverse.ErrNotFound) {
				return err
			}
			return nil
		}})
}

func diffImages(add func(Change), s StepSpec, cs CurrentStep) {
	have := map[string][]CurrentImage{}
	for _, im := range cs.Images {
		have[im.Alias] = append(have[im.Alias], im)
	}
	stepID := cs.ID
	for _, im := range s.Images {
		im := im
		name := s.Name + " / " + im.Alias
		existing := have[im.Alias]
		delete(have, im.Alias)
		for _, dup := range existing[min(1, len(existing)):] {
			id := dup.ID
			add(Change{Action: "delete", Kind: "image", Name: name, Detail: "duplicate", Drift: true,
				apply: func(ctx context.Context, c Client, ids *idState) error {
					return c.Delete(ctx, "sdkmessageprocessingstepimage", id)
				}})
		}
		if len(existing) == 0 {
			add(Change{Action: "create", Kind: "image", Name: name, Detail: "[" + strings.Join(im.Attributes, ",") + "]", Drift: true,
				apply: func(ctx context.Context, c Client, ids *idState) error {
					_, err := c.Create(ctx, "sdkmessageprocessingstepimage", imageBody(im, stepID))
					return err
				}})
			continue
		}
		ci := existing[0]
		var diffs []string
		if ci.Type != im.Type {
			diffs = append(diffs, fmt.Sprintf("imagetype %d → %d", ci.Type, im.Type))
		}
		if !sameSet(ci.Attributes, im.Attributes) {
			diffs = append(diffs, fmt.Sprintf("attributes [%s] → [%s]", strings.Join(ci.Attributes, ","), strings.Join(im.Attributes, ",")))
		}
		if !strings.EqualFold(ci.MessageProperty, im.MessageProperty) {
			diffs = append(diffs, fmt.Sprintf("messagepropertyname %s → %s", ci.MessageProperty, im.MessageProperty))
		}
		if len(diffs) > 0 {
			id := ci.ID
			add(Change{Action: "update", Kind: "image", Name: name, Detail: strings.Join(diffs, "; "), Drift: true,
				apply: func(ctx context.Context, c Client, ids *idState) error {
					return c.Update(ctx, "sdkmessageprocessingstepimage", id, map[string]any{
						"imagetype": im.Type, "attributes": strings.Join(im.Attributes, ","), "messagepropertyname": im.MessageProperty, "name": im.Name})
				}})
		}
	}
	for _, alias := range sortedImageAliases(have) {
		for _, extra := range have[alias] {
			id := extra.ID
			add(Change{Action: "delete", Kind: "image", Name: s.Name + " / " + alias, Detail: "not in the plan", Drift: true,
				apply: func(ctx context.Context, c Client, ids *idState) error {
					return c.Delete(ctx, "sdkmessageprocessingstepimage", id)
				}})
		}
	}
}

func sortedImageAliases(m map[string][]CurrentImage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Register makes the registration match the plan: creates what is missing, updates what
// differs, deletes steps named with the prefix that the rules no longer need. Running it
// twice creates nothing the second time. With dryRun it only reports.
func Register(ctx context.Context, c Client, p *Plan, dryRun bool) (*Report, error) {
	cur, err := Read(ctx, c, p.Prefix)
	if err != nil {
		return nil, err
	}
	lk, err := resolveIDs(ctx, c, p)
	if err != nil {
		return nil, err
	}
	rep, err := diff(p, cur, lk)
	if err != nil {
		return nil, err
	}
	if dryRun {
		return rep, nil
	}
	ids := &idState{steps: map[string]string{}}
	if cur.Endpoint != nil {
		ids.endpointID = cur.Endpoint.ID
	}
	// Deletions first (a recreated step must not collide with the old one), then the endpoint,
	// then creations and updates.
	order := func(ch Change) int {
		switch {
		case ch.Action == "delete":
			return 0
		case ch.Kind == "endpoint":
			return 1
		}
		return 2
	}
	sorted := append([]Change(nil), rep.Changes...)
	sort.SliceStable(sorted, func(i, j int) bool { return order(sorted[i]) < order(sorted[j]) })
	for _, ch := range sorted {
		if err := ch.apply(ctx, c, ids); err != nil {
			return rep, fmt.Errorf("%s %s %q: %w", ch.Action, ch.Kind, ch.Name, err)
		}
	}
	rep.Applied = true
	return rep, nil
}

// Status compares what is registered with the plan without changing anything. Report.Drift()
// lists the differences: a missing endpoint or step, wrong filtering attributes or images, a
// disabled step, steps the rules no longer need. Report.Foreign lists steps on the endpoint
// that register did not create.
func Status(ctx context.Context, c Client, p *Plan) (*Report, *Current, error) {
	cur, err := Read(ctx, c, p.Prefix)
	if err != nil {
		return nil, nil, err
	}
	lk, err := resolveIDs(ctx, c, p)
	if err != nil {
		return nil, cur, err
	}
	rep, err := diff(p, cur, lk)
	return rep, cur, err
}

// Unregister removes the steps named with prefix (with their images) and then the endpoint
// named prefix. Steps on the endpoint that register did not create are left alone, and so is
// the endpoint then (Dataverse refuses to delete an endpoint in use): the report says so.
func Unregister(ctx context.Context, c Client, prefix string, dryRun bool) (*Report, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	cur, err := Read(ctx, c, prefix)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	add := func(ch Change) { rep.Changes = append(rep.Changes, ch) }
	for _, s := range cur.Steps {
		if s.ours {
			addDelete(add, s, "unregister")
		} else {
			rep.Foreign = append(rep.Foreign, s.Name)
		}
	}
	if cur.Endpoint != nil && len(rep.Foreign) == 0 {
		id := cur.Endpoint.ID
		add(Change{Action: "delete", Kind: "endpoint", Name: cur.Endpoint.Name, Detail: cur.Endpoint.URL,
			apply: func(ctx context.Context, c Client, ids *idState) error {
				if err := c.Delete(ctx, "serviceendpoint", id); err != nil && !errors.Is(err, dataverse.ErrNotFound) {
					return err
				}
				return nil
			}})
	}
	if dryRun {
		return rep, nil
	}
	for _, ch := range rep.Changes {
		if err := ch.apply(ctx, c, &idState{}); err != nil {
			return rep, fmt.Errorf("%s %s %q: %w", ch.Action, ch.Kind, ch.Name, err)
		}
	}
	rep.Applied = true
	return rep, nil
}
