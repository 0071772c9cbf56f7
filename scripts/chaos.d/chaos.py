#!/usr/bin/env python3
"""The chaos suite (issue 8): a steady load of creates, accepts and cancels against real
weelo-api and weelo-worker processes on PRIVATE PostgreSQL and Redis instances, while faults are
injected (kill -9 a worker, kill -9 an API, restart Redis with its AOF, restart PostgreSQL). After
the load and a recovery window, an auditor checks the invariants from the database and Redis and
prints the counts. Standard library only. Run through scripts/chaos (which starts and stops the
private services and cleans up); see `scripts/chaos --help`.
"""

import argparse
import base64
import collections
import hashlib
import hmac
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import traceback
import uuid

HOST = "127.0.0.1"
QUEUES = []  # read from `weelo-worker queues` in main(): the worker's own list
OPEN = ("active", "partially_filled")
PICKUP = (19.0, 73.0)

# quick: bounded (the one `just test` runs); full: longer, more users, every fault twice.
MODES = {
    "quick": dict(
        timeout=15, load=40, customers=14, transporters=22, vehicles=12,
        faults=[(5, "kill_worker", 0), (11, "kill_api", 1), (18, "restart_redis", None), (26, "restart_pg", None)],
    ),
    "full": dict(
        timeout=20, load=170, customers=30, transporters=40, vehicles=30,
        faults=[
            (15, "kill_worker", 0), (35, "kill_api", 1), (55, "restart_redis", None), (80, "restart_pg", None),
            (100, "kill_worker", 1), (115, "kill_api", 0), (130, "restart_redis", None), (145, "restart_pg", None),
        ],
    ),
}


def now():
    return time.time()


class Log:
    t0 = time.time()
    lock = threading.Lock()

    @classmethod
    def say(cls, msg):
        with cls.lock:
            print(f"chaos [{time.time() - cls.t0:6.1f}s] {msg}", flush=True)


say = Log.say


# ------------------------------------------------------------------------------------- redis ---
class RedisError(Exception):
    pass


class Redis:
    """A tiny RESP2 client (one connection, reconnects on the next command after a failure)."""

    def __init__(self, port, timeout=5.0):
        self.port, self.timeout, self.sock, self.f = port, timeout, None, None

    def close(self):
        try:
            if self.sock:
                self.sock.close()
        except OSError:
            pass
        self.sock = self.f = None

    def _conn(self):
        if self.sock is None:
            self.sock = socket.create_connection((HOST, self.port), timeout=self.timeout)
            self.f = self.sock.makefile("rb")

    def cmd(self, *args):
        try:
            self._conn()
            out = [b"*%d\r\n" % len(args)]
            for a in args:
                b = a if isinstance(a, bytes) else str(a).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(b), b))
            self.sock.sendall(b"".join(out))
            return self._read()
        except (OSError, EOFError):
            self.close()
            raise

    def _read(self):
        line = self.f.readline()
        if not line:
            raise EOFError("redis closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RedisError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2].decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RedisError(f"unexpected reply {line!r}")

    def scan(self, pattern):
        cursor, keys = "0", []
        while True:
            cursor, batch = self.cmd("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            keys.extend(batch)
            if cursor == "0":
                return keys


# ---------------------------------------------------------------------------------- postgres ---
class Pg:
    def __init__(self, url):
        self.url = url

    def run(self, sql, timeout=60):
        env = dict(os.environ, PGCONNECT_TIMEOUT="5")
        r = subprocess.run(
            ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", self.url, "-f", "-"],
            input=sql, capture_output=True, text=True, timeout=timeout, env=env,
        )
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr.strip()}\n  SQL: {sql[:300]}")
        return r.stdout.strip()

    def rows(self, query):
        return json.loads(self.run(f"SELECT coalesce(json_agg(x), '[]'::json) FROM ({query}) x") or "[]")

    def one(self, query):
        rows = self.rows(query)
        return rows[0] if rows else None

    def scalar(self, query):
        return self.run(query)


# ----------------------------------------------------------------------------------- tokens ---
def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(secret, sub, role, ttl=7200):
    t = int(now())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"sub": sub, "role": role, "jti": str(uuid.uuid4()), "iat": t, "exp": t + ttl}).encode())
    sig = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64(sig)}"


# --------------------------------------------------------------------------------- processes ---
class Proc:
    """One weelo-api or weelo-worker process we started (and may kill -9)."""

    def __init__(self, name, binary, env, log_path, ready_url):
        self.name, self.binary, self.env, self.log_path, self.ready_url = name, binary, env, log_path, ready_url
        self.p, self.killed, self.exits = None, False, []

    def start(self, suffix=""):
        log = open(self.log_path + suffix, "ab")
        # Own session: a Ctrl-C reaches the harness, which stops these itself.
        self.p = subprocess.Popen([self.binary], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.killed = False
        return self.p.pid

    def wait_ready(self, timeout=60):
        deadline = now() + timeout
        while now() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.p.returncode} while starting; log {self.log_path}")
            try:
                c = http.client.HTTPConnection(HOST, int(self.ready_url.rsplit(":", 1)[1]), timeout=2)
                c.request("GET", "/health/ready")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready within {timeout}s; log {self.log_path}")

    def kill9(self):
        self.killed = True
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()

    def stop(self, grace=5):
        if self.p is None or self.p.poll() is not None:
            return
        self.killed = True
        self.p.terminate()
        try:
            self.p.wait(grace)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------------------------------- the ledger ---
class Ledger:
    """What the load clients saw: every outcome, for the report and the client-side checks."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.latency = collections.defaultdict(list)
        self.created = {}  # broadcast id -> customer
        self.accepted = []  # (broadcast, truck request, transporter, vehicle)
        self.accept_unknown = set()  # (broadcast, transporter) with an accept of unknown outcome
        self.cancelled = []  # broadcast ids a 200 cancel answered for
        self.errors = collections.Counter()  # transport or 5xx, by op and kind
        self.error_times = []  # (t, op, kind)

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def error(self, op, kind):
        with self.lock:
            self.errors[(op, kind)] += 1
            self.error_times.append((now(), op, kind))

    def lat(self, op, secs):
        with self.lock:
            self.latency[op].append(secs)


# ---------------------------------------------------------------------------------- clients ---
RETRY_CODES = {"IDEMPOTENCY_IN_PROGRESS", "RATE_LIMITED", "DEPENDENCY_UNAVAILABLE"}


class Client:
    """One user's HTTP client: keep-alive per API, tolerant of faults (retries with the same key)."""

    def __init__(self, chaos, user, role, token):
        self.chaos, self.user, self.role, self.token = chaos, user, role, token
        self.conns = {}
        self.rnd = random.Random(hash(user))

    def _once(self, api, method, path, body, key):
        c = self.conns.get(api)
        if c is None:
            c = self.conns[api] = http.client.HTTPConnection(HOST, api, timeout=6)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        try:
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            raw = r.read()
        except Exception:
            c.close()
            self.conns.pop(api, None)
            raise
        try:
            js = json.loads(raw) if raw else None
        except ValueError:
            js = None
        return r.status, js

    def call(self, op, method, path, body=None, key=None, until=None, retry=True):
        """Returns (status, json) of the first definitive answer, or (None, None) when it gave up."""
        ledger = self.chaos.ledger
        delay = 0.2
        apis = self.chaos.api_ports
        api = self.rnd.choice(apis)
        while True:
            started = now()
            try:
                status, js = self._once(api, method, path, body, key)
                ledger.lat(op, now() - started)
                code = (js or {}).get("code") if isinstance(js, dict) else None
                if status < 500 and code not in RETRY_CODES:
                    return status, js
                ledger.error(op, f"{status}:{code}" if code else str(status))
            except (OSError, http.client.HTTPException) as e:
                ledger.error(op, type(e).__name__)
                api = self.rnd.choice(apis)  # that API may be down: maybe try the other
            if not retry or (until is not None and now() + delay > until):
                return None, None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def problem_code(js):
    return js.get("code") if isinstance(js, dict) else None


# ------------------------------------------------------------------------------------ chaos ---
class Chaos:
    def __init__(self, args):
        self.args = args
        m = dict(MODES[args.mode])
        for k in ("timeout", "load", "customers", "transporters", "vehicles"):
            v = getattr(args, k)
            if v is not None:
                m[k] = v
        if args.load is not None and args.mode in MODES:
            # Faults keep their share of the load window when the load is resized.
            scale = args.load / MODES[args.mode]["load"]
            m["faults"] = [(round(t * scale, 1), a, i) for t, a, i in m["faults"]]
        if args.no_faults:
            m["faults"] = []
        self.m = m
        self.dir = args.dir
        self.pg_port, self.redis_port = args.pg_port, args.redis_port
        self.prefix = f"chaos{int(now())}"
        self.secret = "chaos-" + uuid.uuid4().hex + uuid.uuid4().hex
        self.pg = Pg(f"postgres://postgres@{HOST}:{self.pg_port}/weelo_chaos")
        self.pg_admin = Pg(f"postgres://postgres@{HOST}:{self.pg_port}/postgres")
        self.ledger = Ledger()
        self.procs = {}
        self.api_ports = []
        self.unexpected_exits = []
        self.faults_done = []  # dicts: name, target, start, end, downtime
        self.fault_lock = threading.Lock()  # process monitor waits while a fault is in progress
        self.stop_load = threading.Event()
        self.stop_all = threading.Event()
        self.load_start = self.load_end = None
        self.new_broadcast_seen = set()  # (transporter, broadcast)
        self.rt_seq = {}  # rt log key -> highest seq read
        self.rt_done = {}  # rt log key -> seqs read near the top
        self.rt_trimmed_unread = 0
        self.rt_events = collections.Counter()
        self.collector_errors = 0
        self.transporters_ready = threading.Event()
        self.customers, self.transporters = [], []
        self.pids_file = os.path.join(self.dir, "pids")

    # ------------------------------------------------------------------------ processes ---
    def server_env(self, http_port, worker_port=None, migrate=True):
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TZ") if k in os.environ}
        env.update({
            "DATABASE_URL": self.pg.url,
            "REDIS_URL": f"redis://{HOST}:{self.redis_port}",
            "WEELO_REDIS_PREFIX": self.prefix,
            "WEELO_HTTP_ADDR": f"{HOST}:{http_port}",
            "WEELO_WORKER_HTTP_ADDR": f"{HOST}:{worker_port or free_port()}",
            "WEELO_LOG_FORMAT": "json",
            "RUST_LOG": "info",
            "WEELO_MIGRATE": "true" if migrate else "false",
            "BROADCAST_TIMEOUT_SECS": str(self.m["timeout"]),
            "WEELO_RADIUS_STEP_INTERVAL_MS": "1000",
            "WEELO_CREATE_RATE_LIMIT_PER_MIN": "100000",
            "WEELO_AVAILABILITY_THROTTLE_MS": "0",
            "WEELO_JOB_POLL_INTERVAL_MS": "100",
            "WEELO_JOB_HEARTBEAT_MS": "1000",
            "WEELO_SWEEP_INTERVAL_SECS": "2",
            # Holds expire during the load (and the sweep backs their expiry job up).
            "WEELO_HOLD_SECS": "3",
            # Time runs compressed here (1 s steps, 2 s sweep): the watchdog's bound too.
            "WEELO_QUEUE_STALL_SECS": "3",
            "WEELO_OUTBOX_POLL_MS": "500",
            "WEELO_OTP_RESEND_COOLDOWN_SECS": "0",
            "WEELO_JWT_SECRET": self.secret,
            "WEELO_DB_MAX_CONNECTIONS": "10",
            "WEELO_SHUTDOWN_TIMEOUT_SECS": "3",
        })
        return env

    def record_pids(self):
        with open(self.pids_file, "w") as f:
            for p in self.procs.values():
                if p.p is not None and p.p.poll() is None:
                    f.write(f"{p.p.pid}\n")

    def add_proc(self, name, binary, env, ready_port):
        p = Proc(name, binary, env, os.path.join(self.dir, f"{name}.log"), f"http://{HOST}:{ready_port}")
        self.procs[name] = p
        p.start()
        self.record_pids()
        return p

    def start_stack(self):
        a = self.args
        ports = [free_port(), free_port()]
        self.api_ports = ports
        say(f"starting api-0 on :{ports[0]} (migrates), api-1 on :{ports[1]}, worker-0, worker-1")
        api0 = self.add_proc("api-0", a.api_bin, self.server_env(ports[0], migrate=True), ports[0])
        api0.wait_ready()
        api1 = self.add_proc("api-1", a.api_bin, self.server_env(ports[1], migrate=False), ports[1])
        for i in range(2):
            wp = free_port()
            self.add_proc(f"worker-{i}", a.worker_bin, self.server_env(free_port(), worker_port=wp), wp)
        api1.wait_ready()
        for i in range(2):
            self.procs[f"worker-{i}"].wait_ready()

    def monitor(self):
        """Any process that exits without being killed by us is a finding; it is restarted."""
        while not self.stop_all.is_set():
            with self.fault_lock:
                if self.stop_all.is_set():
                    break
                for name, p in self.procs.items():
                    if p.p is not None and p.p.poll() is not None and not p.killed:
                        rc = p.p.returncode
                        tail = tail_file(p.log_path, 5)
                        self.unexpected_exits.append({"process": name, "code": rc, "at": round(now() - self.load_start, 1)
                                                      if self.load_start else None, "log_tail": tail})
                        say(f"UNEXPECTED: {name} exited with {rc}; restarting it (log {p.log_path})")
                        p.start(suffix=".restarted")
                        self.record_pids()
            self.stop_all.wait(0.5)

    # --------------------------------------------------------------------------- faults ---
    def faults(self):
        for at, action, target in self.m["faults"]:
            wait = self.load_start + at - now()
            if wait > 0 and self.stop_load.wait(wait):
                return
            started = now()
            try:
                with self.fault_lock:
                    detail = getattr(self, "fault_" + action)(target)
            except Exception as e:  # a fault that cannot be injected fails the run
                detail = f"FAILED: {e}"
                self.fault_error = f"{action}: {e}"
                say(f"fault {action} failed: {e}")
            ended = now()
            self.faults_done.append({"fault": action, "target": target, "at": round(started - self.load_start, 1),
                                     "took": round(ended - started, 2), "detail": detail,
                                     "start": started, "end": ended})
            say(f"fault {action}{'' if target is None else ' #' + str(target)}: {detail} ({ended - started:.1f}s)")

    def fault_kill_worker(self, i):
        p = self.procs[f"worker-{i}"]
        pid = p.p.pid
        p.kill9()
        time.sleep(2)  # the survivor must take the orphaned jobs over
        p.start(suffix=".2")
        self.record_pids()
        p.wait_ready()
        return f"kill -9 worker-{i} (pid {pid}); replacement pid {p.p.pid} ready"

    def fault_kill_api(self, i):
        p = self.procs[f"api-{i}"]
        pid = p.p.pid
        p.kill9()
        time.sleep(1)
        p.start(suffix=".2")
        self.record_pids()
        p.wait_ready()
        return f"kill -9 api-{i} (pid {pid}); replacement pid {p.p.pid} on :{self.api_ports[i]} ready"

    def fault_restart_redis(self, _):
        r = Redis(self.redis_port)
        before = r.cmd("DBSIZE")
        r.close()
        run([self.args.services_helper, "redis-restart"])
        r = Redis(self.redis_port)
        after = r.cmd("DBSIZE")
        aof = r.cmd("CONFIG", "GET", "appendonly")[1]
        r.close()
        return f"redis stopped (SIGTERM) and started again; keys {before} -> {after} (appendonly {aof})"

    def fault_restart_pg(self, _):
        run([self.args.services_helper, "pg-restart"])
        return "pg_ctl restart -m fast on the private instance"

    # ------------------------------------------------------------------------ collector ---
    def collect_rt(self, r):
        """Reads new events from every rt log and remembers each new_broadcast. Emitters take a seq
        (INCR) and then ZADD, so a lower seq can land after a higher one was read: every pass re-reads
        a margin below the highest seq seen and skips the seqs already read."""
        for key in r.scan(f"{self.prefix}:rt:log:*"):
            last = self.rt_seq.get(key, 0)
            done = self.rt_done.setdefault(key, set())
            first = r.cmd("ZRANGE", key, 0, 0, "WITHSCORES")
            if last and first and int(float(first[1])) > last + 1:
                self.rt_trimmed_unread += int(float(first[1])) - last - 1  # trimmed before it was read
            members = r.cmd("ZRANGEBYSCORE", key, f"({max(0, last - 150)}", "+inf", "WITHSCORES")
            user = key.rsplit(":", 1)[1]
            for j in range(0, len(members), 2):
                seq = int(float(members[j + 1]))
                if seq in done:
                    continue
                done.add(seq)
                last = max(last, seq)
                try:
                    env = json.loads(members[j])
                except ValueError:
                    continue
                self.rt_events[env.get("event")] += 1
                if env.get("event") == "new_broadcast":
                    b = (env.get("payload") or {}).get("broadcastId")
                    self.new_broadcast_seen.add((user, b))
            self.rt_seq[key] = last
            if len(done) > 1000:
                self.rt_done[key] = {q for q in done if q > last - 400}

    def collector(self):
        r = Redis(self.redis_port)
        while not self.stop_all.is_set():
            try:
                self.collect_rt(r)
            except Exception:
                self.collector_errors += 1
                r.close()
            self.stop_all.wait(1.0)
        r.close()

    # ----------------------------------------------------------------------------- setup ---
    def setup_db(self):
        say("creating database weelo_chaos on the private PostgreSQL")
        self.pg_admin.run("DROP DATABASE IF EXISTS weelo_chaos WITH (FORCE)")
        self.pg_admin.run("CREATE DATABASE weelo_chaos")
        r = Redis(self.redis_port)
        r.cmd("FLUSHALL")
        if r.cmd("CONFIG", "GET", "appendonly")[1] != "yes":
            r.cmd("CONFIG", "SET", "appendonly", "yes")
        r.close()

    def setup_users(self):
        m = self.m
        rows, vehicles = [], []
        phone = 9000000000
        for i in range(m["customers"]):
            uid = str(uuid.uuid4())
            self.customers.append(uid)
            rows.append(f"('{uid}', '+91{phone + i}', 'customer')")
        k = 0
        self.vehicles = {}
        for i in range(m["transporters"]):
            uid = str(uuid.uuid4())
            self.transporters.append(uid)
            rows.append(f"('{uid}', '+91{phone + 100000 + i}', 'transporter')")
            self.vehicles[uid] = []
            for _ in range(m["vehicles"]):
                vid = str(uuid.uuid4())
                reg = f"CH{(k // 10000) % 100:02d}AB{k % 10000:04d}"
                k += 1
                self.vehicles[uid].append(vid)
                vehicles.append(f"('{vid}', '{uid}', '{reg}', 'open', 'open_std')")
        self.pg.run("INSERT INTO users (id, phone, role) VALUES " + ",".join(rows))
        self.pg.run("INSERT INTO vehicles (id, transporter_id, registration_number, vehicle_type, vehicle_subtype) VALUES "
                    + ",".join(vehicles))
        say(f"{m['customers']} customers, {m['transporters']} transporters with {m['vehicles']} open trucks each")

    # ------------------------------------------------------------------------------ load ---
    def body(self, rnd, replace=False):
        lat = PICKUP[0] + rnd.uniform(-0.02, 0.02)
        lng = PICKUP[1] + rnd.uniform(-0.02, 0.02)
        b = {
            "pickup": {"lat": round(lat, 5), "lng": round(lng, 5), "address": "Chaos pickup"},
            "drop": {"lat": 18.5, "lng": 73.8, "address": "Chaos drop"},
            "vehicles": [{"type": "open", "subtype": "open_std", "count": rnd.randint(1, 3),
                          "pricePerTruck": rnd.choice([1500, 2000, 2500])}],
        }
        if replace:
            b["replaceActive"] = True
        return b

    def create(self, cli, rnd, replace=False):
        L = self.ledger
        key = str(uuid.uuid4())
        st, js = cli.call("create", "POST", "/v1/broadcasts", self.body(rnd, replace), key=key,
                          until=self.load_end + 10)
        if st == 201:
            L.count("create 201" + (" (replaceActive)" if replace else ""))
            with L.lock:
                L.created[js["id"]] = cli.user
            return js["id"], js["expiresAt"]
        if st == 409 and problem_code(js) == "ACTIVE_BROADCAST_EXISTS":
            L.count("create 409 ACTIVE_BROADCAST_EXISTS")
            return js.get("activeBroadcastId"), None
        L.count(f"create {st} {problem_code(js) or ''}".strip() if st else "create gave up")
        return None, None

    def wait_closed(self, cli, bid):
        """Polls my broadcast until it is terminal, the load ends, or it is well past its deadline."""
        limit = now() + self.m["timeout"] + 8
        while not self.stop_load.is_set() and now() < limit:
            st, js = cli.call("get", "GET", f"/v1/broadcasts/{bid}", retry=False)
            if st == 200 and js.get("status") not in OPEN:
                return js.get("status")
            self.stop_load.wait(cli.rnd.uniform(0.8, 1.6))
        return None

    def customer(self, uid):
        L = self.ledger
        cli = Client(self, uid, "customer", jwt(self.secret, uid, "customer"))
        rnd = cli.rnd
        self.transporters_ready.wait(30)
        self.stop_load.wait(rnd.uniform(0, 3))
        while not self.stop_load.is_set():
            bid, _ = self.create(cli, rnd)
            if bid is None:
                self.stop_load.wait(1)
                continue
            roll = rnd.random()
            if roll < 0.25:
                self.stop_load.wait(rnd.uniform(1, 0.6 * self.m["timeout"]))
                if self.stop_load.is_set():
                    break
                st, js = cli.call("cancel", "POST", f"/v1/broadcasts/{bid}/cancel", {}, until=self.load_end + 10)
                L.count(f"cancel {st} {problem_code(js) or ''}".strip() if st else "cancel gave up")
                if st == 200:
                    with L.lock:
                        L.cancelled.append(bid)
            elif roll < 0.35:
                self.stop_load.wait(rnd.uniform(1, 0.5 * self.m["timeout"]))
                if self.stop_load.is_set():
                    break
                new, _ = self.create(cli, rnd, replace=True)
                if new:
                    self.wait_closed(cli, new)
            else:
                self.wait_closed(cli, bid)
            self.stop_load.wait(rnd.uniform(0.2, 1.0))

    def attract(self, bid):
        """How keen transporters are on a broadcast: 0 to 0.22, fixed per broadcast."""
        return (int(hashlib.sha256(bid.encode()).hexdigest()[:4], 16) % 100) / 450

    def transporter(self, uid, ready):
        L = self.ledger
        cli = Client(self, uid, "transporter", jwt(self.secret, uid, "transporter"))
        rnd = cli.rnd
        pos = {"lat": round(PICKUP[0] + rnd.uniform(-0.04, 0.04), 5), "lng": round(PICKUP[1] + rnd.uniform(-0.04, 0.04), 5)}
        deadline = now() + 30
        for path, method, body in (("/v1/transporters/me/availability", "PUT", {"online": True}),
                                   ("/v1/transporters/me/heartbeat", "POST", pos)):
            st, js = cli.call("setup", method, path, body, until=deadline)
            if st != 200:
                raise RuntimeError(f"transporter {uid}: {method} {path} -> {st} {js}")
        ready()
        free = list(self.vehicles[uid])
        seen = set()
        next_hb = now() + 10
        self.transporters_ready.wait(30)
        while not self.stop_load.is_set():
            if now() >= next_hb:
                st, _ = cli.call("heartbeat", "POST", "/v1/transporters/me/heartbeat", pos, until=now() + 5)
                L.count(f"heartbeat {st}" if st else "heartbeat gave up")
                next_hb = now() + 10
            st, js = cli.call("list", "GET", "/v1/transporters/me/broadcasts", retry=False)
            if st == 200:
                for item in js.get("items", []):
                    bid = item["id"]
                    if bid in seen:
                        continue
                    seen.add(bid)
                    if free and rnd.random() < self.attract(bid):
                        if rnd.random() < 0.25:
                            self.hold(cli, bid)
                        else:
                            self.accept(cli, bid, free)
            self.stop_load.wait(rnd.uniform(0.5, 1.1))

    def hold(self, cli, bid):
        """Holds a truck or two; gives half of the holds back at once, lets the rest expire."""
        L = self.ledger
        st, js = cli.call("hold", "POST", f"/v1/broadcasts/{bid}/holds", {"line": 0, "quantity": cli.rnd.randint(1, 2)},
                          key=str(uuid.uuid4()), until=self.load_end + 10)
        if st != 200:
            L.count(f"hold {st} {problem_code(js)}" if st else "hold gave up")
            return
        L.count("hold 200")
        if cli.rnd.random() < 0.5:
            st, js = cli.call("release", "POST", f"/v1/holds/{js['id']}/release", {}, key=str(uuid.uuid4()),
                              until=self.load_end + 10)
            L.count(f"release {st} {problem_code(js)}" if st and st != 200 else f"release {st}")

    def accept(self, cli, bid, free):
        L = self.ledger
        vehicle = free.pop()
        key = str(uuid.uuid4())
        st, js = cli.call("accept", "POST", f"/v1/broadcasts/{bid}/accept", {"line": 0, "vehicleId": vehicle},
                          key=key, until=self.load_end + 10)
        if st == 200:
            L.count("accept 200")
            with L.lock:
                L.accepted.append((bid, js["truckRequestId"], cli.user, vehicle))
            return
        if st is None:
            L.count("accept gave up (outcome unknown)")
            with L.lock:
                L.accept_unknown.add((bid, cli.user))
            return
        code = problem_code(js)
        L.count(f"accept {st} {code}")
        if code == "VEHICLE_UNAVAILABLE":
            return  # never expected: the vehicle was free as far as this client knows (audited)
        free.append(vehicle)

    def run_load(self):
        n_t = len(self.transporters)
        ready_count = [0]
        lock = threading.Lock()

        def ready():
            with lock:
                ready_count[0] += 1
                if ready_count[0] == n_t:
                    self.transporters_ready.set()

        self.load_start = now()
        self.load_end = self.load_start + self.m["load"]
        threads = []
        errors = []

        def guard(fn, *a):
            try:
                fn(*a)
            except Exception as e:
                errors.append(f"{fn.__name__}: {e}")
                traceback.print_exc()

        for uid in self.transporters:
            threads.append(threading.Thread(target=guard, args=(self.transporter, uid, ready), daemon=True))
        for uid in self.customers:
            threads.append(threading.Thread(target=guard, args=(self.customer, uid), daemon=True))
        for t in threads:
            t.start()
        if not self.transporters_ready.wait(40):
            raise RuntimeError(f"transporters did not come online: {errors[:3]}")
        # The load window starts when every transporter is online.
        self.load_start = now()
        self.load_end = self.load_start + self.m["load"]
        say(f"load running for {self.m['load']} s: {len(self.customers)} customers, {n_t} transporters; "
            f"faults at {[f[0] for f in self.m['faults']]} s")
        fault_thread = threading.Thread(target=self.faults, daemon=True)
        fault_thread.start()
        last = now()
        while now() < self.load_end:
            time.sleep(min(1, self.load_end - now()))
            if now() - last >= 10:
                last = now()
                c = self.ledger.counts
                say(f"load: creates {c['create 201'] + c['create 201 (replaceActive)']}, accepts {c['accept 200']}, "
                    f"cancels {c['cancel 200']}, client errors {sum(self.ledger.errors.values())}")
        self.stop_load.set()
        fault_thread.join(120)
        for t in threads:
            t.join(30)
        if errors:
            raise RuntimeError(f"load clients failed: {errors[:3]}")
        say("load stopped")

    # --------------------------------------------------------------------------- recovery ---
    def recover(self):
        last = self.pg.one("SELECT extract(epoch FROM max(expires_at))::float8 AS t FROM broadcasts")
        until = max(now(), (last or {}).get("t") or 0) + 4
        say(f"recovery window: waiting {until - now():.0f} s for every broadcast to pass expires_at + 4 s")
        while now() < until:
            time.sleep(min(1, until - now()))
        cap = now() + 30
        while now() < cap:
            n = int(self.pg.scalar("SELECT count(*) FROM broadcasts WHERE status IN ('active', 'partially_filled')"))
            if n == 0:
                break
            time.sleep(1)

    # ------------------------------------------------------------------------------ audit ---
    def near_fault(self, t):
        """The closest fault whose window (start - 3 s .. end + 6 s) holds t, as 'restart_pg@t=80.0s-0.3s'."""
        best = None
        for f in self.faults_done:
            if f["start"] - 3 <= t <= f["end"] + 6:
                d = 0 if f["start"] <= t <= f["end"] else min(abs(t - f["start"]), abs(t - f["end"]))
                if best is None or d < best[0]:
                    best = (d, f"{f['fault']}@t={f['at']}s{t - f['start']:+.1f}s")
        return best and best[1]

    def log_summary(self):
        """What the processes logged: 5xx answers by status, job retries, dead letters, worker restarts."""
        out = collections.Counter()
        for name in sorted(os.listdir(self.dir)):
            if not (name.startswith("api-") or name.startswith("worker-")) or ".log" not in name:
                continue
            kind = name.split("-")[0]
            with open(os.path.join(self.dir, name), "rb") as f:
                for line in f:
                    if b'"level":"INFO"' in line or b'"level":"DEBUG"' in line:
                        continue
                    try:
                        j = json.loads(line)
                    except ValueError:
                        continue
                    msg = j.get("message", "")
                    if msg == "request failed":
                        out[f"{kind}: answered {j.get('status')}"] += 1
                    elif msg == "internal error":
                        err = str(j.get("error", "")).split("\n")[0]
                        out[f"{kind}: 500 INTERNAL because {err[:70]}"] += 1
                    elif msg in ("job failed; will retry", "job dead-lettered"):
                        out[f"{kind}: {msg} ({j.get('job')})"] += 1
                    elif msg == "job worker failed; restarting it":
                        out[f"{kind}: job worker restarted ({j.get('worker', '').split('@')[0]})"] += 1
        return dict(sorted(out.items()))

    def key_families(self, r):
        fam = collections.Counter()
        for k in r.scan(f"{self.prefix}:*"):
            parts = k.split(":")
            fam[":".join(parts[1:3]) if parts[1] in ("jobs", "rt") else parts[1]] += 1
        return dict(fam.most_common(12))

    def queue_state(self, r):
        t = int(now())
        state = {}
        for q in QUEUES:
            base = f"{self.prefix}:jobs:{q}"
            inflight = sum(r.cmd("SCARD", k) for k in r.scan(f"{base}:inflight*") if r.cmd("TYPE", k) == "set")
            state[q] = {
                "pending": r.cmd("LLEN", f"{base}:active"),
                "inflight": inflight,
                "overdue_scheduled": r.cmd("ZCOUNT", f"{base}:scheduled", "-inf", t - 5),
                "future_scheduled": r.cmd("ZCOUNT", f"{base}:scheduled", t - 5 + 1, "+inf"),
                "dead": r.cmd("SCARD", f"{base}:dead"),
                "done": r.cmd("SCARD", f"{base}:done"),
            }
        return state

    def audit(self):
        pg, L = self.pg, self.ledger
        r = Redis(self.redis_port)
        checks = []  # (name, ok, count, detail)

        def check(cid, name, bad, detail="", info=None):
            checks.append({"id": cid, "check": name, "ok": not bad, "known": bool(bad) and cid in self.args.known,
                           "violations": len(bad) if isinstance(bad, list) else bad,
                           "detail": detail, "examples": (bad[:5] if isinstance(bad, list) else None), "info": info,
                           "all": (bad[:2000] if isinstance(bad, list) else None)})

        # Jobs first: wait (bounded) for the queues to drain, a sweep tick may be running.
        drain_until = now() + 20
        while True:
            qs = self.queue_state(r)
            stuck = {q: s for q, s in qs.items() if s["pending"] or s["inflight"] or s["overdue_scheduled"]}
            if not stuck or now() > drain_until:
                break
            time.sleep(1)
        self.collect_rt(r)

        counts = {}
        counts["broadcasts by status/reason"] = {f"{x['status']}/{x['reason'] or '-'}": x["n"] for x in pg.rows(
            "SELECT status::text, terminal_reason AS reason, count(*) AS n FROM broadcasts GROUP BY 1, 2 ORDER BY 1, 2")}
        counts["truck requests by status"] = {x["status"]: x["n"] for x in pg.rows(
            "SELECT status::text, count(*) AS n FROM truck_requests GROUP BY 1 ORDER BY 1")}
        counts["broadcasts"] = sum(counts["broadcasts by status/reason"].values())
        counts["notifications (broadcast, transporter)"] = int(pg.scalar("SELECT count(*) FROM broadcast_notifications"))
        counts["transitions"] = int(pg.scalar("SELECT count(*) FROM broadcast_transitions"))
        counts["outbox rows"] = int(pg.scalar("SELECT count(*) FROM outbox"))

        # 1. Deadlines.
        bad = pg.rows("SELECT id, status, expires_at, round(extract(epoch FROM now() - expires_at)::numeric, 1) AS overdue_s "
                      "FROM broadcasts WHERE status IN ('active', 'partially_filled') AND expires_at < now() - interval '2 seconds'")
        check("open-past-deadline", "no broadcast open past expires_at + 2 s", bad)
        late = pg.rows("SELECT id, extract(epoch FROM expires_at)::float8 AS due, "
                       "extract(epoch FROM closed_at - expires_at)::float8 AS late FROM broadcasts WHERE status = 'expired'")
        lateness = sorted(x["late"] for x in late)
        windows = [(f["start"] - 1, f["end"] + 12) for f in self.faults_done]
        late_calm = [x for x in late if x["late"] > 2 and not any(a <= x["due"] <= b for a, b in windows)]
        late_fault = [x for x in late if x["late"] > 2 and any(a <= x["due"] <= b for a, b in windows)]
        check("expiry-late", "expiry on time outside fault windows (closed_at <= expires_at + 2 s)",
              [{"id": x["id"], "late_s": round(x["late"], 2)} for x in late_calm],
              info=f"expired {len(lateness)}; lateness p50 {pct(lateness, 50):.3f} s, p99 {pct(lateness, 99):.3f} s, "
                   f"max {max(lateness, default=0):.2f} s; {len(late_fault)} later than 2 s with the deadline in a fault "
                   f"window (fault start - 1 s .. end + 12 s)")
        # Holds: none active past its window, none late outside fault windows, no held truck without one.
        bad = pg.rows("SELECT id, broadcast_id, expires_at FROM truck_holds WHERE status = 'active' "
                      "AND expires_at < now() - interval '2 seconds'")
        check("hold-past-deadline", "no hold active past expires_at + 2 s", bad)
        ended = pg.rows("SELECT id, extract(epoch FROM expires_at)::float8 AS due, "
                        "extract(epoch FROM ended_at - expires_at)::float8 AS late FROM truck_holds WHERE status = 'expired'")
        hold_late = [x for x in ended if x["late"] > 2 and not any(a <= x["due"] <= b for a, b in windows)]
        check("hold-expiry-late", "hold expiry on time outside fault windows (ended_at <= expires_at + 2 s)",
              [{"id": x["id"], "late_s": round(x["late"], 2)} for x in hold_late],
              info=f"holds by status: " + ", ".join(f"{x['status']} {x['n']}" for x in pg.rows(
                  "SELECT status::text, count(*) AS n FROM truck_holds GROUP BY 1 ORDER BY 1")))
        bad = pg.rows("SELECT tr.id, tr.hold_id, h.status::text AS hold_status FROM truck_requests tr "
                      "LEFT JOIN truck_holds h ON h.id = tr.hold_id WHERE tr.status = 'held' AND h.status IS DISTINCT FROM 'active'")
        check("held-orphan", "every held truck names an active hold", bad)
        bad = pg.rows("SELECT tr.id, tr.broadcast_id, tr.accepted_at, b.expires_at FROM truck_requests tr "
                      "JOIN broadcasts b ON b.id = tr.broadcast_id WHERE tr.accepted_at >= b.expires_at")
        check("accept-after-deadline", "no accept committed at or after expires_at", bad)
        bad = pg.rows("SELECT t.broadcast_id, t.reason, t.at, b.expires_at FROM broadcast_transitions t "
                      "JOIN broadcasts b ON b.id = t.broadcast_id "
                      "WHERE t.reason IN ('CUSTOMER_CANCELLED', 'REPLACED_BY_NEW') AND t.at >= b.expires_at")
        check("cancel-after-deadline", "no cancel committed at or after expires_at", bad)

        # 2. No truck accepted twice; one owner each.
        bad = pg.rows("SELECT broadcast_id, vehicle_id, count(*) AS n FROM truck_requests "
                      "WHERE status IN ('accepted', 'assigned') GROUP BY 1, 2 HAVING count(*) > 1")
        check("vehicle-twice-in-broadcast", "no vehicle holds two trucks of one broadcast", bad)
        bad = pg.rows("SELECT vehicle_id, count(*) AS n FROM truck_requests "
                      "WHERE status IN ('accepted', 'assigned') GROUP BY 1 HAVING count(*) > 1")
        check("vehicle-twice", "no vehicle holds two taken trucks at once", bad)
        bad = pg.rows("SELECT truck_request_id, count(*) AS n FROM broadcast_transitions WHERE truck_request_id IS NOT NULL "
                      "AND from_status = 'searching' AND to_status IN ('accepted', 'assigned') GROUP BY 1 HAVING count(*) > 1")
        check("accept-transition-once", "one searching->accepted transition per truck request", bad)
        bad = pg.rows("SELECT tr.id, tr.transporter_id, (SELECT array_agg(t.actor_id) FROM broadcast_transitions t "
                      "WHERE t.truck_request_id = tr.id AND t.from_status = 'searching') AS actors FROM truck_requests tr "
                      "WHERE tr.status IN ('accepted', 'assigned') AND NOT EXISTS (SELECT 1 FROM broadcast_transitions t "
                      "WHERE t.truck_request_id = tr.id AND t.from_status = 'searching' AND t.actor_id = tr.transporter_id)")
        check("accept-owner", "every taken truck's accept transition names its owner", bad)
        bad = pg.rows("SELECT tr.id, v.status::text FROM truck_requests tr JOIN vehicles v ON v.id = tr.vehicle_id "
                      "WHERE tr.status IN ('accepted', 'assigned') AND v.status <> 'on_trip'")
        check("vehicle-on-trip", "every vehicle holding a truck is on_trip", bad)
        bad = pg.rows("SELECT v.id FROM vehicles v WHERE v.status = 'on_trip' AND NOT EXISTS (SELECT 1 FROM truck_requests tr "
                      "WHERE tr.vehicle_id = v.id AND tr.status IN ('accepted', 'assigned'))")
        check("vehicle-stuck", "no vehicle is on_trip without a taken truck (cancels after the match free them)", bad)

        # 3. Counts.
        # A taken truck keeps its transporter (also when its customer cancelled after the match).
        bad = pg.rows("SELECT b.id, b.status, b.trucks_filled, (SELECT count(*) FROM truck_requests tr WHERE "
                      "tr.broadcast_id = b.id AND tr.transporter_id IS NOT NULL) AS taken FROM broadcasts b "
                      "WHERE b.trucks_filled <> (SELECT count(*) FROM truck_requests tr WHERE tr.broadcast_id = b.id "
                      "AND tr.transporter_id IS NOT NULL)")
        check("filled-count", "trucks_filled equals the trucks taken", bad)
        bad = pg.rows("SELECT b.id, b.status, count(*) AS searching FROM broadcasts b JOIN truck_requests tr ON "
                      "tr.broadcast_id = b.id WHERE b.status NOT IN ('active', 'partially_filled') "
                      "AND tr.status = 'searching' GROUP BY 1, 2")
        check("searching-in-terminal", "no searching truck request left in a terminal broadcast", bad)

        # 4. What the clients were told agrees with the database.
        db_trs = {x["id"]: x for x in pg.rows(
            "SELECT id, broadcast_id, transporter_id, vehicle_id, status::text FROM truck_requests "
            "WHERE transporter_id IS NOT NULL")}
        bad = []
        told = collections.Counter()
        for bid, tr, t, v in L.accepted:
            told[tr] += 1
            row = db_trs.get(tr)
            if row is None or row["transporter_id"] != t or row["vehicle_id"] != v or row["broadcast_id"] != bid:
                bad.append({"truck_request": tr, "client_saw": {"transporter": t, "vehicle": v}, "db": row})
        bad += [{"truck_request": tr, "answered_200_to": n} for tr, n in told.items() if n > 1]
        check("client-accepts", "every 200 accept is in the database as told (and no truck told to two accepts)", bad,
              info=f"{len(L.accepted)} accepts answered 200")
        owned = collections.defaultdict(set)
        for tr, row in db_trs.items():
            owned[(row["broadcast_id"], row["transporter_id"])].add(tr)
        bad = [{"truck_request": tr, "broadcast": row["broadcast_id"], "transporter": row["transporter_id"]}
               for tr, row in db_trs.items()
               if tr not in told and (row["broadcast_id"], row["transporter_id"]) not in L.accept_unknown]
        check("phantom-accepts", "no truck taken without a 200 to its taker (outcome-unknown accepts excepted)", bad,
              info=f"{len(L.accept_unknown)} accepts gave up with an unknown outcome")
        ids = list(L.created)
        db_b = {x["id"]: x for x in pg.rows("SELECT id, customer_id, status::text FROM broadcasts")}
        bad = [b for b in ids if b not in db_b or db_b[b]["customer_id"] != L.created[b]]
        check("client-creates", "every 201 create is in the database", bad, info=f"{len(ids)} creates answered 201")
        bad = [{"id": b, "status": db_b.get(b, {}).get("status")} for b in L.cancelled
               if db_b.get(b, {}).get("status") != "cancelled"]
        check("client-cancels", "every 200 cancel left the broadcast cancelled", bad, info=f"{len(L.cancelled)} cancels answered 200")

        # 5. Redis keys of terminal broadcasts.
        # Any key naming a broadcast (its new_broadcast markers `emitted:new:{id}:{user}` included).
        by_b = collections.defaultdict(list)
        for k in r.scan(f"{self.prefix}:emitted:new:*"):
            by_b[k.split(":")[-2]].append(k)
        bad = [{"broadcast": b, "status": db_b.get(b, {}).get("status"), "keys": ks} for b, ks in by_b.items()
               if db_b.get(b, {}).get("status") not in OPEN]
        check("redis-keys-left", "every terminal broadcast has no key left (its new_broadcast markers included)", bad,
              info=f"{sum(len(ks) for ks in by_b.values())} marker keys in Redis for {len(by_b)} broadcasts")

        # 6. Every notified transporter got new_broadcast.
        notes = pg.rows("SELECT broadcast_id, transporter_id, radius_step, notified_at, "
                        "extract(epoch FROM notified_at)::float8 AS t FROM broadcast_notifications")
        bad = [n for n in notes if (n["transporter_id"], n["broadcast_id"]) not in self.new_broadcast_seen]
        for n in bad:
            n["near_fault"] = self.near_fault(n.pop("t"))
        extra = len(self.new_broadcast_seen - {(n["transporter_id"], n["broadcast_id"]) for n in notes})
        by_fault = collections.Counter(n["near_fault"] or "no fault near" for n in bad)
        check("new-broadcast", "every notified transporter got new_broadcast (rt log) at least once", bad,
              info=f"{len(notes)} notifications; {len(self.new_broadcast_seen)} (transporter, broadcast) new_broadcast "
                   f"events seen; {extra} events without a notification row; events read: {dict(self.rt_events)}; "
                   f"events trimmed from a log before the collector read them: {self.rt_trimmed_unread}"
                   + (f"; missing by nearest fault: {dict(by_fault)}" if bad else ""))

        # 7. Nothing stuck.
        bad = pg.rows("SELECT id, kind, attempts, created_at FROM outbox WHERE dispatched_at IS NULL "
                      "AND available_at < now() - interval '5 seconds'")
        check("outbox-stuck", "no undispatched outbox row older than 5 s", bad)
        bad = [{"queue": q, **s} for q, s in qs.items() if s["pending"] or s["inflight"] or s["overdue_scheduled"]]
        check("queues-stuck", "job queues drained (no pending, inflight or overdue scheduled job)", bad,
              info={q: {k: v for k, v in s.items() if v} for q, s in qs.items()})
        dead = []
        for q in QUEUES:
            base = f"{self.prefix}:jobs:{q}"
            for tid in r.cmd("SMEMBERS", f"{base}:dead") or []:
                meta = r.cmd("HGETALL", f"{base}:meta:{tid}") or []
                meta = dict(zip(meta[::2], meta[1::2]))
                dead.append({"queue": q, "task": tid, "attempts": meta.get("attempts"),
                             "result": (meta.get("result") or "")[:300], "job": (r.cmd("HGET", f"{base}:data", tid) or "")[:300]})
        # The sweep is no job any more (each worker's own tick loop runs it): every dead letter counts.
        check("dead-jobs", "no dead-lettered job", dead)
        check("process-exits", "no process exited on its own", self.unexpected_exits)
        fault_failures = [f for f in self.faults_done if str(f["detail"]).startswith("FAILED")]
        check("faults-injected", "every fault was injected", fault_failures + ([] if len(self.faults_done) == len(self.m["faults"])
                                                            else [f"{len(self.faults_done)} of {len(self.m['faults'])} ran"]))
        sweeps = pg.one("SELECT count(*) AS ticks, coalesce(sum(claims), 0) AS claims, "
                        "coalesce(sum(expired), 0) AS expired FROM sweep_runs")
        counts["sweep ticks (claims by all workers, broadcasts it expired)"] = sweeps
        counts["redis keys by family (top 12)"] = self.key_families(r)
        r.close()
        return checks, counts

    # ---------------------------------------------------------------------------- report ---
    def report(self, checks, counts):
        L = self.ledger
        out = []
        p = out.append
        p("")
        p(f"=== chaos audit ({self.args.mode}: load {self.m['load']} s, BROADCAST_TIMEOUT_SECS={self.m['timeout']}, "
          f"{len(self.customers)} customers, {len(self.transporters)} transporters) ===")
        p("faults:")
        for f in self.faults_done:
            p(f"  t={f['at']:>6}s  {f['fault']:<14} {f['detail']} [{f['took']} s]")
        p("load (client outcomes):")
        for k, v in sorted(L.counts.items()):
            p(f"  {k:<55} {v}")
        errs = collections.Counter()
        for (op, kind), n in L.errors.items():
            errs[f"{op} {kind}"] += n
        p(f"client errors retried or tolerated (transport errors and 5xx, by op): {sum(errs.values())}")
        for k, v in errs.most_common(12):
            p(f"  {k:<55} {v}")
        lat = {op: v for op, v in L.latency.items() if v}
        p("latency (all answers incl. errors): " + ", ".join(
            f"{op} p50 {pct(sorted(v), 50) * 1000:.0f} ms p99 {pct(sorted(v), 99) * 1000:.0f} ms (n={len(v)})"
            for op, v in sorted(lat.items())))
        p("process logs (WARN/ERROR lines, all api-* and worker-* logs):")
        for k, v in self.log_summary().items():
            p(f"  {k:<75} {v}")
        p("database and Redis:")
        for k, v in counts.items():
            p(f"  {k}: {v}")
        p("checks:")
        for c in checks:
            mark = "PASS" if c["ok"] else "KNOWN" if c["known"] else "FAIL"
            p(f"  [{mark}] {c['check']} ({c['id']}): {c['violations']} violation(s)")
            if c["info"]:
                p(f"         {c['info']}")
            if not c["ok"] and c["examples"]:
                for e in c["examples"]:
                    p(f"         e.g. {json.dumps(e, default=str)[:400]}")
        failed = [c for c in checks if not c["ok"] and not c["known"]]
        known = [c for c in checks if not c["ok"] and c["known"]]
        if known:
            p(f"chaos: NOT counted as failures (--known): {', '.join(c['id'] for c in known)}")
        p(f"chaos: {len(checks) - len(failed) - len(known)} passed, {len(failed)} failed"
          + (f", {len(known)} skipped" if known else ""))
        text = "\n".join(out)
        print(text, flush=True)
        with open(os.path.join(self.dir, "report.txt"), "w") as f:
            f.write(text + "\n")
        with open(os.path.join(self.dir, "report.json"), "w") as f:
            json.dump({"mode": self.args.mode, "settings": {k: v for k, v in self.m.items()}, "faults": self.faults_done,
                       "client_counts": dict(L.counts), "client_errors": {f"{a} {b}": n for (a, b), n in L.errors.items()},
                       "counts": counts, "checks": checks}, f, indent=1, default=str)
        for c in checks:
            c.pop("all", None)
        return not failed

    # ------------------------------------------------------------------------------- main ---
    def shutdown(self):
        self.stop_load.set()
        self.stop_all.set()
        # A fault under way (a service restart) finishes first, so nothing starts after we stop.
        locked = self.fault_lock.acquire(timeout=90)
        try:
            for p in self.procs.values():
                p.stop()
        finally:
            if locked:
                self.fault_lock.release()
        try:
            os.unlink(self.pids_file)
        except OSError:
            pass

    def main(self):
        self.fault_error = None
        self.setup_db()
        self.start_stack()
        self.setup_users()
        threading.Thread(target=self.monitor, daemon=True).start()
        threading.Thread(target=self.collector, daemon=True).start()
        self.run_load()
        self.recover()
        checks, counts = self.audit()
        return self.report(checks, counts)


def pct(sorted_values, q):
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[i]


def tail_file(path, n):
    try:
        with open(path, "rb") as f:
            return [line.decode(errors="replace").rstrip()[:300] for line in f.readlines()[-n:]]
    except OSError:
        return []


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {(r.stderr or r.stdout).strip()[-500:]}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=sorted(MODES), default="full")
    ap.add_argument("--dir", required=True, help="run directory (logs, report)")
    ap.add_argument("--pg-port", type=int, required=True)
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--api-bin", required=True)
    ap.add_argument("--worker-bin", required=True)
    ap.add_argument("--services-helper", required=True, help="script with redis-restart / pg-restart")
    ap.add_argument("--load", type=float, help="seconds of load (faults keep their share of it)")
    ap.add_argument("--timeout", type=int, help="BROADCAST_TIMEOUT_SECS")
    ap.add_argument("--customers", type=int)
    ap.add_argument("--transporters", type=int)
    ap.add_argument("--vehicles", type=int, help="trucks per transporter")
    ap.add_argument("--no-faults", action="store_true", help="the same load without faults (a baseline)")
    ap.add_argument("--known", action="append", default=[], metavar="CHECK_ID",
                    help="a check id (shown in the report) whose violations are reported but do not fail the run; "
                         "repeatable, or comma-separated; also WEELO_CHAOS_KNOWN")
    args = ap.parse_args()
    QUEUES.extend(subprocess.run([args.worker_bin, "queues"], check=True, capture_output=True, text=True).stdout.split())
    if not QUEUES:
        sys.exit(f"{args.worker_bin} queues listed no job queue")
    args.known = {k.strip() for v in args.known + [os.environ.get("WEELO_CHAOS_KNOWN", "")] for k in v.split(",") if k.strip()}
    chaos = Chaos(args)

    def on_signal(signum, _frame):
        say(f"signal {signum}: stopping")
        chaos.shutdown()
        sys.exit(130)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        ok = chaos.main()
    except Exception as e:
        traceback.print_exc()
        say(f"harness error: {e}")
        chaos.shutdown()
        sys.exit(2)
    chaos.shutdown()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
