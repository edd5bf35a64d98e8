package emulator

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// queryOptions are the parsed system query options of a GET.
type queryOptions struct {
	sel      []string // logical names; nil = all
	filter   node
	orderBy  []orderKey
	top      int
	count    bool
	skip     *cookie
	aliases  map[string]string
	rawQuery url.Values
}

type orderKey struct {
	path []string
	desc bool
}

// cookie is the paging position carried by $skiptoken. Without $orderby the key is the last
// row's insertion sequence (stable under concurrent inserts, like Dataverse's primary-key
// paging cookie); with $orderby it is an offset.
type cookie struct {
	page   int
	seq    int64
	offset int
}

var reCookie = regexp.MustCompile(`pagenumber="(\d+)"\s+pagingcookie="([^"]*)"`)

func (c cookie) String() string {
	pc := "seq:" + strconv.FormatInt(c.seq, 10)
	if c.offset > 0 {
		pc = "offset:" + strconv.Itoa(c.offset)
	}
	return fmt.Sprintf(`<cookie pagenumber="%d" pagingcookie="%s" istracking="False" />`, c.page, pc)
}

func parseCookie(s string) (*cookie, *apiError) {
	m := reCookie.FindStringSubmatch(s)
	if m == nil {
		return nil, querySyntax("The $skiptoken is not a paging cookie this server issued.")
	}
	c := &cookie{}
	c.page, _ = strconv.Atoi(m[1])
	switch {
	case strings.HasPrefix(m[2], "seq:"):
		c.seq, _ = strconv.ParseInt(m[2][4:], 10, 64)
	case strings.HasPrefix(m[2], "offset:"):
		c.offset, _ = strconv.Atoi(m[2][7:])
	default:
		return nil, querySyntax("The $skiptoken is not a paging cookie this server issued.")
	}
	return c, nil
}

// supportedOptions are the system query options Dataverse accepts [MS QOV]; the emulator
// implements those without a note.
var supportedOptions = map[string]string{
	"$select": "", "$filter": "", "$orderby": "", "$top": "", "$count": "", "$skiptoken": "",
	"$expand": "$expand is not emulated", "$apply": "$apply is not emulated",
}

// parseOptions reads the query string. Option names are case-sensitive; $skip, $search and
// $format are refused as Dataverse refuses them.
func (rq *request) parseOptions(t *Table) (*queryOptions, *apiError) {
	raw, err := url.ParseQuery(rq.r.URL.RawQuery)
	if err != nil {
		return nil, querySyntax("The query string is malformed.")
	}
	o := &queryOptions{aliases: map[string]string{}, rawQuery: raw}
	for k, vs := range raw {
		switch {
		case strings.HasPrefix(k, "@"):
			o.aliases[k] = vs[0]
		case strings.HasPrefix(k, "$"):
			note, ok := supportedOptions[k]
			if !ok {
				return nil, querySyntax("The query parameter %s is not supported", k)
			}
			if note != "" {
				return nil, unsupported("%s", note)
			}
		}
	}
	sel, aerr := rq.selectList(t)
	if aerr != nil {
		return nil, aerr
	}
	o.sel = sel
	if f := raw.Get("$filter"); f != "" {
		rq.e.store.mu.RLock()
		n, aerr := parseFilter(f, t, rq.e.store, o.aliases)
		rq.e.store.mu.RUnlock()
		if aerr != nil {
			return nil, aerr
		}
		o.filter = n
	}
	if ob := raw.Get("$orderby"); ob != "" {
		p := &parser{table: t, store: rq.e.store}
		for _, part := range strings.Split(ob, ",") {
			fields := strings.Fields(part)
			if len(fields) == 0 || len(fields) > 2 {
				return nil, querySyntax("Syntax error in $orderby '%s'.", ob)
			}
			path, aerr := p.checkPath(fields[0])
			if aerr != nil {
				return nil, aerr
			}
			k := orderKey{path: path}
			if len(fields) == 2 {
				switch fields[1] {
				case "asc":
				case "desc":
					k.desc = true
				default:
					return nil, querySyntax("Syntax error in $orderby '%s'.", ob)
				}
			}
			o.orderBy = append(o.orderBy, k)
		}
	}
	if tp := raw.Get("$top"); tp != "" {
		n, err := strconv.Atoi(tp)
		if err != nil || n < 0 {
			return nil, querySyntax("Invalid value '%s' for $top query option found. The $top query option requires a non-negative integer value.", tp)
		}
		o.top = n
	}
	switch raw.Get("$count") {
	case "", "false":
	case "true":
		o.count = true
	default:
		return nil, querySyntax("'%s' is not a valid count option.", raw.Get("$count"))
	}
	if st := raw.Get("$skiptoken"); st != "" {
		c, aerr := parseCookie(st)
		if aerr != nil {
			return nil, aerr
		}
		o.skip = c
	}
	return o, nil
}

// selectList reads $select into logical names: _name_value selects the lookup name; naming a
// lookup column directly is refused, as in Dataverse.
func (rq *request) selectList(t *Table) ([]string, *apiError) {
	s := rq.r.URL.Query().Get("$select")
	if s == "" {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		col := name
		if strings.HasPrefix(name, "_") && strings.HasSuffix(name, "_value") {
			col = name[1 : len(name)-len("_value")]
			if a, ok := t.attr(col); !ok || (a.Type != TypeLookup && a.Type != "") {
				return nil, querySyntax("Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'.", name, t.LogicalName)
			}
		} else if a, ok := t.attr(col); !ok || a.Type == TypeLookup || a.WriteOnly {
			return nil, querySyntax("Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'.", name, t.LogicalName)
		}
		if !seen[col] {
			seen[col] = true
			out = append(out, col)
		}
	}
	return out, nil
}

// list handles GET /<entityset> with the query subset, paging with Prefer: odata.maxpagesize
// and @odata.nextLink [MS PAGE].
func (rq *request) list(td *tableData) *apiError {
	t := td.def
	o, aerr := rq.parseOptions(t)
	if aerr != nil {
		return aerr
	}
	prefs := preferences(rq.r)
	pageSize, paging := rq.e.cfg.MaxPageSize, false
	if v, ok := prefs["odata.maxpagesize"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return badRequest("odata.maxpagesize must be a positive integer.")
		}
		if n > rq.e.cfg.MaxPageSize {
			n = rq.e.cfg.MaxPageSize
		}
		pageSize, paging = n, true
	}
	if o.top > 0 && !paging && o.top < pageSize {
		// $top without paging: one page of at most top rows. With paging, $top is ignored [MS QOV].
		pageSize = o.top
	}

	s := rq.e.store
	s.mu.RLock()
	if len(o.orderBy) == 0 && !o.count {
		// The default order is insertion order: walk the order list from the paging cookie
		// and stop one row past the page, instead of filtering and sorting the whole table.
		rows, aerr := pageInOrder(td, o, s, pageSize+1)
		s.mu.RUnlock()
		if aerr != nil {
			return aerr
		}
		return rq.writePage(td, o, prefs, paging, pageSize, rows, len(rows), 0)
	}
	rows := make([]*row, 0, len(td.rows))
	for _, r := range td.rows {
		if o.skip != nil && len(o.orderBy) == 0 && r.seq <= o.skip.seq {
			continue
		}
		if o.filter != nil {
			ok, aerr := o.filter.eval(&rowCtx{table: t, row: r, store: s})
			if aerr != nil {
				s.mu.RUnlock()
				return aerr
			}
			if !ok {
				continue
			}
		}
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for _, k := range o.orderBy {
			a, _ := (&rowCtx{table: t, row: rows[i], store: s}).value(operand{path: k.path})
			b, _ := (&rowCtx{table: t, row: rows[j], store: s}).value(operand{path: k.path})
			c := orderCompare(a, b)
			if c != 0 {
				return (c < 0) != k.desc
			}
		}
		return rows[i].seq < rows[j].seq
	})
	s.mu.RUnlock()
	total := len(rows)
	offset := 0
	if o.skip != nil && len(o.orderBy) > 0 {
		offset = min(o.skip.offset, len(rows))
	}
	rows = rows[offset:]
	return rq.writePage(td, o, prefs, paging, pageSize, rows, total, offset)
}

// writePage answers one page: rows are the page's rows and at least one more when there is a
// next page; total is the matching rows' count and offset the page's position (for $orderby
// paging cookies).
func (rq *request) writePage(td *tableData, o *queryOptions, prefs map[string]string, paging bool, pageSize int, rows []*row, total, offset int) *apiError {
	t := td.def
	more := len(rows) > pageSize
	if more {
		rows = rows[:pageSize]
	}
	if o.top > 0 && !paging {
		more = false
	}
	annotations := prefs["odata.include-annotations"] != ""
	value := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		value = append(value, webRow(t, r, o.sel, annotations, rq.e.store.primaryName))
	}
	body := map[string]any{"@odata.context": rq.base() + "$metadata#" + t.EntitySetName + selContext(o.sel), "value": value}
	if o.count {
		body["@odata.count"] = min(total, 5000)
	}
	if more {
		page := 2
		if o.skip != nil {
			page = o.skip.page + 1
		}
		next := cookie{page: page}
		if len(o.orderBy) == 0 {
			next.seq = rows[len(rows)-1].seq
		} else {
			next.offset = offset + len(rows)
		}
		q := url.Values{}
		for k, vs := range o.rawQuery {
			if k != "$skiptoken" {
				q[k] = vs
			}
		}
		q.Set("$skiptoken", next.String())
		body["@odata.nextLink"] = rq.base() + t.EntitySetName + "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
	}
	if paging {
		rq.w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(pageSize))
	}
	writeJSON(rq.w, 200, body)
	return nil
}

func selContext(sel []string) string {
	if sel == nil {
		return ""
	}
	return "(" + strings.Join(sel, ",") + ")"
}

// orderCompare orders values for $orderby: nulls first, strings case-insensitively.
func orderCompare(a, b val) int {
	if a.kind == vNull || b.kind == vNull {
		switch {
		case a.kind == b.kind:
			return 0
		case a.kind == vNull:
			return -1
		}
		return 1
	}
	if a.kind != b.kind {
		return strings.Compare(a.String(), b.String())
	}
	switch a.kind {
	case vString:
		return strings.Compare(fold(a.s), fold(b.s))
	case vNumber:
		switch {
		case a.n < b.n:
			return -1
		case a.n > b.n:
			return 1
		}
		return 0
	case vTime:
		return a.t.Compare(b.t)
	case vBool:
		switch {
		case a.b == b.b:
			return 0
		case !a.b:
			return -1
		}
		return 1
	}
	return strings.Compare(a.s, b.s)
}

// retrieve handles GET /<entityset>(<id>).
func (rq *request) retrieve(td *tableData, id string) *apiError {
	t := td.def
	for k := range rq.r.URL.Query() {
		if strings.HasPrefix(k, "$") && k != "$select" {
			if note, ok := supportedOptions[k]; !ok || note != "" {
				return querySyntax("The query parameter %s is not supported", k)
			}
		}
	}
	sel, aerr := rq.selectList(t)
	if aerr != nil {
		return aerr
	}
	r := rq.e.store.get(t.LogicalName, id)
	if r == nil {
		return notFound(t.LogicalName, id)
	}
	annotations := preferences(rq.r)["odata.include-annotations"] != ""
	out := webRow(t, r, sel, annotations, rq.e.store.primaryName)
	out["@odata.context"] = rq.base() + "$metadata#" + t.EntitySetName + selContext(sel) + "/$entity"
	writeJSON(rq.w, 200, out)
	return nil
}

// metadata serves the part of EntityDefinitions clients use: the entity set name and keys of
// a table, its lookup columns, its object type code.
func (rq *request) metadata(segs []string) *apiError {
	if rq.r.Method != "GET" {
		return methodNotAllowed(rq.r.Method)
	}
	first := segs[0]
	defs := rq.e.tableDefs()
	if first == "EntityDefinitions" {
		if len(segs) > 1 {
			return querySyntax("Bad Request - Error in query syntax.")
		}
		meta := metaTable()
		rows := make([]*row, 0, len(defs))
		for i, d := range defs {
			rows = append(rows, &row{id: metadataID(d.LogicalName), seq: int64(i), attrs: entityMeta(d)})
		}
		o, aerr := rq.parseOptions(meta)
		if aerr != nil {
			return aerr
		}
		value := []map[string]any{}
		for _, r := range rows {
			if o.filter != nil {
				ok, aerr := o.filter.eval(&rowCtx{table: meta, row: r, store: rq.e.store})
				if aerr != nil {
					return aerr
				}
				if !ok {
					continue
				}
			}
			value = append(value, pick(r.attrs, o.sel))
		}
		writeJSON(rq.w, 200, map[string]any{"@odata.context": rq.base() + "$metadata#EntityDefinitions" + selContext(o.sel), "value": value})
		return nil
	}
	m := regexp.MustCompile(`^EntityDefinitions\((?:LogicalName='([a-z_][a-z0-9_]*)'|([0-9a-fA-F-]{36}))\)$`).FindStringSubmatch(first)
	if m == nil {
		return querySyntax("Bad Request - Error in query syntax.")
	}
	var def *Table
	for _, d := range defs {
		if d.LogicalName == m[1] || (m[2] != "" && metadataID(d.LogicalName) == strings.ToLower(m[2])) {
			def = d
		}
	}
	if def == nil {
		return &apiError{status: 404, code: "0x80060888", message: fmt.Sprintf("Could not find entity with name '%s'.", m[1]+m[2])}
	}
	sel := splitSelect(rq.r.URL.Query().Get("$select"))
	switch {
	case len(segs) == 1:
		out := pick(entityMeta(def), sel)
		out["@odata.context"] = rq.base() + "$metadata#EntityDefinitions" + selContext(sel) + "/$entity"
		writeJSON(rq.w, 200, out)
		return nil
	case len(segs) == 3 && segs[1] == "ObjectTypeCode" && segs[2] == "$value":
		rq.w.Header().Set("Content-Type", "text/plain")
		rq.w.WriteHeader(200)
		_, _ = rq.w.Write([]byte(strconv.Itoa(def.ObjectTypeCode)))
		return nil
	case segs[1] == "Attributes" && (len(segs) == 2 || len(segs) == 3 && segs[2] == "Microsoft.Dynamics.CRM.LookupAttributeMetadata"):
		onlyLookups := len(segs) == 3
		var value []map[string]any
		for _, name := range def.sortedAttrNames() {
			a := def.Attributes[name]
			if onlyLookups && a.Type != TypeLookup {
				continue
			}
			am := map[string]any{"LogicalName": name, "AttributeType": attributeTypeName(a.Type), "MetadataId": metadataID(def.LogicalName + "." + name),
				"IsValidForRead": !a.WriteOnly}
			if a.Type == TypeLookup {
				am["Targets"] = a.Targets
			}
			value = append(value, pick(am, sel))
		}
		writeJSON(rq.w, 200, map[string]any{"@odata.context": rq.base() + "$metadata#EntityDefinitions('" + def.LogicalName + "')/Attributes", "value": value})
		return nil
	}
	return unsupported("the metadata path %s", strings.Join(segs, "/"))
}

func (e *Emulator) tableDefs() []*Table {
	e.store.mu.RLock()
	defer e.store.mu.RUnlock()
	out := make([]*Table, 0, len(e.store.tables))
	for _, td := range e.store.tables {
		out = append(out, td.def)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LogicalName < out[j].LogicalName })
	return out
}

func metadataID(s string) string { return stableID("metadata/" + s) }

func metaTable() *Table {
	t := &Table{LogicalName: "entitymetadata", EntitySetName: "EntityDefinitions", PrimaryIDAttribute: "MetadataId", Strict: true,
		Attributes: map[string]Attr{"LogicalName": str(), "EntitySetName": str(), "PrimaryIdAttribute": str(),
			"PrimaryNameAttribute": str(), "ObjectTypeCode": {Type: TypeInt}, "MetadataId": {Type: TypeGUID}}}
	return t
}

func entityMeta(d *Table) map[string]any {
	return map[string]any{"LogicalName": d.LogicalName, "EntitySetName": d.EntitySetName, "PrimaryIdAttribute": d.PrimaryIDAttribute,
		"PrimaryNameAttribute": d.PrimaryNameAttribute, "ObjectTypeCode": jsonInt(int64(d.ObjectTypeCode)), "MetadataId": metadataID(d.LogicalName)}
}

func pick(m map[string]any, sel []string) map[string]any {
	if sel == nil {
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	out := map[string]any{}
	for _, k := range sel {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	if id, ok := m["MetadataId"]; ok {
		out["MetadataId"] = id
	}
	return out
}

func splitSelect(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

func attributeTypeName(t AttrType) string {
	switch t {
	case TypeString:
		return "String"
	case TypeInt:
		return "Integer"
	case TypeDecimal:
		return "Decimal"
	case TypeMoney:
		return "Money"
	case TypeBool:
		return "Boolean"
	case TypeDateTime, TypeDateOnly:
		return "DateTime"
	case TypeChoice:
		return "Picklist"
	case TypeChoices:
		return "Virtual"
	case TypeLookup:
		return "Lookup"
	case TypeGUID:
		return "Uniqueidentifier"
	}
	return "String"
}

// pageInOrder returns up to n rows matching o's filter in insertion order, after the paging
// cookie's seq. The caller holds the store's read lock.
func pageInOrder(td *tableData, o *queryOptions, s *store, n int) ([]*row, *apiError) {
	start := 0
	if o.skip != nil {
		start = sort.Search(len(td.order), func(i int) bool { return td.order[i].seq > o.skip.seq })
	}
	rows := make([]*row, 0, min(n, len(td.rows)))
	for _, e := range td.order[start:] {
		r, ok := td.rows[e.id]
		if !ok || r.seq != e.seq {
			continue // deleted (or deleted and re-created under the same id: listed later)
		}
		if o.filter != nil {
			ok, aerr := o.filter.eval(&rowCtx{table: td.def, row: r, store: s})
			if aerr != nil {
				return nil, aerr
			}
			if !ok {
				continue
			}
		}
		rows = append(rows, r)
		if len(rows) == n {
			break
		}
	}
	return rows, nil
}
