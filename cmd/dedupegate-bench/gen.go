package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/dedupegate/dedupegate/matcher"
)

// kv is one entry of a Dataverse DataContract collection ({"key":…,"value":…}).
type kv struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// payload renders rec as the RemoteExecutionContext of a synchronous PreValidation Create
// (webhook/testdata/create-duplicate.json's shape), with markers where each request writes its
// own correlation, request and operation ids.
func payload(rec matcher.Record, user string) []byte {
	attrs := make([]kv, 0, len(rec.Attrs)+1)
	for k, v := range rec.Attrs {
		var val any = v
		if k == "birthdate" {
			t, _ := time.Parse("2006-01-02", v)
			val = fmt.Sprintf("/Date(%d)/", t.UnixMilli())
		}
		attrs = append(attrs, kv{k, val})
	}
	attrs = append(attrs, kv{"ownerid", map[string]any{
		"__type": "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts", "Id": user,
		"KeyAttributes": []any{}, "LogicalName": "systemuser", "Name": nil, "RowVersion": nil}})
	ctx := map[string]any{
		"BusinessUnitId": "e2b9dd85-e89e-e711-8122-000d3aa2331c", "CorrelationId": markCorr, "Depth": 1,
		"InitiatingUserAzureActiveDirectoryObjectId": "aaaa0000-bb11-2222-33cc-444444dddddd", "InitiatingUserId": user,
		"InputParameters": []kv{
			{"Target", map[string]any{
				"__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts", "Attributes": attrs,
				"EntityState": nil, "FormattedValues": []any{}, "Id": "00000000-0000-0000-0000-000000000000",
				"KeyAttributes": []any{}, "LogicalName": rec.Entity, "RelatedEntities": []any{}, "RowVersion": nil}},
			{"SuppressDuplicateDetection", false},
		},
		"IsExecutingOffline": false, "IsInTransaction": false, "IsOfflinePlayback": false, "IsolationMode": 1,
		"MessageName": "Create", "Mode": 0, "OperationCreatedOn": fmt.Sprintf("/Date(%d+0000)/", time.Now().UnixMilli()),
		"OperationId": markOp, "OrganizationId": "4ef5b371-e89e-e711-8122-000d3aa2331c", "OrganizationName": "OrgName",
		"OutputParameters": []any{},
		"OwningExtension": map[string]any{"Id": "75417616-4ea2-e711-8122-000d3aa2331c", "KeyAttributes": []any{},
			"LogicalName": "sdkmessageprocessingstep", "Name": "dedupegate: Create of contact", "RowVersion": nil},
		"ParentContext": nil, "PostEntityImages": []any{}, "PreEntityImages": []any{},
		"PrimaryEntityId": "00000000-0000-0000-0000-000000000000", "PrimaryEntityName": rec.Entity,
		"RequestId": markReq, "SecondaryEntityName": "none",
		"SharedVariables": []kv{{"IsAutoTransact", true}, {"DefaultsAddedFlag", true}},
		"Stage":           10, "UserAzureActiveDirectoryObjectId": "aaaa0000-bb11-2222-33cc-444444dddddd", "UserId": user,
	}
	b, err := json.Marshal(ctx)
	if err != nil {
		panic(err) // only plain values above
	}
	return b
}
