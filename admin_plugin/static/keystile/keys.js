/* Keystile Tokens page: the SDK Access Key tab (reveal, hide, roll) and the Publishable
 * Key tab (revoke and regenerate, blacklist rules from the gateway's catalog). */
(function () {
  "use strict";
  var K = window.Keystile;
  if (!K) { return; }
  var $ = K.$, byId = K.byId, show = K.show, setError = K.setError, call = K.call;
  var problemText = K.problemText, flash = K.flash, refresh = K.refresh, option = K.option;

  // -- SDK access key -------------------------------------------------------------------
  var sdkInput = byId("ks-sdk-key");
  function showSdkKey(key) {
    sdkInput.value = key;
    byId("ks-sdk-icon").className = "fa fa-unlock";
    show(byId("ks-sdk-reveal"), false);
    show(byId("ks-sdk-copy"), true);
    show(byId("ks-sdk-hide"), true);
    byId("ks-sdk-help").textContent = "Revealed. Copy it into your backend's secret store, then hide it.";
  }
  byId("ks-sdk-hide").addEventListener("click", function () {
    sdkInput.value = sdkInput.getAttribute("data-masked");
    byId("ks-sdk-icon").className = "fa fa-lock";
    show(byId("ks-sdk-reveal"), true);
    show(byId("ks-sdk-copy"), false);
    show(byId("ks-sdk-hide"), false);
    byId("ks-sdk-help").textContent = "Hidden: only the last characters are shown until you verify a code.";
  });
  byId("ks-sdk-reveal").addEventListener("click", function () {
    K.otp({
      action: "sdk_key.reveal",
      purpose: "reveal the SDK access key",
      verifyPath: "api/sdk-key/reveal",
      extra: {},
      onVerified: function (data) { showSdkKey(data.key); }
    });
  });
  byId("ks-roll-continue").addEventListener("click", function () {
    var grace = parseInt(byId("ks-roll-grace").value, 10) || 0;
    K.after("#ks-roll-modal", function () {
      K.otp({
        action: "sdk_key.roll",
        purpose: "roll (replace) the SDK access key",
        verifyPath: "api/sdk-key/roll",
        extra: { grace_seconds: grace },
        onVerified: function (data) {
          sdkInput.setAttribute("data-masked", data.masked);
          showSdkKey(data.key);
          flash("success", data.old_key_valid_until
            ? "New SDK access key issued. The old key keeps working until " + K.when(data.old_key_valid_until) + "."
            : "New SDK access key issued. The old key no longer works.");
        }
      });
    });
  });

  // -- publishable key ------------------------------------------------------------------
  byId("ks-revoke-confirm").addEventListener("click", function () {
    var button = this;
    button.disabled = true;
    call("POST", "api/publishable-key/rotate", {}).then(function (res) {
      button.disabled = false;
      if (!res.ok) { setError(byId("ks-revoke-error"), problemText(res)); return; }
      byId("ks-pk").value = res.data.key;
      $("#ks-revoke-modal").modal("hide");
      flash("success", "A new publishable key was generated. The old key no longer works.");
      refresh("audit");
    });
  });

  var blModule = byId("ks-bl-module"), blFunc = byId("ks-bl-functionality");
  var blSave = byId("ks-blacklist-save"), blError = byId("ks-blacklist-error");
  function fillFunctionalities() {
    blFunc.textContent = "";
    var module = (K.catalog || []).filter(function (m) { return m.name === blModule.value; })[0];
    if (!module) {
      option(blFunc, "", "Select a module first");
      blFunc.disabled = true;
    } else {
      option(blFunc, "", "Select a functionality");
      option(blFunc, "*", "* (the whole module)");
      module.functionalities.forEach(function (f) {
        option(blFunc, f.name, f.description ? f.name + " \u2014 " + f.description : f.name);
      });
      blFunc.disabled = false;
    }
    blSave.disabled = true;
  }
  blModule.addEventListener("change", function () { setError(blError, ""); fillFunctionalities(); });
  blFunc.addEventListener("change", function () { setError(blError, ""); blSave.disabled = !blFunc.value; });
  function openBlacklist() {
    setError(blError, "");
    blModule.textContent = "";
    option(blModule, "", "Loading…");
    blModule.disabled = true;
    fillFunctionalities();
    $("#ks-blacklist-modal").modal("show");
    K.loadCatalog().then(function (res) {
      blModule.textContent = "";
      if (!res.ok) { option(blModule, "", "No catalog"); setError(blError, problemText(res)); return; }
      option(blModule, "", "Select a module");
      K.catalog.forEach(function (m) {
        option(blModule, m.name, m.description ? m.name + " \u2014 " + m.description : m.name);
      });
      blModule.disabled = false;
    });
  }
  $("#ks-blacklist-form").on("submit", function (event) {
    event.preventDefault();
    if (blSave.disabled) { return; }
    blSave.disabled = true;
    call("POST", "api/rules", { module: blModule.value, functionality: blFunc.value }).then(function (res) {
      blSave.disabled = false;
      if (!res.ok) { setError(blError, problemText(res)); return; }
      $("#ks-blacklist-modal").modal("hide");
      flash("success", "Blacklisted: " + res.data.label + ". The publishable key is refused for it from now on.");
      refresh("rules", "audit");
    });
  });

  K.openers.roll = function () { $("#ks-roll-modal").modal("show"); };
  K.openers.revoke = function () { setError(byId("ks-revoke-error"), ""); $("#ks-revoke-modal").modal("show"); };
  K.openers.blacklist = openBlacklist;
  // Lifting a rule widens what a public key may do: it asks first, like Revoke Key.
  K.actions["remove-rule"] = function (button) {
    var module = button.getAttribute("data-module"), functionality = button.getAttribute("data-functionality");
    var label = module + " \u2192 " + (functionality === "*" ? "every functionality" : functionality);
    K.confirm("Remove this restriction?", "The publishable key will be allowed " + label +
      " again, from now on.", "Remove restriction", function () {
      return call("DELETE", "api/rules/" + encodeURIComponent(module) + "/" + encodeURIComponent(functionality))
        .then(function (res) {
          if (res.ok) {
            flash("success", "Restriction removed: " + label + ".");
            refresh("rules", "audit");
          }
          return res;
        });
    });
  };
})();
