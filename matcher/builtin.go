package matcher

// The built-in reference lists below were written for dedupegate so that the product works
// without any data file. They cover the most common English given names and the most common
// legal forms; LoadLexicon adds the larger files when they are configured or present.

// builtinNicknames maps a formal English given name to its common short forms.
var builtinNicknames = map[string][]string{
	"abigail":     {"abby", "abbie", "gail"},
	"albert":      {"al", "bert", "bertie"},
	"alexander":   {"alex", "al", "sandy", "xander", "sasha"},
	"alexandra":   {"alex", "sandra", "sandy", "lexi", "sasha"},
	"alfred":      {"alf", "alfie", "fred", "freddie"},
	"allison":     {"ali", "allie"},
	"amanda":      {"mandy", "manda"},
	"andrew":      {"andy", "drew"},
	"angela":      {"angie"},
	"ann":         {"annie", "nan", "nancy"},
	"anne":        {"annie", "nan", "nancy"},
	"anna":        {"annie"},
	"anthony":     {"tony", "ant"},
	"barbara":     {"barb", "babs", "barbie"},
	"benjamin":    {"ben", "benny", "benji"},
	"caroline":    {"carol", "carrie", "caro"},
	"carolyn":     {"carol", "carrie"},
	"catherine":   {"cathy", "kate", "katie", "cat", "kitty"},
	"charles":     {"charlie", "chuck", "chas", "chaz"},
	"christina":   {"chris", "chrissy", "tina", "kris"},
	"christine":   {"chris", "chrissy", "tina", "kris"},
	"christopher": {"chris", "kit", "topher", "kris"},
	"cynthia":     {"cindy"},
	"daniel":      {"dan", "danny"},
	"david":       {"dave", "davy", "davie"},
	"deborah":     {"debbie", "deb", "debby"},
	"donald":      {"don", "donnie"},
	"dorothy":     {"dot", "dottie", "dolly"},
	"douglas":     {"doug"},
	"edward":      {"ed", "eddie", "eddy", "ted", "teddy", "ned"},
	"eleanor":     {"ellie", "nell", "nora", "elle"},
	"elizabeth":   {"liz", "lizzie", "lizzy", "beth", "betty", "bess", "betsy", "eliza", "libby", "lisa"},
	"eugene":      {"gene"},
	"frances":     {"fran", "frankie", "fanny"},
	"francis":     {"frank", "frankie", "fran"},
	"frederick":   {"fred", "freddie", "freddy", "rick"},
	"gabriel":     {"gabe"},
	"gabrielle":   {"gabby", "gaby", "elle"},
	"gerald":      {"gerry", "jerry"},
	"gregory":     {"greg"},
	"harold":      {"harry", "hal"},
	"helen":       {"nell", "nellie"},
	"henry":       {"harry", "hank", "hal"},
	"isabel":      {"izzy", "bella", "isa"},
	"isabella":    {"izzy", "bella", "isa"},
	"jacob":       {"jake"},
	"jacqueline":  {"jackie", "jacqui"},
	"james":       {"jim", "jimmy", "jamie", "jem"},
	"jeffrey":     {"jeff"},
	"jennifer":    {"jen", "jenny"},
	"jessica":     {"jess", "jessie"},
	"john":        {"jack", "johnny", "jon"},
	"jonathan":    {"jon", "jonny", "nathan"},
	"joseph":      {"joe", "joey"},
	"joshua":      {"josh"},
	"judith":      {"judy", "jude"},
	"katherine":   {"kathy", "kate", "katie", "kat", "kitty"},
	"kathryn":     {"kathy", "kate", "katie"},
	"kenneth":     {"ken", "kenny"},
	"kimberly":    {"kim"},
	"lawrence":    {"larry", "laurie"},
	"leonard":     {"len", "lenny", "leo"},
	"louisa":      {"lou", "lulu"},
	"louise":      {"lou", "lulu"},
	"madeleine":   {"maddie", "maddy"},
	"madeline":    {"maddie", "maddy"},
	"margaret":    {"maggie", "meg", "peggy", "marge", "margie", "greta"},
	"martha":      {"marty", "mattie"},
	"martin":      {"marty"},
	"mary":        {"molly", "polly", "mae", "mamie"},
	"matthew":     {"matt", "matty"},
	"michael":     {"mike", "mikey", "mick", "micky", "mickey"},
	"mitchell":    {"mitch"},
	"montgomery":  {"monty"},
	"nathaniel":   {"nate", "nat", "nathan"},
	"nicholas":    {"nick", "nicky", "nico"},
	"olivia":      {"liv", "livvy"},
	"pamela":      {"pam"},
	"patricia":    {"pat", "patty", "trish", "tricia"},
	"patrick":     {"pat", "paddy"},
	"penelope":    {"penny"},
	"peter":       {"pete"},
	"philip":      {"phil", "pip"},
	"phillip":     {"phil"},
	"raymond":     {"ray"},
	"rebecca":     {"becky", "becca", "bec"},
	"richard":     {"dick", "rick", "ricky", "rich", "richie"},
	"robert":      {"bob", "bobby", "rob", "robbie", "robby", "bert"},
	"ronald":      {"ron", "ronnie"},
	"samantha":    {"sam", "sammy"},
	"samuel":      {"sam", "sammy"},
	"sandra":      {"sandy"},
	"sarah":       {"sally", "sadie"},
	"sara":        {"sally"},
	"sophia":      {"sophie"},
	"stephanie":   {"steph", "stevie"},
	"stephen":     {"steve", "stevie"},
	"steven":      {"steve", "stevie"},
	"susan":       {"sue", "susie", "suzy"},
	"terence":     {"terry"},
	"theodore":    {"ted", "teddy", "theo"},
	"thomas":      {"tom", "tommy", "thom"},
	"timothy":     {"tim", "timmy"},
	"victoria":    {"vicky", "vicki", "tori"},
	"vincent":     {"vince", "vinny"},
	"virginia":    {"ginny", "ginger"},
	"walter":      {"walt", "wally"},
	"william":     {"bill", "billy", "will", "willy", "willie", "liam"},
	"zachary":     {"zach", "zack"},
}

// builtinLegalForms maps a canonical legal form to its spellings.
var builtinLegalForms = map[string][]string{
	"inc":    {"incorporated", "inc."},
	"corp":   {"corporation", "corp."},
	"co":     {"company", "co."},
	"ltd":    {"limited", "ltd.", "co ltd", "company limited", "pty ltd", "pte ltd", "proprietary limited", "private limited"},
	"llc":    {"l.l.c.", "limited liability company"},
	"llp":    {"l.l.p.", "limited liability partnership"},
	"lp":     {"l.p.", "limited partnership"},
	"plc":    {"p.l.c.", "public limited company"},
	"pllc":   {"professional limited liability company"},
	"pc":     {"p.c.", "professional corporation"},
	"pty":    {"proprietary"},
	"pte":    {"private"},
	"gmbh":   {"gesellschaft mit beschrankter haftung", "gmbh & co kg", "gmbh und co kg"},
	"ag":     {"aktiengesellschaft"},
	"kg":     {"kommanditgesellschaft"},
	"ohg":    {"offene handelsgesellschaft"},
	"ug":     {"unternehmergesellschaft", "ug haftungsbeschrankt"},
	"sa":     {"s.a.", "societe anonyme", "sociedad anonima"},
	"sarl":   {"s.a.r.l.", "societe a responsabilite limitee"},
	"sas":    {"s.a.s.", "societe par actions simplifiee"},
	"srl":    {"s.r.l.", "societa a responsabilita limitata", "sociedad de responsabilidad limitada"},
	"spa":    {"s.p.a.", "societa per azioni"},
	"sl":     {"s.l.", "sociedad limitada"},
	"bv":     {"b.v.", "besloten vennootschap"},
	"nv":     {"n.v.", "naamloze vennootschap"},
	"ab":     {"aktiebolag"},
	"as":     {"aksjeselskap", "aktieselskab"},
	"asa":    {"allmennaksjeselskap"},
	"aps":    {"anpartsselskab"},
	"oy":     {"osakeyhtio"},
	"oyj":    {"julkinen osakeyhtio"},
	"kk":     {"kabushiki kaisha"},
	"se":     {"societas europaea"},
	"lda":    {"limitada"},
	"ltda":   {},
	"sp zoo": {"sp z o o", "spolka z ograniczona odpowiedzialnoscia"},
	"sro":    {"s.r.o.", "spolecnost s rucenim omezenym"},
	"ooo":    {"obshchestvo s ogranichennoy otvetstvennostyu"},
}

// builtinPlaceholderValues never match in any attribute (compared after Fold).
var builtinPlaceholderValues = []string{
	"test", "testing", "tester", "n/a", "n.a.", "none", "null", "nil", "unknown", "not known",
	"not applicable", "not available", "tbd", "tba", "tbc", "xx", "xxx", "xxxx", "asdf", "qwerty",
	"dummy", "sample", "noname", "no name", "anonymous", "nobody", "no one", "-", ".", "?", "0",
	"123", "1234", "12345", "abc", "abcd", "aaa", "blank", "empty", "nothing", "unspecified",
	"unnamed", "default", "delete", "do not use", "duplicate",
}

// builtinPlaceholderEmailLocals are mailbox names of shared or role addresses: info@, sales@.
var builtinPlaceholderEmailLocals = []string{
	"info", "sales", "admin", "administrator", "contact", "contactus", "contact-us", "office",
	"hello", "hi", "support", "help", "helpdesk", "noreply", "no-reply", "donotreply",
	"do-not-reply", "enquiries", "enquiry", "inquiries", "inquiry", "mail", "email", "accounts",
	"accounting", "billing", "invoice", "invoices", "hr", "jobs", "careers", "marketing",
	"reception", "webmaster", "postmaster", "hostmaster", "abuse", "team", "service",
	"customerservice", "customer-service", "orders", "general", "enquire", "test", "none",
	"unknown", "null", "na", "noemail", "nomail", "no-email",
}

// builtinPlaceholderEmailDomains are domains that never hold a real person's mailbox.
//
// The RFC 2606 example.com/.org/.net domains are not listed: demos and tests use them as real
// addresses. Add them (placeholders.email_domains) if your data uses them as filler.
var builtinPlaceholderEmailDomains = []string{
	"test.com", "domain.com", "none.com", "noemail.com", "no-email.com", "nomail.com",
	"email.invalid", "invalid", "localhost",
}

// builtinPlaceholderDates are dates systems fill in for "unknown".
var builtinPlaceholderDates = []string{
	"1900-01-01", "1899-12-30", "1899-12-31", "0001-01-01", "9999-12-31", "1901-01-01",
}

// streetTypes maps street-type words and their abbreviations to one canonical abbreviation.
var streetTypes = map[string]string{
	"street": "st", "str": "st", "st": "st", "strt": "st",
	"road": "rd", "rd": "rd",
	"avenue": "ave", "ave": "ave", "av": "ave", "aven": "ave", "avenu": "ave",
	"boulevard": "blvd", "blvd": "blvd", "boul": "blvd", "blv": "blvd",
	"drive": "dr", "dr": "dr", "drv": "dr",
	"lane": "ln", "ln": "ln",
	"court": "ct", "ct": "ct", "crt": "ct",
	"place": "pl", "pl": "pl",
	"crescent": "cres", "cres": "cres", "cresc": "cres", "crs": "cres",
	"circuit": "cct", "cct": "cct", "circ": "cct",
	"circle": "cir", "cir": "cir",
	"terrace": "tce", "tce": "tce", "terr": "tce", "ter": "tce",
	"highway": "hwy", "hwy": "hwy",
	"parade": "pde", "pde": "pde",
	"square": "sq", "sq": "sq",
	"close": "cl", "cl": "cl",
	"grove": "gr", "gr": "gr", "gv": "gr",
	"parkway": "pkwy", "pkwy": "pkwy", "pky": "pkwy",
	"way": "way", "wy": "way",
	"alley": "aly", "aly": "aly",
	"esplanade": "esp", "esp": "esp",
	"expressway": "expy", "expy": "expy",
	"freeway": "fwy", "fwy": "fwy",
	"trail": "trl", "trl": "trl",
	"walk": "wlk", "wlk": "wlk",
	"row":     "row",
	"mews":    "mews",
	"gardens": "gdns", "gdns": "gdns",
	"plaza": "plz", "plz": "plz",
	"strasse": "st",
}

// gluedStreetTypes are the long street types recognised when glued to the name
// ("pridhamstreet" → "pridham st").
var gluedStreetTypes = []string{"street", "road", "avenue", "place", "crescent", "drive", "circuit", "close", "terrace", "court", "lane", "parade", "grove", "boulevard", "highway"}

// directions maps compass words to their abbreviation.
var directions = map[string]string{
	"north": "n", "south": "s", "east": "e", "west": "w",
	"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
}

// unitWords introduce a unit, flat or suite number.
var unitWords = map[string]bool{
	"apartment": true, "apt": true, "unit": true, "suite": true, "ste": true, "flat": true,
	"room": true, "rm": true, "lot": true, "shop": true,
}

// companyWords are spelling variants in organisation names mapped to one form.
var companyWords = map[string]string{
	"centre": "center", "ctr": "center", "cntr": "center", "theatre": "theater",
	"intl": "international", "assn": "association", "assoc": "association",
	"dept": "department", "univ": "university", "mgmt": "management", "svcs": "services",
	"svc": "service", "bros": "brothers", "mfg": "manufacturing", "natl": "national",
}

// countryRegions maps common country names and codes (folded) to ISO 3166 regions, for the
// default phone region of a record.
var countryRegions = map[string]string{
	"united kingdom": "GB", "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB",
	"scotland": "GB", "wales": "GB", "northern ireland": "GB",
	"united states": "US", "united states of america": "US", "usa": "US", "us": "US", "america": "US",
	"canada": "CA", "australia": "AU", "new zealand": "NZ", "ireland": "IE", "eire": "IE",
	"germany": "DE", "deutschland": "DE", "france": "FR", "spain": "ES", "espana": "ES",
	"italy": "IT", "italia": "IT", "netherlands": "NL", "the netherlands": "NL", "holland": "NL",
	"belgium": "BE", "belgique": "BE", "switzerland": "CH", "schweiz": "CH", "suisse": "CH",
	"austria": "AT", "osterreich": "AT", "sweden": "SE", "sverige": "SE", "norway": "NO",
	"norge": "NO", "denmark": "DK", "danmark": "DK", "finland": "FI", "suomi": "FI",
	"poland": "PL", "polska": "PL", "portugal": "PT", "greece": "GR", "czech republic": "CZ",
	"czechia": "CZ", "hungary": "HU", "romania": "RO", "india": "IN", "china": "CN",
	"japan": "JP", "south africa": "ZA", "brazil": "BR", "brasil": "BR", "mexico": "MX",
	"argentina": "AR", "singapore": "SG", "hong kong": "HK", "israel": "IL",
	"united arab emirates": "AE", "uae": "AE", "saudi arabia": "SA", "turkey": "TR",
	"turkiye": "TR", "russia": "RU", "russian federation": "RU", "ukraine": "UA",
	"south korea": "KR", "korea": "KR", "philippines": "PH", "malaysia": "MY", "indonesia": "ID",
	"thailand": "TH", "vietnam": "VN", "nigeria": "NG", "kenya": "KE", "egypt": "EG",
	"luxembourg": "LU", "iceland": "IS", "chile": "CL", "colombia": "CO", "peru": "PE",
}
