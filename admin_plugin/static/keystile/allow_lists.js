/* Keystile Tokens page: allow-lists. The scopes' checklist (the catalog's actions by
 * module: the whole module, its reads, each action), used by the token form and by the SDK
 * Access Key tab's Restrict section, whose change needs a one-time password bound to the
 * lists asked for. Text from the catalog goes in with textContent only. */
(function () {
  "use strict";
  var K = window.Keystile;
  if (!K) { return; }
  var byId = K.byId, setError = K.setError, call = K.call, problemText = K.problemText;

  function box(parent, value, label, checked) {
    var wrap = document.createElement("div");
    wrap.className = "custom-control custom-checkbox custom-control-inline";
    var input = document.createElement("input");
    input.type = "checkbox";
    input.className = "custom-control-input";
    input.id = parent.getAttribute("data-ks-id") + "-" + value.replace(/[^A-Za-z0-9_-]/g, "_");
    input.value = value;
    input.checked = checked;
    var text = document.createElement("label");
    text.className = "custom-control-label small";
    text.htmlFor = input.id;
    text.textContent = label;
    wrap.appendChild(input);
    wrap.appendChild(text);
    parent.appendChild(wrap);
  }

  // Fill a checklist from the catalog, the given scopes checked.
  K.fillScopes = function (container, chosen) {
    var picked = {};
    (chosen || JSON.parse(container.getAttribute("data-ks-scopes") || "[]")).forEach(function (s) { picked[s] = true; });
    return K.loadCatalog().then(function (res) {
      container.textContent = "";
      if (!res.ok) { container.textContent = problemText(res); return; }
      K.catalog.forEach(function (m) {
        var group = document.createElement("fieldset");
        group.setAttribute("data-ks-id", container.id + "-" + m.name);
        var legend = document.createElement("legend");
        legend.textContent = m.name;
        group.appendChild(legend);
        box(group, m.name + ":*", "all of " + m.name, !!picked[m.name + ":*"]);
        box(group, m.name + ":read", "reads only", !!picked[m.name + ":read"]);
        m.functionalities.forEach(function (f) {
          var value = m.name + "." + f.name;
          box(group, value, f.name + (f.writes ? " (writes)" : ""), !!picked[value]);
        });
        container.appendChild(group);
      });
    });
  };

  // The lists a form asks for: {scopes: [...], networks: "text"}.
  K.allowLists = function (prefix) {
    var checked = byId(prefix + "-scopes").querySelectorAll("input[type=checkbox]:checked");
    return {
      scopes: Array.prototype.map.call(checked, function (i) { return i.value; }),
      networks: byId(prefix + "-networks").value
    };
  };

  // -- the token form: filled when it opens ------------------------------------------------
  var tokenScopes = byId("ks-token-scopes");
  if (tokenScopes) {
    byId("ks-token-create-open").addEventListener("click", function () {
      byId("ks-token-networks").value = "";
      K.fillScopes(tokenScopes, []);
    });
  }

  // -- the SDK key's Restrict section ---------------------------------------------------
  var form = byId("ks-sdk-restrict-form");
  if (!form) { return; }
  var error = byId("ks-sdk-restrict-error"), scopes = byId("ks-sdk-scopes");
  K.$('a[href="#sdk"]').one("shown.bs.tab", function () { K.fillScopes(scopes); });
  if (document.querySelector("#sdk.active")) { K.fillScopes(scopes); }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = K.allowLists("ks-sdk"), button = byId("ks-sdk-restrict");
    button.disabled = true;
    // Without a code the server only checks the lists: a mistake shows here, before a code.
    call("POST", "api/sdk-key/restrict", body).then(function (res) {
      button.disabled = false;
      if (res.data.code !== "otp_required") { setError(error, res.ok ? "" : problemText(res)); return; }
      setError(error, "");
      K.otp({
        action: "sdk_key.restrict",
        form: body,
        purpose: "change what the SDK access key may do and where from",
        verifyPath: "api/sdk-key/restrict",
        extra: body,
        onVerified: function (data) {
          byId("ks-sdk-restriction").textContent = "Now: " +
            (data.scopes ? "only " + data.scopes.join(", ") : "any action") + ", from " +
            (data.networks ? data.networks.join(", ") : "any network") +
            ". Changing it needs a one-time password.";
          K.flash("success", "The SDK access key's restrictions were saved.");
          K.refresh("audit");
        }
      });
    });
  });
})();
