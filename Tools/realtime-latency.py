#!/usr/bin/env python3
"""Send-to-delivery latency of real-time delivery, through a real `msgstore serve`.

Starts the server (release build by default) on a fresh data directory and a
free port of 127.0.0.1, then measures, one message at a time:

  * stream:    a client holds GET /messages/{bob}/events open; for each direct
               message, the time from just before the POST is sent to the
               arrival of its event;
  * long poll: a client holds GET /messages/{bob}?date=<last>&wait=30; the
               sender waits until that poll is held (20 ms after the previous
               answer), then the same time from just before the POST to the
               arrival of the poll's answer;
  * send:      the POST's own round trip (201 once durable), for reference.

Prints p50/p90/p99/max of each. Only loopback traffic; bounded in count and time.

  Tools/realtime-latency.py                        # 500 messages each, --sync always, engine storage
  Tools/realtime-latency.py --count 1000 --storage memory
  MSGSTORE_BINARY=.build/debug/msgstore Tools/realtime-latency.py --count 200
"""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def summary(name, seconds):
    ms = [value * 1000 for value in seconds]
    return "%-9s n=%-5d p50 %7.3f ms   p90 %7.3f ms   p99 %7.3f ms   max %7.3f ms   mean %7.3f ms" % (
        name, len(ms), percentile(ms, 0.50), percentile(ms, 0.90), percentile(ms, 0.99), max(ms), statistics.mean(ms))


class Server:
    def __init__(self, binary, storage, sync):
        self.data = tempfile.mkdtemp(prefix="msgstore-latency-")
        self.process = subprocess.Popen(
            [binary, "serve", "--data", self.data, "--port", "0", "--no-request-log", "--storage", storage, "--sync", sync],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        deadline = time.time() + 30
        self.port = None
        while self.port is None:
            if time.time() > deadline or self.process.poll() is not None:
                raise SystemExit("msgstore serve did not start")
            line = self.process.stdout.readline()
            match = re.search(r"listening on http://[^:]+:(\d+)", line)
            if match:
                self.port = int(match.group(1))

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        finally:
            shutil.rmtree(self.data, ignore_errors=True)


def request(connection, method, path, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    data = response.read()
    return response.status, (json.loads(data) if data else None)


def measure_stream(port, alice, bob, count, sender):
    arrivals = {}
    ready = threading.Event()
    done = threading.Event()

    def reader():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", "/messages/%s/events" % bob, headers={"Accept": "text/event-stream"})
        response = connection.getresponse()
        assert response.status == 200, response.status
        ready.set()
        while len(arrivals) < count:
            line = response.readline()
            if not line:
                break
            if line.startswith(b"data: "):
                arrivals[json.loads(line[6:])["messageId"]] = time.perf_counter()
        done.set()
        connection.close()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    ready.wait(10)
    time.sleep(0.2)
    sent_at, round_trips = {}, []
    for number in range(count):
        start = time.perf_counter()
        status, body = request(sender, "POST", "/messages/user/%s" % bob, {"sender": alice, "content": "s%d" % number})
        round_trips.append(time.perf_counter() - start)
        assert status == 201, status
        sent_at[body["messageId"]] = start
        time.sleep(0.002)
    done.wait(30)
    latencies = [arrivals[key] - start for key, start in sent_at.items() if key in arrivals]
    if len(latencies) != count:
        raise SystemExit("stream: %d of %d events arrived" % (len(latencies), count))
    return latencies, round_trips


def measure_long_poll(port, alice, bob, count, sender):
    poller = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    _, page = request(poller, "GET", "/messages/%s?limit=1000" % bob)
    cursor = page["messages"][-1]["date"] if page["messages"] else None
    latencies = []
    for number in range(count):
        result = {}

        def poll():
            path = "/messages/%s?wait=30" % bob + ("&date=%s" % cursor if cursor else "")
            status, body = request(poller, "GET", path)
            result["at"] = time.perf_counter()
            result["page"] = body
            assert status == 200, status

        thread = threading.Thread(target=poll)
        thread.start()
        time.sleep(0.02)  # the poll is held by now
        start = time.perf_counter()
        status, body = request(sender, "POST", "/messages/user/%s" % bob, {"sender": alice, "content": "p%d" % number})
        assert status == 201, status
        thread.join(30)
        messages = result["page"]["messages"]
        assert [m["messageId"] for m in messages] == [body["messageId"]], messages
        cursor = messages[-1]["date"]
        latencies.append(result["at"] - start)
    return latencies


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500, help="messages per measurement (max 5000)")
    parser.add_argument("--storage", choices=["engine", "memory"], default="engine")
    parser.add_argument("--sync", choices=["always", "none"], default="always")
    arguments = parser.parse_args()
    count = max(1, min(arguments.count, 5000))
    binary = os.environ.get("MSGSTORE_BINARY") or os.path.join(ROOT, ".build/release/msgstore")
    server = Server(binary, arguments.storage, arguments.sync)
    try:
        sender = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        _, body = request(sender, "POST", "/users")
        alice = body["userId"]
        _, body = request(sender, "POST", "/users")
        bob = body["userId"]
        stream, sends = measure_stream(server.port, alice, bob, count, sender)
        poll = measure_long_poll(server.port, alice, bob, count, sender)
        print("msgstore serve (%s, --storage %s --sync %s), one message at a time, loopback:"
              % (os.path.relpath(binary, ROOT), arguments.storage, arguments.sync))
        print(summary("stream", stream))
        print(summary("long poll", poll))
        print(summary("send", sends))
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
