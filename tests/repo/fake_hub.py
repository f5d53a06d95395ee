#!/usr/bin/env python3
"""tests/repo/fake_hub.py — a local stand-in for the Hugging Face hub, for the pull tests.

Serves the model repositories under --root (<root>/<org>/<name>/<files>) the way the hub does:

  GET /api/models/<org>/<name>/revision/<rev>[?blobs=true]
      {"id", "sha", "siblings": [{"rfilename", "size", "lfs": {"sha256", "size"}}]}
      (files of 1 KiB and more, and every .gguf/.safetensors/.bin, are "LFS" with a sha256)
  GET /<org>/<name>/resolve/<rev>/<path>
      LFS files: 302 to /cdn/<org>/<name>/<path>; others served directly
  GET /cdn/<org>/<name>/<path>      the bytes, with Range support (206, 416)

--private org/name=TOKEN makes a repository need "Authorization: Bearer TOKEN" (401 without).
Faults come from the JSON file --faults names, read again on every request (so a test changes
them between runs); each fault applies to requests whose path ends with its "path" (or to the
listing when "api" is true) and fires "times" times (default: always):

  {"kind": "status", "code": 500}          answer with that status
  {"kind": "drop", "after": 1000}          send the headers and `after` body bytes, then hang up
  {"kind": "corrupt"}                      flip the first byte sent
  {"kind": "no_range"}                     ignore Range and send the whole file (200)
  {"kind": "slow", "delay": 0.2}           sleep before every 64 KiB
  {"extra_siblings": [{"rfilename": "../x"}]}  (top-level key) added to every listing

The port (bound on 127.0.0.1, chosen by the system) is written to --port-file once listening.
Each request is logged to --log when given. Never reaches the network.
"""
import argparse
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
FIRED = {}          # fault index -> times fired, for the current faults text
FAULTS_TEXT = None
SHA_CACHE = {}


def load_faults():
    global FAULTS_TEXT, FIRED
    if not ARGS.faults or not os.path.exists(ARGS.faults):
        return {}
    with open(ARGS.faults) as f:
        text = f.read()
    with LOCK:
        if text != FAULTS_TEXT:
            FAULTS_TEXT = text
            FIRED = {}
    return json.loads(text) if text.strip() else {}


def take_fault(cfg, path, api):
    """The first applicable fault that still has times left (and counts it), or None."""
    for i, fault in enumerate(cfg.get("faults", [])):
        if api != bool(fault.get("api", False)):
            continue
        if not api and not path.endswith(fault.get("path", "")):
            continue
        with LOCK:
            n = FIRED.get(i, 0)
            if "times" in fault and n >= fault["times"]:
                continue
            FIRED[i] = n + 1
        return fault
    return None


def is_lfs(path):
    return os.path.getsize(path) >= 1024 or path.endswith((".gguf", ".safetensors", ".bin"))


def sha256_of(path):
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in SHA_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        SHA_CACHE[key] = h.hexdigest()
    return SHA_CACHE[key]


class Hub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def log_request(self, code="-", size="-"):
        if ARGS.log:
            with LOCK, open(ARGS.log, "a") as f:
                f.write("%s %s %s range=%s\n" % (self.command, self.path, code,
                                                  self.headers.get("Range", "-")))

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorized(self, repo):
        token = ARGS.private.get(repo)
        return token is None or self.headers.get("Authorization") == "Bearer " + token

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        cfg = load_faults()
        parts = path.strip("/").split("/")
        if len(parts) >= 6 and parts[0] == "api" and parts[1] == "models" and parts[4] == "revision":
            return self.listing("/".join(parts[2:4]), cfg)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self.resolve("/".join(parts[0:2]), "/".join(parts[4:]), cfg)
        if len(parts) >= 4 and parts[0] == "cdn":
            return self.serve_file("/".join(parts[1:3]), "/".join(parts[3:]), cfg)
        self.send_json(404, {"error": "Not found"})

    def listing(self, repo, cfg):
        fault = take_fault(cfg, "", True)
        if fault and fault.get("kind") == "status":
            return self.send_json(fault["code"], {"error": "injected"})
        base = os.path.join(ARGS.root, repo)
        if not os.path.isdir(base):
            return self.send_json(404, {"error": "Repository not found"})
        if not self.authorized(repo):
            return self.send_json(401, {"error": "Invalid credentials in Authorization header"})
        siblings = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, base)
                entry = {"rfilename": rel, "size": os.path.getsize(full)}
                if is_lfs(full):
                    entry["lfs"] = {"sha256": sha256_of(full), "size": os.path.getsize(full),
                                    "pointerSize": 134}
                siblings.append(entry)
        siblings += cfg.get("extra_siblings", [])
        self.send_json(200, {"id": repo, "sha": "0" * 40, "siblings": siblings})

    def resolve(self, repo, rel, cfg):
        full = os.path.join(ARGS.root, repo, rel)
        if not os.path.isdir(os.path.join(ARGS.root, repo)):
            return self.send_json(404, {"error": "Repository not found"})
        if not self.authorized(repo):
            return self.send_json(401, {"error": "Invalid credentials in Authorization header"})
        if not os.path.isfile(full):
            return self.send_json(404, {"error": "Entry not found"})
        if is_lfs(full):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:%d/cdn/%s/%s" % (self.server.server_port, repo, rel))
            self.send_header("ETag", '"%s"' % sha256_of(full))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.serve_file(repo, rel, cfg)

    def serve_file(self, repo, rel, cfg):
        full = os.path.join(ARGS.root, repo, rel)
        if not os.path.isfile(full):
            return self.send_json(404, {"error": "Entry not found"})
        fault = take_fault(cfg, rel, False)
        kind = fault.get("kind") if fault else None
        if kind == "status":
            return self.send_json(fault["code"], {"error": "injected"})
        size = os.path.getsize(full)
        start = 0
        rng = self.headers.get("Range")
        if rng and kind != "no_range":
            spec = rng.replace("bytes=", "").split("-")[0]
            start = int(spec)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        sent = 0
        with open(full, "rb") as f:
            f.seek(start)
            first = True
            while True:
                chunk = f.read(65536)
                if not chunk:
                    break
                if kind == "corrupt" and first:
                    chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                first = False
                if kind == "slow":
                    time.sleep(fault.get("delay", 0.2))
                if kind == "drop" and sent + len(chunk) > fault.get("after", 0):
                    self.wfile.write(chunk[: max(0, fault.get("after", 0) - sent)])
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    return
                sent += len(chunk)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--faults")
    ap.add_argument("--log")
    ap.add_argument("--private", action="append", default=[])
    ARGS = ap.parse_args()
    ARGS.private = dict(p.split("=", 1) for p in ARGS.private)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    server.daemon_threads = True
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_port))
    os.rename(tmp, ARGS.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
