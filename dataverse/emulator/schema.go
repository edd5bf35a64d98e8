package emulator

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dedupegate/dedupegate/dataverse"
)

// AttrType is the type of a column, as far as the emulator needs it: to parse Web API JSON,
// to write it back, and to put the right value shape into webhook payloads.
type AttrType string

// Column types.
const (
	TypeString   AttrType = "string"   // text and memo
	TypeInt      AttrType = "int"      // whole number
	TypeDecimal  AttrType = "decimal"  // decimal and float
	TypeMoney    AttrType = "money"    // currency (webhook: Money)
	TypeBool     AttrType = "bool"     // two options
	TypeDateTime AttrType = "datetime" // date and time (UTC)
	TypeDateOnly AttrType = "dateonly" // date only (Web API writes 2024-03-01)
	TypeChoice   AttrType = "choice"   // option set (webhook: OptionSetValue)
	TypeChoices  AttrType = "choices"  // multi-select option set (Web API: "1,7")
	TypeLookup   AttrType = "lookup"   // lookup (Web API: _name_value; webhook: EntityReference)
	TypeGUID     AttrType = "guid"     // unique identifier
)

// Attr declares a column.
type Attr struct {
	Type AttrType
	// Targets are the tables a lookup may point at.
	Targets []string
	// System columns are set by the platform; writes to them are ignored (UNCONFIRMED: real
	// Dataverse ignores some and rejects others).
	System bool
	// WriteOnly columns are accepted on writes but never returned (serviceendpoint.authvalue,
	// IsValidForRead False).
	WriteOnly bool
	// NotForCreate columns are refused on create (IsValidForCreate False).
	NotForCreate bool
}

// Table declares a table. Tables that are not Strict are open to custom columns: an undeclared
// column whose name carries a publisher prefix (new_rating, cr4f2_code) is accepted and typed
// from its JSON value, as a custom column of a real environment would be; any other undeclared
// name is refused with 400, as Dataverse refuses unknown properties. Strict tables accept
// declared columns only.
type Table struct {
	LogicalName          string
	EntitySetName        string
	PrimaryIDAttribute   string
	PrimaryNameAttribute string
	ObjectTypeCode       int
	Attributes           map[string]Attr
	// Navigation maps single-valued navigation property names used with @odata.bind to their
	// lookup column when they differ (parentcustomerid_account → parentcustomerid).
	Navigation map[string]string
	// Strict tables answer 400 to columns they do not declare, as Dataverse does.
	Strict bool
	// Owned tables (user- or team-owned) get ownerid, owningbusinessunit, statecode and
	// statuscode columns. Custom tables added with AddTable are owned.
	Owned bool
}

// DefaultTable returns the declaration of a custom table from its logical name alone:
// entity set logical name + "s", primary key logical name + "id", primary name <prefix>_name.
// Give an explicit Table in Config when the real names differ.
func DefaultTable(logical string) Table {
	name := "name"
	if i := strings.Index(logical, "_"); i > 0 {
		name = logical[:i] + "_name"
	}
	return Table{LogicalName: logical, EntitySetName: logical + "s", PrimaryIDAttribute: logical + "id",
		PrimaryNameAttribute: name, ObjectTypeCode: 10000, Owned: true,
		Attributes: map[string]Attr{name: {Type: TypeString}}}
}

func str() Attr                     { return Attr{Type: TypeString} }
func lookup(targets ...string) Attr { return Attr{Type: TypeLookup, Targets: targets} }
func choice() Attr                  { return Attr{Type: TypeChoice} }

// builtinTables are the tables the emulator always serves.
func builtinTables() []Table {
	contact := Table{LogicalName: "contact", EntitySetName: "contacts", PrimaryIDAttribute: "contactid",
		PrimaryNameAttribute: "fullname", ObjectTypeCode: 2, Owned: true,
		Attributes: map[string]Attr{
			"fullname": {Type: TypeString, System: true}, "yomifullname": {Type: TypeString, System: true},
			"firstname": str(), "lastname": str(), "middlename": str(), "salutation": str(), "nickname": str(),
			"emailaddress1": str(), "emailaddress2": str(), "emailaddress3": str(),
			"telephone1": str(), "telephone2": str(), "telephone3": str(), "mobilephone": str(), "fax": str(),
			"jobtitle": str(), "department": str(), "description": str(), "websiteurl": str(),
			"governmentid": str(), "employeeid": str(), "spousesname": str(), "company": str(),
			"address2_line1": str(), "address2_city": str(), "address2_postalcode": str(), "address2_country": str(),
			"anniversary": {Type: TypeDateOnly}, "familystatuscode": choice(),
			"address1_line1": str(), "address1_line2": str(), "address1_city": str(), "address1_stateorprovince": str(),
			"address1_postalcode": str(), "address1_country": str(),
			"birthdate": {Type: TypeDateOnly}, "gendercode": choice(), "preferredcontactmethodcode": choice(),
			"donotemail": {Type: TypeBool}, "creditlimit": {Type: TypeMoney}, "numberofchildren": {Type: TypeInt},
			"parentcustomerid": lookup("account", "contact"),
			"masterid":         {Type: TypeLookup, Targets: []string{"contact"}, System: true},
			"merged":           {Type: TypeBool, System: true},
		},
		Navigation: map[string]string{"parentcustomerid_account": "parentcustomerid", "parentcustomerid_contact": "parentcustomerid"},
	}
	account := Table{LogicalName: "account", EntitySetName: "accounts", PrimaryIDAttribute: "accountid",
		PrimaryNameAttribute: "name", ObjectTypeCode: 1, Owned: true,
		Attributes: map[string]Attr{
			"name": str(), "accountnumber": str(), "emailaddress1": str(), "telephone1": str(), "telephone2": str(), "fax": str(),
			"websiteurl": str(), "description": str(), "tickersymbol": str(), "emailaddress2": str(), "emailaddress3": str(),
			"telephone3": str(), "sic": str(), "ownershipcode": choice(),
			"address2_line1": str(), "address2_city": str(), "address2_postalcode": str(), "address2_country": str(),
			"address1_line1": str(), "address1_line2": str(), "address1_city": str(), "address1_stateorprovince": str(),
			"address1_postalcode": str(), "address1_country": str(),
			"revenue": {Type: TypeMoney}, "numberofemployees": {Type: TypeInt}, "industrycode": choice(),
			"primarycontactid": lookup("contact"), "parentaccountid": lookup("account"),
			"masterid": {Type: TypeLookup, Targets: []string{"account"}, System: true},
			"merged":   {Type: TypeBool, System: true},
		},
	}
	lead := Table{LogicalName: "lead", EntitySetName: "leads", PrimaryIDAttribute: "leadid",
		PrimaryNameAttribute: "fullname", ObjectTypeCode: 4, Owned: true,
		Attributes: map[string]Attr{
			"fullname": {Type: TypeString, System: true}, "yomifullname": {Type: TypeString, System: true},
			"subject": str(), "firstname": str(), "lastname": str(), "middlename": str(), "companyname": str(), "jobtitle": str(),
			"emailaddress1": str(), "emailaddress2": str(), "telephone1": str(), "mobilephone": str(), "websiteurl": str(),
			"address1_line1": str(), "address1_line2": str(), "address1_city": str(), "address1_stateorprovince": str(),
			"address1_postalcode": str(), "address1_country": str(), "telephone2": str(), "telephone3": str(), "emailaddress3": str(),
			"description": str(), "leadsourcecode": choice(), "industrycode": choice(),
			"numberofemployees": {Type: TypeInt}, "revenue": {Type: TypeMoney},
			"parentaccountid": lookup("account"), "parentcontactid": lookup("contact"),
			"masterid": {Type: TypeLookup, Targets: []string{"lead"}, System: true},
			"merged":   {Type: TypeBool, System: true},
		},
	}
	systemuser := Table{LogicalName: "systemuser", EntitySetName: "systemusers", PrimaryIDAttribute: "systemuserid",
		PrimaryNameAttribute: "fullname", ObjectTypeCode: 8, Strict: true,
		Attributes: map[string]Attr{
			"fullname": str(), "firstname": str(), "lastname": str(), "domainname": str(), "internalemailaddress": str(),
			"azureactivedirectoryobjectid": {Type: TypeGUID}, "applicationid": {Type: TypeGUID},
			"isdisabled": {Type: TypeBool}, "businessunitid": lookup("businessunit"),
		},
	}
	businessunit := Table{LogicalName: "businessunit", EntitySetName: "businessunits", PrimaryIDAttribute: "businessunitid",
		PrimaryNameAttribute: "name", ObjectTypeCode: 10, Strict: true,
		Attributes: map[string]Attr{"name": str()}}
	serviceendpoint := Table{LogicalName: "serviceendpoint", EntitySetName: "serviceendpoints", PrimaryIDAttribute: "serviceendpointid",
		PrimaryNameAttribute: "name", ObjectTypeCode: 4618, Strict: true,
		Attributes: map[string]Attr{
			"name": str(), "description": str(), "url": str(), "namespaceaddress": str(), "path": str(), "saskeyname": str(),
			"contract": choice(), "authtype": choice(), "messageformat": choice(), "connectionmode": choice(), "userclaim": choice(),
			"namespaceformat": choice(),
			"authvalue":       {Type: TypeString, WriteOnly: true},
			"isauthvalueset":  {Type: TypeBool, System: true},
		},
	}
	sdkmessage := Table{LogicalName: "sdkmessage", EntitySetName: "sdkmessages", PrimaryIDAttribute: "sdkmessageid",
		PrimaryNameAttribute: "name", ObjectTypeCode: 4606, Strict: true,
		Attributes: map[string]Attr{"name": str(), "categoryname": str(), "isprivate": {Type: TypeBool}}}
	sdkmessagefilter := Table{LogicalName: "sdkmessagefilter", EntitySetName: "sdkmessagefilters", PrimaryIDAttribute: "sdkmessagefilterid",
		PrimaryNameAttribute: "name", ObjectTypeCode: 4607, Strict: true,
		Attributes: map[string]Attr{
			"name": str(), "primaryobjecttypecode": str(), "secondaryobjecttypecode": str(),
			"iscustomprocessingstepallowed": {Type: TypeBool}, "isvisible": {Type: TypeBool},
			"sdkmessageid": lookup("sdkmessage"),
		}}
	step := Table{LogicalName: "sdkmessageprocessingstep", EntitySetName: "sdkmessageprocessingsteps", PrimaryIDAttribute: "sdkmessageprocessingstepid",
		PrimaryNameAttribute: "name", ObjectTypeCode: 4608, Strict: true,
		Attributes: map[string]Attr{
			"name": str(), "description": str(), "filteringattributes": str(), "configuration": str(),
			"stage": choice(), "mode": choice(), "rank": {Type: TypeInt}, "supporteddeployment": choice(),
			"invocationsource": choice(), "asyncautodelete": {Type: TypeBool},
			"eventhandler":        lookup("serviceendpoint", "plugintype"),
			"sdkmessageid":        lookup("sdkmessage"),
			"sdkmessagefilterid":  lookup("sdkmessagefilter"),
			"impersonatinguserid": lookup("systemuser"),
			"statecode":           {Type: TypeChoice, NotForCreate: true},
			"statuscode":          choice(),
		},
		Navigation: map[string]string{"eventhandler_serviceendpoint": "eventhandler", "eventhandler_plugintype": "eventhandler"},
	}
	image := Table{LogicalName: "sdkmessageprocessingstepimage", EntitySetName: "sdkmessageprocessingstepimages",
		PrimaryIDAttribute: "sdkmessageprocessingstepimageid", PrimaryNameAttribute: "name", ObjectTypeCode: 4615, Strict: true,
		Attributes: map[string]Attr{
			"name": str(), "description": str(), "entityalias": str(), "attributes": str(), "messagepropertyname": str(),
			"imagetype": choice(), "sdkmessageprocessingstepid": lookup("sdkmessageprocessingstep"),
		}}
	asyncop := Table{LogicalName: "asyncoperation", EntitySetName: "asyncoperations", PrimaryIDAttribute: "asyncoperationid",
		PrimaryNameAttribute: "name", ObjectTypeCode: 4700, Strict: true,
		Attributes: map[string]Attr{
			"name": str(), "message": str(), "friendlymessage": str(), "errorcode": {Type: TypeInt},
			"operationtype": choice(), "statecode": choice(), "statuscode": choice(), "completedon": {Type: TypeDateTime},
			"correlationid": {Type: TypeGUID}, "primaryentitytype": str(), "regardingobjectid": {Type: TypeGUID},
			"owningextensionid": lookup("sdkmessageprocessingstep"),
		}}
	return append([]Table{contact, account, lead, systemuser, businessunit, serviceendpoint, sdkmessage, sdkmessagefilter, step, image, asyncop},
		actionTables()...) // actions.go
}

// IsBuiltin reports whether the emulator declares a table itself (the others are added with
// Config.Tables or AddTable).
func IsBuiltin(logical string) bool {
	for _, t := range builtinTables() {
		if t.LogicalName == logical {
			return true
		}
	}
	return false
}

// complete adds the system columns every table has.
func (t *Table) complete() {
	if t.Attributes == nil {
		t.Attributes = map[string]Attr{}
	}
	if t.Navigation == nil {
		t.Navigation = map[string]string{}
	}
	sys := map[string]Attr{
		"createdon": {Type: TypeDateTime, System: true}, "modifiedon": {Type: TypeDateTime, System: true},
		"createdby":          {Type: TypeLookup, Targets: []string{"systemuser"}, System: true},
		"modifiedby":         {Type: TypeLookup, Targets: []string{"systemuser"}, System: true},
		"createdonbehalfby":  {Type: TypeLookup, Targets: []string{"systemuser"}, System: true},
		"modifiedonbehalfby": {Type: TypeLookup, Targets: []string{"systemuser"}, System: true},
		"versionnumber":      {Type: TypeInt, System: true},
	}
	if t.Owned {
		sys["ownerid"] = lookup("systemuser", "team")
		sys["owningbusinessunit"] = Attr{Type: TypeLookup, Targets: []string{"businessunit"}, System: true}
		sys["statecode"] = choice()
		sys["statuscode"] = choice()
	}
	for k, v := range sys {
		if _, ok := t.Attributes[k]; !ok {
			t.Attributes[k] = v
		}
	}
	t.Attributes[t.PrimaryIDAttribute] = Attr{Type: TypeGUID}
	if t.PrimaryNameAttribute != "" {
		if _, ok := t.Attributes[t.PrimaryNameAttribute]; !ok {
			t.Attributes[t.PrimaryNameAttribute] = str()
		}
	}
}

// attr returns the declaration of a column; for open tables an undeclared column is typed
// from the value later (ok true, Type "").
func (t *Table) attr(name string) (Attr, bool) {
	a, ok := t.Attributes[name]
	if ok {
		return a, true
	}
	if t.Strict || !customName.MatchString(name) {
		return Attr{}, false
	}
	return Attr{}, true
}

// lookupColumn resolves a navigation property name to its lookup column.
func (t *Table) lookupColumn(nav string) (string, bool) {
	if col, ok := t.Navigation[nav]; ok {
		return col, true
	}
	if a, ok := t.Attributes[nav]; ok && a.Type == TypeLookup {
		return nav, true
	}
	lower := strings.ToLower(nav)
	if a, ok := t.Attributes[lower]; ok && a.Type == TypeLookup {
		return lower, true // UNCONFIRMED leniency: custom lookups use the schema name's case
	}
	return "", false
}

var (
	validName  = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	customName = regexp.MustCompile(`^[a-z][a-z0-9]*_[a-z0-9_]+$`)
)

// apiError is an answer in Dataverse's error shape.
type apiError struct {
	status  int
	code    string
	message string
	header  map[string]string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s %s", e.status, e.code, e.message) }

// Error codes used by the emulator (as Dataverse documents or shows them).
const (
	codeNotFound      = "0x80040217" // object does not exist
	codeQuerySyntax   = "0x80060888" // OData query / URI errors
	codeBadRequest    = "0x80048d19" // invalid request payload
	codeDuplicateKey  = "0x80040237" // cannot insert duplicate key
	codeThrottled     = "0x80072322" // number of requests exceeded the limit
	codeIsvAborted    = "0x80040265" // a plug-in (here: a webhook step) cancelled the operation
	codeInvalidAuthHd = "0x80050203" // invalid http headers in authValue
	codeUnsupported   = "0x8004800d" // emulator limit: a feature Dataverse has and the emulator lacks
	codeImageProperty = "0x8004416b" // image messagepropertyname not valid for the message
	codeInvalidArg    = "0x80040203" // invalid argument
)

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: 400, code: codeBadRequest, message: fmt.Sprintf(format, args...)}
}

func querySyntax(format string, args ...any) *apiError {
	return &apiError{status: 400, code: codeQuerySyntax, message: fmt.Sprintf(format, args...)}
}

func unsupported(format string, args ...any) *apiError {
	return &apiError{status: 400, code: codeUnsupported, message: "Not supported by the dedupegate Dataverse emulator: " + fmt.Sprintf(format, args...)}
}

func notFound(table, id string) *apiError {
	return &apiError{status: 404, code: codeNotFound, message: fmt.Sprintf("%s With Id = %s Does Not Exist", table, id)}
}

// parseValue converts one Web API JSON property (decoded with UseNumber) to the stored Go
// value for column a of table t.
func parseValue(t *Table, name string, a Attr, v any) (any, *apiError) {
	if v == nil {
		return nil, nil
	}
	mismatch := func(want string) *apiError {
		return badRequest("Cannot convert the literal '%v' to the expected type '%s' for the property '%s' of 'Microsoft.Dynamics.CRM.%s'.", v, want, name, t.LogicalName)
	}
	switch a.Type {
	case "":
		switch x := v.(type) {
		case string, json.Number, bool:
			return x, nil
		}
		return nil, badRequest("The property '%s' of 'Microsoft.Dynamics.CRM.%s' cannot hold an object or array in the emulator (declare the column).", name, t.LogicalName)
	case TypeString:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, mismatch("Edm.String")
	case TypeInt:
		if n, ok := v.(json.Number); ok {
			if _, err := strconv.ParseInt(string(n), 10, 64); err == nil {
				return n, nil
			}
		}
		return nil, mismatch("Edm.Int32")
	case TypeDecimal:
		if n, ok := v.(json.Number); ok {
			return n, nil
		}
		return nil, mismatch("Edm.Decimal")
	case TypeMoney:
		if n, ok := v.(json.Number); ok {
			f, err := n.Float64()
			if err == nil {
				return dataverse.Money{Value: f}, nil
			}
		}
		return nil, mismatch("Edm.Decimal")
	case TypeBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, mismatch("Edm.Boolean")
	case TypeDateTime, TypeDateOnly:
		s, ok := v.(string)
		if !ok {
			return nil, mismatch("Edm.DateTimeOffset")
		}
		if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
			if a.Type == TypeDateOnly {
				y, m, d := tm.UTC().Date()
				return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
			}
			return tm.UTC(), nil
		}
		if tm, err := time.Parse("2006-01-02", s); err == nil {
			return tm.UTC(), nil
		}
		return nil, mismatch("Edm.DateTimeOffset")
	case TypeChoice:
		if n, ok := v.(json.Number); ok {
			if i, err := strconv.Atoi(string(n)); err == nil {
				return dataverse.OptionSetValue{Value: i}, nil
			}
		}
		return nil, mismatch("Edm.Int32")
	case TypeChoices:
		s, ok := v.(string)
		if !ok {
			return nil, mismatch("Edm.String")
		}
		var out []any
		for _, p := range strings.Split(s, ",") {
			i, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				return nil, mismatch("Edm.String")
			}
			out = append(out, dataverse.OptionSetValue{Value: i})
		}
		return out, nil
	case TypeGUID:
		s, ok := v.(string)
		if !ok || !dataverse.IsGUID(s) {
			return nil, mismatch("Edm.Guid")
		}
		return strings.ToLower(s), nil
	case TypeLookup:
		return nil, badRequest("Lookup property '%s' of 'Microsoft.Dynamics.CRM.%s' must be set with %s@odata.bind.", name, t.LogicalName, name)
	}
	return nil, badRequest("unknown column type %q", a.Type)
}

// webValue renders a stored value as the Web API writes it.
func webValue(a Attr, v any) any {
	switch x := v.(type) {
	case time.Time:
		if a.Type == TypeDateOnly {
			return x.UTC().Format("2006-01-02")
		}
		return x.UTC().Format("2006-01-02T15:04:05Z")
	case dataverse.OptionSetValue:
		return x.Value
	case dataverse.Money:
		return x.Value
	case []any:
		parts := make([]string, 0, len(x))
		for _, el := range x {
			if o, ok := el.(dataverse.OptionSetValue); ok {
				parts = append(parts, strconv.Itoa(o.Value))
			}
		}
		return strings.Join(parts, ",")
	case *dataverse.EntityReference:
		return x.ID
	}
	return v
}

// row is one stored row. Rows are immutable once stored: a write replaces the row, so a reader
// holding a *row has a consistent snapshot without holding the store's lock.
type row struct {
	id      string
	seq     int64 // insertion order: the default order and the paging key
	version int64
	attrs   map[string]any // includes the primary key
}

func (r *row) clone() map[string]any {
	out := make(map[string]any, len(r.attrs))
	for k, v := range r.attrs {
		out[k] = v
	}
	return out
}

// webRow renders a row for the Web API: the selected columns (all when sel is nil), lookups
// as _name_value, the primary key always, and @odata.etag.
func webRow(t *Table, r *row, sel []string, annotations bool, names func(ref *dataverse.EntityReference) string) map[string]any {
	out := map[string]any{"@odata.etag": fmt.Sprintf("W/\"%d\"", r.version)}
	put := func(name string, a Attr, v any) {
		if a.WriteOnly {
			return
		}
		if a.Type == TypeLookup {
			key := "_" + name + "_value"
			ref, _ := v.(*dataverse.EntityReference)
			if ref == nil {
				out[key] = nil
				return
			}
			out[key] = ref.ID
			if annotations {
				out[key+"@Microsoft.Dynamics.CRM.lookuplogicalname"] = ref.LogicalName
				if n := names(ref); n != "" {
					out[key+"@OData.Community.Display.V1.FormattedValue"] = n
				}
			}
			return
		}
		out[name] = webValue(a, v)
	}
	if sel == nil {
		for name, a := range t.Attributes {
			put(name, a, r.attrs[name])
		}
		for name, v := range r.attrs {
			if _, declared := t.Attributes[name]; !declared {
				put(name, Attr{}, v)
			}
		}
	} else {
		for _, name := range sel {
			a, _ := t.attr(name)
			put(name, a, r.attrs[name])
		}
	}
	out[t.PrimaryIDAttribute] = r.id
	return out
}

// sortedAttrNames lists a table's declared columns, for metadata answers.
func (t *Table) sortedAttrNames() []string {
	out := make([]string, 0, len(t.Attributes))
	for k := range t.Attributes {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
