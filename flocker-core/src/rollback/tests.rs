//! Unit and property tests of the pure planner and the store.

use std::collections::BTreeMap;

use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest};
use proptest::strategy::Strategy as PropStrategy;
use proptest::test_runner::TestCaseError;

use super::*;
use crate::error::ErrorKind;

fn snap(name: &str, txg: u64) -> SnapshotState {
    snap_on("tank/home", name, txg)
}

fn snap_on(ds: &str, name: &str, txg: u64) -> SnapshotState {
    let creation = time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(txg as i64);
    SnapshotState::new(
        crate::snapshot::Snapshot::from_parts(
            snn(&format!("{ds}@{name}")),
            1000 + txg,
            txg,
            creation,
        ),
        1 << 20,
    )
}

fn base() -> LiveState {
    base_on("tank/home")
}

/// Dataset `ds` with snapshots a, b and c.
fn base_on(ds: &str) -> LiveState {
    let mut s = LiveState::new(dn(ds), 42, DatasetKind::Filesystem);
    s.snapshots = vec![
        snap_on(ds, "a", 10),
        snap_on(ds, "b", 20),
        snap_on(ds, "c", 30),
    ];
    s.written = 1 << 20;
    s.available = 1 << 40;
    s
}

/// [`super::plan`], which must succeed.
fn plan(state: &LiveState, target: &str, strategy: Strategy, stash_id: &str) -> RollbackPlan {
    super::plan(state, target, strategy, stash_id).unwrap_or_else(|e| panic!("{e}"))
}

/// [`super::plan_swap_back`], which must succeed.
fn plan_swap_back(state: &LiveState, rec: &StashRecord, new_id: &str) -> RollbackPlan {
    super::plan_swap_back(state, rec, new_id).unwrap_or_else(|e| panic!("{e}"))
}

fn mount(path: &str, busy: bool) -> Option<MountState> {
    Some(MountState::new(path, busy))
}

fn bmn(s: &str) -> crate::name::BookmarkName {
    crate::name::BookmarkName::new(s).unwrap_or_else(|e| panic!("{e}"))
}

const ID: &str = "20261125T101500-abcdef";

#[test]
fn auto_prefers_swap_when_unmountable() {
    let p = plan(&base(), "a", Strategy::Auto, ID);
    assert!(p.is_runnable());
    assert_eq!(p.strategy, Some(Strategy::Swap));
    assert_eq!(p.target_guid, 1010);
    assert_eq!(p.stash_dataset, "tank/flocker-stash/20261125T101500-abcdef");
    assert_eq!(
        p.pre_snapshot.as_ref().map(|s| s.as_str()),
        Some("tank/home@flocker-pre-20261125T101500-abcdef")
    );
    let names: Vec<_> = p.stashed.iter().map(|s| s.short_name()).collect();
    assert_eq!(names, ["b", "c"]);
    assert!(p.steps.contains(&Step::Promote {
        dataset: dn(&format!("{}-new", p.stash_dataset))
    }));
    assert_eq!(p.space_needed, 0);
}

#[test]
fn auto_prefers_copy_when_busy() {
    let mut s = base();
    s.mount = mount("/home", true);
    let p = plan(&s, "b", Strategy::Auto, ID);
    assert_eq!(p.strategy, Some(Strategy::Copy));
    assert!(p.is_runnable());
    assert_eq!(p.space_needed, 2 << 20, "c written + live written");
    // Copy: snapshot, container, 2 send/receives (c, pre), bookmark, verify, commit, destroy, rollback.
    assert_eq!(p.steps.len(), 9);
    assert_eq!(
        p.steps[2],
        Step::SendReceive {
            send: snn("tank/home@c"),
            from: Some(Source::Snapshot(snn("tank/home@b"))),
            receive: snn(&format!("{}@c", p.stash_dataset)),
            origin: Some(snn("tank/home@b")),
        }
    );
    assert_eq!(
        p.steps.last(),
        Some(&Step::RollbackTo {
            snapshot: snn("tank/home@b")
        })
    );
    match &p.steps[7] {
        Step::DestroySnapshots { snapshots } => {
            assert_eq!(
                snapshots,
                &[Some(snn("tank/home@c")), p.pre_snapshot.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
            )
        }
        other => panic!("unexpected step {other:?}"),
    }
}

#[test]
fn swap_on_busy_mount_is_refused_with_busy() {
    let mut s = base();
    s.mount = mount("/home", true);
    let p = plan(&s, "a", Strategy::Swap, ID);
    assert!(!p.is_runnable());
    assert_eq!(p.blockers.len(), 1);
    assert_eq!(p.blockers[0].error_kind(), ErrorKind::Busy);
    assert_eq!(refuse(&p).kind(), ErrorKind::Busy);
}

#[test]
fn copy_blockers_held_cloned_bookmark() {
    let mut s = base();
    s.snapshots[1].holds = vec!["keep".into()];
    s.snapshots[2].clones = vec![dn("tank/c1")];
    s.bookmarks = vec![BookmarkState::new(bmn("tank/home#bm"), 1030, 30)];
    let p = plan(&s, "a", Strategy::Copy, ID);
    let kinds: Vec<_> = p.blockers.iter().map(Blocker::error_kind).collect();
    assert_eq!(
        kinds,
        [ErrorKind::Held, ErrorKind::HasClones, ErrorKind::NotLatest]
    );
    assert!(!p.is_runnable());
    // Swap is not affected by any of them, and auto picks it.
    let p = plan(&s, "a", Strategy::Auto, ID);
    assert_eq!(p.strategy, Some(Strategy::Swap));
    assert!(p.is_runnable());
    // An older bookmark never blocks.
    s.bookmarks = vec![BookmarkState::new(bmn("tank/home#old"), 1010, 10)];
    s.snapshots[1].holds.clear();
    s.snapshots[2].clones.clear();
    assert!(plan(&s, "a", Strategy::Copy, ID).is_runnable());
}

#[test]
fn both_blocked_is_refused() {
    let mut s = base();
    s.mount = mount("/home", true);
    s.snapshots[2].holds = vec!["x".into()];
    let p = plan(&s, "a", Strategy::Auto, ID);
    assert_eq!(p.strategy, None);
    assert_eq!(p.blockers.len(), 2);
    assert!(p.steps.is_empty());
}

#[test]
fn missing_target_encrypted_stash() {
    let p = plan(&base(), "zzz", Strategy::Auto, ID);
    assert_eq!(p.blockers[0].error_kind(), ErrorKind::NotFound);
    let mut s = base();
    s.encrypted = true;
    let p = plan(&s, "a", Strategy::Auto, ID);
    assert_eq!(p.blockers[0].error_kind(), ErrorKind::NotSupported);
    assert!(!p.is_runnable());
    let mut s = base();
    s.dataset = dn("tank/flocker-stash/x");
    assert!(!plan(&s, "a", Strategy::Copy, ID).is_runnable());
}

#[test]
fn no_space_blocks_copy() {
    let mut s = base();
    s.available = 1024;
    let p = plan(&s, "a", Strategy::Copy, ID);
    assert_eq!(
        p.blockers,
        vec![Blocker::NoSpace {
            needed: 3 << 20,
            available: 1024
        }]
    );
}

#[test]
fn volume_auto_copies() {
    let mut s = base();
    s.kind = DatasetKind::Volume;
    let p = plan(&s, "a", Strategy::Auto, ID);
    assert_eq!(p.strategy, Some(Strategy::Copy));
    assert!(p.reason.contains("volume"));
}

#[test]
fn swap_moves_children_and_handles_local_mountpoint() {
    let mut s = base();
    s.mount = mount("/srv/home", false);
    s.local_props
        .insert("mountpoint".into(), PropValue::Text("/srv/home".into()));
    s.local_props
        .insert("quota".into(), PropValue::Number(1 << 30));
    s.local_props
        .insert("reservation".into(), PropValue::Number(1 << 20));
    s.children = vec![
        ChildState::new(dn("tank/home/a"), mount("/srv/home/a", false)),
        ChildState::new(dn("tank/home/a/b"), mount("/srv/home/a/b", false)),
    ];
    let p = plan(&s, "a", Strategy::Auto, ID);
    assert_eq!(p.strategy, Some(Strategy::Swap));
    assert_eq!(p.space_needed, 1 << 20);
    let stash = p.stash_dataset.clone();
    // Unmount deepest first, the dataset last.
    assert_eq!(
        p.steps[0],
        Step::Unmount {
            dataset: dn("tank/home/a/b"),
            path: "/srv/home/a/b".into()
        }
    );
    assert_eq!(
        p.steps[1],
        Step::Unmount {
            dataset: dn("tank/home/a"),
            path: "/srv/home/a".into()
        }
    );
    assert_eq!(
        p.steps[2],
        Step::Unmount {
            dataset: dn("tank/home"),
            path: "/srv/home".into()
        }
    );
    // The clone gets the local properties except mountpoint.
    let clone = p.steps.iter().find_map(|s| match s {
        Step::Clone { props, .. } => Some(props.clone()),
        _ => None,
    });
    let clone = clone.unwrap_or_default();
    assert!(clone.contains_key("quota") && !clone.contains_key("mountpoint"));
    // Only the direct child is renamed back.
    let renames: Vec<_> = p
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Rename { .. }))
        .collect();
    assert_eq!(renames.len(), 3);
    assert!(p.steps.contains(&Step::Rename {
        from: dn(&format!("{stash}/a")),
        to: dn("tank/home/a")
    }));
    assert!(p.steps.contains(&Step::InheritProp {
        dataset: stash.clone(),
        prop: "mountpoint".into()
    }));
    assert!(p.steps.contains(&Step::SetProp {
        dataset: stash,
        prop: "reservation".into(),
        value: PropValue::Number(0)
    }));
    // Mount parents first.
    let mounts: Vec<_> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Mount { dataset, .. } => Some(dataset.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(mounts, ["tank/home", "tank/home/a", "tank/home/a/b"]);
    // Commit comes before the first rename.
    let commit = p.steps.iter().position(|s| *s == Step::Commit);
    let rename = p
        .steps
        .iter()
        .position(|s| matches!(s, Step::Rename { .. }));
    let (Some(commit), Some(rename)) = (commit, rename) else {
        panic!("a swap plan without a commit or a rename: {:?}", p.steps);
    };
    assert!(commit < rename);
}

#[test]
fn latest_target_stashes_only_the_state_now() {
    let p = plan(&base(), "c", Strategy::Copy, ID);
    assert!(p.stashed.is_empty());
    assert!(p.is_runnable());
    let sr = p
        .steps
        .iter()
        .filter(|s| matches!(s, Step::SendReceive { .. }))
        .count();
    assert_eq!(sr, 1);
}

#[test]
fn display_and_json() {
    let p = plan(&base(), "a", Strategy::Copy, ID);
    let text = p.to_string();
    assert!(text.contains("strategy: copy"));
    assert!(text.contains("tank/home@b guid 1020"));
    assert!(text.contains(" 1. snapshot tank/home@flocker-pre-"));
    let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap_or_default();
    assert_eq!(v["strategy"], "copy");
    assert_eq!(v["steps"][0]["op"], "snapshot");
    // The JSON is the journal's shape of a plan: it reads back as the same plan.
    let back: store::plan_v1::PlanV1 =
        serde_json::from_str(&p.to_json()).unwrap_or_else(|e| panic!("{e}"));
    let back = RollbackPlan::try_from(back).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, p);
    let refused = plan(&base(), "nope", Strategy::Auto, ID);
    assert!(refused.to_string().contains("REFUSED"));
}

#[test]
fn swap_back_promotes_the_stash_and_restores_properties() {
    let mut s = base();
    s.snapshots.truncate(1); // after a rollback to a
    s.snapshots.push(snap("later", 40));
    s.mount = mount("/srv/home", false);
    s.local_props
        .insert("mountpoint".into(), PropValue::Text("/srv/home".into()));
    let mut props = BTreeMap::new();
    props.insert(
        "mountpoint".to_string(),
        PropValue::Text("/srv/home".into()),
    );
    let rec = StashRecord {
        id: "old".into(),
        dataset: dn("tank/home"),
        target: snn("tank/home@a"),
        target_guid: 1010,
        strategy: Strategy::Swap,
        stash_dataset: dn("tank/flocker-stash/old"),
        stash_guid: 42,
        snapshots: vec![StashedSnapshot::new("b", 1020)],
        created: time::OffsetDateTime::UNIX_EPOCH,
        local_props: props,
    };
    let p = plan_swap_back(&s, &rec, ID);
    assert!(p.is_runnable(), "{p}");
    assert_eq!(p.incoming, Some(dn("tank/flocker-stash/old")));
    assert!(p.steps.contains(&Step::Promote {
        dataset: dn("tank/flocker-stash/old")
    }));
    assert!(!p.steps.iter().any(|s| matches!(s, Step::Clone { .. })));
    assert!(p.steps.contains(&Step::Rename {
        from: dn("tank/flocker-stash/old"),
        to: dn("tank/home")
    }));
    assert!(p.steps.contains(&Step::SetProp {
        dataset: dn("tank/home"),
        prop: "mountpoint".into(),
        value: PropValue::Text("/srv/home".into())
    }));
    assert_eq!(
        p.stashed.iter().map(|x| x.short_name()).collect::<Vec<_>>(),
        ["later"]
    );
    // A replaced target is refused.
    let mut bad = rec.clone();
    bad.target_guid = 7;
    let p = plan_swap_back(&s, &bad, ID);
    assert_eq!(
        p.blockers.first().map(Blocker::error_kind),
        Some(ErrorKind::NotFound)
    );
}

#[test]
fn index_values() {
    assert_eq!(index_value("compression", "lz4"), Some(15));
    assert_eq!(index_value("compression", "gzip-9"), Some(13));
    assert_eq!(index_value("canmount", "noauto"), Some(2));
    assert_eq!(index_value("atime", "off"), Some(0));
    assert_eq!(index_value("compression", "zstd-19"), None);
    let mut s = base();
    s.local_props
        .insert("compression".into(), PropValue::Text("zstd-19".into()));
    let p = plan(&s, "a", Strategy::Swap, ID);
    assert_eq!(
        p.blockers.first().map(Blocker::error_kind),
        Some(ErrorKind::NotSupported)
    );
    assert_eq!(
        plan(&s, "a", Strategy::Auto, ID).strategy,
        Some(Strategy::Copy)
    );
}

#[test]
fn stash_names_are_recognised() {
    assert!(is_stash_dataset(
        "tank/flocker-stash/20261125T101500-abcdef"
    ));
    assert!(is_stash_dataset("tank/flocker-stash/x@flocker-pre-x"));
    assert!(is_stash_dataset("tank/flocker-stash"));
    assert!(!is_stash_dataset("tank/home/flocker-stash"));
    assert!(!is_stash_dataset("tank/home@flocker-stash"));
}

#[test]
fn stash_ids_are_valid_dataset_components() {
    let id = new_stash_id();
    assert_eq!(id.len(), 22, "{id}");
    assert!(crate::name::DatasetName::new(format!("tank/{STASH_CONTAINER}/{id}-new")).is_ok());
}

#[test]
fn store_round_trip_lock_and_trust() {
    let dir = std::env::temp_dir().join(format!("flocker-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).unwrap_or_else(|e| panic!("{e}"));
    let rec = StashRecord {
        id: ID.into(),
        dataset: dn("tank/home"),
        target: snn("tank/home@a"),
        target_guid: 1,
        strategy: Strategy::Copy,
        stash_dataset: dn(&format!("tank/flocker-stash/{ID}")),
        stash_guid: 2,
        snapshots: vec![StashedSnapshot::new("b", 3)],
        created: time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(5),
        local_props: BTreeMap::new(),
    };
    store.put_record(&rec).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.record(ID).ok(), Some(rec.clone()));
    assert_eq!(store.records().map(|v| v.len()).ok(), Some(1));
    assert_eq!(
        store.record("nope").map_err(|e| e.kind()).err(),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        store.record("../x").map_err(|e| e.kind()).err(),
        Some(ErrorKind::InvalidArgument)
    );
    assert_eq!(store.is_locked().ok(), Some(false));
    let l = store.lock();
    assert!(l.is_ok());
    assert_eq!(store.is_locked().ok(), Some(true));
    assert_eq!(
        store.lock().map(drop).map_err(|e| e.kind()).err(),
        Some(ErrorKind::Busy)
    );
    drop(l);
    // `is_locked` releases what it takes: the lock is free for the next operation.
    assert_eq!(store.is_locked().ok(), Some(false));
    assert!(store.lock().is_ok());
    // A record writable by others is not believed.
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("stash").join(format!("{ID}.json"));
    let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666));
    assert_eq!(
        store.record(ID).map_err(|e| e.kind()).err(),
        Some(ErrorKind::PermissionDenied)
    );
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777));
    assert_eq!(
        Store::open(&dir).map(drop).map_err(|e| e.kind()).err(),
        Some(ErrorKind::PermissionDenied)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A lock that another open file of the lock (here: the copy a forked child holds until it
/// execs) releases within [`LOCK_GRACE`] is taken, not reported as `Busy`.
#[test]
fn store_lock_waits_out_a_brief_holder() {
    use std::os::fd::AsRawFd;
    let dir = std::env::temp_dir().join(format!("flocker-lockgrace-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::create(&dir).unwrap_or_else(|e| panic!("{e}"));
    let other = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .unwrap_or_else(|e| panic!("{e}"));
    // SAFETY: a valid open descriptor.
    let rc = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(rc, 0, "could not take the lock for the test");
    let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
    let g = gate.clone();
    let holder = std::thread::spawn(move || {
        g.wait();
        std::thread::sleep(LOCK_GRACE / 20);
        drop(other);
    });
    gate.wait();
    let got = store.lock();
    holder
        .join()
        .unwrap_or_else(|_| panic!("holder thread panicked"));
    assert!(
        got.is_ok(),
        "lock not taken after the holder closed it: {got:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn arb_state() -> impl PropStrategy<Value = (LiveState, usize)> {
    (
        1usize..8,
        any::<[bool; 8]>(),
        any::<[bool; 8]>(),
        any::<bool>(),
        any::<bool>(),
        0usize..8,
    )
        .prop_map(|(n, held, cloned, mounted, busy, t)| {
            let mut s = base();
            s.snapshots = (0..n)
                .map(|i| snap(&format!("s{i}"), 10 * (i as u64 + 1)))
                .collect();
            for (i, sn) in s.snapshots.iter_mut().enumerate() {
                if held[i] {
                    sn.holds.push("h".into());
                }
                if cloned[i] {
                    sn.clones.push(dn(&format!("tank/c{i}")));
                }
            }
            if mounted {
                s.mount = mount("/home", busy);
            }
            (s, t % n)
        })
}

proptest! {
    #[test]
    fn plans_are_consistent((s, t) in arb_state(), which in 0u8..3) {
        let strat = [Strategy::Auto, Strategy::Swap, Strategy::Copy][which as usize];
        let target = s.snapshots[t].clone();
        let p = plan(&s, target.short_name(), strat, ID);
        // The stash holds exactly the newer snapshots, oldest first.
        let want: Vec<_> = s.snapshots.iter().filter(|x| x.createtxg() > target.createtxg()).cloned().collect();
        prop_assert_eq!(&p.stashed, &want);
        // Never runnable with blockers; a chosen strategy is never Auto.
        prop_assert!(!p.is_runnable() || p.blockers.is_empty());
        prop_assert!(p.strategy != Some(Strategy::Auto));
        if p.is_runnable() {
            let st = p.strategy.unwrap_or(Strategy::Auto);
            // Copy never runs over a held or cloned newer snapshot; swap never over a busy mount.
            if st == Strategy::Copy {
                prop_assert!(want.iter().all(|x| x.holds.is_empty() && x.clones.is_empty()));
                // Every snapshot destroyed on the live dataset was sent to the stash first.
                let sent: Vec<crate::name::SnapshotName> = p.steps.iter().filter_map(|x| match x {
                    Step::SendReceive { send, .. } => Some(send.clone()), _ => None }).collect();
                let destroy_at = p.steps.iter().position(|x| matches!(x, Step::DestroySnapshots { .. }));
                let commit_at = p.steps.iter().position(|x| *x == Step::Commit);
                let verify_at = p.steps.iter().position(|x| *x == Step::VerifyGuids);
                // Each step is there, in this order: verify, commit, destroy.
                let (Some(verify_at), Some(commit_at), Some(destroy_at)) = (verify_at, commit_at, destroy_at) else {
                    return Err(TestCaseError::fail(format!("a copy plan lacks verify/commit/destroy: {:?}", p.steps)));
                };
                prop_assert!(verify_at < commit_at && commit_at < destroy_at);
                let Step::DestroySnapshots { snapshots } = &p.steps[destroy_at] else { unreachable!() };
                for d in snapshots { prop_assert!(sent.contains(d)); }
                // Every send comes before the commit point.
                let last_send = p.steps.iter().rposition(|x| matches!(x, Step::SendReceive { .. }));
                prop_assert!(last_send.is_some_and(|i| i < commit_at));
            } else {
                prop_assert!(s.mount.as_ref().is_none_or(|m| !m.busy));
            }
            if strat != Strategy::Auto { prop_assert_eq!(Some(strat), p.strategy); }
        }
    }
}

#[test]
fn a_plan_made_again_from_the_same_state_has_no_differences() {
    let mut s = base();
    let was = plan(&s, "a", Strategy::Copy, ID);
    // Writes since the plan change space figures only.
    s.written += 1 << 30;
    let now = plan(&s, "a", Strategy::Copy, ID);
    assert_eq!(plan_differences(&was, &now), Vec::<String>::new());
}

#[test]
fn plan_differences_name_what_changed() {
    let was = plan(&base(), "a", Strategy::Auto, ID);
    // Another rollback swapped the dataset: new GUID, and its newer snapshots are gone.
    let mut swapped = base();
    swapped.guid = 77;
    swapped.snapshots.truncate(1);
    let d = plan_differences(&was, &plan(&swapped, "a", Strategy::Auto, ID));
    assert!(d.iter().any(|x| x.contains("another dataset")), "{d:?}");
    assert!(
        d.iter()
            .any(|x| x.contains("tank/home@b") && x.contains("gone")),
        "{d:?}"
    );
    // Another program took a snapshot.
    let mut more = base();
    more.snapshots.push(snap("d", 40));
    let d = plan_differences(&was, &plan(&more, "a", Strategy::Auto, ID));
    assert_eq!(d, ["new snapshot tank/home@d (GUID 1040)"]);
    // The target was destroyed and made again under the same name.
    let mut replaced = base();
    let a = &replaced.snapshots[0].snapshot;
    replaced.snapshots[0].snapshot =
        crate::snapshot::Snapshot::from_parts(a.name().clone(), 5, a.createtxg(), a.creation());
    let d = plan_differences(&was, &plan(&replaced, "a", Strategy::Auto, ID));
    assert!(
        d.iter()
            .any(|x| x.contains("tank/home@a is another snapshot")),
        "{d:?}"
    );
    // The dataset was mounted since (a swap now unmounts it): the steps differ.
    let mut mounted = base();
    mounted.mount = mount("/tank/home", false);
    let d = plan_differences(&was, &plan(&mounted, "a", Strategy::Auto, ID));
    assert!(d.iter().any(|x| x.contains("steps changed")), "{d:?}");
}

#[test]
fn journals_are_one_per_operation() {
    let dir = std::env::temp_dir().join(format!("flocker-journals-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).unwrap_or_else(|e| panic!("{e}"));
    let j = |id: &str, ds: &str| {
        let s = base_on(ds);
        exec::journal_for(JournalOp::Rollback, plan(&s, "a", Strategy::Copy, id), None)
    };
    let a = j("20261125T101500-aaaaaa", "tank/a");
    let b = j("20261125T101500-bbbbbb", "tank/b");
    store.put_journal(&a).unwrap_or_else(|e| panic!("{e}"));
    store.put_journal(&b).unwrap_or_else(|e| panic!("{e}"));
    let ids = |st: &Store| -> Vec<String> {
        st.journals()
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|j| j.plan.stash_id)
            .collect()
    };
    assert_eq!(
        ids(&store),
        [a.plan.stash_id.clone(), b.plan.stash_id.clone()]
    );
    store
        .clear_journal(&a.plan.stash_id)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids(&store), std::slice::from_ref(&b.plan.stash_id));
    // A journal written by an earlier version (journal.json) is read, and cleared by its id.
    let legacy = j("20261125T101500-cccccc", "tank/c");
    std::fs::write(
        dir.join("journal.json"),
        serde_json::to_vec(&store::JournalV1::from(&legacy)).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids(&store).len(), 2);
    store
        .clear_journal(&legacy.plan.stash_id)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!dir.join("journal.json").exists());
    assert_eq!(ids(&store), std::slice::from_ref(&b.plan.stash_id));
    // Bad ids are refused, not joined into a path.
    assert_eq!(
        store.clear_journal("../x").map_err(|e| e.kind()).err(),
        Some(ErrorKind::InvalidArgument)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn related_datasets() {
    assert!(related("tank/a", "tank/a"));
    assert!(related("tank/a", "tank/a/b"));
    assert!(related("tank/a/b", "tank/a"));
    assert!(!related("tank/a", "tank/ab"));
    assert!(!related("tank/a", "tank/b"));
}

fn dn(s: &str) -> crate::name::DatasetName {
    crate::name::DatasetName::new(s).unwrap_or_else(|e| panic!("{e}"))
}

fn snn(s: &str) -> crate::name::SnapshotName {
    crate::name::SnapshotName::new(s).unwrap_or_else(|e| panic!("{e}"))
}
