/* Keystile Tokens page, usage: each key's chart of requests over time by outcome (Chart.js,
 * vendored in static/vendor/chartjs), its top lists, and the Blacklist Action modal's
 * impact (what the chosen rule would have refused). Data from api/usage and
 * api/usage/impact; text written with textContent only. Chart.js styles its canvas
 * through the CSSOM, which the page's style-src policy does not restrict. */
(function () {
  "use strict";

  var K = window.Keystile;
  if (!K) { return; }
  var COLORS = {
    allowed: "#28a745", action_blocked: "#dc3545", origin_not_allowed: "#fd7e14",
    route_not_in_catalog: "#6f42c1", expired_key: "#6c757d", store_unavailable: "#17a2b8"
  };

  function label(start, grain) {
    var text = new Date(start * 1000).toISOString();
    return grain >= 86400 ? text.slice(5, 10) : text.slice(5, 16).replace("T", " ");
  }

  /* ``pairs``: [name, count], most first. */
  function fill(list, pairs, empty) {
    list.textContent = "";
    if (!pairs.length) {
      var none = document.createElement("li");
      none.className = "text-muted";
      none.textContent = empty;
      list.appendChild(none);
    }
    pairs.forEach(function (pair) {
      var item = document.createElement("li");
      item.textContent = pair[0] + " \u2014 " + pair[1];
      list.appendChild(item);
    });
  }

  function Panel(root) {
    this.root = root;
    this.range = "24h";
    this.chart = null;
    this.select = root.querySelector(".ks-usage-key");
    var panel = this;
    root.addEventListener("click", function (event) {
      var button = event.target.closest("[data-ks-range]");
      if (!button) { return; }
      panel.range = button.getAttribute("data-ks-range");
      root.querySelectorAll("[data-ks-range]").forEach(function (b) {
        b.classList.toggle("active", b === button);
      });
      panel.load();
    });
    if (this.select) { this.select.addEventListener("change", function () { panel.load(); }); }
  }

  Panel.prototype.load = function () {
    var panel = this, root = this.root;
    var key = this.select ? this.select.value : root.getAttribute("data-ks-usage");
    root.setAttribute("data-ks-state", "loading");
    return K.call("GET", "api/usage?key=" + encodeURIComponent(key) + "&range=" + this.range).then(function (res) {
      var summary = root.querySelector(".ks-usage-summary");
      if (!res.ok) {
        summary.textContent = K.problemText(res);
        root.setAttribute("data-ks-state", "error");
        return;
      }
      panel.draw(res.data);
      summary.textContent = res.data.total
        ? res.data.total + " request(s) in the last " + panel.range + "."
        : "No requests counted in the last " + panel.range + " yet.";
      if (res.data.partial) {
        summary.textContent += " Partial: a bucket too large to read whole was read in part.";
      }
      fill(root.querySelector(".ks-usage-actions"), res.data.top_actions, "none yet");
      fill(root.querySelector(".ks-usage-refused"), res.data.top_refused, "none");
      var origins = root.querySelector(".ks-usage-origins");
      if (origins) { fill(origins, res.data.top_origins, "none yet"); }
      root.setAttribute("data-ks-total", String(res.data.total));
      root.setAttribute("data-ks-range-shown", panel.range);
      root.setAttribute("data-ks-state", "drawn");
    });
  };

  Panel.prototype.draw = function (data) {
    var labels = data.starts.map(function (s) { return label(s, data.grain_seconds); });
    var datasets = Object.keys(data.outcomes).map(function (outcome) {
      return {
        label: outcome, data: data.outcomes[outcome], stack: "requests",
        backgroundColor: COLORS[outcome] || "#adb5bd"
      };
    });
    if (this.chart) {
      this.chart.data.labels = labels;
      this.chart.data.datasets = datasets;
      this.chart.update();
      return;
    }
    this.chart = new window.Chart(this.root.querySelector("canvas"), {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { position: "bottom" } },
        scales: {
          x: { stacked: true, ticks: { maxTicksLimit: 12 } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }
        }
      }
    });
  };

  /* Each tab's chart is asked for and drawn when its tab first shows: less work while the
   * page loads, and a chart is never laid out in a hidden tab (no size there). */
  function showTab(pane) {
    pane.querySelectorAll("[data-ks-usage]").forEach(function (root) {
      if (!root.ksPanel) { root.ksPanel = new Panel(root); root.ksPanel.load(); }
    });
  }
  if (window.Chart) {
    var active = document.querySelector("#ks-app .tab-pane.active");
    if (active) { showTab(active); }
    K.$("#ks-tabs a").on("shown.bs.tab", function (event) {
      showTab(document.querySelector(event.target.hash));
    });
  }

  // -- each token row's 7-day sparkline (rows come back when the panel is re-rendered) --
  function sparklines() {
    document.querySelectorAll("canvas[data-ks-spark]:not([data-ks-drawn])").forEach(function (canvas) {
      var days = canvas.getAttribute("data-ks-spark").split(",").map(Number);
      canvas.setAttribute("data-ks-drawn", "1");
      new window.Chart(canvas, {
        type: "line",
        data: { labels: days.map(function (_, i) { return i; }), datasets: [{
          data: days, borderColor: "#007bff", borderWidth: 1.5, pointRadius: 0, fill: false
        }] },
        options: {
          responsive: false, animation: false, events: [],
          plugins: { legend: { display: false }, tooltip: { enabled: false } },
          scales: { x: { display: false }, y: { display: false, beginAtZero: true } }
        }
      });
    });
  }
  var tokensPanel = K.byId("ks-panel-tokens");
  if (window.Chart && tokensPanel) {
    sparklines();
    new MutationObserver(sparklines).observe(tokensPanel, { childList: true });
  }

  // -- the Blacklist Action modal: the impact of the chosen rule ----------------------
  var blModule = K.byId("ks-bl-module"), blFunc = K.byId("ks-bl-functionality");
  var box = K.byId("ks-bl-impact"), list = K.byId("ks-bl-impact-list");
  if (!blModule || !box) { return; }
  var asked = 0;
  function impact() {
    var ticket = ++asked;
    K.show(box, false);
    box.removeAttribute("data-ks-requests");
    if (!blModule.value || !blFunc.value) { return; }
    var query = "api/usage/impact?module=" + encodeURIComponent(blModule.value) +
      "&functionality=" + encodeURIComponent(blFunc.value);
    K.call("GET", query).then(function (res) {
      if (ticket !== asked || !res.ok) { return; }  // a newer choice, or nothing to show
      list.textContent = "";
      res.data.spans.forEach(function (span) {
        var item = document.createElement("li");
        var origins = span.origins.map(function (o) { return o[0] + " (" + o[1] + ")"; }).join(", ");
        item.textContent = "Last " + span.label + ": " + span.requests +
          " request(s) of the publishable key" + (origins ? ", from " + origins : "");
        item.setAttribute("data-ks-span", span.label);
        item.setAttribute("data-ks-requests", String(span.requests));
        list.appendChild(item);
      });
      box.setAttribute("data-ks-requests", String(res.data.spans[0].requests));
      K.show(box, true);
    });
  }
  blModule.addEventListener("change", impact);
  blFunc.addEventListener("change", impact);
})();
