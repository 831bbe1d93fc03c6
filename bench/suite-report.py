#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/uml-suite's report: reads the guest's results (WORK/out/<part>/)
and the host's (WORK/hydrate.md, WORK/host.env), writes OUTDIR/RESULTS.md
(each figure as a ratio to its baseline, the raw numbers, the machine, the
command) and OUTDIR/results/suite-*.png (gnuplot), prints the summary, and
exits 1 when a ratio is worse than its tripwire (half its target), 0
otherwise. A part that was run but left no results is an error (exit 2)."""
import argparse
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time



def crashed(kind, value, tb):
    # A missing key or file is a broken run, not a tripped tripwire: exit 2.
    import traceback
    traceback.print_exception(kind, value, tb)
    print("suite-report: the results are incomplete or malformed", file=sys.stderr)
    sys.exit(2)


sys.excepthook = crashed
ap = argparse.ArgumentParser()
ap.add_argument("--work", required=True)
ap.add_argument("--output-dir", required=True)
ap.add_argument("--command", required=True)
ap.add_argument("--smoke", type=int, default=0)
ap.add_argument("--load-before", default="?")
ap.add_argument("--seconds", type=float, default=0)
ap.add_argument("--rev", default="?")
a = ap.parse_args()
OUT = os.path.join(a.work, "out")
PLOTS = os.path.join(a.output_dir, "results")
os.makedirs(PLOTS, exist_ok=True)


def die(msg):
    print(f"suite-report: {msg}", file=sys.stderr)
    sys.exit(2)


def load_env(path):
    env = {}
    if not os.path.exists(path):
        return None
    for line in open(path):
        k, sep, v = line.rstrip("\n").partition("=")
        if sep:
            env[k] = shlex.split(v)[0] if v else ""
    return env


top = load_env(os.path.join(OUT, "results.env")) or die("no results from the guest")
parts = top.get("SUITE_PARTS", "").split()
env = {}
for p in parts:
    env[p] = load_env(os.path.join(OUT, p, "results.env"))
    if not env[p]:
        die(f"part {p} ran but left no results in {OUT}/{p}/results.env")

med = statistics.median
checks = []  # (figure, value text, target text, tripwire text, status)


def check(figure, value, target, tripwire, higher_better, fmt="{:.2f}"):
    """Records a figure; returns False when its tripwire trips."""
    good = value >= target if higher_better else value <= target
    tripped = value < tripwire if higher_better else value > tripwire
    status = "**TRIPPED**" if tripped else ("met" if good else "short")
    op = ">=" if higher_better else "<="
    checks.append((figure, fmt.format(value), f"{op} {target:g}", f"{op} {tripwire:g}", status))
    return not tripped


def progress_dat(samples, t0, dat):
    """Writes the gnuplot data of one progress log ("epoch hydrated total"
    lines): seconds from t0 and percent, from (0, 0). Returns dat."""
    rows = ["0 0"]
    for line in open(samples):
        ts, h, tot = line.split()
        rows.append(f"{float(ts) - t0:.3f} {100.0 * int(h) / max(int(tot), 1):.2f}")
    open(dat, "w").write("\n".join(rows) + "\n")
    return dat


def f0(x):
    return f"{x:.0f}"


md = []
ok = True
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem_gib = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 1048576
load_after = open("/proc/loadavg").read().split()[:3]

# ---- part 1 + 2: ceiling and idle hydration ---------------------------------
sec_hyd = []
if "hydration" in parts:
    e = env["hydration"]
    mib, runs = int(e["BENCH_MIB"]), int(e["BENCH_RUNS"])
    tools = ["ceiling", "dd", "aiocopy", "dmclone", "lunclone"]
    t = {x: [float(e[f"BENCH_{x}_{r}"]) for r in range(1, runs + 1)] for x in tools}
    cr = [float(e[f"BENCH_ceilread_{r}"]) for r in range(1, runs + 1)]
    cw = [float(e[f"BENCH_ceilwrite_{r}"]) for r in range(1, runs + 1)]
    cb = [float(e[f"BENCH_ceilboth_{r}"]) for r in range(1, runs + 1)]
    # Ratios per run (the tools of one run ran back to back, under the same
    # load), then the median over the runs.
    r_ceil = med([t["ceiling"][i] / t["lunclone"][i] for i in range(runs)])
    r_dm = med([t["dmclone"][i] / t["lunclone"][i] for i in range(runs)])
    r_dmceil = med([t["ceiling"][i] / t["dmclone"][i] for i in range(runs)])
    r_both = med([cb[i] / t["lunclone"][i] for i in range(runs)])
    r_dmboth = med([cb[i] / t["dmclone"][i] for i in range(runs)])
    r_dd = med([t["dd"][i] / t["lunclone"][i] for i in range(runs)])
    r_aio = med([t["aiocopy"][i] / t["lunclone"][i] for i in range(runs)])
    # The faster of the two plain copies, per run: what a copy got here.
    best = [min(t["dd"][i], t["aiocopy"][i]) for i in range(runs)]
    r_bestceil = med([t["ceiling"][i] / best[i] for i in range(runs)])
    r_bestboth = med([cb[i] / best[i] for i in range(runs)])
    # Both forms gate every ratio. The smoke copies 1 GiB: the clones' fixed
    # costs (tcmu-runner adding the device, ~0.1 s in UML; dmsetup create)
    # made lunclone / ceiling 0.33-0.48 at 256 MiB, around the tripwire,
    # and 0.65 (alone) / 0.74 (at once) at 1 GiB.
    ok &= check("idle hydration: lunclone / ceiling, read and write each alone (part 2)",
                r_ceil, 0.95, 0.475, True)
    ok &= check("idle hydration: lunclone / ceiling, read and write at once (part 2)",
                r_both, 0.95, 0.475, True)
    ok &= check("idle hydration: lunclone / kernel dm-clone (part 2)", r_dm, 1.0, 0.5, True)
    names = {"ceiling": "ceiling: slower of fio read / write", "dd": "dd copy (1 MiB, O_DIRECT)",
             "aiocopy": "aiocopy: one-thread native-AIO copy, 4 batches in flight (bench/aiocopy.c)",
             "dmclone": "kernel dm-clone", "lunclone": "lunclone (user:clone in tcmu-runner)"}
    sec_hyd += [
        "## Parts 1 and 2: the copy ceiling and idle hydration",
        "",
        f"{mib} MiB of random data on a read-only loop device, copied onto a loop device "
        f"(both over the guest's tmpfs); regions of {e['BENCH_REGION_KIB']} KiB, batch "
        f"{e['BENCH_BATCH']} regions for both clones; {runs} runs, the order rotated from run "
        "to run; the destination discarded and the page cache dropped before each, compared "
        "with the source (bench/devcmp) after each. Clones are timed from the backstore's enable / "
        "`dmsetup create` to 100 % (lunclone: state complete, hydrated and committed), both "
        "polled every 20 ms by one process each. fio and aiocopy are timed by their own "
        "clocks (no start-up).",
        "",
        "| part 1: ceiling (fio, 1 MiB, qd 16, O_DIRECT) | median MiB/s | runs (MiB/s) |",
        "| --- | ---: | --- |",
        f"| sequential read of the source | {mib / med(cr):.0f} | {', '.join(f0(mib / x) for x in cr)} |",
        f"| sequential write of the destination | {mib / med(cw):.0f} | {', '.join(f0(mib / x) for x in cw)} |",
        f"| copy limit (the slower, per run) | {mib / med(t['ceiling']):.0f} | {', '.join(f0(mib / x) for x in t['ceiling'])} |",
        f"| read and write at once (one fio run, until both are done) | {mib / med(cb):.0f} | {', '.join(f0(mib / x) for x in cb)} |",
        "",
        "| part 2: tool | median s | MiB/s | runs (s) |",
        "| --- | ---: | ---: | --- |",
    ]
    for x in tools:
        sec_hyd.append(f"| {names[x]} | {med(t[x]):.2f} | {mib / med(t[x]):.0f} | "
                       f"{', '.join(f'{v:.2f}' for v in t[x])} |")
    sec_hyd += [
        "",
        "| ratio of throughputs (median of the per-run ratios) | value | target |",
        "| --- | ---: | --- |",
        f"| lunclone / ceiling (read, write each alone) | {r_ceil:.2f} | >= 0.95 |",
        f"| lunclone / ceiling (read and write at once) | {r_both:.2f} | >= 0.95 |",
        f"| lunclone / kernel dm-clone | {r_dm:.2f} | >= 1.0 |",
        f"| kernel dm-clone / ceiling (each alone) | {r_dmceil:.2f} | (reference) |",
        f"| kernel dm-clone / ceiling (at once) | {r_dmboth:.2f} | (reference) |",
        f"| lunclone / dd copy | {r_dd:.2f} | (reference) |",
        f"| lunclone / aiocopy | {r_aio:.2f} | (reference) |",
        f"| faster of dd and aiocopy / ceiling (each alone) | {r_bestceil:.2f} | (reference: what a plain copy got) |",
        f"| faster of dd and aiocopy / ceiling (at once) | {r_bestboth:.2f} | (reference) |",
        "",
        "![hydration progress](results/suite-progress.png)",
        "",
    ]
    # Plot data: progress of every run, seconds from the start, percent.
    series = []
    for tool, label in (("lunclone", "lunclone"), ("dmclone", "dm-clone")):
        for r in range(1, runs + 1):
            path = os.path.join(OUT, "hydration", f"progress-{tool}-{r}.txt")
            t0 = float(e[f"BENCH_{tool}_t0_{r}"])
            dat = progress_dat(path, t0, os.path.join(a.work, f"plot-progress-{tool}-{r}.dat"))
            series.append((dat, f"{label} run {r}", 1 if tool == "lunclone" else 2, r))
    ceil_s = med(t["ceiling"])
    plot = [
        "set terminal pngcairo size 960,540 font ',10' noenhanced",
        f"set output '{os.path.join(PLOTS, 'suite-progress.png')}'",
        f"set title 'Idle hydration of {mib} MiB in one UML guest: lunclone vs kernel dm-clone'",
        "set xlabel 'seconds from start'", "set ylabel 'hydrated (%)'",
        "set yrange [0:105]", "set key bottom right", "set grid",
        "plot " + ", ".join(
            [f"'{d}' using 1:2 with lines lw 2 lc {c} dt {r} title '{l}'" for d, l, c, r in series]
            + [f"[0:{ceil_s:.3f}] 100 * x / {ceil_s:.3f} with lines lc 8 dt 3 title 'copy ceiling (median)'"]),
    ]
    open(os.path.join(a.work, "progress.gp"), "w").write("\n".join(plot) + "\n")

# ---- part 4: user I/O during hydration --------------------------------------
sec_dur = []
if "during" in parts:
    e = env["during"]
    size_mib = int(e["DUR_SIZE"]) >> 20
    cfgs = e["DUR_CONFIGS"].split()
    jobs = []
    for spec in e["DUR_JOBS"].split():
        rw, bs, qd = spec.split(":")
        jobs.append(f"{rw}_{bs}_qd{qd}")
    reps = int(e["DUR_REPEATS"])
    label = {"yield-on": "lunclone, yield on", "yield-off": "lunclone, yield off", "dmclone": "kernel dm-clone"}
    g = lambda c, j, r, m: float(e[f"DUR_{c.replace('-', '_')}_{j}_{r}_{m}"])
    alone = {c: float(e[f"DUR_{c.replace('-', '_')}_ALONE_HYD"]) for c in cfgs}
    sec_dur += [
        "## Part 4: user I/O while hydration runs",
        "",
        f"The source and destination devices of part 2 ({size_mib} MiB), each configuration "
        "exported by LIO over iSCSI on loopback and used through open-iscsi: lunclone "
        "(user:clone, `direct=on`, same region size and batch) with `yield=on` (hydration "
        "backs off to `min_rate` while the initiator does I/O) and `yield=off`, and kernel "
        "dm-clone (an iblock backstore over the dm device; it has no yield). For every job: "
        f"a fresh clone, paused; fio (libaio, O_DIRECT, {e['DUR_SECONDS']} s) started; "
        "hydration resumed once fio's I/O reaches the disk; **during** = the I/Os completed "
        "between that moment and 100 % hydrated (or fio's end); then, on the hydrated clone, "
        "the same job again: **idle** (minus its first 0.5 s). Latencies are fio's completion "
        f"latencies of every I/O. {reps} repeat(s); ratios are medians of the per-repeat ratios.",
        "",
        "| config | job | during p50 / p99 us | idle p50 / p99 us | p99 during / idle | IOPS during / idle | "
        "hydration s during I/O | alone s | hydration during / alone |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    worst_yield, worst_job = None, None
    for j in jobs:
        for c in cfgs:
            rr = [r for r in range(1, reps + 1) if f"DUR_{c.replace('-', '_')}_{j}_{r}_P99" in e]
            if not rr:
                die(f"part 4: no results for {c} {j}")
            p99r = med([g(c, j, r, "P99") / max(g(c, j, r, "IDLE_P99"), 1) for r in rr])
            iopsr = med([g(c, j, r, "IOPS") / max(g(c, j, r, "IDLE_IOPS"), 1) for r in rr])
            hyd = med([g(c, j, r, "HYD") for r in rr])
            if c == "yield-on" and (worst_yield is None or p99r > worst_yield):
                worst_yield, worst_job = p99r, j
            sec_dur.append(
                f"| {label[c]} | {j} | {med([g(c, j, r, 'P50') for r in rr]):.0f} / "
                f"{med([g(c, j, r, 'P99') for r in rr]):.0f} | "
                f"{med([g(c, j, r, 'IDLE_P50') for r in rr]):.0f} / {med([g(c, j, r, 'IDLE_P99') for r in rr]):.0f} | "
                f"**{p99r:.2f}** | {iopsr:.2f} | {hyd:.2f} | {alone[c]:.2f} | {hyd / alone[c]:.2f} |")
    if worst_yield is not None:
        ok &= check(f"user p99 during hydration / idle, yield on, worst job ({worst_job}) (part 4)",
                    worst_yield, 1.5, 3.0, False)
    per_rep = "; ".join(
        f"{j}: " + ", ".join(f"{g('yield-on', j, r, 'P99') / max(g('yield-on', j, r, 'IDLE_P99'), 1):.2f}"
                            for r in range(1, reps + 1) if f"DUR_yield_on_{j}_{r}_P99" in e) for j in jobs) if "yield-on" in cfgs else ""
    sec_dur += [
        "",
        "Hydration alone (same setup, logged in, no I/O): "
        + ", ".join(f"{label[c]} {alone[c]:.2f} s" for c in cfgs) + ".",
        f"Yield on, p99 during / idle of every repeat: {per_rep}." if per_rep else "",
        "",
        "![user latency during hydration](results/suite-latency.png)",
        "",
        "![hydration progress during user I/O](results/suite-progress-during.png)",
        "",
    ]
    # Plots: the first job, first repeat.
    j = jobs[0]
    lat_series, prog_series, arrows = [], [], []
    colors = {"yield-on": 1, "yield-off": 4, "dmclone": 2}
    for c in cfgs:
        lat_series.append((os.path.join(OUT, "during", f"lat-{c}-{j}-1-during.txt"), f"{label[c]}, during hydration", colors[c]))
        hyd = g(c, j, 1, "HYD")
        arrows.append(f"set arrow from {hyd:.3f}, graph 0 to {hyd:.3f}, graph 1 nohead lc {colors[c]} dt 2")
        t0 = g(c, j, 1, "T0")
        dat = progress_dat(os.path.join(OUT, "during", f"progress-{c}-{j}-1.txt"), t0,
                           os.path.join(a.work, f"plot-during-{c}.dat"))
        prog_series.append((dat, f"{label[c]}, during {j}", colors[c], 1))
        t0 = float(e[f"DUR_{c.replace('-', '_')}_ALONE_T0"])
        dat = progress_dat(os.path.join(OUT, "during", f"progress-{c}-alone.txt"), t0,
                           os.path.join(a.work, f"plot-alone-{c}.dat"))
        prog_series.append((dat, f"{label[c]}, alone", colors[c], 3))
    first = cfgs[0]
    lat_series.append((os.path.join(OUT, "during", f"lat-{first}-{j}-1-idle.txt"), "hydrated clone (idle), lunclone" if first != "dmclone" else "hydrated clone (idle)", 8))
    plot = [
        "set terminal pngcairo size 960,540 font ',10' noenhanced",
        f"set output '{os.path.join(PLOTS, 'suite-latency.png')}'",
        f"set title 'fio {j} on a {size_mib} MiB clone: p99 completion latency per 250 ms (dashed: hydration done)'",
        "set xlabel 'seconds from the start of hydration (idle: from the first I/O + 0.5 s)'",
        "set ylabel 'p99 latency per 250 ms (us)'", "set logscale y", "set key top right", "set grid",
    ] + arrows + [
        "plot " + ", ".join(f"'{d}' using 1:3 with linespoints pt 7 ps 0.4 lc {c} title '{l}'" for d, l, c in lat_series),
    ]
    open(os.path.join(a.work, "latency.gp"), "w").write("\n".join(plot) + "\n")
    plot = [
        "set terminal pngcairo size 960,540 font ',10' noenhanced",
        f"set output '{os.path.join(PLOTS, 'suite-progress-during.png')}'",
        f"set title 'Hydration of {size_mib} MiB alone (dotted) and during fio {j} (solid)'",
        "set xlabel 'seconds from resume'", "set ylabel 'hydrated (%)'",
        "set yrange [0:105]", "set key bottom right", "set grid",
        "plot " + ", ".join(f"'{d}' using 1:2 with lines lw 2 lc {c} dt {dt} title '{l}'" for d, l, c, dt in prog_series),
    ]
    open(os.path.join(a.work, "progress-during.gp"), "w").write("\n".join(plot) + "\n")

# ---- part 3: user I/O on a hydrated clone -----------------------------------
sec_uio = []
if "userio" in parts:
    e = env["userio"]
    jobs = [f"{rw}_{bs}_qd{qd}" for rw, bs in (("randread", "4k"), ("randwrite", "4k"),
                                             ("read", "128k"), ("write", "128k")) for qd in (1, 32)]
    g = lambda c, j, m: float(e[f"UIO_{c}_{j}_{m}"])
    sec_uio += [
        "## Part 3: user I/O on a hydrated clone",
        "",
        f"Three {e['UIO_MIB']} MiB LUNs on the guest's tmpfs through iSCSI on loopback "
        f"(open-iscsi, fio libaio O_DIRECT, {e['UIO_SECONDS']} s per job and LUN after 1 s of "
        "ramp, the order rotating from job to job): user:clone (hydrated first), user:file "
        "(tcmu-runner's file_example.c, the user-space ceiling) and LIO fileio (the kernel "
        "ceiling).",
        "",
        "| job | clone IOPS | file IOPS | fileio IOPS | clone MB/s | clone p50/p99 us | "
        "file p50/p99 us | fileio p50/p99 us | clone / file | clone / fileio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    worst, worst_job = None, None
    for j in jobs:
        rf = g("clone", j, "IOPS") / max(g("file", j, "IOPS"), 1)
        rk = g("clone", j, "IOPS") / max(g("fileio", j, "IOPS"), 1)
        if worst is None or rf < worst:
            worst, worst_job = rf, j
        pl = lambda c: f"{g(c, j, 'P50'):.0f}/{g(c, j, 'P99'):.0f}"
        sec_uio.append(f"| {j} | {g('clone', j, 'IOPS'):.0f} | {g('file', j, 'IOPS'):.0f} | "
                       f"{g('fileio', j, 'IOPS'):.0f} | {g('clone', j, 'MBS'):.1f} | {pl('clone')} | "
                       f"{pl('file')} | {pl('fileio')} | **{rf:.2f}** | {rk:.2f} |")
    ok &= check(f"user I/O on a hydrated clone: clone / user:file IOPS, worst job ({worst_job}) (part 3)",
                worst, 1.0, 0.5, True)
    sec_uio.append("")

# ---- part 5: memory ----------------------------------------------------------
sec_mem = []
if "memory" in parts:
    e = env["memory"]
    host = load_env(os.path.join(a.work, "host.env")) or {}
    rss0, rss1, rssn = (int(e[k]) for k in ("rss0_kib", "rss1_kib", "rssn_kib"))
    peak = int(e["rss_hydrating_peak_kib"])
    regions = int(e["regions_per_device"])
    bitmap_kib = regions / 8 / 1024
    gib = regions * 64 // (1024 * 1024)
    guest_env = load_env(os.path.join(OUT, "env")) or die("no guest env file")
    sec_mem_n = int(guest_env["E2E_MEM_DEVICES"])
    per_dev = (rssn - rss0) / sec_mem_n
    per_dev_hyd = (peak - rss0) / sec_mem_n
    beyond = max(per_dev, per_dev_hyd) - bitmap_kib
    ok &= check("tcmu-runner RSS per 64 GiB clone beyond its bitmap, MiB (worse of paused / hydrating) (part 5)",
                beyond / 1024, 16, 32, False)
    mb = lambda k: f"{k / 1024:.2f}"
    sec_mem += [
        "## Part 5: memory",
        "",
        f"tcmu-runner with handler_clone.so in the same guest: its VmRSS with no device, one, "
        f"and {sec_mem_n} user:clone devices of {gib} GiB (sparse files, 64 KiB regions: {regions} per "
        f"device, a {bitmap_kib:.0f} KiB bitmap) opened paused, then the peak while all hydrate "
        "(throttled to 8 MiB/s each).",
        "",
        "| measure | MiB |",
        "| --- | ---: |",
        f"| RSS, no device | {mb(rss0)} |",
        f"| with 1 device | {mb(rss1)} |",
        f"| with {sec_mem_n} devices, paused | {mb(rssn)} |",
        f"| with {sec_mem_n} devices, peak while hydrating | {mb(peak)} |",
        f"| per device beyond its bitmap, paused | {mb(per_dev - bitmap_kib)} |",
        f"| per device beyond its bitmap, hydrating | {mb(per_dev_hyd - bitmap_kib)} |",
        "",
    ]
    if host:
        sec_mem += [f"Metadata store per TiB of source (`lunclone format`, host): "
                    f"{int(host['META_64K']) / 1048576:.2f} MiB at 64 KiB regions, "
                    f"{int(host['META_4K']) / 1048576:.2f} MiB at 4 KiB.", ""]

# ---- host-native part ---------------------------------------------------------
sec_host = []
hmd = os.path.join(a.work, "hydrate.md")
if os.path.exists(hmd):
    text = open(hmd).read()
    rows = [l for l in text.splitlines() if l.startswith("|")]
    rat = re.findall(r"lunclone throughput / (dd|cp): \*\*([0-9.]+)\*\*", text)
    src = re.search(r"Source: (\d+) MiB of random data, (\d+) run", text)
    sec_host += [
        "## Host-native: `lunclone hydrate` against dd and cp (bench/hydrate)",
        "",
        f"{src.group(1)} MiB of random data in files on the host's file system, {src.group(2)} run(s) "
        "per tool in rotating order, durable at the end (fsync, or lunclone's final commit).",
        "",
    ] + rows + [""]
    for tool, v in rat:
        checks.append((f"host: lunclone hydrate / {tool} (bench/hydrate)", v, ">= 0.9", "(none)",
                       "met" if float(v) >= 0.9 else "short"))

# ---- plots ----------------------------------------------------------------------
for gp in ("progress.gp", "latency.gp", "progress-during.gp"):
    path = os.path.join(a.work, gp)
    if os.path.exists(path):
        r = subprocess.run(["gnuplot", path], capture_output=True, text=True)
        if r.returncode != 0:
            die(f"gnuplot {gp} failed: {r.stderr.strip()}")

# ---- RESULTS.md -----------------------------------------------------------------
kernel = top.get("SUITE_KERNEL", "?")
head = [
    "# lunclone benchmarks (issue 7)" + (" -- smoke form" if a.smoke else ""),
    "",
    f"Generated by `{a.command}` (after `bash scripts/build.sh`; as root) at git {a.rev}, "
    f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, in {a.seconds / 60:.1f} min.",
    "",
    f"Machine: {os.cpu_count()} CPUs ({cpu}), {mem_gib:.1f} GiB RAM, host kernel {platform.release()}; "
    f"the guest: Debian's User-Mode-Linux {kernel} (one CPU, pinned), booted once for parts 1-5. "
    f"Load average before: {a.load_before}; after: {' '.join(load_after)}. "
    "UML is uniprocessor and slower than bare metal, and this machine is shared: the ratios, "
    "measured in the same guest in the same run, are the result, not the absolute figures.",
    "",
    "## Summary: every figure against its target",
    "",
    "The tripwire (half the target) is what makes the command fail; `short` means measured below "
    "the target but above the tripwire.",
    "",
    "| figure | measured | target | tripwire | status |",
    "| --- | ---: | ---: | ---: | --- |",
] + [f"| {f} | {v} | {t} | {w} | {s} |" for f, v, t, w, s in checks] + [""]
body = head + sec_hyd + sec_dur + sec_uio + sec_mem + sec_host
open(os.path.join(a.output_dir, "RESULTS.md"), "w").write("\n".join(body) + "\n")
print("\n".join(head))
print(f"suite-report: written to {os.path.join(a.output_dir, 'RESULTS.md')} and {PLOTS}/suite-*.png",
      file=sys.stderr)
if not ok:
    print("suite-report: a tripwire tripped (see the summary)", file=sys.stderr)
sys.exit(0 if ok else 1)
