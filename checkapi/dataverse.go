package checkapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/dedupegate/dedupegate/dataverse"
)

// DataverseAPI is the part of *dataverse.Client the visibility check uses.
type DataverseAPI interface {
	Table(ctx context.Context, logical string) (dataverse.TableInfo, error)
	Do(ctx context.Context, method, path string, body, out any, opts ...dataverse.CallOption) (http.Header, error)
}

// DataverseVisibility returns a RecordReader that reads the record's primary key from Dataverse
// impersonating the caller (CallerObjectId). Dataverse answers 403 when the caller lacks the
// read privilege or access to the row, and 404 when the row is gone (UNCONFIRMED: the exact
// status for "no access to this row" is not in the stored Microsoft docs; both count as "may
// not read"). The application user needs prvActOnBehalfOfAnotherUser (Delegate role).
func DataverseVisibility(c DataverseAPI) RecordReader {
	return RecordReaderFunc(func(ctx context.Context, callerOID, entity, id string) (bool, error) {
		if callerOID == "" {
			return false, nil
		}
		t, err := c.Table(ctx, entity)
		if err != nil {
			return false, err
		}
		var row map[string]any
		path := t.EntitySet + "(" + id + ")?$select=" + url.QueryEscape(t.PrimaryID)
		_, err = c.Do(ctx, http.MethodGet, path, nil, &row, dataverse.AsCaller(callerOID))
		if err == nil {
			return true, nil
		}
		var de *dataverse.Error
		if errors.As(err, &de) && (de.StatusCode == http.StatusForbidden || de.StatusCode == http.StatusNotFound) {
			return false, nil
		}
		return false, err
	})
}
