// What the device keeps in IndexedDB (through idb, loaded from /vendor/idb/build/umd.js):
//   outbox  reports not yet accepted by the server, oldest first (key: the report's UUID)
//   photos  their photo Blobs, and the server's photo id once uploaded (key: a local UUID)
//   cache   the last asset list and the assets seen, for display offline (key: a name)
// Nothing here is ever sent anywhere except by sync.js.

const DB_NAME = "rebuild-inspect";
const DB_VERSION = 1;

let dbPromise = null;

function db() {
  dbPromise ??= globalThis.idb.openDB(DB_NAME, DB_VERSION, {
    upgrade(database) {
      database.createObjectStore("outbox", { keyPath: "id" });
      database.createObjectStore("photos", { keyPath: "key" });
      database.createObjectStore("cache", { keyPath: "key" });
    },
  });
  return dbPromise;
}

// crypto.randomUUID exists only in secure contexts (HTTPS, localhost, 127.0.0.1); a phone on
// plain-HTTP intranet addresses gets a version-4 UUID built from getRandomValues instead.
export function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// A report and its new photos go in one transaction: either both are kept or neither.
export async function queueReport(report, files) {
  const database = await db();
  const tx = database.transaction(["outbox", "photos"], "readwrite");
  const keys = [];
  for (const file of files) {
    const key = uuid();
    keys.push(key);
    tx.objectStore("photos").put({
      key, blob: file, name: file.name || "photo", type: file.type, uploaded_id: null,
    });
  }
  const entry = {
    ...report,
    photo_keys: [...(report.photo_keys || []), ...keys],
    state: "pending",
    queued_at: Date.now(),
  };
  tx.objectStore("outbox").put(entry);
  await tx.done;
  return entry;
}

export async function outbox() {
  const entries = await (await db()).getAll("outbox");
  return entries.sort((a, b) => a.queued_at - b.queued_at);
}

export async function updateEntry(entry) {
  await (await db()).put("outbox", entry);
}

// Removes a report and the photos no other report in the outbox still refers to.
export async function removeEntry(id) {
  const database = await db();
  const tx = database.transaction(["outbox", "photos"], "readwrite");
  const store = tx.objectStore("outbox");
  const entry = await store.get(id);
  if (entry) {
    await store.delete(id);
    const others = (await store.getAll()).flatMap((e) => e.photo_keys || []);
    for (const key of entry.photo_keys || []) {
      if (!others.includes(key)) await tx.objectStore("photos").delete(key);
    }
  }
  await tx.done;
}

export async function photo(key) {
  return (await db()).get("photos", key);
}

export async function setPhotoUploaded(key, uploadedId) {
  const database = await db();
  const record = await database.get("photos", key);
  if (record) await database.put("photos", { ...record, uploaded_id: uploadedId });
}

export async function cacheGet(key) {
  return (await (await db()).get("cache", key))?.value;
}

export async function cachePut(key, value) {
  await (await db()).put("cache", { key, value });
}

// On logout: what the last user saw goes; their unsent reports stay (they are theirs to send).
export async function cacheClear() {
  await (await db()).clear("cache");
}
