#!/usr/bin/env python3
"""Helpers for bench/run (standard library only; matplotlib optional for the chart).

  report.py report RESULTS.jsonl [--md OUT.md] [--png OUT.png]
      Markdown tables on stdout (and in OUT.md); throughput-vs-N chart in OUT.png
      (matplotlib, else gnuplot, else no chart).
  report.py register --url http[s]://127.0.0.1:5000 --count 10000 --ids FILE
      Registers COUNT peers with distinct hosts 198.18.x.y over one keep-alive
      connection (POST /v1/peers) and writes their ids, one a line, to FILE. With an
      https URL (a TLS tracker) each peer registers a made-up fingerprint, as a TLS
      tracker requires one; the tracker's certificate is not checked (loopback only).
  report.py pcapscan PCAP --token TOKEN [--tracker-port 5000 --peer-port 6000]
      For the tls scenario: reads a tcpdump capture (Ethernet, IPv4/TCP), counts packets and
      bytes to and from the tracker's and the peers' ports, reassembles every TCP stream and
      counts the token's occurrences in them (and in the raw file), TLS handshakes and
      plain-text HTTP requests. Prints one JSON object.
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
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import urllib.parse

# --------------------------------------------------------------------------- register


def _register_range(url, start: int, stop: int, ids: list) -> None:
    """Registers peers start..stop-1 over one keep-alive connection, filling ids[start:stop]."""

    tls = url.scheme == "https"

    def connect() -> http.client.HTTPConnection:
        if tls:
            # the bench's own load on a loopback tracker: no verification (ddl's clients pin it)
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection(url.hostname, url.port or 443, timeout=10, context=ctx)
        else:
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
        peer = {"port": 6000 + i % 1000, "host": host, "name": f"bench-{i}"}
        if tls:  # a TLS tracker lists only peers that serve TLS, with their key's fingerprint
            peer["fingerprint"] = "sha256:" + hashlib.sha256(f"bench-{i}".encode()).hexdigest()
        body = json.dumps(peer).encode()
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


# --------------------------------------------------------------------------- pcapscan


def _pcap_packets(path: str):
    """Yields (orig_len, tcp tuple or None) for every packet of a pcap file (not pcapng).
    The tuple is (src, sport, dst, dport, seq, payload) for IPv4/IPv6 TCP."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise ValueError(f"{path}: not a pcap file (tcpdump -w writes pcap; pcapng is not read here)")
    linktype = struct.unpack(end + "I", data[20:24])[0] & 0x0FFFFFFF
    off = 24
    while off + 16 <= len(data):
        _, _, incl, orig = struct.unpack(end + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        yield orig, _pcap_tcp(pkt, linktype)


def _pcap_tcp(pkt: bytes, linktype: int):
    if linktype == 1:  # Ethernet
        if len(pkt) < 14:
            return None
        etype, l3 = struct.unpack("!H", pkt[12:14])[0], 14
        while etype in (0x8100, 0x88A8) and len(pkt) >= l3 + 4:  # VLAN tags
            etype, l3 = struct.unpack("!H", pkt[l3 + 2:l3 + 4])[0], l3 + 4
    elif linktype == 113:  # Linux cooked (tcpdump -i any)
        if len(pkt) < 16:
            return None
        etype, l3 = struct.unpack("!H", pkt[14:16])[0], 16
    elif linktype == 276:  # Linux cooked v2
        if len(pkt) < 20:
            return None
        etype, l3 = struct.unpack("!H", pkt[0:2])[0], 20
    else:
        return None
    if etype == 0x0800 and len(pkt) >= l3 + 20:
        ihl = (pkt[l3] & 0x0F) * 4
        total = struct.unpack("!H", pkt[l3 + 2:l3 + 4])[0]
        if pkt[l3 + 9] != 6:
            return None
        src, dst = socket.inet_ntop(socket.AF_INET, pkt[l3 + 12:l3 + 16]), socket.inet_ntop(socket.AF_INET, pkt[l3 + 16:l3 + 20])
        l4, l4end = l3 + ihl, l3 + total
    elif etype == 0x86DD and len(pkt) >= l3 + 40:
        if pkt[l3 + 6] != 6:
            return None
        plen = struct.unpack("!H", pkt[l3 + 4:l3 + 6])[0]
        src, dst = socket.inet_ntop(socket.AF_INET6, pkt[l3 + 8:l3 + 24]), socket.inet_ntop(socket.AF_INET6, pkt[l3 + 24:l3 + 40])
        l4, l4end = l3 + 40, l3 + 40 + plen
    else:
        return None
    if len(pkt) < l4 + 20:
        return None
    sport, dport, seq = struct.unpack("!HHI", pkt[l4:l4 + 8])
    doff = (pkt[l4 + 12] >> 4) * 4
    return src, sport, dst, dport, seq, pkt[l4 + doff:min(l4end, len(pkt))]


def _reassemble(segments: dict) -> tuple[bytes, int]:
    """segments: seq -> payload of one direction of a TCP connection. Returns the bytes in
    sequence order (retransmissions and overlaps once) and the number of holes."""
    if not segments:
        return b"", 0
    base = min(segments, key=lambda q: q)
    # sequence numbers relative to the lowest one (a stream here is far below 2^31 bytes)
    rel = sorted((((q - base) & 0xFFFFFFFF), p) for q, p in segments.items())
    out, cursor, holes = bytearray(), 0, 0
    for r, p in rel:
        if r > cursor:
            holes += 1
            out += b"\0"  # a hole (bytes the capture missed) separates what is on either side
            cursor = r
        if r + len(p) > cursor:
            out += p[cursor - r:]
            cursor = r + len(p)
    return bytes(out), holes


HTTP_REQUEST = re.compile(rb"(?:GET|POST|PUT|DELETE|HEAD|PATCH) /\S* HTTP/1\.[01]\r\n")


def cmd_pcapscan(args: argparse.Namespace) -> int:
    token = args.token.encode()
    tp, pp = args.tracker_port, args.peer_port
    out: dict = {}
    for kv in args.set:
        k, _, v = kv.partition("=")
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    out.update({"pcap_bytes": os.path.getsize(args.pcap), "packets": 0, "captured_bytes": 0,
           "tracker_packets": 0, "tracker_bytes": 0, "peer_packets": 0, "peer_bytes": 0,
           "tracker_payload_bytes": 0, "peer_payload_bytes": 0})
    streams: dict = {}
    for orig, tcp in _pcap_packets(args.pcap):
        out["packets"] += 1
        out["captured_bytes"] += orig
        if tcp is None:
            continue
        src, sport, dst, dport, seq, payload = tcp
        for port, name in ((tp, "tracker"), (pp, "peer")):
            if port in (sport, dport):
                out[f"{name}_packets"] += 1
                out[f"{name}_bytes"] += orig
                out[f"{name}_payload_bytes"] += len(payload)
        if payload:
            seg = streams.setdefault((src, sport, dst, dport), {})
            if len(payload) > len(seg.get(seq, b"")):
                seg[seq] = payload
    with open(args.pcap, "rb") as f:
        out["token_raw"] = f.read().count(token)
    out.update({"streams": len(streams), "token_streams": 0, "token_to_tracker": 0, "token_to_peers": 0,
                "token_other": 0, "tls_client_hellos": 0, "http_requests": 0, "stream_holes": 0})
    for (src, sport, dst, dport), seg in streams.items():
        data, holes = _reassemble(seg)
        out["stream_holes"] += holes
        n = data.count(token)
        out["token_streams"] += n
        if dport == tp:
            out["token_to_tracker"] += n
        elif dport == pp:
            out["token_to_peers"] += n
        else:
            out["token_other"] += n
        if dport in (tp, pp):
            # a TLS handshake record (0x16 0x03 0x01..0x04) opening a client's stream
            if len(data) >= 6 and data[0] == 0x16 and data[1] == 0x03 and data[5] == 0x01:
                out["tls_client_hellos"] += 1
            out["http_requests"] += len(HTTP_REQUEST.findall(data))
    print(json.dumps(out))
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


def _set_fields(pairs: list) -> dict:
    """--set KEY=VALUE fields: VALUE read as JSON when it is, else kept as a string."""
    out = {}
    for kv in pairs or []:
        k, _, v = kv.partition("=")
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def cmd_wrkparse(args: argparse.Namespace) -> int:
    with open(args.file) as f:
        parsed = parse_wrk(f.read())
    names = {"get": "GET /v1/peers?file=KEY&limit=64 (a download's list; clients of one file)",
             "get-files": "GET /v1/peers?file=RANDOM&limit=64 (a new file every request)",
             "get-all": "GET /v1/peers (the whole list, 1,000 peers; ddl peers)",
             "heartbeat": "PUT /v1/peers/{id} (heartbeat)",
             "flood": "GET /v1/peers?file=RANDOM&limit=64, half the connections, during the next row",
             "heartbeat-flooded": "PUT /v1/peers/{id} (heartbeat), half the connections, during the flood above"}
    row = {"scenario": "tracker", "endpoint": names.get(args.endpoint, args.endpoint), "peers": args.peers,
           "tls": args.tls == "true"}
    row.update(parsed)
    row["ok"] = parsed["rps"] is not None and parsed["non2xx"] == 0 and parsed["socket_errors"] == 0
    row.update(_set_fields(args.set))
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


def tls_line(rows: list[dict]) -> str:
    """The swarm links' protocol for a section: from the rows' "tls" (absent in runs that predate it)."""
    seen = {r["tls"] for r in rows if isinstance(r.get("tls"), bool)}
    if seen == {True}:
        return "Swarm links (tracker, peers, client): **TLS** (pinned self-signed certificates).\n"
    if seen == {False}:
        return "Swarm links (tracker, peers, client): **plain HTTP** (`--plain-http`, or a ddl without TLS).\n"
    if seen:
        return "Swarm links: TLS in some rows, plain HTTP in others (`tls` in results.jsonl).\n"
    return ""


def report_tls(rows: list[dict]) -> str:
    """The tls scenario: the LAN captured during a swarm download, with TLS and in plain HTTP."""
    rs = [r for r in rows if r.get("mode") in ("tls", "plain")]
    parts = ["## 9. TLS: the token on the LAN (tcpdump on br-lan during a swarm download)\n"]
    body = []
    for r in rs:
        body.append(["TLS" if r.get("mode") == "tls" else "plain HTTP (control)", r.get("peers", "–"), mib(r.get("bytes")),
                     fmt(r.get("ok")), r.get("packets", "–"), r.get("captured_bytes", "–"),
                     f"{r.get('tracker_packets', '–')} / {r.get('tracker_bytes', '–')}",
                     f"{r.get('peer_packets', '–')} / {r.get('peer_bytes', '–')}", r.get("tls_client_hellos", "–"),
                     r.get("http_requests", "–"), r.get("token_streams", "–"),
                     f"{r.get('token_to_tracker', '–')} / {r.get('token_to_peers', '–')}", r.get("token_raw", "–"),
                     r.get("dropped", "–")])
    if body:
        parts.append(table(["swarm", "peers", "file", "download ok", "packets", "bytes captured", "tracker port pkts / bytes",
                            "peer port pkts / bytes", "TLS handshakes", "plain HTTP requests",
                            "token occurrences (TCP streams)", "of which to tracker / to peers", "token in raw pcap",
                            "dropped"], body))
        parts.append("Each run: a fresh tracker, peers and random token; the capture spans the swarm's start "
                     "(registrations), the download and the stop. Token occurrences are counted in every TCP stream "
                     "reassembled from the capture (so a token split over two segments counts) and in the raw file. "
                     "The plain-HTTP run is the control: it must find the token, or the capture proves nothing.\n")
    for r in rows:
        if r.get("kind") == "verdict":
            parts.append(f"**{'PASS' if r.get('ok') else 'FAIL'}: {r.get('note', '')}**\n")
    return "\n".join(parts)


def report_markdown(rows: list[dict]) -> str:
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r.get("scenario", "?"), []).append(r)
    parts: list[str] = ["# ddl benchmark results\n"]
    meta = next((r for r in by.get("meta", []) if r.get("kind") == "tls"), None)
    if meta:
        parts.append(f"Swarm links in this run: {meta.get('words', '?')} (BENCH_TLS={meta.get('bench_tls', '?')}; "
                     "the liar scenario always runs plain HTTP, the tls scenario runs both).\n")

    for name in ("smoke", "aggregation"):
        rs = [r for r in by.get(name, []) if "skipped" not in r]
        if not by.get(name):
            continue
        beff = next((r["mbit"] for r in rs if r.get("tool") == "curl"), None)
        title = "Smoke" if name == "smoke" else "1. Aggregation"
        parts.append(f"## {title} (every link B, B_eff = curl over one link = {fmt(beff)} Mbit/s)\n")
        parts.append(tls_line([r for r in rs if r.get("tool") == "ddl"]))
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
        parts.append(tls_line([r for r in rs if r.get("tool") == "ddl"]))
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
        if not any(r.get("swarm") for r in rs):
            parts.append(tls_line([r for r in rs if "peers" in str(r.get("tool", ""))]))
        # rows without "proto" come from runs before the https rows existed: plain http
        http_cpu = {r["tool"]: r["cpu"] for r in rs if r.get("proto", "http") == "http" and r.get("cpu") is not None}
        body = []
        for r in rs:
            proto = r.get("proto", "http")
            tls_cost = "–"
            if proto == "https" and r.get("cpu") is not None and r["tool"] in http_cpu:
                tls_cost = f"{r['cpu'] - http_cpu[r['tool']]:+.2f}"
            tool = r["tool"] + (f" ({'TLS' if r['swarm'] == 'tls' else 'plain HTTP'} swarm)" if r.get("swarm") else "")
            body.append([tool, proto, mib(r.get("bytes")), fmt(r.get("wall"), 2), fmt(r.get("mbit"), 0),
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
        sw = {r["swarm"]: r for r in rs if r.get("swarm") and r.get("total_cpu")}
        if "tls" in sw and "plain" in sw:
            cost = sw["tls"]["total_cpu"] / sw["plain"]["total_cpu"] - 1
            parts.append(f"**TLS CPU cost on the swarm's links (ddl via 2 peers, client + peers CPU, median of "
                         f"{sw['tls'].get('runs', 1)} runs): {sw['tls']['total_cpu']:.2f} s with TLS against "
                         f"{sw['plain']['total_cpu']:.2f} s in plain HTTP = {100 * cost:+.1f}% "
                         f"(target ≤ 15%: {'✓' if cost <= 0.15 else '✗'}).**\n")
        if any(r.get("proto") == "https" for r in rs):
            parts.append("https rows: the same nginx over TLS 1.3 (TLS_AES_128_GCM_SHA256, HTTP/1.1, test CA); "
                         "cpu s vs http is the client's extra CPU time over the same tool's http row, "
                         "the cost of decrypting (nginx's encryption is not in it).\n")
        parts.append(skipped_note(by["loopback"]) + "\n")

    if by.get("memory"):
        rs = [r for r in by["memory"] if "skipped" not in r]
        parts.append("## 4. Memory (peak RSS, loopback)\n")
        parts.append(tls_line(rs))
        body = [[r["role"], mib(r.get("bytes")), fmt(r.get("rss_kb", 0) / 1024, 1), r.get("runs", 1),
                 f"{r['cache_mib']} MiB (cache_size {r.get('cache_size')})" if r.get("cache_mib") is not None else "–",
                 fmt(r.get("ok"))] for r in rs]
        parts.append(table(["process", "file", "peak RSS MiB (highest of the runs)", "runs", "peer cache on disk after (largest)",
                            "sha256 ok"], body))
        parts.append(skipped_note(by["memory"]) + "\n")

    if by.get("tracker"):
        rs = [r for r in by["tracker"] if "skipped" not in r and "endpoint" in r]
        parts.append("## 5. Tracker (loopback)\n")
        parts.append(tls_line(rs))
        body = [[r["endpoint"], r.get("peers", "–"), fmt(r.get("rps"), 0), fmt(r.get("p50_ms"), 2),
                 fmt(r.get("p99_ms"), 2), r.get("non2xx", "–"), r.get("socket_errors", "–"), fmt(r.get("ok"))]
                for r in rs]
        parts.append(table(["request", "registered peers", "req/s", "p50 ms", "p99 ms", "non-2xx",
                            "socket errors", "ok"], body))
        for r in rs:
            if r["endpoint"].startswith("GET /v1/peers?file=KEY") and r.get("rps") is not None:
                parts.append(f"A download's list request at {r.get('peers')} peers: **{fmt(r['rps'], 0)} req/s** "
                             f"(target ≥ 20,000: {'met' if r['rps'] >= 20000 else 'not met'}).\n")
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
        parts.append(tls_line(rs))
        body = [[r.get("mode"), r.get("hosts"), mib(r.get("bytes")), fmt(r.get("wall"), 2), fmt(r.get("ideal_s"), 2),
                 fmt(r.get("wall_over_ideal"), 2), fmt(r.get("origin_ratio"), 3), fmt(r.get("seeding")), fmt(r.get("disk_ratio"), 3),
                 fmt(r.get("ok"))] for r in rs]
        parts.append(table(["peers", "hosts", "size", "all done s", "ideal s = size/(hosts·B_eff)", "× ideal",
                            "origin sent / size (WAN counter)", "seeding", "disk / (hosts·size)", "sha256 ok"], body))
        parts.append("disk: the downloads and the peers' caches on all hosts at the end (du, a hard link counted once); "
                     "1.0 when every host stores the file once.\n")
        parts.append("cache: the default; nocache: the same peers with --no-cache (each host's pieces fetched for it alone). "
                     f"One curl download of the file took {fmt(curl.get('origin_ratio'), 3)} x its size on the same counter "
                     "(TCP/IP headers and retransmissions).\n")
        parts.append(skipped_note(by["fanout"]) + "\n")

    if by.get("warm"):
        rs = [r for r in by["warm"] if "skipped" not in r]
        parts.append("## 8. Warm swarm (the peers' caches hold the file; LAN links shaped)\n")
        parts.append(tls_line(rs))
        body = [[r.get("phase"), r.get("peers"), mib(r.get("bytes")), fmt(r.get("wall"), 2), fmt(r.get("mbit")),
                 fmt(r.get("lan_mbit")), (fmt(100 * r["lan_share"], 0) + "%") if r.get("lan_share") is not None else "–",
                 (fmt(100 * r["origin_share"], 2) + "%") if r.get("origin_share") is not None else "–",
                 r.get("walls", "–"), fmt(r.get("ok"))] for r in rs]
        parts.append(table(["download", "peers", "size", "time s (median)", "Mbit/s", "LAN Mbit/s", "of LAN",
                            "origin sent / size (WAN counter)", "runs s", "sha256 ok"], body))
        parts.append(skipped_note(by["warm"]) + "\n")

    if by.get("tls"):
        parts.append(report_tls(by["tls"]) + skipped_note(by["tls"]) + "\n")

    if by.get("liar"):
        parts.append(tls_line([r for r in by["liar"] if r.get("kind") == "download"]) + "\n")
        parts.append(report_liar(by["liar"]) + skipped_note(by["liar"]) + "\n")

    if by.get("metrics"):
        parts.append(report_metrics(by["metrics"]) + skipped_note(by["metrics"]) + "\n")

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


# --------------------------------------------------------------------------- metrics


def _median(values: list):
    vs = sorted(v for v in values if v is not None)
    if not vs:
        return None
    mid = len(vs) // 2
    return vs[mid] if len(vs) % 2 else (vs[mid - 1] + vs[mid]) / 2


def _met(ok) -> str:
    return "–" if ok is None else ("**yes**" if ok else "**no**")


def report_metrics(rows: list[dict]) -> str:
    """The metrics scenario: issue 14's targets, each an A/B with the same binary."""
    parts = ["## Metrics and the dashboard: what they cost (issue 14's targets)\n"]
    targets = []

    agg = [r for r in rows if r.get("part") == "aggregation" and r.get("tool") == "ddl" and r.get("mbit")]
    if agg:
        ref = next((r for r in rows if r.get("part") == "aggregation" and r.get("tool") == "curl"), {})
        parts.append(f"### Aggregation, N = {agg[0].get('n')}, {mib(agg[0].get('bytes'))}, metrics on (scraped every second) vs off\n")
        parts.append(tls_line(agg))
        body = [[r.get("run"), "on" if r.get("metrics") else "off", fmt(r.get("wall"), 2), fmt(r.get("mbit")),
                 fmt(100 * r["mbit"] / r["limit_mbit"], 1) + "%" if r.get("limit_mbit") else "–",
                 fmt(r.get("peers_cpu"), 2), r.get("scrapes", "–"), fmt(r.get("ok"))] for r in agg]
        parts.append(table(["run", "metrics", "time s", "Mbit/s", "of limit", "peers' cpu s", "scrapes (200)", "sha256 ok"], body))
        on = _median([r["mbit"] for r in agg if r.get("metrics") and r.get("ok")])
        off = _median([r["mbit"] for r in agg if r.get("metrics") is False and r.get("ok")])
        cpu_on = _median([r.get("peers_cpu") for r in agg if r.get("metrics")])
        cpu_off = _median([r.get("peers_cpu") for r in agg if r.get("metrics") is False])
        if on and off:
            cost = 1 - on / off
            parts.append(f"B_eff {fmt(ref.get('mbit'))} Mbit/s, limit {fmt(agg[0].get('limit_mbit'))} Mbit/s. "
                         f"Median with metrics on **{fmt(on)}** Mbit/s, off **{fmt(off)}** Mbit/s: on / off = "
                         f"**{fmt(on / off, 3)}** (cost {fmt(100 * cost, 1)} %). Peers' CPU per download (median, "
                         f"start-up included): on {fmt(cpu_on, 2)} s, off {fmt(cpu_off, 2)} s.\n")
            targets.append(["metrics cost ≤ 2 % of aggregation throughput", f"{fmt(on)} / {fmt(off)} Mbit/s",
                            f"{fmt(100 * cost, 1)} %", _met(cost <= 0.02)])

    mem = [r for r in rows if r.get("part") == "memory" and r.get("peer_rss_kb")]
    if mem:
        parts.append(f"### Peer RSS, {mib(mem[0].get('bytes'))} through 2 peers on loopback, metrics on (scraped every second) vs off\n")
        parts.append(tls_line(mem))
        body = [[r.get("run"), "on" if r.get("metrics") else "off", r.get("peer_rss_kb"), fmt(r["peer_rss_kb"] / 1024, 1),
                 r.get("client_rss_kb", "–"), fmt(r.get("wall"), 2), fmt(r.get("peers_cpu"), 2), r.get("scrapes", "–"), fmt(r.get("ok"))]
                for r in mem]
        parts.append(table(["run", "metrics", "peer peak RSS KiB (larger of 2)", "MiB", "client RSS KiB", "time s", "peers' cpu s",
                            "scrapes (200)", "sha256 ok"], body))
        on = [r["peer_rss_kb"] for r in mem if r.get("metrics")]
        off = [r["peer_rss_kb"] for r in mem if r.get("metrics") is False]
        if on and off:
            peak = round((max(on) - max(off)) / 1024, 1) + 0.0  # + 0.0: no "-0.0"
            med = round((_median(on) - _median(off)) / 1024, 1) + 0.0
            parts.append(f"Highest peak: on {fmt(max(on) / 1024, 1)} MiB, off {fmt(max(off) / 1024, 1)} MiB "
                         f"(**{peak:+.1f} MiB**); medians: on {fmt(_median(on) / 1024, 1)}, off {fmt(_median(off) / 1024, 1)} MiB "
                         f"(**{med:+.1f} MiB**).\n")
            targets.append(["metrics cost ≤ 2 MiB of peer RSS", f"{fmt(max(on) / 1024, 1)} / {fmt(max(off) / 1024, 1)} MiB (highest peaks)",
                            f"{peak:+.1f} MiB (medians {med:+.1f})", _met(peak <= 2 and med <= 2)])

    trk = [r for r in rows if r.get("part") == "tracker" and r.get("rps") is not None]
    if trk:
        parts.append(f"### Tracker, a download's list (GET /v1/peers?file=KEY&limit=64) at {trk[0].get('peers')} peers (wrk), the dashboard open in headless Chromium vs not\n")
        body = [[("TLS" if r.get("tls") else "plain HTTP"), "on" if r.get("metrics") else "off",
                 "open" if r.get("dashboard") else "–", r.get("run"), fmt(r.get("rps"), 0), fmt(r.get("p50_ms"), 1),
                 fmt(r.get("p99_ms"), 1), r.get("non2xx"), r.get("socket_errors"),
                 fmt(r.get("dashboard_connected")) if r.get("dashboard") else "–", fmt(r.get("browser_cpu"), 2) if r.get("dashboard") else "–"]
                for r in trk]
        parts.append(table(["links", "metrics", "dashboard", "run", "req/s", "p50 ms", "p99 ms", "non-2xx", "socket errors",
                            "dashboard connected (SSE)", "browser cpu s during wrk"], body))
        for tls in (True, False):
            rs = [r for r in trk if bool(r.get("tls")) == tls]
            if not rs:
                continue
            base = _median([r["rps"] for r in rs if r.get("metrics") and not r.get("dashboard")])
            dash = _median([r["rps"] for r in rs if r.get("metrics") and r.get("dashboard")])
            off = _median([r["rps"] for r in rs if r.get("metrics") is False])
            connected = all(r.get("dashboard_connected") is True for r in rs if r.get("dashboard"))
            # Paired by round (the runs of one round are next to each other in time).
            by_run = {}
            for r in rs:
                if r.get("metrics"):
                    by_run.setdefault(r.get("run"), {})["dash" if r.get("dashboard") else "base"] = r["rps"]
            paired = _median([v["dash"] / v["base"] for v in by_run.values() if v.get("dash") and v.get("base")])
            name = "TLS" if tls else "plain HTTP"
            line = f"**{name}**: median req/s without the dashboard {fmt(base, 0)}"
            if dash:
                line += (f", with it open {fmt(dash, 0)} (ratio of the medians **{fmt(dash / base, 3)}**, median of the "
                         f"rounds' ratios **{fmt(paired, 3)}**; every dashboard run connected: {fmt(connected)})")
                targets.append([f"tracker ≥ 20,000 list req/s with the dashboard open ({name})", f"{fmt(dash, 0)} req/s",
                                f"open / not open: {fmt(dash / base, 3)} (medians), {fmt(paired, 3)} (rounds)", _met(dash >= 20000)])
            if off:
                line += f"; metrics off {fmt(off, 0)} (metrics on / off **{fmt(base / off, 3)}**)"
            parts.append(line + ".\n")

    if targets:
        parts.append("### Targets\n")
        parts.append(table(["target", "measured", "difference", "met"], targets))
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
        tls = {r.get("tls") for r in agg if r.get("tool") == "ddl" and r.get("mbit")}
        links = " over TLS" if tls == {True} else " in plain HTTP" if tls == {False} else ""
        ax.plot([n for n, _ in ddl], [m for _, m in ddl], "o-", color="tab:blue", label=f"ddl (client + N peers{links})")
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
    w.add_argument("--tls", default="false", help="true when wrk spoke https to the tracker")
    w.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="add or replace a field of the row (VALUE read as JSON when it is, else a string)")
    c = sub.add_parser("pcapscan")
    c.add_argument("pcap")
    c.add_argument("--token", required=True)
    c.add_argument("--tracker-port", type=int, default=5000)
    c.add_argument("--peer-port", type=int, default=6000)
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="add a field to the row (VALUE read as JSON when it is, else a string)")
    e = sub.add_parser("liarevents")
    e.add_argument("events")
    e.add_argument("--source", required=True)
    e.add_argument("--before")
    e.add_argument("--after")
    args = p.parse_args()
    return {"report": cmd_report, "register": cmd_register, "wrkparse": cmd_wrkparse,
            "liarevents": cmd_liarevents, "pcapscan": cmd_pcapscan}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
