//! `flocker-ls`: list datasets, snapshots, bookmarks and holds without the `zfs` CLI, through
//! flocker-core's inventory (read-only channel programs). A table by default, `--json` for
//! machines.
//!
//! ```text
//! flocker-ls [OPTIONS] DATASET
//!   -r, --recursive          the whole tree under DATASET
//!   -d, --depth N            at most N levels below DATASET
//!   -t, --type LIST          filesystem,volume,snapshot,bookmark or all
//!                            (default: filesystem,volume)
//!   -o, --user-prop NAME     show this user property (repeatable)
//!   -a, --all-user-props     show every user property
//!       --holds              also list the holds of each snapshot
//!   -p, --parsable           exact numbers instead of human-readable sizes
//!       --json               JSON output
//!       --page-size N        items per channel program call
//!       --progress           report progress on stderr
//! ```

use std::process::ExitCode;

use flocker_core::error::Error;
use flocker_core::inventory::{
    BookmarkInfo, DatasetInfo, DatasetQuery, HoldInfo, Inventory, SnapshotInfo, SnapshotQuery,
    UserProperty, UserProps,
};
use flocker_core::lzc::DatasetType;
use flocker_core::name::DatasetName;
use serde_json::{Value, json};

const USAGE: &str = "usage: flocker-ls [-r] [-d N] [-t filesystem,volume,snapshot,bookmark|all] \
[-o USERPROP]... [-a] [--holds] [-p] [--json] [--page-size N] [--progress] DATASET";

#[derive(Default)]
struct Options {
    root: Option<String>,
    depth: Option<u32>,
    filesystems: bool,
    volumes: bool,
    snapshots: bool,
    bookmarks: bool,
    user_props: Vec<String>,
    all_user_props: bool,
    holds: bool,
    parsable: bool,
    json: bool,
    page_size: Option<usize>,
    progress: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        depth: Some(0),
        ..Options::default()
    };
    let mut types_given = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |what: &str| args.next().ok_or_else(|| format!("{a} needs {what}"));
        match a.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "-r" | "--recursive" => o.depth = None,
            "-d" | "--depth" => {
                let v = value("a number")?;
                o.depth = Some(v.parse().map_err(|_| format!("bad depth {v:?}"))?);
            }
            "-t" | "--type" => {
                types_given = true;
                for t in value("a list of types")?.split(',') {
                    match t {
                        "filesystem" | "fs" => o.filesystems = true,
                        "volume" | "vol" => o.volumes = true,
                        "snapshot" | "snap" => o.snapshots = true,
                        "bookmark" => o.bookmarks = true,
                        "all" => {
                            o.filesystems = true;
                            o.volumes = true;
                            o.snapshots = true;
                            o.bookmarks = true;
                        }
                        other => return Err(format!("unknown type {other:?}")),
                    }
                }
            }
            "-o" | "--user-prop" => o.user_props.push(value("a property name")?),
            "-a" | "--all-user-props" => o.all_user_props = true,
            "--holds" => o.holds = true,
            "-p" | "--parsable" => o.parsable = true,
            "--json" => o.json = true,
            "--page-size" => {
                let v = value("a number")?;
                o.page_size = Some(v.parse().map_err(|_| format!("bad page size {v:?}"))?);
            }
            "--progress" => o.progress = true,
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => {
                if o.root.replace(s.to_string()).is_some() {
                    return Err("only one DATASET".into());
                }
            }
        }
    }
    if !types_given {
        o.filesystems = true;
        o.volumes = true;
    }
    if o.holds {
        o.snapshots = true;
    }
    Ok(o)
}

fn size(n: u64, parsable: bool) -> String {
    if parsable || n < 1024 {
        return n.to_string();
    }
    let mut v = n as f64;
    let mut unit = 0;
    const UNITS: [&str; 7] = ["B", "K", "M", "G", "T", "P", "E"];
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if v < 10.0 {
        format!("{v:.2}{}", UNITS[unit])
    } else {
        format!("{v:.1}{}", UNITS[unit])
    }
}

/// `YYYY-MM-DD HH:MM:SS` UTC (`-p`: seconds since the epoch).
fn ymd(secs: i64, parsable: bool) -> String {
    if parsable {
        return secs.to_string();
    }
    // Civil date from days since the epoch (Howard Hinnant's algorithm), UTC.
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn print_table(rows: &[Vec<String>]) {
    let Some(first) = rows.first() else { return };
    let mut widths = vec![0; first.len()];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in rows {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(&widths).enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  "));
            }
        }
        println!("{}", line.trim_end());
    }
}

fn user_cols(
    names: &[String],
    props: &std::collections::BTreeMap<String, UserProperty>,
) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            props
                .get(n)
                .map_or_else(|| "-".to_string(), |p| p.value.clone())
        })
        .collect()
}

fn user_json(props: &std::collections::BTreeMap<String, UserProperty>) -> Value {
    Value::Object(
        props
            .iter()
            .map(|(k, p)| {
                (
                    k.clone(),
                    json!({ "value": p.value, "source": p.source.to_cli_string() }),
                )
            })
            .collect(),
    )
}

fn dataset_json(d: &DatasetInfo) -> Value {
    json!({
        "name": d.name.as_str(),
        "type": kind(d.kind),
        "guid": d.guid,
        "createtxg": d.createtxg,
        "creation": d.creation.unix_timestamp(),
        "used": d.used,
        "referenced": d.referenced,
        "available": d.available,
        "written": d.written,
        "origin": d.origin.as_ref().map(|o| o.as_str()),
        "volsize": d.volsize,
        "mountpoint": d.mountpoint,
        "user_properties": user_json(&d.user_properties),
    })
}

fn hold_json(h: &HoldInfo) -> Value {
    json!({ "tag": h.tag, "created": h.created.unix_timestamp() })
}

fn snapshot_json(s: &SnapshotInfo) -> Value {
    let mut v = json!({
        "name": s.name.as_str(),
        "guid": s.guid,
        "createtxg": s.createtxg,
        "creation": s.creation.unix_timestamp(),
        "used": s.used,
        "referenced": s.referenced,
        "written": s.written,
        "userrefs": s.userrefs,
        "clones": s.clones.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "defer_destroy": s.defer_destroy,
        "user_properties": user_json(&s.user_properties),
    });
    if let (Some(holds), Some(obj)) = (&s.holds, v.as_object_mut()) {
        obj.insert("holds".into(), holds.iter().map(hold_json).collect());
    }
    v
}

fn bookmark_json(b: &BookmarkInfo) -> Value {
    json!({
        "name": b.name.as_str(),
        "guid": b.guid,
        "createtxg": b.createtxg,
        "creation": b.creation.unix_timestamp(),
    })
}

fn kind(k: DatasetType) -> &'static str {
    match k {
        DatasetType::Filesystem => "filesystem",
        DatasetType::Volume => "volume",
    }
}

fn run(o: &Options) -> Result<(), Error> {
    let root_s = o.root.as_deref().unwrap_or_default();
    let root = DatasetName::new(root_s)?;
    let user = if o.all_user_props {
        UserProps::All
    } else if o.user_props.is_empty() {
        UserProps::None
    } else {
        UserProps::named(o.user_props.iter().cloned())?
    };
    let mut inv = Inventory::new();
    if let Some(n) = o.page_size {
        inv = inv.with_page_size(n);
    }
    if o.progress {
        inv = inv.on_progress(|p| {
            eprintln!(
                "flocker-ls: {} page {} ({} items, {} calls, {} retries){}",
                p.listing,
                p.pages,
                p.items,
                p.calls,
                p.retries,
                if p.done { ", done" } else { "" }
            )
        });
    }
    let mut datasets = Vec::new();
    if o.filesystems || o.volumes {
        let mut q = DatasetQuery::new(&root).user_properties(user.clone());
        q = match o.depth {
            None => q.recursive(),
            Some(d) => q.max_depth(d),
        };
        if o.filesystems != o.volumes {
            q = q.only(if o.filesystems {
                DatasetType::Filesystem
            } else {
                DatasetType::Volume
            });
        }
        datasets = inv.datasets(&q)?;
    }
    let mut snapshots = Vec::new();
    if o.snapshots {
        let mut q = SnapshotQuery::new(&root)
            .user_properties(user.clone())
            .with_holds(o.holds);
        q = match o.depth {
            None => q.recursive(),
            Some(d) => q.max_depth(d),
        };
        snapshots = inv.snapshots(&q)?;
    }
    let bookmarks = if o.bookmarks {
        inv.bookmarks(&root, o.depth)?
    } else {
        Vec::new()
    };

    // The user property columns: those asked for, or (with -a) every one seen.
    let mut user_names: Vec<String> = o.user_props.clone();
    if o.all_user_props {
        let mut all = std::collections::BTreeSet::new();
        for d in &datasets {
            all.extend(d.user_properties.keys().cloned());
        }
        for s in &snapshots {
            all.extend(s.user_properties.keys().cloned());
        }
        user_names = all.into_iter().collect();
    }

    if o.json {
        let mut out = serde_json::Map::new();
        if o.filesystems || o.volumes {
            out.insert(
                "datasets".into(),
                datasets.iter().map(dataset_json).collect(),
            );
        }
        if o.snapshots {
            out.insert(
                "snapshots".into(),
                snapshots.iter().map(snapshot_json).collect(),
            );
        }
        if o.bookmarks {
            out.insert(
                "bookmarks".into(),
                bookmarks.iter().map(bookmark_json).collect(),
            );
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_default()
        );
        return Ok(());
    }

    let p = o.parsable;
    let mut sections = 0;
    if o.filesystems || o.volumes {
        let mut rows = vec![
            [
                "NAME", "TYPE", "USED", "AVAIL", "REFER", "CREATION", "ORIGIN",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain(user_names.iter().map(|n| n.to_uppercase()))
            .collect::<Vec<_>>(),
        ];
        for d in &datasets {
            let mut r = vec![
                d.name.as_str().to_string(),
                kind(d.kind).to_string(),
                size(d.used, p),
                size(d.available, p),
                size(d.referenced, p),
                ymd(d.creation.unix_timestamp(), p),
                d.origin
                    .as_ref()
                    .map_or("-".to_string(), |o| o.as_str().to_string()),
            ];
            r.extend(user_cols(&user_names, &d.user_properties));
            rows.push(r);
        }
        print_table(&rows);
        sections += 1;
    }
    if o.snapshots {
        if sections > 0 {
            println!();
        }
        let mut rows = vec![
            [
                "NAME", "GUID", "TXG", "CREATION", "USED", "REFER", "WRITTEN", "HOLDS", "CLONES",
                "DEFER",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain(user_names.iter().map(|n| n.to_uppercase()))
            .collect::<Vec<_>>(),
        ];
        for s in &snapshots {
            let mut r = vec![
                s.name.as_str().to_string(),
                s.guid.to_string(),
                s.createtxg.to_string(),
                ymd(s.creation.unix_timestamp(), p),
                size(s.used, p),
                size(s.referenced, p),
                s.written.map_or("-".to_string(), |w| size(w, p)),
                s.userrefs.to_string(),
                if s.clones.is_empty() {
                    "-".to_string()
                } else {
                    s.clones
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                },
                if s.defer_destroy { "yes" } else { "no" }.to_string(),
            ];
            r.extend(user_cols(&user_names, &s.user_properties));
            rows.push(r);
        }
        print_table(&rows);
        sections += 1;
        if o.holds {
            println!();
            let mut rows = vec![vec![
                "SNAPSHOT".to_string(),
                "TAG".into(),
                "TIMESTAMP".into(),
            ]];
            for s in &snapshots {
                for h in s.holds.iter().flatten() {
                    rows.push(vec![
                        s.name.as_str().to_string(),
                        h.tag.clone(),
                        ymd(h.created.unix_timestamp(), p),
                    ]);
                }
            }
            print_table(&rows);
        }
    }
    if o.bookmarks {
        if sections > 0 {
            println!();
        }
        let mut rows = vec![vec![
            "NAME".to_string(),
            "GUID".into(),
            "TXG".into(),
            "CREATION".into(),
        ]];
        for b in &bookmarks {
            rows.push(vec![
                b.name.as_str().to_string(),
                b.guid.to_string(),
                b.createtxg.to_string(),
                ymd(b.creation.unix_timestamp(), p),
            ]);
        }
        print_table(&rows);
    }
    Ok(())
}

fn main() -> ExitCode {
    flocker_examples::default_sigpipe();
    let o = match parse_args() {
        Ok(o) if o.root.is_some() => o,
        Ok(_) => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("flocker-ls: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flocker-ls: {e}");
            ExitCode::FAILURE
        }
    }
}
