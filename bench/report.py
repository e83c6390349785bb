#!/usr/bin/env python3
"""Helpers for bench/run (standard library only; matplotlib optional for the chart).

  report.py report RESULTS.jsonl [--md OUT.md] [--png OUT.png]
      Markdown tables on stdout (and in OUT.md); throughput-vs-N chart in OUT.png
      (matplotlib, else gnuplot, else no chart).
  report.py register --url http://127.0.0.1:5000 --count 10000 --ids FILE
      Registers COUNT peers with distinct hosts 198.18.x.y over one keep-alive
      connection (POST /v1/peers) and writes their ids, one a line, to FILE.
  report.py wrkparse WRK_OUTPUT --endpoint NAME [--peers N]
      One JSON line (requests/s, latency percentiles, errors) from wrk --latency output.
  report.py liarevents EVENTS.ndjson --source "peer HOST:PORT" [--before A.json --after B.json]
      For the liar scenario: reads one `ddl get --json` output and prints one line,
      "BANNED KEPT FAILS LIED LIED_BYTES ANSWERS": whether ddl's events name SOURCE banned
      (true/false), the bytes ddl credits SOURCE with (finished.sources), SOURCE's
      pieceFailed events, and the differences of bench/liar-peer's counters (--stats files
      before and after the download): answers that lied, bytes that lied, answers.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.parse

# --------------------------------------------------------------------------- register


def _register_range(url, start: int, stop: int, ids: list) -> None:
    """Registers peers start..stop-1 over one keep-alive connection, filling ids[start:stop]."""

    def connect() -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    headers = {"Content-Type": "application/json"}
    token = os.environ.get("DDL_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = connect()
    for i in range(start, stop):
        # 198.18.a.b with b in 1..254: distinct for up to 65,024 peers, all inside 198.18.0.0/15
        a, b = divmod(i, 254)
        host = f"198.{18 + a // 256}.{a % 256}.{b + 1}"
        # bytes, so http.client sends headers and body in one segment
        body = json.dumps({"port": 6000 + i % 1000, "host": host, "name": f"bench-{i}"}).encode()
        for attempt in range(3):
            try:
                conn.request("POST", "/v1/peers", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                if attempt == 2:
                    raise
                conn = connect()
        if resp.status != 201:
            raise RuntimeError(f"register {i}: HTTP {resp.status}: {data[:200]!r}")
        ids[i] = json.loads(data)["id"]
    conn.close()


def cmd_register(args: argparse.Namespace) -> int:
    url = urllib.parse.urlsplit(args.url)
    ids: list = [None] * args.count
    workers = max(1, min(args.workers, args.count))
    chunk = -(-args.count // workers)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(_register_range, url, s, min(args.count, s + chunk), ids)
                   for s in range(0, args.count, chunk)]
        for f in futures:
            f.result()  # re-raises the first failure
    with open(args.ids, "w") as f:
        f.write("\n".join(ids) + "\n")
    print(f"registered {len(ids)} peers", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- wrk


def _duration_ms(text: str) -> float | None:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(text: str) -> dict:
    out: dict = {}
    m = re.search(r"Requests/sec:\s*([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+\w+)", text)
    if m:
        out["requests"] = int(m.group(1))
        dur = _duration_ms(m.group(2))
        out["duration_s"] = round(dur / 1000, 2) if dur is not None else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s*{pct}(?:\.000)?%\s+(\S+)", text, re.M)
        out[f"p{pct}_ms"] = _duration_ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    out["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    return out


def cmd_wrkparse(args: argparse.Namespace) -> int:
    with open(args.file) as f:
        parsed = parse_wrk(f.read())
    names = {"get": "GET /v1/peers", "heartbeat": "PUT /v1/peers/{id} (heartbeat)"}
    row = {"scenario": "tracker", "endpoint": names.get(args.endpoint, args.endpoint), "peers": args.peers}
    row.update(parsed)
    row["ok"] = parsed["rps"] is not None and parsed["non2xx"] == 0 and parsed["socket_errors"] == 0
    print(json.dumps(row))
    return 0 if parsed["rps"] is not None else 1


# --------------------------------------------------------------------------- report


def fmt(value, digits: int = 1) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**NO**"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def mib(nbytes) -> str:
    return "–" if not nbytes else f"{nbytes / 1048576:.0f} MiB"


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    # a blank line after the table: a text line right below it would render as one more row
    return "\n".join(lines) + "\n"


def skipped_note(rows: list[dict]) -> str:
    notes = sorted({r["skipped"] for r in rows if "skipped" in r})
    return "".join(f"\n_skipped: {n}_\n" for n in notes)


def report_markdown(rows: list[dict]) -> str:
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r.get("scenario", "?"), []).append(r)
    parts: list[str] = ["# ddl benchmark results\n"]

    for name in ("smoke", "aggregation"):
        rs = [r for r in by.get(name, []) if "skipped" not in r]
        if not by.get(name):
            continue
        beff = next((r["mbit"] for r in rs if r.get("tool") == "curl"), None)
        title = "Smoke" if name == "smoke" else "1. Aggregation"
        parts.append(f"## {title} (every link B, B_eff = curl over one link = {fmt(beff)} Mbit/s)\n")
        body = []
        for r in rs:
            n = r.get("n", 0)
            limit = r.get("limit_mbit")
            eff = (100.0 * r["mbit"] / limit) if limit and r.get("mbit") else None
            who = r["tool"] if n == 0 else f"{r['tool']} + {n} peer{'s' if n != 1 else ''}"
            cpu = (r["user"] + r["sys"]) if "user" in r and "sys" in r else None
            spread = "–"
            if limit and r.get("mbit_worst") and r.get("mbit_best"):
                spread = f"{100.0 * r['mbit_worst'] / limit:.0f}–{100.0 * r['mbit_best'] / limit:.0f}% ({r.get('runs')} runs)"
            body.append([who, n, mib(r.get("bytes")), fmt(r.get("wall"), 2), fmt(r.get("mbit")),
                         fmt(limit), fmt(eff, 0) + ("%" if eff is not None else ""), spread, fmt(cpu, 2),
                         fmt(r.get("peers_cpu_per_run"), 2), fmt(r.get("ok"))])
        parts.append(table(["tool", "N", "size", "time s", "Mbit/s", "limit (N+1)·B_eff", "of limit",
                            "worst–best", "client cpu s", "peers cpu s", "sha256 ok"], body))
        if any(r.get("runs") for r in rs):
            parts.append("ddl rows: the median of the runs (time, rate, cpu); peers cpu s is all peers together, "
                         "per download (start-up and heartbeats included).\n")
        parts.append(skipped_note(by[name]) + "\n")

    if by.get("mixed"):
        rs = [r for r in by["mixed"] if "skipped" not in r]
        links = [r for r in rs if r.get("tool") == "curl (link check)"]
        parts.append("## 2. Mixed links\n")
        if links:
            parts.append("Link check (curl, 10 MiB, all links at once):\n")
            parts.append(table(["host", "nominal Mbit/s", "curl Mbit/s"],
                               [[r["host"], r.get("nominal_mbit"), fmt(r.get("mbit"))] for r in links]))
        body = []
        for r in rs:
            if r.get("tool") != "ddl":
                continue
            ideal = r.get("ideal_eff_s")
            ratio = (r["wall"] / ideal) if ideal and r.get("wall") else None
            spread = "–"
            if ideal and r.get("best_s") and r.get("worst_s"):
                spread = f"{r['best_s'] / ideal:.2f}–{r['worst_s'] / ideal:.2f} ({r.get('runs')} runs)"
            body.append([f"ddl + {r.get('n')} peers", r.get("rates", ""), mib(r.get("bytes")), fmt(r.get("wall"), 2),
                         fmt(r.get("mbit")), fmt(r.get("ideal_s"), 2), fmt(ideal, 2), fmt(ratio, 2), spread, fmt(r.get("ok"))])
        if body:
            parts.append(table(["tool", "rates Mbit/s (client first)", "size", "time s", "Mbit/s",
                                "ideal size/Σrates s", "ideal at measured rates s", "time/ideal (measured)",
                                "best–worst", "sha256 ok"], body))
        parts.append(skipped_note(by["mixed"]) + "\n")

    if by.get("loopback"):
        rs = [r for r in by["loopback"] if "skipped" not in r]
        parts.append("## 3. Raw efficiency on loopback (no shaping)\n")
        # rows without "proto" come from runs before the https rows existed: plain http
        http_cpu = {r["tool"]: r["cpu"] for r in rs if r.get("proto", "http") == "http" and r.get("cpu") is not None}
        body = []
        for r in rs:
            proto = r.get("proto", "http")
            tls_cost = "–"
            if proto == "https" and r.get("cpu") is not None and r["tool"] in http_cpu:
                tls_cost = f"{r['cpu'] - http_cpu[r['tool']]:+.2f}"
            body.append([r["tool"], proto, mib(r.get("bytes")), fmt(r.get("wall"), 2), fmt(r.get("mbit"), 0),
                         fmt(r.get("cpu"), 2), tls_cost, fmt(r.get("peers_cpu"), 2),
                         fmt(r.get("rss_kb", 0) / 1024, 1), fmt(r.get("ok"))])
        parts.append(table(["tool", "proto", "size", "wall s", "Mbit/s", "cpu s (user+sys)", "cpu s vs http",
                            "peers' cpu s", "max RSS MiB", "sha256 ok"], body))
        if any(r.get("runs") for r in rs):
            parts.append(f"Single tools: the median wall time and the median CPU time of "
                         f"{max(r.get('runs', 1) for r in rs)} runs each (every run in `results.jsonl`). "
                         "ddl computes the file's SHA-256 by default (about 0.6 CPU s per GiB here); "
                         "plain aria2c, curl and axel compute no hash: compare them with `ddl --no-sha256`, "
                         "and ddl's default with `aria2c --checksum=sha-256`.\n")
        if any(r.get("proto") == "https" for r in rs):
            parts.append("https rows: the same nginx over TLS 1.3 (TLS_AES_128_GCM_SHA256, HTTP/1.1, test CA); "
                         "cpu s vs http is the client's extra CPU time over the same tool's http row, "
                         "the cost of decrypting (nginx's encryption is not in it).\n")
        parts.append(skipped_note(by["loopback"]) + "\n")

    if by.get("memory"):
        rs = [r for r in by["memory"] if "skipped" not in r]
        parts.append("## 4. Memory (peak RSS, loopback)\n")
        body = [[r["role"], mib(r.get("bytes")), fmt(r.get("rss_kb", 0) / 1024, 1), r.get("runs", 1),
                 fmt(r.get("ok"))] for r in rs]
        parts.append(table(["process", "file", "peak RSS MiB (highest of the runs)", "runs", "sha256 ok"], body))
        parts.append(skipped_note(by["memory"]) + "\n")

    if by.get("tracker"):
        rs = [r for r in by["tracker"] if "skipped" not in r and "endpoint" in r]
        parts.append("## 5. Tracker (loopback)\n")
        body = [[r["endpoint"], r.get("peers", "–"), fmt(r.get("rps"), 0), fmt(r.get("p50_ms"), 2),
                 fmt(r.get("p99_ms"), 2), r.get("non2xx", "–"), r.get("socket_errors", "–"), fmt(r.get("ok"))]
                for r in rs]
        parts.append(table(["request", "registered peers", "req/s", "p50 ms", "p99 ms", "non-2xx",
                            "socket errors", "ok"], body))
        bad = [r for r in by["tracker"] if r.get("note")]
        parts.append(skipped_note(by["tracker"]) + "".join(f"\n_{r['note']}_\n" for r in bad) + "\n")

    if by.get("mirror"):
        rs = [r for r in by["mirror"] if "skipped" not in r]
        links = [r for r in rs if r.get("tool") == "curl (link check)"]
        tools = [r for r in rs if r.get("tool") != "curl (link check)"]
        beff = next((r.get("beff_mbit") for r in tools if r.get("beff_mbit")), None)
        b = next((r.get("b_mbit") for r in rs if r.get("b_mbit")), None) or next(
            (r.get("nominal_mbit") for r in links), None)
        client = next((r.get("client_rate") for r in tools if r.get("client_rate") is not None), None)
        parts.append(f"## 6. Mirrors (origin and mirror, each uplink B = {fmt(b)} Mbit/s, "
                     f"B_eff = curl from the origin = {fmt(beff)} Mbit/s, client line {fmt(client)})\n")
        if links:
            parts.append("Link check (curl, 10 MiB from each server at once):\n")
            parts.append(table(["server", "nominal Mbit/s", "curl Mbit/s"],
                               [[r["host"], r.get("nominal_mbit"), fmt(r.get("mbit"))] for r in links]))
        body = []
        for r in tools:
            limit = r.get("limit_mbit")
            eff = (100.0 * r["mbit"] / limit) if limit and r.get("mbit") else None
            spread = "–"
            if limit and r.get("mbit_worst") and r.get("mbit_best"):
                spread = f"{100.0 * r['mbit_worst'] / limit:.0f}–{100.0 * r['mbit_best'] / limit:.0f}% ({r.get('runs')} runs)"
            served = (r.get("origin_bytes") or 0) + (r.get("mirror_bytes") or 0)
            share = f"{100.0 * r['mirror_bytes'] / served:.0f}%" if served and r.get("mirror_bytes") is not None else "–"
            overhead = f"{served / r['bytes']:.3f}" if served and r.get("bytes") else "–"
            cpu = (r["user"] + r["sys"]) if "user" in r and "sys" in r else None
            body.append([r["tool"], r.get("sources"), mib(r.get("bytes")), fmt(r.get("wall"), 2), fmt(r.get("mbit")),
                         fmt(limit), fmt(eff, 0) + ("%" if eff is not None else ""), spread, share, overhead,
                         fmt(cpu, 2), fmt(r.get("ok")) + (f" ({r['failed_runs']} of {r.get('runs')} runs failed)"
                                                          if r.get("failed_runs") else "")])
        if body:
            parts.append(table(["tool", "servers", "size", "time s", "Mbit/s", "limit servers·B_eff", "of limit",
                                "worst–best", "sent by mirror", "sent / size", "client cpu s", "sha256 ok"], body))
            parts.append("Every row: the median of the runs by wall time (process start-up and the probe included); "
                         "sha256 ok is for every run (a failed run counts in worst–best). "
                         "sent by mirror and sent / size come from the two nginx access logs during the median run.\n")
        both = next((r for r in tools if r.get("tool") == "ddl (origin + mirror)" and r.get("mbit")), None)
        if both and beff:
            parts.append(f"**ddl (origin + mirror) = {both['mbit']:.1f} Mbit/s = "
                         f"{100.0 * both['mbit'] / (2 * beff):.0f}% of 2·B_eff = {2 * beff:.1f} Mbit/s.**\n")
        parts.append(skipped_note(by["mirror"]) + "\n")

    if by.get("fanout"):
        rs = [r for r in by["fanout"] if "skipped" not in r and r.get("tool") == "ddl"]
        curl = next((r for r in by["fanout"] if r.get("tool") == "curl"), {})
        parts.append(f"## 7. Fan-out (every host runs `ddl server` and `ddl get` of the same file at once; "
                     f"each host's link B_eff = {fmt(curl.get('mbit'))} Mbit/s)\n")
        body = [[r.get("mode"), r.get("hosts"), mib(r.get("bytes")), fmt(r.get("wall"), 2), fmt(r.get("ideal_s"), 2),
                 fmt(r.get("wall_over_ideal"), 2), fmt(r.get("origin_ratio"), 3), fmt(r.get("ok"))] for r in rs]
        parts.append(table(["peers", "hosts", "size", "all done s", "ideal s = size/(hosts·B_eff)", "× ideal",
                            "origin sent / size (WAN counter)", "sha256 ok"], body))
        parts.append("cache: the default; nocache: the same peers with --no-cache (each host's pieces fetched for it alone). "
                     f"One curl download of the file took {fmt(curl.get('origin_ratio'), 3)} x its size on the same counter "
                     "(TCP/IP headers and retransmissions).\n")
        parts.append(skipped_note(by["fanout"]) + "\n")

    if by.get("warm"):
        rs = [r for r in by["warm"] if "skipped" not in r]
        parts.append("## 8. Warm swarm (the peers' caches hold the file; LAN links shaped)\n")
        body = [[r.get("phase"), r.get("peers"), mib(r.get("bytes")), fmt(r.get("wall"), 2), fmt(r.get("mbit")),
                 fmt(r.get("lan_mbit")), (fmt(100 * r["lan_share"], 0) + "%") if r.get("lan_share") is not None else "–",
                 (fmt(100 * r["origin_share"], 2) + "%") if r.get("origin_share") is not None else "–",
                 r.get("walls", "–"), fmt(r.get("ok"))] for r in rs]
        parts.append(table(["download", "peers", "size", "time s (median)", "Mbit/s", "LAN Mbit/s", "of LAN",
                            "origin sent / size (WAN counter)", "runs s", "sha256 ok"], body))
        parts.append(skipped_note(by["warm"]) + "\n")

    if by.get("liar"):
        parts.append(report_liar(by["liar"]) + skipped_note(by["liar"]) + "\n")

    if by.get("trackers"):
        rs = [r for r in by["trackers"] if "skipped" not in r and r.get("wall") is not None]
        parts.append("## Two trackers, the second killed mid-download (SIGKILL a third of the way through)\n")
        body = [[("killed" if r.get("kill") else "both up"), r.get("n"), mib(r.get("bytes")), fmt(r.get("wall"), 2),
                 fmt(r.get("mbit")), r.get("walls", "–"), fmt(r.get("ratio"), 3) if r.get("kill") else "–",
                 fmt(r.get("ok"))] for r in rs]
        parts.append(table(["second tracker", "peers", "size", "time s (median)", "Mbit/s", "runs s",
                            "rate killed / both up", "sha256 ok"], body))
        parts.append(skipped_note(by["trackers"]) + "\n")

    return "\n".join(parts)


# --------------------------------------------------------------------------- liar


def liar_events(lines, source: str) -> dict:
    """What one `ddl get --json` output says about SOURCE (a peer's name in the events)."""
    out = {"banned": False, "kept": 0, "fails": 0}

    def is_source(name) -> bool:
        return isinstance(name, str) and (name == source or name.startswith(source + " "))

    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        kind = ev.get("event")
        if kind == "peerBanned" and is_source(ev.get("source")):
            out["banned"] = True
        elif kind == "pieceFailed" and is_source(ev.get("source")):
            out["fails"] += 1
        elif kind == "finished":
            if any(is_source(b) for b in ev.get("banned") or []):
                out["banned"] = True
            out["kept"] = sum(s.get("bytes", 0) for s in ev.get("sources") or [] if is_source(s.get("source")))
    return out


def _counters(path: str | None) -> dict:
    if not path:
        return {}
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def cmd_liarevents(args: argparse.Namespace) -> int:
    try:
        with open(args.events, errors="replace") as f:
            ev = liar_events(f, args.source)
    except OSError:
        ev = {"banned": False, "kept": 0, "fails": 0}
    before, after = _counters(args.before), _counters(args.after)

    def delta(key: str) -> int:
        return max(0, int(after.get(key, 0)) - int(before.get(key, 0)))

    print(f"{'true' if ev['banned'] else 'false'} {ev['kept']} {ev['fails']} "
          f"{delta('lied_answers')} {delta('lied_bytes')} {delta('answers')}")
    return 0


def report_liar(rows: list[dict]) -> str:
    """Section 7: the liar scenario (issue 11's targets), from the rows bench/run computed."""
    rs = [r for r in rows if "skipped" not in r]
    parts = []
    beff = next((r.get("mbit") for r in rs if r.get("kind") == "beff"), None)
    parts.append(f"## 7. A lying peer (2 honest peers + bench/liar-peer, every link B; "
                 f"B_eff = {fmt(beff)} Mbit/s)\n")
    summaries = [r for r in rs if r.get("kind") == "summary"]
    args = sorted({r.get("args") for r in summaries if r.get("args")})
    parts.append("Every download is `ddl get URL --tracker … --json` with ddl's defaults"
                 + (f" plus `{'`, `'.join(args)}`" if args else "") + ".\n")

    swarm = [r for r in summaries if r.get("phase") == "swarm"]
    if swarm:
        body = []
        for r in swarm:
            if r.get("ok") is False:
                body.append([r.get("mode"), "–", r.get("note", "failed"), "", "", "", "", ""])
                continue
            n = r.get("runs", 0)
            corrupt = r.get("corrupt_final", 0)
            body.append([r.get("mode"), f"{n} ({r.get('sizes')} MiB)",
                         f"{corrupt} {'✓' if corrupt == 0 else '✗'}",
                         f"{r.get('banned')} / {n} = {100.0 * r.get('banned', 0) / n:.0f}%" if n else "–",
                         f"{r.get('banned_when_lied')} / {r.get('lied_in')}",
                         r.get("exact"), r.get("rc0_wrong"), r.get("exit_codes")])
        parts.append("Downloads through the client, 2 honest peers and the liar:\n")
        parts.append(table(["liar mode", "downloads (sizes)", "corrupt under final name (target 0)",
                            "liar banned / downloads", "banned / downloads it lied in",
                            "exit 0 and byte-exact", "exit 0, wrong file", "exit codes (code:count)"], body))
        flip = next((r for r in swarm if r.get("mode") == "flip" and r.get("runs")), None)
        if flip:
            parts.append(f"**flip (one byte per MiB): caught (liar banned) in {flip.get('banned')} of "
                         f"{flip.get('runs')} downloads = {100.0 * flip.get('banned', 0) / flip['runs']:.0f}%; "
                         f"it lied in {flip.get('lied_in')} of them.**\n")

    ratios = [r for r in rs if r.get("kind") == "ratio"]
    if ratios:
        body = []
        for r in ratios:
            tput = next((t for t in summaries if t.get("phase") == "tput" and t.get("mode") == r.get("mode")), {})
            ratio = r.get("ratio")
            mark = "" if ratio is None else (" ✓" if ratio >= 0.8 else " ✗")
            body.append([r.get("mode"), mib(r.get("bytes")), r.get("runs"), fmt(r.get("clean_mbit")), fmt(r.get("liar_mbit")),
                         fmt(ratio, 2) + mark, fmt(r.get("limit_mbit")), f"{tput.get('exact', '–')} / {tput.get('runs', '–')}",
                         f"{tput.get('banned', '–')} / {tput.get('runs', '–')}"])
        parts.append("Throughput, the same swarm with and without the liar (median run; "
                     "a download that did not leave the right file under its name counts as 0 Mbit/s):\n")
        parts.append(table(["liar mode", "file", "runs", "without liar Mbit/s", "with liar Mbit/s",
                            "ratio (target ≥ 0.8)", "limit 3·B_eff", "byte-exact with liar", "liar banned"], body))

    noself = [r for r in summaries if r.get("phase") == "noself"]
    if noself:
        body = []
        for r in noself:
            if r.get("ok") is False:
                body.append([r.get("mode"), "–", r.get("note", "failed"), "", "", "", ""])
                continue
            wrong = r.get("rc0_wrong", 0)
            body.append([r.get("mode"), f"{r.get('runs')} ({r.get('sizes')} MiB)", f"{wrong} {'✓' if wrong == 0 else '✗'}",
                         r.get("exact"), r.get("rc_nonzero"), r.get("exit_codes"),
                         f"{r.get('banned')} / {r.get('runs')}"])
        parts.append("`--no-self`, 1 honest peer + the liar (the client fetches nothing itself):\n")
        parts.append(table(["liar mode", "downloads (sizes)", "exit 0 with a wrong file (target 0)",
                            "exit 0 and byte-exact", "exit ≠ 0", "exit codes (code:count)", "liar banned"], body))
    parts.append("Every download is a row in `results.jsonl` (`kind: download`): exit code, file under the final name, "
                 "sha256, liar banned, time, and the liar's own counters.\n")
    return "\n".join(parts) + "\n"


def chart(rows: list[dict], png: str) -> str | None:
    agg = [r for r in rows if r.get("scenario") == "aggregation" and "skipped" not in r]
    if not agg:
        agg = [r for r in rows if r.get("scenario") == "smoke" and "skipped" not in r]
    beff = next((r["mbit"] for r in agg if r.get("tool") == "curl"), None)
    if beff is None:
        return None
    ddl = sorted(((r["n"], r["mbit"]) for r in agg if r.get("tool") == "ddl" and r.get("mbit")), key=lambda p: p[0])
    refs = [(r["tool"], r["mbit"]) for r in agg if r.get("n", 0) == 0 and r.get("mbit")]
    max_n = max([n for n, _ in ddl] + [6 if any(r.get("scenario") == "aggregation" for r in agg) else 1])
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _chart_gnuplot(ddl, refs, beff, max_n, png)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    xs = list(range(0, max_n + 1))
    ax.plot(xs, [(n + 1) * beff for n in xs], "--", color="gray", label=f"limit (N+1)·B_eff, B_eff={beff:.1f} Mbit/s")
    if ddl:
        ax.plot([n for n, _ in ddl], [m for _, m in ddl], "o-", color="tab:blue", label="ddl (client + N peers)")
        for n, m in ddl:
            ax.annotate(f"{m:.0f}", (n, m), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    markers = ["s", "^", "D", "v"]
    for i, (tool, m) in enumerate(refs):
        ax.plot([0], [m], markers[i % len(markers)], label=f"{tool}, client alone ({m:.1f})")
    ax.set_xlabel("N (peers besides the client)")
    ax.set_ylabel("throughput, Mbit/s")
    ax.set_title("ddl aggregation over emulated LAN (origin links shaped with tbf)")
    ax.set_xticks(xs)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(png)
    return png


def _chart_gnuplot(ddl, refs, beff, max_n, png) -> str | None:
    if not shutil.which("gnuplot"):
        print("report: no matplotlib and no gnuplot; chart skipped", file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        ddl_dat = os.path.join(tmp, "ddl.dat")
        ref_dat = os.path.join(tmp, "ref.dat")
        with open(ddl_dat, "w") as f:
            f.writelines(f"{n} {m}\n" for n, m in ddl)
        with open(ref_dat, "w") as f:
            f.writelines(f"0 {m}\n" for _, m in refs)
        plots = [f"(x+1)*{beff} with lines dt 2 lc 'gray' title 'limit (N+1)*B_eff'"]
        if ddl:
            plots.append(f"'{ddl_dat}' with linespoints pt 7 title 'ddl (client + N peers)'")
        if refs:
            plots.append(f"'{ref_dat}' with points pt 5 title 'client alone (curl/aria2c)'")
        script = (f"set terminal pngcairo size 840,540 noenhanced\nset output '{png}'\n"
                  f"set xlabel 'N (peers besides the client)'\nset ylabel 'Mbit/s'\n"
                  f"set xrange [0:{max_n}]\nset yrange [0:*]\nset grid\nset key left top\n"
                  f"plot " + ", ".join(plots) + "\n")
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return png


def cmd_report(args: argparse.Namespace) -> int:
    rows = []
    with open(args.results) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    md = report_markdown(rows)
    png = None
    if args.png:
        try:
            png = chart(rows, args.png)
        except Exception as e:  # the chart is a nicety; never fail the run for it
            print(f"report: chart failed: {e}", file=sys.stderr)
    if png:
        md += f"\n![throughput vs N]({os.path.basename(png)})\n"
    print(md)
    if args.md:
        with open(args.md, "w") as f:
            f.write(md)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report")
    r.add_argument("results")
    r.add_argument("--md")
    r.add_argument("--png")
    g = sub.add_parser("register")
    g.add_argument("--url", required=True)
    g.add_argument("--count", type=int, default=10000)
    g.add_argument("--ids", required=True)
    g.add_argument("--workers", type=int, default=4, help="parallel connections")
    w = sub.add_parser("wrkparse")
    w.add_argument("file")
    w.add_argument("--endpoint", required=True)
    w.add_argument("--peers", type=int, default=0)
    e = sub.add_parser("liarevents")
    e.add_argument("events")
    e.add_argument("--source", required=True)
    e.add_argument("--before")
    e.add_argument("--after")
    args = p.parse_args()
    return {"report": cmd_report, "register": cmd_register, "wrkparse": cmd_wrkparse,
            "liarevents": cmd_liarevents}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
