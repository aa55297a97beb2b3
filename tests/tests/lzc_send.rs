//! Conformance: the send and receive families (pyzfs checklist: send incremental, send from
//! bookmark, send to broken pipe, receive incremental onto modified fs, receive clone with
//! wrong origin, resumable send token).

mod lzc_common;

use std::os::fd::AsFd;

use flocker_core::error::{ErrorKind, ZfsErrCode};
use flocker_core::lzc::{self, BeginRecord, PointInTime, ReceiveOptions, ResumeToken, SendFlags};
use flocker_core::nvlist::NvList;
use flocker_tests::{Failed, TestPool, TestResult, ensure, fail, run, zfs_test};
use lzc_common::*;

/// A pool with `fs` holding a 1 MiB file, snapshot `fs@a`, more data, `fs@b`.
fn source(tag: &str) -> Result<TestPool, Failed> {
    let p = TestPool::new(tag, 256)?;
    let fs = p.ds("fs");
    mkfs(&[&fs])?;
    let dir = mount_at_tmp(&fs)?;
    write_file(&dir, "one", &noise(1 << 20, 1))?;
    mksnap(&[&format!("{fs}@a")])?;
    write_file(&dir, "two", &noise(1 << 20, 2))?;
    mksnap(&[&format!("{fs}@b")])?;
    Ok(p)
}

fn send_bytes(s: &str, from: Option<PointInTime<'_>>, flags: SendFlags) -> Result<Vec<u8>, Failed> {
    let s = snap(s)?;
    let (r, data) = capture_stream(|fd| lzc::send(&s, from, fd, flags))?;
    ok(r)?;
    Ok(data)
}

fn recv_bytes(
    target: &str,
    data: Vec<u8>,
    opts: ReceiveOptions<'_>,
) -> Result<Result<(), flocker_core::error::Error>, Failed> {
    let t = snap(target)?;
    feed_stream(data, |fd| lzc::receive(&t, &opts, fd))
}

fn full_roundtrip() -> TestResult {
    let p = source("sendfull")?;
    let src = format!("{}@a", p.ds("fs"));
    let data = send_bytes(&src, None, SendFlags::empty())?;
    ensure!(
        data.len() > 1 << 20,
        "stream of {} bytes for 1 MiB of data",
        data.len()
    );
    let dst = format!("{}@a", p.ds("copy"));
    ok(recv_bytes(&dst, data, ReceiveOptions::new())?)?;
    ensure!(
        cli_guid(&dst)? == cli_guid(&src)?,
        "received snapshot has another guid"
    );
    Ok(())
}

fn incremental_roundtrip() -> TestResult {
    let p = source("sendincr")?;
    let a = snap(&format!("{}@a", p.ds("fs")))?;
    let b = format!("{}@b", p.ds("fs"));
    ok(recv_bytes(
        &format!("{}@a", p.ds("copy")),
        send_bytes(a.as_str(), None, SendFlags::empty())?,
        ReceiveOptions::new(),
    )?)?;
    let inc = send_bytes(&b, Some((&a).into()), SendFlags::empty())?;
    let full = send_bytes(&b, None, SendFlags::empty())?;
    ensure!(
        inc.len() < full.len(),
        "incremental {} not smaller than full {}",
        inc.len(),
        full.len()
    );
    let dst = format!("{}@b", p.ds("copy"));
    ok(recv_bytes(&dst, inc, ReceiveOptions::new())?)?;
    ensure!(cli_guid(&dst)? == cli_guid(&b)?, "guid differs");
    Ok(())
}

fn from_bookmark() -> TestResult {
    let p = source("sendbm")?;
    let fs = p.ds("fs");
    ok(recv_bytes(
        &format!("{}@a", p.ds("copy")),
        send_bytes(&format!("{fs}@a"), None, SendFlags::empty())?,
        ReceiveOptions::new(),
    )?)?;
    zfs(&["bookmark", &format!("{fs}@a"), &format!("{fs}#a")])?;
    zfs(&["destroy", &format!("{fs}@a")])?;
    let book = bm(&format!("{fs}#a"))?;
    let inc = send_bytes(&format!("{fs}@b"), Some((&book).into()), SendFlags::empty())?;
    let dst = format!("{}@b", p.ds("copy"));
    ok(recv_bytes(&dst, inc, ReceiveOptions::new())?)?;
    ensure!(
        cli_guid(&dst)? == cli_guid(&format!("{fs}@b"))?,
        "guid differs"
    );
    Ok(())
}

fn flags_roundtrip() -> TestResult {
    let p = source("sendflags")?;
    let src = format!("{}@b", p.ds("fs"));
    let flags = SendFlags::EMBED_DATA | SendFlags::LARGE_BLOCK | SendFlags::COMPRESS;
    let data = send_bytes(&src, None, flags)?;
    let dst = format!("{}@b", p.ds("copy"));
    ok(recv_bytes(&dst, data, ReceiveOptions::new())?)?;
    ensure!(cli_guid(&dst)? == cli_guid(&src)?, "guid differs");
    Ok(())
}

fn send_space_estimates() -> TestResult {
    let p = source("sendspace")?;
    let a = snap(&format!("{}@a", p.ds("fs")))?;
    let b = snap(&format!("{}@b", p.ds("fs")))?;
    let full_est = ok(lzc::send_space(&b, None, SendFlags::empty()))?;
    let inc_est = ok(lzc::send_space(&b, Some((&a).into()), SendFlags::empty()))?;
    let full = send_bytes(b.as_str(), None, SendFlags::empty())?.len() as u64;
    let inc = send_bytes(b.as_str(), Some((&a).into()), SendFlags::empty())?.len() as u64;
    ensure!(
        full_est / 2 <= full && full <= full_est * 2,
        "full estimate {full_est} vs {full}"
    );
    ensure!(
        inc_est / 2 <= inc && inc <= inc_est * 2,
        "incremental estimate {inc_est} vs {inc}"
    );
    ensure!(inc_est < full_est, "incremental estimate not smaller");
    let general = ok(lzc::send_space_resume_redacted(
        &b,
        None,
        SendFlags::empty(),
        Default::default(),
        None,
        None,
    ))?;
    ensure!(
        general == full_est,
        "send_space_resume_redacted {general} vs send_space {full_est}"
    );
    Ok(())
}

fn general_send_form() -> TestResult {
    let p = source("sendgeneral")?;
    let a = snap(&format!("{}@a", p.ds("fs")))?;
    let b = snap(&format!("{}@b", p.ds("fs")))?;
    let (r, general) = capture_stream(|fd| {
        lzc::send_resume_redacted(
            &b,
            Some((&a).into()),
            fd,
            SendFlags::empty(),
            Default::default(),
            None,
        )
    })?;
    ok(r)?;
    let plain = send_bytes(b.as_str(), Some((&a).into()), SendFlags::empty())?;
    ensure!(
        general.len() == plain.len(),
        "lzc_send_resume_redacted wrote {} bytes, lzc_send {}",
        general.len(),
        plain.len()
    );
    let copy = p.ds("copy");
    ok(recv_bytes(
        &format!("{copy}@a"),
        send_bytes(a.as_str(), None, SendFlags::empty())?,
        ReceiveOptions::new(),
    )?)?;
    ok(recv_bytes(
        &format!("{copy}@b"),
        general,
        ReceiveOptions::new(),
    )?)?;
    ensure!(
        cli_guid(&format!("{copy}@b"))? == cli_guid(b.as_str())?,
        "guid differs"
    );
    Ok(())
}

fn broken_pipe() -> TestResult {
    let p = source("sendpipe")?;
    let s = snap(&format!("{}@b", p.ds("fs")))?;
    let (r, w) = std::io::pipe().map_err(fail)?;
    drop(r);
    expect_err(
        lzc::send(&s, None, w.as_fd(), SendFlags::empty()),
        ErrorKind::BrokenPipe,
    )?;
    Ok(())
}

fn send_unrelated_source() -> TestResult {
    let p = source("sendunrel")?;
    mkfs(&[&p.ds("other")])?;
    let other = snap(&format!("{}@x", p.ds("other")))?;
    mksnap(&[other.as_str()])?;
    let s = snap(&format!("{}@b", p.ds("fs")))?;
    let (r, _data) =
        capture_stream(|fd| lzc::send(&s, Some((&other).into()), fd, SendFlags::empty()))?;
    expect_err(r, ErrorKind::Mismatch)?;
    Ok(())
}

fn send_missing_snapshot() -> TestResult {
    let p = TestPool::new("sendmissing", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = snap(&format!("{}@none", p.ds("fs")))?;
    let (r, data) = capture_stream(|fd| lzc::send(&s, None, fd, SendFlags::empty()))?;
    expect_err(r, ErrorKind::NotFound)?;
    ensure!(data.is_empty(), "wrote {} bytes", data.len());
    expect_err(
        lzc::send_space(&s, None, SendFlags::empty()),
        ErrorKind::NotFound,
    )?;
    Ok(())
}

fn receive_existing_without_force() -> TestResult {
    let p = source("recvexists")?;
    mkfs(&[&p.ds("copy")])?;
    let data = send_bytes(&format!("{}@a", p.ds("fs")), None, SendFlags::empty())?;
    expect_err(
        recv_bytes(&format!("{}@a", p.ds("copy")), data, ReceiveOptions::new())?,
        ErrorKind::Exists,
    )?;
    Ok(())
}

fn receive_onto_modified() -> TestResult {
    let p = source("recvmod")?;
    let fs = p.ds("fs");
    let copy = p.ds("copy");
    ok(recv_bytes(
        &format!("{copy}@a"),
        send_bytes(&format!("{fs}@a"), None, SendFlags::empty())?,
        ReceiveOptions::new(),
    )?)?;
    let dir = mount_at_tmp(&copy)?;
    write_file(&dir, "local", b"local change")?;
    let a = snap(&format!("{fs}@a"))?;
    let inc = send_bytes(&format!("{fs}@b"), Some((&a).into()), SendFlags::empty())?;
    expect_err(
        recv_bytes(&format!("{copy}@b"), inc.clone(), ReceiveOptions::new())?,
        ErrorKind::DestinationModified,
    )?;
    ensure!(
        !cli_exists(&format!("{copy}@b")),
        "received despite the error"
    );
    ok(recv_bytes(
        &format!("{copy}@b"),
        inc,
        ReceiveOptions::new().force(true),
    )?)?;
    ensure!(
        !dir.join("local").exists(),
        "force did not roll back the local change"
    );
    Ok(())
}

fn receive_incremental_wrong_base() -> TestResult {
    let p = source("recvbase")?;
    let fs = p.ds("fs");
    let copy = p.ds("copy");
    ok(recv_bytes(
        &format!("{copy}@a"),
        send_bytes(&format!("{fs}@a"), None, SendFlags::empty())?,
        ReceiveOptions::new(),
    )?)?;
    mksnap(&[&format!("{fs}@c")])?;
    let b = snap(&format!("{fs}@b"))?;
    let inc = send_bytes(&format!("{fs}@c"), Some((&b).into()), SendFlags::empty())?;
    expect_err(
        recv_bytes(&format!("{copy}@c"), inc, ReceiveOptions::new())?,
        ErrorKind::StreamMismatch,
    )?;
    Ok(())
}

fn receive_clone_with_origin() -> TestResult {
    let p = source("recvclone")?;
    let fs = p.ds("fs");
    let copy = p.ds("copy");
    ok(recv_bytes(
        &format!("{copy}@a"),
        send_bytes(&format!("{fs}@a"), None, SendFlags::empty())?,
        ReceiveOptions::new(),
    )?)?;
    zfs(&["clone", &format!("{fs}@a"), &p.ds("cl")])?;
    mksnap(&[&format!("{}@x", p.ds("cl"))])?;
    let a = snap(&format!("{fs}@a"))?;
    let inc = send_bytes(
        &format!("{}@x", p.ds("cl")),
        Some((&a).into()),
        SendFlags::empty(),
    )?;
    let origin = snap(&format!("{copy}@a"))?;
    let dst = format!("{}@x", p.ds("copyclone"));
    ok(recv_bytes(
        &dst,
        inc,
        ReceiveOptions::new().origin(&origin),
    )?)?;
    ensure!(
        prop(&p.ds("copyclone"), "origin")? == origin.as_str(),
        "origin not set"
    );
    Ok(())
}

fn receive_clone_wrong_origin() -> TestResult {
    let p = source("recvcloneorig")?;
    let fs = p.ds("fs");
    mkfs(&[&p.ds("unrelated")])?;
    let wrong = snap(&format!("{}@u", p.ds("unrelated")))?;
    mksnap(&[wrong.as_str()])?;
    zfs(&["clone", &format!("{fs}@a"), &p.ds("cl")])?;
    mksnap(&[&format!("{}@x", p.ds("cl"))])?;
    let a = snap(&format!("{fs}@a"))?;
    let inc = send_bytes(
        &format!("{}@x", p.ds("cl")),
        Some((&a).into()),
        SendFlags::empty(),
    )?;
    let dst = format!("{}@x", p.ds("copyclone"));
    expect_err(
        recv_bytes(&dst, inc, ReceiveOptions::new().origin(&wrong))?,
        ErrorKind::StreamMismatch,
    )?;
    ensure!(
        !cli_exists(&p.ds("copyclone")),
        "clone created from the wrong origin"
    );
    Ok(())
}

fn receive_garbage() -> TestResult {
    let p = TestPool::new("recvgarbage", 128)?;
    let e = match recv_bytes(
        &format!("{}@a", p.ds("copy")),
        vec![0x5a; 4096],
        ReceiveOptions::new(),
    )? {
        Ok(()) => return Err(fail("garbage was received")),
        Err(e) => e,
    };
    ensure!(
        matches!(e.kind(), ErrorKind::BadStream | ErrorKind::Io),
        "kind {:?}: {e}",
        e.kind()
    );
    ensure!(!cli_exists(&p.ds("copy")), "dataset created from garbage");
    Ok(())
}

fn receive_read_only_pool() -> TestResult {
    let p = source("recvsrcro")?;
    let ro = TestPool::new("recvro", 128)?;
    make_read_only(&ro)?;
    let data = send_bytes(&format!("{}@a", p.ds("fs")), None, SendFlags::empty())?;
    expect_err(
        recv_bytes(&format!("{}@a", ro.ds("copy")), data, ReceiveOptions::new())?,
        ErrorKind::ReadOnly,
    )?;
    Ok(())
}

fn receive_with_props() -> TestResult {
    let p = source("recvprops")?;
    let data = send_bytes(&format!("{}@a", p.ds("fs")), None, SendFlags::empty())?;
    let mut props = NvList::new().map_err(fail)?;
    props.add_string("user:from", "flocker").map_err(fail)?;
    ok(recv_bytes(
        &format!("{}@a", p.ds("copy")),
        data,
        ReceiveOptions::new().props(&props),
    )?)?;
    ensure!(
        prop(&p.ds("copy"), "user:from")? == "flocker",
        "received property missing"
    );
    let source = zfs(&["get", "-H", "-o", "source", "user:from", &p.ds("copy")])?;
    ensure!(source.trim() == "received", "source {source:?}");
    Ok(())
}

fn receive_with_header() -> TestResult {
    let p = source("recvheader")?;
    let src = format!("{}@a", p.ds("fs"));
    let data = send_bytes(&src, None, SendFlags::empty())?;
    let dst = snap(&format!("{}@a", p.ds("copy")))?;
    let r = feed_stream(data, |fd| {
        let mut file = match fd.try_clone_to_owned() {
            Ok(owned) => std::fs::File::from(owned),
            Err(e) => return Ok(Some(format!("cannot dup the pipe: {e}"))),
        };
        let begin = BeginRecord::read_from(&mut file)?;
        if begin.toname() != src {
            return Ok(Some(begin.toname()));
        }
        lzc::receive_with_header(&dst, &ReceiveOptions::new(), fd, &begin)?;
        Ok(None)
    })?;
    match ok(r)? {
        None => {}
        Some(name) => return Err(fail(format!("begin record names {name}, want {src}"))),
    }
    ensure!(cli_guid(dst.as_str())? == cli_guid(&src)?, "guid differs");
    Ok(())
}

fn receive_one_counts_bytes() -> TestResult {
    let p = source("recvone")?;
    let data = send_bytes(&format!("{}@a", p.ds("fs")), None, SendFlags::empty())?;
    let len = data.len() as u64;
    let dst = snap(&format!("{}@a", p.ds("copy")))?;
    let out = ok(feed_stream(data, |fd| {
        lzc::receive_one(&dst, &ReceiveOptions::new(), fd, None)
    })?)?;
    // libzfs_core reads the 312-byte BEGIN record itself; the kernel counts the rest.
    let header = lzc::REPLAY_RECORD_SIZE as u64;
    ensure!(
        out.read_bytes() + header == len,
        "read {} + {header} of {len} bytes",
        out.read_bytes()
    );
    ensure!(
        out.prop_errors().is_empty(),
        "prop errors {:?}",
        out.prop_errors()
    );
    Ok(())
}

fn receive_with_cmdprops() -> TestResult {
    let p = source("recvcmdprops")?;
    let data = send_bytes(&format!("{}@a", p.ds("fs")), None, SendFlags::empty())?;
    let dst = snap(&format!("{}@a", p.ds("copy")))?;
    let mut cmd = NvList::new().map_err(fail)?;
    cmd.add_string("user:local", "yes").map_err(fail)?;
    let out = ok(feed_stream(data, |fd| {
        lzc::receive_with_cmdprops(&dst, &ReceiveOptions::new(), Some(&cmd), None, fd, None)
    })?)?;
    ensure!(out.read_bytes() > 0, "no bytes read");
    ensure!(
        prop(&p.ds("copy"), "user:local")? == "yes",
        "cmdprop not set"
    );
    Ok(())
}

fn resumable_receive_and_token() -> TestResult {
    let p = source("resume")?;
    let src = format!("{}@b", p.ds("fs"));
    let data = send_bytes(&src, None, SendFlags::empty())?;
    let copy = p.ds("copy");
    let dst = snap(&format!("{copy}@b"))?;
    let half = data[..data.len() / 2].to_vec();
    let e = match feed_stream(half, |fd| {
        lzc::receive(&dst, &ReceiveOptions::new().resumable(true), fd)
    })? {
        Ok(()) => return Err(fail("truncated stream was received")),
        Err(e) => e,
    };
    ensure!(
        matches!(
            e.kind(),
            ErrorKind::BadStream | ErrorKind::Zfs(ZfsErrCode::StreamTruncated)
        ),
        "truncated stream gave {:?}: {e}",
        e.kind()
    );
    let token = prop(&copy, "receive_resume_token")?;
    ensure!(
        token.len() > 10 && token != "-",
        "no resume token: {token:?}"
    );
    let t = ok(ResumeToken::parse(&token))?;
    ensure!(t.toname() == src, "token toname {}", t.toname());
    ensure!(t.toguid() == cli_guid(&src)?, "token toguid");
    ensure!(t.fromguid().is_none(), "full stream token has a fromguid");
    // The CLI decodes the same token.
    let cli = zfs(&["send", "-nv", "-t", &token])?;
    ensure!(
        cli.contains(&format!("object = {}", t.object()))
            || cli.contains(&format!("object = 0x{:x}", t.object())),
        "CLI token dump lacks object {}: {cli}",
        t.object()
    );
    let s = snap(&src)?;
    let (r, rest) =
        capture_stream(|fd| lzc::send_resume(&s, None, fd, t.flags(), t.resume_point()))?;
    ok(r)?;
    ensure!(
        rest.len() < data.len(),
        "resumed stream {} not shorter than full {}",
        rest.len(),
        data.len()
    );
    ok(feed_stream(rest, |fd| {
        lzc::receive_resumable(&dst, &ReceiveOptions::new(), fd)
    })?)?;
    ensure!(
        cli_guid(dst.as_str())? == cli_guid(&src)?,
        "resumed receive has another guid"
    );
    Ok(())
}

fn saved_send_of_partial_receive() -> TestResult {
    let p = source("sendsaved")?;
    let src = format!("{}@b", p.ds("fs"));
    let data = send_bytes(&src, None, SendFlags::empty())?;
    let copy = p.ds("copy");
    let dst = snap(&format!("{copy}@b"))?;
    let half = data[..data.len() / 2].to_vec();
    let r = feed_stream(half, |fd| {
        lzc::receive_resumable(&dst, &ReceiveOptions::new(), fd)
    })?;
    ensure!(r.is_err(), "truncated stream was received");
    let fs = ds(&copy)?;
    let (r, saved) = capture_stream(|fd| lzc::send_saved(&fs, fd, SendFlags::empty()))?;
    ok(r)?;
    ensure!(
        saved.len() >= lzc::REPLAY_RECORD_SIZE,
        "saved stream of {} bytes",
        saved.len()
    );
    let mut head = [0u8; lzc::REPLAY_RECORD_SIZE];
    head.copy_from_slice(&saved[..lzc::REPLAY_RECORD_SIZE]);
    let begin = ok(BeginRecord::from_bytes(head))?;
    ensure!(
        begin.toguid() == cli_guid(&src)?,
        "saved stream is of guid {}",
        begin.toguid()
    );
    Ok(())
}

fn redacted_send() -> TestResult {
    let p = source("redact")?;
    let fs = p.ds("fs");
    let b = snap(&format!("{fs}@b"))?;
    zfs(&["clone", b.as_str(), &p.ds("cl")])?;
    let dir = mount_at_tmp(&p.ds("cl"))?;
    std::fs::remove_file(dir.join("two")).map_err(fail)?;
    write_file(&dir, "three", b"clone only")?;
    let r = snap(&format!("{}@r", p.ds("cl")))?;
    mksnap(&[r.as_str()])?;
    let book = ok(lzc::redact(&b, "rb", std::slice::from_ref(&r)))?;
    ensure!(book.as_str() == format!("{fs}#rb"), "bookmark {book}");
    // Redaction properties come only from lzc_get_bookmarks, when asked for.
    let list = ok(lzc::get_bookmarks(
        &ds(&fs)?,
        &["redact_snaps", "redact_complete"],
    ))?;
    let (_, props) = list
        .iter()
        .find(|(n, _)| *n == book)
        .ok_or_else(|| fail("bookmark not listed"))?;
    ensure!(
        props.redact_snaps() == Some(&[cli_guid(r.as_str())?][..]),
        "redact_snaps {:?}",
        props.redact_snaps()
    );
    ensure!(
        props.redact_complete() == Some(true),
        "redact_complete {:?}",
        props.redact_complete()
    );
    let (res, stream) =
        capture_stream(|fd| lzc::send_redacted(&b, None, fd, SendFlags::empty(), &book))?;
    ok(res)?;
    let full = send_bytes(b.as_str(), None, SendFlags::empty())?;
    ensure!(
        stream.len() < full.len(),
        "redacted stream {} not smaller than full {}",
        stream.len(),
        full.len()
    );
    let dst = format!("{}@b", p.ds("copy"));
    ok(recv_bytes(&dst, stream, ReceiveOptions::new())?)?;
    ensure!(cli_guid(&dst)? == cli_guid(b.as_str())?, "guid differs");
    expect_err(
        lzc::redact(&b, "rb", std::slice::from_ref(&r)),
        ErrorKind::Exists,
    )?;
    // A redaction bookmark of another filesystem is refused before the ioctl.
    let foreign = bm(&format!("{}#rb", p.ds("cl")))?;
    let (res, _) =
        capture_stream(|fd| lzc::send_redacted(&b, None, fd, SendFlags::empty(), &foreign))?;
    let e = expect_err(res, ErrorKind::Mismatch)?;
    ensure!(e.errno().is_none(), "reached the kernel: {e}");
    Ok(())
}

fn resume_token_garbage() -> TestResult {
    for t in ["", "1-abc", "1-0-10-xyz", "9-0-0-00"] {
        expect_err(ResumeToken::parse(t), ErrorKind::InvalidArgument)?;
    }
    Ok(())
}

fn main() {
    run(vec![
        zfs_test("lzc_send::full_roundtrip", full_roundtrip),
        zfs_test("lzc_send::incremental_roundtrip", incremental_roundtrip),
        zfs_test("lzc_send::from_bookmark", from_bookmark),
        zfs_test("lzc_send::flags_roundtrip", flags_roundtrip),
        zfs_test("lzc_send_space::estimates", send_space_estimates),
        zfs_test("lzc_send::broken_pipe", broken_pipe),
        zfs_test("lzc_send_resume_redacted::general_form", general_send_form),
        zfs_test("lzc_send::unrelated_source", send_unrelated_source),
        zfs_test("lzc_send::missing_snapshot", send_missing_snapshot),
        zfs_test(
            "lzc_receive::existing_without_force",
            receive_existing_without_force,
        ),
        zfs_test("lzc_receive::onto_modified", receive_onto_modified),
        zfs_test(
            "lzc_receive::incremental_wrong_base",
            receive_incremental_wrong_base,
        ),
        zfs_test("lzc_receive::clone_with_origin", receive_clone_with_origin),
        zfs_test(
            "lzc_receive::clone_wrong_origin",
            receive_clone_wrong_origin,
        ),
        zfs_test("lzc_receive::garbage", receive_garbage),
        zfs_test("lzc_receive::read_only_pool", receive_read_only_pool),
        zfs_test("lzc_receive::with_props", receive_with_props),
        zfs_test(
            "lzc_receive_with_header::reads_begin_record",
            receive_with_header,
        ),
        zfs_test("lzc_receive_one::counts_bytes", receive_one_counts_bytes),
        zfs_test(
            "lzc_receive_with_cmdprops::sets_props",
            receive_with_cmdprops,
        ),
        zfs_test(
            "lzc_send_resume::token_roundtrip",
            resumable_receive_and_token,
        ),
        zfs_test("lzc_send_resume::token_garbage", resume_token_garbage),
        zfs_test(
            "lzc_send::saved_partial_receive",
            saved_send_of_partial_receive,
        ),
        zfs_test("lzc_redact::send_redacted", redacted_send),
    ])
}
