#!/usr/bin/env python3
"""Benchmarks mqtt-broker and mqtt::client against Mosquitto; writes a Markdown report.

Each scenario runs against both brokers in alternation (A B A B ...), each run on a
freshly started broker with a generated configuration on a free loopback port; the
report gives medians and ratios (ours / Mosquitto) measured in the same run.

    bench/run.py                 # full run, writes docs/benchmarks.md
    bench/run.py --quick         # a few seconds per scenario, for CI (checks the table)

See docs/benchmarks.md for the method.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOSQUITTO = "/usr/sbin/mosquitto"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_result(text):
    """key=value pairs of the last 'RESULT ...' line."""
    for line in reversed(text.splitlines()):
        if line.startswith("RESULT "):
            out = {}
            for item in line.split()[1:]:
                k, _, v = item.partition("=")
                try:
                    out[k] = float(v)
                except ValueError:
                    out[k] = v
            return out
    return None


class Broker:
    """One broker process on a free loopback port, sampled through /proc."""

    def __init__(self, kind, exe, workdir, extra_conf=""):
        self.kind, self.exe, self.workdir, self.extra = kind, exe, workdir, extra_conf
        self.proc = None
        self.port = None

    def start(self):
        self.port = free_port()
        conf = os.path.join(self.workdir, f"{self.kind}-{self.port}.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{self.extra}")
        self.log = open(os.path.join(self.workdir, f"{self.kind}-{self.port}.log"), "w")
        self.proc = subprocess.Popen([self.exe, "-c", conf], stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.workdir)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.02)
        self.stop()
        return False

    def cpu(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def status_kb(self, key):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def rss(self):
        """Resident bytes right now (statm: page granularity, no rounding to kB)."""
        with open(f"/proc/{self.proc.pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def log_tail(self):
        path = os.path.join(self.workdir, f"{self.kind}-{self.port}.log")
        try:
            with open(path) as f:
                return f.read()[-600:]
        except OSError:
            return ""


class Runner:
    def __init__(self, args):
        self.a = args
        self.bin = {
            "loadgen": os.path.join(args.build_dir, "bench", "mqtt-loadgen"),
            "client": os.path.join(args.build_dir, "bench", "mqtt-client-bench"),
            "libmosq": os.path.join(args.build_dir, "bench", "mosquitto-client-bench"),
            "broker": os.path.join(args.build_dir, "broker", "mqtt-broker"),
            "mqtt-bench": os.path.join(args.build_dir, "client", "tools", "mqtt-bench"),
        }
        if args.broker:
            self.bin["broker"] = os.path.abspath(args.broker)
        self.workdir = tempfile.mkdtemp(prefix="mqtt-bench-")
        self.failures = []
        self.notes = []
        self.raw = []  # every run's figures, for --raw
        self.brokers = [("ours", self.bin["broker"])]
        if os.access(MOSQUITTO, os.X_OK):
            self.brokers.append(("mosquitto", MOSQUITTO))
        else:
            self.notes.append(f"{MOSQUITTO} not found: no Mosquitto figures.")

    def close(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- one run of one scenario on one broker ----------------------------------------

    def flow(self, kind, exe, extra_conf, lg_args):
        b = Broker(kind, exe, self.workdir, extra_conf)
        if not b.start():
            return None, f"{kind} did not start: {b.log_tail()}"
        try:
            cpu0 = b.cpu()
            cmd = [self.bin["loadgen"], "-p", str(b.port)] + lg_args
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=self.a.duration + 120)
            r = parse_result(p.stdout)
            if p.returncode != 0 or r is None:
                return None, f"{kind}: mqtt-loadgen exit {p.returncode}: {p.stderr.strip()[-400:]}"
            r["broker_cpu_s"] = b.cpu() - cpu0
            r["broker_hwm_mb"] = b.status_kb("VmHWM") / 1024
            return r, None
        finally:
            b.stop()

    def phased(self, kind, exe, extra_conf, lg_args, phases):
        """Runs loadgen in --idle/--queue mode; samples RSS at each PHASE line."""
        b = Broker(kind, exe, self.workdir, extra_conf)
        if not b.start():
            return None, f"{kind} did not start: {b.log_tail()}"
        try:
            time.sleep(0.2)
            samples = {"start": b.rss()}
            cmd = [self.bin["loadgen"], "-p", str(b.port)] + lg_args
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                for _ in range(phases):
                    line = p.stdout.readline()
                    if not line.startswith("PHASE "):
                        break
                    time.sleep(0.5)  # let the broker finish what the last packets started
                    samples[line.split()[1]] = b.rss()
                    samples[line.split()[1] + "_line"] = line.strip()
                    p.stdin.write("\n")
                    p.stdin.flush()
                out, err = p.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
            r = parse_result(out)
            if p.returncode != 0 or r is None:
                return None, f"{kind}: mqtt-loadgen exit {p.returncode}: {err.strip()[-400:]}"
            r.update(samples)
            return r, None
        finally:
            b.stop()

    def client(self, exe_key, kind, exe, qos, count):
        b = Broker(kind, exe, self.workdir)
        if not b.start():
            return None, f"{kind} did not start: {b.log_tail()}"
        try:
            cmd = [self.bin[exe_key], "-p", str(b.port), "-q", str(qos), "-n", str(count), "-w", "100", "-s", "64"]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
            r = parse_result(p.stdout)
            if p.returncode != 0 or r is None:
                return None, f"{exe_key}: exit {p.returncode}: {p.stderr.strip()[-400:]}"
            return r, None
        finally:
            b.stop()

    def syscalls(self, kind, exe, count):
        """System calls the broker makes per message (strace -c), 1 pub -> 1 sub, QoS 0."""
        b = Broker(kind, exe, self.workdir)
        if not b.start():
            return None
        out = os.path.join(self.workdir, f"strace-{kind}.txt")
        try:
            st = subprocess.Popen(["strace", "-c", "-f", "-p", str(b.proc.pid), "-o", out],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.5)  # attached
            subprocess.run([self.bin["loadgen"], "-p", str(b.port), "-q", "0", "--count", str(count), "--window", "500"],
                           capture_output=True, timeout=120)
            time.sleep(0.3)
            st.send_signal(signal.SIGINT)
            st.wait(timeout=10)
            calls = {}
            with open(out) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                        calls[parts[-1]] = int(parts[3])
            total = sum(calls.values())
            top = sorted(calls.items(), key=lambda kv: -kv[1])[:5]
            return total / count, ", ".join(f"{name} {n / count:.2f}" for name, n in top)
        except (OSError, subprocess.SubprocessError, ValueError, IndexError) as e:
            self.notes.append(f"strace of {kind} failed: {e!r}")
            return None
        finally:
            b.stop()

    # ---- alternation and medians ------------------------------------------------------

    def alternate(self, name, run_one, reps=None):
        """run_one(kind, exe) -> (result, error); A B A B ... for --reps rounds (or `reps`)."""
        results = {kind: [] for kind, _ in self.brokers}
        for rep in range(reps or self.a.reps):
            order = self.brokers if rep % 2 == 0 else list(reversed(self.brokers))
            for kind, exe in order:
                r, err = run_one(kind, exe)
                if err:
                    self.failures.append(f"{name}: {err}")
                    print(f"  {name} [{kind}] FAILED: {err}", file=sys.stderr)
                elif r is not None:
                    results[kind].append(r)
                    self.raw.append({"scenario": name, "broker": kind, "round": rep, **r})
        return results


def median(rs, key):
    vals = [r[key] for r in rs if key in r]
    return statistics.median(vals) if vals else None


def fmt(v, digits=0):
    if v is None:
        return "n/a"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def ratio(ours, theirs):
    if ours is None or theirs is None or theirs == 0:
        return "n/a"
    return f"{ours / theirs:.2f}"


def machine_summary():
    load = os.getloadavg()
    try:
        mv = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, timeout=5).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        mv = "mosquitto: not found"
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                timeout=5).stdout.strip()
    except OSError:
        commit = "?"
    return load, mv, commit


KEEP_MARKER = "<!-- kept by bench/run.py: hand-written analysis below -->"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short runs, one repetition (CI smoke test)")
    ap.add_argument("--build-dir", default=None, help="build directory with bench/, broker/ (default: newest build*)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--reps", type=int, default=None, help="rounds of A B alternation (default 3, quick 1)")
    ap.add_argument("--duration", type=float, default=None, help="seconds per flow run (default 2.5, quick 0.3)")
    ap.add_argument("--latency-reps", type=int, default=None,
                    help="rounds of A B alternation for the latency scenarios (default 5, quick 1): "
                    "a p99.9 rests on few samples, so it takes more rounds than a rate")
    ap.add_argument("--latency-duration", type=float, default=None,
                    help="seconds per latency run (default 10, quick 0.3): 100,000 samples at 10k msg/s")
    ap.add_argument("--instructions", action="store_true", help="also run bench/instructions.sh (valgrind)")
    ap.add_argument("--instructions-file", default=None,
                    help="embed the output of an earlier bench/instructions.sh run instead of running it")
    ap.add_argument("--raw", default=None, help="also write every run's figures to this file (JSON)")
    ap.add_argument("--only", default=None, help="comma-separated scenario names to run "
                    "(qos0 qos0w100 qos1 qos1a20 qos2 fanout fanin latency0 latency1 durable idle queue queue1k client "
                    "generator syscalls)")
    ap.add_argument("--broker", default=None, help="mqtt-broker to measure (default: BUILD_DIR/broker/mqtt-broker)")
    a = ap.parse_args()
    if a.build_dir is None:
        cands = [os.path.join(ROOT, d) for d in os.listdir(ROOT) if d.startswith("build")]
        cands = [d for d in cands if os.path.exists(os.path.join(d, "bench", "mqtt-loadgen"))]
        if not cands:
            sys.exit("no build directory with bench/mqtt-loadgen: build the bench-tools target")
        a.build_dir = max(cands, key=lambda d: os.path.getmtime(os.path.join(d, "bench", "mqtt-loadgen")))
    a.build_dir = os.path.abspath(a.build_dir)
    a.reps = a.reps or (1 if a.quick else 3)
    a.duration = a.duration or (0.3 if a.quick else 2.5)
    a.latency_reps = a.latency_reps or (1 if a.quick else 5)
    a.latency_duration = a.latency_duration or (0.3 if a.quick else 10.0)
    idle_clients = 100 if a.quick else 10000
    queued = 500 if a.quick else 20000
    client_count = 2000 if a.quick else 50000

    run = Runner(a)
    for k in ("loadgen", "broker"):
        if not os.access(run.bin[k], os.X_OK):
            sys.exit(f"missing {run.bin[k]}: build the bench-tools target")
    load_before, mosq_version, commit = machine_summary()
    started = time.time()
    d = str(a.duration)
    only = set(a.only.split(",")) if a.only else None

    def want(name):
        return only is None or name in only

    # (name, description, loadgen arguments, result key, unit, higher is better)
    flows = [
        ("qos0", "1 pub -> 1 sub, QoS 0", ["-q", "0", "--window", "500"], "deliveries_per_s", "msg/s", True),
        ("qos0w100", "1 pub -> 1 sub, QoS 0, window 100", ["-q", "0", "--window", "100"], "deliveries_per_s",
         "msg/s", True),
        ("qos1", "1 pub -> 1 sub, QoS 1", ["-q", "1", "--window", "100"], "deliveries_per_s", "msg/s", True),
        ("qos1a20", "1 pub -> 1 sub, QoS 1, 20 unacknowledged (both)", ["-q", "1", "--window", "100",
                                                                        "--ack-window", "20"],
         "deliveries_per_s", "msg/s", True),
        ("qos2", "1 pub -> 1 sub, QoS 2", ["-q", "2", "--window", "100"], "deliveries_per_s", "msg/s", True),
        ("fanout", "1 pub -> 100 subs, QoS 0", ["-q", "0", "--sub", "100", "--window", "50"], "deliveries_per_s",
         "deliveries/s", True),
        ("fanin", "100 pubs -> 1 sub, QoS 0", ["-q", "0", "--pub", "100", "--window", "500"], "deliveries_per_s",
         "deliveries/s", True),
    ]
    rows = []  # (scenario, metric label, ours, mosq, higher_better, cpu ours, cpu mosq, hwm ours, hwm mosq, gen cpu%)

    def add_flow_row(label, metric_label, res, key, higher):
        o, m = median(res.get("ours", []), key), median(res.get("mosquitto", []), key)
        cpu = {}
        for kind in ("ours", "mosquitto"):
            rs = res.get(kind, [])
            vals = [r["broker_cpu_s"] * 1e6 / r["deliveries"] for r in rs if r.get("deliveries")]
            cpu[kind] = statistics.median(vals) if vals else None
        for kind, rs in res.items():
            lost, dup = sum(r.get("lost", 0) for r in rs), sum(r.get("dup", 0) for r in rs)
            if lost or dup:
                run.notes.append(f"{label} ({kind}): {lost:.0f} lost, {dup:.0f} duplicated over {len(rs)} runs.")
        gen = [100 * r["cpu_s"] / r["elapsed_s"] for rs in res.values() for r in rs if r.get("elapsed_s")]
        rows.append((label, metric_label, o, m, higher, cpu["ours"], cpu["mosquitto"],
                     median(res.get("ours", []), "broker_hwm_mb"), median(res.get("mosquitto", []), "broker_hwm_mb"),
                     max(gen) if gen else None))

    common = ["--duration", d, "-s", "64"]
    for name, label, args, key, unit, higher in flows:
        if not want(name):
            continue
        print(f"scenario {name}", file=sys.stderr)
        res = run.alternate(name, lambda kind, exe: run.flow(kind, exe, "", common + args))
        add_flow_row(label, unit, res, key, higher)

    lat_rows = []
    for q in (0, 1):
        name = f"latency{q}"
        if not want(name):
            continue
        print(f"scenario {name}", file=sys.stderr)
        lat_args = ["--duration", str(a.latency_duration), "-s", "64", "-q", str(q), "--rate", "10000"]
        res = run.alternate(name, lambda kind, exe: run.flow(kind, exe, "", lat_args), a.latency_reps)
        for key, label in (("lat_p50_us", "p50"), ("lat_p99_us", "p99"), ("lat_p999_us", "p99.9")):
            ours_vals = [r[key] for r in res.get("ours", []) if key in r]
            mosq_vals = [r[key] for r in res.get("mosquitto", []) if key in r]
            lat_rows.append((f"QoS {q} at 10k msg/s", label, median(res.get("ours", []), key),
                             median(res.get("mosquitto", []), key), ours_vals, mosq_vals))
        rates = [r["deliveries_per_s"] for rs in res.values() for r in rs]
        if rates and min(rates) < 9000:
            run.notes.append(f"latency QoS {q}: some runs did not sustain 10k msg/s (lowest {min(rates):,.0f}/s).")

    durable_note = None
    if want("durable"):
        print("scenario durable", file=sys.stderr)
        store = os.path.join(run.workdir, "store")
        os.makedirs(store, exist_ok=True)
        ours_conf = f"persistence true\npersistence_location {store}\n"
        probe = Broker("ours", run.bin["broker"], run.workdir, ours_conf)
        if probe.start():
            probe.stop()

            store_bytes = []

            def durable(kind, exe):
                for f in os.listdir(store):
                    os.remove(os.path.join(store, f))
                r = run.flow(kind, exe, ours_conf if kind == "ours" else "", common + ["-q", "1", "--window", "100"])
                if kind == "ours":
                    store_bytes.append(sum(os.path.getsize(os.path.join(store, f)) for f in os.listdir(store)))
                return r
            res = run.alternate("durable", durable)
            run.notes.append("Durable QoS 1: the store directory held " + ", ".join(f"{b:,}" for b in store_bytes)
                             + " bytes after each run of mqtt-broker (`persistence_sync always`, the default).")
            add_flow_row("QoS 1, ours durable (`persistence true`) vs Mosquitto in memory", "msg/s", res,
                         "deliveries_per_s", True)
        else:
            durable_note = ("Durable QoS 1 skipped: mqtt-broker did not start with `persistence true` "
                            f"({probe.log_tail().strip()[-200:]}).")
            run.notes.append(durable_note)

    mem_rows = []
    if want("idle"):
        print("scenario idle", file=sys.stderr)
        res = run.alternate("idle", lambda kind, exe: run.phased(
            kind, exe, "", ["--idle", "--clients", str(idle_clients)], 1))
        per = {}
        for kind, rs in res.items():
            vals = [(r["connected"] - r["start"]) / idle_clients for r in rs if "connected" in r]
            per[kind] = statistics.median(vals) if vals else None
        mem_rows.append((f"per idle connected client ({idle_clients:,} clients)", per.get("ours"), per.get("mosquitto")))
    # A 64 B payload shows the fixed cost per message; 1 KiB, what it adds to a
    # typical payload (the fixed cost over the payload size).
    for name, size in (("queue", 64), ("queue1k", 1024)):
        if not want(name):
            continue
        print(f"scenario {name}", file=sys.stderr)
        conf = "max_queued_messages 0\n"
        res = run.alternate(name, lambda kind, exe: run.phased(
            kind, exe, conf, ["--queue", "--count", str(queued), "-s", str(size)], 2))
        per = {}
        for kind, rs in res.items():
            vals = [(r["queued"] - r["empty"]) / queued for r in rs if "queued" in r]
            per[kind] = statistics.median(vals) if vals else None
            short = [r for r in rs if r.get("deliveries", queued) < queued]
            if short:
                run.notes.append(f"{name} ({kind}): the subscriber got {short[0]['deliveries']:.0f} of {queued} "
                                 "queued messages back.")
        unit = "64 B" if size == 64 else "1 KiB"
        mem_rows.append((f"per queued QoS 1 message, {unit} payload ({queued:,} queued)", per.get("ours"),
                         per.get("mosquitto")))

    client_rows = []
    if want("client"):
        have_libmosq = os.access(run.bin["libmosq"], os.X_OK)
        have_client = os.access(run.bin["client"], os.X_OK)
        if not have_libmosq:
            run.notes.append("mosquitto-client-bench not built (libmosquitto-dev missing?): no libmosquitto figures.")
        if not have_client:
            run.notes.append("mqtt-client-bench not built: no mqtt::client figures.")
        # Both clients publish to each broker. Mosquitto caps the rate (it is the
        # bottleneck there, so its ratio mostly measures the broker); mqtt-broker is
        # several times faster, so against it the rates show the clients' own speed.
        for kind, exe in run.brokers:
            for q in (0, 1, 2):
                print(f"scenario client{q} [{kind}]", file=sys.stderr)
                res = {"client": [], "libmosq": []}
                for rep in range(a.reps):
                    order = ["client", "libmosq"] if rep % 2 == 0 else ["libmosq", "client"]
                    for k in order:
                        if not (have_libmosq if k == "libmosq" else have_client):
                            continue
                        r, err = run.client(k, kind, exe, q, client_count)
                        if err:
                            run.failures.append(f"client qos{q} [{kind}]: {err}")
                        else:
                            res[k].append(r)
                client_rows.append((kind, q, median(res["client"], "msgs_per_s"), median(res["libmosq"], "msgs_per_s"),
                                    median(res["client"], "cpu_us_per_msg"), median(res["libmosq"], "cpu_us_per_msg")))

    gen_rows = []
    if want("generator") and not a.quick and os.access(run.bin["mqtt-bench"], os.X_OK):
        # Against our broker, the faster one, so that the generator's own limit shows.
        print("scenario generator", file=sys.stderr)
        for q in (0, 1):
            window = "500" if q == 0 else "100"  # as in the table above
            lg, cpu, mb, mb_lost = [], [], [], []
            for _ in range(a.reps):
                r, err = run.flow("ours", run.bin["broker"], "", common + ["-q", str(q), "--window", window])
                if r:
                    lg.append(r["deliveries_per_s"])
                    cpu.append(100 * r["cpu_s"] / r["elapsed_s"])
                b = Broker("ours", run.bin["broker"], run.workdir)
                if b.start():
                    try:
                        p = subprocess.run([run.bin["mqtt-bench"], "-p", str(b.port), "-q", str(q), "--duration", d],
                                           capture_output=True, text=True, timeout=a.duration + 20)
                        m = re.search(r"received:\s+\d+ msgs in [\d.]+ s = (\d+) msgs/s", p.stdout)
                        if m:
                            mb.append(float(m.group(1)))
                        m = re.search(r"lost:\s+(\d+)", p.stdout)
                        if m:
                            mb_lost.append(int(m.group(1)))
                    except subprocess.TimeoutExpired:
                        run.notes.append(f"mqtt-bench QoS {q} against mqtt-broker did not finish within "
                                         f"{a.duration + 20:g} s (still receiving the broker's backlog).")
                    finally:
                        b.stop()
            med = lambda v: statistics.median(v) if v else None  # noqa: E731
            gen_rows.append((q, med(lg), med(mb), med(cpu), max(mb_lost) if mb_lost else None))

    sys_rows = []
    if want("syscalls") and not a.quick and shutil.which("strace"):
        print("scenario syscalls", file=sys.stderr)
        for kind, exe in run.brokers:
            r = run.syscalls(kind, exe, 20000)
            if r:
                sys_rows.append((kind, r[0], r[1]))

    instr_text = None
    if a.instructions_file:
        with open(a.instructions_file) as f:
            instr_text = f.read().strip() + "\n\n(Counted by a separate `bench/instructions.sh` run on the same commit.)"
    elif a.instructions:
        p = subprocess.run([os.path.join(ROOT, "bench", "instructions.sh"), a.build_dir], capture_output=True,
                           text=True, timeout=1800)
        instr_text = p.stdout.strip() if p.returncode == 0 else f"instructions.sh failed: {p.stderr.strip()[-300:]}"

    load_after = os.getloadavg()
    elapsed = time.time() - started
    run.close()

    # ---- report --------------------------------------------------------------------
    L = []
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    L.append("# Benchmarks: mqtt-broker and mqtt::client vs Mosquitto\n")
    L.append(f"Generated by `bench/run.py{' --quick' if a.quick else ''}` on {now}, HEAD `{commit}` "
             f"(binaries of {os.path.relpath(a.build_dir, ROOT)}, built from the working tree), "
             f"{os.cpu_count()} CPUs, {mosq_version}. {a.reps} round(s) of A/B alternation, "
             f"{a.duration:g} s per throughput run; latency {a.latency_reps} round(s) of "
             f"{a.latency_duration:g} s; medians; the run took {elapsed:.0f} s.")
    # The run itself keeps about two processes busy (generator and broker), so only the
    # load before it says whether others were using the machine.
    loaded = load_before[0] >= 1.5
    L.append(f"Load average (1 min) {load_before[0]:.2f} before the run, {load_after[0]:.2f} after it (the "
             "benchmark itself adds about 2)."
             + (" **The machine was loaded (other builds running): absolute figures are low and noisy; "
                "only the ratios measured side by side mean something, and even they carry noise.**" if loaded else ""))
    if a.quick:
        L.append("**Quick mode: very short runs, for checking that the harness works, not for comparing.**")
    L.append("")
    L.append("Ratio = ours / Mosquitto. For throughput higher is better; for latency and memory lower is better. "
             "Lost or duplicated messages, if any, are listed under Notes.\n")
    L.append("## Broker throughput\n")
    L.append("64-byte payloads, `mqtt-loadgen` (MQTT 5, one thread) keeping a window of messages in flight end to "
             "end (sent but not yet received by every subscriber): 500 for QoS 0 (and 100 in its second row), 100 "
             "for QoS 1/2 (Mosquitto does better with 100 than with 500 there), 50 messages (5,000 deliveries) "
             "for fan-out. CPU/msg = broker CPU time (utime+stime from "
             "/proc) per delivered message; RSS = broker peak resident memory; gen CPU = the load generator's own "
             "CPU use (highest of the runs), to show whether it was the bottleneck.\n")
    L.append("| scenario | unit | mqtt-broker | Mosquitto | ratio | CPU µs/msg ours | CPU µs/msg Mosquitto "
             "| peak RSS MB ours | peak RSS MB Mosquitto | gen CPU |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, unit, o, m, higher, co, cm, ho, hm, gen in rows:
        L.append(f"| {label} | {unit} | {fmt(o)} | {fmt(m)} | {ratio(o, m)} | {fmt(co, 2)} | {fmt(cm, 2)} "
                 f"| {fmt(ho, 1)} | {fmt(hm, 1)} | {fmt(gen)}% |")
    if durable_note:
        L.append(f"\n{durable_note}")
    L.append("\n## Latency at a fixed 10,000 msg/s\n")
    L.append("1 pub -> 1 sub, open loop: each payload carries the time it was due, so a stalled sender counts "
             "(no coordinated omission). Microseconds, end to end through the broker on loopback.\n")
    L.append("Medians of the rounds; the range columns give the lowest and highest round, and the last column "
             "in how many rounds ours was at or below Mosquitto's run next to it (same round).\n")
    L.append("| scenario | percentile | mqtt-broker µs | Mosquitto µs | ratio | range ours | range Mosquitto "
             "| rounds ours <= Mosquitto |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|")

    def span(vals):
        return f"{fmt(min(vals))}-{fmt(max(vals))}" if vals else "n/a"

    for label, pct, o, m, ov, mv in lat_rows:
        pairs = list(zip(ov, mv))
        wins = sum(1 for x, y in pairs if x <= y)
        L.append(f"| {label} | {pct} | {fmt(o, 1)} | {fmt(m, 1)} | {ratio(o, m)} | {span(ov)} | {span(mv)} "
                 f"| {wins} of {len(pairs)} |")
    L.append("\n## Memory\n")
    L.append("Broker resident memory (/proc/PID/statm) sampled before and after; bytes per client or message. "
             "Queued messages: a persistent 3.1.1 subscriber (QoS 1) goes offline, then one publisher sends the "
             "messages; both brokers with `max_queued_messages 0` (no limit).\n")
    L.append("| what | mqtt-broker bytes | Mosquitto bytes | ratio |")
    L.append("|---|---:|---:|---:|")
    for label, o, m in mem_rows:
        L.append(f"| {label} | {fmt(o)} | {fmt(m)} | {ratio(o, m)} |")
    L.append("\n## Client library: publishing with mqtt::client vs libmosquitto\n")
    L.append(f"{client_count:,} messages of 64 B, 100 publishes outstanding (QoS 0: until written to the socket; "
             "QoS 1/2: until acknowledged), MQTT 5, one thread each (`mqtt-client-bench`, `mosquitto-client-bench`), "
             "to each broker. Against Mosquitto the broker is the bottleneck, so that rate ratio mostly measures "
             "Mosquitto; mqtt-broker is several times faster, so against it the rates show the clients' own speed. "
             "CPU µs/msg is the client process's own CPU time per message.\n")
    L.append("| broker | QoS | mqtt::client msg/s | libmosquitto msg/s | ratio | mqtt::client CPU µs/msg "
             "| libmosquitto CPU µs/msg | CPU ratio |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for kind, q, o, m, co, cm in client_rows:
        name = "mqtt-broker" if kind == "ours" else "Mosquitto"
        L.append(f"| {name} | {q} | {fmt(o)} | {fmt(m)} | {ratio(o, m)} | {fmt(co, 2)} | {fmt(cm, 2)} "
                 f"| {ratio(co, cm)} |")
    if gen_rows:
        L.append("\n## Load generators compared (1 pub -> 1 sub against mqtt-broker)\n")
        L.append("`mqtt-loadgen` (window 500 at QoS 0, 100 at QoS 1) and `mqtt-bench` (client library, its defaults: 3.1.1, window 256 "
                 "at QoS 0 and 20 at QoS 1), medians of the rounds. The tables above use mqtt-loadgen: it costs less "
                 "CPU per message than a client-library generator, so it stays far from being the bottleneck.\n")
        L.append("mqtt-bench has no end-to-end window at QoS 0: it publishes as fast as it can write, so the "
                 "broker's queue to the subscriber can grow without bound; its lost count shows what the broker "
                 "dropped then.\n")
        L.append("| QoS | mqtt-loadgen deliveries/s | mqtt-loadgen CPU | mqtt-bench received msg/s "
                 "| mqtt-bench lost (worst run) | faster |")
        L.append("|---|---:|---:|---:|---:|---|")
        for q, lg, mb, cpu, lost in gen_rows:
            faster = "n/a" if lg is None or mb is None else ("mqtt-loadgen" if lg >= mb else "mqtt-bench")
            L.append(f"| {q} | {fmt(lg)} | {fmt(cpu)}% | {fmt(mb)} | {fmt(lost)} | {faster} |")
    if sys_rows:
        L.append("\n## System calls per message (strace -c)\n")
        L.append("Broker system calls during 20,000 QoS 0 messages, 1 pub -> 1 sub, window 500, divided by the "
                 "message count (strace slows the broker; the counts are what matter). System calls are costly on "
                 "this virtual machine, which is much of the CPU µs/msg difference above.\n")
        L.append("| broker | syscalls/msg | most frequent (per msg) |")
        L.append("|---|---:|---|")
        for kind, per, top in sys_rows:
            L.append(f"| {'mqtt-broker' if kind == 'ours' else 'Mosquitto'} | {per:.2f} | {top} |")
    if instr_text:
        L.append("\n## Instructions per message (valgrind callgrind)\n")
        L.append(instr_text)
    if run.notes or run.failures:
        L.append("\n## Notes\n")
        for n in dict.fromkeys(run.notes):  # once each, in order
            L.append(f"- {n}")
        for f in run.failures:
            L.append(f"- FAILED: {f}")
    L.append("\n## Method\n")
    L.append(METHOD)
    text = "\n".join(L) + "\n"
    # Hand-written analysis at the end of the previous file (from the marker on)
    # is kept: it explains figures this run only reproduces.
    try:
        with open(a.out) as f:
            old = f.read()
        if KEEP_MARKER in old:
            text += "\n" + old[old.index(KEEP_MARKER):]
    except OSError:
        pass
    if a.raw:
        with open(a.raw, "w") as f:
            json.dump(run.raw, f, indent=1)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)
    print(text)
    # The check CI relies on: a table with figures for our broker.
    if not rows and not mem_rows and not lat_rows and not client_rows:
        sys.exit("no table produced")
    if any(r[2] is None for r in rows):
        sys.exit("a scenario produced no figure for mqtt-broker")
    if run.failures:
        sys.exit(f"{len(run.failures)} run(s) failed")


METHOD = """\
- `bench/run.py` starts each broker fresh for every run, with a generated configuration
  (`listener PORT 127.0.0.1`, `allow_anonymous true`, otherwise defaults) on a free
  loopback port: `/usr/sbin/mosquitto -c FILE` and `build*/broker/mqtt-broker -c FILE`.
  Runs alternate A B A B ... (the order flips every round) and the table gives medians.
- Load: `mqtt-loadgen` (bench/loadgen/): one thread, epoll, raw non-blocking sockets
  and our codec (`mqtt::core`). Every payload carries publisher index, sequence number
  and send time; subscribers count lost and duplicated messages and the latency. The
  window counts messages not yet received by every subscriber, so a broker's queues
  never overflow (Mosquitto drops beyond `max_queued_messages 1000`). QoS 1/2 publishers
  keep at most the broker's Receive Maximum unacknowledged: by default mqtt-broker
  announces 100, Mosquitto 20 (its `max_inflight_messages`), so the plain QoS 1/2 rows
  compare default configurations and the "20 unacknowledged" row the same window. The
  rate is deliveries / time from the first publish to the last delivery.
- Latency: one publisher at a fixed 10k msg/s to one subscriber, 10 s per run (100,000
  samples, so a p99.9 rests on the slowest 100) and 5 rounds instead of 3: on a shared
  VM one stall of a few milliseconds moves a short run's tail by a factor of several,
  in either direction and for either broker. `--latency-reps` and `--latency-duration`
  change this.
- Broker CPU from `/proc/PID/stat` (utime + stime) over the load generator's run,
  including connection set-up and drain; peak RSS is `VmHWM`.
- `bench/run.py --quick` is the CI smoke test (ctest `bench:quick`, label `bench`): it
  checks that the tables are produced, never the figures.
- `bench/instructions.sh [BUILD_DIR]` counts broker instructions per message with
  callgrind (user space only); `bench/run.py --instructions-file F` embeds its output.
- Reproduce: `bench/run.sh` (configures and builds `bench-tools` in build-bench, then runs
  `bench/run.py`); `bench/run.py --only qos0,latency0 --reps 5` runs a subset;
  `ctest -L bench` runs the quick mode. By hand:
  `mqtt-loadgen -p PORT -q 1 --pub 1 --sub 1 -s 64 --window 100 --duration 5` prints one
  `RESULT key=value ...` line (deliveries/s, lost, dup, latency percentiles, its own CPU);
  `--rate R` gives the fixed-rate latency mode, `--idle --clients N` and `--queue --count N`
  the memory modes (they print `PHASE` lines and wait for a line on stdin after each).
"""

if __name__ == "__main__":
    main()
