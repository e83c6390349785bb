/// The tracker's dashboard: one self-contained page (no CDN, no other file: a LAN may have
/// no internet), served at `/` without the token because it holds no data.
///
/// The page takes the token from the link's fragment (`/#token=…`, never sent to the
/// server), or asks for it once, and keeps it in `sessionStorage` (this tab only). It reads
/// `GET /v1/events` with `fetch` and an `Authorization` header, and renders every `snapshot`
/// event with DOM calls and `textContent` only (peer names and file names come from the
/// network: never parsed as HTML).
enum DashboardPage {
    static let head = #"""
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>ddl swarm</title>
<link rel="icon" href="data:,">

"""#

    static let style = #"""
:root { --fg: #1b1f24; --muted: #4a5560; --bg: #ffffff; --panel: #f4f6f8; --line: #d0d7de;
  --peers: #0b5cad; --clients: #b35900; --ok: #116329; --bad: #a40e26; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .5rem 1rem; padding: .75rem 1rem; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.25rem; margin: 0; }
h2 { font-size: 1.05rem; margin: 1.25rem 0 .5rem; }
main { padding: 0 1rem 2rem; max-width: 72rem; margin: 0 auto; }
#status { color: var(--muted); }
#status.live::before { content: "\25CF "; color: var(--ok); }
#status.down::before { content: "\25CF "; color: var(--bad); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(9.5rem, 1fr)); gap: .5rem; margin-top: 1rem; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .5rem .75rem; }
.card dt { color: var(--muted); font-size: .85rem; }
.card dd { margin: 0; font-size: 1.25rem; font-weight: 600; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
caption { text-align: left; color: var(--muted); font-size: .85rem; padding-bottom: .25rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-size: .85rem; color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; }
.file { white-space: normal; overflow-wrap: anywhere; min-width: 8rem; }
.share { display: flex; height: .6rem; min-width: 6rem; border-radius: 3px; overflow: hidden; background: var(--line); }
.share span { display: block; height: 100%; }
.legend { color: var(--muted); font-size: .8rem; white-space: normal; }
.ok { color: var(--ok); } .bad { color: var(--bad); }
figure { margin: 0; }
svg { width: 100%; height: auto; display: block; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
.k-peers { background: var(--peers); } .k-clients { background: var(--clients); }
.key { display: inline-block; width: .8rem; height: .8rem; vertical-align: -.1rem; margin-right: .25rem; border-radius: 2px; }
form { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .75rem; margin-top: 1rem; }
label { display: block; font-weight: 600; margin-bottom: .25rem; }
input { font: inherit; padding: .35rem .5rem; width: min(100%, 28rem); border: 1px solid var(--muted); border-radius: 4px; }
button { font: inherit; padding: .35rem .9rem; margin-top: .5rem; border: 1px solid var(--peers); background: var(--peers); color: #fff; border-radius: 4px; cursor: pointer; }
.hint { color: var(--muted); font-size: .9rem; }
.empty { color: var(--muted); }
[hidden] { display: none !important; }
"""#

    static let body = #"""
<header>
  <h1>ddl swarm</h1>
  <span id="status" role="status" aria-live="polite">connecting…</span>
</header>
<main>
  <form id="token-form" hidden>
    <label for="token">Swarm token</label>
    <input id="token" type="password" autocomplete="off" spellcheck="false">
    <div><button type="submit">Open the dashboard</button></div>
    <p class="hint" id="token-hint">The token <code>ddl tracker</code> printed. It stays in this tab (sessionStorage) and goes to the tracker only as an Authorization header.</p>
  </form>
  <section aria-labelledby="totals-h">
    <h2 id="totals-h" hidden>Totals</h2>
    <dl class="cards">
      <div class="card"><dt>Peers live</dt><dd id="t-peers">–</dd></div>
      <div class="card"><dt>Fetches in flight</dt><dd id="t-fetches">–</dd></div>
      <div class="card"><dt>Downloads reported</dt><dd id="t-downloads">–</dd></div>
      <div class="card"><dt>Bytes downloaded</dt><dd id="t-bytes">–</dd></div>
      <div class="card"><dt>Internet traffic saved</dt><dd id="t-saved">–</dd></div>
    </dl>
  </section>
  <section aria-labelledby="chart-h">
    <h2 id="chart-h">Throughput, last <span id="chart-span">10</span> minutes</h2>
    <figure>
      <svg id="chart" viewBox="0 0 600 180" role="img" aria-labelledby="chart-desc"></svg>
      <figcaption id="chart-desc" class="legend"><span class="key k-peers"></span>served by peers
        &nbsp; <span class="key k-clients"></span>clients' own links (origin, mirrors)</figcaption>
    </figure>
  </section>
  <section aria-labelledby="peers-h">
    <h2 id="peers-h">Peers</h2>
    <div class="scroll">
      <table id="peers">
        <caption id="peers-caption">Peer servers registered with this tracker</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">Address</th><th scope="col">Last seen</th><th scope="col" class="num">Served</th><th scope="col" class="num">Fetches in flight</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
  </section>
  <section aria-labelledby="downloads-h">
    <h2 id="downloads-h">Recent downloads</h2>
    <div class="scroll">
      <table id="downloads">
        <caption>Reported by <code>ddl get</code> when it ends, newest first (the last 20)</caption>
        <thead><tr><th scope="col">File</th><th scope="col" class="num">Size</th><th scope="col" class="num">Time</th><th scope="col" class="num">Rate</th><th scope="col">Share per source</th><th scope="col" class="num">Saved</th><th scope="col">Result</th><th scope="col">Finished</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
  </section>
</main>

"""#

    static let script = #"""
"use strict";
(function () {
  var KEY = "ddl-token";
  var COLORS = { origin: "#b35900", mirror: "#6f42c1", peer: ["#0b5cad", "#1a7f37", "#8250df", "#0a7d8c", "#9a6700", "#cf222e"] };
  var state = null, skew = 0, delay = 1000, controller = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) { var e = document.createElement(tag); if (text != null) e.textContent = text; if (cls) e.className = cls; return e; }
  function bytes(n) {
    if (n == null) return "–";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
  }
  function rate(n) { return bytes(n) + "/s"; }
  function seconds(s) { return s < 10 ? s.toFixed(2) + " s" : s < 120 ? s.toFixed(1) + " s" : Math.floor(s / 60) + " min " + Math.round(s % 60) + " s"; }
  function ago(iso) {
    var s = Math.max(0, (Date.now() - skew - Date.parse(iso)) / 1000);
    return s < 2 ? "just now" : s < 120 ? Math.floor(s) + " s ago" : Math.floor(s / 60) + " min ago";
  }

  function takeToken() {
    var m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (m) {
      try { sessionStorage.setItem(KEY, decodeURIComponent(m[1])); } catch (e) { sessionStorage.setItem(KEY, m[1]); }
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(KEY);
  }
  function setStatus(text, cls) { var s = $("status"); s.textContent = text; s.className = cls || ""; }
  function askToken(message) {
    $("token-form").hidden = false;
    if (message) $("token-hint").textContent = message;
    setStatus("token needed", "down");
    $("token").focus();
  }

  $("token-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var value = $("token").value.trim();
    if (value) sessionStorage.setItem(KEY, value); else sessionStorage.removeItem(KEY);
    $("token").value = "";
    $("token-form").hidden = true;
    connect();
  });

  function connect() {
    if (controller) controller.abort();
    controller = new AbortController();
    var token = sessionStorage.getItem(KEY);
    var headers = token ? { "Authorization": "Bearer " + token } : {};
    setStatus("connecting…");
    fetch("/v1/events", { headers: headers, cache: "no-store", signal: controller.signal }).then(function (response) {
      if (response.status === 401) {
        sessionStorage.removeItem(KEY);
        askToken(token ? "The tracker refused that token. Enter the swarm token ddl tracker printed." : "");
        return;
      }
      if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
      delay = 1000;
      setStatus("live", "live");
      return read(response.body.getReader());
    }).then(function (ended) {
      if (ended) retry();
    }, function (error) {
      if (error && error.name === "AbortError") return;
      retry();
    });
  }
  function retry() {
    setStatus("reconnecting…", "down");
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 15000);
  }
  function read(reader) {
    var decoder = new TextDecoder(), buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return true;
        buffer += decoder.decode(chunk.value, { stream: true });
        var cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          frame(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
        return pump();
      });
    }
    return pump();
  }
  function frame(text) {
    var name = "message", data = [];
    text.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) name = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
    });
    if (name === "snapshot" && data.length) {
      state = JSON.parse(data.join("\n"));
      skew = Date.now() - Date.parse(state.time);
      render();
    }
  }

  function render() {
    if (!state) return;
    var fetches = 0;
    state.peers.forEach(function (p) { fetches += p.activeFetches || 0; });
    $("t-peers").textContent = state.peerCount;
    $("t-fetches").textContent = fetches;
    $("t-downloads").textContent = state.totals.downloads;
    $("t-bytes").textContent = bytes(state.totals.bytes);
    $("t-saved").textContent = bytes(state.totals.savedBytes);
    renderPeers();
    renderDownloads();
    renderChart();
  }

  function renderPeers() {
    var body = $("peers").tBodies[0];
    body.replaceChildren();
    if (!state.peers.length) {
      var row = body.insertRow(), cell = el("td", "No peer server is registered.", "empty");
      cell.colSpan = 5; row.appendChild(cell);
    }
    state.peers.forEach(function (p) {
      var row = el("tr");
      row.appendChild(el("th", p.name || p.id.slice(0, 8))).scope = "row";
      row.appendChild(el("td", (p.host.indexOf(":") >= 0 ? "[" + p.host + "]" : p.host) + ":" + p.port));
      var seen = el("td", ago(p.lastSeen)); seen.dataset.seen = p.lastSeen; row.appendChild(seen);
      row.appendChild(el("td", bytes(p.servedBytes), "num"));
      row.appendChild(el("td", p.activeFetches == null ? "–" : String(p.activeFetches), "num"));
      body.appendChild(row);
    });
    $("peers-caption").textContent = state.peerCount > state.peers.length
      ? "Peer servers registered with this tracker (the first " + state.peers.length + " of " + state.peerCount + ")"
      : "Peer servers registered with this tracker";
  }

  function sourceColor(source, index) {
    if (source.kind === "origin") return COLORS.origin;
    if (source.kind === "mirror") return COLORS.mirror;
    return COLORS.peer[index % COLORS.peer.length];
  }

  function renderDownloads() {
    var body = $("downloads").tBodies[0];
    body.replaceChildren();
    if (!state.downloads.length) {
      var row = body.insertRow(), cell = el("td", "No download reported yet.", "empty");
      cell.colSpan = 8; row.appendChild(cell);
    }
    state.downloads.forEach(function (d) {
      var r = d.report, row = el("tr");
      var file = el("th", r.file || r.url, "file"); file.scope = "row"; file.title = r.url; row.appendChild(file);
      row.appendChild(el("td", bytes(r.bytes), "num"));
      row.appendChild(el("td", seconds(r.seconds), "num"));
      row.appendChild(el("td", r.seconds > 0 ? rate(r.bytes / r.seconds) : "–", "num"));
      var shares = el("td"), bar = el("div", null, "share"), legend = el("div", null, "legend"), sum = 0, peerIndex = 0;
      r.sources.forEach(function (s) { sum += s.bytes; });
      var parts = [];
      r.sources.forEach(function (s) {
        var color = sourceColor(s, s.kind === "peer" ? peerIndex++ : 0);
        var pct = sum > 0 ? 100 * s.bytes / sum : 0;
        var part = el("span"); part.style.width = pct.toFixed(2) + "%"; part.style.background = color; bar.appendChild(part);
        parts.push(s.name + " " + pct.toFixed(0) + "%");
      });
      bar.setAttribute("role", "img");
      bar.setAttribute("aria-label", parts.join(", ") || "no bytes");
      legend.textContent = parts.join(" · ");
      shares.appendChild(bar); shares.appendChild(legend); row.appendChild(shares);
      row.appendChild(el("td", r.result === "ok" ? bytes(Math.max(0, r.bytes - r.originBytes)) : "–", "num"));
      row.appendChild(el("td", r.result, r.result === "ok" ? "ok" : "bad"));
      var when = el("td", ago(d.reportedAt)); when.dataset.seen = d.reportedAt; row.appendChild(when);
      body.appendChild(row);
    });
  }

  function renderChart() {
    // The drawing is as wide as the page shows it, so its text keeps its size on a phone.
    var svg = $("chart"), NS = "http://www.w3.org/2000/svg", W = Math.max(300, Math.round(svg.clientWidth || 600)), H = 180, L = 72, B = 20, T = 10;
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    var points = state.throughput;
    $("chart-span").textContent = Math.round(points.length * state.bucketSeconds / 60);
    var max = 0;
    points.forEach(function (p) { max = Math.max(max, p.peers + p.clients); });
    var top = niceCeiling(max);
    svg.replaceChildren();
    function add(tag, attrs, text) {
      var e = document.createElementNS(NS, tag);
      for (var k in attrs) e.setAttribute(k, attrs[k]);
      if (text != null) e.textContent = text;
      svg.appendChild(e); return e;
    }
    function x(i) { return L + (W - L - 4) * (points.length > 1 ? i / (points.length - 1) : 0); }
    function y(v) { return H - B - (H - B - T) * (top > 0 ? v / top : 0); }
    for (var g = 0; g <= 2; g++) {
      var v = top * g / 2;
      add("line", { x1: L, x2: W - 4, y1: y(v), y2: y(v), stroke: "#d0d7de" });
      add("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": "12", fill: "#4a5560" }, rate(v));
    }
    add("text", { x: L, y: H - 4, "font-size": "12", fill: "#4a5560" }, "−" + Math.round(points.length * state.bucketSeconds / 60) + " min");
    add("text", { x: W - 4, y: H - 4, "text-anchor": "end", "font-size": "12", fill: "#4a5560" }, "now");
    function area(values, base, color) {
      var d = "M" + x(0) + "," + y(base[0]);
      values.forEach(function (v, i) { d += " L" + x(i) + "," + y(base[i] + v); });
      for (var i = values.length - 1; i >= 0; i--) d += " L" + x(i) + "," + y(base[i]);
      add("path", { d: d + " Z", fill: color, "fill-opacity": "0.85", stroke: "none" });
    }
    if (points.length) {
      var zero = points.map(function () { return 0; });
      var peers = points.map(function (p) { return p.peers; });
      area(peers, zero, "#0b5cad");
      area(points.map(function (p) { return p.clients; }), peers, "#b35900");
    }
    var last = points.length ? points[points.length - 1] : { peers: 0, clients: 0 };
    svg.setAttribute("aria-label", "Throughput over the last minutes; peak " + rate(max) + "; latest " + rate(last.peers + last.clients));
  }
  function niceCeiling(v) {
    if (v <= 0) return 1024;
    var p = Math.pow(2, Math.ceil(Math.log(v) / Math.LN2));
    return p;
  }

  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () { if (state) renderChart(); }, 200);
  });

  setInterval(function () {
    document.querySelectorAll("[data-seen]").forEach(function (cell) { cell.textContent = ago(cell.dataset.seen); });
  }, 1000);

  takeToken();
  connect();
})();
"""#
}
