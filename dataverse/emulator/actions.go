package emulator

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dedupegate/dedupegate/dataverse"
)

// This file adds what the follow-up actions (package actions, docs/actions.md) need: the
// incident table, the activity tables they write (task, email), in-app notifications
// (appnotification), notes (annotation), teams and their members, and the unbound Merge action
// with its documented effects (MS "Merge table rows using the Web API"):
//
//   - only account, contact, lead and incident rows merge, two of the same table, both active,
//     not the same row (the messages follow those Dataverse gives, as quoted by a third party:
//     "Merge cannot be performed on master and sub-entities that are identical", "This type:
//     {name} is not supported with merge operation", "sub-entity:{name}-{id} is deactive");
//   - UpdateContent's columns are written to the target (ignored for incident, as documented);
//     no other column of the subordinate is copied (UNCONFIRMED: MS text says merging "moves
//     any data", but the UI sends the chosen columns as UpdateContent and the SDK copies
//     nothing else in practice);
//   - the subordinate is deactivated (statecode 1, statuscode 2: Inactive), its masterid set to
//     the target and its merged flag to true;
//   - rows whose lookups point at the subordinate are re-parented to the target;
//   - with PerformParentingChecks true, a merge of two rows whose parent differs (contact:
//     parentcustomerid; account: parentaccountid; lead: parentaccountid, parentcontactid;
//     incident: customerid) is refused (UNCONFIRMED: MS only says the flag checks "if the
//     parent information is different"; the emulator's error text is its own);
//   - the whole merge is one atomic change of the store. No Update step runs for the target or
//     the subordinate (UNCONFIRMED whether Dataverse runs Update plug-ins during a merge).

// actionTables are the tables of follow-up actions, served by every emulator.
func actionTables() []Table {
	regarding := []string{"contact", "account", "lead", "incident"}
	regardingNav := map[string]string{}
	objectNav := map[string]string{}
	for _, t := range regarding {
		regardingNav["regardingobjectid_"+t] = "regardingobjectid"
		objectNav["objectid_"+t] = "objectid"
	}
	incident := Table{LogicalName: "incident", EntitySetName: "incidents", PrimaryIDAttribute: "incidentid",
		PrimaryNameAttribute: "title", ObjectTypeCode: 112, Owned: true,
		Attributes: map[string]Attr{
			"title": str(), "ticketnumber": str(), "description": str(), "prioritycode": choice(), "caseorigincode": choice(),
			"customerid":   lookup("account", "contact"),
			"parentcaseid": lookup("incident"),
			"masterid":     {Type: TypeLookup, Targets: []string{"incident"}, System: true},
			"merged":       {Type: TypeBool, System: true},
		},
		Navigation: map[string]string{"customerid_account": "customerid", "customerid_contact": "customerid"},
	}
	task := Table{LogicalName: "task", EntitySetName: "tasks", PrimaryIDAttribute: "activityid",
		PrimaryNameAttribute: "subject", ObjectTypeCode: 4212, Owned: true, Strict: true,
		Attributes: map[string]Attr{
			"subject": str(), "description": str(), "category": str(), "subcategory": str(),
			"prioritycode": choice(), "scheduledend": {Type: TypeDateTime}, "actualdurationminutes": {Type: TypeInt},
			"percentcomplete":   {Type: TypeInt},
			"regardingobjectid": lookup(regarding...),
		},
		Navigation: regardingNav,
	}
	email := Table{LogicalName: "email", EntitySetName: "emails", PrimaryIDAttribute: "activityid",
		PrimaryNameAttribute: "subject", ObjectTypeCode: 4202, Owned: true, Strict: true,
		Attributes: map[string]Attr{
			"subject": str(), "description": str(), "category": str(), "directioncode": {Type: TypeBool},
			"regardingobjectid": lookup(regarding...),
		},
		Navigation: regardingNav,
	}
	appnotification := Table{LogicalName: "appnotification", EntitySetName: "appnotifications", PrimaryIDAttribute: "appnotificationid",
		PrimaryNameAttribute: "title", ObjectTypeCode: 4110, Owned: true, Strict: true,
		Attributes: map[string]Attr{
			"title": str(), "body": str(), "data": str(), "icontype": choice(), "toasttype": choice(), "priority": choice(),
			"ttlinseconds": {Type: TypeInt}, "isread": {Type: TypeBool},
		},
	}
	annotation := Table{LogicalName: "annotation", EntitySetName: "annotations", PrimaryIDAttribute: "annotationid",
		PrimaryNameAttribute: "subject", ObjectTypeCode: 5, Owned: true, Strict: true,
		Attributes: map[string]Attr{
			"subject": str(), "notetext": str(), "filename": str(), "mimetype": str(), "documentbody": str(),
			"isdocument": {Type: TypeBool}, "objectid": lookup(regarding...),
		},
		Navigation: objectNav,
	}
	team := Table{LogicalName: "team", EntitySetName: "teams", PrimaryIDAttribute: "teamid",
		PrimaryNameAttribute: "name", ObjectTypeCode: 9, Strict: true,
		Attributes: map[string]Attr{
			"name": str(), "description": str(), "teamtype": choice(), "azureactivedirectoryobjectid": {Type: TypeGUID},
			"businessunitid": lookup("businessunit"), "administratorid": lookup("systemuser"),
		},
	}
	// teammembership is the intersect table of the team–systemuser relationship: its two ids
	// are plain GUID columns (UNCONFIRMED that the Web API lets callers query it directly).
	teammembership := Table{LogicalName: "teammembership", EntitySetName: "teammemberships", PrimaryIDAttribute: "teammembershipid",
		ObjectTypeCode: 23, Strict: true,
		Attributes: map[string]Attr{"teamid": {Type: TypeGUID}, "systemuserid": {Type: TypeGUID}},
	}
	return []Table{incident, task, email, appnotification, annotation, team, teammembership}
}

// unboundActions are the unbound Web API actions the emulator serves (POST /<name>).
var unboundActions = map[string]func(rq *request) *apiError{
	"Merge": (*request).merge,
}

// mergeParents are the parent lookups PerformParentingChecks compares, per table.
var mergeParents = map[string][]string{
	"contact":  {"parentcustomerid"},
	"account":  {"parentaccountid"},
	"lead":     {"parentaccountid", "parentcontactid"},
	"incident": {"customerid"},
}

// mergeRef reads the Target or Subordinate parameter: an entity with @odata.type and its
// primary key.
func (rq *request) mergeRef(body map[string]any, param string) (*Table, string, *apiError) {
	raw, ok := body[param].(map[string]any)
	if !ok {
		return nil, "", badRequest("The parameter '%s' of the Merge action is required and must be an entity.", param)
	}
	typ, _ := raw["@odata.type"].(string)
	typ = strings.TrimPrefix(typ, "#")
	logical, ok := strings.CutPrefix(typ, "Microsoft.Dynamics.CRM.")
	if !ok || logical == "" {
		return nil, "", badRequest("The parameter '%s' needs an @odata.type annotation such as Microsoft.Dynamics.CRM.account.", param)
	}
	td := rq.e.store.table(logical)
	if td == nil {
		return nil, "", badRequest("The entity type 'Microsoft.Dynamics.CRM.%s' of parameter '%s' does not exist.", logical, param)
	}
	if mergeParents[logical] == nil {
		return nil, "", &apiError{status: 400, code: codeInvalidArg, message: fmt.Sprintf("This type: %s is not supported with merge operation", logical)}
	}
	id, _ := raw[td.def.PrimaryIDAttribute].(string)
	if !dataverse.IsGUID(id) {
		return nil, "", badRequest("The parameter '%s' must carry the row's %s.", param, td.def.PrimaryIDAttribute)
	}
	return td.def, strings.ToLower(id), nil
}

// merge serves POST /Merge.
func (rq *request) merge() *apiError {
	if rq.r.Method != http.MethodPost {
		return methodNotAllowed(rq.r.Method)
	}
	body, aerr := rq.readBody()
	if aerr != nil {
		return aerr
	}
	t, targetID, aerr := rq.mergeRef(body, "Target")
	if aerr != nil {
		return aerr
	}
	st, subID, aerr := rq.mergeRef(body, "Subordinate")
	if aerr != nil {
		return aerr
	}
	if st.LogicalName != t.LogicalName {
		return &apiError{status: 400, code: codeInvalidArg, message: "Merge needs two rows of the same table."}
	}
	if targetID == subID {
		return &apiError{status: 400, code: codeInvalidArg, message: "Merge cannot be performed on master and sub-entities that are identical."}
	}
	checks, ok := body["PerformParentingChecks"].(bool)
	if !ok {
		return badRequest("The parameter 'PerformParentingChecks' of the Merge action is required and must be a boolean.")
	}
	content := map[string]any{}
	if uc, ok := body["UpdateContent"].(map[string]any); ok && t.LogicalName != "incident" {
		delete(uc, "@odata.type")
		parsed, aerr := rq.e.parseBody(t, uc, false, targetID)
		if aerr != nil {
			return aerr
		}
		content = parsed
	}
	if aerr := rq.e.store.merge(t, targetID, subID, content, checks, rq.caller.id, rq.e.cfg.Now().UTC()); aerr != nil {
		return aerr
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// merge applies a merge atomically: the target gets content, the subordinate is deactivated
// and points at the target, and rows referring to the subordinate are re-parented.
func (s *store) merge(t *Table, targetID, subID string, content map[string]any, parentingChecks bool, caller string, now time.Time) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	td := s.tables[t.LogicalName]
	target, sub := td.rows[targetID], td.rows[subID]
	if target == nil {
		return notFound(t.LogicalName, targetID)
	}
	if sub == nil {
		return notFound(t.LogicalName, subID)
	}
	active := func(r *row) bool {
		sc, ok := r.attrs["statecode"].(dataverse.OptionSetValue)
		return !ok || sc.Value == 0
	}
	if !active(target) {
		return &apiError{status: 400, code: codeInvalidArg, message: fmt.Sprintf("master entity:%s-%s is deactive", t.LogicalName, targetID)}
	}
	if !active(sub) {
		return &apiError{status: 400, code: codeInvalidArg, message: fmt.Sprintf("sub-entity:%s-%s is deactive", t.LogicalName, subID)}
	}
	if parentingChecks {
		for _, col := range mergeParents[t.LogicalName] {
			a, _ := target.attrs[col].(*dataverse.EntityReference)
			b, _ := sub.attrs[col].(*dataverse.EntityReference)
			if a != nil && b != nil && (a.LogicalName != b.LogicalName || a.ID != b.ID) {
				return &apiError{status: 400, code: codeInvalidArg, message: fmt.Sprintf(
					"The records have different parents (%s) and PerformParentingChecks is true: the merge was not performed.", col)}
			}
		}
	}
	when, by := now, userRef(caller)
	write := func(tab *tableData, cur *row, change func(attrs map[string]any)) {
		attrs := cur.clone()
		change(attrs)
		s.version++
		attrs["versionnumber"] = jsonInt(s.version)
		tab.rows[cur.id] = &row{id: cur.id, seq: cur.seq, version: s.version, attrs: attrs}
	}
	write(td, target, func(attrs map[string]any) {
		for k, v := range content {
			attrs[k] = v
		}
		attrs["modifiedon"], attrs["modifiedby"] = when, by
		computed(t, attrs)
	})
	write(td, sub, func(attrs map[string]any) {
		attrs["statecode"] = dataverse.OptionSetValue{Value: 1}
		attrs["statuscode"] = dataverse.OptionSetValue{Value: 2}
		attrs["masterid"] = &dataverse.EntityReference{LogicalName: t.LogicalName, ID: targetID}
		attrs["merged"] = true
		attrs["modifiedon"], attrs["modifiedby"] = when, by
	})
	// Re-parent: every lookup that points at the subordinate now points at the target, except
	// the merge bookkeeping (masterid) and the merged rows themselves.
	for _, tab := range s.tables {
		for _, r := range tab.rows {
			if tab == td && (r.id == targetID || r.id == subID) {
				continue
			}
			var cols []string
			for col, v := range r.attrs {
				if ref, ok := v.(*dataverse.EntityReference); ok && col != "masterid" &&
					ref.LogicalName == t.LogicalName && ref.ID == subID {
					cols = append(cols, col)
				}
			}
			if len(cols) == 0 {
				continue
			}
			write(tab, r, func(attrs map[string]any) {
				for _, col := range cols {
					attrs[col] = &dataverse.EntityReference{LogicalName: t.LogicalName, ID: targetID}
				}
				attrs["modifiedon"], attrs["modifiedby"] = when, by
			})
		}
	}
	return nil
}
