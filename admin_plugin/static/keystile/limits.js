/* Keystile Tokens page: rate limits of the publishable key, the SDK key and each token.
 * One modal serves all three: Add (whole key or one catalogued action), Edit (one scope,
 * fixed) and the token row's Limits (prefilled with the whole token's). The server parses
 * the text and answers problem+json, shown in the modal; nothing is saved then. Removing
 * a limit lets the key make more requests, so it asks first, like removing a rule. */
(function () {
  "use strict";
  var K = window.Keystile;
  if (!K) { return; }
  var $ = K.$, byId = K.byId, show = K.show, setError = K.setError, call = K.call;
  var flash = K.flash, refresh = K.refresh, option = K.option;

  var scope = byId("ks-limit-scope"), actionRow = byId("ks-limit-action");
  var module = byId("ks-limit-module"), func = byId("ks-limit-functionality");
  var text = byId("ks-limit-windows"), error = byId("ks-limit-error"), save = byId("ks-limit-save");
  var target = null;  // {key, what}: whose limits the modal edits

  /* The panel that lists a key's limits: the role keys have their own, tokens the list. */
  function panelOf(key) {
    return key === "publishable" ? "pk-limits" : key === "sdk" ? "sk-limits" : "tokens";
  }
  function scopeLabel(value, key) {
    if (value !== "*") { return value; }
    return key === "publishable" || key === "sdk" ? "the whole key" : "the whole token";
  }

  function fillFunctionalities() {
    func.textContent = "";
    var chosen = (K.catalog || []).filter(function (m) { return m.name === module.value; })[0];
    if (!chosen) { option(func, "", "Select a module first"); func.disabled = true; return; }
    option(func, "", "Select a functionality");
    chosen.functionalities.forEach(function (f) {
      option(func, f.name, f.description ? f.name + " \u2014 " + f.description : f.name);
    });
    func.disabled = false;
  }
  function loadModules() {
    module.textContent = "";
    option(module, "", "Loading…");
    module.disabled = true;
    fillFunctionalities();
    K.loadCatalog().then(function (res) {
      module.textContent = "";
      if (!res.ok) { option(module, "", "No catalog"); setError(error, K.problemText(res)); return; }
      option(module, "", "Select a module");
      K.catalog.forEach(function (m) {
        option(module, m.name, m.description ? m.name + " \u2014 " + m.description : m.name);
      });
      module.disabled = false;
    });
  }
  scope.addEventListener("change", function () {
    setError(error, "");
    show(actionRow, scope.value === "action");
    if (scope.value === "action" && !module.options.length) { loadModules(); }
  });
  module.addEventListener("change", function () { setError(error, ""); fillFunctionalities(); });
  text.addEventListener("input", function () { setError(error, ""); });

  /* fixed: the scope being edited ("*" or "module.functionality"), or null to pick one. */
  function openLimit(key, what, fixed, current) {
    target = { key: key, what: what };
    setError(error, "");
    byId("ks-limit-title").textContent = (fixed ? "Edit" : "Add") + " a rate limit";
    byId("ks-limit-for").textContent = fixed
      ? "For the " + what + ", on " + scopeLabel(fixed, key) + "."
      : "For the " + what + ": as a whole, or on one action.";
    module.textContent = "";
    scope.value = "*";
    if (fixed && fixed !== "*") {
      scope.value = "action";
      option(module, fixed.split(".")[0], fixed.split(".")[0]);
      func.textContent = "";
      option(func, fixed.split(".")[1], fixed.split(".")[1]);
    }
    show(actionRow, scope.value === "action");
    scope.disabled = module.disabled = func.disabled = !!fixed;
    text.value = current || "";
    $("#ks-limit-modal").modal("show");
  }
  $("#ks-limit-modal").on("shown.bs.modal", function () { text.focus(); });

  byId("ks-limit-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!target || save.disabled) { return; }
    var chosen = "*";
    if (scope.value === "action") {
      if (!module.value || !func.value) { setError(error, "Pick the module and functionality it applies to."); return; }
      chosen = module.value + "." + func.value;
    }
    var key = target.key, what = target.what;
    save.disabled = true;
    call("POST", "api/limits", { key: key, scope: chosen, limits: text.value }).then(function (res) {
      save.disabled = false;
      if (!res.ok) { setError(error, K.problemText(res)); return; }
      $("#ks-limit-modal").modal("hide");
      flash("success", "Rate limit saved for the " + what + " on " + scopeLabel(res.data.scope, key) +
        ": " + res.data.limits.join(", ") + ". It applies from now on.");
      refresh(panelOf(key), "audit");
    });
  });

  K.actions["add-limit"] = function (button) {
    openLimit(button.getAttribute("data-key"), button.getAttribute("data-what"), null,
      button.getAttribute("data-limits"));
  };
  K.actions["edit-limit"] = function (button) {
    openLimit(button.getAttribute("data-key"), button.getAttribute("data-what"),
      button.getAttribute("data-scope"), button.getAttribute("data-limits"));
  };
  K.actions["remove-limit"] = function (button) {
    var key = button.getAttribute("data-key"), chosen = button.getAttribute("data-scope");
    var what = button.getAttribute("data-what");
    K.confirm("Remove this rate limit?", "The " + what + " will no longer be limited on " +
      scopeLabel(chosen, key) + ", from now on.", "Remove limit", function () {
      return call("DELETE", "api/limits/" + encodeURIComponent(key) + "/" + encodeURIComponent(chosen))
        .then(function (res) {
          if (res.ok) {
            flash("success", "Rate limit removed: the " + what + " on " + scopeLabel(chosen, key) + ".");
            refresh(panelOf(key), "audit");
          }
          return res;
        });
    });
  };
})();
