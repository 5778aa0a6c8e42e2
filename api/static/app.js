// The live page: REST for state and actions, one WebSocket for every change.
"use strict";

const API = "/api/v1";
const state = {
  token: localStorage.getItem("sartiq.token"),
  org: localStorage.getItem("sartiq.org") || "",
  shooting: null,
  shots: new Map(),        // shot id -> shot
  generations: new Map(),  // shot id -> latest generation
  lastEventId: null,
  socket: null,
};
const $ = (selector) => document.querySelector(selector);

// Every name, message and status from the API reaches the page as text: elements are built
// here and filled with textContent, never parsed from markup built out of data.
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== ""));
  return node;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const url = new URL(API + path, location.origin);
  if (state.org && !options.noOrg) url.searchParams.set("organization_id", state.org);
  const response = await fetch(url, Object.assign({}, options, { headers }));
  if (response.status === 401) { logout(); throw new Error("logged out"); }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
  return body;
}

// Images come as signed URLs (`/api/v1/files/{id}?exp=&sig=`): no token in any URL.
function sized(signedUrl, width) {
  return width ? `${signedUrl}&width=${width}` : signedUrl;
}

function log(text) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $("#events").prepend(item);
}

// --- session -------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch(`${API}/login/access-token`, { method: "POST", body: new URLSearchParams(form) });
  const body = await response.json();
  if (!response.ok) { $("#login-error").textContent = body.detail; return; }
  state.token = body.access_token;
  localStorage.setItem("sartiq.token", state.token);
  await start();
}

function logout() {
  localStorage.removeItem("sartiq.token");
  state.token = null;
  if (state.socket) state.socket.close();
  $("#app-view").hidden = true;
  $("#login-view").hidden = false;
  $("#logout").hidden = true;
  $("#org-select").hidden = true;
}

async function start() {
  const me = await api("/users/me", { noOrg: true });
  $("#whoami").textContent = me.email;
  const orgs = await api("/organizations/", { noOrg: true });
  const select = $("#org-select");
  select.replaceChildren(
    new Option("Personal", ""),
    ...orgs.data.map((o) => new Option(o.name, o.id)),
  );
  if (!orgs.data.some((o) => o.id === state.org)) state.org = orgs.data.length ? orgs.data[0].id : "";
  select.value = state.org;
  select.hidden = false;
  $("#login-view").hidden = true;
  $("#app-view").hidden = false;
  $("#logout").hidden = false;
  connect();
  await loadShootings();
}

// --- real time -------------------------------------------------------------------------

function connect() {
  if (state.socket) state.socket.close();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${API}/ws`);
  state.socket = socket;
  socket.onopen = () => socket.send(JSON.stringify({ type: "auth", token: state.token, last_event_id: state.lastEventId }));
  socket.onmessage = (message) => onEvent(JSON.parse(message.data));
  socket.onclose = () => {
    $("#ws-state").textContent = "offline";
    $("#ws-state").classList.remove("online");
    if (state.token && state.socket === socket) setTimeout(connect, 1000);  // resume from lastEventId
  };
}

function onEvent(event) {
  if (event.type === "auth.success") { $("#ws-state").textContent = "live"; $("#ws-state").classList.add("online"); return; }
  if (event.type === "auth.error") { log(`socket: ${event.error}`); return; }
  if (event.id) state.lastEventId = event.id;
  if (event.type === "resync") { if (state.shooting) selectShooting(state.shooting); return; }
  const payload = event.payload || {};
  if (event.type.startsWith("generation.")) {
    log(`${event.type} ${payload.id.slice(0, 8)} ${payload.status} ${Math.round((payload.progress || 0) * 100)}%`);
    if (payload.shot_id && state.shots.has(payload.shot_id)) {
      state.generations.set(payload.shot_id, payload);
      renderShot(payload.shot_id);
    }
  } else if (event.type === "shot.updated") {
    if (state.shots.has(payload.id)) { state.shots.set(payload.id, payload); renderShot(payload.id); }
  } else if (event.type.startsWith("export.")) {
    log(`${event.type} ${payload.status || ""}`);
    renderExport(payload);
  } else if (event.type.startsWith("bulk_upload.")) {
    renderBulk(payload);
  }
}

// --- shootings and shots ---------------------------------------------------------------

async function loadShootings() {
  const shootings = await api("/shootings/?limit=200");
  $("#shootings").replaceChildren();
  for (const shooting of shootings.data) {
    const item = document.createElement("li");
    item.textContent = shooting.name;
    item.dataset.id = shooting.id;
    item.onclick = () => selectShooting(shooting);
    $("#shootings").append(item);
  }
  if (shootings.data.length) await selectShooting(shootings.data[0]);
}

async function selectShooting(shooting) {
  state.shooting = shooting;
  for (const item of document.querySelectorAll("#shootings li")) item.classList.toggle("active", item.dataset.id === shooting.id);
  $("#shooting-title").textContent = shooting.name;
  $("#generate-all").hidden = false;
  $("#export").hidden = false;
  const [shots, generations] = await Promise.all([
    api(`/shots/?shooting_id=${shooting.id}&limit=500`),
    api(`/generations/?shooting_id=${shooting.id}&limit=500`),
  ]);
  state.shots = new Map(shots.data.map((s) => [s.id, s]));
  state.generations = new Map();
  for (const generation of generations.data.reverse()) state.generations.set(generation.shot_id, generation);
  $("#shots tbody").replaceChildren();
  for (const shot of shots.data) renderShot(shot.id);
}

function renderShot(shotId) {
  const shot = state.shots.get(shotId);
  const generation = state.generations.get(shotId);
  let row = document.getElementById(`shot-${shotId}`);
  if (!row) {
    row = document.createElement("tr");
    row.id = `shot-${shotId}`;
    $("#shots tbody").append(row);
  }
  const revision = shot.current_revision;
  const images = revision ? revision.file_urls || [] : [];
  const genCell = el("td");
  if (generation) {
    genCell.append(
      el("span", {
        class: `status gen-status ${generation.status}`,
        dataset: { status: generation.status },
        text: generation.status,
      }),
      " ",
      el("progress", { max: "1", value: String(generation.progress ?? 0) }),
    );
    genCell.append(renderPredictions(generation));
    if (isHttpUrl(generation.temporal_ui_url)) {
      genCell.append(" ", el("a", { href: generation.temporal_ui_url, target: "_blank", rel: "noopener", text: "run" }));
    }
    if (generation.error_message) genCell.append(el("div", { class: "error", text: generation.error_message }));
  } else {
    genCell.textContent = "—";
  }
  const actions = el("td", {}, button("generate", "Generate", () => generateShot(shotId)));
  if (shot.status === "in_review" || shot.status === "rejected") {
    actions.append(" ", button("approve", "Approve", () => review(shotId, "approve")));
  }
  if (shot.status === "in_review" || shot.status === "approved") {
    actions.append(" ", button("reject", "Reject", () => review(shotId, "reject")));
  }
  row.replaceChildren(
    el("td", {}, shot.shot_type_id.slice(0, 8), " ", el("small", { text: shot.id.slice(0, 8) })),
    el("td", {}, el("span", { class: `status shot-status ${shot.status}`, text: shot.status })),
    genCell,
    el("td", { class: "thumbs" }, ...images.map((url) => el("img", { alt: "generated image", src: sized(url, 256) }))),
    actions,
  );
}

// One placeholder per prediction of the current try (all batch_size of them exist from the
// first event on), filled with its image once completed.
function renderPredictions(generation) {
  const all = generation.predictions || [];
  const key = (p) => p.generation_attempt * 1000 + p.attempt;
  const current = all.length ? Math.max(...all.map(key)) : null;
  const shown = all.filter((p) => key(p) === current);
  return el("div", { class: "predictions" }, ...shown.map((p) => el(
    "span",
    { class: `prediction ${p.status}`, dataset: { status: p.status }, title: `${p.status} ${Math.round((p.progress || 0) * 100)}%` },
    p.status === "completed" && p.file_url
      ? el("img", { alt: "prediction", src: sized(p.file_url, 128) })
      : el("span", { class: "placeholder", text: p.status }),
  )));
}

function button(act, label, onClick) {
  const node = el("button", { dataset: { act }, text: label });
  node.onclick = onClick;
  return node;
}

// Links come from the API; only http(s) ones become links (never `javascript:`).
function isHttpUrl(value) {
  if (!value) return false;
  try { return ["http:", "https:"].includes(new URL(value, location.origin).protocol); } catch { return false; }
}

async function generateShot(shotId) {
  try {
    const generation = await api(`/shots/${shotId}/generate`, { method: "POST", json: { batch_size: 2 } });
    state.generations.set(shotId, generation);
    renderShot(shotId);
  } catch (error) { log(`generate failed: ${error.message}`); }
}

async function generateAll() {
  try {
    const batch = await api(`/shootings/${state.shooting.id}/generate`, { method: "POST", json: {} });
    log(`batch started ${batch.workflow_id}`);
  } catch (error) { log(`batch failed: ${error.message}`); }
}

async function review(shotId, decision) {
  try {
    const shot = await api(`/shots/${shotId}/${decision}`, { method: "POST", json: {} });
    state.shots.set(shotId, shot);
    renderShot(shotId);
  } catch (error) { log(`${decision} failed: ${error.message}`); }
}

// --- exports and bulk uploads ------------------------------------------------------------

async function startExport() {
  try {
    const created = await api("/exports/", { method: "POST", json: { shooting_id: state.shooting.id } });
    renderExport(created);
  } catch (error) { $("#export-status").textContent = error.message; }
}

async function renderExport(exported) {
  if (!exported || !exported.id) return;
  let current = exported;
  if (current.status === "completed" && !current.download_url) current = await api(`/exports/${current.id}`);
  $("#export-status").replaceChildren(
    current.status === "completed" && isHttpUrl(current.download_url)
      ? el("a", { id: "export-download", href: current.download_url, text: "Download zip" })
      : `export ${current.status} ${Math.round((current.progress || 0) * 100)}%`,
  );
}

async function uploadCsv(event) {
  event.preventDefault();
  const file = $("#bulk-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  try {
    const created = await api("/bulk-uploads/", { method: "POST", body: form });
    renderBulk(created);
  } catch (error) { $("#bulk-status").textContent = error.message; }
}

function renderBulk(upload) {
  if (!upload || !upload.id) return;
  const done = upload.processed_rows || 0;
  const total = upload.total_rows || 0;
  $("#bulk-status").replaceChildren(
    el("div", { class: `status ${upload.status}`, text: upload.status }),
    el("progress", { max: String(total || 1), value: String(done) }),
    ` ${done}/${total}`,
    el("div", {
      text: `created ${upload.created_count || 0}, updated ${upload.updated_count || 0}, failed ${upload.failed_count || 0}`,
    }),
  );
}

// --- wiring ------------------------------------------------------------------------------

$("#login-form").addEventListener("submit", login);
$("#logout").onclick = logout;
$("#generate-all").onclick = generateAll;
$("#export").onclick = startExport;
$("#bulk-form").addEventListener("submit", uploadCsv);
$("#org-select").onchange = async (event) => {
  state.org = event.target.value;
  localStorage.setItem("sartiq.org", state.org);
  await loadShootings();
};
if (state.token) start().catch(() => logout());
