package matcher

// Record is one row as the engine sees it: its table, its id and the string form of the
// attributes the rules read (see dataverse.Entity.StringAttrs).
type Record struct {
	Entity string            `json:"entity"`
	ID     string            `json:"id"`
	Attrs  map[string]string `json:"attrs"`
}

// FieldSpec says how one attribute pair is compared inside a rule.
type FieldSpec struct {
	// Attr is the attribute of the record being checked.
	Attr string
	// CandidateAttr is the attribute of the candidate; empty means Attr (cross-table rules set
	// it when the names differ, e.g. lead.emailaddress1 vs contact.emailaddress1).
	CandidateAttr string
	// Comparator names the comparison: exact, normalized, jarowinkler, levenshtein, damerau,
	// personname, firstname, lastname, email, phone, company, address, date.
	Comparator string
	// Weight is the field's share of the rule's score.
	Weight float64
	// Required fields must reach MinSimilarity or the pair does not match at all.
	Required      bool
	MinSimilarity float64
	// Blocking marks the fields whose normalised values make blocking keys.
	Blocking bool
	// Strong marks exact identifiers (normalised email, phone) that are reserved against
	// concurrent creates.
	Strong bool
}

// RuleSpec is a rule as the rules package hands it to Compile.
type RuleSpec struct {
	Name            string
	Entity          string // table of the record being checked
	CandidateEntity string // table searched; empty means Entity
	Fields          []FieldSpec
	// DefaultRegion is the ISO 3166 region for phone numbers without a country code.
	DefaultRegion string
	// CountryAttr names the attribute holding the record's country, used before DefaultRegion.
	CountryAttr string
}

// Result is the outcome of scoring one pair under one rule.
type Result struct {
	// Score is in [0,1]; 0 when a required field failed.
	Score  float64
	Fields []FieldResult
	// Reasons are short human phrases, one per contributing field
	// ("email equal after normalisation", "first name Bob ~ Robert (nickname)").
	Reasons []string
}

// FieldResult is the similarity of one attribute pair.
type FieldResult struct {
	Attr       string  `json:"attr"`
	Similarity float64 `json:"similarity"`
	Note       string  `json:"note,omitempty"`
}
