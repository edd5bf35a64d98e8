package scan

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
)

// synthPerson is one generated contact.
type synthPerson struct {
	n                                                        int // who this is: rows with the same n are duplicates
	first, last, email, phone, birth, street, city, postcode string
}

var (
	synthFirst = []string{"james", "mary", "robert", "patricia", "john", "jennifer", "michael", "linda",
		"william", "elizabeth", "david", "barbara", "richard", "susan", "joseph", "jessica", "thomas",
		"sarah", "charles", "karen", "chris", "nancy", "daniel", "lisa", "matthew", "betty", "anthony",
		"margaret", "mark", "sandra", "donald", "ashley", "steven", "kim", "paul", "emily", "andrew",
		"donna", "joshua", "michelle", "kenneth", "carol", "kevin", "amanda", "brian", "dorothy",
		"george", "melissa", "timothy", "deborah", "ronald", "stephanie", "edward", "rebecca", "jason",
		"sharon", "jeffrey", "laura", "ryan", "cynthia", "jacob", "kathleen", "gary", "amy", "nicholas",
		"angela", "eric", "shirley", "jonathan", "anna", "stephen", "brenda", "larry", "pamela"}
	synthSyl = []string{"ber", "cal", "dan", "fel", "gor", "har", "jen", "kin", "lam", "mor", "nor",
		"pel", "quin", "ros", "sal", "tor", "vin", "wel", "yat", "zan", "ash", "bro", "cra", "dur",
		"eck", "fin", "gil", "hol", "ing", "jor"}
	synthStreetType = []string{"street", "road", "avenue", "lane", "close", "crescent"}
	synthTown       = []string{"ton", "ford", "by", "ham", "field", "bury", "wick", "stead"}
)

// zipf draws a rank in [0,n) with probability ∝ 1/(rank+1)^0.8: a few values are common and
// most are rare, as with real names.
func zipf(rng *rand.Rand, n int) int {
	// Inverse-CDF of the continuous approximation: F(x) ∝ x^0.2 on [1, n+1].
	u := rng.Float64()
	hi := math.Pow(float64(n+1), 0.2)
	x := math.Pow(1+u*(hi-1), 5) - 1
	return min(int(x), n-1)
}

// newSynthPerson makes person n with realistic spreads: first names Zipf-distributed over
// about a thousand (the 74 common ones first), surnames Zipf over 27,000 three-syllable names,
// birth dates over 65 years, house numbers 1–999 on some 5,400 streets in 240 towns; email
// and phone are unique to n.
func newSynthPerson(rng *rand.Rand, n int) synthPerson {
	s := func(i int) string { return synthSyl[i%len(synthSyl)] }
	fi := zipf(rng, len(synthFirst)+900)
	first := ""
	if fi < len(synthFirst) {
		first = synthFirst[fi]
	} else {
		fi -= len(synthFirst)
		first = s(fi/30) + s(fi) + "a"
	}
	li := zipf(rng, 27000)
	last := s(li/900) + s(li/30) + s(li)
	si := rng.IntN(900 * len(synthStreetType))
	ti := rng.IntN(30 * len(synthTown))
	return synthPerson{
		n: n, first: first, last: last,
		email:    fmt.Sprintf("%s.%s%d@mail%d.net", first, last, n, n%97),
		phone:    fmt.Sprintf("+44 20 %04d %04d", (n/10000)%10000, n%10000),
		birth:    fmt.Sprintf("%04d-%02d-%02d", 1940+rng.IntN(65), 1+rng.IntN(12), 1+rng.IntN(28)),
		street:   fmt.Sprintf("%d %s%s %s", 1+rng.IntN(999), s(si/30), s(si), synthStreetType[si%len(synthStreetType)]),
		city:     s(ti) + synthTown[ti%len(synthTown)],
		postcode: fmt.Sprintf("%c%c%d %d%c%c", 'A'+rng.IntN(26), 'A'+rng.IntN(26), 1+rng.IntN(20), rng.IntN(10), 'A'+rng.IntN(26), 'A'+rng.IntN(26)),
	}
}

// typo changes one letter of s.
func typo(rng *rand.Rand, s string) string {
	if len(s) < 3 {
		return s
	}
	b := []byte(s)
	i := 1 + rng.IntN(len(b)-2)
	b[i] = byte('a' + rng.IntN(26))
	return string(b)
}

const synthHeader = "id,first_name,last_name,email,phone,birth_date,street,city,postcode\n"

func writeSynth(w *bufio.Writer, id string, p synthPerson) {
	fmt.Fprintf(w, "%s,%s,%s,%s,%s,%s,%s,%s,%s\n", id, p.first, p.last, p.email, p.phone, p.birth, p.street, p.city, p.postcode)
}

// synthMapping maps the generated columns to contact attributes.
const synthMapping = "first_name=firstname,last_name=lastname,email=emailaddress1,phone=telephone1," +
	"birth_date=birthdate,street=address1_line1,city=address1_city,postcode=address1_postalcode"

// synthPersonAt is person n of a seed: a pure function, so that an import file can re-enter
// an existing person without the generator holding the CRM in memory.
func synthPersonAt(seed uint64, n int) synthPerson {
	return newSynthPerson(rand.New(rand.NewPCG(seed, uint64(n))), n)
}

// writeSynthFiles writes an export of crmRows existing contacts and an import file of
// importRows rows: a share dupCRM of them re-enter an existing contact (with a typo in the first
// name half of the time), dupFile repeat an earlier row of the import (a typo in the last name
// half of the time), the rest are new people.
func writeSynthFiles(crm, imp io.Writer, crmRows, importRows int, dupCRM, dupFile float64, seed uint64) ([]int32, error) {
	cw := bufio.NewWriterSize(crm, 1<<20)
	cw.WriteString(synthHeader)
	for i := range crmRows {
		writeSynth(cw, fmt.Sprintf("c-%d", i), synthPersonAt(seed, i))
	}
	if err := cw.Flush(); err != nil {
		return nil, err
	}
	truth := make([]int32, importRows)
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	iw := bufio.NewWriterSize(imp, 1<<20)
	iw.WriteString(synthHeader)
	var recent []synthPerson // a window of earlier import rows to repeat
	for i := range importRows {
		var p synthPerson
		switch x := rng.Float64(); {
		case x < dupCRM && crmRows > 0:
			p = synthPersonAt(seed, rng.IntN(crmRows))
			if rng.IntN(2) == 0 {
				p.first = typo(rng, p.first)
			}
		case x < dupCRM+dupFile && len(recent) > 0:
			p = recent[rng.IntN(len(recent))]
			if rng.IntN(2) == 0 {
				p.last = typo(rng, p.last)
			}
		default:
			p = synthPersonAt(seed, crmRows+i)
		}
		if len(recent) < 1000 {
			recent = append(recent, p)
		} else {
			recent[rng.IntN(len(recent))] = p
		}
		truth[i] = int32(p.n)
		writeSynth(iw, fmt.Sprintf("i-%d", i), p)
	}
	return truth, iw.Flush()
}

// synthTruth scores a scan's JSONL results of an import file from writeSynthFiles against the
// truth it returned: how many re-entered CRM contacts and repeated rows were found, and how
// many matches name another person.
func synthTruth(results io.Reader, truth []int32, crmRows int) (string, error) {
	seen := make(map[int32]bool, len(truth))
	var crmDup, crmFound, fileDup, fileFound, wrong, wrongRows int
	dec := json.NewDecoder(results)
	for row := 1; ; row++ {
		var r Result
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", err
		}
		if r.Row != row || row > len(truth) {
			return "", fmt.Errorf("result %d is for row %d", row, r.Row)
		}
		who := truth[row-1]
		isCRM, isFile := int(who) < crmRows, seen[who]
		seen[who] = true
		foundCRM, foundFile, bad := false, false, false
		for _, m := range r.Matches {
			switch {
			case m.Source == SourceCRM && m.ID == fmt.Sprintf("c-%d", who):
				foundCRM = true
			case m.Source == SourceFile && m.Row >= 1 && m.Row < row && truth[m.Row-1] == who:
				foundFile = true
			default:
				wrong++
				bad = true
			}
		}
		if isCRM {
			crmDup++
			if foundCRM {
				crmFound++
			}
		}
		if isFile {
			fileDup++
			if foundFile {
				fileFound++
			}
		}
		if bad {
			wrongRows++
		}
	}
	return fmt.Sprintf("re-entered CRM contacts found %d of %d, repeated rows found %d of %d; %d matches (on %d rows) name another person",
		crmFound, crmDup, fileFound, fileDup, wrong, wrongRows), nil
}
