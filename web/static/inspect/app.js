// The field inspector's page: log in, find an asset, report its progress. Every report goes
// through the outbox in IndexedDB first and is uploaded from there, so that a report made
// without network is never lost and a resent one is never applied twice (its UUID is its id).

import * as api from "./api.js";
import {
  apiMessage, flagLabel, formatDistance, formatTime, getLang, PHOTO_STAGES, roleLabel, setLang,
  STAGES, stageLabel, t, translatePage,
} from "./i18n.js";
import { createMap } from "./map.js";
import * as store from "./store.js";
import { flush } from "./sync.js";

const ME_KEY = "inspect.me";
const RETRY_MS = 30000;
const MAX_NOTICES = 5;
const NOTICE_MS = 10000;
const MAX_PHOTOS = 10; // per report, as the API takes

const state = {
  me: null,
  meOffline: false,
  results: null, // {collection, position, cached}
  selected: null, // the selected asset's Feature, as last seen
  history: null, // {events, offline}
  outbox: [],
  carried: [], // photo keys of a rejected report being edited
  editing: null, // id of that report
  reachable: null, // did the last request reach the server?
  notices: [],
  map: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child != null && child !== false) node.append(child);
  }
  return node;
}

// --- time and place --------------------------------------------------------------------------

// The device clock as ISO 8601 with its UTC offset, e.g. 2022-03-01T10:00:00+08:00.
function nowWithOffset(date = new Date()) {
  const pad = (n) => String(Math.trunc(Math.abs(n))).padStart(2, "0");
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `${sign}${pad(offset / 60)}:${pad(offset % 60)}`
  );
}

// The browser's position: WGS 84 (EPSG:4326), whatever the phone's map apps use.
function position(timeout = 10000) {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) {
      reject(new Error(t("no_geolocation")));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lon: p.coords.longitude, lat: p.coords.latitude, accuracy_m: p.coords.accuracy }),
      (error) => reject(error),
      { enableHighAccuracy: true, timeout, maximumAge: 30000 },
    );
  });
}

// --- network state and notices ---------------------------------------------------------------

function renderNet() {
  const online = navigator.onLine && state.reachable !== false;
  const net = $("net");
  net.dataset.state = online ? "online" : "offline";
  net.textContent = t(online ? "online" : "offline");
}

api.onReachability((ok) => {
  state.reachable = ok;
  renderNet();
});

// Good news fades after a while; warnings and errors stay until dismissed.
function notify(kind, key, vars = {}, body = null) {
  const notice = { kind, key, vars, body };
  const same = JSON.stringify([key, vars, body]);
  state.notices = state.notices.filter((n) => JSON.stringify([n.key, n.vars, n.body]) !== same);
  state.notices.unshift(notice);
  state.notices.length = Math.min(state.notices.length, MAX_NOTICES);
  renderNotices();
  if (kind === "ok" || kind === "info") {
    setTimeout(() => dismiss(notice), NOTICE_MS);
  }
}

function dismiss(notice) {
  const index = state.notices.indexOf(notice);
  if (index >= 0) state.notices.splice(index, 1);
  renderNotices();
}

function renderNotices() {
  $("notices").replaceChildren(
    ...state.notices.map((notice) => {
      // Words are looked up at display time, so that a language switch re-words the notices.
      const vars = { ...notice.vars };
      if (notice.body) vars.message = apiMessage(notice.body);
      if (vars.stage_key) vars.stage = stageLabel(vars.stage_key);
      if (vars.flag_keys) vars.flags = vars.flag_keys.map(flagLabel).join("、");
      return el("div", { className: `notice ${notice.kind}` },
        el("span", {}, t(notice.key, vars)),
        el("button", {
          type: "button", className: "close", "aria-label": t("close"),
          onclick: () => dismiss(notice),
        }, "×"));
    }),
  );
}

// --- who is logged in ------------------------------------------------------------------------

function showLogin(reasonKey = null) {
  $("login").hidden = false;
  $("login-reason").hidden = !reasonKey;
  $("login-reason").textContent = reasonKey ? t(reasonKey) : "";
  if (!reasonKey) {
    for (const id of ["user", "find", "asset"]) $(id).hidden = true;
  }
  $("username").value ||= state.me?.username || "";
}

function showUser() {
  $("login").hidden = true;
  $("user").hidden = false;
  $("find").hidden = false;
  renderUser();
  state.map ??= createMap($("map"), selectAsset);
  state.map.resize();
}

function renderUser() {
  const me = state.me;
  if (!me) return;
  $("user-name").textContent = me.display_name || me.username;
  $("user-role").textContent = roleLabel(me.role);
  $("user-counties").textContent = me.counties?.length
    ? me.counties.map((c) => (getLang() === "en" ? `${c.name_zh} (${c.adcode})` : c.name_zh)).join("、")
    : t("city_wide");
  $("user-offline").hidden = !state.meOffline;
  $("report-form").hidden = me.can_report === false;
  $("view-only").hidden = me.can_report !== false;
}

async function start() {
  setLang(getLang());
  translatePage();
  bind();
  renderNet();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/inspect/sw.js", { scope: "/inspect" }).catch(() => {});
  }
  await renderOutbox();
  try {
    await confirmUser();
  } catch (error) {
    if (error instanceof api.ApiError && error.status === 401) {
      localStorage.removeItem(ME_KEY);
      showLogin();
      return;
    }
    // Offline, or the server unwell: work on as the last user logged in on this device; the
    // server checks the session again when the reports are uploaded.
    state.me = JSON.parse(localStorage.getItem(ME_KEY) || "null");
    state.meOffline = true;
    if (!state.me) {
      showLogin();
      return;
    }
  }
  showUser();
  await restoreCached();
  tryFlush();
}

async function confirmUser() {
  state.me = await api.me();
  state.meOffline = false;
  localStorage.setItem(ME_KEY, JSON.stringify(state.me));
  await claimView(state.me.username);
}

// Back online after starting offline: is the session still good?
async function recheckUser() {
  if (!state.meOffline) return;
  try {
    await confirmUser();
    renderUser();
  } catch (error) {
    if (error instanceof api.ApiError && error.status === 401) showLogin("login_again");
  }
}

async function onLogin(event) {
  event.preventDefault();
  const error = $("login-error");
  error.hidden = true;
  try {
    const answer = await api.login($("username").value.trim(), $("password").value);
    state.me = answer.user;
    state.meOffline = false;
    localStorage.setItem(ME_KEY, JSON.stringify(state.me));
    $("password").value = "";
    await claimView(state.me.username);
    showUser();
    if (state.selected) await refreshSelected();
    await renderOutbox();
    tryFlush();
  } catch (failure) {
    error.hidden = false;
    error.textContent =
      failure instanceof api.ApiError ? apiMessage(failure.body) : t("network_error");
  }
}

async function onLogout() {
  const waiting = state.outbox.filter((e) => e.state === "pending").length;
  if (waiting > 0 && !window.confirm(t("logout_pending", { n: waiting }))) return;
  try {
    await api.logout();
  } catch (error) {
    const alreadyOut = error instanceof api.ApiError && error.status === 401;
    if (!alreadyOut) {
      if (error instanceof api.ApiError) notify("error", "error_message", {}, error.body);
      else notify("error", "network_error");
      return;
    }
  }
  localStorage.removeItem(ME_KEY);
  await forgetView();
  state.me = null;
  showLogin();
}

// What one user saw is not shown to the next one on this device.
async function claimView(username) {
  if ((await store.cacheGet("owner")) === username) return;
  await forgetView();
  await store.cachePut("owner", username);
}

async function forgetView() {
  await store.cacheClear();
  state.results = null;
  state.selected = null;
  state.history = null;
  state.map?.show(null);
  renderResults();
  $("asset").hidden = true;
}

// --- finding assets --------------------------------------------------------------------------

async function onNear() {
  const status = $("find-status");
  status.textContent = t("locating");
  let here;
  try {
    here = await position();
  } catch (error) {
    status.textContent = t("no_location", { why: error.message || "" });
    return;
  }
  await find(() => api.findNear(here.lon, here.lat, Number($("radius").value)), here);
}

async function onSearch(event) {
  event.preventDefault();
  const text = $("q").value.trim();
  if (text) await find(() => api.search(text), null);
}

async function find(query, here) {
  const status = $("find-status");
  try {
    const collection = await query();
    state.results = { collection, position: here, cached: false };
    await store.cachePut("results", { collection, position: here });
  } catch (error) {
    if (error instanceof api.ApiError && error.status === 401) return showLogin("login_again");
    status.textContent = error instanceof api.ApiError ? apiMessage(error.body) : t("network_error");
    return;
  }
  renderResults();
  state.map.show(state.results.collection, here);
}

function renderResults() {
  const features = state.results?.collection?.features || [];
  const status = $("find-status");
  if (state.results) {
    status.textContent = features.length ? t("results", { n: features.length }) : t("no_results");
    if (state.results.cached) status.textContent += ` · ${t("cached_results")}`;
  } else {
    status.textContent = "";
  }
  $("results").replaceChildren(
    ...features.map((feature) => {
      const p = feature.properties;
      const place = [p.town, p.village].filter(Boolean).join(" ");
      return el("li", {},
        el("button", {
          type: "button", className: "result", "data-code": p.code,
          "aria-current": state.selected?.id === feature.id ? "true" : null,
          onclick: () => selectAsset(feature),
        },
        el("span", { className: "code" }, p.code),
        el("span", { className: "name" }, p.name || ""),
        el("span", { className: "place" }, place),
        el("span", { className: `stage s-${p.stage}` }, `${stageLabel(p.stage)} ${p.percent}%`),
        p.distance_m != null ? el("span", { className: "dist" }, formatDistance(p.distance_m)) : null));
    }),
  );
}

// --- the selected asset ----------------------------------------------------------------------

async function selectAsset(feature) {
  state.selected = feature;
  state.history = null;
  state.carried = [];
  state.editing = null;
  await store.cachePut("selected", feature);
  $("asset").hidden = false;
  resetForm();
  renderAsset();
  renderResults();
  state.map?.select(feature.id);
  $("asset").scrollIntoView({ behavior: "smooth", block: "start" });
  await refreshSelected();
}

// The asset's state and history from the server, or the cached ones when it cannot be reached.
async function refreshSelected() {
  const id = state.selected?.id;
  if (id == null) return;
  try {
    const [feature, history] = await Promise.all([api.asset(id), api.history(id)]);
    if (state.selected?.id !== id) return;
    state.selected = feature;
    state.history = { events: history.events || [], offline: false };
    await store.cachePut("selected", feature);
    await updateResult(feature);
    await store.cachePut(`history:${id}`, state.history.events);
  } catch (error) {
    if (error instanceof api.ApiError && error.status === 401) showLogin("login_again");
    const events = await store.cacheGet(`history:${id}`);
    state.history = { events: events || [], offline: true };
  }
  renderAsset();
  renderHistory();
}

// The list shows the asset as now known, not as it was when the list was fetched.
async function updateResult(feature) {
  const features = state.results?.collection?.features;
  const index = features?.findIndex((f) => f.id === feature.id) ?? -1;
  if (index < 0) return;
  const distance = features[index].properties.distance_m;
  features[index] = { ...feature, properties: { ...feature.properties, distance_m: distance } };
  await store.cachePut("results", { collection: state.results.collection, position: state.results.position });
  renderResults();
  state.map.show(state.results.collection, state.results.position);
  state.map.select(feature.id);
}

async function restoreCached() {
  const results = await store.cacheGet("results");
  if (results) {
    state.results = { ...results, cached: true };
    renderResults();
    state.map.show(results.collection, results.position);
  }
  const selected = await store.cacheGet("selected");
  if (selected) {
    state.selected = selected;
    $("asset").hidden = false;
    resetForm();
    renderAsset();
    state.map.select(selected.id);
    await refreshSelected();
  }
}

// The state the inspector reports from: their own newest report still waiting for this asset,
// else the asset as last seen from the server.
function effectiveState() {
  const mine = state.outbox.filter(
    (e) => e.asset_id === state.selected.id && e.state === "pending" && e.id !== state.editing,
  );
  const last = mine[mine.length - 1];
  const p = state.selected.properties;
  return last ? { stage: last.stage, percent: last.percent, after: last.id } : { stage: p.stage, percent: p.percent, after: null };
}

function renderAsset() {
  const feature = state.selected;
  if (!feature) return;
  const p = feature.properties;
  $("asset-head").replaceChildren(
    el("div", { className: "code big" }, p.code),
    el("div", {}, [p.name, p.kind_zh].filter(Boolean).join(" · ")),
    el("div", { className: "hint" }, [p.county_zh, p.town, p.village].filter(Boolean).join(" ")),
    el("div", { className: "now", id: "asset-now" },
      t("current", { stage: stageLabel(p.stage), percent: p.percent })),
    el("div", { className: "hint" },
      [t("version", { v: p.version }), p.stage_observed_at ? t("observed", { when: formatTime(p.stage_observed_at) }) : ""]
        .filter(Boolean).join(" · ")),
  );
  renderStageOptions();
  updateFormRules();
}

function renderStageOptions() {
  const select = $("stage");
  const chosen = select.value;
  select.replaceChildren(...STAGES.map((s) => el("option", { value: s.key }, stageLabel(s.key))));
  select.value = chosen || state.selected?.properties.stage || STAGES[0].key;
}

function resetForm() {
  $("report-form").reset();
  const current = effectiveState();
  renderStageOptions();
  $("stage").value = current.stage;
  $("percent").value = current.percent;
  $("report-error").hidden = true;
  renderChosen();
  renderCarried();
  updateFormRules();
}

function isBackwards(stage, percent) {
  const current = effectiveState();
  const order = (key) => STAGES.findIndex((s) => s.key === key);
  return order(stage) < order(current.stage) || (stage === current.stage && percent < current.percent);
}

// Percent follows the stage where the stage fixes it; a reason is asked for going backwards.
function updateFormRules() {
  if (!state.selected) return;
  const stage = STAGES.find((s) => s.key === $("stage").value);
  const percent = $("percent");
  if (stage?.percent != null) percent.value = stage.percent;
  percent.readOnly = stage?.percent != null;
  const backwards = isBackwards($("stage").value, Number(percent.value));
  $("reason-row").hidden = !backwards;
  $("reason").required = backwards;
}

function renderChosen() {
  const n = $("photo").files.length;
  $("photo-count").textContent = n ? t("photos_chosen", { n }) : "";
}

function renderCarried() {
  $("carried").hidden = state.carried.length === 0;
  $("carried-count").textContent = t("photos_carried", { n: state.carried.length });
}

function formError(text) {
  const error = $("report-error");
  error.hidden = !text;
  error.textContent = text || "";
}

async function onReport(event) {
  event.preventDefault();
  if (!state.selected || !state.me) return;
  const observedAt = nowWithOffset();
  const stage = $("stage").value;
  const percent = Number($("percent").value);
  const files = [...$("photo").files];
  const reason = $("reason").value.trim();
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
    return formError(`${t("percent")}: 0–100`);
  }
  if (isBackwards(stage, percent) && !reason) return formError(t("reason_needed"));
  if (PHOTO_STAGES.includes(stage) && files.length + state.carried.length === 0) {
    return formError(t("photo_needed", { stage: stageLabel(stage) }));
  }
  if (files.length + state.carried.length > MAX_PHOTOS) {
    return formError(t("too_many_photos", { n: MAX_PHOTOS }));
  }
  formError(null);
  $("submit").disabled = true;
  try {
    let location = null;
    try {
      const here = await position(8000);
      location = { lon: here.lon, lat: here.lat, crs: "EPSG:4326", accuracy_m: Math.round(here.accuracy_m) };
    } catch {
      notify("info", "location_none");
    }
    const current = effectiveState();
    const p = state.selected.properties;
    await store.queueReport({
      id: store.uuid(),
      username: state.me.username,
      asset_id: state.selected.id,
      asset_code: p.code,
      asset_name: p.name,
      base_version: p.version,
      after_id: current.after,
      stage, percent, observed_at: observedAt,
      note: $("note").value.trim(),
      reason: isBackwards(stage, percent) ? reason : "",
      location,
      photo_keys: state.carried,
    }, files);
    if (state.editing) await store.removeEntry(state.editing);
    state.editing = null;
    state.carried = [];
    await renderOutbox();
    resetForm();
    notify("info", navigator.onLine ? "queued_online" : "queued");
  } finally {
    $("submit").disabled = false;
  }
  tryFlush();
}

function renderHistory() {
  const events = state.history?.events || [];
  $("history-status").textContent = state.history?.offline
    ? t("history_offline")
    : events.length ? "" : t("history_empty");
  $("history").replaceChildren(
    ...events.map((e) => {
      const change = e.prev_stage
        ? `${stageLabel(e.prev_stage)} ${e.prev_percent ?? ""}% → ${stageLabel(e.stage)} ${e.percent}%`
        : `${stageLabel(e.stage)} ${e.percent}%`;
      const review = e.review
        ? t(e.review.decision === "confirmed" ? "review_confirmed" : "review_rejected")
        : (e.flags || []).includes("conflict") ? t("review_pending") : "";
      return el("li", { className: "event", "data-id": e.id, "data-percent": e.percent },
        el("div", { className: "when" }, formatTime(e.observed_at), " · ",
          e.reporter ? e.reporter.display_name || e.reporter.username : t("reporter_unknown"),
          e.distance_m != null ? ` · ${t("distance_away", { d: formatDistance(e.distance_m) })}` : ""),
        el("div", { className: "change" }, change),
        (e.flags || []).length || review || e.counts === false
          ? el("div", { className: "flags" },
            ...(e.flags || []).map((f) => el("span", { className: `flag f-${f}` }, flagLabel(f))),
            review ? el("span", { className: "flag review" }, review) : null,
            e.counts === false ? el("span", { className: "flag" }, t("not_counted")) : null)
          : null,
        e.note ? el("div", { className: "note" }, e.note) : null,
        e.reason ? el("div", { className: "note" }, `${t("reason")}: ${e.reason}`) : null,
        (e.photos || []).length
          ? el("div", { className: "thumbs" }, ...e.photos.map((ph) =>
            el("a", { href: ph.url, target: "_blank", rel: "noopener" },
              el("img", { src: ph.thumbnail_url, alt: t("photo"), loading: "lazy", width: 72, height: 72 }))))
          : null);
    }),
  );
}

// --- the outbox ------------------------------------------------------------------------------

async function renderOutbox() {
  state.outbox = await store.outbox();
  const pending = state.outbox.filter((e) => e.state === "pending").length;
  const rejected = state.outbox.length - pending;
  const counter = $("pending");
  counter.dataset.count = String(pending);
  counter.textContent = t("pending", { n: pending }) + (rejected ? ` · ${t("rejected_count", { n: rejected })}` : "");
  counter.classList.toggle("has-pending", pending > 0);
  counter.classList.toggle("has-rejected", rejected > 0);
  $("outbox").hidden = state.outbox.length === 0;
  $("outbox-list").replaceChildren(...state.outbox.map(outboxItem));
}

function outboxItem(entry) {
  const mine = entry.username === state.me?.username;
  const rejected = entry.state === "rejected";
  return el("li", { className: `entry ${entry.state}`, "data-id": entry.id },
    el("div", {}, el("strong", {}, entry.asset_code), " ", entry.asset_name || ""),
    el("div", {}, `${stageLabel(entry.stage)} ${entry.percent}% · ${formatTime(entry.observed_at)}`,
      entry.photo_keys?.length ? ` · ${t("photo_count", { n: entry.photo_keys.length })}` : ""),
    el("div", { className: rejected ? "error" : "hint" },
      rejected ? `${t("state_rejected")}: ${apiMessage(entry)}` : t("state_pending")),
    mine ? null : el("div", { className: "hint" }, t("other_user", { u: entry.username })),
    el("div", { className: "row" },
      rejected && mine ? el("button", { type: "button", onclick: () => editEntry(entry) }, t("edit")) : null,
      rejected && mine ? el("button", { type: "button", onclick: () => retryEntry(entry) }, t("retry")) : null,
      el("button", { type: "button", className: "danger", onclick: () => discardEntry(entry) }, t("discard"))));
}

async function discardEntry(entry) {
  if (!window.confirm(t("discard_confirm"))) return;
  await store.removeEntry(entry.id);
  await renderOutbox();
}

async function retryEntry(entry) {
  await store.updateEntry({ ...entry, state: "pending", message: "", message_en: "", field: null });
  await renderOutbox();
  tryFlush();
}

// Loads a rejected report back into the form, with its photos; submitting replaces it.
async function editEntry(entry) {
  const cached = state.results?.collection?.features?.find((f) => f.id === entry.asset_id);
  const feature = state.selected?.id === entry.asset_id ? state.selected : cached;
  if (feature) {
    await selectAsset(feature);
  } else {
    try {
      await selectAsset(await api.asset(entry.asset_id));
    } catch {
      return notify("error", "network_error");
    }
  }
  state.editing = entry.id;
  state.carried = [...(entry.photo_keys || [])];
  $("stage").value = entry.stage;
  $("percent").value = entry.percent;
  $("note").value = entry.note || "";
  $("reason").value = entry.reason || "";
  updateFormRules();
  renderCarried();
  if (entry.field && $(entry.field)) $(entry.field).focus();
}

function onResult(result) {
  const entry = result.entry;
  const current = result.current?.properties;
  const vars = {
    code: entry.asset_code,
    stage_key: current?.stage ?? entry.stage,
    percent: current?.percent ?? entry.percent,
  };
  const flagKeys = (result.flags || []).filter((f) => f !== "conflict");
  if (result.status === "applied") {
    const applied = { ...vars, stage_key: entry.stage, percent: entry.percent, flag_keys: flagKeys };
    notify(flagKeys.length ? "warn" : "ok", flagKeys.length ? "applied_flagged" : "applied", applied);
  } else if (result.status === "superseded") notify("warn", "superseded", vars);
  else if (result.status === "conflict") notify("warn", "conflict", vars);
  else if (result.status === "duplicate") notify("info", "duplicate", vars);
  else notify("error", "rejected", vars, result);
}

async function tryFlush() {
  if (!state.me) return;
  await recheckUser();
  const touched = new Set();
  const outcome = await flush(state.me.username, (result) => {
    touched.add(result.asset_id);
    onResult(result);
  });
  await renderOutbox();
  if (outcome.outcome === "unauthorized") showLogin("login_again");
  if (outcome.outcome === "server") notify("warn", "server_error");
  if (state.selected && touched.has(state.selected.id)) {
    await refreshSelected();
    resetForm();
  }
}

// --- wiring ----------------------------------------------------------------------------------

function onLanguage() {
  setLang(getLang() === "zh" ? "en" : "zh");
  translatePage();
  renderNet();
  renderNotices();
  renderUser();
  renderResults();
  if (state.selected) {
    renderAsset();
    renderHistory();
  }
  renderCarried();
  renderChosen();
  renderOutbox();
  if (!$("login-reason").hidden) $("login-reason").textContent = t("login_again");
}

function bind() {
  $("lang").addEventListener("click", onLanguage);
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  $("near").addEventListener("click", onNear);
  $("search-form").addEventListener("submit", onSearch);
  $("report-form").addEventListener("submit", onReport);
  $("stage").addEventListener("change", updateFormRules);
  $("percent").addEventListener("input", updateFormRules);
  $("photo").addEventListener("change", renderChosen);
  $("drop-carried").addEventListener("click", () => {
    state.carried = [];
    renderCarried();
  });
  $("pending").addEventListener("click", () => {
    if (!$("outbox").hidden) $("outbox").scrollIntoView({ behavior: "smooth" });
    tryFlush();
  });
  $("upload-now").addEventListener("click", tryFlush);
  window.addEventListener("online", () => {
    state.reachable = null;
    renderNet();
    tryFlush();
  });
  window.addEventListener("offline", renderNet);
  setInterval(() => {
    if (state.meOffline || state.outbox.some((e) => e.state === "pending")) tryFlush();
  }, RETRY_MS);
}

start();
