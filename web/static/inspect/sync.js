// Emptying the outbox: photos first (POST /photos), then the reports (POST /sync).
//
// Reports go in rounds of at most one per asset. A report the inspector made on top of another
// one still waiting for the same asset (offline: 50 % then 70 %) names it in `after_id`; once
// that predecessor is applied, the follower's base_version becomes the version the server
// answered, since the device did know that state: it made it. If the predecessor is not applied
// (conflict, superseded, rejected), the follower keeps the version the inspector really saw and
// the server judges it against that.

import * as api from "./api.js";
import * as store from "./store.js";

const DONE = new Set(["applied", "superseded", "duplicate", "conflict"]);
const MAX_ROUNDS = 100;

let running = null;

// Runs one flush at a time in this page, and (where the browser has Web Locks) across tabs.
export function flush(username, onResult) {
  running ??= (async () => {
    try {
      if (navigator.locks) {
        return await navigator.locks.request("rebuild-inspect-outbox", () => run(username, onResult));
      }
      return await run(username, onResult);
    } finally {
      running = null;
    }
  })();
  return running;
}

async function run(username, onResult) {
  try {
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      const batch = nextRound(await store.outbox(), username);
      if (batch.length === 0) return { outcome: "ok" };
      const ready = [];
      for (const entry of batch) {
        if (await uploadPhotos(entry, onResult)) ready.push(entry);
      }
      if (ready.length > 0 && (await send(ready, onResult)) === 0) {
        // The server answered for none of them: retrying at once would only ask again.
        return { outcome: "server", error: new Error("/sync answered no report of the batch") };
      }
    }
    return { outcome: "ok" };
  } catch (error) {
    if (error instanceof api.NetworkError) return { outcome: "offline" };
    if (error instanceof api.ApiError && error.status === 401) return { outcome: "unauthorized" };
    return { outcome: "server", error };
  }
}

function nextRound(entries, username) {
  const seen = new Set();
  const batch = [];
  for (const entry of entries) {
    if (entry.state !== "pending" || entry.username !== username) continue;
    if (seen.has(entry.asset_id)) continue;
    seen.add(entry.asset_id);
    batch.push(entry);
  }
  return batch;
}

// Uploads the photos not yet on the server; false (and the report marked rejected) when the
// server refuses one of them as such (too large, not an image), since a retry cannot help.
async function uploadPhotos(entry, onResult) {
  const ids = [];
  for (const key of entry.photo_keys || []) {
    const record = await store.photo(key);
    if (!record) continue;
    if (record.uploaded_id) {
      ids.push(record.uploaded_id);
      continue;
    }
    try {
      const uploaded = await api.uploadPhoto(record.blob, record.name);
      await store.setPhotoUploaded(key, uploaded.id);
      ids.push(uploaded.id);
    } catch (error) {
      if (error instanceof api.ApiError && [413, 415, 422].includes(error.status)) {
        await reject(entry, error.body, onResult);
        return false;
      }
      throw error;
    }
  }
  entry.photo_ids = ids;
  return true;
}

function payload(entry) {
  const report = {
    id: entry.id,
    asset_id: entry.asset_id,
    base_version: entry.base_version,
    stage: entry.stage,
    percent: entry.percent,
    observed_at: entry.observed_at,
    photos: entry.photo_ids || [],
  };
  if (entry.note) report.note = entry.note;
  if (entry.reason) report.reason = entry.reason;
  if (entry.location) report.location = entry.location;
  return report;
}

// Sends one round; returns how many of its reports the server answered for.
async function send(entries, onResult) {
  let answer;
  try {
    answer = await api.sync(entries.map(payload));
  } catch (error) {
    // A refusal of the whole request that a retry cannot cure (malformed, forbidden): show it
    // on each report so that the inspector sees it, instead of retrying forever.
    if (error instanceof api.ApiError && [400, 403, 413, 422].includes(error.status)) {
      for (const entry of entries) await reject(entry, error.body, onResult);
      return entries.length;
    }
    throw error;
  }
  const byId = new Map(entries.map((e) => [e.id, e]));
  let answered = 0;
  for (const result of answer.results || []) {
    const entry = byId.get(result.id);
    if (!entry) continue;
    answered += 1;
    if (DONE.has(result.status)) {
      await store.removeEntry(entry.id);
      if (result.status === "applied" && result.version != null) {
        await rebaseFollowers(entry.id, result.version);
      }
      onResult({ ...result, entry });
    } else {
      await reject(entry, result, onResult);
    }
  }
  return answered;
}

async function rebaseFollowers(predecessorId, version) {
  for (const follower of await store.outbox()) {
    if (follower.after_id === predecessorId) {
      await store.updateEntry({ ...follower, base_version: version, after_id: null });
    }
  }
}

async function reject(entry, body, onResult) {
  const { photo_ids: _unsent, ...kept } = entry;
  const rejected = {
    ...kept,
    state: "rejected",
    message: body?.message || "",
    message_en: body?.message_en || "",
    field: body?.field || null,
  };
  await store.updateEntry(rejected);
  onResult({ status: "rejected", id: entry.id, asset_id: entry.asset_id, ...body, entry: rejected });
}
