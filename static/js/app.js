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

  /* The view that shows the bounds ([west, south, east, north]) whole, on a Web Mercator map of this
     size: MapLibre's world is 512 px wide at zoom 0. */
  function mercatorY(latitude) {
    var radians = Math.max(-85, Math.min(85, latitude)) * Math.PI / 180;
    return Math.log(Math.tan(Math.PI / 4 + radians / 2));
  }

  function latitudeOf(y) {
    return (2 * Math.atan(Math.exp(y)) - Math.PI / 2) * 180 / Math.PI;
  }

  function fittedView(bounds, width, height) {
    var west = bounds[0], south = bounds[1], east = bounds[2], north = bounds[3];
    var padding = 0.8;
    var lonSpan = Math.max(east - west, 0.01);
    var ySpan = Math.max(mercatorY(north) - mercatorY(south), 0.0002);
    var zoomX = Math.log2((width * padding * 360) / (512 * lonSpan));
    var zoomY = Math.log2((height * padding * 2 * Math.PI) / (512 * ySpan));
    return {
      center: { lon: (west + east) / 2, lat: latitudeOf((mercatorY(north) + mercatorY(south)) / 2) },
      zoom: Math.max(0, Math.min(zoomX, zoomY, 15))
    };
  }

  /* The bounds with a margin, widened to the map's shape so the offline map fills its frame. */
  function offlineRanges(bounds, width, height) {
    var west = bounds[0], south = bounds[1], east = bounds[2], north = bounds[3];
    var lonMargin = Math.max((east - west) * 0.12, 0.1);
    west = Math.max(-180, west - lonMargin);
    east = Math.min(180, east + lonMargin);
    var bottom = mercatorY(south), top = mercatorY(north);
    var yMargin = Math.max((top - bottom) * 0.12, 0.002);
    bottom -= yMargin;
    top += yMargin;
    var wanted = width / height;
    var xSpan = (east - west) * Math.PI / 180, ySpan = top - bottom;
    if (xSpan / ySpan < wanted) {
      var extraX = (ySpan * wanted - xSpan) * 90 / Math.PI;
      west = Math.max(-180, west - extraX);
      east = Math.min(180, east + extraX);
    } else {
      var extraY = (xSpan / wanted - ySpan) / 2;
      bottom -= extraY;
      top += extraY;
    }
    return {
      lon: [west, east],
      lat: [Math.max(-85, latitudeOf(bottom)), Math.min(85, latitudeOf(top))]
    };
  }

  /* Our own base map, served with the static files: Natural Earth's coastlines, land, lakes, borders
     (Plotly's geo layers) and the world's capitals. Fetched once per page, whatever the swaps. */
  var basemap = null;
  function loadBasemap(element) {
    if (!basemap) {
      var get = function (url) {
        return fetch(url, { credentials: "same-origin" }).then(function (response) {
          if (!response.ok) throw new Error("base map " + response.status);
          return response.json();
        });
      };
      basemap = Promise.all([get(element.dataset.basemap), get(element.dataset.basemapCities)]).then(
        function (parts) {
          window.PlotlyGeoAssets = window.PlotlyGeoAssets || { topojson: {} };
          window.PlotlyGeoAssets.topojson = window.PlotlyGeoAssets.topojson || {};
          window.PlotlyGeoAssets.topojson.world_50m = parts[0];
          return parts[1];
        }
      );
    }
    return basemap;
  }

  /* No tile server (or no WebGL): the same traces on a plain SVG map of our offline base map. */
  function asOfflineMap(figure, cities, width, height) {
    figure.data.forEach(function (trace) {
      if (trace.type === "scattermap") trace.type = "scattergeo";
    });
    var bounds = (figure.layout.meta && figure.layout.meta.bounds) || [19, 59, 31, 70];
    var ranges = offlineRanges(bounds, width, height);
    var inside = cities.filter(function (city) {
      return city[1] >= ranges.lon[0] && city[1] <= ranges.lon[1] && city[2] >= ranges.lat[0] && city[2] <= ranges.lat[1];
    });
    figure.data.unshift({
      type: "scattergeo",
      name: "Capitals",
      lon: inside.map(function (city) { return city[1]; }),
      lat: inside.map(function (city) { return city[2]; }),
      text: inside.map(function (city) { return city[0]; }),
      mode: inside.length <= 40 ? "markers+text" : "markers",
      textposition: "top right",
      textfont: { size: 11, color: "#3c4043" },
      marker: { size: 5, color: "#3c4043", symbol: "square" },
      hovertemplate: "%{text}<extra>Capital</extra>",
      showlegend: false
    });
    delete figure.layout.map;
    figure.layout.geo = {
      projection: { type: "mercator" },
      resolution: 50,
      lonaxis: { range: ranges.lon },
      lataxis: { range: ranges.lat },
      showland: true,
      landcolor: "#f4f1e8",
      showocean: true,
      oceancolor: "#d6e4ef",
      showlakes: true,
      lakecolor: "#d6e4ef",
      showcoastlines: true,
      coastlinecolor: "#6b7f8e",
      showcountries: true,
      countrycolor: "#8a8f96",
      countrywidth: 1,
      showframe: false,
      bgcolor: "#d6e4ef"
    };
    return figure;
  }

  function drawOffline(element, figure, reason) {
    element.dataset.offline = reason;
    var note = document.getElementById(element.id + "-offline-note");
    if (note) note.hidden = false;
    return loadBasemap(element).then(function (cities) {
      var copy = JSON.parse(JSON.stringify(figure));
      /* The legend under the map takes about 60 px of its height. */
      var width = element.clientWidth || 800, height = (copy.layout.height || 560) - 60;
      return plot(element, asOfflineMap(copy, cities, width, height));
    });
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
     again on the offline base map: the tracks always show. */
  function plotMapOrFallback(element, figure) {
    var fallen = false;
    function fallBack() {
      if (fallen) return;
      fallen = true;
      window.Plotly.purge(element);
      drawOffline(element, figure, "map-failed");
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
    /* The server asked the tile server (monitoring/map_tiles.py): with no answer, not one tile request
       leaves this page. */
    var tiles = readJSON(element.dataset.tiles) || { scheme: "", path: "", answers: false };
    if (!tiles.answers) {
      drawOffline(element, figure, "no-tile-server");
      return;
    }
    if (!hasWebGL()) {
      drawOffline(element, figure, "no-webgl");
      return;
    }
    var bounds = figure.layout.meta && figure.layout.meta.bounds;
    figure.layout.map = figure.layout.map || {};
    if (bounds) {
      var view = fittedView(bounds, element.clientWidth || 800, figure.layout.height || 560);
      figure.layout.map.center = view.center;
      figure.layout.map.zoom = view.zoom;
    }
    figure.layout.map.style = mapStyle(tiles);
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
