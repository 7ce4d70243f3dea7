// Live control-room map of ondemand: vehicles, their next stops and open requests.
// Data: GET /v1/stops once, GET /v1/live every REFRESH_MS, with the operator key in the
// Authorization header. The key comes from the URL fragment (#key=...), which browsers never
// send to the server, or from the login form; it is kept in sessionStorage for this tab only.
(function () {
  "use strict";
  var REFRESH_MS = 3000;
  var KEY_STORE = "ondemand.apikey";

  function takeKeyFromFragment() {
    var m = /(?:^|[#&])key=([^&]+)/.exec(window.location.hash || "");
    if (m) {
      sessionStorage.setItem(KEY_STORE, decodeURIComponent(m[1]));
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    return sessionStorage.getItem(KEY_STORE);
  }

  var map = L.map("map", { preferCanvas: false });
  map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
  L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19,
    attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
  }).addTo(map);
  map.setView([34.69, 135.5], 12);

  var stopLayer = L.layerGroup().addTo(map);
  var nextLayer = L.layerGroup().addTo(map);
  var requestLayer = L.layerGroup().addTo(map);
  var vehicleLayer = L.layerGroup().addTo(map);
  var vehicleMarkers = {};
  var fitted = false;
  var stopsById = {};
  var timer = null;

  function setStatus(text, isError) {
    var el = document.getElementById("status");
    el.textContent = text;
    el.className = isError ? "error" : "";
  }

  function api(path) {
    var key = sessionStorage.getItem(KEY_STORE);
    return fetch(path, { headers: { Authorization: "Bearer " + key }, cache: "no-store" }).then(function (r) {
      if (r.status === 401 || r.status === 403) {
        sessionStorage.removeItem(KEY_STORE);
        showLogin("The key was refused (" + r.status + "). Enter an operator key.");
        throw new Error("unauthorised");
      }
      if (!r.ok) { throw new Error(path + ": HTTP " + r.status); }
      return r.json();
    });
  }

  function hhmm(iso) {
    if (!iso) { return ""; }
    return iso.slice(11, 16);
  }

  function text(s) {
    var d = document.createElement("div");
    d.textContent = s;
    return d.innerHTML;
  }

  function loadStops() {
    return api("/v1/stops").then(function (stops) {
      stopLayer.clearLayers();
      var bounds = [];
      stops.forEach(function (s) {
        stopsById[s.id] = s;
        L.circleMarker([s.lat, s.lon], { radius: 4, color: "#757575", weight: 1, fillOpacity: 0.6,
                                         className: "od-stop" })
          .bindTooltip(text(s.name + " (" + s.id + ")")).addTo(stopLayer);
        bounds.push([s.lat, s.lon]);
      });
      if (bounds.length && !fitted) { map.fitBounds(bounds, { padding: [20, 20] }); fitted = true; }
    });
  }

  function render(live) {
    nextLayer.clearLayers();
    requestLayer.clearLayers();
    var seen = {};
    var tbody = document.querySelector("#vehicles tbody");
    tbody.innerHTML = "";
    // Vehicles at the same spot (e.g. at the depot) side by side, not one on top of the other.
    var together = {};
    live.vehicles.forEach(function (v) {
      if (!v.position) { return; }
      var at = v.position.lat.toFixed(5) + "," + v.position.lon.toFixed(5);
      (together[at] = together[at] || []).push(v.id);
    });
    var shift = {};
    Object.keys(together).forEach(function (at) {
      var ids = together[at].sort();
      ids.forEach(function (id, k) { shift[id] = Math.round((k - (ids.length - 1) / 2) * 38); });
    });
    live.vehicles.forEach(function (v) {
      seen[v.id] = true;
      var full = v.onboard >= v.seats;
      if (v.position) {
        var icon = L.divIcon({ className: "od-vehicle" + (full ? " full" : ""), html: text(v.id),
                               iconSize: [34, 20], iconAnchor: [17 - shift[v.id], 10] });
        var m = vehicleMarkers[v.id];
        if (!m) {
          m = L.marker([v.position.lat, v.position.lon], { icon: icon, title: v.id, zIndexOffset: 1000 });
          m.addTo(vehicleLayer);
          vehicleMarkers[v.id] = m;
        } else {
          m.setLatLng([v.position.lat, v.position.lon]);
          m.setIcon(icon);
        }
        m.getElement() && m.getElement().setAttribute("data-vehicle-id", v.id);
        m.bindTooltip(text(v.id + ": " + v.onboard + "/" + v.seats + " on board"));
        var path = [[v.position.lat, v.position.lon]];
        (live.next_stops[v.id] || []).forEach(function (s, i) {
          path.push([s.lat, s.lon]);
          L.circleMarker([s.lat, s.lon], { radius: 6, color: "#2e7d32", weight: 2, fillOpacity: 0.3,
                                           className: "od-next-stop" })
            .bindTooltip(text((i + 1) + ". " + s.kind + " " + s.stop_name + " ~" + hhmm(s.eta)))
            .addTo(nextLayer);
        });
        if (path.length > 1) {
          L.polyline(path, { color: "#2e7d32", weight: 2, dashArray: "4 4", className: "od-next-path" })
            .addTo(nextLayer);
        }
      }
      var n = v.next_stop;
      var tr = document.createElement("tr");
      tr.innerHTML = "<td>" + text(v.id) + "</td><td>" + v.onboard + "/" + v.seats + "</td><td>" +
        (n ? text(n.kind + " " + n.stop_name) : "—") + "</td><td>" + (n ? hhmm(n.eta) : "") + "</td>";
      tbody.appendChild(tr);
    });
    Object.keys(vehicleMarkers).forEach(function (id) {
      if (!seen[id]) { vehicleLayer.removeLayer(vehicleMarkers[id]); delete vehicleMarkers[id]; }
    });
    var waiting = 0;
    live.open_requests.forEach(function (r) {
      if (r.status !== "assigned") { return; }
      waiting += 1;
      var s = stopsById[r.pickup_stop];
      if (!s) { return; }
      L.marker([s.lat, s.lon], {
        icon: L.divIcon({ className: "od-request", iconSize: [12, 12] }),
        title: r.id,
      }).bindTooltip(text(r.passengers + " pax, " + r.pickup_stop + " → " + r.dropoff_stop + ", " +
        (r.pickup_window ? hhmm(r.pickup_window.start) + "–" + hhmm(r.pickup_window.end) : "") +
        ", " + r.vehicle_id)).addTo(requestLayer);
    });
    var onboard = live.open_requests.length - waiting;
    document.getElementById("counts").textContent =
      live.vehicles.length + " vehicles · " + waiting + " waiting for pickup · " + onboard + " rides on board";
    var alarms = live.alarms || [];
    var box = document.getElementById("alarms");
    box.hidden = alarms.length === 0;
    box.innerHTML = alarms.length ? "<strong>" + alarms.length + " lost booking(s) — contact the riders</strong>" : "";
    alarms.forEach(function (r) {
      var item = document.createElement("div");
      item.className = "od-alarm-item";
      item.setAttribute("data-request-id", r.id);
      item.textContent = r.id + ": " + r.pickup_stop + " → " + r.dropoff_stop + " " +
        (r.pickup_window ? hhmm(r.pickup_window.start) + "–" + hhmm(r.pickup_window.end) : "");
      item.title = r.reason || "";
      box.appendChild(item);
      var s = stopsById[r.pickup_stop];
      if (s) {
        L.marker([s.lat, s.lon], { icon: L.divIcon({ className: "od-lost", html: "!", iconSize: [16, 16] }),
                                   title: r.id, zIndexOffset: 500 })
          .bindTooltip(text("LOST " + r.id + ": " + (r.reason || ""))).addTo(requestLayer);
      }
    });
    setStatus("updated " + hhmm(live.now) + " (every " + REFRESH_MS / 1000 + " s)", false);
  }

  function renderKpis(k) {
    var pct = Math.round(k.refusal_rate * 100);
    var wait = k.mean_promised_wait_s === null ? "–" : Math.round(k.mean_promised_wait_s / 60) + " min";
    document.getElementById("kpis").textContent =
      "Today: " + k.requests + " requests · " + k.assigned + " booked · " + k.refused + " refused (" + pct +
      " %) · " + k.cancelled + " cancelled · " + k.completed + " completed · promised wait " + wait +
      (k.lost ? " · " + k.lost + " LOST" : "");
  }

  function refresh() {
    api("/v1/kpis").then(renderKpis).catch(function () {});
    api("/v1/live").then(render).catch(function (e) {
      if (e.message !== "unauthorised") { setStatus("update failed: " + e.message + " — retrying", true); }
    });
  }

  function start() {
    document.getElementById("login").hidden = true;
    loadStops().then(refresh).catch(function (e) {
      if (e.message !== "unauthorised") { setStatus("could not load stops: " + e.message, true); }
    });
    if (timer === null) { timer = window.setInterval(refresh, REFRESH_MS); }
  }

  function showLogin(msg) {
    if (timer !== null) { window.clearInterval(timer); timer = null; }
    setStatus(msg || "enter an operator key", true);
    document.getElementById("login").hidden = false;
    document.getElementById("apikey").focus();
  }

  document.getElementById("login").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var k = document.getElementById("apikey").value.trim();
    if (k) { sessionStorage.setItem(KEY_STORE, k); start(); }
  });

  if (takeKeyFromFragment()) { start(); } else { showLogin(); }
})();
