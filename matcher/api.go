package matcher

// Record is one row as the engine sees it: its table, its id and the string form of the
// attributes the rules read (see dataverse.Entity.StringAttrs).
type Record struct {
	Entity string            `json:"entity"`
	ID     string            `json:"id"`
	Attrs  map[string]string `json:"attrs"`
	// Packed holds the attributes packed (PackAttrs) when Attrs is nil: how an in-process
	// index hands out candidates without building a map for each. Read attributes with Attr,
	// or Unpacked for a map. Never set together with Attrs.
	Packed string `json:"-"`
	// Form is the record's prepared values as an in-process index keeps them (see
	// Rule.IndexEntry and PrepareCandidateWith); empty for records read from elsewhere. It
	// never leaves the process: its sections are tied to this process's compiled rules.
	Form string `json:"-"`
}

// FieldSpec says how one attribute pair is compared inside a rule.
type FieldSpec struct {
	// Attr is the attribute of the record being checked.
	Attr string
	// CandidateAttr is the attribute of the candidate; empty means Attr (cross-table rules set
	// it when the names differ, e.g. lead.emailaddress1 vs contact.emailaddress1).
	CandidateAttr string
	// Comparator names the comparison: exact, normalized, jarowinkler, levenshtein, damerau,
	// personname, firstname, lastname, email, phone, company, address, date, postcode,
	// identifier (see Comparators).
	Comparator string
	// Weight is the field's share of the rule's score (weighted scoring; 0 means 1), or the
	// points a full agreement adds (evidence scoring; 0 means the comparator's default).
	Weight float64
	// Required fields must reach MinSimilarity or the pair does not match at all.
	Required      bool
	MinSimilarity float64
	// Blocking marks the fields whose normalised values make blocking keys.
	Blocking bool
	// Strong marks exact identifiers (normalised email, phone) that are reserved against
	// concurrent creates.
	Strong bool

	// Label is the field's name in explanations ("first name"); empty: derived from Attr.
	Label string
	// Penalty is the points a disagreement subtracts (evidence scoring only; 0: none).
	Penalty float64
	// Floor is the similarity at or below which the values disagree (evidence scoring); between
	// Floor and 1 the points grow linearly from 0 to Weight. 0 means the comparator's default.
	Floor float64
	// Placeholders are extra values of this attribute that never match (compared after the
	// comparator's normalisation), on top of the rule's and the built-in placeholders.
	Placeholders []string
	// ProviderRules applies mailbox-provider rules to emails: Gmail ignores dots and +tags in
	// the local part (googlemail.com is gmail.com); Outlook, iCloud, Yahoo and Fastmail ignore
	// +tags. Only for the email comparator.
	ProviderRules bool
}

// Scoring modes of a RuleSpec.
const (
	// ScoringWeighted: the score is the weighted mean of the field similarities over the
	// fields filled on both sides (blank values are ignored, as in Dataverse's duplicate
	// detection rules).
	ScoringWeighted = "weighted"
	// ScoringEvidence: each field adds points for agreement and subtracts its penalty for
	// disagreement (a Fellegi-Sunter style log2 Bayes factor); the score is the match
	// probability 1/(1+2^-(Prior+points)). Blank values add nothing.
	ScoringEvidence = "evidence"
)

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

	// Scoring is ScoringWeighted (the default) or ScoringEvidence.
	Scoring string
	// Prior is the evidence score's starting points (usually negative: most candidate pairs are
	// not duplicates). Evidence scoring only.
	Prior float64
	// Keys are composite blocking keys, in addition to the single-field keys of Blocking fields.
	Keys []KeySpec
	// Placeholders are values that never match, on top of the built-in lists.
	Placeholders Placeholders
	// ExplainMin is the score from which Score fills Result.Fields and Result.Reasons; below it
	// only Result.Score is set, which keeps scoring of non-matches free of allocations. 0 always
	// explains. The rules package sets it to the rule's warn threshold.
	ExplainMin float64
	// CandidateCache is the number of prepared candidates the rule keeps so that a candidate
	// found again is not normalised again (0: DefaultCandidateCache; negative: no cache).
	CandidateCache int
	// NoNameSwap turns off the check for first and last names entered the wrong way round
	// (it applies when the rule has one firstname and one lastname field).
	NoNameSwap bool
}

// KeySpec is one blocking key made of the transformed values of one or more fields. A record
// without a value for any part has no such key.
type KeySpec struct {
	// Name labels the key in the index (short; empty: derived from the parts).
	Name  string
	Parts []KeyPart
	// Unordered sorts the parts' values before hashing, so that the key does not depend on
	// which field holds which value: [firstname:phonetic, lastname:phonetic] unordered files
	// "John Smith" and "Smith John" (names entered the wrong way round) under one key.
	Unordered bool
	// MaxBlock makes a broad key (surname + city, a birth date) count only while it is
	// selective: a lookup skips the key when more than MaxBlock records are filed under it
	// (block purging). Such keys find typo'd re-entries in a small table; in a large one their
	// blocks hold hundreds of unrelated people, and any sample of them would be noise that costs
	// a score each. 0: no maximum (the engine's per_key_limit still caps what is read). Keys
	// sharing a Name share the MaxBlock of the last of them.
	MaxBlock int
}

// KeyPart is one field's contribution to a key.
type KeyPart struct {
	// Attr is the Attr of one of the rule's fields.
	Attr string
	// Transform is value (the comparator's normalised value, the default), phonetic (Double
	// Metaphone of a name), initial (first letter), year (of a date), nickname (the formal name
	// a first name is a nickname of), digits (the last 7 digits of a phone), local (the
	// mailbox name of an email) or token (the first word).
	Transform string
}

// Placeholders lists values that never match: blank, test or role values that many unrelated
// records share.
type Placeholders struct {
	// Values never match in any attribute ("test", "n/a", "unknown"), compared after Fold.
	Values []string
	// EmailLocalParts are mailbox names of shared addresses ("info", "sales").
	EmailLocalParts []string
	// EmailDomains are domains without real mailboxes ("example.com").
	EmailDomains []string
	// Emails are whole addresses.
	Emails []string
	// Phones are numbers shared by many records (a switchboard), in any format.
	Phones []string
	// Dates are dates filled in for "unknown" (any format the date comparator reads).
	Dates []string
	// NoBuiltin drops the built-in lists.
	NoBuiltin bool
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
