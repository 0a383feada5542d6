// Service worker of the inspector page (served at /inspect/sw.js, scope /inspect).
//
// It keeps the page's shell (HTML, our scripts and styles, Leaflet and idb) so that the page
// opens without network, and serves those files cache-first. It never touches API requests:
// their answers belong to one user's session and must not outlive it in a shared cache; the page
// keeps what it needs offline in IndexedDB itself.
//
// CACHE_VERSION names the content of the shell: when a shell file changes, so must it, or phones
// holding the old shell never fetch the new one. tests/browser/test_inspect.py computes the value
// (a SHA-256 over the SHELL files) and says what to set when it is out of date.

const CACHE_VERSION = "inspect-c55f900b6383";

const SHELL = [
  "/inspect",
  "/static/inspect/app.js",
  "/static/inspect/api.js",
  "/static/inspect/i18n.js",
  "/static/inspect/map.js",
  "/static/inspect/store.js",
  "/static/inspect/sync.js",
  "/static/inspect/style.css",
  "/vendor/leaflet/dist/leaflet.js",
  "/vendor/leaflet/dist/leaflet.css",
  "/vendor/idb/build/umd.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE_VERSION)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((name) => name.startsWith("inspect-") && name !== CACHE_VERSION)
          .map((name) => caches.delete(name)),
      ))
      .then(() => self.clients.claim()),
  );
});

function shellUrl(request) {
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || request.method !== "GET") return null;
  if (request.mode === "navigate" && (url.pathname === "/inspect" || url.pathname === "/inspect/")) {
    return "/inspect";
  }
  return SHELL.includes(url.pathname) ? url.pathname : null;
}

self.addEventListener("fetch", (event) => {
  const key = shellUrl(event.request);
  if (!key) return; // everything else, the API above all, goes to the network untouched
  event.respondWith(
    caches.open(CACHE_VERSION).then(async (cache) => {
      const cached = await cache.match(key);
      if (cached) return cached;
      const response = await fetch(event.request);
      if (response.ok) await cache.put(key, response.clone());
      return response;
    }),
  );
});
