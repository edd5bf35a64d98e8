package emulator

import (
	"net/url"
	"strings"

	"github.com/dedupegate/dedupegate/dataverse"
)

// validate applies the registration rules Microsoft documents for the tables dedupegate
// writes (dataverse-facts.md §5), so that a registration bug fails against the emulator as it
// would against Dataverse. attrs is the row as it would be after the write. The exact error
// codes and wording Dataverse uses are UNCONFIRMED except where noted.
func (e *Emulator) validate(t *Table, attrs map[string]any, create bool) *apiError {
	switch t.LogicalName {
	case "serviceendpoint":
		return e.validateEndpoint(attrs)
	case "sdkmessageprocessingstep":
		return e.validateStep(attrs)
	case "sdkmessageprocessingstepimage":
		return e.validateImage(attrs)
	}
	return nil
}

func required(attrs map[string]any, names ...string) *apiError {
	for _, n := range names {
		v := attrs[n]
		if v == nil || v == "" {
			return &apiError{status: 400, code: codeInvalidArg, message: "Attribute '" + n + "' is required."}
		}
	}
	return nil
}

func (e *Emulator) validateEndpoint(a map[string]any) *apiError {
	if err := required(a, "name", "contract"); err != nil {
		return err
	}
	contract, _ := optionValue(a["contract"])
	if contract < 1 || contract > 10 {
		return badRequest("contract %d is not a valid option.", contract)
	}
	if contract != 8 {
		return nil
	}
	if err := required(a, "url", "authtype"); err != nil {
		return err
	}
	u, err := url.Parse(a["url"].(string))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return badRequest("The webhook URL must be an absolute http or https URL.")
	}
	// "Registered WebHooks support only port 80 for HTTP and port 443 for HTTPS": the emulator
	// does not enforce it, so that it can call a gateway on any loopback port.
	at, _ := optionValue(a["authtype"])
	if at != 4 && at != 5 && at != 6 {
		return badRequest("authtype %d is not valid for a webhook (4 WebhookKey, 5 HttpHeader, 6 HttpQueryString).", at)
	}
	if mf, ok := optionValue(a["messageformat"]); ok && mf != 2 {
		return badRequest("A webhook's messageformat must be 2 (Json).")
	}
	return nil
}

var stepStages = map[int]bool{10: true, 20: true, 40: true}

func (e *Emulator) validateStep(a map[string]any) *apiError {
	if err := required(a, "name", "stage", "sdkmessageid", "eventhandler"); err != nil {
		return err
	}
	stage, _ := optionValue(a["stage"])
	if !stepStages[stage] {
		return badRequest("stage %d is not valid for a custom step (10 PreValidation, 20 PreOperation, 40 PostOperation).", stage)
	}
	mode, _ := optionValue(a["mode"])
	if mode != 0 && mode != 1 {
		return badRequest("mode %d is not valid (0 Synchronous, 1 Asynchronous).", mode)
	}
	if mode == 1 && stage != 40 {
		// "Asynchronous plug-ins can only be registered for the PostOperation stage" [MS RP].
		return badRequest("Asynchronous steps can only be registered for the PostOperation stage.")
	}
	if sd, ok := optionValue(a["supporteddeployment"]); ok && (sd < 0 || sd > 2) {
		return badRequest("supporteddeployment %d is not valid.", sd)
	}
	msg := a["sdkmessageid"].(*dataverse.EntityReference)
	if f, _ := a["sdkmessagefilterid"].(*dataverse.EntityReference); f != nil {
		fr := e.store.get("sdkmessagefilter", f.ID)
		if fr == nil {
			return notFound("sdkmessagefilter", f.ID)
		}
		if m, _ := fr.attrs["sdkmessageid"].(*dataverse.EntityReference); m == nil || m.ID != msg.ID {
			return badRequest("The sdkmessagefilter does not belong to the step's sdkmessage.")
		}
	}
	return nil
}

// imageMessages are the messages that support images [MS RP].
var imageMessages = map[string]bool{"Assign": true, "Create": true, "Delete": true, "DeliverIncoming": true,
	"DeliverPromote": true, "Merge": true, "Route": true, "Send": true, "SetState": true, "Update": true}

func (e *Emulator) validateImage(a map[string]any) *apiError {
	if err := required(a, "name", "entityalias", "messagepropertyname", "sdkmessageprocessingstepid"); err != nil {
		return err
	}
	typ, ok := optionValue(a["imagetype"])
	if !ok || typ < 0 || typ > 2 {
		return badRequest("imagetype must be 0 (PreImage), 1 (PostImage) or 2 (Both).")
	}
	ref := a["sdkmessageprocessingstepid"].(*dataverse.EntityReference)
	st := e.store.get("sdkmessageprocessingstep", ref.ID)
	if st == nil {
		return notFound("sdkmessageprocessingstep", ref.ID)
	}
	msgRef, _ := st.attrs["sdkmessageid"].(*dataverse.EntityReference)
	msg := ""
	if msgRef != nil {
		if mr := e.store.get("sdkmessage", msgRef.ID); mr != nil {
			msg, _ = mr.attrs["name"].(string)
		}
	}
	if !imageMessages[msg] {
		return badRequest("Images are not supported for the %s message.", msg)
	}
	prop, _ := a["messagepropertyname"].(string)
	want := "Target"
	if msg == "Create" {
		want = "Id"
	}
	if (msg == "Create" || msg == "Update" || msg == "Delete") && !strings.EqualFold(prop, want) {
		// Public registration code reports 0x8004416b for Target on Create (dataverse-facts.md §5).
		return &apiError{status: 400, code: codeImageProperty, message: "The messagepropertyname '" + prop + "' is not valid for the " + msg + " message; use '" + want + "'."}
	}
	stage, _ := optionValue(st.attrs["stage"])
	pre, post := typ == 0 || typ == 2, typ == 1 || typ == 2
	switch {
	case msg == "Create" && pre:
		return badRequest("A Create step cannot have a pre-image.")
	case msg == "Delete" && post:
		return badRequest("A Delete step cannot have a post-image.")
	case post && stage != 40:
		return badRequest("Post-images are only available in the PostOperation stage.")
	}
	return nil
}
