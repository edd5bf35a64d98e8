package emulator

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/dedupegate/dedupegate/dataverse"
)

// operation is one Create, Update or Delete going through the pipeline.
type operation struct {
	e       *Emulator
	message string // Create, Update, Delete
	table   *Table
	id      string
	// clientID is set when the caller chose the id of a new row.
	clientID bool
	// target is what the caller sent, as typed values (the InputParameters Target).
	target map[string]any
	// defaults are the columns the platform adds before PreOperation (Create).
	defaults map[string]any
	// pre is the row before the operation (Update, Delete); post the row after (Create, Update).
	pre, post *row
	caller    user // effective user
	initiator user // authenticated user (differs when impersonating)

	correlationID string
	operationID   string
	requestID     string
	tag           string
	orgDomain     string
	created       time.Time
	header        http.Header
}

func (rq *request) newOperation(message string, t *Table) *operation {
	host := rq.e.cfg.OrganizationDomain
	if host == "" {
		host = rq.r.Host
		if h, _, ok := strings.Cut(host, ":"); ok && !strings.HasPrefix(host, "[") {
			host = h
		}
	}
	return &operation{e: rq.e, message: message, table: t, caller: rq.caller, initiator: rq.initiator,
		correlationID: newGUID(), operationID: newGUID(), requestID: newGUID(),
		tag: rq.r.URL.Query().Get("tag"), orgDomain: host, created: rq.e.cfg.Now().UTC(), header: rq.r.Header}
}

// ref returns a reference to a systemuser.
func userRef(id string) *dataverse.EntityReference {
	return &dataverse.EntityReference{LogicalName: "systemuser", ID: id}
}

// parseBody turns Web API properties into typed column values for table t. id is the row
// being updated ("" on create).
func (e *Emulator) parseBody(t *Table, body map[string]any, create bool, id string) (map[string]any, *apiError) {
	out := map[string]any{}
	for k, v := range body {
		if nav, ok := strings.CutSuffix(k, "@odata.bind"); ok {
			col, ok := t.lookupColumn(nav)
			if !ok {
				if t.Strict || !customName.MatchString(nav) {
					return nil, badRequest("An undeclared property '%s' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.", nav)
				}
				col = nav
			}
			if v == nil {
				out[col] = nil
				continue
			}
			s, ok := v.(string)
			if !ok {
				return nil, badRequest("The value of '%s' must be a URI such as /accounts(<id>).", k)
			}
			ref, aerr := e.resolveBind(t, col, s)
			if aerr != nil {
				return nil, aerr
			}
			out[col] = ref
			continue
		}
		if strings.Contains(k, "@") {
			continue // annotations such as @odata.type
		}
		if strings.HasPrefix(k, "_") && strings.HasSuffix(k, "_value") {
			return nil, badRequest("Invalid property '%s' was found in entity 'Microsoft.Dynamics.CRM.%s'. Set lookups with <navigation property>@odata.bind.", k, t.LogicalName)
		}
		if k == t.PrimaryIDAttribute {
			s, ok := v.(string)
			if !ok || !dataverse.IsGUID(s) {
				return nil, badRequest("Cannot convert the literal '%v' to the expected type 'Edm.Guid'.", v)
			}
			s = strings.ToLower(s)
			if !create && s != id {
				return nil, badRequest("The primary key %s in the body does not match the row addressed.", k)
			}
			out[k] = s
			continue
		}
		a, ok := t.attr(k)
		if !ok {
			return nil, badRequest("The property '%s' does not exist on type 'Microsoft.Dynamics.CRM.%s'. Make sure to only use property names that are defined by the type.", k, t.LogicalName)
		}
		if a.System {
			continue // set by the platform
		}
		if create && a.NotForCreate {
			return nil, badRequest("The property '%s' of 'Microsoft.Dynamics.CRM.%s' is not valid for create.", k, t.LogicalName)
		}
		pv, aerr := parseValue(t, k, a, v)
		if aerr != nil {
			return nil, aerr
		}
		out[k] = pv
	}
	return out, nil
}

var reBind = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\(\{?([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\}?\)$`)

// resolveBind reads "/accounts(<id>)" (relative or absolute) into a reference to an existing row.
func (e *Emulator) resolveBind(t *Table, col, uri string) (*dataverse.EntityReference, *apiError) {
	if u, err := url.Parse(uri); err == nil && u.Path != "" {
		uri = u.Path
	}
	m := reBind.FindStringSubmatch(uri)
	if m == nil {
		return nil, badRequest("'%s' is not a valid entity reference URI (expected /entityset(<id>)).", uri)
	}
	td := e.store.tableBySet(m[1])
	if td == nil {
		return nil, &apiError{status: 404, code: codeQuerySyntax, message: "Resource not found for the segment '" + m[1] + "'."}
	}
	if a, ok := t.Attributes[col]; ok && len(a.Targets) > 0 {
		allowed := false
		for _, tg := range a.Targets {
			allowed = allowed || tg == td.def.LogicalName
		}
		if !allowed {
			return nil, badRequest("The lookup %s of %s cannot point at a %s.", col, t.LogicalName, td.def.LogicalName)
		}
	}
	id := strings.ToLower(m[2])
	if e.store.get(td.def.LogicalName, id) == nil {
		return nil, notFound(td.def.LogicalName, id)
	}
	return &dataverse.EntityReference{LogicalName: td.def.LogicalName, ID: id}, nil
}

// computed refreshes the columns Dataverse computes (full names, isauthvalueset).
func computed(t *Table, attrs map[string]any) {
	if t.LogicalName == "contact" || t.LogicalName == "lead" {
		f, _ := attrs["firstname"].(string)
		l, _ := attrs["lastname"].(string)
		full := strings.TrimSpace(strings.TrimSpace(f) + " " + strings.TrimSpace(l))
		if full == "" {
			attrs["fullname"], attrs["yomifullname"] = nil, nil
		} else {
			attrs["fullname"], attrs["yomifullname"] = full, full
		}
	}
	if t.LogicalName == "serviceendpoint" {
		s, _ := attrs["authvalue"].(string)
		attrs["isauthvalueset"] = s != ""
	}
}

// prepareCreate assigns the id and adds the defaults the platform sets before PreOperation
// (owner, status; which columns a real PreOperation Target holds is UNCONFIRMED).
func (op *operation) prepareCreate() *apiError {
	if id, ok := op.target[op.table.PrimaryIDAttribute].(string); ok {
		op.id, op.clientID = id, true
	} else {
		op.id = newGUID()
	}
	op.defaults = map[string]any{op.table.PrimaryIDAttribute: op.id}
	if op.table.Owned {
		if _, ok := op.target["ownerid"]; !ok {
			op.defaults["ownerid"] = userRef(op.caller.id)
		}
		if _, ok := op.target["statecode"]; !ok {
			op.defaults["statecode"] = dataverse.OptionSetValue{Value: 0}
		}
		if _, ok := op.target["statuscode"]; !ok {
			op.defaults["statuscode"] = dataverse.OptionSetValue{Value: 1}
		}
	}
	if op.table.LogicalName == "sdkmessageprocessingstep" {
		if _, ok := op.target["statuscode"]; !ok {
			op.defaults["statuscode"] = dataverse.OptionSetValue{Value: 1}
		}
		op.defaults["statecode"] = dataverse.OptionSetValue{Value: 0}
		if sc, ok := op.target["statuscode"].(dataverse.OptionSetValue); ok && sc.Value == 2 {
			op.defaults["statecode"] = dataverse.OptionSetValue{Value: 1}
		}
	}
	return op.e.validate(op.table, op.merged(nil), true)
}

// merged returns base overlaid with the defaults and the target.
func (op *operation) merged(base map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range op.defaults {
		out[k] = v
	}
	for k, v := range op.target {
		out[k] = v
	}
	return out
}

// commit writes the operation to the store.
func (op *operation) commit() *apiError {
	now := op.e.cfg.Now().UTC()
	switch op.message {
	case "Create":
		attrs := op.merged(nil)
		attrs["createdon"], attrs["modifiedon"] = now, now
		attrs["createdby"], attrs["modifiedby"] = userRef(op.caller.id), userRef(op.caller.id)
		if op.initiator.id != op.caller.id {
			attrs["createdonbehalfby"], attrs["modifiedonbehalfby"] = userRef(op.initiator.id), userRef(op.initiator.id)
		}
		if op.table.Owned {
			attrs["owningbusinessunit"] = &dataverse.EntityReference{LogicalName: "businessunit", ID: BusinessUnitID}
		}
		computed(op.table, attrs)
		r, err := op.e.store.insert(op.table.LogicalName, attrs)
		if err != nil {
			return err
		}
		op.post = r
	case "Update":
		before, after, err := op.e.store.update(op.table.LogicalName, op.id, func(cur *row, attrs map[string]any) *apiError {
			for k, v := range op.target {
				attrs[k] = v
			}
			attrs["modifiedon"], attrs["modifiedby"] = now, userRef(op.caller.id)
			if op.initiator.id != op.caller.id {
				attrs["modifiedonbehalfby"] = userRef(op.initiator.id)
			} else {
				attrs["modifiedonbehalfby"] = nil
			}
			computed(op.table, attrs)
			return nil
		})
		if err != nil {
			return err
		}
		op.pre, op.post = before, after
	case "Delete":
		before, err := op.e.store.remove(op.table.LogicalName, op.id)
		if err != nil {
			return err
		}
		op.pre = before
		op.e.cascadeDelete(op.table.LogicalName, op.id)
	}
	return nil
}

// rollback undoes commit (a synchronous PostOperation step failed).
func (op *operation) rollback() {
	switch op.message {
	case "Create":
		op.e.store.restore(op.table.LogicalName, op.id, nil, op.post)
	case "Update":
		op.e.store.restore(op.table.LogicalName, op.id, op.pre, op.post)
	case "Delete":
		op.e.store.mu.Lock()
		op.e.store.tables[op.table.LogicalName].rows[op.id] = op.pre
		op.e.store.mu.Unlock()
	}
}

// cascadeDelete removes the images of a deleted step (Dataverse deletes child images with
// their step).
func (e *Emulator) cascadeDelete(table, id string) {
	if table != "sdkmessageprocessingstep" {
		return
	}
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	imgs := e.store.tables["sdkmessageprocessingstepimage"].rows
	for iid, r := range imgs {
		if ref, _ := r.attrs["sdkmessageprocessingstepid"].(*dataverse.EntityReference); ref != nil && ref.ID == id {
			delete(imgs, iid)
		}
	}
}

// create handles POST /<entityset>.
func (rq *request) create(td *tableData) *apiError {
	body, aerr := rq.readBody()
	if aerr != nil {
		return aerr
	}
	attrs, aerr := rq.e.parseBody(td.def, body, true, "")
	if aerr != nil {
		return aerr
	}
	op := rq.newOperation("Create", td.def)
	op.target = attrs
	if aerr := rq.run(op); aerr != nil {
		return aerr
	}
	return rq.written(td, op, true)
}

// patch handles PATCH /<entityset>(<id>): an update, or an upsert that creates the row when it
// does not exist and If-Match: * is absent.
func (rq *request) patch(td *tableData, id string) *apiError {
	body, aerr := rq.readBody()
	if aerr != nil {
		return aerr
	}
	exists := rq.e.store.get(td.def.LogicalName, id) != nil
	ifMatch, ifNoneMatch := rq.r.Header.Get("If-Match"), rq.r.Header.Get("If-None-Match")
	switch {
	case !exists && ifMatch != "":
		return notFound(td.def.LogicalName, id)
	case exists && ifNoneMatch == "*":
		return &apiError{status: 412, code: codeDuplicateKey, message: "A record with matching key values already exists."}
	}
	attrs, aerr := rq.e.parseBody(td.def, body, !exists, id)
	if aerr != nil {
		return aerr
	}
	if !exists {
		attrs[td.def.PrimaryIDAttribute] = id
		op := rq.newOperation("Create", td.def)
		op.target = attrs
		if aerr := rq.run(op); aerr != nil {
			return aerr
		}
		return rq.written(td, op, false)
	}
	if ifMatch != "" && ifMatch != "*" {
		cur := rq.e.store.get(td.def.LogicalName, id)
		if cur == nil || ifMatch != `W/"`+string(jsonInt(cur.version))+`"` {
			return &apiError{status: 412, code: "0x80060882", message: "The version of the existing record doesn't match the RowVersion property provided."}
		}
	}
	op := rq.newOperation("Update", td.def)
	op.id = id
	op.target = attrs
	if aerr := rq.run(op); aerr != nil {
		return aerr
	}
	return rq.written(td, op, false)
}

// delete handles DELETE /<entityset>(<id>).
func (rq *request) delete(td *tableData, id string) *apiError {
	if rq.e.store.get(td.def.LogicalName, id) == nil {
		return notFound(td.def.LogicalName, id)
	}
	if td.def.LogicalName == "serviceendpoint" && rq.e.endpointInUse(id) {
		// UNCONFIRMED wording; Dataverse refuses to delete an endpoint that steps still use.
		return &apiError{status: 400, code: "0x8004f01c", message: "The service endpoint cannot be deleted because it is referenced by one or more sdkmessageprocessingstep rows."}
	}
	op := rq.newOperation("Delete", td.def)
	op.id = id
	if aerr := rq.run(op); aerr != nil {
		return aerr
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (e *Emulator) endpointInUse(id string) bool {
	e.store.mu.RLock()
	defer e.store.mu.RUnlock()
	for _, r := range e.store.tables["sdkmessageprocessingstep"].rows {
		if ref, _ := r.attrs["eventhandler"].(*dataverse.EntityReference); ref != nil && ref.ID == id {
			return true
		}
	}
	return false
}

// written answers a successful create or update: 204 with OData-EntityId, or the row with
// Prefer: return=representation (201 for a create, 200 for an update).
func (rq *request) written(td *tableData, op *operation, isPost bool) *apiError {
	h := rq.w.Header()
	h.Set("OData-EntityId", rq.base()+td.def.EntitySetName+"("+op.id+")")
	if preferences(rq.r)["return"] == "representation" {
		sel, aerr := rq.selectList(td.def)
		if aerr != nil {
			return aerr
		}
		h.Set("Preference-Applied", "return=representation")
		status := http.StatusOK
		if op.message == "Create" && isPost {
			status = http.StatusCreated
		}
		out := webRow(td.def, op.post, sel, false, nil)
		out["@odata.context"] = rq.base() + "$metadata#" + td.def.EntitySetName + "/$entity"
		writeJSON(rq.w, status, out)
		return nil
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// run takes an operation through the pipeline: synchronous PreValidation and PreOperation
// steps, the write, synchronous PostOperation steps (a failure rolls the write back), and
// queues the asynchronous PostOperation steps to run after the response.
func (rq *request) run(op *operation) *apiError {
	e := rq.e
	if op.message != "Create" {
		op.pre = e.store.get(op.table.LogicalName, op.id)
		if op.pre == nil {
			return notFound(op.table.LogicalName, op.id)
		}
		if op.message == "Update" {
			if aerr := e.validate(op.table, op.merged(op.pre.attrs), false); aerr != nil {
				return aerr
			}
		}
	} else if id, ok := op.target[op.table.PrimaryIDAttribute].(string); ok {
		op.id, op.clientID = id, true
	}
	steps, aerr := e.steps(op)
	if aerr != nil {
		return aerr
	}
	ctx := rq.r.Context()
	if aerr := e.runSync(ctx, op, steps, dataverse.StagePreValidation); aerr != nil {
		return aerr
	}
	if op.message == "Create" {
		if aerr := op.prepareCreate(); aerr != nil {
			return aerr
		}
	}
	if aerr := e.runSync(ctx, op, steps, dataverse.StagePreOperation); aerr != nil {
		return aerr
	}
	if aerr := op.commit(); aerr != nil {
		return aerr
	}
	if aerr := e.runSync(ctx, op, steps, dataverse.StagePostOperation); aerr != nil {
		op.rollback()
		return aerr
	}
	var async []*stepInfo
	for _, s := range steps {
		if s.mode == dataverse.ModeAsynchronous {
			async = append(async, s)
		}
	}
	if len(async) > 0 {
		// Counted now, before the response is written, so that WaitIdle called by a client that
		// has just read the response waits for this job too.
		e.jobStarted()
		rq.jobs = append(rq.jobs, asyncJob{op: op, steps: async})
	}
	return nil
}
