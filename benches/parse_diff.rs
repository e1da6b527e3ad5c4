//! Parse throughput and one-line-change diff cost on generated large configs.
//!
//! `cargo bench --bench parse_diff` prints a table; `cargo bench --bench parse_diff -- --write DIR`
//! also writes the generated files (old and new versions) for whole-command timing;
//! `-- --case NAME` measures only the cases whose name contains NAME, `-- --runs N` sets the
//! number of runs (1 is handy under `valgrind --tool=callgrind`); `-- --scaling` adds a table of
//! every case at 1/8 to 2 times its size (cost per MB, diff against parse).
//! Timings are min and median of several runs on this machine; see docs/performance.md.

#[path = "support/generate.rs"]
mod generate;
#[path = "support/policies.rs"]
mod policies;

use std::hint::black_box;
use std::time::{Duration, Instant};

use guardrail::diff;
use guardrail::document::Format;
use guardrail::formats;

/// Runs per measurement: `--runs N`, else 15; 1 in smoke mode.
fn runs() -> usize {
    let args: Vec<String> = std::env::args().collect();
    let given = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok());
    match given {
        Some(n) => n,
        None if smoke() => 1,
        None => 15,
    }
}

/// `cargo bench` passes `--bench`; without it (as under `cargo test --all-targets`) the binary
/// runs once on small inputs so that it stays compiled and working without costing CI time.
fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

fn time<F: FnMut()>(mut f: F) -> (Duration, Duration) {
    f(); // warm-up
    let mut v: Vec<Duration> = (0..runs())
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    (v[0], v[v.len() / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Case {
    name: &'static str,
    /// The file name `--write` uses, `{}` standing for `old` or `new`.
    file: &'static str,
    format: Format,
    old: String,
    new: String,
}

/// The cases at `factor` times the base line counts (IOS, HAProxy, nginx, fetchmail, INI).
fn make_cases(base: (usize, usize, usize, usize, usize), factor: f64) -> Vec<Case> {
    let lines = |base: usize| ((base as f64 * factor) as usize).max(100);
    let (ios_lines, hap_lines, nginx_lines, fetchmail_lines, ini_lines) = (
        lines(base.0),
        lines(base.1),
        lines(base.2),
        lines(base.3),
        lines(base.4),
    );
    let ios_old = generate::ios(ios_lines);
    let ios_new = generate::change_one_line(
        &ios_old,
        "switchport access vlan 5\n",
        " switchport access vlan 6",
    );
    let hap_old = generate::haproxy(hap_lines);
    let hap_new = generate::change_one_line(
        &hap_old,
        "server web3 10.0.3.4:8080",
        "    server web3 10.0.3.4:8080 check weight 99",
    );
    let nginx_old = generate::nginx(nginx_lines);
    let nginx_new = generate::change_one_line(
        &nginx_old,
        "server 10.20.3.4:8080",
        "        server 10.20.3.4:8080 weight=9 max_fails=3 fail_timeout=30s;",
    );
    let fetchmail_old = generate::fetchmail(fetchmail_lines);
    let fetchmail_new = generate::change_one_line(
        &fetchmail_old,
        "is mbox7_0 here",
        "  user \"box0@tenant7.example.net\" there with password \"pw-7-0\" is mbox7_0 here fetchall",
    );
    let ini_old = generate::ini(ini_lines);
    let ini_new = generate::change_one_line(
        &ini_old,
        "db_5 = ",
        "db_5 = host=db-5.internal port=5433 dbname=app_5 pool_size=15",
    );
    // File names as `--write` stores them: each name lets the format be detected.
    vec![
        Case {
            name: "ios-100k",
            file: "ios-100k-{}.ios",
            format: Format::Ios,
            old: ios_old,
            new: ios_new,
        },
        Case {
            name: "haproxy-20k",
            file: "haproxy-haproxy-20k-{}.cfg",
            format: Format::Haproxy,
            old: hap_old,
            new: hap_new,
        },
        Case {
            name: "nginx-20k",
            file: "nginx-20k-{}.conf",
            format: Format::Nginx,
            old: nginx_old,
            new: nginx_new,
        },
        Case {
            name: "fetchmail-20k",
            file: "fetchmail-20k-{}.fetchmailrc",
            format: Format::Fetchmail,
            old: fetchmail_old,
            new: fetchmail_new,
        },
        Case {
            name: "ini-50k",
            file: "ini-50k-{}.ini",
            format: Format::Ini,
            old: ini_old,
            new: ini_new,
        },
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let write_dir = flag("--write");
    // `--case NAME` measures only the cases whose name contains NAME.
    let only = flag("--case");

    // Line counts: (IOS, HAProxy, nginx, fetchmail, INI).
    let base = if smoke() {
        (2_000, 400, 400, 400, 1_000)
    } else {
        (100_000, 20_000, 20_000, 20_000, 50_000)
    };
    let cases = make_cases(base, 1.0);

    if let Some(dir) = &write_dir {
        std::fs::create_dir_all(dir).unwrap();
        for c in &cases {
            for (side, text) in [("old", &c.old), ("new", &c.new)] {
                let name = c.file.replace("{}", side);
                std::fs::write(format!("{dir}/{name}"), text).unwrap();
            }
        }
        std::fs::create_dir_all(format!("{dir}/policies")).unwrap();
        std::fs::write(
            format!("{dir}/policies/bench-switch.yaml"),
            policies::policy("bench-switch", "switch", "interfaces"),
        )
        .unwrap();
        std::fs::write(
            format!("{dir}/policies/bench-lb.yaml"),
            policies::policy("bench-lb", "load_balancer", "backends"),
        )
        .unwrap();
        eprintln!("wrote generated configs and a 50-rule policy per kind to {dir}");
    }

    println!(
        "{:<14} {:>7} {:>8} {:>10} {:>9} {:>11} {:>12} {:>10}",
        "case", "lines", "MB", "parse ms", "MB/s", "diff ms", "parse+diff", "entries"
    );
    for c in cases
        .iter()
        .filter(|c| only.as_ref().is_none_or(|o| c.name.contains(o.as_str())))
    {
        let lines = c.old.lines().count();
        let mb = c.old.len() as f64 / 1e6;
        let probe = formats::parse(c.format, &c.old);
        assert!(!probe.has_errors(), "{}: {:?}", c.name, probe.first_error());
        let (parse_min, parse_med) = time(|| {
            black_box(formats::parse(c.format, black_box(&c.old)));
        });
        let old_doc = formats::parse(c.format, &c.old);
        let new_doc = formats::parse(c.format, &c.new);
        let entries = diff::diff(&old_doc.root, &new_doc.root).len();
        let (diff_min, diff_med) = time(|| {
            black_box(diff::diff(&old_doc.root, &new_doc.root));
        });
        let (all_min, _) = time(|| {
            let a = formats::parse(c.format, &c.old);
            let b = formats::parse(c.format, &c.new);
            black_box(diff::diff(&a.root, &b.root).len());
        });
        println!(
            "{:<14} {:>7} {:>8.2} {:>5.1}/{:<4.1} {:>9.0} {:>5.2}/{:<5.2} {:>12.1} {:>10}",
            c.name,
            lines,
            mb,
            ms(parse_min),
            ms(parse_med),
            mb / parse_min.as_secs_f64(),
            ms(diff_min),
            ms(diff_med),
            ms(all_min),
            entries
        );
    }
    println!(
        "(parse ms and diff ms are min/median of {} runs; parse+diff parses both versions and diffs them; MB/s from the min)",
        runs()
    );
    if args.iter().any(|a| a == "--scaling") {
        scaling(base, only.as_deref());
    }
    // The check benchmark's policies must load cleanly (checked on every run, smoke included).
    // Checked after the measurements: loading compiles CEL on a second thread, and once a
    // process has started a thread glibc's allocator takes a lock on every call, which
    // `guardrail check` (it parses before it starts any thread) does not pay.
    for (id, kind, section) in [
        ("bench-switch", "switch", "interfaces"),
        ("bench-lb", "load_balancer", "backends"),
    ] {
        let files = vec![(format!("{id}.yaml"), policies::policy(id, kind, section))];
        let (set, diags) = guardrail::policy::PolicySet::load(&files);
        assert!(!guardrail::policy::has_errors(&diags), "{diags:?}");
        assert_eq!(set.rule_count(), 50);
    }
}

/// `--scaling`: each case at 1/8 to 2 times its size. Parse cost per MB stays flat when parsing
/// is linear; the diff of a one-line change stays a small fraction of a parse at every size.
fn scaling(base: (usize, usize, usize, usize, usize), only: Option<&str>) {
    const FACTORS: [f64; 5] = [0.125, 0.25, 0.5, 1.0, 2.0];
    println!();
    println!(
        "{:<14} {:>7} {:>8} {:>9} {:>9} {:>9} {:>11}",
        "scaling", "lines", "MB", "parse ms", "ms/MB", "diff ms", "diff/parse"
    );
    let by_factor: Vec<Vec<Case>> = FACTORS.iter().map(|f| make_cases(base, *f)).collect();
    for i in 0..by_factor[0].len() {
        let name = by_factor[0][i].name;
        if only.is_some_and(|o| !name.contains(o)) {
            continue;
        }
        for cases in &by_factor {
            let c = &cases[i];
            let mb = c.old.len() as f64 / 1e6;
            let (parse_min, _) = time(|| {
                black_box(formats::parse(c.format, black_box(&c.old)));
            });
            let old_doc = formats::parse(c.format, &c.old);
            let new_doc = formats::parse(c.format, &c.new);
            let (diff_min, _) = time(|| {
                black_box(diff::diff(&old_doc.root, &new_doc.root));
            });
            println!(
                "{:<14} {:>7} {:>8.2} {:>9.2} {:>9.2} {:>9.2} {:>11.2}",
                c.format.name(),
                c.old.lines().count(),
                mb,
                ms(parse_min),
                ms(parse_min) / mb,
                ms(diff_min),
                diff_min.as_secs_f64() / parse_min.as_secs_f64()
            );
        }
    }
    println!("(min of {} runs each)", runs());
}
