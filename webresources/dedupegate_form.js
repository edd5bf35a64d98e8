/*
 * dedupegate form script: a Dataverse web resource (JavaScript) for contact, lead and account
 * forms (or any table a dedupegate rule checks).
 *
 * Register DedupeGate.onLoad on the form's OnLoad event with "Pass execution context as first
 * parameter" ticked and, as the comma-separated parameter, one JSON string, for example:
 *
 *   '{"gatewayUrl":"https://dedupegate.contoso.com","overrideColumn":"dg_overridetoken",
 *     "auth":{"type":"bearer","provider":"Contoso.DedupeGateAuth.getToken"}}'
 *
 * Keys (all optional but gatewayUrl):
 *   gatewayUrl      the gateway's base URL (the check API is at /api/v1/check)
 *   entity          the table's logical name; defaults to the form's table
 *   fields          the columns to watch and send, an array of logical names or an object
 *                   {"column": "form field name"}; defaults to the shipped rules' columns of
 *                   contact, lead or account. Columns missing from the form are skipped.
 *   overrideColumn  a text column (at least 1,000 characters) the "Ignore and Save" token is
 *                   written to; the gateway's webhook.override_attribute must name it. Without
 *                   it a blocked save can only be cancelled.
 *   entryPoint      the rules' entry point to ask as; default "form" (what the save will meet)
 *   debounceMs      wait after the last change before checking; default 600
 *   timeoutMs       give up on the gateway after this; default 8000
 *   failOpen        when the gateway cannot be reached at save time, let the save go on (the
 *                   webhook still guards the server side); default true
 *   auth            {"type":"bearer","provider":"Name.Space.fn"}: fn() returns (a promise of)
 *                   an Entra ID access token for the gateway's API (see docs/check-api.md);
 *                   {"type":"apikey","key":"..."}: proof of concept only, every user of the
 *                   form can read the key; {"type":"none"}: the gateway is reachable without
 *                   credentials (behind your own authenticating proxy).
 *
 * What it does:
 *   - OnChange of a watched column: after debounceMs, asks the check API and shows a form
 *     notification listing the matches, with "Open ..." actions (field recommendations) that
 *     open the matched records.
 *   - OnSave: a final check (the save waits for it). If the save would be blocked, a dialog
 *     explains why and offers Cancel, or Ignore and Save when the gateway issued an override
 *     token, which is written to overrideColumn before the save goes on.
 */
var DedupeGate = window.DedupeGate || {};

(function (ns) {
  "use strict";

  var NOTIFICATION_ID = "dedupegate";
  var SAVE_MODE_AUTOSAVE = 70;
  var SAVE_MODE_SAVE_AND_CLOSE = 2;
  var SAVE_MODE_SAVE_AND_NEW = 59;

  // Columns the shipped rules (configs/rules.yaml) read, per table.
  var DEFAULT_FIELDS = {
    contact: ["firstname", "lastname", "emailaddress1", "telephone1", "mobilephone", "governmentid",
      "birthdate", "address1_line1", "address1_postalcode", "address1_city"],
    lead: ["firstname", "lastname", "emailaddress1", "telephone1", "mobilephone", "companyname",
      "address1_line1", "address1_postalcode", "address1_city"],
    account: ["name", "emailaddress1", "telephone1", "websiteurl", "address1_line1",
      "address1_postalcode", "address1_city"]
  };

  // One state per form (a quick-create form may be open over a main form of another table).
  var states = {};

  function parseConfig(raw) {
    var cfg = raw;
    if (typeof raw === "string") {
      try {
        cfg = JSON.parse(raw);
      } catch (e) {
        throw new Error("DedupeGate: the handler parameter is not valid JSON: " + e.message);
      }
    }
    if (!cfg || typeof cfg !== "object" || !cfg.gatewayUrl) {
      throw new Error("DedupeGate: the handler parameter must be a JSON object with gatewayUrl");
    }
    return {
      gatewayUrl: String(cfg.gatewayUrl).replace(/\/+$/, ""),
      entity: cfg.entity || "",
      fields: cfg.fields || null,
      overrideColumn: cfg.overrideColumn || "",
      entryPoint: cfg.entryPoint || "form",
      debounceMs: cfg.debounceMs >= 0 ? cfg.debounceMs : 600,
      timeoutMs: cfg.timeoutMs > 0 ? cfg.timeoutMs : 8000,
      failOpen: cfg.failOpen !== false,
      auth: cfg.auth || { type: "none" }
    };
  }

  // fieldMap returns {column: form field name} for the columns present on the form.
  function fieldMap(formContext, cfg, entity) {
    var wanted = cfg.fields || DEFAULT_FIELDS[entity] || [];
    var pairs = {};
    if (Array.isArray(wanted)) {
      wanted.forEach(function (c) { pairs[c] = c; });
    } else {
      Object.keys(wanted).forEach(function (c) { pairs[c] = wanted[c]; });
    }
    var out = {};
    Object.keys(pairs).forEach(function (column) {
      if (formContext.getAttribute(pairs[column])) {
        out[column] = pairs[column];
      }
    });
    return out;
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // valueOf renders a form value as the check API takes it: lookups as their id, dates as the
  // local day (what the user sees), choices and numbers as numbers.
  function valueOf(v) {
    if (v === null || v === undefined || v === "") {
      return null;
    }
    if (v instanceof Date) {
      return v.getFullYear() + "-" + pad(v.getMonth() + 1) + "-" + pad(v.getDate());
    }
    if (Array.isArray(v)) {
      if (v.length && v[0] && typeof v[0] === "object" && v[0].id) {
        return String(v[0].id).replace(/[{}]/g, "").toLowerCase(); // lookup
      }
      return v; // multi-select choice
    }
    return v;
  }

  function collect(state) {
    var attrs = {};
    var any = false;
    Object.keys(state.fields).forEach(function (column) {
      var a = state.formContext.getAttribute(state.fields[column]);
      var v = a ? valueOf(a.getValue()) : null;
      attrs[column] = v;
      if (v !== null) {
        any = true;
      }
    });
    return any ? attrs : null;
  }

  function resolvePath(path) {
    var cur = window;
    String(path).split(".").forEach(function (p) { cur = cur ? cur[p] : undefined; });
    return cur;
  }

  function headers(cfg) {
    var h = { "Content-Type": "application/json", "Accept": "application/json" };
    var a = cfg.auth;
    if (a.type === "apikey") {
      h["X-API-Key"] = a.key;
      return Promise.resolve(h);
    }
    if (a.type === "bearer") {
      var fn = resolvePath(a.provider);
      if (typeof fn !== "function") {
        return Promise.reject(new Error("DedupeGate: auth.provider " + a.provider + " is not a function"));
      }
      return Promise.resolve(fn()).then(function (token) {
        h.Authorization = "Bearer " + token;
        return h;
      });
    }
    return Promise.resolve(h);
  }

  // check asks the check API about the form's current values. It resolves to the API's
  // answer, or null when no watched column has a value.
  function check(state) {
    var attrs = collect(state);
    if (!attrs) {
      return Promise.resolve(null);
    }
    var cfg = state.cfg;
    var body = { entity: state.entity, attributes: attrs, entry_point: cfg.entryPoint };
    var id = state.formContext.data.entity.getId();
    if (id) {
      body.id = id.replace(/[{}]/g, "").toLowerCase();
    }
    return headers(cfg).then(function (h) {
      var ctrl = typeof AbortController === "function" ? new AbortController() : null;
      var timer = setTimeout(function () { if (ctrl) { ctrl.abort(); } }, cfg.timeoutMs);
      return fetch(cfg.gatewayUrl + "/api/v1/check", {
        method: "POST", headers: h, body: JSON.stringify(body), mode: "cors", credentials: "omit",
        signal: ctrl ? ctrl.signal : undefined
      }).then(function (resp) {
        clearTimeout(timer);
        if (!resp.ok) {
          return resp.text().then(function (t) {
            throw new Error("the duplicate check answered " + resp.status + " " + t.slice(0, 200));
          });
        }
        return resp.json();
      }, function (err) {
        clearTimeout(timer);
        throw err;
      });
    });
  }

  function matchLine(m) {
    if (m.hidden || !m.id) {
      return m.message || "a matching record exists";
    }
    var line = (m.name || ("an existing " + m.entity)) + " (" + m.entity + ", " + Math.round(m.score * 100) + "%";
    if (m.reasons && m.reasons.length) {
      line += ": " + m.reasons.join(", ");
    }
    return line + ")";
  }

  function clearShown(state) {
    state.formContext.ui.clearFormNotification(NOTIFICATION_ID);
    var ctl = state.linkControl && state.formContext.getControl(state.linkControl);
    (state.linkIds || []).forEach(function (id) {
      if (ctl && ctl.clearNotification) {
        ctl.clearNotification(id);
      }
    });
    state.linkIds = [];
  }

  // show lists the matches in a form notification and adds "Open ..." actions to the first
  // watched field, one per match the user may open.
  function show(state, res) {
    clearShown(state);
    if (!res || !res.matches || !res.matches.length) {
      return;
    }
    var level = res.decision === "block" ? "ERROR" : "WARNING";
    var verb = res.decision === "block" ? "Duplicate" : "Possible duplicate";
    var text = verb + " of " + res.matches.map(matchLine).join("; ");
    state.formContext.ui.setFormNotification(text, level, NOTIFICATION_ID);
    var ctl = state.linkControl && state.formContext.getControl(state.linkControl);
    if (!ctl || !ctl.addNotification) {
      return;
    }
    res.matches.forEach(function (m, i) {
      if (m.hidden || !m.id) {
        return;
      }
      var id = NOTIFICATION_ID + "-" + i;
      state.linkIds.push(id);
      ctl.addNotification({
        uniqueId: id,
        notificationLevel: "RECOMMENDATION",
        messages: [verb + ": " + matchLine(m)],
        actions: [{
          message: "Open " + (m.name || m.entity),
          actions: [function () {
            Xrm.Navigation.openForm({ entityName: m.entity, entityId: m.id, openInNewWindow: true });
          }]
        }]
      });
    });
  }

  function onChange(state) {
    if (state.timer) {
      clearTimeout(state.timer);
    }
    state.timer = setTimeout(function () {
      state.timer = null;
      var seq = ++state.seq;
      check(state).then(function (res) {
        if (seq !== state.seq) {
          return; // a newer check started meanwhile
        }
        state.last = res;
        show(state, res);
      }, function (err) {
        if (seq === state.seq && window.console) {
          console.warn("DedupeGate: duplicate check failed: " + err.message);
        }
      });
    }, state.cfg.debounceMs);
  }

  function resave(state, mode) {
    state.bypass = true;
    var fc = state.formContext;
    return Promise.resolve(fc.data.save()).then(function () {
      if (mode === SAVE_MODE_SAVE_AND_CLOSE) {
        fc.ui.close();
      } else if (mode === SAVE_MODE_SAVE_AND_NEW) {
        Xrm.Navigation.openForm({ entityName: state.entity });
      }
    }, function (err) {
      state.bypass = false;
      if (window.console) {
        console.warn("DedupeGate: save failed: " + (err && err.message));
      }
    });
  }

  function dialogText(res) {
    var lines = res.matches.map(function (m) { return "• " + matchLine(m); });
    return "This record matches " + (lines.length === 1 ? "an existing record" : "existing records") +
      ":\n" + lines.join("\n") + "\n\nOpen the existing record instead of creating a duplicate.";
  }

  function onSave(state, executionContext) {
    if (state.bypass) {
      state.bypass = false; // our own save after the check: let it go
      return;
    }
    var args = executionContext.getEventArgs();
    var mode = args && args.getSaveMode ? args.getSaveMode() : 1;
    if (state.saving) {
      args.preventDefault(); // a check is already running for an earlier click
      return;
    }
    var fc = state.formContext;
    var col = state.cfg.overrideColumn && fc.getAttribute(state.cfg.overrideColumn);
    if (col && col.getValue()) {
      col.setValue(null); // a token from an earlier save is spent
    }
    args.preventDefault();
    state.saving = true;
    if (state.timer) {
      clearTimeout(state.timer);
      state.timer = null;
    }
    var seq = ++state.seq;
    check(state).then(function (res) {
      state.last = res;
      if (seq === state.seq) {
        show(state, res);
      }
      if (!res || res.decision !== "block") {
        state.saving = false;
        return resave(state, mode);
      }
      if (mode === SAVE_MODE_AUTOSAVE) {
        state.saving = false; // no dialog for autosave: the notification says why
        return null;
      }
      var strings = { title: "Possible duplicate", text: dialogText(res) };
      if (res.override && res.override.token && col) {
        strings.confirmButtonLabel = "Ignore and Save";
        strings.cancelButtonLabel = "Cancel";
        return Xrm.Navigation.openConfirmDialog(strings, { height: 320, width: 520 }).then(function (r) {
          state.saving = false;
          if (!r || !r.confirmed) {
            return null;
          }
          col.setValue(res.override.token);
          if (col.setSubmitMode) {
            col.setSubmitMode("always");
          }
          return resave(state, mode);
        });
      }
      strings.confirmButtonLabel = "OK";
      return Xrm.Navigation.openAlertDialog(strings, { height: 320, width: 520 }).then(function () {
        state.saving = false;
      });
    }).catch(function (err) {
      state.saving = false;
      if (state.cfg.failOpen) {
        fc.ui.setFormNotification("The duplicate check is unavailable; the record was saved without it.", "WARNING", NOTIFICATION_ID);
        return resave(state, mode);
      }
      return Xrm.Navigation.openAlertDialog({ title: "Duplicate check unavailable",
        text: "The record was not saved: " + err.message });
    });
  }

  /**
   * OnLoad handler. executionContext: the form's execution context; config: the JSON string of
   * the handler's parameter.
   */
  ns.onLoad = function (executionContext, config) {
    var fc = executionContext.getFormContext();
    var cfg = parseConfig(config);
    var entity = cfg.entity || fc.data.entity.getEntityName();
    var state = {
      cfg: cfg, formContext: fc, entity: entity, fields: fieldMap(fc, cfg, entity),
      seq: 0, timer: null, bypass: false, saving: false, linkIds: [], last: null
    };
    var names = Object.keys(state.fields);
    state.linkControl = names.length ? state.fields[names[0]] : "";
    states[entity] = state;
    names.forEach(function (column) {
      fc.getAttribute(state.fields[column]).addOnChange(function () { onChange(state); });
    });
    fc.data.entity.addOnSave(function (ctx) { onSave(state, ctx); });
  };

  // For tests and troubleshooting: the last answer per table.
  ns.lastResult = function (entity) {
    return states[entity] ? states[entity].last : null;
  };
})(DedupeGate);

window.DedupeGate = DedupeGate;
