// Phone-desk booking screen of ondemand: find or register the caller, pick the stops (by name, number
// or on the map), ask for a time, see the offer and confirm; list and cancel the caller's bookings.
// API: /v1/desk, /v1/stops, /v1/riders..., /v1/ride-requests/quote, /v1/ride-requests, with the operator
// key in the Authorization header. The key comes from the URL fragment (#key=...), which browsers never
// send to the server, or from the login form; it is kept in sessionStorage for this tab only.
// Names and phone numbers only ever travel in request bodies, never in a URL.
(function () {
  "use strict";
  var KEY_STORE = "ondemand.apikey";
  var LANG_STORE = "ondemand.desk.lang";

  // Every text of the page, Japanese first. {name} is replaced by a value.
  var STRINGS = {
    ja: {
      title: "電話予約デスク", lang_other: "English", caller: "1. 利用者",
      search_label: "電話番号（3桁以上）または氏名の一部", search: "検索",
      register_new: "新しい利用者を登録", name: "氏名", phone: "電話番号", needs: "必要な配慮",
      need_wheelchair: "車いす", need_boarding_help: "乗降の介助", register: "登録する",
      bookings: "予約一覧", ride: "2. 乗車", origin: "乗車地（名前・番号・地図）",
      destination: "降車地（名前・番号・地図）",
      map_hint: "地図の乗降ポイントをクリックすると、乗車地、次に降車地に入ります。",
      when: "時刻", asap: "できるだけ早く", leave_at: "出発時刻を指定", arrive_by: "到着時刻を指定",
      passengers: "人数", check: "空きを確認", key_label: "事業者のAPIキー", key_submit: "開く",
      key_note: "キーはこのタブ（sessionStorage）にだけ保存され、Authorization ヘッダーでのみ送られます。" +
        "/desk#key=KEY でも開けます（# 以降はサーバーに届きません）。",
      select: "選択", none_found: "見つかりません。新しく登録してください。", selected: "選択中の利用者",
      no_bookings: "今日以降の予約はありません。", cancel: "取り消す", confirm: "この内容で予約する",
      offer: "ご案内できます", pickup_window: "お迎え {start}〜{end}", dropoff_eta: "到着予定 {eta}",
      arrive_latest: "遅くとも {latest} に到着", refused: "この時刻ではご案内できません",
      reason: "理由: {reason}", alternatives: "ご案内できる近い時刻:", no_alternatives: "前後2時間に空きはありません。",
      take_alt: "{time} 出発で確認", take_alt_arrive: "{time} 到着で確認",
      booked: "予約しました（{id}）。お迎え {start}〜{end}、到着予定 {eta}、車両 {vehicle}。",
      cancelled: "予約 {id} を取り消しました。", registered: "登録しました。", loading: "読み込み中…",
      ready: "準備完了。", unknown_stop: "乗降ポイント「{q}」が見つかりません。",
      ambiguous_stop: "「{q}」に当てはまる乗降ポイントが複数あります: {list}",
      need_time: "時刻（HH:MM）を入れてください。", need_rider: "先に利用者を選ぶか登録してください。",
      key_refused: "キーが拒否されました（{status}）。事業者のキーを入れてください。",
      failed: "エラー: {detail}", searching: "検索中…", checking: "確認中…", booking: "予約中…",
      status_assigned: "予約済み", status_refused: "お断り", status_cancelled: "取消済み",
      status_onboard: "乗車中", status_completed: "完了", status_no_show: "不在", status_lost: "要確認",
      wheelchair_short: "車いす", help_short: "介助", pax: "{n}人", today: "本日 {date}",
      hours: "運行 {start}〜{end}",
    },
    en: {
      title: "Phone booking desk", lang_other: "日本語", caller: "1. Caller",
      search_label: "Phone number (3+ digits) or part of the name", search: "Find",
      register_new: "Register a new rider", name: "Name", phone: "Phone number", needs: "Needs",
      need_wheelchair: "Wheelchair", need_boarding_help: "Help to board", register: "Register",
      bookings: "Bookings", ride: "2. Ride", origin: "From (name, number or map)",
      destination: "To (name, number or map)",
      map_hint: "Click a meeting point on the map: it fills From, then To.",
      when: "When", asap: "As soon as possible", leave_at: "Leave at", arrive_by: "Arrive by",
      passengers: "Passengers", check: "Check availability", key_label: "Operator API key", key_submit: "Open",
      key_note: "The key stays in this browser tab (sessionStorage) and is sent only in the Authorization " +
        "header. You can also open /desk#key=KEY; the part after # never reaches the server.",
      select: "Select", none_found: "Nobody found. Register the caller.", selected: "Selected rider",
      no_bookings: "No bookings from today on.", cancel: "Cancel", confirm: "Book this ride",
      offer: "A ride is available", pickup_window: "Pickup {start}–{end}", dropoff_eta: "Arrives about {eta}",
      arrive_latest: "arrives by {latest} at the latest", refused: "No ride at this time",
      reason: "Reason: {reason}", alternatives: "Nearest times that work:",
      no_alternatives: "Nothing free within two hours.",
      take_alt: "Check leaving {time}", take_alt_arrive: "Check arriving {time}",
      booked: "Booked ({id}). Pickup {start}–{end}, arrives about {eta}, vehicle {vehicle}.",
      cancelled: "Booking {id} cancelled.", registered: "Registered.", loading: "Loading…",
      ready: "Ready.", unknown_stop: "No meeting point matches \u201c{q}\u201d.",
      ambiguous_stop: "Several meeting points match \u201c{q}\u201d: {list}",
      need_time: "Enter a time (HH:MM).", need_rider: "Select or register the caller first.",
      key_refused: "The key was refused ({status}). Enter an operator key.",
      failed: "Error: {detail}", searching: "Searching…", checking: "Checking…", booking: "Booking…",
      status_assigned: "booked", status_refused: "refused", status_cancelled: "cancelled",
      status_onboard: "on board", status_completed: "completed", status_no_show: "no-show", status_lost: "LOST",
      wheelchair_short: "wheelchair", help_short: "boarding help", pax: "{n} pax", today: "Today {date}",
      hours: "service {start}–{end}",
    },
  };

  var lang = localStorage.getItem(LANG_STORE) === "en" ? "en" : "ja";
  var info = null;        // GET /v1/desk
  var stops = [];         // GET /v1/stops
  var stopsById = {};
  var markers = {};
  var rider = null;       // the selected rider
  var lastQuote = null;   // {body, idem}
  var nextMapField = "origin";

  function t(key, params) {
    var s = STRINGS[lang][key] || STRINGS.ja[key] || key;
    Object.keys(params || {}).forEach(function (k) { s = s.split("{" + k + "}").join(String(params[k])); });
    return s;
  }

  function el(id) { return document.getElementById(id); }

  function node(tag, cls, textContent) {
    var n = document.createElement(tag);
    if (cls) { n.className = cls; }
    if (textContent !== undefined) { n.textContent = textContent; }
    return n;
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach(function (n) { n.textContent = t(n.getAttribute("data-i18n")); });
    document.title = "ondemand — " + t("title");
    showService();
    if (rider) { showRider(); loadBookings(); }
  }

  function setStatus(msg, isError) {
    var s = el("status");
    s.textContent = msg;
    s.className = isError ? "error" : "";
  }

  function hhmm(iso) { return iso ? iso.slice(11, 16) : ""; }

  function api(method, path, body, headers) {
    var key = sessionStorage.getItem(KEY_STORE);
    var h = { Authorization: "Bearer " + key };
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    var init = { method: method, headers: h, cache: "no-store" };
    if (body !== undefined) { h["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (r) {
      if (r.status === 401 || r.status === 403) {
        sessionStorage.removeItem(KEY_STORE);
        showLogin(t("key_refused", { status: r.status }));
        throw new Error("unauthorised");
      }
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { throw new Error(data.detail || ("HTTP " + r.status)); }
        return data;
      });
    });
  }

  function fail(e) {
    if (e.message !== "unauthorised") { setStatus(t("failed", { detail: e.message }), true); }
  }

  // ------------------------------------------------------------------ the map and the stops
  var map = L.map("map");
  map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
  L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19,
    attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
  }).addTo(map);
  map.setView([34.69, 135.5], 12);

  function fold(s) { return String(s).normalize("NFKC").toLowerCase().replace(/[ヶがガヵ]/g, "ケ"); }

  function stopLabel(s) { return s.name + " (" + s.id + ")"; }

  function loadStops() {
    return api("GET", "/v1/stops").then(function (list) {
      stops = list;
      var dl = el("stop-list");
      dl.innerHTML = "";
      var bounds = [];
      list.forEach(function (s) {
        stopsById[s.id] = s;
        var o = document.createElement("option");
        o.value = stopLabel(s);
        dl.appendChild(o);
        var m = L.circleMarker([s.lat, s.lon], { radius: 7, color: "#555", weight: 2, fillOpacity: 0.5,
                                                 className: "od-stop od-stop-" + s.id });
        m.bindTooltip(s.name + " (" + s.id + ")");
        m.on("click", function () { pickFromMap(s); });
        m.addTo(map);
        markers[s.id] = m;
        bounds.push([s.lat, s.lon]);
      });
      if (bounds.length) { map.fitBounds(bounds, { padding: [20, 20] }); }
    });
  }

  function pickFromMap(s) {
    el(nextMapField).value = stopLabel(s);
    nextMapField = nextMapField === "origin" ? "destination" : "origin";
    highlight();
  }

  // A stop from what the clerk typed: "name (id)" from the list, an id, a number, or part of a name.
  function resolveStop(text) {
    var q = text.trim();
    var m = /\(([^()]+)\)\s*$/.exec(q);
    if (m && stopsById[m[1]]) { return stopsById[m[1]]; }
    if (stopsById[q]) { return stopsById[q]; }
    var f = fold(q);
    if (!f) { throw new Error(t("unknown_stop", { q: q })); }
    var exact = stops.filter(function (s) { return fold(s.id) === f || fold(s.name) === f; });
    if (exact.length === 1) { return exact[0]; }
    var hits;
    if (/^[0-9]+$/.test(f)) {
      var n = parseInt(f, 10);
      hits = stops.filter(function (s) {
        var idNum = /([0-9]+)$/.exec(s.id);
        var nameNum = /^([0-9]+)/.exec(s.name) || /([0-9]+)$/.exec(s.name);
        return (idNum && parseInt(idNum[1], 10) === n) || (nameNum && parseInt(nameNum[1], 10) === n);
      });
    } else {
      hits = stops.filter(function (s) { return fold(s.name).indexOf(f) >= 0; });
    }
    if (hits.length === 1) { return hits[0]; }
    if (!hits.length) { throw new Error(t("unknown_stop", { q: q })); }
    throw new Error(t("ambiguous_stop", { q: q, list: hits.slice(0, 6).map(stopLabel).join(", ") }));
  }

  function highlight() {
    Object.keys(markers).forEach(function (id) {
      var p = markers[id].getElement && markers[id].getElement();
      if (p) { p.classList.remove("origin"); p.classList.remove("destination"); }
    });
    ["origin", "destination"].forEach(function (field) {
      try {
        var s = resolveStop(el(field).value);
        var p = markers[s.id].getElement();
        if (p) { p.classList.add(field); }
      } catch (e) { /* not (yet) a stop */ }
    });
  }

  // ------------------------------------------------------------------ callers
  function needsText(needs) {
    return needs.map(function (n) { return n === "wheelchair" ? t("wheelchair_short") : t("help_short"); }).join(", ");
  }

  function riderText(r) {
    return r.name + " · " + r.phone + (r.needs.length ? " · " + needsText(r.needs) : "");
  }

  el("search-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    setStatus(t("searching"), false);
    api("POST", "/v1/riders/search", { q: el("search-q").value }).then(function (list) {
      var ul = el("found");
      ul.innerHTML = "";
      if (!list.length) {
        ul.appendChild(node("li", "empty", t("none_found")));
        el("register-box").open = true;
      }
      list.forEach(function (r) {
        var li = node("li", "od-found");
        li.setAttribute("data-rider-id", r.id);
        li.appendChild(node("span", "what", riderText(r)));
        var b = node("button", "", t("select"));
        b.type = "button";
        b.addEventListener("click", function () { selectRider(r); });
        li.appendChild(b);
        ul.appendChild(li);
      });
      setStatus("", false);
    }).catch(fail);
  });

  el("register-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var needs = [];
    if (el("reg-wheelchair").checked) { needs.push("wheelchair"); }
    if (el("reg-help").checked) { needs.push("boarding_help"); }
    api("POST", "/v1/riders", { name: el("reg-name").value, phone: el("reg-phone").value, needs: needs })
      .then(function (r) {
        el("register-form").reset();
        el("register-box").open = false;
        el("found").innerHTML = "";
        selectRider(r);
        setStatus(t("registered"), false);
      }).catch(fail);
  });

  function selectRider(r) {
    rider = r;
    el("wheelchair").checked = r.needs.indexOf("wheelchair") >= 0;
    showRider();
    loadBookings();
  }

  function showRider() {
    if (!rider) { el("rider").hidden = true; return; }
    el("rider").hidden = false;
    var card = el("rider-card");
    card.innerHTML = "";
    card.setAttribute("data-rider-id", rider.id);
    card.appendChild(node("div", "hint", t("selected")));
    card.appendChild(node("strong", "", riderText(rider)));
  }

  function stopName(id) { return stopsById[id] ? stopsById[id].name : id; }

  function loadBookings() {
    if (!rider) { return; }
    api("GET", "/v1/riders/" + encodeURIComponent(rider.id) + "/ride-requests").then(function (list) {
      var ul = el("bookings");
      ul.innerHTML = "";
      if (!list.length) { ul.appendChild(node("li", "empty", t("no_bookings"))); }
      list.forEach(function (b) {
        var li = node("li", "od-booking");
        li.setAttribute("data-request-id", b.id);
        li.setAttribute("data-status", b.status);
        var when = b.pickup_window ? b.pickup_window.start.slice(5, 10).replace("-", "/") + " " +
          hhmm(b.pickup_window.start) + "–" + hhmm(b.pickup_window.end) : "";
        li.appendChild(node("span", "status-" + b.status, t("status_" + b.status)));
        li.appendChild(node("span", "what", stopName(b.pickup_stop) + " → " + stopName(b.dropoff_stop) + " " + when));
        if (b.status === "assigned") {
          var c = node("button", "od-cancel", t("cancel"));
          c.type = "button";
          c.addEventListener("click", function () { cancelBooking(b.id); });
          li.appendChild(c);
        }
        ul.appendChild(li);
      });
    }).catch(fail);
  }

  function cancelBooking(id) {
    api("POST", "/v1/ride-requests/" + encodeURIComponent(id) + "/cancel").then(function () {
      setStatus(t("cancelled", { id: id }), false);
      loadBookings();
    }).catch(fail);
  }

  // ------------------------------------------------------------------ the ride: quote, confirm
  function whenMode() { return document.querySelector("input[name=when]:checked").value; }

  function offset() { return info ? info.now.slice(-6) : "+09:00"; }

  function requestBody() {
    var o = resolveStop(el("origin").value);
    var d = resolveStop(el("destination").value);
    var body = { pickup: { stop_id: o.id }, dropoff: { stop_id: d.id },
                 passengers: parseInt(el("passengers").value, 10) || 1, wheelchair: el("wheelchair").checked };
    if (rider) { body.rider_id = rider.id; }
    if (info && info.channel) { body.channel = info.channel; }  // the phone channel's hours and lead time
    var mode = whenMode();
    if (mode !== "asap") {
      var time = el("time").value;
      if (!/^[0-9]{2}:[0-9]{2}$/.test(time)) { throw new Error(t("need_time")); }
      var iso = el("date").value + "T" + time + ":00" + offset();
      if (mode === "leave") { body.earliest_pickup = iso; } else { body.latest_dropoff = iso; }
    }
    return body;
  }

  function newKey() {
    var a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return "desk-" + Array.prototype.map.call(a, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }

  el("ride-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body;
    try {
      if (!rider) { throw new Error(t("need_rider")); }
      body = requestBody();
    } catch (e) { setStatus(e.message, true); return; }
    quote(body);
  });

  function quote(body) {
    setStatus(t("checking"), false);
    api("POST", "/v1/ride-requests/quote", body).then(function (q) {
      lastQuote = { body: body, idem: newKey() };
      showQuote(q);
      setStatus("", false);
    }).catch(fail);
  }

  function showQuote(q) {
    var box = el("offer");
    box.hidden = false;
    box.innerHTML = "";
    if (q.offer) {
      box.className = "offered";
      box.appendChild(node("div", "", t("offer")));
      box.appendChild(node("div", "big od-window", t("pickup_window", {
        start: hhmm(q.offer.pickup_window.start), end: hhmm(q.offer.pickup_window.end) })));
      box.appendChild(node("div", "od-eta", t("dropoff_eta", { eta: hhmm(q.offer.dropoff_eta) }) + " (" +
        t("arrive_latest", { latest: hhmm(q.offer.latest_dropoff_promised) }) + ")"));
      var b = node("button", "od-confirm", t("confirm"));
      b.type = "button";
      b.addEventListener("click", confirmBooking);
      box.appendChild(b);
      return;
    }
    box.className = "refused";
    box.appendChild(node("div", "big", t("refused")));
    box.appendChild(node("div", "od-reason", t("reason", { reason: q.reason })));
    if (!q.alternatives.length) { box.appendChild(node("div", "", t("no_alternatives"))); return; }
    box.appendChild(node("div", "", t("alternatives")));
    var ul = node("ul", "list");
    q.alternatives.forEach(function (a) {
      var li = node("li", "od-alternative");
      var arrive = a.latest_dropoff && !a.earliest_pickup;
      var asked = arrive ? a.latest_dropoff : a.earliest_pickup;
      li.appendChild(node("span", "what", t("pickup_window", {
        start: hhmm(a.pickup_window.start), end: hhmm(a.pickup_window.end) }) + " · " +
        t("dropoff_eta", { eta: hhmm(a.dropoff_eta) })));
      var b = node("button", "", t(arrive ? "take_alt_arrive" : "take_alt", { time: hhmm(asked) }));
      b.type = "button";
      b.addEventListener("click", function () {
        document.querySelector("input[name=when][value=" + (arrive ? "arrive" : "leave") + "]").checked = true;
        el("date").value = asked.slice(0, 10);
        el("time").value = hhmm(asked);
        try { quote(requestBody()); } catch (e) { setStatus(e.message, true); }
      });
      li.appendChild(b);
      ul.appendChild(li);
    });
    box.appendChild(ul);
  }

  function confirmBooking() {
    if (!lastQuote) { return; }
    setStatus(t("booking"), false);
    api("POST", "/v1/ride-requests", lastQuote.body, { "Idempotency-Key": lastQuote.idem }).then(function (b) {
      var box = el("offer");
      if (b.status === "assigned") {
        box.className = "offered";
        box.innerHTML = "";
        var msg = t("booked", { id: b.id, start: hhmm(b.pickup_window.start), end: hhmm(b.pickup_window.end),
                                eta: hhmm(b.dropoff_eta), vehicle: b.vehicle_id });
        box.appendChild(node("div", "big od-booked", msg));
        box.setAttribute("data-request-id", b.id);
        setStatus(msg, false);
      } else {  // the plan changed since the quote: show why and look again
        quote(lastQuote.body);
      }
      lastQuote = null;
      loadBookings();
    }).catch(fail);
  }

  ["origin", "destination"].forEach(function (field) {
    el(field).addEventListener("change", highlight);
    el(field).addEventListener("focus", function () { nextMapField = field; });
  });
  el("time").addEventListener("input", function () {
    if (whenMode() === "asap") { document.querySelector("input[name=when][value=leave]").checked = true; }
  });

  // ------------------------------------------------------------------ start
  function showService() {
    if (!info) { el("service").textContent = ""; return; }
    el("service").textContent = info.service + " · " + t("today", { date: info.today }) + " · " +
      t("hours", { start: info.service_start, end: info.service_end });
  }

  el("lang").addEventListener("click", function () {
    lang = lang === "ja" ? "en" : "ja";
    localStorage.setItem(LANG_STORE, lang);
    applyLanguage();
  });

  function takeKeyFromFragment() {
    var m = /(?:^|[#&])key=([^&]+)/.exec(window.location.hash || "");
    if (m) {
      sessionStorage.setItem(KEY_STORE, decodeURIComponent(m[1]));
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    return sessionStorage.getItem(KEY_STORE);
  }

  function start() {
    el("login").hidden = true;
    setStatus(t("loading"), false);
    api("GET", "/v1/desk").then(function (d) {
      info = d;
      showService();
      el("date").value = d.today;
      return loadStops();
    }).then(function () {
      document.body.setAttribute("data-ready", "1");
      setStatus(t("ready"), false);
    }).catch(fail);
  }

  function showLogin(msg) {
    setStatus(msg || t("key_label"), !!msg);
    el("login").hidden = false;
    el("apikey").focus();
  }

  el("login").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var k = el("apikey").value.trim();
    if (k) { sessionStorage.setItem(KEY_STORE, k); start(); }
  });

  applyLanguage();
  if (takeKeyFromFragment()) { start(); } else { showLogin(); }
})();
