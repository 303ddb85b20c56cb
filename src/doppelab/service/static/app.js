// doppelab web page: upload with an API key, poll the check, draw the result. No build step.
"use strict";
const $ = (id) => document.getElementById(id);
const keyInput = $("api-key");
keyInput.value = sessionStorage.getItem("doppelab-key") || "";

function headers() {
  return { Authorization: "Bearer " + keyInput.value.trim() };
}

function say(text, cls) {
  const m = $("message");
  m.textContent = text;
  m.className = cls || "";
}

async function problem(resp) {
  try {
    const p = await resp.json();
    return (p.title || resp.status) + (p.detail ? ": " + p.detail : "");
  } catch (e) {
    return "HTTP " + resp.status;
  }
}

function verdictClass(v) {
  return v.includes("fake") ? "fake" : v.includes("real") ? "real" : "inconclusive";
}

function svgEl(name, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function drawTimeline(points) {
  const svg = $("timeline");
  svg.replaceChildren();
  const W = 600, H = 160, L = 40, R = 10, T = 10, B = 25;
  svg.appendChild(svgEl("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#f4f4f4" }));
  const y = (p) => T + (1 - p) * (H - T - B);
  svg.appendChild(svgEl("line", { x1: L, x2: W - R, y1: y(0.5), y2: y(0.5), stroke: "#888", "stroke-dasharray": "4" }));
  for (const p of [0, 0.5, 1]) {
    const t = svgEl("text", { x: 4, y: y(p) + 4, "font-size": 11 });
    t.textContent = p.toFixed(1);
    svg.appendChild(t);
  }
  if (!points.length) return;
  const t0 = points[0].timestamp, t1 = points[points.length - 1].timestamp;
  const x = (t) => L + (t1 > t0 ? (t - t0) / (t1 - t0) : 0.5) * (W - L - R);
  const path = points.map((p, i) => (i ? "L" : "M") + x(p.timestamp).toFixed(1) + " " + y(p.probability).toFixed(1)).join(" ");
  svg.appendChild(svgEl("path", { d: path, fill: "none", stroke: "#1565c0", "stroke-width": 2 }));
  for (const p of points) svg.appendChild(svgEl("circle", { cx: x(p.timestamp), cy: y(p.probability), r: 3, fill: "#1565c0" }));
  const lab = svgEl("text", { x: L, y: H - 6, "font-size": 11 });
  lab.textContent = "time " + t0.toFixed(2) + " s .. " + t1.toFixed(2) + " s; dashed: 0.5";
  svg.appendChild(lab);
}

function row(tbody, k, v) {
  const tr = document.createElement("tr");
  const a = document.createElement("td"), b = document.createElement("td");
  a.textContent = k;
  b.textContent = v;
  tr.append(a, b);
  tbody.appendChild(tr);
}

function showResult(check) {
  const r = check.result, d = r.detect, v = r.verify;
  $("verdict-box").hidden = false;
  const verdict = $("verdict");
  verdict.textContent = d.verdict + (d.reason ? " (" + d.reason + ")" : "");
  verdict.className = "verdict " + verdictClass(d.verdict);
  $("probability").textContent = d.probability == null ? "P(fake): n/a" : "P(fake) = " + d.probability.toFixed(3);
  const dets = $("detectors").tBodies[0];
  dets.replaceChildren();
  for (const [k, p] of Object.entries(d.detectors || {})) row(dets, k, p == null ? "n/a" : p.toFixed(3));
  drawTimeline(d.timeline || []);
  const hm = $("heatmaps");
  hm.replaceChildren();
  for (const h of r.heatmaps || []) {
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    img.src = h.image;
    img.width = 160;
    img.alt = "heatmap frame " + h.frame;
    const cap = document.createElement("figcaption");
    cap.textContent = "frame " + h.frame + ", P=" + (h.probability == null ? "n/a" : h.probability.toFixed(2));
    fig.append(img, cap);
    hm.appendChild(fig);
  }
  if (!hm.children.length) hm.textContent = "no usable face";
  const prov = $("provenance").tBodies[0];
  prov.replaceChildren();
  row(prov, "C2PA manifest", v.manifest.state + (v.manifest.generator ? " (" + v.manifest.generator + ")" : ""));
  row(prov, "watermark", v.watermark.found ? "found, payload " + v.watermark.payload_id : "not found");
  row(prov, "registry", v.registry.matched ? "match " + v.registry.payload_id : "no match");
  row(prov, "summary", v.summary);
}

async function openReport(ev) {
  ev.preventDefault();
  const id = ev.target.dataset.id;
  const resp = await fetch("/v1/checks/" + id + "/report", { headers: headers() });
  if (!resp.ok) return say(await problem(resp), "failed");
  const url = URL.createObjectURL(new Blob([await resp.text()], { type: "text/html" }));
  window.open(url, "_blank");
}

async function poll(id) {
  $("job").hidden = false;
  $("verdict-box").hidden = true;
  for (;;) {
    const resp = await fetch("/v1/checks/" + id, { headers: headers() });
    if (!resp.ok) return say(await problem(resp), "failed");
    const c = await resp.json();
    $("job-title").textContent = "Check of " + c.filename;
    $("progress").value = c.progress;
    let text = c.status;
    if (c.status === "queued" && c.queue_position != null) text += " (" + c.queue_position + " ahead)";
    if (c.status === "running" && c.stage) text += ": " + c.stage;
    $("status").textContent = text;
    if (c.status === "done") {
      $("report-link").dataset.id = c.id;
      showResult(c);
      say("");
      return listChecks();
    }
    if (c.status === "failed") {
      $("status").textContent = "failed: " + c.error;
      $("status").className = "failed";
      return listChecks();
    }
    await new Promise((ok) => setTimeout(ok, 1000));
  }
}

async function listChecks() {
  const resp = await fetch("/v1/checks", { headers: headers() });
  if (!resp.ok) return;
  const ul = $("checks");
  ul.replaceChildren();
  for (const c of (await resp.json()).checks) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = "#";
    a.textContent = c.filename + ": " + c.status;
    a.addEventListener("click", (ev) => { ev.preventDefault(); poll(c.id); });
    li.appendChild(a);
    ul.appendChild(li);
  }
}

$("report-link").addEventListener("click", openReport);
$("upload-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("doppelab-key", keyInput.value.trim());
  const file = $("file").files[0];
  if (!file) return say("choose a file", "failed");
  const body = new FormData();
  body.append("file", file);
  $("status").className = "";
  say("uploading...");
  const resp = await fetch("/v1/checks", { method: "POST", headers: headers(), body });
  if (resp.status !== 202) return say(await problem(resp), "failed");
  const c = await resp.json();
  say("uploaded; checking");
  poll(c.id);
});
if (keyInput.value) listChecks();
