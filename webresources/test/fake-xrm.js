/*
 * The small part of the Dataverse client API (Xrm) that dedupegate_form.js uses, for browser
 * tests: a form of text inputs, form and field notifications rendered into the page, save
 * events with preventDefault and save modes, and the confirm/alert dialogs and openForm of
 * Xrm.Navigation. It follows the documented behaviour of the model-driven app client API:
 * OnChange fires when a field's value is committed (the input's change event), and
 * formContext.data.save() raises OnSave, whose handlers may cancel the save.
 */
(function () {
  "use strict";

  var log = { saved: [], dialogs: [], opened: [], saveErrors: [] };
  window.__xrm = log;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) {
      e.textContent = text;
    }
    return e;
  }

  function makeAttribute(name, input) {
    var handlers = [];
    var submitMode = "dirty";
    input.addEventListener("change", function () {
      var ctx = { getFormContext: function () { return window.__formContext; } };
      handlers.forEach(function (h) { h(ctx); });
    });
    return {
      getName: function () { return name; },
      getValue: function () { return input.value === "" ? null : input.value; },
      setValue: function (v) { input.value = v === null || v === undefined ? "" : String(v); },
      addOnChange: function (h) { handlers.push(h); },
      setSubmitMode: function (m) { submitMode = m; },
      getSubmitMode: function () { return submitMode; }
    };
  }

  function makeControl(name, container) {
    var box = el("div", { "class": "control-notifications", "data-control": name });
    container.appendChild(box);
    return {
      getName: function () { return name; },
      addNotification: function (n) {
        var old = box.querySelector('[data-id="' + n.uniqueId + '"]');
        if (old) {
          old.remove();
        }
        var item = el("div", { "class": "recommendation", "data-id": n.uniqueId, "data-level": n.notificationLevel });
        item.appendChild(el("span", { "class": "message" }, (n.messages || []).join(" ")));
        (n.actions || []).forEach(function (a) {
          var b = el("button", { "class": "action" }, a.message);
          b.addEventListener("click", function () { a.actions.forEach(function (f) { f(); }); });
          item.appendChild(b);
        });
        box.appendChild(item);
        return true;
      },
      clearNotification: function (id) {
        var old = box.querySelector('[data-id="' + id + '"]');
        if (old) {
          old.remove();
          return true;
        }
        return false;
      }
    };
  }

  // buildForm creates a form for table with the given fields (text inputs).
  window.buildForm = function (table, fields, id) {
    var form = document.getElementById("form");
    var attributes = {};
    var controls = {};
    fields.forEach(function (f) {
      var row = el("div", { "class": "field" });
      row.appendChild(el("label", { "for": f }, f));
      var input = el("input", { id: f, name: f, type: "text" });
      row.appendChild(input);
      form.appendChild(row);
      attributes[f] = makeAttribute(f, input);
      controls[f] = makeControl(f, row);
    });
    var notifications = document.getElementById("form-notifications");
    var onSave = [];
    var recordId = id || "";
    var fc = {
      getAttribute: function (n) { return attributes[n] || null; },
      getControl: function (n) { return controls[n] || null; },
      ui: {
        setFormNotification: function (text, level, uid) {
          fc.ui.clearFormNotification(uid);
          notifications.appendChild(el("div", { "class": "notification", "data-id": uid, "data-level": level }, text));
          return true;
        },
        clearFormNotification: function (uid) {
          var old = notifications.querySelector('[data-id="' + uid + '"]');
          if (old) {
            old.remove();
            return true;
          }
          return false;
        },
        close: function () { log.closed = true; }
      },
      data: {
        entity: {
          getId: function () { return recordId ? "{" + recordId.toUpperCase() + "}" : ""; },
          getEntityName: function () { return table; },
          addOnSave: function (h) { onSave.push(h); }
        },
        // save raises OnSave; a handler's preventDefault cancels the save (the promise then
        // fails, as Xrm's does).
        save: function (mode) {
          var prevented = false;
          var args = {
            preventDefault: function () { prevented = true; },
            isDefaultPrevented: function () { return prevented; },
            getSaveMode: function () { return mode || 1; }
          };
          var ctx = { getFormContext: function () { return fc; }, getEventArgs: function () { return args; } };
          onSave.forEach(function (h) { h(ctx); });
          if (prevented) {
            return Promise.reject({ message: "save cancelled" });
          }
          var values = {};
          Object.keys(attributes).forEach(function (k) { values[k] = attributes[k].getValue(); });
          log.saved.push(values);
          recordId = recordId || "11111111-2222-3333-4444-" + ("000000000000" + log.saved.length).slice(-12);
          return Promise.resolve();
        }
      }
    };
    window.__formContext = fc;
    document.getElementById("save").addEventListener("click", function () {
      fc.data.save(1).catch(function (e) { log.saveErrors.push(e.message); });
    });
    return { getFormContext: function () { return fc; } };
  };

  function dialog(strings, buttons) {
    return new Promise(function (resolve) {
      var d = el("div", { "class": "dialog", role: "dialog" });
      d.appendChild(el("h2", {}, strings.title || ""));
      d.appendChild(el("pre", { "class": "text" }, strings.text || ""));
      buttons.forEach(function (b) {
        var btn = el("button", { "class": "dialog-button" }, b.label);
        btn.addEventListener("click", function () {
          d.remove();
          resolve(b.value);
        });
        d.appendChild(btn);
      });
      document.body.appendChild(d);
    });
  }

  window.Xrm = {
    Navigation: {
      openConfirmDialog: function (strings) {
        log.dialogs.push({ kind: "confirm", strings: strings });
        return dialog(strings, [
          { label: strings.confirmButtonLabel || "OK", value: { confirmed: true } },
          { label: strings.cancelButtonLabel || "Cancel", value: { confirmed: false } }
        ]);
      },
      openAlertDialog: function (strings) {
        log.dialogs.push({ kind: "alert", strings: strings });
        return dialog(strings, [{ label: strings.confirmButtonLabel || "OK", value: {} }]);
      },
      openForm: function (opts) {
        log.opened.push(opts);
        return Promise.resolve({ savedEntityReference: [] });
      }
    }
  };
})();
