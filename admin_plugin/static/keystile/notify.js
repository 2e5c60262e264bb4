/* Keystile Tokens page: security notifications. Setting the endpoint or the addresses,
 * rotating the secret and sending a test each go through the one-time-password modal
 * (K.otp); the secret is shown once, in an input, and never stored by the page. */
(function () {
  "use strict";
  var K = window.Keystile;
  if (!K || !K.byId("ks-notify")) { return; }
  var byId = K.byId, show = K.show, flash = K.flash, refresh = K.refresh;
  var error = byId("ks-notify-error");

  function showSecret(secret) {
    byId("ks-notify-secret").value = secret;
    show(byId("ks-notify-secret-box"), true);
  }
  function done() { refresh("notify", "audit"); }

  byId("ks-notify-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var url = byId("ks-notify-url").value.trim();
    K.setError(error, "");
    if (!url) { K.setError(error, "Enter the endpoint's URL."); return; }
    K.otp({
      action: "notify.endpoint",
      form: { url: url },
      purpose: "set the webhook endpoint to " + url,
      verifyPath: "api/notify/endpoint",
      extra: { url: url },
      onVerified: function (data) {
        showSecret(data.secret);
        flash("success", "Webhooks now go to " + data.url + ". Copy the signing secret below: it is shown once.");
        done();
      }
    });
  });
  byId("ks-notify-rotate").addEventListener("click", function () {
    K.otp({
      action: "notify.secret",
      purpose: "replace the webhook signing secret",
      verifyPath: "api/notify/secret",
      extra: {},
      onVerified: function (data) {
        showSecret(data.secret);
        flash("success", "New signing secret: the old one no longer signs. Copy it below: it is shown once.");
        done();
      }
    });
  });
  byId("ks-notify-test").addEventListener("click", function () {
    K.otp({
      action: "notify.test",
      purpose: "send a test event to the webhook endpoint",
      verifyPath: "api/notify/test",
      extra: {},
      onVerified: function (data) {
        flash(data.delivered ? "success" : "danger", data.delivered
          ? "Test event delivered: " + data.detail + "."
          : "Test event not delivered: " + data.detail + ".");
        done();
      }
    });
  });
  byId("ks-notify-remove").addEventListener("click", function () {
    K.confirm("Stop the webhooks?", "Events are no longer sent to the endpoint; those waiting fail.",
      "Stop webhooks", function () {
        return K.call("DELETE", "api/notify/endpoint").then(function (res) {
          if (res.ok) { flash("success", "Webhooks stopped."); done(); }
          return res;
        });
      });
  });
  byId("ks-notify-emails-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var emails = byId("ks-notify-emails").value;
    K.otp({
      action: "notify.emails",
      form: { emails: emails },
      purpose: "set who gets security notifications by email",
      verifyPath: "api/notify/emails",
      extra: { emails: emails },
      onVerified: function (data) {
        flash("success", data.emails.length ? "Notifications are mailed to " + data.emails.join(", ") + "." : "No notification mail any more.");
        done();
      }
    });
  });
})();
