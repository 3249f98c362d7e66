#!/usr/bin/python3
"""A local OAuth 2.0 token endpoint over HTTPS, for envoi's tests.

usage: token_endpoint.py CERT KEY PORT_FILE LOG_FILE

Listens on 127.0.0.1 (a port the system picks, written to PORT_FILE), logs each request's
form as one JSON line to LOG_FILE, and exits when its standard input closes. Answers:
- grant_type=refresh_token: a refresh_token starting "revoked" gets 400 invalid_grant; others get
  {"access_token": "access-N", "expires_in": 3600}, plus a new refresh token "rotated-N"
  when the one sent starts with "rotate";
- grant_type=client_credentials: {"access_token": "app-N", "expires_in": "3599"};
- client_id "slow": no answer for 30 s; client_id "html": a 200 page that is not JSON.
"""
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counter = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        global counter
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length).decode()
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
        form["_path"] = self.path
        form["_content_type"] = self.headers.get("Content-Type", "")
        with lock:
            counter += 1
            n = counter
            with open(sys.argv[4], "a") as log:
                log.write(json.dumps(form) + "\n")
        if form.get("client_id") == "slow":
            time.sleep(30)
        if form.get("client_id") == "html":
            return self.answer(200, "<html>sign in</html>", "text/html")
        if form.get("grant_type") == "client_credentials":
            return self.answer(200, {"access_token": f"app-{n}", "token_type": "Bearer",
                                     "expires_in": "3599"})
        if form.get("grant_type") != "refresh_token":
            return self.answer(400, {"error": "unsupported_grant_type"})
        if form.get("refresh_token", "").startswith("revoked"):
            return self.answer(400, {"error": "invalid_grant",
                                     "error_description": "Token has been expired or revoked."})
        body = {"access_token": f"access-{n}", "token_type": "Bearer", "expires_in": 3600}
        if form.get("refresh_token", "").startswith("rotate"):
            body["refresh_token"] = f"rotated-{n}"
        return self.answer(200, body)


def main():
    cert, key, port_file = sys.argv[1], sys.argv[2], sys.argv[3]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()
