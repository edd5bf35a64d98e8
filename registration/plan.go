// Package registration creates, checks and removes the Dataverse webhook registration of
// dedupegate: one service endpoint (contract 8 Webhook) and the sdkmessageprocessingsteps and
// images the rules need (dataverse-facts.md §5). Everything it creates is named with a prefix
// ("dedupegate" by default) so that unregister removes exactly that and status can tell its own
// steps from anyone else's.
package registration

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/dedupegate/dedupegate/rules"
)

// Option values of the registration tables (dataverse-facts.md §4, §5).
const (
	contractWebhook      = 8
	messageFormatJSON    = 2
	connectionModeNormal = 1
	authWebhookKey       = 4
	authHTTPHeader       = 5
	authHTTPQueryString  = 6
	imagePre             = 0
	imagePost            = 1
)

// DefaultPrefix names everything register creates.
const DefaultPrefix = "dedupegate"

// Auth is how the service endpoint presents the webhook secret; it mirrors
// config.WebhookAuth.
type Auth struct {
	// Type is header (HttpHeader, authtype 5), webhookkey (authtype 4, ?code=) or querystring
	// (HttpQueryString, authtype 6).
	Type string
	// Name is the header or query parameter name (ignored for webhookkey).
	Name string
	// Secret is the value. It is written to the endpoint's authvalue and never printed.
	Secret string
}

// Options describe the registration to create.
type Options struct {
	// Prefix names the endpoint and starts every step name. Defaults to DefaultPrefix.
	Prefix string
	// WebhookURL is the gateway's webhook URL as Dataverse reaches it (https, port 443).
	WebhookURL string
	Auth       Auth
}

// Plan is the registration the rules need.
type Plan struct {
	Prefix   string
	Endpoint EndpointSpec
	Steps    []StepSpec
}

// EndpointSpec is the webhook service endpoint.
type EndpointSpec struct {
	Name, URL, Description string
	AuthType               int
	authValue              string
}

// StepSpec is one sdkmessageprocessingstep with its images.
type StepSpec struct {
	Name    string
	Table   string
	Message string // Create, Update, Delete
	Stage   int    // 10, 20, 40
	Mode    int    // 0 sync, 1 async
	Rank    int
	// FilteringAttributes (Update only): the step runs only when one of them is in the request.
	FilteringAttributes []string
	AsyncAutoDelete     bool
	Images              []ImageSpec
}

// ImageSpec is one sdkmessageprocessingstepimage.
type ImageSpec struct {
	Name            string
	Alias           string
	Type            int // 0 PreImage, 1 PostImage
	Attributes      []string
	MessageProperty string // Target, or Id for Create
}

func stageName(stage int) string {
	switch stage {
	case 10:
		return "PreValidation"
	case 20:
		return "PreOperation"
	case 40:
		return "PostOperation"
	}
	return fmt.Sprint(stage)
}

func modeName(mode int) string {
	if mode == 1 {
		return "async"
	}
	return "sync"
}

// StepName is the name register gives a step: "<prefix>: <Message> of <table> (<stage>, <mode>)".
func StepName(prefix, message, table string, stage, mode int) string {
	return fmt.Sprintf("%s: %s of %s (%s, %s)", prefix, message, table, stageName(stage), modeName(mode))
}

// Desired computes the registration set needs:
//
//   - for each table a rule checks (set.Tables()): synchronous PreValidation steps on Create and
//     on Update; the Update step filtered to the attributes the rules read of that table
//     (set.WatchedAttrs) and carrying a pre-image of them, so the gateway sees the whole row;
//   - for each table the index holds (set.CandidateTables()): asynchronous PostOperation steps
//     on Create (post-image, message property Id), Update (pre- and post-image, filtered to the
//     indexed attributes) and Delete (pre-image), images carrying set.IndexedAttrs.
func Desired(set *rules.Set, o Options) (*Plan, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(o.Prefix, "'\":") || strings.TrimSpace(o.Prefix) != o.Prefix {
		return nil, fmt.Errorf("prefix %q must not contain quotes or colons or surrounding spaces", o.Prefix)
	}
	u, err := url.Parse(o.WebhookURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("webhook URL %q is not an absolute http(s) URL", o.WebhookURL)
	}
	if u.RawQuery != "" {
		return nil, errors.New("the webhook URL must not carry a query string (the secret goes in the auth settings)")
	}
	authType, authValue, err := authValueFor(o.Auth)
	if err != nil {
		return nil, err
	}
	p := &Plan{Prefix: o.Prefix, Endpoint: EndpointSpec{Name: o.Prefix, URL: o.WebhookURL, AuthType: authType, authValue: authValue,
		Description: "dedupegate duplicate gateway. Managed by 'dedupegate register': do not edit by hand."}}
	for _, table := range set.Tables() {
		watched := normalise(set.WatchedAttrs(table))
		if len(watched) == 0 {
			continue
		}
		p.Steps = append(p.Steps,
			StepSpec{Name: StepName(o.Prefix, "Create", table, 10, 0), Table: table, Message: "Create", Stage: 10, Mode: 0, Rank: 1},
			StepSpec{Name: StepName(o.Prefix, "Update", table, 10, 0), Table: table, Message: "Update", Stage: 10, Mode: 0, Rank: 1,
				FilteringAttributes: watched,
				Images:              []ImageSpec{{Name: "PreImage", Alias: "PreImage", Type: imagePre, Attributes: watched, MessageProperty: "Target"}}},
		)
	}
	for _, table := range set.CandidateTables() {
		indexed := normalise(set.IndexedAttrs(table))
		if len(indexed) == 0 {
			continue
		}
		imgAttrs := indexed
		p.Steps = append(p.Steps,
			StepSpec{Name: StepName(o.Prefix, "Create", table, 40, 1), Table: table, Message: "Create", Stage: 40, Mode: 1, Rank: 1, AsyncAutoDelete: true,
				Images: []ImageSpec{{Name: "PostImage", Alias: "PostImage", Type: imagePost, Attributes: imgAttrs, MessageProperty: "Id"}}},
			StepSpec{Name: StepName(o.Prefix, "Update", table, 40, 1), Table: table, Message: "Update", Stage: 40, Mode: 1, Rank: 1, AsyncAutoDelete: true,
				FilteringAttributes: indexed,
				Images: []ImageSpec{
					{Name: "PreImage", Alias: "PreImage", Type: imagePre, Attributes: imgAttrs, MessageProperty: "Target"},
					{Name: "PostImage", Alias: "PostImage", Type: imagePost, Attributes: imgAttrs, MessageProperty: "Target"},
				}},
			StepSpec{Name: StepName(o.Prefix, "Delete", table, 40, 1), Table: table, Message: "Delete", Stage: 40, Mode: 1, Rank: 1, AsyncAutoDelete: true,
				Images: []ImageSpec{{Name: "PreImage", Alias: "PreImage", Type: imagePre, Attributes: imgAttrs, MessageProperty: "Target"}}},
		)
	}
	sort.Slice(p.Steps, func(i, j int) bool { return p.Steps[i].Name < p.Steps[j].Name })
	return p, nil
}

// authValueFor renders the endpoint's authtype and authvalue. HttpHeader and HttpQueryString
// take <settings><setting name=".." value=".."/></settings> (the format public registration
// tools use; for HttpQueryString UNCONFIRMED); WebhookKey takes the bare key.
func authValueFor(a Auth) (int, string, error) {
	if a.Secret == "" {
		return 0, "", errors.New("no webhook secret to register")
	}
	switch a.Type {
	case "", "header", "querystring":
		name := a.Name
		if name == "" {
			name = "x-dedupegate-secret"
		}
		if strings.ContainsAny(name, " \t\r\n:") {
			return 0, "", fmt.Errorf("%q is not a valid header or parameter name", name)
		}
		var b strings.Builder
		b.WriteString(`<settings><setting name="`)
		_ = xml.EscapeText(&b, []byte(name))
		b.WriteString(`" value="`)
		_ = xml.EscapeText(&b, []byte(a.Secret))
		b.WriteString(`" /></settings>`)
		if len(b.String()) > 2048 {
			return 0, "", errors.New("the auth value is longer than Dataverse's 2048 characters")
		}
		if a.Type == "querystring" {
			return authHTTPQueryString, b.String(), nil
		}
		return authHTTPHeader, b.String(), nil
	case "webhookkey":
		return authWebhookKey, a.Secret, nil
	}
	return 0, "", fmt.Errorf("unknown webhook auth type %q (header, webhookkey, querystring)", a.Type)
}

// normalise lower-cases, de-duplicates and sorts attribute names.
func normalise(attrs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range attrs {
		a = strings.ToLower(strings.TrimSpace(a))
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

func splitAttrs(s string) []string { return normalise(strings.Split(s, ",")) }

func sameSet(a, b []string) bool {
	a, b = normalise(a), normalise(b)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
