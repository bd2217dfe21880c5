/* Our own small script: draws the Plotly figures the server built, after a page load and after every
   htmx swap. Figures arrive as JSON in <script type="application/json"> elements (no inline code). */
(function () {
  "use strict";

  function readJSON(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function hasWebGL() {
    try {
      var canvas = document.createElement("canvas");
      return !!(canvas.getContext("webgl") || canvas.getContext("experimental-webgl"));
    } catch (e) {
      return false;
    }
  }

  /* The tile URL comes from settings split at its scheme, so no page carries another host's URL. */
  function mapStyle(tiles) {
    var url = tiles.scheme ? tiles.scheme + "://" + tiles.path : tiles.path;
    return {
      version: 8,
      sources: { base: { type: "raster", tiles: [url], tileSize: 256, attribution: "© OpenStreetMap contributors" } },
      layers: [
        { id: "background", type: "background", paint: { "background-color": "#eef1f4" } },
        { id: "base", type: "raster", source: "base" }
      ]
    };
  }

  /* Without WebGL a map cannot draw: the same traces on plain axes (longitude, latitude) still show
     the tracks. Without tiles (no server reachable) the map draws the tracks on its background. */
  function asPlainAxes(figure) {
    figure.data.forEach(function (trace) {
      if (trace.type === "scattermap") {
        trace.type = "scatter";
        trace.x = trace.lon;
        trace.y = trace.lat;
        delete trace.lon;
        delete trace.lat;
      }
    });
    delete figure.layout.map;
    figure.layout.xaxis = { title: { text: "Longitude" } };
    figure.layout.yaxis = { title: { text: "Latitude" }, scaleanchor: "x" };
    return figure;
  }

  function plot(element, figure) {
    return window.Plotly.newPlot(element, figure.data, figure.layout, {
      responsive: true,
      displaylogo: false,
      scrollZoom: !!element.dataset.tiles
    }).then(function () {
      element.dataset.ready = "yes";
      if (element.dataset.zoomUrl) refetchOnZoom(element);
    });
  }

  /* A zoom on a chart asks the server for the readings of exactly that span: a year drawn as buckets
     becomes every reading once the span is short enough. Times stay wall-clock text in the user's zone. */
  function refetchOnZoom(element) {
    element.on("plotly_relayout", function (change) {
      var from = change["xaxis.range[0]"], to = change["xaxis.range[1]"];
      if (!from || !to || !window.htmx) return;
      var query = new URLSearchParams({ range: "zoom", zoom_from: String(from), zoom_to: String(to) });
      var url = element.dataset.zoomUrl + "?" + query.toString();
      window.htmx.ajax("GET", url, { target: element.dataset.zoomTarget, swap: "outerHTML" }).then(function () {
        window.history.pushState({}, "", url);
      });
    });
  }

  /* A map that cannot start (no WebGL, or a Content-Security-Policy without worker-src blob:) is drawn
     again on plain axes: the tracks always show. */
  function plotMapOrFallback(element, figure) {
    var fallen = false;
    function fallBack() {
      if (fallen) return;
      fallen = true;
      window.Plotly.purge(element);
      element.dataset.fallback = "axes";
      plot(element, asPlainAxes(JSON.parse(JSON.stringify(figure))));
    }
    document.addEventListener("securitypolicyviolation", function (event) {
      if (/worker-src|script-src/.test(event.effectiveDirective || event.violatedDirective) && /^blob/.test(event.blockedURI)) fallBack();
    });
    window.Plotly.newPlot(element, figure.data, figure.layout, {
      responsive: true,
      displaylogo: false,
      scrollZoom: true
    }).then(function () {
      if (!fallen) element.dataset.ready = "yes";
    }, function () {
      /* Plotly gives up on the first tile that fails to load, but the map itself (and the tracks on
         it) may well be there: keep it if its style loaded, and say the background is missing. */
      setTimeout(function () {
        var subplot = element._fullLayout && element._fullLayout.map && element._fullLayout.map._subplot;
        var style = null;
        try {
          style = subplot && subplot.map && subplot.map.getStyle();
        } catch (e) {
          style = null;
        }
        /* Our two base layers plus the layers of the traces: the tracks are on the map. */
        if (!fallen && style && style.layers && style.layers.length > 2) {
          element.dataset.tilesMissing = "yes";
          var note = document.getElementById(element.id + "-tiles-note");
          if (note) note.hidden = false;
          element.dataset.ready = "yes";
        } else {
          fallBack();
        }
      }, 1500);
    });
    setTimeout(function () {
      if (element.dataset.ready !== "yes") fallBack();
    }, 10000);
  }

  function draw(element) {
    if (!window.Plotly || element.dataset.drawn === "yes") return;
    var figure = readJSON(element.dataset.plotly);
    if (!figure) return;
    element.dataset.drawn = "yes";
    if (!element.dataset.tiles) {
      plot(element, figure);
      return;
    }
    if (!hasWebGL()) {
      element.dataset.fallback = "axes";
      plot(element, asPlainAxes(figure));
      return;
    }
    figure.layout.map = figure.layout.map || {};
    figure.layout.map.style = mapStyle(readJSON(element.dataset.tiles) || { scheme: "", path: "" });
    plotMapOrFallback(element, figure);
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-plotly]").forEach(draw);
  }

  function showBrowserZone() {
    var hint = document.getElementById("browser-zone");
    if (!hint || !window.Intl) return;
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!zone) return;
    hint.querySelector("strong").textContent = zone;
    hint.hidden = false;
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawAll(document);
    showBrowserZone();
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    drawAll(document);
  });

  /* The rule form: the limits' unit follows the quantity chosen (°C, % RH, the channel's unit). */
  document.addEventListener("change", function (event) {
    var units = event.target.dataset && event.target.dataset.limitUnits;
    if (!units) return;
    var unit = JSON.parse(units)[event.target.value] || "";
    var form = event.target.form;
    if (!form) return;
    form.querySelectorAll("[data-quantity-unit]").forEach(function (element) {
      element.textContent = unit;
    });
  });

  /* "Choose every group" on the Alerts page: ticks (or clears) every checkbox of the bulk form. */
  document.addEventListener("change", function (event) {
    var form = event.target.dataset && event.target.dataset.checkAll;
    if (!form) return;
    document.querySelectorAll('input[type="checkbox"][form="' + form + '"]').forEach(function (box) {
      if (box !== event.target) box.checked = event.target.checked;
    });
  });

  /* A poll (hx-trigger="every ...", fired by a timer, not by the user) says so in X-Poll: the server
     does not count it as activity, so a page left open still logs out when idle (users/sessions.py). */
  document.addEventListener("htmx:configRequest", function (event) {
    var trigger = event.detail.elt.getAttribute("hx-trigger") || "";
    if (!event.detail.triggeringEvent && /(^|,)\s*every\s/.test(trigger)) {
      event.detail.headers["X-Poll"] = "1";
    }
  });
})();
