//! The on-disk formats: files written before they were versioned still read; reading creates
//! nothing.

use super::*;

/// A stash record exactly as the versions before the `version` field wrote it.
const RECORD_UNVERSIONED: &str = r#"{
  "id": "20261125T101500-abcdef",
  "dataset": "tank/home",
  "target": "tank/home@a",
  "target_guid": 1010,
  "strategy": "swap",
  "stash_dataset": "tank/flocker-stash/20261125T101500-abcdef",
  "stash_guid": 42,
  "snapshots": [
    { "name": "b", "guid": 1020 },
    { "name": "flocker-pre-20261125T101500-abcdef", "guid": 1030 }
  ],
  "created": 1795601700,
  "local_props": { "mountpoint": "/srv/home", "quota": 1073741824 }
}"#;

/// A journal exactly as the versions before the `version` field wrote it (no `late` either:
/// older still).
const JOURNAL_UNVERSIONED: &str = r#"{
  "op": "restore",
  "plan": {
    "dataset": "tank/home",
    "dataset_guid": 0,
    "target": "tank/home@a",
    "target_guid": 1010,
    "requested": "copy",
    "strategy": "copy",
    "reason": "restore of stash 20261125T101500-abcdef",
    "stash_id": "20261125T101500-abcdef",
    "stash_dataset": "tank/flocker-stash/20261125T101500-abcdef",
    "pre_snapshot": "",
    "stashed": [],
    "space_needed": 0,
    "blockers": [],
    "notes": [],
    "steps": [],
    "local_props": {},
    "volume": false
  },
  "next_step": 2,
  "committed": true,
  "guids": { "clone": 42 },
  "restore_of": "20261125T101500-abcdef"
}"#;

fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flocker-{what}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

#[test]
fn unversioned_record_reads() {
    let v1: RecordV1 = serde_json::from_str(RECORD_UNVERSIONED).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v1.version, 1);
    let r = StashRecord::try_from(v1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.id, "20261125T101500-abcdef");
    assert_eq!(r.dataset, "tank/home");
    assert_eq!(r.target, "tank/home@a");
    assert_eq!(r.stash_dataset, "tank/flocker-stash/20261125T101500-abcdef");
    assert_eq!(r.strategy, Strategy::Swap);
    assert_eq!(r.created.unix_timestamp(), 1_795_601_700);
    assert_eq!(r.snapshots.len(), 2);
    assert_eq!(r.snapshots[0], StashedSnapshot::new("b", 1020));
    assert_eq!(
        r.local_props.get("quota"),
        Some(&PropValue::Number(1 << 30))
    );
    // Written back, it carries its version and reads the same.
    let text = serde_json::to_string(&RecordV1::from(&r)).unwrap_or_default();
    assert!(text.contains("\"version\":1"), "{text}");
    let again: RecordV1 = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(StashRecord::try_from(again).ok(), Some(r));
}

#[test]
fn unversioned_journal_reads() {
    let v1: JournalV1 = serde_json::from_str(JOURNAL_UNVERSIONED).unwrap_or_else(|e| panic!("{e}"));
    let j = Journal::try_from(v1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(j.op, JournalOp::Restore);
    assert_eq!(j.next_step, 2);
    assert!(j.committed);
    assert_eq!(j.guids.get("clone"), Some(&42));
    assert_eq!(j.restore_of.as_deref(), Some("20261125T101500-abcdef"));
    assert!(j.late.is_empty());
    assert_eq!(j.plan.dataset, "tank/home");
    let text = serde_json::to_string(&JournalV1::from(&j)).unwrap_or_default();
    let again: JournalV1 = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.version, 1);
    assert_eq!(Journal::try_from(again).ok(), Some(j));
}

#[test]
fn newer_or_broken_formats_are_refused() {
    let newer = RECORD_UNVERSIONED.replacen('{', "{ \"version\": 2,", 1);
    let v: RecordV1 = serde_json::from_str(&newer).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        StashRecord::try_from(v).map_err(|e| e.kind()).err(),
        Some(ErrorKind::InvalidData)
    );
    let bad_op = JOURNAL_UNVERSIONED.replace("\"restore\",", "\"explode\",");
    let v: JournalV1 = serde_json::from_str(&bad_op).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        Journal::try_from(v).map_err(|e| e.kind()).err(),
        Some(ErrorKind::InvalidData)
    );
    let bad_name = RECORD_UNVERSIONED.replace("\"tank/home@a\"", "\"tank/home\"");
    let v: RecordV1 = serde_json::from_str(&bad_name).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        StashRecord::try_from(v).map_err(|e| e.kind()).err(),
        Some(ErrorKind::InvalidData)
    );
}

#[test]
fn unversioned_files_in_a_store_read() {
    let dir = temp_dir("store-legacy");
    let store = Store::open(&dir).unwrap_or_else(|e| panic!("{e}"));
    store.create_dirs().unwrap_or_else(|e| panic!("{e}"));
    let write = |p: PathBuf, text: &str| {
        let mut f = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(p)
            .unwrap_or_else(|e| panic!("{e}"));
        f.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    };
    write(
        dir.join("stash/20261125T101500-abcdef.json"),
        RECORD_UNVERSIONED,
    );
    write(dir.join("journal.json"), JOURNAL_UNVERSIONED);
    let r = store
        .record("20261125T101500-abcdef")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.stash_guid, 42);
    let js = store.journals().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(js.len(), 1);
    assert_eq!(js[0].op, JournalOp::Restore);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn reading_creates_nothing() {
    let dir = temp_dir("store-readonly");
    let store = Store::open(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(store.records().unwrap_or_else(|e| panic!("{e}")).is_empty());
    assert!(
        store
            .journals()
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
    assert!(store.journal().unwrap_or_else(|e| panic!("{e}")).is_none());
    assert!(!store.has_record("20261125T101500-abcdef").unwrap_or(true));
    assert_eq!(
        store
            .record("20261125T101500-abcdef")
            .map_err(|e| e.kind())
            .err(),
        Some(ErrorKind::NotFound)
    );
    assert!(
        crate::rollback::recover(&store)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );
    assert!(
        crate::rollback::protected_snapshots(&store)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
    assert!(!dir.exists(), "reading created {}", dir.display());
    // The first lock creates it, owner-only.
    drop(store.lock().unwrap_or_else(|e| panic!("{e}")));
    let mode = fs::metadata(&dir).map(|m| m.mode() & 0o777).unwrap_or(0);
    assert_eq!(mode, 0o700);
    assert!(dir.join("stash").is_dir());
    let _ = fs::remove_dir_all(&dir);
}

/// Journals exactly as the code before the private plan format wrote them (produced by that
/// code): a `swap` in progress (every step kind of a swap) and a committed `copy` with a late
/// snapshot (every step kind of a copy).
const JOURNAL_V1_SWAP: &str = include_str!("samples/journal-v1-swap.json");
const JOURNAL_V1_COPY: &str = include_str!("samples/journal-v1-copy.json");
/// A plan as `datavault rollback --dry-run --json` printed it before, with every kind of
/// blocker.
const PLAN_V1_BLOCKED: &str = include_str!("samples/plan-v1-blocked.json");

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn journals_of_the_present_format_read_and_write_back_the_same() {
    for sample in [JOURNAL_V1_SWAP, JOURNAL_V1_COPY] {
        let v1: JournalV1 = serde_json::from_str(sample).unwrap_or_else(|e| panic!("{e}"));
        let j = Journal::try_from(v1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(j.op, JournalOp::Rollback);
        assert_eq!(j.plan.dataset, "tank/home");
        assert_eq!(j.plan.target, "tank/home@a");
        assert_eq!(
            j.plan.pre_snapshot.as_ref().map(|s| s.as_str()),
            Some("tank/home@flocker-pre-20261125T101500-abcdef")
        );
        let again = serde_json::to_value(JournalV1::from(&j)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, json(sample));
    }
    let v1: JournalV1 = serde_json::from_str(JOURNAL_V1_SWAP).unwrap_or_else(|e| panic!("{e}"));
    let j = Journal::try_from(v1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(j.next_step, 4);
    assert_eq!(j.plan.strategy, Some(Strategy::Swap));
    assert_eq!(
        j.plan.incoming.as_ref().map(|d| d.as_str()),
        Some("tank/flocker-stash/20261125T101500-abcdef-new")
    );
    assert_eq!(j.plan.stashed[1].clones[0], "tank/c");
    assert_eq!(j.plan.stashed[0].holds, ["keep"]);
    assert!(
        j.plan.steps.contains(&crate::rollback::Step::Rename {
            from: DatasetName::new("tank/flocker-stash/20261125T101500-abcdef/a")
                .unwrap_or_else(|e| panic!("{e}")),
            to: DatasetName::new("tank/home/a").unwrap_or_else(|e| panic!("{e}")),
        })
    );
    let v1: JournalV1 = serde_json::from_str(JOURNAL_V1_COPY).unwrap_or_else(|e| panic!("{e}"));
    let j = Journal::try_from(v1).unwrap_or_else(|e| panic!("{e}"));
    assert!(j.committed);
    assert_eq!(j.late, [StashedSnapshot::new("late1", 99)]);
    assert!(matches!(
        &j.plan.steps[2],
        crate::rollback::Step::SendReceive { from: Some(crate::rollback::Source::Snapshot(f)), .. }
            if *f == "tank/home@a"
    ));
}

#[test]
fn plans_print_as_before() {
    let v1: plan_v1::PlanV1 =
        serde_json::from_str(PLAN_V1_BLOCKED).unwrap_or_else(|e| panic!("{e}"));
    let p = RollbackPlan::try_from(v1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.blockers.len(), 9);
    assert!(!p.is_runnable());
    assert_eq!(json(&p.to_json()), json(PLAN_V1_BLOCKED));
}

#[test]
fn a_journal_with_a_bad_name_is_unusable() {
    let text = JOURNAL_V1_COPY.replace("\"tank/home@c\"", "\"tank/home@c@d\"");
    let v1: JournalV1 = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        Journal::try_from(v1).map(drop).map_err(|e| e.kind()).err(),
        Some(ErrorKind::InvalidData)
    );
}

#[test]
fn a_record_with_a_bad_snapshot_name_is_unusable() {
    let text = RECORD_UNVERSIONED.replace("\"name\": \"b\"", "\"name\": \"b@c\"");
    let v1: RecordV1 = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        StashRecord::try_from(v1)
            .map(drop)
            .map_err(|e| e.kind())
            .err(),
        Some(ErrorKind::InvalidData)
    );
}
