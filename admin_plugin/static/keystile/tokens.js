/* Keystile Tokens page: the Tokens tab, workspace tokens (create behind a one-time
 * password, shown once; revoke) and secrets (add, reveal behind a one-time password,
 * delete). Creating a token is the roll's flow: the form, then the code modal, then the
 * token, shown once in the form's modal. */
(function () {
  "use strict";
  var K = window.Keystile;
  if (!K) { return; }
  var $ = K.$, byId = K.byId, show = K.show, setError = K.setError, call = K.call;
  var problemText = K.problemText, flash = K.flash, refresh = K.refresh;

  // -- tokens ---------------------------------------------------------------------------
  var tokenForm = byId("ks-token-form"), tokenError = byId("ks-token-error");
  var expiry = byId("ks-token-expiry"), expiryDate = byId("ks-token-expiry-date");
  var tokenRules = byId("ks-token-rules");
  var tokenCreated = false;
  expiry.addEventListener("change", function () { show(expiryDate, expiry.value === "date"); });
  function tokenStep(created) {
    show(byId("ks-token-step-form"), !created);
    show(byId("ks-token-step-created"), created);
    show(byId("ks-token-create"), !created);
    show(byId("ks-token-cancel"), !created);
    show(byId("ks-token-done"), created);
  }
  function openTokenCreate() {
    tokenForm.reset();
    show(expiryDate, false);
    setError(tokenError, "");
    tokenStep(false);
    tokenRules.textContent = "";
    $("#ks-token-modal").modal("show");
    K.loadCatalog().then(function (res) {
      if (!res.ok) { return; }
      K.catalog.forEach(function (m) {
        var group = document.createElement("optgroup");
        group.label = m.name;
        K.option(group, m.name + ":*", m.name + " \u2192 * (whole module)");
        m.functionalities.forEach(function (f) { K.option(group, m.name + ":" + f.name, m.name + " \u2192 " + f.name); });
        tokenRules.appendChild(group);
      });
    });
  }
  $("#ks-token-modal").on("shown.bs.modal", function () { byId("ks-token-name").focus(); });
  $("#ks-token-modal").on("hidden.bs.modal", function () {
    byId("ks-token-value").value = "";  // shown once: not kept in the page
    if (tokenCreated) { tokenCreated = false; refresh("tokens", "audit"); }
  });
  tokenForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (tokenCreated) { return; }
    var body = {
      name: byId("ks-token-name").value,
      limits: byId("ks-token-limits").value,
      rules: Array.prototype.map.call(tokenRules.selectedOptions, function (o) { return o.value; })
    };
    if (K.allowLists) { Object.assign(body, K.allowLists("ks-token")); }  // allow_lists.js
    if (expiry.value === "date") { body.expires_at = expiryDate.value; }
    else if (expiry.value) { body.expires_in_days = parseInt(expiry.value, 10); }
    var button = byId("ks-token-create");
    button.disabled = true;
    // Without a code the server only checks the form: a mistake shows here, before a code.
    call("POST", "api/tokens", body).then(function (res) {
      button.disabled = false;
      if (res.ok) { showCreated(res.data); return; }
      if (res.data.code !== "otp_required") { setError(tokenError, problemText(res)); return; }
      K.after("#ks-token-modal", function () {
        K.otp({
          action: "token.create",
          form: body,
          purpose: "create the workspace token \u201c" + body.name.trim() + "\u201d",
          verifyPath: "api/tokens",
          extra: body,
          onVerified: function (data) {
            $("#ks-otp-modal").one("hidden.bs.modal", function () {
              showCreated(data);
              $("#ks-token-modal").modal("show");
            });
          }
        });
      });
    });
  });
  function showCreated(data) {
    tokenCreated = true;
    byId("ks-token-created-name").textContent = "Token \u201c" + data.name + "\u201d";
    byId("ks-token-value").value = data.token;
    tokenStep(true);
  }

  // -- secrets --------------------------------------------------------------------------
  byId("ks-secret-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = this, error = byId("ks-secret-error");
    var body = { name: byId("ks-secret-name").value, value: byId("ks-secret-value").value };
    call("POST", "api/secrets", body).then(function (res) {
      if (!res.ok) { setError(error, problemText(res)); return; }
      setError(error, "");
      form.reset();
      flash("success", "Secret " + res.data.name + " added.");
      refresh("secrets", "audit");
    });
  });
  function secretRow(name) {
    return Array.prototype.filter.call(document.querySelectorAll("#ks-panel-secrets tr[data-secret]"),
      function (row) { return row.getAttribute("data-secret") === name; })[0];
  }

  K.openers["token-create"] = openTokenCreate;
  K.actions["revoke-token"] = function (button) {
    var keyId = button.getAttribute("data-key-id"), name = button.getAttribute("data-name");
    K.confirm("Revoke this token?", "Revoke the token \u201c" + name + "\u201d (" + keyId +
      ")? Anything still using it stops working immediately.", "Revoke token", function () {
      return call("DELETE", "api/tokens/" + encodeURIComponent(keyId)).then(function (res) {
        if (res.ok) { flash("success", "Token \u201c" + name + "\u201d revoked."); refresh("tokens", "audit"); }
        return res;
      });
    });
  };
  K.actions["reveal-secret"] = function (button) {
    var name = button.getAttribute("data-name");
    K.otp({
      action: "secret.reveal",
      name: name,
      purpose: "reveal the secret " + name,
      verifyPath: "api/secrets/reveal",
      extra: { name: name },
      onVerified: function (data) {
        var row = secretRow(name);
        if (!row) { return; }
        row.querySelector(".ks-secret-shown input").value = data.value;
        show(row.querySelector(".ks-secret-mask"), false);
        show(row.querySelector(".ks-secret-shown"), true);
      }
    });
  };
  K.actions["delete-secret"] = function (button) {
    var name = button.getAttribute("data-name");
    K.confirm("Delete this secret?", "Delete the secret \u201c" + name + "\u201d? This cannot be undone.",
      "Delete secret", function () {
        return call("DELETE", "api/secrets/" + encodeURIComponent(name)).then(function (res) {
          if (res.ok) { flash("success", "Secret " + name + " deleted."); refresh("secrets", "audit"); }
          return res;
        });
      });
  };
})();
