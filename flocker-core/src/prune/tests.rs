//! Host tests of the planning half: ownership applied to a listing, the doomed order, counts.

use super::*;

const DV1: &str = "dv-20261201T000000Z";
const DV2: &str = "dv-20261201T010000Z";
const DV3: &str = "dv-20261201T020000Z";
const SYNCOID: &str = "syncoid_host_2026-12-01:00:00:00-GMT00:00";

fn t(hours: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_996_800 + hours * 3600).unwrap()
}

fn options(policy: &str, ownership: Ownership) -> Options {
    let mut o = Options::new(
        DatasetName::new("p/fs").unwrap(),
        policy.parse().unwrap(),
        TimeZone::UTC,
        t(48),
    );
    o.ownership = ownership;
    o
}

/// `p/fs@NAME` facts, createtxg = 10 × position, one hour apart.
fn facts_of(shorts: &[&str]) -> Vec<(DatasetName, SnapshotFacts)> {
    shorts
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let i = i as u64 + 1;
            let f = SnapshotFacts::new(
                SnapshotName::new(format!("p/fs@{s}")).unwrap(),
                1000 + i,
                10 * i,
                t(i as i64),
            );
            (DatasetName::new("p/fs").unwrap(), f)
        })
        .collect()
}

/// The plans of `shorts` as [`plan`] makes them, without ZFS.
fn planned(o: &Options, shorts: &[&str]) -> Planned {
    plan_facts(o, facts_of(shorts))
}

#[test]
fn foreign_snapshots_are_not_planned_or_counted() {
    // min=1 keeps one snapshot; the newest of all is foreign, so the newest owned one is
    // what min=1 and the newest protection see.
    let o = options("min=1", Ownership::default());
    let p = planned(&o, &[DV1, "before-upgrade", DV2, SYNCOID, DV3, "monday"]);
    assert_eq!(p.plans.len(), 1);
    let plan = &p.plans[0].1;
    let names: Vec<&str> = plan.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            format!("p/fs@{DV1}"),
            format!("p/fs@{DV2}"),
            format!("p/fs@{DV3}")
        ]
    );
    let doomed: Vec<&str> = p.doomed().iter().map(|e| e.name.as_str()).collect();
    assert_eq!(doomed, [format!("p/fs@{DV1}"), format!("p/fs@{DV2}")]);
    assert_eq!(p.kept(), 1);
    let foreign: Vec<&str> = p.foreign.iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        foreign,
        [
            "p/fs@before-upgrade".to_string(),
            format!("p/fs@{SYNCOID}"),
            "p/fs@monday".into()
        ]
    );
    assert_eq!(p.foreign_of("p/fs").count(), 3);
    assert_eq!(p.foreign_of("p/fs/child").count(), 0);
}

#[test]
fn a_dataset_of_foreign_snapshots_only_gets_an_empty_plan() {
    let o = options("min=1", Ownership::default());
    let p = planned(&o, &["a", "b"]);
    assert_eq!(p.plans.len(), 1);
    assert_eq!(p.plans[0].0, "p/fs");
    assert!(p.plans[0].1.entries.is_empty());
    assert!(p.doomed().is_empty());
    assert_eq!(p.foreign.len(), 2);
}

#[test]
fn all_plans_every_snapshot() {
    let o = options("min=1", Ownership::All);
    let p = planned(&o, &[DV1, "before-upgrade", SYNCOID, "monday"]);
    assert!(p.foreign.is_empty());
    let doomed: Vec<&str> = p.doomed().iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        doomed,
        [
            format!("p/fs@{DV1}"),
            "p/fs@before-upgrade".into(),
            format!("p/fs@{SYNCOID}")
        ]
    );
    assert!(p.warnings[0].contains("--all"), "{:?}", p.warnings);
}

#[test]
fn a_dry_run_changes_nothing_and_reports_nothing() {
    let mut o = options("min=1", Ownership::default());
    o.dry_run = true;
    let p = planned(&o, &[DV1, DV2]);
    assert_eq!(p.doomed().len(), 1);
    let r = apply(&o, &p, |_| panic!("a dry run reports no progress"));
    assert!(r.ok() && r.fates.is_empty());
    assert_eq!(r.tally, Tally::default());
}

#[test]
fn context_keeps_the_cause() {
    let cause = Error::new(ErrorKind::NotFound, "lzc_get_props").with_errno(libc::ENOENT);
    let e = context(cause, OP_LIST, Some("p/fs".into()));
    assert_eq!(e.operation(), OP_LIST);
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.errno(), Some(libc::ENOENT));
    assert_eq!(e.name(), Some("p/fs"));
    assert!(e.detail().unwrap().starts_with("lzc_get_props: "), "{e}");
}

#[test]
fn a_dry_run_without_a_store_reads_nothing() {
    let mut o = options("min=1", Ownership::default());
    o.dry_run = true;
    o.store = PathBuf::from("/nonexistent/flocker-core-prune-test");
    let mut warnings = Vec::new();
    let st = read_stashes(&o, &mut warnings).unwrap();
    assert!(st.names.is_empty() && st.guids.is_empty() && st._lock.is_none());
    assert!(!o.store.exists(), "a dry run created the store");
}

#[test]
fn rows_put_the_foreign_snapshots_among_the_planned_ones_in_listing_order() {
    let o = options("min=1", Ownership::default());
    let p = planned(&o, &["before-upgrade", DV1, "monday", DV2, SYNCOID]);
    let fs = DatasetName::new("p/fs").unwrap();
    let rows: Vec<(&str, &str)> = p
        .rows_of(&fs)
        .iter()
        .map(|r| match r {
            Row::Planned(e) if e.decision == crate::retention::Decision::Keep => {
                ("keep", e.name.short_name())
            }
            Row::Planned(e) => ("destroy", e.name.short_name()),
            Row::Foreign(f) => ("foreign", f.name().short_name()),
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("foreign", "before-upgrade"),
            ("destroy", DV1),
            ("foreign", "monday"),
            ("keep", DV2),
            ("foreign", SYNCOID),
        ]
    );
    // A dataset without a plan has no rows; foreign_of takes a name or its text.
    assert!(p.rows_of(&DatasetName::new("p/other").unwrap()).is_empty());
    assert_eq!(p.foreign_of(&fs).count(), 3);
}

#[test]
fn facts_come_from_the_listing_row() {
    let name = SnapshotName::new(format!("p/fs@{DV1}")).unwrap();
    let mut info = SnapshotInfo {
        name: name.clone(),
        guid: 7,
        createtxg: 70,
        creation: t(1),
        used: 4096,
        referenced: 8192,
        written: Some(512),
        userrefs: 1,
        clones: vec![DatasetName::new("p/clone").unwrap()],
        defer_destroy: false,
        user_properties: BTreeMap::new(),
        holds: None,
    };
    let mut st = Stashes::default();
    let f = facts(&info, None, false, &st);
    assert_eq!(f.name(), &name);
    assert_eq!((f.guid(), f.createtxg(), f.creation()), (7, 70, t(1)));
    assert_eq!((f.written, f.used), (512, 4096));
    assert!(f.held && f.has_clones && !f.pinned && !f.stashed);
    // The scheme's time, holds ignored, a stash protecting it by GUID.
    st.guids.insert(7);
    info.written = None;
    let f = facts(&info, Some(t(5)), true, &st);
    assert_eq!((f.creation(), f.written), (t(5), 0));
    assert!(!f.held && !f.has_clones && f.stashed);
}
