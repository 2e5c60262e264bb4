/* Keystile Tokens page, shared part: settings, requests, messages, copy, confirmations and
 * the click dispatch the other scripts (otp.js, keys.js, tokens.js) register with.
 *
 * Vanilla JS plus the jQuery/Bootstrap 4 that Flask-Admin already loads (modals and tabs
 * only). Every unsafe call carries the page's CSRF token in X-CSRFToken; text from the
 * server is written with textContent, and list panels come back as HTML escaped by the
 * server's templates. Keys live only in input values, and only after they were asked for. */
(function () {
  "use strict";

  var picker = document.getElementById("ks-workspace");
  if (picker) {
    picker.addEventListener("change", function () { picker.form.submit(); });
  }
  var app = document.getElementById("ks-app");
  if (!app) { return; }

  var base = app.getAttribute("data-base");
  var ws = app.getAttribute("data-ws");
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var $ = window.jQuery;

  function byId(id) { return document.getElementById(id); }
  function show(el, on) { el.classList.toggle("d-none", !on); }
  function setError(el, text) { el.textContent = text || ""; show(el, !!text); }

  function url(path) {
    return base + path + (path.indexOf("?") >= 0 ? "&" : "?") + "ws=" + encodeURIComponent(ws);
  }

  /* One request; resolves {ok, status, data} whatever happens (problem+json on errors). */
  function call(method, path, body) {
    var headers = { "Accept": "application/json", "X-CSRFToken": csrf };
    var init = { method: method, headers: headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url(path), init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { ok: response.ok, status: response.status, data: data };
      });
    }, function () {
      return { ok: false, status: 0, data: { detail: "The server could not be reached. Check your connection and try again." } };
    });
  }

  function problemText(res) {
    return res.data.detail || res.data.title || "The request failed (HTTP " + res.status + ").";
  }

  function when(timestamp) {
    return new Date(timestamp * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";
  }

  function flash(kind, text) {
    var alert = document.createElement("div");
    alert.className = "alert alert-" + kind + " alert-dismissible fade show";
    alert.setAttribute("role", kind === "danger" ? "alert" : "status");
    var message = document.createElement("span");
    message.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.setAttribute("data-dismiss", "alert");
    close.setAttribute("aria-label", "Close");
    close.textContent = "\u00d7";
    alert.appendChild(message);
    alert.appendChild(close);
    var box = byId("ks-flash");
    box.textContent = "";
    box.appendChild(alert);
  }

  /* The long lists' page and filters live in the page's URL (admin_plugin/views/listing.py):
   * their links and filter forms work without this script; with it, a panel is fetched in
   * place and the URL follows, so Back, a reload and refresh() show the same page. */
  function listQuery() {
    var query = new URLSearchParams(location.search);
    query.delete("ws");
    return query;
  }
  function go(query) {
    var full = new URLSearchParams();
    full.set("ws", ws);
    query.forEach(function (value, name) { full.set(name, value); });
    history.pushState(null, "", location.pathname + "?" + full.toString() + location.hash);
  }

  /* Re-render list panels from the server's templates (escaping stays server-side). */
  function refresh() {
    Array.prototype.forEach.call(arguments, function (name) {
      fetch(url("panel/" + name + "?" + listQuery().toString()), { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          var focused = document.activeElement && document.activeElement.id;
          var panel = byId("ks-panel-" + name);
          panel.innerHTML = html;
          var again = focused && byId(focused);
          if (again && panel.contains(again)) { again.focus(); }
        }, function () { /* the next change refreshes it again */ });
    });
  }
  window.addEventListener("popstate", function () { refresh("tokens", "audit"); });
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-ks-filter]");
    if (!form || !app.contains(form)) { return; }
    event.preventDefault();
    var name = form.getAttribute("data-ks-filter"), query = listQuery();
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.type === "hidden") { return; }
      var value = field.value.trim();
      if (value) { query.set(field.name, value); } else { query.delete(field.name); }
    });
    query.delete(name === "tokens" ? "tpage" : "abefore");  // new filters start at the top
    go(query);
    refresh(name);
  });
  function follow(link) {
    var to = new URL(link.href, location.href);
    var query = new URLSearchParams(to.search);
    query.delete("ws");
    go(query);
    refresh(link.getAttribute("data-ks-panel-link"));
  }

  function copy(input, button) {
    function done() {
      var label = button.innerHTML;
      button.textContent = "Copied";
      setTimeout(function () { button.innerHTML = label; }, 1500);
    }
    function fallback() {
      input.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* user can still select */ }
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, fallback);
    } else {
      fallback();
    }
  }

  /* Open one modal after another has finished closing (Bootstrap 4 cannot stack them). */
  function after(hiding, open) {
    $(hiding).one("hidden.bs.modal", open).modal("hide");
  }

  function option(select, value, text) {
    var item = document.createElement("option");
    item.value = value;
    item.textContent = text;
    select.appendChild(item);
    return item;
  }

  var K = {
    $: $, byId: byId, show: show, setError: setError, call: call, problemText: problemText,
    when: when, flash: flash, refresh: refresh, after: after, option: option,
    catalog: null, openers: {}, actions: {}
  };
  /* The catalog the gateway serves, asked afresh each time a modal needs it. */
  K.loadCatalog = function () {
    return call("GET", "api/catalog").then(function (res) {
      if (res.ok) { K.catalog = res.data.modules; }
      return res;
    });
  };

  // -- confirmations ------------------------------------------------------------------
  var pending = null;
  K.confirm = function (title, text, label, run) {
    byId("ks-confirm-title").textContent = title;
    byId("ks-confirm-text").textContent = text;
    byId("ks-confirm-ok").textContent = label;
    setError(byId("ks-confirm-error"), "");
    pending = run;
    $("#ks-confirm-modal").modal("show");
  };
  byId("ks-confirm-ok").addEventListener("click", function () {
    var button = this, run = pending;
    if (!run) { return; }
    button.disabled = true;
    run().then(function (res) {
      button.disabled = false;
      if (!res.ok) { setError(byId("ks-confirm-error"), problemText(res)); return; }
      pending = null;
      $("#ks-confirm-modal").modal("hide");
    });
  });

  // -- tabs remember themselves in the URL's fragment ---------------------------------
  var tabs = { "#tokens": 1, "#sdk": 1, "#publishable": 1 };
  $("#ks-tabs a").on("shown.bs.tab", function (event) {
    history.replaceState(null, "", event.target.hash);
  });
  if (tabs[location.hash]) { $('#ks-tabs a[href="' + location.hash + '"]').tab("show"); }

  // -- one listener for buttons, including those in re-rendered panels ----------------
  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-ks-open],[data-ks-action],[data-ks-copy],[data-ks-copy-sibling],[data-ks-refresh],[data-ks-panel-link]");
    if (!target || !app.contains(target)) { return; }
    if (target.hasAttribute("data-ks-panel-link")) {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) { return; }  // a new tab: the link itself
      event.preventDefault();
      follow(target);
    }
    else if (target.hasAttribute("data-ks-open")) { K.openers[target.getAttribute("data-ks-open")](); }
    else if (target.hasAttribute("data-ks-action")) { K.actions[target.getAttribute("data-ks-action")](target); }
    else if (target.hasAttribute("data-ks-copy")) { copy(document.querySelector(target.getAttribute("data-ks-copy")), target); }
    else if (target.hasAttribute("data-ks-copy-sibling")) { copy(target.closest(".input-group").querySelector("input"), target); }
    else { refresh(target.getAttribute("data-ks-refresh")); }
  });

  window.Keystile = K;
})();
