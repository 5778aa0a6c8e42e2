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

function fileUrl(mediaId, width) {
  const size = width ? `&width=${width}` : "";
  return `${API}/files/${mediaId}?token=${encodeURIComponent(state.token)}${size}`;
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
  select.innerHTML = `<option value="">Personal</option>` +
    orgs.data.map((o) => `<option value="${o.id}">${o.name}</option>`).join("");
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
  $("#shootings").innerHTML = "";
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
  $("#shots tbody").innerHTML = "";
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
  const images = revision ? revision.media_resource_ids : [];
  const genCell = generation
    ? `<span class="status gen-status ${generation.status}" data-status="${generation.status}">${generation.status}</span>
       <progress max="1" value="${generation.progress}"></progress>
       ${generation.temporal_ui_url ? `<a href="${generation.temporal_ui_url}" target="_blank">run</a>` : ""}
       ${generation.error_message ? `<div class="error">${generation.error_message}</div>` : ""}`
    : "—";
  row.innerHTML = `
    <td>${shot.shot_type_id.slice(0, 8)} <small>${shot.id.slice(0, 8)}</small></td>
    <td><span class="status shot-status ${shot.status}">${shot.status}</span></td>
    <td>${genCell}</td>
    <td class="thumbs">${images.map((id) => `<img alt="generated image" src="${fileUrl(id, 256)}">`).join("")}</td>
    <td>
      <button data-act="generate">Generate</button>
      ${shot.status === "in_review" || shot.status === "rejected" ? `<button data-act="approve">Approve</button>` : ""}
      ${shot.status === "in_review" || shot.status === "approved" ? `<button data-act="reject">Reject</button>` : ""}
    </td>`;
  row.querySelector('[data-act="generate"]').onclick = () => generateShot(shotId);
  const approve = row.querySelector('[data-act="approve"]');
  if (approve) approve.onclick = () => review(shotId, "approve");
  const reject = row.querySelector('[data-act="reject"]');
  if (reject) reject.onclick = () => review(shotId, "reject");
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
  $("#export-status").innerHTML = current.status === "completed" && current.download_url
    ? `<a id="export-download" href="${current.download_url}">Download zip</a>`
    : `export ${current.status} ${Math.round((current.progress || 0) * 100)}%`;
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
  $("#bulk-status").innerHTML = `
    <div class="status ${upload.status}">${upload.status}</div>
    <progress max="${total || 1}" value="${done}"></progress> ${done}/${total}
    <div>created ${upload.created_count || 0}, updated ${upload.updated_count || 0}, failed ${upload.failed_count || 0}</div>`;
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
