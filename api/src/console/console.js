// The Weelo ops console (docs/DESIGN.md, "Ops console"). Plain browser JavaScript, no build
// step and nothing fetched from elsewhere: it calls the ops listener's /api routes with the
// admin's token (kept in sessionStorage for the tab's life) and re-reads the open view every
// second, so a change shows within 2 s.
"use strict";

const POLL_MS = 1000;
let timer = null;
let token = sessionStorage.getItem("weelo-ops-token");

// ---- small helpers ----

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function toast(text, bad) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.className = "show" + (bad ? " bad" : "");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.className = ""), 4000);
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function table(headers, rows, onRow) {
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { text: x })))),
    h("tbody", {}, rows.map((r) => {
      const tr = h("tr", onRow ? { class: "clickable", "data-id": r.id, onclick: () => onRow(r) } : { "data-id": r.id });
      r.cells.forEach((c) => tr.append(h("td", {}, c)));
      return tr;
    })));
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || "HTTP " + status);
    this.status = status;
    this.code = problem.code;
  }
}

async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (token) headers.authorization = "Bearer " + token;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) {
    if (res.status === 401 && path !== "/api/sign-in/verify") signOut("Your session ended; sign in again.");
    throw new ApiError(res.status, data || {});
  }
  return data;
}

// An action that needs a reason: asks for one in the view's reason box.
async function act(label, method, path, reasonInput) {
  const reason = (document.getElementById(reasonInput).value || "").trim();
  if (!reason) {
    toast("Write a reason first (it goes to the audit trail).", true);
    document.getElementById(reasonInput).focus();
    return false;
  }
  try {
    const r = await api(method, path, { reason });
    toast(label + ": done" + (r && r.changed !== undefined ? " (" + r.changed + ")" : ""));
    refresh();
    return true;
  } catch (e) {
    toast(label + " refused: " + e.message + (e.code ? " [" + e.code + "]" : ""), true);
    return false;
  }
}

function reasonBox(id) {
  return h("label", {}, "Reason ", h("input", { id, size: 40, placeholder: "why (kept in the audit trail)" }));
}

// ---- views ----

function signInView() {
  const view = h("section", { class: "signin card" },
    h("h2", { text: "Sign in" }),
    h("p", { class: "muted", text: "Admins are created with `weelo-api admin add PHONE`; the code comes by SMS." }),
    h("label", { for: "phone", text: "Phone" }),
    h("input", { id: "phone", autocomplete: "tel", placeholder: "+919876543210" }),
    h("button", { id: "send-code", type: "button", onclick: sendCode }, "Send code"),
    h("label", { for: "code", text: "Code" }),
    h("input", { id: "code", inputmode: "numeric", autocomplete: "one-time-code" }),
    h("button", { id: "sign-in", type: "button", onclick: signIn }, "Sign in"),
    h("p", { id: "msg", class: "muted" }));
  return view;
}

async function sendCode() {
  const msg = document.getElementById("msg");
  try {
    const r = await api("POST", "/api/sign-in/request", { phone: document.getElementById("phone").value });
    msg.textContent = "Code sent to " + r.sentTo + "; it expires in " + r.expiresInSeconds + " s.";
  } catch (e) {
    msg.textContent = e.message + (e.code ? " [" + e.code + "]" : "");
  }
}

async function signIn() {
  const msg = document.getElementById("msg");
  try {
    const r = await api("POST", "/api/sign-in/verify", {
      phone: document.getElementById("phone").value,
      code: document.getElementById("code").value,
    });
    token = r.accessToken;
    sessionStorage.setItem("weelo-ops-token", token);
    sessionStorage.setItem("weelo-ops-who", r.phone);
    location.hash = "#/broadcasts";
    route();
  } catch (e) {
    msg.textContent = e.message + (e.code ? " [" + e.code + "]" : "");
  }
}

function signOut(why) {
  token = null;
  sessionStorage.removeItem("weelo-ops-token");
  sessionStorage.removeItem("weelo-ops-who");
  location.hash = "#/signin";
  route();
  if (why) toast(why, true);
}

const broadcastFilter = { status: "open", box: "" };

async function broadcastsView(root) {
  const q = new URLSearchParams({ status: broadcastFilter.status });
  if (broadcastFilter.box) q.set("box", broadcastFilter.box);
  const list = await api("GET", "/api/broadcasts?" + q);
  if (!root.querySelector("#status")) {
    root.replaceChildren(
      h("h2", { text: "Broadcasts" }),
      h("div", { class: "bar" },
        h("label", {}, "Status ", h("select", { id: "status", onchange: (e) => { broadcastFilter.status = e.target.value; refresh(); } },
          ["open", "all", "active", "partially_filled", "fully_filled", "completed", "cancelled", "expired"].map((v) => h("option", { value: v, selected: v === broadcastFilter.status }, v)))),
        h("label", {}, "City box ", h("input", { id: "box", size: 28, placeholder: "minLat,minLng,maxLat,maxLng", value: broadcastFilter.box,
          onchange: (e) => { broadcastFilter.box = e.target.value.trim(); refresh(); } }))),
      h("div", { id: "list" }));
  }
  const rows = list.map((b) => ({
    id: b.id,
    cells: [
      h("a", { href: "#/broadcast/" + b.id, text: b.id.slice(0, 8) }),
      b.customerPhone,
      b.status,
      b.lines.map((l) => l.vehicleType + " " + l.taken + "/" + l.needed + (l.held ? " (" + l.held + " held)" : "")).join(", "),
      b.trucksFilled + "/" + b.trucksNeeded,
      String(b.radiusStep + 1),
      String(b.notified),
      b.status === "active" || b.status === "partially_filled" ? b.secondsLeft + " s" : b.terminalReason || "",
      (b.pickupCity || b.pickupAddress),
    ],
  }));
  root.querySelector("#list").replaceChildren(
    rows.length ? table(["Broadcast", "Customer", "Status", "Lines", "Filled", "Radius step", "Notified", "Time left", "Pickup"], rows,
      (r) => (location.hash = "#/broadcast/" + r.id)) : h("p", { class: "muted", id: "empty", text: "No broadcasts match." }));
}

async function broadcastView(root, id) {
  const t = await api("GET", "/api/broadcasts/" + id);
  const b = t.broadcast;
  const open = b.status === "active" || b.status === "partially_filled";
  if (root.dataset.skeleton !== "broadcast:" + id) {
    // Built once per broadcast: the reason box keeps its focus while the rest refreshes.
    root.dataset.skeleton = "broadcast:" + id;
    root.replaceChildren(
      h("h2", {}, "Broadcast ", h("code", { text: b.id })),
      h("div", { class: "card" }, h("div", { id: "b-summary" }),
        h("div", { class: "bar", id: "b-actions" }, reasonBox("cancel-reason"),
          h("button", { id: "cancel", type: "button", onclick: () => act("Cancel", "POST", "/api/broadcasts/" + id + "/cancel", "cancel-reason") }, "Force-cancel"))),
      h("div", { id: "b-body" }));
  }
  root.querySelector("#b-actions").hidden = !open;
  root.querySelector("#b-summary").replaceChildren(
    h("p", {}, h("strong", { id: "b-status", text: b.status }), " · ", b.trucksFilled + "/" + b.trucksNeeded + " trucks · radius step " + (b.radiusStep + 1) +
      " · " + b.notified + " told · customer " + b.customerPhone + (open ? " · " + b.secondsLeft + " s left" : " · " + (b.terminalReason || ""))),
    h("p", { class: "muted", text: b.pickupAddress + " (" + b.pickupLat + ", " + b.pickupLng + ")" }));
  root.querySelector("#b-body").replaceChildren(
    h("h3", { text: "Timeline" }),
    h("ol", { id: "timeline" }, t.transitions.map((x) => h("li", {},
      when(x.at) + " — " + (x.from ? x.from + " → " : "") + x.to + " (" + x.reason + ", " + x.actorRole + ")" +
      (x.truckRequestId ? " truck " + x.truckRequestId.slice(0, 8) : "")))),
    h("h3", { text: "Radius steps" }),
    table(["Step", "Told", "At"], t.radiusSteps.map((r) => ({ cells: [String(r.step + 1), String(r.told), when(r.at)] }))),
    h("h3", { text: "Trips" }),
    table(["Trip", "Status", "Transitions"], t.trips.map((x) => ({ id: x.id,
      cells: [x.id.slice(0, 8), x.status, x.transitions.map((y) => (y.from || "·") + "→" + y.to).join(", ")] }))),
    h("h3", { text: "Holds" }),
    table(["Hold", "Type", "Held", "Status", "Expires"], t.holds.map((x) => ({ id: x.id,
      cells: [x.id.slice(0, 8), x.vehicleType, x.held + "/" + x.requested, x.status, when(x.expiresAt)] }))),
    h("h3", { text: "Notifications" }),
    table(["Transporter", "Step", "km", "At"], t.notifications.map((n) => ({
      cells: [n.phone, String(n.radiusStep + 1), n.distanceKm == null ? "" : n.distanceKm.toFixed(1), when(n.at)] }))),
    h("h3", { text: "Events and jobs" }),
    table(["#", "Kind", "Created", "Dispatched", "Attempts"], t.events.map((e) => ({
      cells: [String(e.id), e.kind, when(e.createdAt), e.dispatchedAt ? when(e.dispatchedAt) : h("span", { class: "bad", text: "pending" }), String(e.attempts)] }))),
    t.deadLetters.length ? h("p", { class: "bad", text: t.deadLetters.length + " dead letter(s) for this broadcast: see Dead letters." }) : "");
}

function chart(points, label) {
  // points: [{atMs, value}], the last hour; a small line chart with the max value labelled.
  const w = 240, hgt = 48;
  const now = Date.now();
  const max = Math.max(1, ...points.map((p) => p.value));
  const x = (at) => Math.max(0, Math.min(w, w - ((now - at) / 3600000) * w));
  const y = (v) => hgt - 4 - (v / max) * (hgt - 12);
  const path = points.map((p, i) => (i ? "L" : "M") + x(p.atMs).toFixed(1) + "," + y(p.value).toFixed(1)).join(" ");
  return s("svg", { width: w, height: hgt, viewBox: "0 0 " + w + " " + hgt, role: "img", "aria-label": label },
    s("title", {}, label),
    s("path", { d: path || "M0," + (hgt - 4) + " L" + w + "," + (hgt - 4), fill: "none", stroke: "#2f6fde", "stroke-width": 1.5 }),
    s("text", { x: 2, y: 10, "font-size": 9, fill: "#6b7380" }, "max " + max + "/min, last hour"));
}

async function queuesView(root) {
  const q = await api("GET", "/api/queues");
  const series = (name) => q.history.map((m) => ({ atMs: m.atMs, value: m.queues[name] ? m.queues[name].done : 0 }));
  const lastMinute = (name) => {
    const m = q.history[q.history.length - 1];
    return m && m.queues[name] ? m.queues[name].done : 0;
  };
  root.replaceChildren(
    h("h2", { text: "Queues" }),
    h("div", { class: "card", id: "spine" },
      h("p", {}, h("strong", { text: q.workers.length + " worker(s) alive" }), q.workers.length ? " — " + q.workers.map((w) => w.name).join(", ") : h("span", { class: "bad", text: " — no worker is writing its snapshot" })),
      h("p", {}, "Outbox: ", h("strong", { id: "outbox", text: q.outboxUndispatched + " undispatched" }),
        q.outboxOldestAgeSecs != null ? ", oldest " + q.outboxOldestAgeSecs.toFixed(1) + " s" : "")),
    table(["Queue", "Pending", "Scheduled", "In flight", "Done (since start)", "Done last min", "Retried", "Dead letters", "Lateness p99", "Last hour"],
      q.queues.map((x) => ({ id: x.queue, cells: [x.queue, String(x.pending), String(x.scheduled), String(x.inflight), String(x.done),
        String(lastMinute(x.queue)), String(x.retried), String(q.deadLetters[x.queue] || 0),
        x.latenessP99Ms == null ? "" : x.latenessP99Ms + " ms", chart(series(x.queue), x.queue + " done per minute")] }))));
}

async function deadView(root) {
  const letters = await api("GET", "/api/dead-letters?all=true");
  if (root.dataset.skeleton !== "dead") {
    root.dataset.skeleton = "dead";
    root.replaceChildren(h("h2", { text: "Dead letters" }), h("div", { class: "bar" }, reasonBox("dl-reason"), h("span", { id: "dl-queues" })),
      h("div", { id: "dl-list" }));
  }
  const queues = [...new Set(letters.filter((l) => l.status === "dead").map((l) => l.queue))];
  root.querySelector("#dl-queues").replaceChildren(...queues.map((qn) => h("button", { type: "button", "data-queue": qn, class: "retry-all",
    onclick: () => act("Retry all of " + qn, "POST", "/api/queues/" + encodeURIComponent(qn) + "/retry-all", "dl-reason") }, "Retry all of " + qn)));
  root.querySelector("#dl-list").replaceChildren(letters.length
    ? table(["#", "Queue", "Status", "Attempts", "Error", "Payload", "When", ""], letters.map((l) => ({ id: String(l.id), cells: [
      String(l.id), l.queue, h("span", { class: "dl-status " + (l.status === "retried" ? "good" : l.status === "dead" ? "bad" : ""), text: l.status }),
      String(l.attempts), h("pre", { text: l.error }), h("pre", { text: JSON.stringify(l.payload, null, 1) }), when(l.updatedAt),
      l.status === "dead" ? h("span", {},
        h("button", { type: "button", class: "retry", onclick: () => act("Retry #" + l.id, "POST", "/api/dead-letters/" + l.id + "/retry", "dl-reason") }, "Retry"), " ",
        h("button", { type: "button", class: "discard", onclick: () => act("Discard #" + l.id, "POST", "/api/dead-letters/" + l.id + "/discard", "dl-reason") }, "Discard")) : ""] })))
    : h("p", { class: "muted", text: "No dead letters." }));
}

const peopleFilter = { phone: "" };

async function peopleView(root) {
  const [pending, users] = await Promise.all([
    api("GET", "/api/transporters/pending"),
    api("GET", "/api/users" + (peopleFilter.phone ? "?phone=" + encodeURIComponent(peopleFilter.phone) : "")),
  ]);
  if (!root.querySelector("#people-reason")) {
    root.replaceChildren(
      h("h2", { text: "People" }),
      h("div", { class: "bar" }, reasonBox("people-reason")),
      h("h3", { text: "Transporters waiting for verification" }),
      h("div", { id: "pending" }),
      h("h3", { text: "Users" }),
      h("div", { class: "bar" }, h("label", {}, "Phone contains ", h("input", { id: "user-phone", onchange: (e) => { peopleFilter.phone = e.target.value.trim(); refresh(); } }))),
      h("div", { id: "users" }));
  }
  root.querySelector("#pending").replaceChildren(pending.length
    ? table(["Phone", "Name", "Vehicles", ""], pending.map((p) => ({ id: p.id, cells: [p.phone, p.name || "", p.vehicles.join(", ") || "none yet",
      h("button", { type: "button", class: "verify", onclick: () => act("Verify " + p.phone, "POST", "/api/transporters/" + p.id + "/verify", "people-reason") }, "Verify")] })))
    : h("p", { class: "muted", id: "no-pending", text: "Nobody is waiting." }));
  root.querySelector("#users").replaceChildren(table(["Phone", "Role", "Verified", "Suspended", ""], users.map((u) => ({ id: u.id, cells: [
    u.phone, u.role, u.role === "transporter" ? (u.verifiedAt ? when(u.verifiedAt) : "pending") : "", u.suspendedAt ? when(u.suspendedAt) : "",
    h("span", {},
      u.role === "admin" ? "" : u.suspendedAt
        ? h("button", { type: "button", class: "restore", onclick: () => act("Restore " + u.phone, "POST", "/api/users/" + u.id + "/restore", "people-reason") }, "Restore")
        : h("button", { type: "button", class: "suspend", onclick: () => act("Suspend " + u.phone, "POST", "/api/users/" + u.id + "/suspend", "people-reason") }, "Suspend"),
      u.role === "transporter" && u.verifiedAt ? h("button", { type: "button", class: "unverify",
        onclick: () => act("Unverify " + u.phone, "POST", "/api/transporters/" + u.id + "/unverify", "people-reason") }, "Unverify") : "")] }))));
}

const mapState = { selected: "" };

async function mapView(root) {
  const m = await api("GET", "/api/map");
  const pts = m.transporters.map((t) => [t.lat, t.lng]).concat(m.pickups.map((p) => [p.pickupLat, p.pickupLng]));
  const sel = m.pickups.find((p) => p.id === mapState.selected);
  if (sel) {
    const far = m.radiusStepsKm[Math.min(sel.radiusStep, m.radiusStepsKm.length - 1)] || 0;
    const dLng = far / (111 * Math.cos((sel.pickupLat * Math.PI) / 180));
    pts.push([sel.pickupLat + far / 111, sel.pickupLng], [sel.pickupLat - far / 111, sel.pickupLng],
      [sel.pickupLat, sel.pickupLng + dLng], [sel.pickupLat, sel.pickupLng - dLng]);
  }
  const lats = pts.map((p) => p[0]), lngs = pts.map((p) => p[1]);
  const pad = 0.05;
  const minLat = (pts.length ? Math.min(...lats) : 18.9) - pad, maxLat = (pts.length ? Math.max(...lats) : 19.1) + pad;
  const midLat = (minLat + maxLat) / 2, k = Math.cos((midLat * Math.PI) / 180);
  const minLng = (pts.length ? Math.min(...lngs) : 72.9) - pad, maxLng = (pts.length ? Math.max(...lngs) : 73.1) + pad;
  const W = 640, H = 480;
  const spanX = (maxLng - minLng) * k, spanY = maxLat - minLat;
  const scale = Math.min(W / spanX, H / spanY);
  // Centred: the unused width or height is split evenly on both sides.
  const ox = (W - spanX * scale) / 2, oy = (H - spanY * scale) / 2;
  const x = (lng) => ox + (lng - minLng) * k * scale, y = (lat) => H - oy - (lat - minLat) * scale;
  const svg = s("svg", { id: "map", width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "online transporters and open pickups" });
  if (sel) {
    m.radiusStepsKm.slice(0, sel.radiusStep + 1).forEach((km) => svg.append(s("circle", { class: "ring", cx: x(sel.pickupLng), cy: y(sel.pickupLat),
      r: (km / 111) * scale, fill: "none", stroke: "#2f6fde", "stroke-dasharray": "4 3" }, s("title", {}, km + " km"))));
  }
  m.transporters.forEach((t) => svg.append(s("circle", { class: "transporter", cx: x(t.lng), cy: y(t.lat), r: 3, fill: "#1b7f3b" },
    s("title", {}, t.vehicleType + " " + t.transporterId))));
  m.pickups.forEach((p) => svg.append(s("rect", { class: "pickup", x: x(p.pickupLng) - 4, y: y(p.pickupLat) - 4, width: 8, height: 8,
    fill: p.id === mapState.selected ? "#b3261e" : "#e08a00" }, s("title", {}, p.pickupAddress + " (" + p.id.slice(0, 8) + ")"))));
  if (root.dataset.skeleton !== "map") {
    root.dataset.skeleton = "map";
    root.replaceChildren(h("h2", { text: "Map" }),
      h("div", { class: "bar" }, h("label", {}, "Broadcast ", h("select", { id: "map-broadcast", onchange: (e) => { mapState.selected = e.target.value; refresh(); } })),
        h("span", { class: "muted", id: "map-legend" })),
      h("div", { id: "map-holder" }));
  }
  const select = root.querySelector("#map-broadcast");
  const options = [""].concat(m.pickups.map((p) => p.id));
  if ([...select.options].map((o) => o.value).join() !== options.join()) {
    select.replaceChildren(h("option", { value: "" }, "(none)"),
      ...m.pickups.map((p) => h("option", { value: p.id, selected: p.id === mapState.selected }, p.id.slice(0, 8) + " " + (p.pickupCity || p.pickupAddress))));
  }
  root.querySelector("#map-legend").textContent = m.transporters.length + " transporters online (green), " + m.pickups.length +
    " open pickups (orange); rings: the selected broadcast's radius steps so far";
  root.querySelector("#map-holder").replaceChildren(svg);
}

async function auditView(root) {
  const rows = await api("GET", "/api/audit");
  root.replaceChildren(h("h2", { text: "Audit trail" }),
    table(["When", "Admin", "Action", "Target", "Reason"], rows.map((a) => ({ id: String(a.id),
      cells: [when(a.at), a.adminPhone || "(command line)", a.action, a.targetId || "", a.reason] }))));
}

// ---- routing ----

const VIEWS = [
  [/^#\/broadcasts$/, broadcastsView],
  [/^#\/broadcast\/([0-9a-f-]{36})$/, broadcastView],
  [/^#\/queues$/, queuesView],
  [/^#\/dead$/, deadView],
  [/^#\/people$/, peopleView],
  [/^#\/map$/, mapView],
  [/^#\/audit$/, auditView],
];

let current = null;

async function refresh() {
  if (!current) return;
  const [fn, args, root] = current;
  try {
    await fn(root, ...args);
    root.dataset.loaded = "true";
  } catch (e) {
    if (e.status !== 401) toast(e.message + (e.code ? " [" + e.code + "]" : ""), true);
  }
}

function route() {
  clearInterval(timer);
  current = null;
  const root = document.getElementById("view");
  document.getElementById("nav").hidden = !token;
  document.getElementById("who").textContent = token ? sessionStorage.getItem("weelo-ops-who") || "" : "";
  if (!token) {
    root.replaceChildren(signInView());
    return;
  }
  const hash = location.hash || "#/broadcasts";
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", hash.startsWith(a.getAttribute("href")));
  const found = VIEWS.map(([re, fn]) => [re.exec(hash), fn]).find(([m]) => m);
  if (!found) {
    location.hash = "#/broadcasts";
    return;
  }
  const [m, fn] = found;
  root.replaceChildren(h("p", { class: "muted", text: "Loading…" }));
  delete root.dataset.loaded;
  delete root.dataset.skeleton;
  current = [fn, m.slice(1), root];
  refresh();
  timer = setInterval(refresh, POLL_MS);
}

document.getElementById("sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", route);
route();
