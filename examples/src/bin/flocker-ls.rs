//! `flocker-ls`: list datasets, snapshots, bookmarks and holds without the `zfs` CLI, through
//! flocker-core's inventory (the kernel's list ioctls, as `zfs list` uses them). A table by default, `-H` for scripts
//! (tab-separated, no header, like `zfs list -H`), `-p` for exact numbers, `--json` for
//! machines: a snapshot has the shape `datavault list --json` prints too
//! (`flocker_examples::json`: the guid a decimal string, times RFC 3339 UTC, sizes in bytes),
//! and datasets, bookmarks and holds write their guids and times the same way.
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
//!   -H, --scripted           no header, columns separated by one tab
//!   -p, --parsable           exact numbers instead of human-readable sizes
//!       --json               JSON output
//!       --page-size N        items per page of progress
//!       --threads N          list the snapshots of up to N datasets at once
//!                            (default: the processors, at most 8)
//!       --progress           report progress on stderr
//!   -v, --verbose            error lines carry the operation and errno
//! ```
//!
//! Exit status: 0 success; 1 ZFS failed; 2 bad arguments (nothing was read).

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use flocker_core::error::Error;
use flocker_core::inventory::{
    BookmarkInfo, DatasetInfo, DatasetQuery, HoldInfo, Inventory, SnapshotInfo, SnapshotQuery,
    UserProperty, UserProps,
};
use flocker_core::lzc::DatasetType;
use flocker_core::name::DatasetName;
use flocker_examples::cli;
use flocker_examples::json as shape;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// List datasets, snapshots, bookmarks and holds (the kernel's list ioctls, no `zfs` CLI).
#[derive(Parser, Debug)]
#[command(name = "flocker-ls", version)]
struct Args {
    /// The dataset to list (with -r or -d, the tree under it).
    #[arg(value_name = "DATASET",
          value_parser = cli::utf8_value())]
    root: String,
    /// The whole tree under DATASET.
    #[arg(short = 'r', long)]
    recursive: bool,
    /// At most N levels below DATASET.
    #[arg(short = 'd', long, value_name = "N", conflicts_with = "recursive")]
    depth: Option<u32>,
    /// What to list: filesystem, volume, snapshot, bookmark or all, comma-separated
    /// (default: filesystem,volume).
    #[arg(short = 't', long = "type", value_name = "LIST", value_delimiter = ',')]
    types: Vec<Kind>,
    /// Show this user property (repeatable).
    #[arg(short = 'o', long = "user-prop", value_name = "NAME",
          value_parser = cli::utf8_value())]
    user_props: Vec<String>,
    /// Show every user property.
    #[arg(short = 'a', long = "all-user-props")]
    all_user_props: bool,
    /// Also list the holds of each snapshot (implies -t snapshot).
    #[arg(long)]
    holds: bool,
    /// Scripted output: no header, columns separated by one tab.
    #[arg(short = 'H', long = "scripted")]
    scripted: bool,
    /// Exact numbers: bytes instead of human-readable sizes, seconds since the epoch.
    #[arg(short = 'p', long = "parsable")]
    parsable: bool,
    /// JSON output.
    #[arg(long)]
    json: bool,
    /// Items per page of progress.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    page_size: Option<u64>,
    /// List the snapshots of up to N datasets at once (default: the processors, at most 8).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    threads: Option<u64>,
    /// Report progress on stderr.
    #[arg(long)]
    progress: bool,
    /// Error lines carry the operation and errno.
    #[arg(short = 'v', long)]
    verbose: bool,
}

/// A `-t` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    #[value(alias = "fs")]
    Filesystem,
    #[value(alias = "vol")]
    Volume,
    #[value(alias = "snap")]
    Snapshot,
    Bookmark,
    All,
}

/// What to list, from `-t` and `--holds`.
struct Types {
    filesystems: bool,
    volumes: bool,
    snapshots: bool,
    bookmarks: bool,
}

impl Types {
    fn of(a: &Args) -> Types {
        let has = |k: Kind| a.types.contains(&k) || a.types.contains(&Kind::All);
        let default = a.types.is_empty();
        Types {
            filesystems: default || has(Kind::Filesystem),
            volumes: default || has(Kind::Volume),
            snapshots: a.holds || has(Kind::Snapshot),
            bookmarks: has(Kind::Bookmark),
        }
    }

    fn datasets(&self) -> bool {
        self.filesystems || self.volumes
    }
}

/// How the table is written: `-H` and `-p`.
#[derive(Clone, Copy)]
struct Style {
    scripted: bool,
    parsable: bool,
}

/// What was listed.
struct Listing {
    datasets: Vec<DatasetInfo>,
    snapshots: Vec<SnapshotInfo>,
    bookmarks: Vec<BookmarkInfo>,
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
fn ymd(t: OffsetDateTime, parsable: bool) -> String {
    if parsable {
        return t.unix_timestamp().to_string();
    }
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    t.to_offset(time::UtcOffset::UTC)
        .format(f)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Prints `rows` (the first is the header) aligned in columns, or with `-H` without the
/// header, separated by tabs.
fn print_table(rows: &[Vec<String>], style: Style) {
    if style.scripted {
        for r in rows.iter().skip(1) {
            println!("{}", r.join("\t"));
        }
        return;
    }
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

fn user_cols(names: &[String], props: &BTreeMap<String, UserProperty>) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            props
                .get(n)
                .map_or_else(|| "-".to_string(), |p| p.value.clone())
        })
        .collect()
}

fn user_json(props: &BTreeMap<String, UserProperty>) -> Value {
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
        "guid": shape::guid(d.guid),
        "createtxg": d.createtxg,
        "creation": shape::rfc3339(d.creation),
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
    json!({ "tag": h.tag, "created": shape::rfc3339(h.created) })
}

/// A snapshot: the shape every binary prints ([`shape::snapshot`]) and what only this one
/// shows.
fn snapshot_json(s: &SnapshotInfo) -> Value {
    let mut v = shape::with(
        shape::snapshot(s),
        json!({
        "userrefs": s.userrefs,
        "clones": s.clones.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "defer_destroy": s.defer_destroy,
        "user_properties": user_json(&s.user_properties),
        }),
    );
    if let (Some(holds), Some(obj)) = (&s.holds, v.as_object_mut()) {
        obj.insert("holds".into(), holds.iter().map(hold_json).collect());
    }
    v
}

fn bookmark_json(b: &BookmarkInfo) -> Value {
    json!({
        "name": b.name.as_str(),
        "guid": shape::guid(b.guid),
        "createtxg": b.createtxg,
        "creation": shape::rfc3339(b.creation),
    })
}

fn kind(k: DatasetType) -> &'static str {
    match k {
        DatasetType::Filesystem => "filesystem",
        DatasetType::Volume => "volume",
    }
}

/// Why `flocker-ls` stopped: bad input (exit 2, nothing read) or ZFS (exit 1).
enum Failure {
    Usage(Error),
    Zfs(Error),
}

/// The `-o`/`-a` selection of user properties.
fn user_props(a: &Args) -> Result<UserProps, Failure> {
    Ok(if a.all_user_props {
        UserProps::All
    } else if a.user_props.is_empty() {
        UserProps::None
    } else {
        UserProps::named(a.user_props.iter().cloned()).map_err(Failure::Usage)?
    })
}

/// The inventory with `--page-size`, `--threads` and `--progress`.
fn inventory<'a>(a: &Args) -> Inventory<'a> {
    let mut inv = Inventory::new();
    if let Some(n) = a.page_size {
        inv = inv.with_page_size(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if let Some(n) = a.threads {
        inv = inv.with_threads(usize::try_from(n).unwrap_or(1));
    }
    if a.progress {
        inv = inv.on_progress(|p| {
            eprintln!(
                "flocker-ls: {} page {} ({} items, {} calls){}",
                p.listing,
                p.pages,
                p.items,
                p.calls,
                if p.done { ", done" } else { "" }
            )
        });
    }
    inv
}

/// `-r` (the whole tree) or `-d N` (default 0: DATASET alone).
fn depth(a: &Args) -> Option<u32> {
    if a.recursive {
        None
    } else {
        Some(a.depth.unwrap_or(0))
    }
}

/// Reads what `-t` asks for.
fn fetch(a: &Args, root: &DatasetName, t: &Types) -> Result<Listing, Error> {
    let user = user_props(a).map_err(|f| match f {
        Failure::Usage(e) | Failure::Zfs(e) => e,
    })?;
    let mut inv = inventory(a);
    let depth = depth(a);
    let mut l = Listing {
        datasets: Vec::new(),
        snapshots: Vec::new(),
        bookmarks: Vec::new(),
    };
    if t.datasets() {
        let mut q = DatasetQuery::new(root).user_properties(user.clone());
        q = match depth {
            None => q.recursive(),
            Some(d) => q.max_depth(d),
        };
        if t.filesystems != t.volumes {
            q = q.only(if t.filesystems {
                DatasetType::Filesystem
            } else {
                DatasetType::Volume
            });
        }
        l.datasets = inv.datasets(&q)?;
    }
    if t.snapshots {
        let mut q = SnapshotQuery::new(root)
            .user_properties(user)
            .with_holds(a.holds);
        q = match depth {
            None => q.recursive(),
            Some(d) => q.max_depth(d),
        };
        l.snapshots = inv.snapshots(&q)?;
    }
    if t.bookmarks {
        l.bookmarks = inv.bookmarks(root, depth)?;
    }
    Ok(l)
}

/// The user property columns: those asked for, or (with -a) every one seen.
fn user_columns(a: &Args, l: &Listing) -> Vec<String> {
    if !a.all_user_props {
        return a.user_props.clone();
    }
    let mut all = BTreeSet::new();
    for d in &l.datasets {
        all.extend(d.user_properties.keys().cloned());
    }
    for s in &l.snapshots {
        all.extend(s.user_properties.keys().cloned());
    }
    all.into_iter().collect()
}

fn print_json(t: &Types, l: &Listing) {
    let mut out = serde_json::Map::new();
    if t.datasets() {
        out.insert(
            "datasets".into(),
            l.datasets.iter().map(dataset_json).collect(),
        );
    }
    if t.snapshots {
        out.insert(
            "snapshots".into(),
            l.snapshots.iter().map(snapshot_json).collect(),
        );
    }
    if t.bookmarks {
        out.insert(
            "bookmarks".into(),
            l.bookmarks.iter().map(bookmark_json).collect(),
        );
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_default()
    );
}

/// A header row: `fixed` then the user property names in capitals.
fn header(fixed: &[&str], user: &[String]) -> Vec<String> {
    fixed
        .iter()
        .map(|s| s.to_string())
        .chain(user.iter().map(|n| n.to_uppercase()))
        .collect()
}

fn datasets_table(ds: &[DatasetInfo], user: &[String], style: Style) {
    let p = style.parsable;
    let mut rows = vec![header(
        &[
            "NAME", "TYPE", "USED", "AVAIL", "REFER", "CREATION", "ORIGIN",
        ],
        user,
    )];
    for d in ds {
        let mut r = vec![
            d.name.as_str().to_string(),
            kind(d.kind).to_string(),
            size(d.used, p),
            size(d.available, p),
            size(d.referenced, p),
            ymd(d.creation, p),
            d.origin
                .as_ref()
                .map_or("-".to_string(), |o| o.as_str().to_string()),
        ];
        r.extend(user_cols(user, &d.user_properties));
        rows.push(r);
    }
    print_table(&rows, style);
}

fn snapshots_table(snaps: &[SnapshotInfo], user: &[String], style: Style) {
    let p = style.parsable;
    let mut rows = vec![header(
        &[
            "NAME", "GUID", "TXG", "CREATION", "USED", "REFER", "WRITTEN", "HOLDS", "CLONES",
            "DEFER",
        ],
        user,
    )];
    for s in snaps {
        let clones: Vec<&str> = s.clones.iter().map(|c| c.as_str()).collect();
        let mut r = vec![
            s.name.as_str().to_string(),
            s.guid.to_string(),
            s.createtxg.to_string(),
            ymd(s.creation, p),
            size(s.used, p),
            size(s.referenced, p),
            s.written.map_or("-".to_string(), |w| size(w, p)),
            s.userrefs.to_string(),
            if clones.is_empty() {
                "-".to_string()
            } else {
                clones.join(",")
            },
            if s.defer_destroy { "yes" } else { "no" }.to_string(),
        ];
        r.extend(user_cols(user, &s.user_properties));
        rows.push(r);
    }
    print_table(&rows, style);
}

fn holds_table(snaps: &[SnapshotInfo], style: Style) {
    let mut rows = vec![header(&["SNAPSHOT", "TAG", "TIMESTAMP"], &[])];
    for s in snaps {
        for h in s.holds.iter().flatten() {
            rows.push(vec![
                s.name.as_str().to_string(),
                h.tag.clone(),
                ymd(h.created, style.parsable),
            ]);
        }
    }
    print_table(&rows, style);
}

fn bookmarks_table(bookmarks: &[BookmarkInfo], style: Style) {
    let mut rows = vec![header(&["NAME", "GUID", "TXG", "CREATION"], &[])];
    for b in bookmarks {
        rows.push(vec![
            b.name.as_str().to_string(),
            b.guid.to_string(),
            b.createtxg.to_string(),
            ymd(b.creation, style.parsable),
        ]);
    }
    print_table(&rows, style);
}

/// The tables, one section per kind, separated by an empty line.
fn print_text(a: &Args, t: &Types, l: &Listing) {
    let style = Style {
        scripted: a.scripted,
        parsable: a.parsable,
    };
    let user = user_columns(a, l);
    let mut sections: Vec<Box<dyn Fn() + '_>> = Vec::new();
    if t.datasets() {
        sections.push(Box::new(|| datasets_table(&l.datasets, &user, style)));
    }
    if t.snapshots {
        sections.push(Box::new(|| snapshots_table(&l.snapshots, &user, style)));
        if a.holds {
            sections.push(Box::new(|| holds_table(&l.snapshots, style)));
        }
    }
    if t.bookmarks {
        sections.push(Box::new(|| bookmarks_table(&l.bookmarks, style)));
    }
    for (i, print) in sections.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print();
    }
}

fn run(a: &Args) -> Result<(), Failure> {
    let root = DatasetName::new(&a.root).map_err(|e| Failure::Usage(e.into()))?;
    user_props(a)?;
    let t = Types::of(a);
    let listing = fetch(a, &root, &t).map_err(Failure::Zfs)?;
    if a.json {
        print_json(&t, &listing);
    } else {
        print_text(a, &t, &listing);
    }
    Ok(())
}

fn main() -> ExitCode {
    flocker_examples::default_sigpipe();
    let a = Args::parse();
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("flocker-ls: {}", cli::error_line(&e, a.verbose));
            ExitCode::from(cli::EXIT_USAGE)
        }
        Err(Failure::Zfs(e)) => {
            eprintln!("flocker-ls: {}", cli::error_line(&e, a.verbose));
            ExitCode::from(cli::EXIT_FAILED)
        }
    }
}
