/* Keystile Tokens page: the Lifetime policy section (templates/keystile/panels/lifetime.html).
 * Saves the workspace's token lifetime policy, and revokes the tokens the unused view lists
 * after a confirmation: exactly those key ids, each checked again by the server (a token
 * used since is left alone and said so). The "unused for" filter is core.js's. */
(function () {
  "use strict";
  var K = window.Keystile;
  if (!K) { return; }
  var byId = K.byId, setError = K.setError, call = K.call, flash = K.flash, refresh = K.refresh;

  // The panel is re-rendered after each change: listen on the document, not on the form.
  document.addEventListener("submit", function (event) {
    if (event.target.id !== "ks-lifetime-form") { return; }
    event.preventDefault();
    var error = byId("ks-lifetime-error"), input = byId("ks-lifetime-max");
    var text = input.value.trim();
    if (input.validity.badInput) {
      setError(error, "The maximum lifetime is a whole number of days (or empty: no maximum).");
      return;
    }
    var body = {
      // Anything but digits goes as typed: the server explains what it refuses.
      max_token_days: text === "" ? null : (/^\d{1,9}$/.test(text) ? parseInt(text, 10) : text),
      require_expiry: byId("ks-lifetime-require").checked
    };
    var button = byId("ks-lifetime-save");
    button.disabled = true;
    call("POST", "api/lifetime-policy", body).then(function (res) {
      button.disabled = false;
      if (!res.ok) { setError(error, K.problemText(res)); return; }
      flash("success", res.data.changed ? "Token lifetime policy saved: " + res.data.description + "."
        : "The token lifetime policy was already so.");
      refresh("lifetime", "tokens", "audit");
    });
  });

  K.actions["revoke-unused"] = function (button) {
    var days = parseInt(button.getAttribute("data-days"), 10);
    var rows = document.querySelectorAll("#ks-unused-table tbody tr[data-key-id]");
    var ids = Array.prototype.map.call(rows, function (row) { return row.getAttribute("data-key-id"); });
    var count = ids.length + (ids.length === 1 ? " token" : " tokens");
    K.confirm("Revoke " + count + "?", "Revoke the " + count + " listed, unused for " + days +
      " days or more? Each is checked again first: one used since is left alone. Anything " +
      "still using the others stops working immediately.", "Revoke " + count, function () {
      return call("POST", "api/tokens/revoke-unused", { days: days, key_ids: ids }).then(function (res) {
        if (!res.ok) { return res; }
        var skipped = res.data.skipped.map(function (s) { return s.key_id + " (" + s.reason + ")"; });
        flash("success", "Revoked " + res.data.revoked.length + " unused " +
          (res.data.revoked.length === 1 ? "token" : "tokens") + "." +
          (skipped.length ? " Left alone: " + skipped.join(", ") + "." : ""));
        refresh("lifetime", "tokens", "audit");
        return res;
      });
    });
  };
})();
