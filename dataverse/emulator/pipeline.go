package emulator

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/dataverse"
)

// stepInfo is a registered step resolved for one operation.
type stepInfo struct {
	id, name        string
	stage, mode     int
	rank            int
	filtering       map[string]bool // nil: every update
	impersonate     string          // impersonatinguserid
	asyncAutoDelete bool
	ep              endpointInfo
	images          []imageInfo
}

type endpointInfo struct {
	id, name, url string
	authtype      int
	authvalue     string
}

type imageInfo struct {
	alias string
	typ   int      // 0 pre, 1 post, 2 both
	attrs []string // nil: all columns
}

func optionValue(v any) (int, bool) {
	switch x := v.(type) {
	case dataverse.OptionSetValue:
		return x.Value, true
	}
	return 0, false
}

// steps resolves the enabled webhook steps registered for the operation's message and table,
// minus those the request bypasses, minus Update steps whose filtering attributes the Target
// does not touch. Steps whose handler is not a webhook service endpoint (contract 8) are
// ignored: the emulator runs no plug-in assemblies and no Service Bus.
func (e *Emulator) steps(op *operation) ([]*stepInfo, *apiError) {
	bypassSync, bypassAsync := false, false
	for _, v := range strings.Split(op.header.Get("MSCRM.BypassBusinessLogicExecution"), ",") {
		switch strings.TrimSpace(v) {
		case "CustomSync":
			bypassSync = true
		case "CustomAsync":
			bypassAsync = true
		}
	}
	if strings.EqualFold(op.header.Get("MSCRM.BypassCustomPluginExecution"), "true") {
		bypassSync = true
	}
	bypassIDs := map[string]bool{}
	if v := op.header.Get("MSCRM.BypassBusinessLogicExecutionStepIds"); v != "" {
		ids := strings.Split(v, ",")
		if len(ids) > 3 {
			// The default BypassBusinessLogicExecutionStepIdsLimit (dataverse-facts.md §7).
			return nil, badRequest("MSCRM.BypassBusinessLogicExecutionStepIds lists %d steps; the limit is 3.", len(ids))
		}
		for _, id := range ids {
			bypassIDs[strings.ToLower(strings.TrimSpace(id))] = true
		}
	}
	s := e.store
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*stepInfo
	for id, r := range s.tables["sdkmessageprocessingstep"].rows {
		a := r.attrs
		if st, _ := optionValue(a["statecode"]); st != 0 {
			continue
		}
		msg, _ := a["sdkmessageid"].(*dataverse.EntityReference)
		if msg == nil {
			continue
		}
		if mr := s.tables["sdkmessage"].rows[msg.ID]; mr == nil || mr.attrs["name"] != op.message {
			continue
		}
		if f, _ := a["sdkmessagefilterid"].(*dataverse.EntityReference); f != nil {
			fr := s.tables["sdkmessagefilter"].rows[f.ID]
			if fr == nil || fr.attrs["primaryobjecttypecode"] != op.table.LogicalName {
				continue
			}
		}
		h, _ := a["eventhandler"].(*dataverse.EntityReference)
		if h == nil || h.LogicalName != "serviceendpoint" {
			continue
		}
		er := s.tables["serviceendpoint"].rows[h.ID]
		if er == nil {
			continue
		}
		if c, _ := optionValue(er.attrs["contract"]); c != 8 {
			continue
		}
		info := &stepInfo{id: id}
		info.name, _ = a["name"].(string)
		info.stage, _ = optionValue(a["stage"])
		info.mode, _ = optionValue(a["mode"])
		if rk, ok := a["rank"]; ok && rk != nil {
			fmt.Sscan(fmt.Sprint(rk), &info.rank)
		}
		info.asyncAutoDelete, _ = a["asyncautodelete"].(bool)
		if u, _ := a["impersonatinguserid"].(*dataverse.EntityReference); u != nil {
			info.impersonate = u.ID
		}
		if fa, _ := a["filteringattributes"].(string); strings.TrimSpace(fa) != "" && op.message == "Update" {
			info.filtering = map[string]bool{}
			for _, x := range strings.Split(fa, ",") {
				info.filtering[strings.ToLower(strings.TrimSpace(x))] = true
			}
		}
		if (info.mode == dataverse.ModeSynchronous && bypassSync) || (info.mode == dataverse.ModeAsynchronous && bypassAsync) || bypassIDs[id] {
			continue // UNCONFIRMED that Dataverse's bypass headers skip webhook steps (dataverse-facts.md §7)
		}
		if info.filtering != nil {
			touched := false
			for k := range op.target {
				touched = touched || info.filtering[k]
			}
			if !touched {
				continue
			}
		}
		info.ep = endpointInfo{id: h.ID}
		info.ep.name, _ = er.attrs["name"].(string)
		info.ep.url, _ = er.attrs["url"].(string)
		info.ep.authtype, _ = optionValue(er.attrs["authtype"])
		info.ep.authvalue, _ = er.attrs["authvalue"].(string)
		for _, ir := range s.tables["sdkmessageprocessingstepimage"].rows {
			if ref, _ := ir.attrs["sdkmessageprocessingstepid"].(*dataverse.EntityReference); ref == nil || ref.ID != id {
				continue
			}
			img := imageInfo{}
			img.alias, _ = ir.attrs["entityalias"].(string)
			img.typ, _ = optionValue(ir.attrs["imagetype"])
			if at, _ := ir.attrs["attributes"].(string); strings.TrimSpace(at) != "" {
				for _, x := range strings.Split(at, ",") {
					img.attrs = append(img.attrs, strings.ToLower(strings.TrimSpace(x)))
				}
			}
			info.images = append(info.images, img)
		}
		sort.Slice(info.images, func(i, j int) bool { return info.images[i].alias < info.images[j].alias })
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.stage != b.stage {
			return a.stage < b.stage
		}
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		return a.name < b.name
	})
	return out, nil
}

// runSync calls the synchronous steps of one stage in rank order; the first failure aborts.
func (e *Emulator) runSync(ctx context.Context, op *operation, steps []*stepInfo, stage int) *apiError {
	for _, st := range steps {
		if st.stage != stage || st.mode != dataverse.ModeSynchronous {
			continue
		}
		ec := e.buildContext(op, st, stage, dataverse.ModeSynchronous)
		if err := e.deliver(ctx, op, st, ec); err != nil {
			// What a Web API caller receives for a failed synchronous webhook is UNCONFIRMED
			// (dataverse-facts.md §3): the emulator answers SyncFailureStatus (400 by default)
			// with the code a cancelling plug-in produces. The webhook's own answer body is not
			// passed on: Dataverse does not read it.
			return &apiError{status: e.cfg.SyncFailureStatus, code: codeIsvAborted, message: err.Error()}
		}
	}
	return nil
}

// deliveryError is a failed webhook call.
type deliveryError struct {
	step   string
	status int
	err    error
	code   string
}

func (d *deliveryError) Error() string {
	if d.code == codeInvalidAuthHd {
		return "The webhook call failed because of invalid http headers in authValue. Check if the authValue format, header names and values are valid for your Service Endpoint entity."
	}
	if d.status != 0 {
		return fmt.Sprintf("Endpoint unavailable: the webhook of step '%s' answered HTTP %d.", d.step, d.status)
	}
	return fmt.Sprintf("Endpoint unavailable: the webhook of step '%s' could not be reached (%v).", d.step, d.err)
}

// buildContext assembles the RemoteExecutionContext of one step call.
func (e *Emulator) buildContext(op *operation, st *stepInfo, stage, mode int) *dataverse.ExecutionContext {
	t := op.table
	userID := op.caller.id
	if st.impersonate != "" {
		userID = st.impersonate // the step runs in another user's context
	}
	u := e.user(userID)
	ec := &dataverse.ExecutionContext{
		MessageName: op.message, Stage: stage, Mode: mode, Depth: 1,
		PrimaryEntityName: t.LogicalName, CorrelationID: op.correlationID, OperationID: op.operationID,
		OrganizationID: OrganizationID, OrganizationName: e.cfg.OrganizationName, BusinessUnitID: BusinessUnitID,
		UserID: u.id, UserAADObjectID: u.aad,
		// With CallerObjectId the whole pipeline runs as the impersonated user, so it is also
		// the initiating user (UNCONFIRMED; InitiatingUserId differs from UserId when the step
		// itself impersonates).
		InitiatingUserID: op.caller.id, InitiatingUserAADObjectID: op.caller.aad,
		OperationCreatedOn: op.created, IsInTransaction: stage != dataverse.StagePreValidation && mode == dataverse.ModeSynchronous,
		HasInputParameters: true,
		InputParameters:    map[string]any{}, OutputParameters: map[string]any{}, SharedVariables: map[string]any{},
		PreEntityImages: map[string]*dataverse.Entity{}, PostEntityImages: map[string]*dataverse.Entity{},
		OwningExtension: &dataverse.EntityReference{LogicalName: "sdkmessageprocessingstep", ID: st.id, Name: st.name},
		RequestID:       op.requestID,
	}
	// PrimaryEntityId of a Create before the write: the client-supplied id, else the empty
	// GUID at PreValidation; the assigned id from PreOperation on (UNCONFIRMED).
	switch {
	case op.message != "Create" || stage >= dataverse.StagePreOperation:
		ec.PrimaryEntityID = op.id
	case op.clientID:
		ec.PrimaryEntityID = op.id
	default:
		ec.PrimaryEntityID = dataverse.EmptyGUID
	}
	ec.InputParameters["Target"] = op.targetValue(stage)
	if op.message == "Create" && stage == dataverse.StagePostOperation {
		ec.OutputParameters["id"] = op.id
	}
	if op.tag != "" {
		// The tag optional parameter as a shared variable (UNCONFIRMED for webhooks: MS documents
		// it for plug-ins; dataverse-facts.md §7). It is put at both levels.
		ec.SharedVariables["tag"] = op.tag
	}
	if op.message == "Create" && stage >= dataverse.StagePreOperation {
		ec.SharedVariables["IsAutoTransact"] = true
		ec.SharedVariables["DefaultsAddedFlag"] = true
	}
	for _, img := range st.images {
		if (img.typ == 0 || img.typ == 2) && op.pre != nil {
			ec.PreEntityImages[img.alias] = imageEntity(t, op.pre, img.attrs)
		}
		if (img.typ == 1 || img.typ == 2) && op.post != nil && stage == dataverse.StagePostOperation {
			ec.PostEntityImages[img.alias] = imageEntity(t, op.post, img.attrs)
		}
	}
	if mode == dataverse.ModeAsynchronous {
		hasPost := false
		for _, img := range st.images {
			hasPost = hasPost || img.typ != 0
		}
		if !hasPost && op.post != nil {
			// Dataverse adds this image to asynchronous steps (MS sample; ALBX capture). Whether it
			// is added when the step registers its own post-image is UNCONFIRMED: here it is not.
			ec.PostEntityImages["AsynchronousStepPrimaryName"] = imageEntity(t, op.post, []string{t.PrimaryNameAttribute, t.PrimaryIDAttribute})
		}
	}
	if stage != dataverse.StagePreValidation {
		// The parent is the main operation (stage 30), as in the samples; its shape for stage 20
		// is UNCONFIRMED.
		parent := &dataverse.ExecutionContext{
			MessageName: op.message, Stage: dataverse.StageMainOperation, Mode: dataverse.ModeSynchronous, Depth: 1,
			PrimaryEntityName: t.LogicalName, PrimaryEntityID: ec.PrimaryEntityID, CorrelationID: op.correlationID,
			OperationID: op.operationID, OrganizationID: OrganizationID, OrganizationName: e.cfg.OrganizationName,
			BusinessUnitID: BusinessUnitID, UserID: op.caller.id, InitiatingUserID: op.caller.id,
			UserAADObjectID: op.caller.aad, InitiatingUserAADObjectID: op.caller.aad,
			OperationCreatedOn: op.created, IsInTransaction: true, HasInputParameters: true, RequestID: op.requestID,
			InputParameters:  map[string]any{"Target": op.targetValue(dataverse.StagePreValidation), "SuppressDuplicateDetection": false},
			OutputParameters: map[string]any{}, SharedVariables: map[string]any{},
			PreEntityImages: map[string]*dataverse.Entity{}, PostEntityImages: map[string]*dataverse.Entity{},
			OwningExtension: ec.OwningExtension,
		}
		if op.tag != "" {
			parent.SharedVariables["tag"] = op.tag
		}
		ec.Parent = parent
	}
	if mode == dataverse.ModeAsynchronous {
		ec.IsInTransaction = false
	}
	return ec
}

// targetValue is the Target input parameter at a stage: the columns the caller sent (plus the
// id when known), the platform's defaults from PreOperation on, and for PostOperation the row
// as written. A Delete's Target is an EntityReference.
func (op *operation) targetValue(stage int) any {
	t := op.table
	if op.message == "Delete" {
		return &dataverse.EntityReference{LogicalName: t.LogicalName, ID: op.id}
	}
	attrs := map[string]any{}
	for k, v := range op.target {
		attrs[k] = plainValue(v)
	}
	id := op.id
	if op.message == "Create" && stage == dataverse.StagePreValidation && !op.clientID {
		id = dataverse.EmptyGUID
	} else {
		attrs[t.PrimaryIDAttribute] = op.id
	}
	if stage >= dataverse.StagePreOperation {
		for k, v := range op.defaults {
			if _, set := attrs[k]; !set {
				attrs[k] = plainValue(v)
			}
		}
		if op.message == "Update" {
			attrs["modifiedon"] = op.created
			attrs["modifiedby"] = userRef(op.caller.id)
			attrs["modifiedonbehalfby"] = nil
			if op.initiator.id != op.caller.id {
				attrs["modifiedonbehalfby"] = userRef(op.initiator.id)
			}
		}
	}
	if stage == dataverse.StagePostOperation && op.post != nil {
		switch op.message {
		case "Create":
			// After the main operation the Target holds the row as written, system columns
			// included (ALBX capture).
			for k, v := range op.post.attrs {
				if a, ok := t.Attributes[k]; ok && a.WriteOnly {
					continue
				}
				attrs[k] = plainValue(v)
			}
		case "Update":
			if touchesName(op.target) {
				for _, k := range []string{"fullname", "yomifullname"} {
					if v, ok := op.post.attrs[k]; ok {
						attrs[k] = v
					}
				}
			}
		}
	}
	return &dataverse.Entity{LogicalName: t.LogicalName, ID: id, Attributes: attrs, FormattedValues: map[string]string{}}
}

func touchesName(target map[string]any) bool {
	_, f := target["firstname"]
	_, l := target["lastname"]
	return f || l
}

// plainValue strips what the webhook payload does not carry (names of references: the samples
// show "Name": null).
func plainValue(v any) any {
	if ref, ok := v.(*dataverse.EntityReference); ok && ref != nil {
		return &dataverse.EntityReference{LogicalName: ref.LogicalName, ID: ref.ID}
	}
	return v
}

// imageEntity is a row restricted to an image's columns (all when attrs is nil). The primary
// key is always included.
func imageEntity(t *Table, r *row, attrs []string) *dataverse.Entity {
	out := map[string]any{}
	if attrs == nil {
		for k, v := range r.attrs {
			if a, ok := t.Attributes[k]; ok && a.WriteOnly {
				continue
			}
			if v != nil {
				out[k] = plainValue(v)
			}
		}
	} else {
		for _, k := range attrs {
			if v, ok := r.attrs[k]; ok && v != nil {
				out[k] = plainValue(v)
			}
		}
	}
	out[t.PrimaryIDAttribute] = r.id
	return &dataverse.Entity{LogicalName: t.LogicalName, ID: r.id, Attributes: out, FormattedValues: map[string]string{}}
}

// settings is the authvalue XML of HttpHeader and HttpQueryString endpoints:
// <settings><setting name="x" value="y" /></settings> (dataverse-facts.md §4).
type settings struct {
	XMLName xml.Name `xml:"settings"`
	Items   []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	} `xml:"setting"`
}

func parseSettings(s string) ([][2]string, error) {
	var st settings
	if err := xml.Unmarshal([]byte(s), &st); err != nil {
		return nil, err
	}
	var out [][2]string
	for _, it := range st.Items {
		if it.Name == "" || strings.ContainsAny(it.Name, " \t\r\n:") || strings.ContainsAny(it.Value, "\r\n") {
			return nil, fmt.Errorf("invalid setting %q", it.Name)
		}
		out = append(out, [2]string{it.Name, it.Value})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no settings")
	}
	return out, nil
}

// deliver POSTs the context to the step's endpoint with the endpoint's authentication and the
// documented headers; 502, 503 and 504 are retried exactly once (dataverse-facts.md §3).
func (e *Emulator) deliver(ctx context.Context, op *operation, st *stepInfo, ec *dataverse.ExecutionContext) error {
	body, err := dataverse.EncodeContext(ec)
	if err != nil {
		return &deliveryError{step: st.name, err: err}
	}
	truncated := false
	if len(body) > e.cfg.PayloadLimit {
		if body, err = dataverse.EncodeContextTruncated(ec); err != nil {
			return &deliveryError{step: st.name, err: err}
		}
		truncated = true
	}
	u, err := url.Parse(st.ep.url)
	if err != nil || u.Host == "" {
		return &deliveryError{step: st.name, err: fmt.Errorf("bad endpoint URL")}
	}
	extraHeaders := [][2]string{}
	switch st.ep.authtype {
	case 4: // WebhookKey: ?code=<value>
		q := u.Query()
		q.Set("code", st.ep.authvalue)
		u.RawQuery = q.Encode()
	case 5: // HttpHeader
		kv, err := parseSettings(st.ep.authvalue)
		if err != nil {
			return &deliveryError{step: st.name, code: codeInvalidAuthHd, err: err}
		}
		extraHeaders = kv
	case 6: // HttpQueryString (same <settings> form: UNCONFIRMED)
		kv, err := parseSettings(st.ep.authvalue)
		if err != nil {
			return &deliveryError{step: st.name, code: codeInvalidAuthHd, err: err}
		}
		q := u.Query()
		for _, p := range kv {
			q.Set(p[0], p[1])
		}
		u.RawQuery = q.Encode()
	}
	// Only 502, 503 and 504 are retried, once [MS UW]; a timeout or a refused connection fails
	// at once, and redirects are not followed (both UNCONFIRMED: no source says).
	var last *deliveryError
	for attempt := 0; attempt < 2; attempt++ {
		status, err := e.post(ctx, u.String(), body, op, extraHeaders, truncated)
		if err == nil && status >= 200 && status < 300 {
			return nil
		}
		last = &deliveryError{step: st.name, status: status, err: err}
		if err != nil || (status != 502 && status != 503 && status != 504) {
			break
		}
	}
	return last
}

func (e *Emulator) post(ctx context.Context, target string, body []byte, op *operation, extra [][2]string, truncated bool) (int, error) {
	e.webhookCalls.Add(1)
	ctx, cancel := context.WithTimeout(ctx, e.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(string(body)))
	if err != nil {
		return 0, err
	}
	// Dataverse sends header names in lower case (dataverse-facts.md §1.2); setting the map
	// directly keeps them so on the wire. The Content-Type value (with or without a charset) is
	// UNCONFIRMED; x-request-id is listed only in the 2018 documentation.
	set := func(k, v string) { req.Header[k] = []string{v} }
	set("content-type", "application/json")
	set("x-ms-dynamics-organization", op.orgDomain)
	set("x-ms-dynamics-entity-name", op.table.LogicalName)
	set("x-ms-dynamics-request-name", op.message)
	set("x-ms-correlation-request-id", op.correlationID)
	set("x-request-id", newGUID())
	if truncated {
		set("x-ms-dynamics-msg-size-exceeded", "true") // header value UNCONFIRMED; presence is what matters
	}
	for _, kv := range extra {
		set(strings.ToLower(kv[0]), kv[1])
	}
	res, err := e.cfg.WebhookClient.Do(req)
	if err != nil {
		var ue *url.Error
		if ok := asURLError(err, &ue); ok {
			err = ue.Err // the URL may carry the webhook key
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	return res.StatusCode, nil
}

func asURLError(err error, target **url.Error) bool {
	ue, ok := err.(*url.Error)
	if ok {
		*target = ue
	}
	return ok
}

// asyncJob is the asynchronous PostOperation work of one operation.
type asyncJob struct {
	op    *operation
	steps []*stepInfo
}

// enqueue runs a job (already counted by jobStarted) in the background, bounded by
// AsyncConcurrency. Each job's steps run in rank order; jobs of different operations run
// concurrently and may finish in any order, as Dataverse's asynchronous service gives no
// ordering guarantee.
func (e *Emulator) enqueue(j asyncJob) {
	if e.closed.Load() {
		e.jobDone()
		return
	}
	go func() {
		defer e.jobDone()
		if e.cfg.AsyncDelay > 0 {
			time.Sleep(e.cfg.AsyncDelay)
		}
		e.asyncSem <- struct{}{}
		defer func() { <-e.asyncSem }()
		for _, st := range j.steps {
			ec := e.buildContext(j.op, st, dataverse.StagePostOperation, dataverse.ModeAsynchronous)
			ec.RequestID = newGUID()
			err := e.deliver(context.Background(), j.op, st, ec)
			e.recordAsync(j.op, st, err)
		}
	}()
}

// recordAsync writes the system job (asyncoperation) of an asynchronous step call: status
// reason 30 Succeeded (deleted at once with asyncautodelete) or 31 Failed.
func (e *Emulator) recordAsync(op *operation, st *stepInfo, err error) {
	if err == nil && st.asyncAutoDelete {
		return
	}
	now := e.cfg.Now().UTC()
	attrs := map[string]any{
		"asyncoperationid": newGUID(), "name": st.name, "operationtype": dataverse.OptionSetValue{Value: 1},
		"statecode": dataverse.OptionSetValue{Value: 3}, "statuscode": dataverse.OptionSetValue{Value: 30},
		"completedon": now, "createdon": op.created, "modifiedon": now, "correlationid": op.correlationID,
		"primaryentitytype": op.table.LogicalName, "regardingobjectid": op.id,
		"owningextensionid": &dataverse.EntityReference{LogicalName: "sdkmessageprocessingstep", ID: st.id},
	}
	if err != nil {
		attrs["statuscode"] = dataverse.OptionSetValue{Value: 31}
		attrs["message"] = err.Error()
		attrs["friendlymessage"] = err.Error()
		e.log.Warn("emulator: asynchronous webhook failed", zap.String("step", st.name), zap.String("error", err.Error()))
	}
	if _, aerr := e.store.insert("asyncoperation", attrs); aerr != nil {
		e.log.Error("emulator: recording a system job failed", zap.String("error", aerr.Error()))
	}
}
