package dataverse

// Tables written by the follow-up actions (package actions): their entity set and primary key
// names are the same in every environment, so the client knows them without reading
// EntityDefinitions (which an application user with a minimal role may not read).
func init() {
	for _, t := range []TableInfo{
		{"incident", "incidents", "incidentid"},
		{"task", "tasks", "activityid"},
		{"email", "emails", "activityid"},
		{"appnotification", "appnotifications", "appnotificationid"},
		{"annotation", "annotations", "annotationid"},
		{"team", "teams", "teamid"},
		{"teammembership", "teammemberships", "teammembershipid"},
	} {
		if _, ok := builtinTables[t.LogicalName]; !ok {
			builtinTables[t.LogicalName] = t
		}
	}
	for table, cols := range map[string][]string{
		"incident": {"customerid", "parentcaseid", "ownerid", "owninguser", "owningteam", "owningbusinessunit", "createdby", "modifiedby", "masterid"},
		"task":     {"regardingobjectid", "ownerid", "owninguser", "owningteam", "owningbusinessunit", "createdby", "modifiedby"},
	} {
		if _, ok := builtinLookups[table]; !ok {
			builtinLookups[table] = cols
		}
	}
}
