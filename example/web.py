"""A tiny web app (standard library only) that enqueues a job from a request handler.

    python -m example.web            # serves http://127.0.0.1:8000
    curl -X POST -d email=a@example.com http://127.0.0.1:8000/signup

The sign-up row and its welcome-email job commit in one transaction: if the
request fails half way, neither exists. Workers run separately
(`bgjobs worker example.jobs:builder`).
"""

from __future__ import annotations

import sqlite3
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from bgjobs import JobRequest
from bgjobs.db import SqliteAdapter

DATABASE = "example.db"
adapter = SqliteAdapter(DATABASE)
adapter.migrate()


def signup(email: str) -> str:
    conn = sqlite3.connect(DATABASE, isolation_level=None)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS users (email TEXT PRIMARY KEY)")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO users (email) VALUES (?)", (email,))
        job = adapter.enqueue(JobRequest("send_welcome_email", {"email": email}), connection=conn)
        conn.execute("COMMIT")
        return job.id
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        if self.path != "/signup":
            self.send_error(404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        email = parse_qs(body).get("email", [""])[0]
        if "@" not in email:
            self.send_error(400, "email required")
            return
        try:
            job_id = signup(email)
        except sqlite3.IntegrityError:
            self.send_error(409, "already signed up")
            return
        self.send_response(202)
        self.end_headers()
        self.wfile.write(f"welcome email queued as job {job_id}\n".encode())


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", 8000), Handler).serve_forever()
