//! The pure parts of the store's location: mountinfo, which mount holds a path, the refusal,
//! and the copy of a directory store (on the host's own filesystem).

use super::*;

const MOUNTINFO: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:26 / /proc rw,nosuid - proc proc rw
41 22 0:40 / /var/lib rw,relatime shared:20 - zfs tank/varlib rw,xattr,noacl
42 41 0:41 / /var/lib/flocker-core rw,noexec shared:21 - zfs tank/flocker-core rw
43 22 0:42 / /srv/with\\040space rw - zfs tank/sp rw
44 22 0:43 / /mnt/snap ro - zfs tank/home@s1 ro
45 41 0:44 / /var/lib/docker rw - overlay overlay rw
";

fn ds(s: &str) -> DatasetName {
    DatasetName::new(s).unwrap()
}

#[test]
fn mountinfo_parses_every_mount_with_escapes() {
    let m = parse_mounts(MOUNTINFO);
    assert_eq!(m.len(), 7);
    assert_eq!(m[0].mount_point, PathBuf::from("/"));
    assert_eq!(
        (m[0].fstype.as_str(), m[0].source.as_str()),
        ("ext4", "/dev/vda")
    );
    assert_eq!(m[4].mount_point, PathBuf::from("/srv/with space"));
    assert_eq!(m[4].source, "tank/sp");
    // Junk lines are skipped, never a panic.
    assert!(parse_mounts("garbage\n1 2 - x\n\n").is_empty());
}

#[test]
fn the_mount_holding_a_path_is_the_deepest_one() {
    let m = parse_mounts(MOUNTINFO);
    let holder = |p: &str| containing_mount(&m, Path::new(p)).map(|m| m.source.clone());
    assert_eq!(
        holder("/var/lib/flocker-core").as_deref(),
        Some("tank/flocker-core")
    );
    assert_eq!(
        holder("/var/lib/flocker-core/stash/x.json").as_deref(),
        Some("tank/flocker-core")
    );
    // A sibling whose name starts the same is not under it (components, not strings).
    assert_eq!(
        holder("/var/lib/flocker-core2").as_deref(),
        Some("tank/varlib")
    );
    assert_eq!(holder("/var/lib").as_deref(), Some("tank/varlib"));
    assert_eq!(holder("/etc/x").as_deref(), Some("/dev/vda"));
    assert_eq!(holder("/srv/with space/a").as_deref(), Some("tank/sp"));
    // Not ZFS, or a snapshot: no dataset.
    let docker = containing_mount(&m, Path::new("/var/lib/docker/x")).unwrap();
    assert_eq!(dataset_of(docker), None);
    let snap = containing_mount(&m, Path::new("/mnt/snap")).unwrap();
    assert_eq!(dataset_of(snap), None);
    // Two mounts on one point: the later is on top.
    let stacked = format!("{MOUNTINFO}46 41 0:45 / /var/lib rw - zfs tank/other rw\n");
    let m2 = parse_mounts(&stacked);
    let top = containing_mount(&m2, Path::new("/var/lib/x")).unwrap();
    assert_eq!(top.source, "tank/other");
    assert!(containing_mount(&[], Path::new("/x")).is_none());
}

#[test]
fn a_rollback_of_the_dataset_holding_the_store_is_refused() {
    let varlib = ds("tank/varlib");
    let store = ds("tank/flocker-core");
    // Before `store init`: the store's directory is on tank/varlib.
    assert_eq!(
        holder_in(Some(&varlib), std::slice::from_ref(&varlib)),
        Some(&varlib)
    );
    // After: on its own dataset; rolling back /var/lib is fine.
    assert_eq!(holder_in(Some(&store), std::slice::from_ref(&varlib)), None);
    // A recursive set: any member counts.
    let set = [ds("tank"), varlib.clone(), store.clone()];
    assert_eq!(holder_in(Some(&store), &set), Some(&store));
    // Only the dataset itself: its parent or a child is another filesystem.
    assert_eq!(holder_in(Some(&varlib), &[ds("tank")]), None);
    assert_eq!(holder_in(Some(&varlib), &[ds("tank/varlib/x")]), None);
    // Not on ZFS: nothing to refuse.
    assert_eq!(holder_in(None, &set), None);
    assert_eq!(holder_in(Some(&store), &[]), None);
}

#[test]
fn store_dataset_names() {
    let pool = PoolName::new("tank").unwrap();
    assert_eq!(store_dataset(&pool).unwrap(), ds("tank/flocker-core"));
    assert!(is_store_dataset_name(&ds("tank/flocker-core")));
    assert!(!is_store_dataset_name(&ds("tank/x/flocker-core")));
    assert!(!is_store_dataset_name(&ds("tank/flocker-core/x")));
    assert!(!is_store_dataset_name(&ds("tank")));
}

/// A fresh private directory under the temporary directory.
fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flocker-loc-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::DirBuilder::new().mode(0o700).create(&d).unwrap();
    d
}

#[test]
fn canonical_keeps_a_missing_tail() {
    let d = scratch("canon");
    let want = fs::canonicalize(&d).unwrap().join("a/b");
    assert_eq!(canonical(&d.join("a/b")), want);
    assert_eq!(canonical(&d.join("x/../a/b")).file_name(), want.file_name());
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_copy_makes_an_exact_private_copy_and_skips_the_lock() {
    let root = scratch("sync");
    let (src, dst) = (root.join("src"), root.join("dst"));
    for d in [&src, &src.join("stash"), &dst] {
        fs::DirBuilder::new().mode(0o700).create(d).unwrap();
    }
    let put = |p: PathBuf, s: &str| {
        OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(p)
            .unwrap()
            .write_all(s.as_bytes())
            .unwrap()
    };
    put(src.join("stash/a.json"), "record a");
    put(src.join("journal-a.json"), "journal a");
    put(src.join("lock"), "");
    put(src.join(MIGRATION), "{}");
    put(src.join("x.tmp"), "half");
    // In the copy already: a stale record (dropped since an interrupted run) and the identity.
    fs::DirBuilder::new()
        .mode(0o700)
        .create(dst.join("stash"))
        .unwrap();
    put(dst.join("stash/old.json"), "dropped since");
    put(dst.join(POINTER), "identity");
    let copied = sync_tree(&src, &dst, true).unwrap();
    assert_eq!(
        copied,
        [
            PathBuf::from("journal-a.json"),
            PathBuf::from("stash/a.json")
        ]
    );
    assert_eq!(
        fs::read_to_string(dst.join("stash/a.json")).unwrap(),
        "record a"
    );
    assert!(!dst.join("stash/old.json").exists());
    assert!(!dst.join("lock").exists() && !dst.join(MIGRATION).exists());
    assert!(!dst.join("x.tmp").exists());
    assert_eq!(fs::read_to_string(dst.join(POINTER)).unwrap(), "identity");
    let mode = |p: PathBuf| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dst.join("stash")), 0o700);
    assert_eq!(mode(dst.join("stash/a.json")), 0o600);
    // Run again: nothing differs, nothing copied.
    assert!(sync_tree(&src, &dst, true).unwrap().is_empty());
    // A symbolic link is not something a store holds: refused.
    std::os::unix::fs::symlink("/etc/passwd", src.join("stash/evil.json")).unwrap();
    let e = sync_tree(&src, &dst, true).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_exchange_swaps_two_directories() {
    let root = scratch("xchg");
    let (a, b) = (root.join("a"), root.join("b"));
    fs::create_dir(&a).unwrap();
    fs::create_dir(&b).unwrap();
    fs::write(a.join("old"), "").unwrap();
    fs::write(b.join(POINTER), "").unwrap();
    exchange(&a, &b).unwrap();
    assert!(a.join(POINTER).exists() && b.join("old").exists());
    let e = exchange(&a, &root.join("missing")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_plain_directory_store_needs_no_mount() {
    let d = scratch("plain");
    ensure_mounted(&d).unwrap();
    assert!(Store::open(&d).is_ok());
    let loc = store_location(&d).unwrap();
    assert!(loc.exists && !loc.dedicated && loc.pointer.is_none());
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_pointer_that_cannot_be_honoured_refuses_the_store() {
    // The directory says the store lives on a dataset that is not mounted there and (on a host
    // without ZFS, or with no such pool) cannot be mounted: the store is refused rather than
    // read from the directory underneath.
    let d = scratch("ptr");
    let name = ds("nosuchpool4711/flocker-core");
    write_durably(&d.join(POINTER), &pointer_bytes(&name, 42).unwrap()).unwrap();
    let e = Store::open(&d).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::NotFound),
        "{e}"
    );
    assert!(e.to_string().contains("nosuchpool4711/flocker-core"), "{e}");
    let loc = store_location(&d).unwrap();
    assert_eq!(loc.pointer, Some(name));
    assert!(!loc.dedicated);
    // A pointer anybody could have written is not believed at all.
    fs::set_permissions(d.join(POINTER), fs::Permissions::from_mode(0o666)).unwrap();
    let e = Store::open(&d).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_foreign_mount_below_makes_a_mount_unreleasable() {
    let m = parse_mounts(MOUNTINFO);
    // The store's dataset and docker's overlay are mounted inside tank/varlib's mount.
    assert!(foreign_below(&m, Path::new("/var/lib"), &ds("tank/varlib")));
    // Without them: only tank/varlib's own tree (children, snapshot automounts) below.
    let own = "\
41 22 0:40 / /var/lib rw - zfs tank/varlib rw
42 41 0:41 / /var/lib/c rw - zfs tank/varlib/c rw
43 41 0:42 / /var/lib/.zfs/snapshot/s rw - zfs tank/varlib@s rw
44 42 0:43 / /var/lib/c/.zfs/snapshot/s rw - zfs tank/varlib/c@s rw
";
    let m = parse_mounts(own);
    assert!(!foreign_below(
        &m,
        Path::new("/var/lib"),
        &ds("tank/varlib")
    ));
    // Nothing below a leaf; a sibling with a common prefix is not below.
    assert!(!foreign_below(
        &m,
        Path::new("/var/lib/c"),
        &ds("tank/varlib/c")
    ));
    let sib = format!("{own}45 22 0:44 / /var/lib2 rw - zfs tank/other rw\n");
    assert!(!foreign_below(
        &parse_mounts(&sib),
        Path::new("/var/lib"),
        &ds("tank/varlib")
    ));
}
