/* Keystile Tokens page: the one-time-password modal. K.otp({action, name, form, purpose,
 * verifyPath, extra, onVerified}) mails a code, opens the modal at once, verifies. */
(function () {
  "use strict";
  var K = window.Keystile;
  if (!K) { return; }
  var $ = K.$, byId = K.byId, setError = K.setError, call = K.call;
  var problemText = K.problemText, refresh = K.refresh;

  // -- one-time passwords ---------------------------------------------------------------
  K.otp = (function () {
    var modal = $("#ks-otp-modal");
    var input = byId("ks-otp-code"), status = byId("ks-otp-status"), purpose = byId("ks-otp-purpose");
    var error = byId("ks-otp-error"), resend = byId("ks-otp-resend"), wait = byId("ks-otp-resend-wait");
    var verify = byId("ks-otp-verify");
    var current = null, timer = null;

    function countdown(seconds) {
      clearInterval(timer);
      var left = Math.max(0, Math.ceil(seconds || 0));
      function tick() {
        if (left <= 0) {
          clearInterval(timer);
          resend.disabled = false;
          wait.textContent = "";
          return;
        }
        resend.disabled = true;
        wait.textContent = "(available in " + left + " s)";
        left -= 1;
      }
      tick();
      timer = setInterval(tick, 1000);
    }

    function send() {
      var asked = current;
      status.textContent = "Sending a code to your email…";
      verify.disabled = true;
      resend.disabled = true;
      setError(error, "");
      // A token's form goes along: the code is bound to it (it mints only that token).
      call("POST", "api/otp", Object.assign({ action: asked.action, name: asked.name }, asked.form)).then(function (res) {
        if (current !== asked) { return; }
        if (res.ok) {
          var minutes = Math.round(res.data.expires_in / 60);
          status.textContent = "We sent a 6-digit code to " + res.data.sent_to + ". It expires in " +
            minutes + " minute" + (minutes === 1 ? "" : "s") + ".";
          verify.disabled = false;
          input.value = "";
          input.focus();
          countdown(res.data.resend_after);
        } else if (res.data.reason === "cooldown") {
          // The code mailed moments ago (say, before the modal was closed) still works.
          status.textContent = "A code was sent to your email moments ago: enter it below, " +
            "or ask for a new one when the timer runs out.";
          verify.disabled = false;
          input.focus();
          countdown(res.data.retry_after);
        } else {
          status.textContent = "No code was sent.";
          setError(error, problemText(res));
          countdown(res.data.retry_after || 0);
        }
        refresh("audit");
      });
    }

    $("#ks-otp-form").on("submit", function (event) {
      event.preventDefault();
      if (!current || verify.disabled) { return; }
      var code = input.value.trim();
      if (!/^\d{3}[\s-]?\d{3}$/.test(code)) {
        setError(error, "Enter the 6-digit code from the email.");
        return;
      }
      var asked = current;
      verify.disabled = true;
      call("POST", asked.verifyPath, Object.assign({ code: code }, asked.extra)).then(function (res) {
        if (current !== asked) { return; }
        if (res.ok) {
          current = null;
          modal.modal("hide");
          asked.onVerified(res.data);
        } else {
          setError(error, problemText(res));
          // A wrong code leaves the challenge open; anything else needs a new code.
          verify.disabled = !(res.data.reason === "wrong" || res.data.code === "otp_malformed");
          input.select();
        }
        refresh("audit");
      });
    });
    resend.addEventListener("click", function () { if (current) { send(); } });
    modal.on("shown.bs.modal", function () { input.focus(); });
    modal.on("hidden.bs.modal", function () {
      clearInterval(timer);
      current = null;
      input.value = "";
      setError(error, "");
    });

    return function start(options) {
      current = options;
      purpose.textContent = "The code lets you " + options.purpose + ".";
      input.value = "";
      wait.textContent = "";
      modal.modal("show");
      send();
    };
  })();
})();
