/* Keystile Tokens page: the leak policy (saved with the page's CSRF token; the server
 * answers problem+json on a bad choice) and the leak reports' panel. */
(function () {
  "use strict";
  var K = window.Keystile;
  if (!K) { return; }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "ks-leak-policy-form") { return; }
    event.preventDefault();
    var error = K.byId("ks-leak-policy-error");
    var body = { sdk: K.byId("ks-leak-sdk").value, tokens: K.byId("ks-leak-tokens").value };
    K.call("POST", "api/leak-policy", body).then(function (res) {
      if (!res.ok) { K.setError(error, K.problemText(res)); return; }
      K.setError(error, "");
      K.flash("success", res.data.changed ? "Leak policy saved." : "The leak policy was already so.");
      K.refresh("leaks", "audit");
    });
  });
})();
