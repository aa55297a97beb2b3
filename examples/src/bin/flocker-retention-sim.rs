//! flocker-retention-sim: runs our retention policy and the peers' documented rules over the
//! same snapshot streams and prints how well each keeps restore points.
//!
//! ```text
//! cargo run --release -p flocker-examples --bin flocker-retention-sim -- [--json]
//!     [--scenario NAME] [--policy TEXT] [--svg FILE]
//! ```
//!
//! Method and results: RETENTION.md at the repository root.

#[path = "../sim/mod.rs"]
mod sim;

use std::process::ExitCode;

use flocker_core::retention::RetentionPolicy;
use serde_json::json;
use sim::metrics::{self, Metrics, WINDOWS};
use sim::peers::{
    AutoSnapshot, Btrbk, Ours, Restic, Sanoid, Snapper, TimeMachine, Znapzend, Zrepl,
};
use sim::{Policy, Run, Scenario};

/// Our policy in the simulator (the one peers are tuned against): a ladder of calendar rules
/// whose periods double, so the spacing of kept snapshots stays a fraction of their age.
const OURS: &str =
    "4x15min,6x30min,6x1h,6x2h,6x4h,6x8h,6x1d,6x2d,6x4d,6x8d,6x16d,6x32d,6x64d,6x128d,6x256d";
/// The same with burst landmarks: shown as an extra row (peers are not re-tuned to it).
const LANDMARKS: &str = ",bursts(for=30d,gap=1h)";

type Factory = fn(f64, &Scenario) -> Box<dyn Policy>;

fn peers() -> Vec<(&'static str, Factory)> {
    vec![
        ("sanoid", |f, _| Box::new(Sanoid::new(f))),
        ("zrepl", |f, _| Box::new(Zrepl::new(f))),
        ("znapzend", |f, _| Box::new(Znapzend::new(f))),
        ("zfs-auto-snapshot", |f, _| Box::new(AutoSnapshot::new(f))),
        ("snapper", |f, _| Box::new(Snapper::new(f))),
        ("btrbk", |f, s| Box::new(Btrbk::new(f, s.tz.clone()))),
        ("restic", |f, _| Box::new(Restic::new(f))),
    ]
}

struct Args {
    json: bool,
    scenario: Option<String>,
    policy: String,
    svg: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        json: false,
        scenario: None,
        policy: OURS.to_string(),
        svg: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => args.json = true,
            "--scenario" => args.scenario = Some(it.next().ok_or("--scenario needs a name")?),
            "--policy" => args.policy = it.next().ok_or("--policy needs a policy")?,
            "--svg" => args.svg = Some(it.next().ok_or("--svg needs a file")?),
            "-h" | "--help" => {
                return Err(
                    "usage: flocker-retention-sim [--json] [--scenario NAME] [--policy TEXT] [--svg FILE]".into(),
                );
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// The largest scale factor whose final snapshot count does not exceed `target`.
fn tune(factory: &Factory, scenario: &Scenario, target: usize) -> (f64, Run) {
    let (mut lo, mut hi) = (0.01f64.ln(), 50f64.ln());
    let mut best: Option<(f64, Run)> = None;
    for _ in 0..14 {
        let mid = (lo + hi) / 2.0;
        let f = mid.exp();
        let r = sim::run(factory(f, scenario).as_ref(), scenario);
        if r.kept.len() <= target {
            lo = mid;
            best = Some((f, r));
        } else {
            hi = mid;
        }
    }
    best.unwrap_or_else(|| {
        let f = lo.exp();
        (f, sim::run(factory(f, scenario).as_ref(), scenario))
    })
}

struct ScenarioResult {
    name: &'static str,
    description: &'static str,
    ours: Metrics,
    defaults: Vec<Metrics>,
    tuned: Vec<Metrics>,
}

fn print_table(r: &ScenarioResult) {
    println!("\n## {} — {}\n", r.name, r.description);
    let mut head = String::from("| policy | kept | max | destroyed |");
    for (w, _) in WINDOWS {
        head.push_str(&format!(" {w} worst | {w} median |"));
    }
    head.push_str(" burst states |");
    println!("{head}");
    println!("|{}", "---|".repeat(4 + 2 * WINDOWS.len() + 1));
    let row = |m: &Metrics| {
        let mut line = format!(
            "| {} | {} | {} | {} |",
            m.policy, m.kept, m.max_kept, m.destroyed
        );
        for (worst, median) in m.ratios {
            line.push_str(&format!(
                " {} | {} |",
                metrics::fmt_ratio(worst),
                metrics::fmt_ratio(median)
            ));
        }
        match m.bursts {
            Some((k, n)) => line.push_str(&format!(" {k}/{n} |")),
            None => line.push_str(" - |"),
        }
        if m.newest_destroyed > 0 {
            line.push_str(&format!(" (destroyed the newest {}×)", m.newest_destroyed));
        }
        line
    };
    println!("{}", row(&r.ours));
    for m in r.defaults.iter().chain(&r.tuned) {
        println!("{}", row(m));
    }
    println!();
    for m in &r.tuned {
        let (w, t, l) = metrics::score(&r.ours, m);
        let verdict = if l == 0 && w > 0 {
            "ours better"
        } else if l == 0 {
            "tie"
        } else if w == 0 {
            "PEER BETTER"
        } else {
            "mixed"
        };
        println!(
            "- vs {} (keeps {} ≤ ours {}): ours better on {w}, equal on {t}, worse on {l} → {verdict}",
            m.policy, m.kept, r.ours.kept
        );
    }
}

fn metrics_json(m: &Metrics) -> serde_json::Value {
    let num = |x: f64| {
        if x.is_nan() {
            json!(null)
        } else if x.is_infinite() {
            json!("lost")
        } else {
            json!(x)
        }
    };
    let ratios: serde_json::Map<String, serde_json::Value> = WINDOWS
        .iter()
        .zip(m.ratios)
        .map(|((w, _), (worst, median))| {
            (
                w.to_string(),
                json!({"worst": num(worst), "median": num(median)}),
            )
        })
        .collect();
    json!({
        "policy": m.policy,
        "kept": m.kept,
        "max_kept": m.max_kept,
        "destroyed": m.destroyed,
        "newest_destroyed": m.newest_destroyed,
        "gap_over_age": ratios,
        "burst_states": m.bursts.map(|(k, n)| json!({"kept": k, "of": n})),
    })
}

fn main() -> ExitCode {
    flocker_examples::default_sigpipe();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let policy: RetentionPolicy = match args.policy.parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let scenarios: Vec<Scenario> = sim::scenarios::all()
        .into_iter()
        .filter(|s| args.scenario.as_deref().is_none_or(|n| n == s.name))
        .collect();
    if scenarios.is_empty() {
        eprintln!("no such scenario (hourly-2y, laptop, dst, clock, bursts)");
        return ExitCode::from(2);
    }
    let mut results = Vec::new();
    for sc in &scenarios {
        let ours_p = Ours::new("ours", policy.clone(), sc.tz.clone());
        let ours_run = sim::run(&ours_p, sc);
        let ours = metrics::measure(ours_p.name(), &ours_run, sc);
        let mut defaults = Vec::new();
        if let Ok(with_landmarks) = format!("{policy}{LANDMARKS}").parse::<RetentionPolicy>() {
            let p = Ours::new("ours+bursts", with_landmarks, sc.tz.clone());
            defaults.push(metrics::measure(p.name(), &sim::run(&p, sc), sc));
        }
        let mut tuned = Vec::new();
        let mut svg_rows: Vec<(String, Run)> = vec![("ours".into(), ours_run)];
        for (_, factory) in peers() {
            let p = factory(1.0, sc);
            let run = sim::run(p.as_ref(), sc);
            defaults.push(metrics::measure(p.name(), &run, sc));
            svg_rows.push((p.name(), run));
            let (f, run) = tune(&factory, sc, ours.kept);
            let name = factory(f, sc).name();
            tuned.push(metrics::measure(name, &run, sc));
        }
        let tm = TimeMachine::new(None);
        let run = sim::run(&tm, sc);
        defaults.push(metrics::measure(tm.name(), &run, sc));
        svg_rows.push((tm.name(), run));
        let tm = TimeMachine::new(Some(ours.kept));
        tuned.push(metrics::measure(tm.name(), &sim::run(&tm, sc), sc));
        if let Some(path) = &args.svg
            && sc.name == scenarios[0].name
        {
            let rows: Vec<(String, &Run)> = svg_rows.iter().map(|(n, r)| (n.clone(), r)).collect();
            let span = sc.events.last().map_or(0, |e| e.true_t)
                - sc.events.first().map_or(0, |e| e.true_t);
            let title = format!(
                "Snapshots kept after \"{}\" (default settings; ours: {})",
                sc.name, args.policy
            );
            if let Err(e) = std::fs::write(path, sim::svg::render(&title, &rows, span.max(3600))) {
                eprintln!("cannot write {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
        results.push(ScenarioResult {
            name: sc.name,
            description: sc.description,
            ours,
            defaults,
            tuned,
        });
    }
    if args.json {
        let out: Vec<serde_json::Value> = results
            .iter()
            .map(|r| {
                json!({
                    "scenario": r.name,
                    "description": r.description,
                    "ours": metrics_json(&r.ours),
                    "defaults": r.defaults.iter().map(metrics_json).collect::<Vec<_>>(),
                    "tuned": r.tuned.iter().map(|m| {
                        let (w, t, l) = metrics::score(&r.ours, m);
                        let mut v = metrics_json(m);
                        v["vs_ours"] = json!({"ours_better": w, "equal": t, "ours_worse": l});
                        v
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"policy": args.policy, "scenarios": out}))
                .unwrap_or_default()
        );
    } else {
        println!("# flocker-retention-sim\n\nours = `{}`", args.policy);
        for r in &results {
            print_table(r);
        }
    }
    ExitCode::SUCCESS
}
