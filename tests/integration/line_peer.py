"""A scripted SMTP server for the integration tests: a listener on its own port and a
thread that hands each connection to the subclass's session(conn, lines), one at a time,
or each in a thread of its own when `concurrent` (for clients that keep connections open
side by side)."""

import socket
import threading


class LinePeer:
    def __init__(self, address="127.0.0.1", concurrent=False):
        self.concurrent = concurrent
        self.listener = socket.socket()
        self.listener.bind((address, 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            if self.concurrent:
                threading.Thread(target=self.serve_one, args=(conn,), daemon=True).start()
            else:
                self.serve_one(conn)

    def serve_one(self, conn):
        with conn, conn.makefile("rb") as lines:
            self.session(conn, lines)

    def session(self, conn, lines):
        raise NotImplementedError

    def close(self):
        self.listener.close()
