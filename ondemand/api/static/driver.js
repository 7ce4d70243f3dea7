// The driver's tablet page of ondemand (/driver): the vehicle's stops ahead, in order, and
// buttons for what happened (arrived, picked up, no-show, dropped off).
// Data: GET /v1/driver (the vehicle key's own vehicle: stops, riders, the service clock);
// events: POST /v1/vehicles/{id}/events with an Idempotency-Key made here.
// Offline: every event goes through a queue kept in localStorage and is sent in order when
// the tablet is online; a resent event is harmless (the server answers a known key from its
// store). The key comes from the URL fragment (#key=..., never sent to the server) or the form
// and is kept in localStorage: the tablet serves one vehicle and must work after a restart.
(function () {
  "use strict";
  var REFRESH_MS = 10000;
  var RETRY_MS = 4000;
  var STORE = {
    key: "ondemand.driver.key",
    queue: "ondemand.driver.queue",
    marks: "ondemand.driver.marks",
    sheet: "ondemand.driver.sheet",
    offset: "ondemand.driver.offset",
    lang: "ondemand.driver.lang",
  };

  // Every text of the page, Japanese first. {n} is replaced by a number.
  var STRINGS = {
    ja: {
      title: "ondemand — 運転手",
      other_lang: "English",
      vehicle: "車両 {v}",
      next: "次の停留所",
      later: "この後の停留所",
      none: "予定された停留所はありません",
      pickup: "乗車",
      dropoff: "降車",
      arrived: "到着した",
      arrived_mark: "到着済み",
      picked_up: "乗車した",
      no_show: "来なかった",
      no_show_confirm: "もう一度押すと確定",
      dropped_off: "降車した",
      not_aboard: "まだ乗車していません",
      passengers: "{n}名",
      wheelchair: "車いす",
      need_wheelchair: "車いす",
      need_boarding_help: "乗降介助",
      window: "お迎え {a}–{b}",
      online: "オンライン",
      offline: "オフライン — 操作は保存され、接続が戻ると送信されます",
      queue: "未送信 {n}件",
      queue_none: "未送信なし",
      updated: "更新 {t}",
      key_label: "この車両のAPIキー",
      start: "開始",
      key_help: "キーはこの端末(localStorage)に保存され、Authorization ヘッダーでのみ送信されます。/driver#key=キー でも開けます。",
      key_refused: "キーが受け付けられませんでした ({n})。車両のキーを入力してください。",
      rejected: "サーバーが受け付けませんでした: ",
      load_failed: "更新できませんでした: ",
    },
    en: {
      title: "ondemand — driver",
      other_lang: "日本語",
      vehicle: "Vehicle {v}",
      next: "Next stop",
      later: "Later stops",
      none: "No stops planned",
      pickup: "Pick up",
      dropoff: "Drop off",
      arrived: "Arrived",
      arrived_mark: "Arrived",
      picked_up: "Picked up",
      no_show: "No-show",
      no_show_confirm: "Tap again to confirm",
      dropped_off: "Dropped off",
      not_aboard: "not picked up yet",
      passengers: "{n} pax",
      wheelchair: "Wheelchair",
      need_wheelchair: "Wheelchair",
      need_boarding_help: "Boarding help",
      window: "window {a}–{b}",
      online: "Online",
      offline: "Offline — actions are saved and sent when the connection is back",
      queue: "{n} unsent",
      queue_none: "nothing unsent",
      updated: "updated {t}",
      key_label: "API key of this vehicle",
      start: "Start",
      key_help: "The key is kept on this tablet (localStorage) and sent only in the Authorization header. You can also open /driver#key=KEY.",
      key_refused: "The key was refused ({n}). Enter the vehicle's key.",
      rejected: "The server did not accept: ",
      load_failed: "Could not update: ",
    },
  };

  var lang = localStorage.getItem(STORE.lang) === "en" ? "en" : "ja";
  var sheet = readJson(STORE.sheet, null);
  var queue = readJson(STORE.queue, []);
  var marks = readJson(STORE.marks, { done: {}, arrived: {} });
  var offset = readJson(STORE.offset, null); // server clock minus this tablet's clock, ms
  var reachable = true; // the last request reached the server
  var flushing = false;
  var armedNoShow = null; // request id whose no-show button was tapped once
  var lastUpdate = null;
  var started = false;

  function readJson(name, fallback) {
    try {
      var raw = localStorage.getItem(name);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) {
      return fallback;
    }
  }

  function save(name, value) {
    localStorage.setItem(name, JSON.stringify(value));
  }

  function t(name, vars) {
    var s = STRINGS[lang][name] || STRINGS.ja[name] || name;
    Object.keys(vars || {}).forEach(function (k) { s = s.split("{" + k + "}").join(String(vars[k])); });
    return s;
  }

  function el(tag, cls, txt) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (txt !== undefined && txt !== null) { e.textContent = txt; }
    return e;
  }

  function hhmm(iso) {
    return iso ? iso.slice(11, 16) : ""; // the API gives times in the service time zone
  }

  function online() {
    return navigator.onLine !== false && reachable;
  }

  function takeKeyFromFragment() {
    var m = /(?:^|[#&])key=([^&]+)/.exec(window.location.hash || "");
    if (m) {
      localStorage.setItem(STORE.key, decodeURIComponent(m[1]));
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    return localStorage.getItem(STORE.key);
  }

  function newKey() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes); // (crypto.randomUUID needs https; a tablet may use plain http)
    return "drv-" + Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function serverNowIso() {
    return offset === null ? null : new Date(Date.now() + offset).toISOString();
  }

  function notice(msg) {
    var box = document.getElementById("notice");
    box.textContent = msg || "";
    box.hidden = !msg;
  }

  // -- the stops ahead, as the driver sees them ------------------------------------------------

  function doneKey(rid, kind) { return rid + ":" + kind; }

  function visibleStops() {
    if (!sheet) { return []; }
    return sheet.stops.filter(function (s) { return !marks.done[doneKey(s.request_id, s.kind)]; });
  }

  function groups(stops) {
    var out = [];
    stops.forEach(function (s) {
      var last = out[out.length - 1];
      if (last && last.stop_id === s.stop_id) { last.entries.push(s); } else {
        out.push({ stop_id: s.stop_id, stop_name: s.stop_name, eta: s.eta, entries: [s] });
      }
    });
    return out;
  }

  // The needs shown beside a rider: the ride's wheelchair flag and, when the itinerary carries
  // them (hook for the desk's rider registry), s.needs as codes ("wheelchair", "boarding_help",
  // shown through the string table) and s.rider_name.
  function needsOf(s) {
    var out = [];
    if (s.wheelchair) { out.push(t("need_wheelchair")); }
    (Array.isArray(s.needs) ? s.needs : []).forEach(function (n) {
      var label = STRINGS[lang]["need_" + n] || String(n);
      if (out.indexOf(label) < 0) { out.push(label); }
    });
    return out;
  }

  function riderLabel(s) {
    return (s.rider_name ? s.rider_name + " · " : "") + t("passengers", { n: s.passengers });
  }

  function button(action, label, attrs, enabled) {
    var b = el("button", "big act-" + action, label);
    b.type = "button";
    b.setAttribute("data-action", action);
    Object.keys(attrs).forEach(function (k) { b.setAttribute(k, attrs[k]); });
    b.disabled = !enabled;
    return b;
  }

  function render() {
    document.title = t("title");
    document.documentElement.lang = lang;
    document.getElementById("lang").textContent = t("other_lang");
    Array.prototype.forEach.call(document.querySelectorAll("[data-t]"), function (e) {
      e.textContent = t(e.getAttribute("data-t"));
    });
    document.getElementById("vehicle").textContent = sheet ? t("vehicle", { v: sheet.vehicle_id }) : "";
    var net = document.getElementById("net");
    net.textContent = online() ? t("online") + (lastUpdate ? " · " + t("updated", { t: lastUpdate }) : "") : t("offline");
    net.className = "bar-item" + (online() ? "" : " offline");
    var q = document.getElementById("queue");
    q.setAttribute("data-count", String(queue.length));
    q.textContent = queue.length ? t("queue", { n: queue.length }) : t("queue_none");
    renderClock();

    var stops = visibleStops();
    var gs = groups(stops);
    var waiting = {}; // riders whose pickup is still ahead: not on board
    stops.forEach(function (s) { if (s.kind === "pickup") { waiting[s.request_id] = true; } });
    var next = document.getElementById("next-body");
    next.textContent = "";
    var nextStop = gs.length ? gs[0].stop_id : null;
    Object.keys(marks.arrived).forEach(function (id) { if (id !== nextStop) { delete marks.arrived[id]; } });
    if (!gs.length) {
      next.appendChild(el("div", "empty", sheet ? t("none") : ""));
    } else {
      var g = gs[0];
      var card = el("div", "stop");
      card.setAttribute("data-stop-id", g.stop_id);
      var name = el("div", "stop-name", g.stop_name || g.stop_id);
      if (marks.arrived[g.stop_id]) { name.appendChild(el("span", "arrived-mark", t("arrived_mark"))); }
      card.appendChild(name);
      card.appendChild(el("div", "stop-time", hhmm(g.eta)));
      card.appendChild(button("arrived", t("arrived"), { "data-stop-id": g.stop_id }, !marks.arrived[g.stop_id]));
      g.entries.forEach(function (s) {
        var row = el("div", "rider");
        row.setAttribute("data-request-id", s.request_id);
        row.setAttribute("data-kind", s.kind);
        var what = el("div", "rider-what");
        what.appendChild(el("span", "kind", s.kind === "pickup" ? t("pickup") : t("dropoff")));
        what.appendChild(document.createTextNode(riderLabel(s)));
        needsOf(s).forEach(function (n) { what.appendChild(el("span", "need", n)); });
        if (s.kind === "pickup" && s.window) {
          what.appendChild(el("span", "rider-id", t("window", { a: hhmm(s.window.start), b: hhmm(s.window.end) })));
        }
        what.appendChild(el("span", "rider-id", "#" + s.request_id.slice(-6)));
        if (s.kind === "dropoff" && waiting[s.request_id]) {
          what.appendChild(el("span", "pending", " " + t("not_aboard")));
        }
        row.appendChild(what);
        var attrs = { "data-request-id": s.request_id };
        if (s.kind === "pickup") {
          row.appendChild(button("picked_up", t("picked_up"), attrs, true));
          var ns = button("no_show", armedNoShow === s.request_id ? t("no_show_confirm") : t("no_show"), attrs, true);
          if (armedNoShow === s.request_id) { ns.className += " confirm"; }
          row.appendChild(ns);
        } else {
          row.appendChild(button("dropped_off", t("dropped_off"), attrs, !waiting[s.request_id]));
        }
        card.appendChild(row);
      });
      next.appendChild(card);
    }
    var list = document.getElementById("later-list");
    list.textContent = "";
    gs.slice(1).forEach(function (g) {
      var li = el("li");
      li.setAttribute("data-stop-id", g.stop_id);
      li.appendChild(el("span", "time", hhmm(g.eta)));
      li.appendChild(document.createTextNode(g.stop_name || g.stop_id));
      var riders = g.entries.map(function (s) {
        var needs = needsOf(s);
        return (s.kind === "pickup" ? t("pickup") : t("dropoff")) + " " + riderLabel(s) +
          (needs.length ? " (" + needs.join(", ") + ")" : "");
      });
      li.appendChild(el("span", "riders", riders.join(" · ")));
      list.appendChild(li);
    });
    document.getElementById("later").hidden = gs.length < 2;
  }

  function renderClock() {
    var c = document.getElementById("clock");
    if (offset === null || !sheet) { c.textContent = ""; return; }
    var now = new Date(Date.now() + offset);
    var text;
    try {
      text = new Intl.DateTimeFormat("ja-JP", { timeZone: sheet.time_zone, hour: "2-digit", minute: "2-digit",
                                                hour12: false }).format(now);
    } catch (e) {
      text = hhmm(sheet.now);
    }
    c.textContent = text;
  }

  // -- actions and the queue -------------------------------------------------------------------

  function act(type, fields) {
    if (!sheet) { return; }
    var body = { type: type };
    Object.keys(fields).forEach(function (k) { body[k] = fields[k]; });
    var at = serverNowIso();
    if (at) { body.at = at; } // the time of the tap, also when it is sent later
    queue.push({ key: newKey(), vehicle: sheet.vehicle_id, body: body });
    if (type === "arrived") { marks.arrived[fields.stop_id] = true; }
    if (type === "picked_up" || type === "no_show") { marks.done[doneKey(fields.request_id, "pickup")] = true; }
    if (type === "no_show" || type === "dropped_off") { marks.done[doneKey(fields.request_id, "dropoff")] = true; }
    save(STORE.queue, queue);
    save(STORE.marks, marks);
    render();
    flush();
  }

  function unmark(body) {
    if (body.type === "arrived") { delete marks.arrived[body.stop_id]; }
    if (body.type === "picked_up" || body.type === "no_show") { delete marks.done[doneKey(body.request_id, "pickup")]; }
    if (body.type === "no_show" || body.type === "dropped_off") { delete marks.done[doneKey(body.request_id, "dropoff")]; }
    save(STORE.marks, marks);
  }

  function flush() {
    if (flushing) { return; }
    if (!queue.length) { render(); return; }
    if (navigator.onLine === false) { render(); return; }
    var key = localStorage.getItem(STORE.key);
    if (!key) { return; }
    flushing = true;
    var item = queue[0];
    fetch("/v1/vehicles/" + encodeURIComponent(item.vehicle) + "/events", {
      method: "POST",
      headers: { Authorization: "Bearer " + key, "Content-Type": "application/json", "Idempotency-Key": item.key },
      body: JSON.stringify(item.body),
      cache: "no-store",
    }).then(function (r) {
      reachable = true;
      if (r.ok) { return done(item, null); }
      if (r.status === 401 || r.status === 403) {
        flushing = false;
        showLogin(t("key_refused", { n: r.status }));
        return null;
      }
      if (r.status >= 500 || r.status === 408 || r.status === 429) { // not stored: try again later
        flushing = false;
        render();
        return null;
      }
      // refused for good (the event does not fit the ride any more): drop it, say why
      return r.json().then(function (e) { return e && e.detail ? String(e.detail) : "HTTP " + r.status; },
                           function () { return "HTTP " + r.status; })
        .then(function (why) { return done(item, why); });
    }, function () { // no answer: offline or the server is away; the item stays first in the queue
      flushing = false;
      reachable = false;
      render();
    });
  }

  function done(item, refusal) {
    if (queue.length && queue[0].key === item.key) { queue.shift(); }
    save(STORE.queue, queue);
    if (refusal) {
      unmark(item.body);
      notice(t("rejected") + refusal);
    }
    flushing = false;
    render();
    if (queue.length) { flush(); } else { refresh(); }
  }

  // -- loading the sheet -----------------------------------------------------------------------

  function prune() {
    var present = {};
    sheet.stops.forEach(function (s) { present[doneKey(s.request_id, s.kind)] = true; });
    var queued = {};
    queue.forEach(function (item) { if (item.body.request_id) { queued[item.body.request_id] = true; } });
    Object.keys(marks.done).forEach(function (k) {
      if (!present[k] && !queued[k.split(":")[0]]) { delete marks.done[k]; }
    });
    save(STORE.marks, marks);
  }

  function refresh() {
    var key = localStorage.getItem(STORE.key);
    if (!key) { showLogin(""); return; }
    fetch("/v1/driver", { headers: { Authorization: "Bearer " + key }, cache: "no-store" }).then(function (r) {
      reachable = true;
      if (r.status === 401 || r.status === 403 || r.status === 422) {
        return r.json().then(function (e) {
          showLogin(t("key_refused", { n: r.status }) + (e && e.detail ? " " + e.detail : ""));
        }, function () { showLogin(t("key_refused", { n: r.status })); });
      }
      if (!r.ok) { notice(t("load_failed") + "HTTP " + r.status); render(); return null; }
      return r.json().then(function (data) {
        sheet = data;
        offset = Date.parse(data.now) - Date.now();
        lastUpdate = hhmm(data.now);
        save(STORE.sheet, sheet);
        save(STORE.offset, offset);
        prune();
        render();
      });
    }, function () {
      reachable = false;
      render();
    });
  }

  // -- wiring ----------------------------------------------------------------------------------

  document.getElementById("next-body").addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-action]");
    if (!b || b.disabled) { return; }
    var action = b.getAttribute("data-action");
    var rid = b.getAttribute("data-request-id");
    if (action === "arrived") {
      act("arrived", { stop_id: b.getAttribute("data-stop-id") });
    } else if (action === "no_show") {
      if (armedNoShow !== rid) { // a no-show cancels the rider's ride: ask for a second tap
        armedNoShow = rid;
        render();
        window.setTimeout(function () { if (armedNoShow === rid) { armedNoShow = null; render(); } }, 5000);
        return;
      }
      armedNoShow = null;
      act("no_show", { request_id: rid });
    } else {
      act(action, { request_id: rid });
    }
  });

  document.getElementById("lang").addEventListener("click", function () {
    lang = lang === "ja" ? "en" : "ja";
    localStorage.setItem(STORE.lang, lang);
    render();
  });

  function showLogin(msg) {
    notice(msg);
    document.getElementById("login").hidden = false;
    document.getElementById("apikey").focus();
  }

  document.getElementById("login").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var k = document.getElementById("apikey").value.trim();
    if (!k) { return; }
    localStorage.setItem(STORE.key, k);
    document.getElementById("login").hidden = true;
    notice("");
    start();
  });

  window.addEventListener("online", function () { reachable = true; flush(); refresh(); });
  window.addEventListener("offline", function () { render(); });

  function start() {
    refresh();
    flush();
    if (!started) {
      started = true;
      window.setInterval(refresh, REFRESH_MS);
      window.setInterval(flush, RETRY_MS);
      window.setInterval(renderClock, 15000);
    }
  }

  // keep the page itself for offline reloads (service workers run on https and localhost only)
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/driver-sw.js", { scope: "/driver" }).catch(function () {});
  }

  render();
  if (takeKeyFromFragment()) { start(); } else { showLogin(""); }
})();
