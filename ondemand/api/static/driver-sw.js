// Service worker of the driver's page: keeps the page, its script and its style so that the page
// opens again while the tablet is offline (browsers run service workers on https and on localhost
// only). Network first, the cached copy when there is no network; API calls (/v1) are not touched:
// the page queues its events itself.
"use strict";
var CACHE = "ondemand-driver-v2";
var PAGE = ["/driver", "/static/driver.js", "/static/driver.css", "/favicon.ico"];

self.addEventListener("install", function (ev) {
  ev.waitUntil(caches.open(CACHE).then(function (c) { return c.addAll(PAGE); }).then(function () {
    return self.skipWaiting();
  }));
});

self.addEventListener("activate", function (ev) {
  ev.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n !== CACHE; }).map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (ev) {
  var url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== self.location.origin || PAGE.indexOf(url.pathname) < 0) {
    return;
  }
  ev.respondWith(fetch(ev.request).then(function (resp) {
    if (resp.ok) {
      var copy = resp.clone();
      caches.open(CACHE).then(function (c) { return c.put(url.pathname, copy); });
    }
    return resp;
  }, function () {
    return caches.match(url.pathname).then(function (hit) { return hit || Response.error(); });
  }));
});
