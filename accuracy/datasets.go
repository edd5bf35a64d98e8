// Package accuracy measures dedupegate's matching on labelled datasets: it replays them through
// the real rules engine (an in-process index filled through Set.IndexKeys, then
// Engine.Evaluate for each checked row) and scores the reported matches against the labels.
// The matcher never sees the labels.
package accuracy

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dedupegate/dedupegate/matcher"
)

// Row is one labelled record: the record the engine sees and the cluster it truly belongs to.
type Row struct {
	Record  matcher.Record
	Cluster string
}

// Dataset file locations inside the datasets folder.
const (
	FebrlDir       = "febrl"
	Fake1000File   = "splink_fake_1000/fake_1000.csv"
	ChicagoFile    = "chicago_childcare/csv_example_input_with_true_ids.csv"
	febrl3File     = "febrl/dataset3.csv"
	febrl4aFile    = "febrl/dataset4a.csv"
	febrl4bFile    = "febrl/dataset4b.csv"
	contactTable   = "contact"
	accountTable   = "account"
	defaultCountry = ""
)

// ErrNoDatasets is returned when the datasets folder does not exist.
var ErrNoDatasets = errors.New("datasets folder not found")

// CheckDir returns ErrNoDatasets (wrapped with the path) when dir is not a folder.
func CheckDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		abs, _ := filepath.Abs(dir)
		return fmt.Errorf("%w: %s (pass --datasets DIR; the labelled data lives in shared/datasets beside the repository)", ErrNoDatasets, abs)
	}
	return nil
}

// readCSV reads a CSV file with a header row into maps keyed by the trimmed header names.
func readCSV(path string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))
	}
	var out []map[string]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		m := make(map[string]string, len(header))
		for i, h := range header {
			if i < len(rec) {
				m[h] = strings.TrimSpace(rec[i])
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// LoadFebrl reads a Febrl file as contacts. Columns map to Dataverse attributes: given_name →
// firstname, surname → lastname, street_number + address_1 → address1_line1, address_2 →
// address1_line2, suburb → address1_city, postcode → address1_postalcode, state →
// address1_stateorprovince, date_of_birth (YYYYMMDD) → birthdate (YYYY-MM-DD when it is a
// well-formed 8-digit value, as typed otherwise), soc_sec_id → governmentid. The cluster is
// the N of rec-N-org / rec-N-dup-k.
func LoadFebrl(path string) ([]Row, error) {
	rows, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	out := make([]Row, 0, len(rows))
	for _, m := range rows {
		id := m["rec_id"]
		parts := strings.Split(id, "-")
		if len(parts) < 3 {
			return nil, fmt.Errorf("%s: unexpected rec_id %q", path, id)
		}
		attrs := map[string]string{}
		set := func(k, v string) {
			if v = strings.TrimSpace(v); v != "" {
				attrs[k] = v
			}
		}
		set("firstname", m["given_name"])
		set("lastname", m["surname"])
		set("address1_line1", strings.TrimSpace(m["street_number"]+" "+m["address_1"]))
		set("address1_line2", m["address_2"])
		set("address1_city", m["suburb"])
		set("address1_postalcode", m["postcode"])
		set("address1_stateorprovince", m["state"])
		dob := m["date_of_birth"]
		if len(dob) == 8 && isDigits(dob) {
			dob = dob[:4] + "-" + dob[4:6] + "-" + dob[6:]
		}
		set("birthdate", dob)
		set("governmentid", m["soc_sec_id"])
		out = append(out, Row{
			Record:  matcher.Record{Entity: contactTable, ID: id, Attrs: attrs},
			Cluster: parts[1],
		})
	}
	return out, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// LoadFake1000 reads Splink's fake_1000 as contacts: first_name → firstname, surname →
// lastname, dob → birthdate, city → address1_city, email → emailaddress1; the cluster column is
// the truth.
func LoadFake1000(path string) ([]Row, error) {
	rows, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	out := make([]Row, 0, len(rows))
	for _, m := range rows {
		attrs := map[string]string{}
		for src, dst := range map[string]string{"first_name": "firstname", "surname": "lastname", "dob": "birthdate", "city": "address1_city", "email": "emailaddress1"} {
			if v := m[src]; v != "" {
				attrs[dst] = v
			}
		}
		out = append(out, Row{
			Record:  matcher.Record{Entity: contactTable, ID: "fake-" + m["unique_id"], Attrs: attrs},
			Cluster: m["cluster"],
		})
	}
	return out, nil
}

// LoadChicago reads the Chicago early-childhood sites as accounts: Site name → name, Address →
// address1_line1, Zip → address1_postalcode, Phone → telephone1, Fax → fax, Email Address →
// emailaddress1, Website → websiteurl; every site is in Chicago (address1_city) and the US
// (address1_country). True Id is the truth.
func LoadChicago(path string) ([]Row, error) {
	rows, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	out := make([]Row, 0, len(rows))
	for _, m := range rows {
		attrs := map[string]string{"address1_city": "Chicago", "address1_country": "US"}
		for src, dst := range map[string]string{"Site name": "name", "Address": "address1_line1", "Zip": "address1_postalcode", "Phone": "telephone1", "Fax": "fax", "Email Address": "emailaddress1", "Website": "websiteurl"} {
			if v := strings.Join(strings.Fields(m[src]), " "); v != "" {
				attrs[dst] = v
			}
		}
		out = append(out, Row{
			Record:  matcher.Record{Entity: accountTable, ID: "site-" + m["Id"], Attrs: attrs},
			Cluster: m["True Id"],
		})
	}
	return out, nil
}

// FileExists reports whether p is a regular file.
func FileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
