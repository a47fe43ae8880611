#!/usr/bin/env python3
"""Kill soak of `msgstore serve --sync always` (Tools/soak.sh is the entry point).

A mixed HTTP load (direct and group sends, paged inbox reads, membership
changes, blocks and unblocks, a few new users and groups) runs from several
threads against the server while the controller SIGKILLs it every few seconds
(randomized) and restarts it on the same data directory. After the last cycle
the server is restarted once more, the load stops, the fan-out queue is
drained (GET /admin/queues/fanout), every inbox is read and checked against
what the clients were told:

* a direct send answered 201 is in the recipient's inbox exactly once, with
  the messageId, date (= sentAt), sender and content of the answer; one
  refused (403) is in no inbox; one that got no answer because of a kill
  ("maybe") is there at most once;
* a direct send is refused with 403 `forbidden` when, and only when, the
  recipient had blocked the sender (as far as the client's timeline of acked
  block/unblock calls can tell; calls in flight make both answers valid);
* a group send answered 202 reaches every member the membership rule of
  docs/fanout.md promises it to, exactly once, and no one who was not a member
  while it was delivered; every copy carries the messageId, sentAt (= the 202's
  date), sender, groupId and content, and a date after its sentAt. A group send
  is refused with 403 only when the sender may not have been a member;
* each inbox is in strictly increasing date order, without duplicates; every
  message in it comes from a send that was acknowledged or got no answer;
* every page read during the load was in date order, after its `date`, with
  `nextPageToken` = its last date, and holds exactly the messages that the
  final inbox has in its range (nothing appeared later behind a date a reader
  had seen, nothing a reader saw disappeared);
* dates: every date the server acknowledged (201 and 202) is unique, and every
  date acknowledged after a restart is later than every date acknowledged
  before it; no date of any inbox names two messages;
* every user and group acknowledged exists; every group's members are the
  client's view of them;
* no 5xx, no unexpected status, no dead letter; SIGTERM exits 0 and
  `msgstore verify` finds the data directory sound.

Membership and block changes of one group / one blocker are made by one thread
at a time, and each call's effect is known to commit between the moment the
request was sent and the moment its answer arrived; a call that got no answer
is resolved after the restart (the group's members are read; a block by a probe
message). Group copies are dated with the store's commit clock, which follows
the wall clock (CLOCK_REALTIME, the same as this process's time.time()), so a
copy's date tells when the fan-out batch that wrote it ran.

Usage: soak.py --binary PATH [options]; see --help. Prints the seed; the same
seed replays the same schedule of kills and the same choices of each thread
(the interleaving of the threads is up to the machine).
"""

import argparse
import bisect
import calendar
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict

# ----------------------------------------------------------------------------
# Dates


DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z$")


def parse_date(text):
    """A wire date (2024-06-24T10:49:53.159123Z) as integer microseconds since the epoch."""
    m = DATE_RE.match(text or "")
    if not m:
        raise ValueError("not a wire date: %r" % (text,))
    y, mo, d, h, mi, s, us = (int(g) for g in m.groups())
    return calendar.timegm((y, mo, d, h, mi, s)) * 1_000_000 + us


def now_us():
    return time.time_ns() // 1000


# ----------------------------------------------------------------------------
# Timelines of a boolean state (membership of (group, user), block of (blocker, blocked))


class Timeline:
    """A boolean state over time whose changes happened at unknown moments inside known intervals.

    Changes of one timeline are serialized by the client (one thread at a time), so the
    intervals are ordered and disjoint. Times are microseconds of the wall clock.
    """

    __slots__ = ("initial", "changes", "ends", "current")

    def __init__(self, initial=False):
        self.initial = initial
        self.changes = []  # (start, end, before, after), before != after, in time order
        self.ends = []  # the ends of the changes, for bisection
        self.current = initial

    def change(self, start, end, after):
        if after != self.current:
            self.changes.append((start, end, self.current, after))
            self.ends.append(end)
            self.current = after

    def possible(self, x, y):
        """The set of states the timeline may have had at some moment of [x, y]."""
        i = bisect.bisect_left(self.ends, x)  # the first change not over before x
        state = self.changes[i - 1][3] if i > 0 else self.initial
        states = set()
        while i < len(self.changes) and self.changes[i][0] <= y:
            states.add(self.changes[i][2])
            states.add(self.changes[i][3])
            i += 1
        if not states:
            states.add(state)
        return states

    def certainly(self, value, x, y):
        return self.possible(x, y) == {value}


# ----------------------------------------------------------------------------
# The server process


class ServerProcess:
    def __init__(self, binary, data, extra, log_dir):
        self.binary = binary
        self.data = data
        self.extra = extra
        self.log_dir = log_dir
        self.process = None
        self.port = None
        self.starts = 0
        self.stderr = open(os.path.join(log_dir, "server.err"), "ab")

    def start(self, timeout=120):
        self.starts += 1
        out_path = os.path.join(self.log_dir, "server-%04d.out" % self.starts)
        out = open(out_path, "wb")
        began = time.monotonic()
        self.process = subprocess.Popen(
            [self.binary, "serve", "--data", self.data, "--port", "0", "--sync", "always", "--no-request-log"]
            + self.extra,
            stdout=out, stderr=self.stderr, stdin=subprocess.DEVNULL)
        out.close()
        deadline = began + timeout
        while time.monotonic() < deadline:
            with open(out_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            m = re.search(r"msgstore listening on http://[^:\s]+:(\d+)\n", text)
            if m:
                self.port = int(m.group(1))
                return time.monotonic() - began
            if self.process.poll() is not None:
                raise SoakError("msgstore serve exited with %s at start %d (see %s)"
                                % (self.process.returncode, self.starts, self.stderr.name))
            time.sleep(0.01)
        raise SoakError("msgstore serve did not listen within %d s (start %d)" % (timeout, self.starts))

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def terminate(self, timeout=15):
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None

    def alive(self):
        return self.process is not None and self.process.poll() is None


class SoakError(Exception):
    pass


# ----------------------------------------------------------------------------
# The state shared by the controller and the load threads


class Findings:
    def __init__(self, limit=200):
        self.lock = threading.Lock()
        self.items = []
        self.counts = Counter()
        self.limit = limit

    def add(self, kind, text):
        with self.lock:
            self.counts[kind] += 1
            if len(self.items) < self.limit:
                self.items.append("%s: %s" % (kind, text))
            if self.counts[kind] <= 3:
                print("FINDING %s: %s" % (kind, text), file=sys.stderr, flush=True)

    def total(self):
        return sum(self.counts.values())


class Gate:
    """Whether the server is up, its epoch (number of starts) and port."""

    def __init__(self):
        self.cond = threading.Condition()
        self.up = False
        self.epoch = 0
        self.port = None
        self.stopping = False
        self.kill_times = {}  # epoch -> time (µs) it was killed

    def open(self, epoch, port):
        with self.cond:
            self.up, self.epoch, self.port = True, epoch, port
            self.cond.notify_all()

    def close(self):
        with self.cond:
            self.up = False

    def wait_up(self, timeout=300):
        with self.cond:
            deadline = time.monotonic() + timeout
            while not self.up:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SoakError("the server was not up again within %d s" % timeout)
                self.cond.wait(left)
            return self.epoch, self.port


class Maybe(Exception):
    """The request may have reached the server, which then died without answering."""

    def __init__(self, start, epoch, error):
        super().__init__(str(error))
        self.start = start
        self.epoch = epoch


class Answer:
    __slots__ = ("status", "body", "start", "end", "epoch", "headers")

    def __init__(self, status, body, start, end, epoch, headers):
        self.status, self.body, self.start, self.end, self.epoch, self.headers = status, body, start, end, epoch, headers


class Client:
    """One keep-alive connection per thread, reopened for each server epoch."""

    def __init__(self, gate, stats):
        self.gate = gate
        self.stats = stats
        self.conn = None
        self.conn_epoch = None

    def _close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
        self.conn = None

    def call(self, method, path, body=None):
        """Sends until the request reached a server: an Answer, or Maybe when the server died meanwhile."""
        payload = None if body is None else json.dumps(body).encode()
        while True:
            epoch, port = self.gate.wait_up()
            if self.conn is None or self.conn_epoch != epoch:
                self._close()
                self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                self.conn_epoch = epoch
                try:
                    self.conn.connect()
                except OSError:
                    # Refused: the server is not listening (killed). Nothing was sent.
                    self._close()
                    time.sleep(0.01)
                    continue
            start = now_us()
            try:
                headers = {"Content-Type": "application/json"} if payload is not None else {}
                self.conn.request(method, path, body=payload, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                end = now_us()
            except (OSError, http.client.HTTPException) as error:
                self._close()
                if isinstance(error, TimeoutError) or "timed out" in str(error):
                    raise SoakError("%s %s: no answer within 60 s (server hung?)" % (method, path))
                self.stats.inc("maybe")
                raise Maybe(start, epoch, error)
            self.stats.inc("requests")
            parsed = None
            if data:
                try:
                    parsed = json.loads(data)
                except ValueError:
                    parsed = {"_raw": data[:200].decode("utf-8", "replace")}
            if response.getheader("Connection", "").lower() == "close":
                self._close()
            return Answer(response.status, parsed, start, end, epoch, response.headers)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = Counter()

    def inc(self, key, n=1):
        with self.lock:
            self.c[key] += n


# ----------------------------------------------------------------------------
# The soak


class Soak:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.rng = random.Random(self.seed)
        self.gate = Gate()
        self.stats = Stats()
        self.findings = Findings()
        self.lock = threading.Lock()  # guards the records below
        self.users = []  # acknowledged user ids
        self.groups = []  # acknowledged group ids
        self.maybe_users = 0
        self.group_locks = {}
        self.blocker_locks = {}
        self.members = {}  # group -> set (the client's view: acked and resolved changes)
        self.membership = defaultdict(Timeline)  # (group, user) -> Timeline
        self.blocks = defaultdict(Timeline)  # (blocker, blocked) -> Timeline
        self.blocked_pairs = set()  # the client's view
        self.direct = {}  # token -> record dict
        self.group_sends = {}  # token -> record dict
        self.acked_dates = []  # (date µs, epoch, messageId, what)
        self.pages = []  # (user, after µs or None, [(date, messageId)], token or None, epoch)
        self.seen_max = {}  # user -> greatest date a reader saw
        self.next_token = 0
        self.cycle_log = []
        self.kills_mid_fanout = 0

    # -- helpers ------------------------------------------------------------

    def token(self, kind):
        with self.lock:
            self.next_token += 1
            return "%s%d" % (kind, self.next_token)

    def unexpected(self, what, answer):
        kind = "5xx" if answer.status >= 500 else "unexpected status"
        self.findings.add(kind, "%s answered %d %s" % (what, answer.status, json.dumps(answer.body)[:300]))

    def check_error_body(self, what, answer, code):
        body = answer.body if isinstance(answer.body, dict) else {}
        if body.get("error") != code or not isinstance(body.get("message"), str):
            self.findings.add("error body", "%s answered %d with %r, expected error %r"
                              % (what, answer.status, answer.body, code))
        ctype = answer.headers.get("Content-Type", "")
        if not ctype.startswith("application/json"):
            self.findings.add("error body", "%s: Content-Type %r" % (what, ctype))

    # -- setup --------------------------------------------------------------

    def setup(self, client):
        for _ in range(self.args.users):
            a = client.call("POST", "/users")
            if a.status != 201:
                raise SoakError("setup: POST /users answered %d" % a.status)
            self.users.append(a.body["userId"])
        for _ in range(self.args.groups):
            a = client.call("POST", "/groups")
            if a.status != 201:
                raise SoakError("setup: POST /groups answered %d" % a.status)
            g = a.body["groupId"]
            self.groups.append(g)
            self.group_locks[g] = threading.Lock()
            self.members[g] = set()
            for u in self.rng.sample(self.users, self.args.group_size):
                a = client.call("POST", "/groups/%s/members" % g, {"userId": u})
                if a.status != 204:
                    raise SoakError("setup: add member answered %d" % a.status)
                self.membership[(g, u)].change(a.start, a.end, True)
                self.members[g].add(u)
        for u in self.users:
            self.blocker_locks[u] = threading.Lock()

    # -- operations ---------------------------------------------------------

    def op_direct(self, client, rng):
        with self.lock:
            blocked = list(self.blocked_pairs)
            users = list(self.users)
        if blocked and rng.random() < 0.25:
            recipient, sender = rng.choice(blocked)
        else:
            sender, recipient = rng.choice(users), rng.choice(users)
        self.send_direct(client, rng, sender, recipient)

    def send_direct(self, client, rng, sender, recipient, probe=False):
        """Sends one direct message; returns the status (None: maybe)."""
        tok = self.token("d")
        content = "%s|%s" % (tok, "x" * rng.choice((0, 1, 10, 100, 1000, rng.randint(0, 8000))))
        record = {"token": tok, "sender": sender, "recipient": recipient, "content": content,
                  "start": now_us(), "probe": probe}
        with self.lock:
            self.direct[tok] = record
        try:
            a = client.call("POST", "/messages/user/%s" % recipient, {"sender": sender, "content": content})
        except Maybe as m:
            record.update(outcome="maybe", start=m.start, epoch=m.epoch)
            return None
        record.update(start=a.start, end=a.end, epoch=a.epoch, status=a.status)
        self.stats.inc("direct %d" % a.status)
        if a.status == 201:
            body = a.body or {}
            try:
                record.update(outcome="acked", messageId=body["messageId"], date=parse_date(body["date"]))
            except (KeyError, ValueError, TypeError):
                self.findings.add("bad 201 body", "direct send answered %r" % (body,))
                record["outcome"] = "maybe"
                return 201
            with self.lock:
                self.acked_dates.append((record["date"], a.epoch, record["messageId"], "direct " + tok))
        elif a.status == 403:
            record["outcome"] = "refused"
            self.check_error_body("direct send %s" % tok, a, "forbidden")
        else:
            record["outcome"] = "refused"
            self.unexpected("direct send %s" % tok, a)
        return a.status

    def op_group_send(self, client, rng):
        g = rng.choice(self.groups_snapshot())
        with self.lock:
            members = list(self.members.get(g, ()))
            users = list(self.users)
        sender = rng.choice(members) if members and rng.random() < 0.9 else rng.choice(users)
        tok = self.token("g")
        content = "%s|%s" % (tok, "y" * rng.choice((0, 5, 50, 500)))
        record = {"token": tok, "group": g, "sender": sender, "content": content}
        with self.lock:
            self.group_sends[tok] = record
        try:
            a = client.call("POST", "/messages/group/%s" % g, {"sender": sender, "content": content})
        except Maybe as m:
            record.update(outcome="maybe", start=m.start, epoch=m.epoch)
            return
        record.update(start=a.start, end=a.end, epoch=a.epoch, status=a.status)
        self.stats.inc("group %d" % a.status)
        if a.status == 202:
            body = a.body or {}
            try:
                record.update(outcome="acked", messageId=body["messageId"], date=parse_date(body["date"]))
            except (KeyError, ValueError, TypeError):
                self.findings.add("bad 202 body", "group send answered %r" % (body,))
                record["outcome"] = "maybe"
                return
            with self.lock:
                self.acked_dates.append((record["date"], a.epoch, record["messageId"], "group " + tok))
        elif a.status == 403:
            record["outcome"] = "refused"
            self.check_error_body("group send %s" % tok, a, "forbidden")
        else:
            record["outcome"] = "refused"
            self.unexpected("group send %s" % tok, a)

    def groups_snapshot(self):
        with self.lock:
            return list(self.groups)

    def op_membership(self, client, rng):
        g = rng.choice(self.groups_snapshot())
        lock = self.group_locks[g]
        if not lock.acquire(blocking=False):
            return
        try:
            with self.lock:
                members = set(self.members[g])
                users = list(self.users)
            # Keep groups around their target size: remove more often when larger.
            remove = members and (len(members) > self.args.group_size or rng.random() < 0.4)
            if remove:
                u = rng.choice(sorted(members))
                method, path, body, target = "DELETE", "/groups/%s/members/%s" % (g, u), None, False
            else:
                u = rng.choice(users)
                method, path, body, target = "POST", "/groups/%s/members" % g, {"userId": u}, True
            try:
                a = client.call(method, path, body)
            except Maybe as m:
                self.stats.inc("membership maybe")
                self.resolve_membership(client, g, u, m.start)
                return
            self.stats.inc("membership %s %d" % (method, a.status))
            if a.status != 204:
                self.unexpected("%s %s" % (method, path), a)
                return
            with self.lock:
                self.membership[(g, u)].change(a.start, a.end, target)
                if target:
                    self.members[g].add(u)
                else:
                    self.members[g].discard(u)
        finally:
            lock.release()

    def resolve_membership(self, client, g, u, start):
        """After a membership call without an answer: read the group's members (the lock is held)."""
        while True:
            try:
                a = client.call("GET", "/groups/%s/members" % g)
            except Maybe:
                continue
            if a.status != 200:
                self.unexpected("GET members of %s" % g, a)
                return
            actual = set(a.body.get("members", []))
            with self.lock:
                self.membership[(g, u)].change(start, a.start, u in actual)
                if u in actual:
                    self.members[g].add(u)
                else:
                    self.members[g].discard(u)
                expected = set(self.members[g])
            if actual != expected:
                self.findings.add("membership", "group %s after a restart has %d members, the client expected %d "
                                  "(missing %s, extra %s)" % (g, len(actual), len(expected),
                                                              sorted(expected - actual)[:3], sorted(actual - expected)[:3]))
            return

    def op_block(self, client, rng):
        with self.lock:
            users = list(self.users)
            blocked = list(self.blocked_pairs)
        if blocked and rng.random() < 0.5:
            blocker, target_user = rng.choice(blocked)
        else:
            blocker, target_user = rng.choice(users), rng.choice(users)
        lock = self.blocker_locks.get(blocker)
        if lock is None or not lock.acquire(blocking=False):
            return
        try:
            if blocker == target_user:
                a = self.call_or_none(client, "POST", "/users/block", {"blockerId": blocker, "blockedId": blocker})
                if a is not None:
                    if a.status != 400:
                        self.unexpected("self block", a)
                    else:
                        self.check_error_body("self block", a, "bad_request")
                return
            with self.lock:
                is_blocked = (blocker, target_user) in self.blocked_pairs
            target = not is_blocked if rng.random() < 0.8 else is_blocked
            method = "POST" if target else "DELETE"
            try:
                a = client.call(method, "/users/block", {"blockerId": blocker, "blockedId": target_user})
            except Maybe as m:
                self.stats.inc("block maybe")
                self.resolve_block(client, rng, blocker, target_user, m.start)
                return
            self.stats.inc("block %s %d" % (method, a.status))
            if a.status != 204:
                self.unexpected("%s /users/block" % method, a)
                return
            with self.lock:
                self.blocks[(blocker, target_user)].change(a.start, a.end, target)
                if target:
                    self.blocked_pairs.add((blocker, target_user))
                else:
                    self.blocked_pairs.discard((blocker, target_user))
        finally:
            lock.release()

    def call_or_none(self, client, method, path, body=None):
        try:
            return client.call(method, path, body)
        except Maybe:
            return None

    def resolve_block(self, client, rng, blocker, blocked, start):
        """After a block call without an answer: a probe message from blocked to blocker tells (the lock is held)."""
        while True:
            probe_start = now_us()
            status = self.send_direct(client, rng, blocked, blocker, probe=True)
            if status is None:
                continue
            if status not in (201, 403):
                return
            state = status == 403
            with self.lock:
                self.blocks[(blocker, blocked)].change(start, probe_start, state)
                if state:
                    self.blocked_pairs.add((blocker, blocked))
                else:
                    self.blocked_pairs.discard((blocker, blocked))
            return

    def op_read(self, client, rng):
        with self.lock:
            users = list(self.users)
        user = rng.choice(users)
        mode = rng.random()
        after = None
        if mode < 0.5:
            after = self.seen_max.get(user)  # polling from the newest date a reader saw
        elif mode < 0.7 and self.seen_max.get(user):
            after = self.seen_max[user] - rng.randint(0, 3_000_000)
        limit = rng.choice((1, 2, 5, 20, 50, 200, None))
        for _ in range(rng.randint(1, 4)):
            query = []
            if after is not None:
                query.append("date=%s" % format_date(after))
            if limit is not None:
                query.append("limit=%d" % limit)
            path = "/messages/%s%s" % (user, ("?" + "&".join(query)) if query else "")
            try:
                a = client.call("GET", path)
            except Maybe:
                return
            self.stats.inc("read %d" % a.status)
            if a.status != 200:
                self.unexpected("GET %s" % path, a)
                return
            token = self.check_page(user, after, a, path, limit)
            if token is None:
                return
            after = token

    def check_page(self, user, after, a, path, limit):
        """Checks one page at once; records it for the final check; returns the next date or None."""
        body = a.body if isinstance(a.body, dict) else {}
        messages = body.get("messages")
        if not isinstance(messages, list):
            self.findings.add("page", "GET %s: no messages list: %r" % (path, body))
            return None
        entries = []
        last = after
        ids = set()
        for m in messages:
            try:
                d = parse_date(m["date"])
            except (KeyError, ValueError, TypeError):
                self.findings.add("page", "GET %s: bad date in %r" % (path, m))
                return None
            if last is not None and d <= last:
                self.findings.add("page order", "GET %s: date %s not after %s" % (path, m["date"], format_date(last)))
            if m.get("recipient") != user:
                self.findings.add("page", "GET %s: recipient %r" % (path, m.get("recipient")))
            if m.get("messageId") in ids:
                self.findings.add("page duplicate", "GET %s: messageId %s twice" % (path, m.get("messageId")))
            ids.add(m.get("messageId"))
            last = d
            entries.append((d, m.get("messageId")))
        if limit is not None and len(messages) > limit or limit is None and len(messages) > 50:
            self.findings.add("page", "GET %s: %d messages, more than the limit" % (path, len(messages)))
        token = body.get("nextPageToken")
        if token is not None:
            if not entries or token != messages[-1]["date"]:
                self.findings.add("page token", "GET %s: nextPageToken %r is not the last date" % (path, token))
                return None
            token = parse_date(token)
        with self.lock:
            self.pages.append((user, after, entries, token is not None, a.epoch))
            if entries and entries[-1][0] > self.seen_max.get(user, 0):
                self.seen_max[user] = entries[-1][0]
        return token

    def op_new_user(self, client, rng):
        try:
            a = client.call("POST", "/users")
        except Maybe:
            with self.lock:
                self.maybe_users += 1
            return
        if a.status != 201:
            self.unexpected("POST /users", a)
            return
        u = a.body["userId"]
        with self.lock:
            self.blocker_locks[u] = threading.Lock()
            self.users.append(u)

    def op_new_group(self, client, rng):
        try:
            a = client.call("POST", "/groups")
        except Maybe:
            return
        if a.status != 201:
            self.unexpected("POST /groups", a)
            return
        g = a.body["groupId"]
        with self.lock:
            self.group_locks[g] = threading.Lock()
            self.members[g] = set()
            self.groups.append(g)

    OPS = [
        ("direct", 40), ("group", 15), ("read", 25), ("membership", 12), ("block", 6),
        ("user", 0.05), ("group_create", 0.02),
    ]

    def worker(self, index):
        rng = random.Random("%s/%d" % (self.seed, index))
        client = Client(self.gate, self.stats)
        names = [n for n, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        ops = {"direct": self.op_direct, "group": self.op_group_send, "read": self.op_read,
               "membership": self.op_membership, "block": self.op_block, "user": self.op_new_user,
               "group_create": self.op_new_group}
        try:
            while not self.gate.stopping:
                name = rng.choices(names, weights)[0]
                try:
                    ops[name](client, rng)
                except Maybe:
                    pass
        except SoakError as error:
            self.findings.add("load", str(error))
        except Exception as error:  # a bug of the soak itself: report and stop the thread
            self.findings.add("soak error", "%s: %r" % (type(error).__name__, error))
            raise

    # -- the run ------------------------------------------------------------

    def run(self):
        a = self.args
        print("soak: seed %s, %d cycles of %.1f-%.1f s, %d threads, %d users, %d groups of ~%d, fan-out batch %d"
              % (self.seed, a.cycles, a.min_seconds, a.max_seconds, a.threads, a.users, a.groups, a.group_size,
                 a.fanout_batch), flush=True)
        began = time.monotonic()
        server = ServerProcess(a.binary, a.data, ["--fanout-batch", str(a.fanout_batch)], a.out)
        self.server = server
        server.start()
        self.gate.open(server.starts, server.port)
        setup_client = Client(self.gate, self.stats)
        self.setup(setup_client)
        threads = [threading.Thread(target=self.worker, args=(i,), daemon=True) for i in range(a.threads)]
        for t in threads:
            t.start()
        restart_times = []
        controller = Client(self.gate, self.stats)
        for cycle in range(a.cycles):
            seconds = self.rng.uniform(a.min_seconds, a.max_seconds)
            time.sleep(seconds)
            if not server.alive():
                self.findings.add("crash", "msgstore serve exited by itself with %s in cycle %d"
                                  % (server.process.returncode, cycle))
            pending = self.fanout_pending(server.port)
            if pending:
                self.kills_mid_fanout += 1
            self.gate.close()
            server.kill()
            self.gate.kill_times[server.starts] = now_us()
            restart_times.append(server.start())
            self.gate.open(server.starts, server.port)
            health = controller.call("GET", "/health")
            if health.status != 200:
                self.unexpected("GET /health after restart %d" % server.starts, health)
            self.cycle_log.append(seconds)
            if (cycle + 1) % 10 == 0 or cycle + 1 == a.cycles:
                print("soak: %d/%d kills, %d requests, %d without answer, %d findings, %.0f s"
                      % (cycle + 1, a.cycles, self.stats.c["requests"], self.stats.c["maybe"],
                         self.findings.total(), time.monotonic() - began), flush=True)
        # The last restart is up: stop the load (threads finish and resolve what they hold).
        self.gate.stopping = True
        for t in threads:
            t.join(timeout=120)
            if t.is_alive():
                self.findings.add("load", "a load thread did not stop within 120 s")
        client = Client(self.gate, self.stats)
        drained = self.drain(client)
        end_of_run = now_us()
        inboxes = self.read_all(client)
        self.check_everything(client, inboxes, end_of_run if drained else None)
        health = client.call("GET", "/health")
        if health.status != 200:
            self.unexpected("GET /health at the end", health)
        stopping = time.monotonic()
        status = server.terminate(timeout=20)
        stop_seconds = time.monotonic() - stopping
        if status != 0:
            self.findings.add("shutdown", "msgstore serve exited with %r on SIGTERM" % (status,))
        elif stop_seconds > 10:
            self.findings.add("shutdown", "msgstore serve took %.1f s to exit on SIGTERM (docs/api.md: within 10 s)"
                              % stop_seconds)
        verify = subprocess.run([a.binary, "verify", a.data], capture_output=True, text=True)
        with open(os.path.join(a.out, "verify.txt"), "w") as f:
            f.write(verify.stdout + verify.stderr)
        if verify.returncode != 0:
            self.findings.add("verify", "msgstore verify exited %d: %s"
                              % (verify.returncode, (verify.stdout + verify.stderr).strip().splitlines()[-1:]))
        self.report(time.monotonic() - began, restart_times)
        return self.findings.total() == 0

    def fanout_pending(self, port):
        """Group messages accepted and not yet fully delivered (depth of the fan-out queue), or 0."""
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/admin/queues/fanout")
            body = json.loads(conn.getresponse().read())
            conn.close()
            return body.get("depth", 0)
        except (OSError, ValueError, http.client.HTTPException):
            return 0

    def drain(self, client, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            a = client.call("GET", "/admin/queues/fanout")
            if a.status != 200:
                self.unexpected("GET /admin/queues/fanout", a)
                return False
            if a.body.get("deadLetters", 0) or a.body.get("deadLetteredTotal", 0):
                self.findings.add("dead letter", "fan-out queue: %r" % (a.body,))
            if a.body.get("depth") == 0 and a.body.get("inFlight") == 0:
                return True
            time.sleep(0.05)
        self.findings.add("fan-out", "the fan-out queue did not drain within %d s" % timeout)
        return False

    def read_all(self, client):
        inboxes = {}
        with self.lock:
            users = list(self.users)
        for u in users:
            messages, after = [], None
            while True:
                path = "/messages/%s?limit=1000%s" % (u, "" if after is None else "&date=" + format_date(after))
                a = client.call("GET", path)
                if a.status != 200:
                    self.unexpected("final read GET %s" % path, a)
                    break
                page = a.body.get("messages", [])
                messages.extend(page)
                token = self.check_page(u, after, a, path, 1000)
                if token is None:
                    break
                after = token
            inboxes[u] = messages
        self.stats.inc("final messages", sum(len(m) for m in inboxes.values()))
        return inboxes

    # -- the checks ---------------------------------------------------------

    def check_everything(self, client, inboxes, end_of_run):
        F = self.findings
        by_date = {}  # date -> messageId (one message per date, whatever the inbox)
        copies = defaultdict(list)  # messageId -> [(user, message dict)]
        final_dates = {}
        direct_seen = Counter()
        for user, messages in inboxes.items():
            dates = []
            seen_ids = set()
            for m in messages:
                d = parse_date(m.get("date"))
                mid = m.get("messageId")
                if dates and d <= dates[-1]:
                    F.add("inbox order", "inbox of %s: %s after %s" % (user, m.get("date"), format_date(dates[-1])))
                dates.append(d)
                if mid in seen_ids:
                    F.add("duplicate", "inbox of %s holds message %s twice" % (user, mid))
                seen_ids.add(mid)
                other = by_date.setdefault(d, mid)
                if other != mid:
                    F.add("date reused", "date %s names messages %s and %s" % (m.get("date"), other, mid))
                content = m.get("content", "")
                tok = content.split("|", 1)[0]
                if "groupId" in m:
                    copies[mid].append((user, m, d))
                else:
                    record = self.direct.get(tok)
                    if record is None:
                        F.add("phantom", "inbox of %s holds direct message %s that no client sent: %r"
                              % (user, mid, content[:40]))
                        continue
                    direct_seen[tok] += 1
                    self.check_direct_copy(user, m, d, record)
            final_dates[user] = (dates, [m.get("messageId") for m in messages])
        # Direct sends: acked exactly once, refused never, maybe at most once.
        counts = Counter()
        for tok, r in self.direct.items():
            outcome = r.get("outcome", "maybe")
            counts["direct " + outcome] += 1
            n = direct_seen[tok]
            if outcome == "acked" and n != 1:
                F.add("lost" if n == 0 else "duplicate",
                      "acknowledged direct message %s (%s → %s, date %s) is in the inbox %d times"
                      % (r["messageId"], r["sender"], r["recipient"], format_date(r["date"]), n))
            elif outcome == "refused" and n:
                F.add("refused but stored", "direct message %s answered %s is in the inbox" % (tok, r.get("status")))
            elif outcome == "maybe" and n:
                counts["direct maybe stored"] += 1
            if outcome == "maybe" and n > 1:
                F.add("duplicate", "unanswered direct message %s is in the inbox %d times" % (tok, n))
            if outcome in ("acked", "refused") and r.get("status") in (201, 403):
                self.check_block_rule(r)
        # Group sends.
        self.candidates = defaultdict(list)  # group -> every user ever added
        for (g, u), tl in list(self.membership.items()):
            if tl.changes:
                self.candidates[g].append(u)
        by_token = {}
        for mid, cs in copies.items():
            tok = cs[0][1].get("content", "").split("|", 1)[0]
            by_token.setdefault(tok, []).append(mid)
        for tok, mids in by_token.items():
            if tok not in self.group_sends:
                F.add("phantom", "group message %s that no client sent" % mids)
            if len(mids) > 1:
                F.add("duplicate", "group send %s delivered under %d messageIds" % (tok, len(mids)))
        for tok, r in self.group_sends.items():
            outcome = r.get("outcome", "maybe")
            counts["group " + outcome] += 1
            mids = by_token.get(tok, [])
            if outcome == "refused":
                if mids:
                    F.add("refused but stored", "group message %s answered %s was delivered" % (tok, r.get("status")))
                if r.get("status") == 403:
                    tl = self.membership[(r["group"], r["sender"])]
                    if False not in tl.possible(r["start"], r["end"]):
                        F.add("403 for a member", "group send %s refused though %s was a member"
                              % (tok, r["sender"]))
                continue
            if outcome == "acked":
                tl = self.membership[(r["group"], r["sender"])]
                if True not in tl.possible(r["start"], r["end"]):
                    F.add("202 for a non-member", "group send %s accepted though %s was not a member"
                          % (tok, r["sender"]))
                if mids and mids[0] != r["messageId"]:
                    F.add("group copy", "group send %s: copies carry messageId %s, the 202 said %s"
                          % (tok, mids[0], r["messageId"]))
            cs = copies.get(mids[0], []) if mids else []
            if outcome == "maybe" and cs:
                counts["group maybe delivered"] += 1
            self.check_group_delivery(r, cs, end_of_run)
        # Acknowledged dates: unique, and later than every date acknowledged before a restart.
        acked = sorted(self.acked_dates)
        for (d1, _, m1, w1), (d2, _, m2, w2) in zip(acked, acked[1:]):
            if d1 == d2:
                F.add("date reused", "%s and %s were both acknowledged with date %s" % (w1, w2, format_date(d1)))
        max_before = None
        by_epoch = defaultdict(list)
        for d, e, _, w in acked:
            by_epoch[e].append((d, w))
        for e in sorted(by_epoch):
            lo = min(by_epoch[e])
            if max_before is not None and lo[0] <= max_before[0]:
                F.add("date after restart", "%s acknowledged after restart %d with %s, not after %s of %s"
                      % (lo[1], e - 1, format_date(lo[0]), format_date(max_before[0]), max_before[1]))
            hi = max(by_epoch[e])
            if max_before is None or hi > max_before:
                max_before = hi
        # Pages read during the load: exactly the final inbox's messages in their range.
        for user, after, entries, more, epoch in self.pages:
            dates, ids = final_dates.get(user, ([], []))
            if not entries:
                continue
            lo = 0 if after is None else bisect.bisect_right(dates, after)
            hi = bisect.bisect_right(dates, entries[-1][0])
            expected = list(zip(dates[lo:hi], ids[lo:hi]))
            if expected != entries:
                got, want = set(entries), set(expected)
                F.add("visibility", "a page of %s read in epoch %d (after %s, %d messages) differs from the final inbox: "
                      "%d later appeared in its range, %d it showed are gone"
                      % (user, epoch, format_date(after) if after else "-", len(entries),
                         len(want - got), len(got - want)))
        # Users, groups and members.
        with self.lock:
            groups = list(self.groups)
            members = {g: set(s) for g, s in self.members.items()}
        for g in groups:
            a = client.call("GET", "/groups/%s/members" % g)
            if a.status != 200:
                self.unexpected("final GET members of %s" % g, a)
                continue
            actual = a.body.get("members", [])
            if len(actual) != len(set(actual)):
                F.add("membership", "group %s lists a member twice" % g)
            if set(actual) != members[g]:
                F.add("membership", "group %s: members %d, expected %d (missing %s, extra %s)"
                      % (g, len(actual), len(members[g]), sorted(members[g] - set(actual))[:3],
                         sorted(set(actual) - members[g])[:3]))
        self.counts = counts

    def check_direct_copy(self, user, m, d, r):
        F = self.findings
        if r["recipient"] != user:
            F.add("misdelivered", "direct message %s for %s is in the inbox of %s" % (r["token"], r["recipient"], user))
        if m.get("sender") != r["sender"] or m.get("content") != r["content"]:
            F.add("direct copy", "direct message %s: sender/content differ" % r["token"])
        if m.get("sentAt") != m.get("date"):
            F.add("direct copy", "direct message %s: sentAt %s != date %s" % (r["token"], m.get("sentAt"), m.get("date")))
        if r.get("outcome") == "acked":
            if m.get("messageId") != r["messageId"] or d != r["date"]:
                F.add("direct copy", "direct message %s: stored as %s at %s, acknowledged as %s at %s"
                      % (r["token"], m.get("messageId"), m.get("date"), r["messageId"], format_date(r["date"])))
        elif r.get("outcome") == "maybe":
            # Stored without an answer: it must have been allowed by the blocks when it was sent.
            tl = self.blocks.get((r["recipient"], r["sender"]))
            kill = self.gate.kill_times.get(r.get("epoch"), now_us())
            if tl is not None and tl.certainly(True, r["start"], kill):
                F.add("blocked but stored", "unanswered direct message %s from a blocked sender is in the inbox"
                      % r["token"])

    def check_block_rule(self, r):
        tl = self.blocks.get((r["recipient"], r["sender"]))
        states = tl.possible(r["start"], r["end"]) if tl is not None else {False}
        if r["status"] == 201 and False not in states:
            self.findings.add("block ignored", "direct message %s from %s to %s accepted though blocked"
                              % (r["token"], r["sender"], r["recipient"]))
        if r["status"] == 403 and True not in states:
            self.findings.add("403 without block", "direct message %s from %s to %s refused though not blocked"
                              % (r["token"], r["sender"], r["recipient"]))

    def check_group_delivery(self, r, cs, end_of_run):
        """The membership rule of docs/fanout.md for one group message and its copies."""
        F = self.findings
        tok, g = r["token"], r["group"]
        if r.get("outcome") == "maybe" and not cs:
            return
        got = {}
        sent_at = r.get("date")
        for user, m, d in cs:
            if user in got:
                F.add("duplicate", "group message %s: two copies for %s" % (tok, user))
            got[user] = d
            try:
                s = parse_date(m.get("sentAt"))
            except ValueError:
                F.add("group copy", "group message %s: bad sentAt %r" % (tok, m.get("sentAt")))
                continue
            if sent_at is None:
                sent_at = s
            if s != sent_at:
                F.add("group copy", "group message %s: copy for %s has sentAt %s, expected %s"
                      % (tok, user, m.get("sentAt"), format_date(sent_at)))
            if d <= s:
                F.add("group copy", "group message %s: copy for %s dated %s, not after its sentAt %s"
                      % (tok, user, m.get("date"), m.get("sentAt")))
            if m.get("groupId") != g or m.get("sender") != r["sender"] or m.get("content") != r["content"]:
                F.add("group copy", "group message %s: copy for %s has other groupId/sender/content" % (tok, user))
        if sent_at is None:
            return
        candidates = self.candidates.get(g, ())
        # Recipients: a member at some moment between the send and their copy's batch.
        for user, d in got.items():
            tl = self.membership.get((g, user))
            if tl is None or True not in tl.possible(sent_at, d):
                F.add("delivered to a non-member", "group message %s reached %s, not a member from %s to %s"
                      % (tok, user, format_date(sent_at), format_date(d)))
        # Members who must have it: a member during the whole time from the send to the batch
        # that served any recipient sorting after them (that batch, or an earlier one, covered
        # their id), or to the end of the run.
        recipients = sorted(got)
        for user in candidates:
            if user in got:
                continue
            tl = self.membership[(g, user)]
            i = bisect.bisect_right(recipients, user)
            later = [got[v] for v in recipients[i:]]
            bound = min(later) if later else end_of_run
            if bound is not None and tl.certainly(True, sent_at, bound):
                F.add("missed member", "group message %s (%s, sentAt %s) did not reach %s, a member until %s"
                      % (tok, r.get("outcome"), format_date(sent_at), user, format_date(bound)))

    def report(self, duration, restart_times):
        c = self.stats.c
        counts = getattr(self, "counts", Counter())
        print("soak: seed %s" % self.seed)
        print("soak: %d kills, %.0f s, %d requests answered (%d direct sends, %d group sends, %d inbox pages, "
              "%d membership, %d block calls), %d without answer (server killed)"
              % (len(self.cycle_log), duration, c["requests"],
                 sum(v for k, v in c.items() if k.startswith("direct ")),
                 sum(v for k, v in c.items() if k.startswith("group ") and k[6:].isdigit()),
                 sum(v for k, v in c.items() if k.startswith("read ")),
                 sum(v for k, v in c.items() if k.startswith("membership ") and "maybe" not in k),
                 sum(v for k, v in c.items() if k.startswith("block ") and "maybe" not in k),
                 c["maybe"]))
        print("soak: %d of the %d kills hit while the fan-out queue held undelivered group messages"
              % (self.kills_mid_fanout, len(self.cycle_log)))
        print("soak: checked %d acknowledged direct messages, %d acknowledged group messages, %d refused "
              "direct / %d refused group sends, %d / %d unanswered (%d / %d of them stored); %d messages in %d inboxes; %d pages; "
              "restart to listening: median %.2f s, max %.2f s"
              % (counts["direct acked"], counts["group acked"], counts["direct refused"], counts["group refused"],
                 counts["direct maybe"], counts["group maybe"], counts["direct maybe stored"],
                 counts["group maybe delivered"], c["final messages"], len(self.users),
                 len(self.pages), sorted(restart_times)[len(restart_times) // 2] if restart_times else 0,
                 max(restart_times) if restart_times else 0))
        if self.findings.total():
            print("soak: %d findings:" % self.findings.total())
            for kind, n in self.findings.counts.most_common():
                print("  %6d %s" % (n, kind))
            for item in self.findings.items[:50]:
                print("  - " + item)
            print("soak: 0 passed, 1 failed")
        else:
            print("soak: no findings")
            print("soak: 1 passed, 0 failed")


def format_date(us):
    if us is None:
        return None
    seconds, micro = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%06dZ" % micro


def main():
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", default=env("MSGSTORE_BINARY", ".build/release/msgstore"))
    p.add_argument("--cycles", type=int, default=int(env("SOAK_CYCLES", "10")), help="SIGKILLs (SOAK_CYCLES)")
    p.add_argument("--seed", default=env("SOAK_SEED") or str(random.SystemRandom().randrange(1 << 32)))
    p.add_argument("--min-seconds", type=float, default=float(env("SOAK_MIN_SECONDS", "1")))
    p.add_argument("--max-seconds", type=float, default=float(env("SOAK_MAX_SECONDS", "4")))
    p.add_argument("--threads", type=int, default=int(env("SOAK_THREADS", "8")))
    p.add_argument("--users", type=int, default=int(env("SOAK_USERS", "40")))
    p.add_argument("--groups", type=int, default=int(env("SOAK_GROUPS", "6")))
    p.add_argument("--group-size", type=int, default=int(env("SOAK_GROUP_SIZE", "10")))
    p.add_argument("--fanout-batch", type=int, default=int(env("SOAK_FANOUT_BATCH", "3")),
                   help="msgstore serve --fanout-batch: small, so fan-outs take several batches and kills land between them")
    p.add_argument("--data", default=env("SOAK_DATA"), help="data directory (default: a new temporary one, removed if clean)")
    p.add_argument("--out", default=env("SOAK_OUT", os.path.join(tempfile.gettempdir(), "msgstore-soak")))
    a = p.parse_args()
    a.seed = str(a.seed)
    a.binary = os.path.abspath(a.binary)
    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(a.out)
    temporary = a.data is None
    if temporary:
        a.data = tempfile.mkdtemp(prefix="msgstore-soak-data.")
    soak = Soak(a)
    try:
        ok = soak.run()
    except SoakError as error:
        print("soak: %s" % error)
        print("soak: 0 passed, 1 failed")
        ok = False
    finally:
        soak.gate.stopping = True
        server = getattr(soak, "server", None)
        if server is not None and server.alive():
            server.kill()
    if ok and temporary:
        shutil.rmtree(a.data, ignore_errors=True)
    elif not ok:
        print("soak: data directory kept at %s, logs in %s" % (a.data, a.out))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
