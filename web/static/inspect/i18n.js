// The page's words, Chinese first. `t(key, vars)` picks the chosen language; the choice is kept
// in localStorage so that the page opens in it again (also offline).

const LANG_KEY = "inspect.lang";

// The five stages, in order (keys as the API uses them; same as gis/vocab.py). Percent 0 before
// work starts and 100 once completed, as the database enforces.
export const STAGES = [
  { key: "not_started", zh: "未开工", en: "Not started", percent: 0 },
  { key: "preparatory_done", zh: "前期完成", en: "Preparatory work done", percent: 0 },
  { key: "started", zh: "已开工", en: "Started", percent: null },
  { key: "completed", zh: "已完工", en: "Completed", percent: 100 },
  { key: "accepted", zh: "已验收（具备入住条件）", en: "Accepted / ready for move-in", percent: 100 },
];

// Stages whose report needs a site photo: the default rule of data/evidence.toml, checked here
// too so that an inspector offline learns it on site, not after the upload is refused.
export const PHOTO_STAGES = ["started", "completed", "accepted"];

const ROLES = {
  admin: { zh: "管理员", en: "Administrator" },
  viewer: { zh: "市级查看", en: "City viewer" },
  manager: { zh: "县区管理员", en: "County manager" },
  inspector: { zh: "核查员", en: "Field inspector" },
};

const FLAGS = {
  far_away: { zh: "距离项目较远", en: "far from the asset" },
  backwards: { zh: "进度倒退", en: "moved backwards" },
  exif_mismatch: { zh: "照片信息不符", en: "photo data mismatch" },
  conflict: { zh: "冲突待审核", en: "conflict, under review" },
};

const STRINGS = {
  zh: {
    title: "现场巡查",
    subtitle: "灾后重建进度追踪",
    switch_lang: "English",
    online: "在线",
    offline: "离线",
    pending: "待上传 {n} 条",
    rejected_count: "{n} 条被退回",
    login_title: "登录",
    login_again: "登录已过期，请重新登录。待上传的报告会保留。",
    username: "用户名",
    password: "密码",
    login: "登录",
    logout: "退出登录",
    logout_pending: "还有 {n} 条报告未上传。退出后它们留在本机，同一用户再次登录后继续上传。确定退出？",
    city_wide: "全市",
    offline_user: "（离线，显示上次登录的用户）",
    find_title: "查找项目",
    near_me: "附近的项目",
    radius: "范围",
    search_placeholder: "项目代码或村名",
    search: "搜索",
    locating: "正在定位…",
    no_location: "无法获取位置：{why}",
    no_geolocation: "此设备不支持定位",
    results: "共 {n} 个项目",
    no_results: "没有找到项目",
    cached_results: "上次的查找结果",
    selected_title: "当前项目",
    version: "版本 {v}",
    current: "当前：{stage} {percent}%",
    observed: "记录于 {when}",
    report_title: "上报进度",
    view_only: "您的账号只能查看，不能上报进度。",
    distance_away: "距项目 {d}",
    stage: "阶段",
    percent: "完成百分比",
    note: "情况说明",
    reason: "倒退原因（必填）",
    reason_needed: "进度比当前倒退，请填写原因。",
    photo: "现场照片",
    take_photo: "拍照或选择照片",
    photos_chosen: "已选 {n} 张照片",
    photo_count: "照片 {n} 张",
    photo_needed: "“{stage}”需要至少一张现场照片。",
    photos_carried: "已附 {n} 张照片",
    too_many_photos: "每条报告最多 {n} 张照片。",
    drop_photos: "去掉这些照片",
    submit: "提交",
    queued: "已保存到待上传，联网后自动上传。",
    queued_online: "已保存，正在上传…",
    location_none: "未取得位置，报告不含位置。",
    history_title: "历史记录",
    history_empty: "暂无记录",
    history_offline: "离线：无法加载历史记录",
    reporter_unknown: "系统",
    review_confirmed: "已审核确认",
    review_rejected: "审核未通过",
    review_pending: "待审核",
    not_counted: "不计入当前进度",
    outbox_title: "待上传的报告",
    outbox_empty: "没有待上传的报告",
    state_pending: "待上传",
    state_rejected: "被退回",
    other_user: "属于用户 {u}，该用户登录后上传",
    discard: "删除",
    discard_confirm: "删除这条报告？删除后无法恢复。",
    edit: "修改",
    retry: "重新提交",
    upload_now: "立即上传",
    applied: "{code}：已更新为 {stage} {percent}%",
    applied_flagged: "{code}：已更新为 {stage} {percent}%，但被标记为“{flags}”，县区管理员会核查",
    superseded: "{code}：已保存为历史记录；该项目已有更晚的观测，当前进度不变",
    conflict: "{code}：与其他人的上报冲突，已提交审核。当前：{stage} {percent}%",
    duplicate: "{code}：服务器已收到过这条报告",
    rejected: "{code}：被退回 — {message}",
    error_message: "{message}",
    network_error: "网络不可用，报告保留在本机，稍后自动重试。",
    server_error: "服务器暂时无法处理，稍后自动重试。",
    map_label: "项目位置地图",
    close: "关闭",
  },
  en: {
    title: "Field inspection",
    subtitle: "Rebuild Tracker",
    switch_lang: "中文",
    online: "Online",
    offline: "Offline",
    pending: "{n} pending",
    rejected_count: "{n} rejected",
    login_title: "Log in",
    login_again: "Your session has expired: please log in again. Pending reports are kept.",
    username: "Username",
    password: "Password",
    login: "Log in",
    logout: "Log out",
    logout_pending: "{n} reports are not uploaded yet. They stay on this device and are uploaded when the same user logs in again. Log out?",
    city_wide: "City-wide",
    offline_user: "(offline: showing the last user logged in)",
    find_title: "Find assets",
    near_me: "Near me",
    radius: "Radius",
    search_placeholder: "Asset code or village",
    search: "Search",
    locating: "Locating…",
    no_location: "No location: {why}",
    no_geolocation: "This device cannot tell its location",
    results: "{n} found",
    no_results: "No assets found",
    cached_results: "last results",
    selected_title: "Selected asset",
    version: "version {v}",
    current: "Now: {stage} {percent}%",
    observed: "observed {when}",
    report_title: "Report progress",
    view_only: "Your account can view but not report progress.",
    distance_away: "{d} from the asset",
    stage: "Stage",
    percent: "Percent done",
    note: "Note",
    reason: "Reason for going back (required)",
    reason_needed: "This goes back from the current state: give a reason.",
    photo: "Site photo",
    take_photo: "Take or choose a photo",
    photos_chosen: "{n} photos chosen",
    photo_count: "{n} photos",
    photo_needed: "\"{stage}\" needs at least one site photo.",
    photos_carried: "{n} photos attached",
    too_many_photos: "At most {n} photos per report.",
    drop_photos: "Remove these photos",
    submit: "Submit",
    queued: "Saved to the outbox; it is uploaded when the network is back.",
    queued_online: "Saved; uploading…",
    location_none: "No location: the report has none.",
    history_title: "History",
    history_empty: "No reports yet",
    history_offline: "Offline: the history cannot be loaded",
    reporter_unknown: "system",
    review_confirmed: "confirmed by review",
    review_rejected: "rejected by review",
    review_pending: "awaiting review",
    not_counted: "does not count",
    outbox_title: "Outbox",
    outbox_empty: "Nothing waiting to upload",
    state_pending: "pending",
    state_rejected: "rejected",
    other_user: "belongs to {u}; uploaded when they log in",
    discard: "Discard",
    discard_confirm: "Discard this report? It cannot be undone.",
    edit: "Edit",
    retry: "Retry",
    upload_now: "Upload now",
    applied: "{code}: now {stage} {percent}%",
    applied_flagged: "{code}: now {stage} {percent}%, flagged as \"{flags}\" for the county managers to check",
    superseded: "{code}: saved as history; a later observation exists, so the state did not change",
    conflict: "{code}: conflicts with another report; sent for review. Now: {stage} {percent}%",
    duplicate: "{code}: the server already had this report",
    rejected: "{code}: rejected — {message}",
    error_message: "{message}",
    network_error: "No network: reports stay on this device and are retried automatically.",
    server_error: "The server cannot take reports right now; retrying later.",
    map_label: "Map of the assets",
    close: "Close",
  },
};

export function getLang() {
  const stored = localStorage.getItem(LANG_KEY);
  return stored === "en" ? "en" : "zh";
}

export function setLang(lang) {
  localStorage.setItem(LANG_KEY, lang);
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
}

export function t(key, vars = {}) {
  const text = STRINGS[getLang()][key] ?? STRINGS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

function pick(term) {
  return term ? term[getLang()] : "";
}

export function stageLabel(key) {
  return pick(STAGES.find((s) => s.key === key)) || key || "";
}

export function roleLabel(key) {
  return pick(ROLES[key]) || key;
}

export function flagLabel(key) {
  return pick(FLAGS[key]) || key;
}

// An API error body {message, message_en} in the chosen language, as the server wrote it.
export function apiMessage(body) {
  if (!body) return "";
  return getLang() === "en" ? body.message_en || body.message || "" : body.message || body.message_en || "";
}

// Static texts in the page: elements with data-i18n (text) and data-i18n-placeholder.
export function translatePage(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(getLang() === "en" ? "en-GB" : "zh-CN", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  });
}

export function formatDistance(metres) {
  if (metres == null) return "";
  return metres < 1000 ? `${Math.round(metres)} m` : `${(metres / 1000).toFixed(1)} km`;
}
