#!/usr/bin/env python3
"""Setup step of the HTTP load (Tools/http-bench.sh): creates users and groups
through the API, writes their ids for Tools/http-load/load.lua, checks that
every request the load sends gets its contract's answer, and optionally
pre-fills every inbox so that reads return full pages.

  setup.py --url http://127.0.0.1:8080 --out DIR [--users 1000] [--groups 50]
           [--members 10] [--prefill 20] [--content-bytes 100] [--threads 16]

Writes DIR/users.txt (one user id a line) and DIR/groups.txt (a group id and
its member ids a line). Standard library only; one keep-alive connection a
worker thread. Exits non-zero on any unexpected status.
"""
import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

_local = threading.local()


class Client:
    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80

    def _connection(self):
        conn = getattr(_local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            _local.conn = conn
        return conn

    def request(self, method, path, body=None):
        """(status, parsed JSON body or None); one retry on a dropped keep-alive connection."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                _local.conn = None
                if attempt:
                    raise
        parsed = json.loads(raw) if raw else None
        return response.status, parsed


def expect(what, status, body, wanted):
    if status != wanted:
        sys.exit(f"setup: {what}: expected {wanted}, got {status} {body}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--prefill", type=int, default=0, help="messages sent to every user before the runs")
    parser.add_argument("--content-bytes", type=int, default=100)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.members > args.users:
        sys.exit("setup: --members must not exceed --users")

    client = Client(args.url)
    rng = random.Random(args.seed)
    text = "The quick brown fox jumps over the lazy dog. "
    content = (text * (args.content_bytes // len(text) + 1))[: args.content_bytes]
    started = time.monotonic()

    with ThreadPoolExecutor(args.threads) as pool:
        def create_user(_):
            status, body = client.request("POST", "/users")
            expect("POST /users", status, body, 201)
            return body["userId"]

        users = list(pool.map(create_user, range(args.users)))

        def create_group(_):
            status, body = client.request("POST", "/groups")
            expect("POST /groups", status, body, 201)
            return body["groupId"]

        group_ids = list(pool.map(create_group, range(args.groups)))
        groups = [(group, rng.sample(users, args.members)) for group in group_ids]

        def add_member(pair):
            group, user = pair
            status, body = client.request("POST", f"/groups/{group}/members", {"userId": user})
            expect("POST /groups/{id}/members", status, body, 204)

        list(pool.map(add_member, [(group, user) for group, members in groups for user in members]))
        setup_seconds = time.monotonic() - started

        # One request of each kind the load sends, with its contract's answer.
        a, b = users[0], users[1 % len(users)]
        status, body = client.request("POST", f"/messages/user/{b}", {"sender": a, "content": content})
        expect("POST /messages/user/{id}", status, body, 201)
        assert set(body) == {"messageId", "date"}, body
        if groups:
            group, members = groups[0]
            status, body = client.request("POST", f"/messages/group/{group}", {"sender": members[0], "content": content})
            expect("POST /messages/group/{id}", status, body, 202)
            assert set(body) == {"messageId", "date"}, body
        status, body = client.request("GET", f"/messages/{b}?limit=20")
        expect("GET /messages/{id}", status, body, 200)
        assert isinstance(body.get("messages"), list) and body["messages"], body

        # Pre-fill: every user gets --prefill direct messages from random senders.
        prefill_started = time.monotonic()
        senders = [rng.choice(users) for _ in range(args.prefill * len(users))]

        def prefill(index):
            recipient = users[index % len(users)]
            status, body = client.request(
                "POST", f"/messages/user/{recipient}", {"sender": senders[index], "content": content})
            expect("prefill POST /messages/user/{id}", status, body, 201)

        list(pool.map(prefill, range(len(senders)), chunksize=64))
        prefill_seconds = time.monotonic() - prefill_started

    with open(f"{args.out}/users.txt", "w") as file:
        file.write("".join(user + "\n" for user in users))
    with open(f"{args.out}/groups.txt", "w") as file:
        file.write("".join(" ".join([group, *members]) + "\n" for group, members in groups))
    print(f"setup: {len(users)} users, {len(groups)} groups x {args.members} members in {setup_seconds:.1f} s; "
          f"prefill {len(senders)} messages in {prefill_seconds:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
