"""guardrail against the Python tools people run today, on the same input in the same run.

Called by run.sh (standard library only, any Python 3.9+):

    python3 peers.py --guardrail BIN --old OLD --new NEW --hier-python PY --ccp-python PY [--runs N]

OLD and NEW are one IOS-style config before and after a one-line change. Four commands do the
same work and are timed as whole processes, in turn (A B C D A B C D ...), so that a change of
the machine's speed during the run touches them all alike:

- `guardrail diff OLD NEW`: parse both versions and diff them semantically;
- `guardrail check OLD NEW --kind switch --format ios --env production`: the same, then the
  policy library built into the binary (run outside the repository, so no ./policies is found);
- hier_config's remediation from OLD (running) to NEW (generated), its whole process;
- ciscoconfparse2 parsing NEW once, its whole process.

Equal work means equal output: before any time is reported, every run's output is checked
(guardrail and hier_config found exactly the one changed line, in its section; ciscoconfparse2
holds one object per line of NEW). A failed check prints why and exits 1 with no time.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class CheckFailed(Exception):
    """A tool's output does not show the work the others did."""


class Change:
    """The one line that differs between OLD and NEW, found from the texts themselves."""

    def __init__(self, old_text, new_text):
        old_lines, new_lines = old_text.splitlines(), new_text.splitlines()
        if len(old_lines) != len(new_lines):
            raise CheckFailed("OLD and NEW differ in line count; expected a one-line change")
        differing = [i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b]
        if len(differing) != 1:
            raise CheckFailed(f"OLD and NEW differ in {len(differing)} lines; expected 1")
        i = differing[0]
        self.line_number = i + 1
        self.old_line = old_lines[i].strip()
        self.new_line = new_lines[i].strip()
        if new_lines[i][:1].isspace():
            self.section = next(
                line for line in reversed(new_lines[:i]) if line and not line[0].isspace()
            )
        else:
            self.section = None
        self.lines = len(new_lines)
        self.top_level = sum(1 for line in new_lines if line and not line[0].isspace())


def check_guardrail_diff_json(out, change):
    """`guardrail diff --output json`: exactly one entry, on the changed line, with its values."""
    doc = json.loads(out)
    entries = doc["entries"]
    if len(entries) != 1:
        raise CheckFailed(f"guardrail diff found {len(entries)} entries; expected 1")
    entry = entries[0]
    where = (entry.get("old_line"), entry.get("new_line"))
    if where != (change.line_number, change.line_number):
        raise CheckFailed(f"guardrail diff entry is on lines {where}; the change is on line {change.line_number}")
    if change.section and change.section.split()[-1] not in entry["path"]:
        raise CheckFailed(f"guardrail diff entry path {entry['path']!r} does not name {change.section!r}")
    for side, line in (("old", change.old_line), ("new", change.new_line)):
        value = entry[side]
        shown = value if isinstance(value, str) else json.dumps(value)
        if shown not in line.split():
            raise CheckFailed(f"guardrail diff {side} value {value!r} is not in {line!r}")
    return entry


def check_guardrail_diff_text(out, change):
    """`guardrail diff` (text, the timed command): one entry line, on the changed line."""
    lines = out.splitlines()
    entry_lines = [line for line in lines if line.split(" ", 1)[0] in ("added", "removed", "changed", "moved")]
    if len(entry_lines) != 1:
        raise CheckFailed(f"guardrail diff printed {len(entry_lines)} entries; expected 1:\n{out}")
    n = change.line_number
    if not entry_lines[0].endswith(f"(line {n} -> {n})"):
        raise CheckFailed(f"guardrail diff entry is not on line {n}: {entry_lines[0]}")
    if not any(line.startswith("1 change(s):") for line in lines):
        raise CheckFailed(f"guardrail diff did not count 1 change:\n{out}")


def check_guardrail_check_json(out, entry):
    """`guardrail check --output json`: one target, its diff the same one entry as `diff`'s.
    Returns the summary line the text report of the same run prints, to check timed runs by."""
    doc = json.loads(out)
    targets = doc["targets"]
    if len(targets) != 1 or targets[0]["diff"] != [entry]:
        diffs = [t.get("diff") for t in targets]
        raise CheckFailed(f"guardrail check's diff {diffs} is not guardrail diff's [{entry}]")
    findings, rules = len(doc["findings"]), len(doc["evaluations"])
    if rules == 0:
        raise CheckFailed("guardrail check evaluated no rule")
    return doc["exit_code"], f"{findings} findings, {rules} rules evaluated on 1 target"


def check_hier_config(out, change):
    """hier_config's remediation: the changed line's section, holding the new line (and the
    old line negated, as IOS needs it), and nothing else."""
    doc = json.loads(out)
    sections = doc["sections"]
    if change.section is None:
        expected = {change.new_line}
        got = {s["line"] for s in sections}
        if not (change.new_line in got and got <= expected | {"no " + change.old_line}):
            raise CheckFailed(f"hier_config remediation {sections} is not the one change")
        return doc
    if len(sections) != 1 or sections[0]["line"] != change.section.strip():
        raise CheckFailed(f"hier_config remediation {sections} is not the one section {change.section!r}")
    children = sections[0]["children"]
    allowed = {change.new_line, "no " + change.old_line}
    if change.new_line not in children or not set(children) <= allowed:
        raise CheckFailed(f"hier_config remediation of {change.section!r} is {children}; expected {sorted(allowed)}")
    return doc


def check_ciscoconfparse2(out, change):
    """ciscoconfparse2: one object per line of NEW, and as many top-level objects."""
    doc = json.loads(out)
    if (doc["objects"], doc["top_level"]) != (change.lines, change.top_level):
        raise CheckFailed(
            f"ciscoconfparse2 parsed {doc['objects']} objects ({doc['top_level']} top-level); "
            f"NEW has {change.lines} lines ({change.top_level} top-level)"
        )
    return doc


def verify(check, what, out, *context):
    """Runs one output check; output of an unexpected shape fails it too."""
    try:
        return check(out, *context)
    except CheckFailed:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise CheckFailed(f"{what}: unexpected output ({e!r}):\n{out[:1000]}") from None


def run(cmd, cwd, ok_codes):
    """Runs cmd once as a whole process. Returns (seconds, peak RSS bytes, stdout, CPU seconds).

    The clock is read just before the start and just after the child is reaped; the peak
    resident set and the CPU time (user + system) are the kernel's own accounting of that
    child (wait4)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        out = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in ok_codes:
            err.seek(0)
            raise CheckFailed(
                f"{' '.join(cmd)} exited {proc.returncode} (expected {sorted(ok_codes)}):\n"
                f"{err.read().decode(errors='replace')[-2000:]}"
            )
    return seconds, usage.ru_maxrss * 1024, out.decode(), usage.ru_utime + usage.ru_stime


def output_of(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib():
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return float("nan")


def version_in(python, dist):
    return output_of([python, "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"])


def ms(seconds):
    return seconds * 1000.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--guardrail", required=True)
    parser.add_argument("--old", required=True)
    parser.add_argument("--new", required=True)
    parser.add_argument("--hier-python", required=True)
    parser.add_argument("--ccp-python", required=True)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--startup-runs", type=int, default=50)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    guardrail = os.path.abspath(args.guardrail)
    # The tools run in an empty directory: paths given relative to here must still reach them.
    args.hier_python, args.ccp_python = (
        os.path.abspath(p) if os.sep in p else p for p in (args.hier_python, args.ccp_python)
    )
    old, new = os.path.abspath(args.old), os.path.abspath(args.new)
    with open(old, encoding="utf-8") as f:
        old_text = f.read()
    with open(new, encoding="utf-8") as f:
        new_text = f.read()
    try:
        change = Change(old_text, new_text)
    except CheckFailed as e:
        print(f"EQUAL-OUTPUT CHECK FAILED, no time reported: {e}", file=sys.stderr)
        return 1
    # An empty working directory: no guardrail.yaml and no ./policies, so `check` uses the
    # policy library built into the binary.
    cwd = tempfile.mkdtemp(prefix="guardrail-peers-")

    hier_version = version_in(args.hier_python, "hier-config")
    ccp_version = version_in(args.ccp_python, "ciscoconfparse2")
    tools = [
        {
            "name": "guardrail diff (parse both + semantic diff)",
            "cmd": [guardrail, "diff", old, new],
            "ok": {1},
            "check": check_guardrail_diff_text,
        },
        {
            "name": "guardrail check, embedded library",
            "cmd": [guardrail, "check", old, new, "--kind", "switch", "--format", "ios", "--env", "production"],
            "ok": {0, 1, 3},
            "check": None,  # set below from the JSON report of the same check
        },
        {
            "name": f"hier_config {hier_version} remediation",
            "cmd": [args.hier_python, os.path.join(HERE, "hier_config_remediation.py"), old, new],
            "ok": {0},
            "check": check_hier_config,
        },
        {
            "name": f"ciscoconfparse2 {ccp_version} parse NEW once",
            "cmd": [args.ccp_python, os.path.join(HERE, "ciscoconfparse2_parse.py"), new],
            "ok": {0},
            "check": check_ciscoconfparse2,
        },
    ]

    load_before = os.getloadavg()
    try:
        # The same change, in detail: guardrail's JSON diff and check report (not timed).
        out = run([guardrail, "diff", old, new, "--format", "ios", "--output", "json"], cwd, {1})[2]
        entry = verify(check_guardrail_diff_json, "guardrail diff --output json", out, change)
        check_out = run(tools[1]["cmd"] + ["--output", "json"], cwd, {0, 1, 3})[2]
        check_exit, check_summary = verify(check_guardrail_check_json, "guardrail check --output json", check_out, entry)
        # The timed `check` prints text: the same verdict (exit code) and the same summary.
        tools[1]["ok"] = {check_exit}

        def check_check_text(out, change):
            if check_summary not in out.splitlines():
                raise CheckFailed(f"guardrail check did not print {check_summary!r}:\n{out[-2000:]}")

        tools[1]["check"] = check_check_text

        # One warm-up run of each, checked; then the timed runs, in turn, each checked.
        for tool in tools:
            out = run(tool["cmd"], cwd, tool["ok"])[2]
            verify(tool["check"], tool["name"], out, change)
            tool.update(wall=[], cpu=[], rss=[], work=[])
        for _ in range(args.runs):
            for tool in tools:
                seconds, rss, out, cpu = run(tool["cmd"], cwd, tool["ok"])
                result = verify(tool["check"], tool["name"], out, change)
                tool["wall"].append(seconds)
                tool["cpu"].append(cpu)
                tool["rss"].append(rss)
                if isinstance(result, dict) and "work_s" in result:
                    tool["work"].append(result["work_s"])

        # Start-up: `guardrail --version` beside the floor of starting any process from here.
        version_cmd = [guardrail, "--version"]
        floor_cmd = ["/bin/true"]
        startup, floor = [], []
        for _ in range(args.startup_runs):
            startup.append(run(version_cmd, cwd, {0})[0])
            floor.append(run(floor_cmd, cwd, {0})[0])
    except CheckFailed as e:
        print(f"EQUAL-OUTPUT CHECK FAILED, no time reported: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(cwd, ignore_errors=True)
    load_after = os.getloadavg()

    guardrail_version = output_of(version_cmd)
    binary_bytes = os.path.getsize(guardrail)
    input_bytes = len(old_text.encode()) + len(new_text.encode())

    print(f"date      {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine   {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {cpu_model()}, "
        f"{memory_gib():.0f} GiB; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(
        f"versions  {guardrail_version}; hier-config {hier_version} and ciscoconfparse2 {ccp_version} "
        f"on Python {output_of([args.hier_python, '-c', 'import platform; print(platform.python_version())'])}"
    )
    print(
        f"input     {os.path.basename(old)} -> {os.path.basename(new)}: {change.lines:,} lines, "
        f"{len(new_text.encode()) / 1e6:.2f} MB each; one line changed (line {change.line_number}: "
        f"{change.old_line!r} -> {change.new_line!r} in {change.section!r})"
    )
    print(
        f"checked   every run: guardrail diff and hier_config found only that change "
        f"(guardrail: {entry['op']} {entry['path']}); ciscoconfparse2 parsed {change.lines:,} objects, "
        f"{change.top_level:,} top-level"
    )
    print()
    base = statistics.median(tools[0]["wall"])
    base_cpu = statistics.median(tools[0]["cpu"])
    header = (
        f"{'tool (whole process)':<44} {'median ms':>10} {'min ms':>9} {'x diff':>7} {'per-round x':>13}"
        f" {'CPU ms':>9} {'x diff':>7} {'peak RSS MB':>12} {'in-process ms':>14}"
    )
    print(header)
    print("-" * len(header))
    for tool in tools:
        median = statistics.median(tool["wall"])
        cpu = statistics.median(tool["cpu"])
        rounds = [t / d for t, d in zip(tool["wall"], tools[0]["wall"])]
        work = f"{ms(statistics.median(tool['work'])):.0f}" if tool["work"] else ""
        row = (
            f"{tool['name']:<44} {ms(median):>10.1f} {ms(min(tool['wall'])):>9.1f} {median / base:>7.2f}"
            f" {min(rounds):>6.2f}-{max(rounds):<6.2f} {ms(cpu):>9.1f} {cpu / base_cpu:>7.2f}"
            f" {max(tool['rss']) / 1e6:>12.1f} {work:>14}"
        )
        print(row.rstrip())
    print(f"({args.runs} timed runs of each, in turn, after one checked warm-up run of each. median, min: wall")
    print(" time; x diff: over guardrail diff's median; per-round x: the same ratio run by run, min-max;")
    print(" CPU: user + system, median; peak RSS: the largest of the runs; in-process: the Python peer's")
    print(" own work, imports excluded)")
    print()
    startup_median = statistics.median(startup)
    floor_median = statistics.median(floor)
    check_rss = max(tools[1]["rss"])
    shown = os.path.relpath(guardrail)
    print(f"binary    {guardrail if shown.startswith('..') else shown}: {binary_bytes / 1e6:.1f} MB ({binary_bytes / 2**20:.1f} MiB)")
    print(
        f"startup   guardrail --version: median {ms(startup_median):.2f} ms, min {ms(min(startup)):.2f} ms "
        f"({args.startup_runs} runs; starting /bin/true the same way: median {ms(floor_median):.2f} ms)"
    )
    print(
        f"memory    guardrail check peak RSS {check_rss / 1e6:.1f} MB; input text {input_bytes / 1e6:.2f} MB "
        f"(OLD + NEW) = {check_rss / input_bytes:.2f}x; one version {len(new_text.encode()) / 1e6:.2f} MB "
        f"= {check_rss / len(new_text.encode()):.2f}x"
    )
    print()
    check_x, hier_x, ccp_x = (statistics.median(tool["wall"]) / base for tool in tools[1:])
    goals = [
        ("diff >= 100x faster than hier_config", hier_x, ">= 100", hier_x >= 100),
        ("diff >= 100x faster than ciscoconfparse2's parse", ccp_x, ">= 100", ccp_x >= 100),
        ("check <= 1.3x diff", check_x, "<= 1.3", check_x <= 1.3),
        ("binary < 30 MB", binary_bytes / 1e6, "< 30", binary_bytes / 1e6 < 30),
        ("guardrail --version < 5 ms", ms(startup_median), "< 5", ms(startup_median) < 5),
        ("check peak RSS < 3x input text (OLD + NEW)", check_rss / input_bytes, "< 3", check_rss / input_bytes < 3),
    ]
    print("(goals of issue 19; times are the wall medians above)")
    for name, value, target, met in goals:
        print(f"goal      {name:<48} {value:>8.2f} (target {target}): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
