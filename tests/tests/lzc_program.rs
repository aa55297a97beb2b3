//! Conformance: lzc_channel_program and lzc_channel_program_nosync (pyzfs checklist:
//! channel program timeout; plus syntax/runtime errors, memory limit, invalid limits,
//! arguments and return values, and concurrent use from several threads).

mod lzc_common;

use flocker_core::error::ErrorKind;
use flocker_core::lzc::{self, ProgramLimits};
use flocker_core::nvlist::{NvList, Value};
use flocker_core::snapshot::Snapshot;
use flocker_tests::{TestPool, TestResult, ensure, fail, run, zfs_test};
use lzc_common::*;

fn nosync_returns_table() -> TestResult {
    let p = TestPool::new("zcpret", 128)?;
    let out = ok(lzc::channel_program_nosync(
        &pool_name(&p)?,
        r#"return { a = 1, b = "x", c = { d = true } }"#,
        ProgramLimits::default(),
        None,
    ))?;
    let t = out
        .return_table()
        .ok_or_else(|| fail(format!("no table: {out:?}")))?;
    ensure!(t.get_i64("a").map_err(fail)? == 1, "a");
    ensure!(t.get_str("b").map_err(fail)? == "x", "b");
    let c = t.get_nvlist("c").map_err(fail)?;
    ensure!(c.get_bool("d").map_err(fail)?, "c.d");
    Ok(())
}

fn arguments_reach_the_program() -> TestResult {
    let p = TestPool::new("zcpargs", 128)?;
    let mut args = NvList::new().map_err(fail)?;
    args.add_i64("n", 21).map_err(fail)?;
    args.add_string_array("list", &["x", "y", "z"])
        .map_err(fail)?;
    let out = ok(lzc::channel_program_nosync(
        &pool_name(&p)?,
        r#"local a = ... ; return { double = a["n"] * 2, len = #a["list"], second = a["list"][2] }"#,
        ProgramLimits::default(),
        Some(&args),
    ))?;
    let t = out.return_table().ok_or_else(|| fail("no table"))?;
    ensure!(t.get_i64("double").map_err(fail)? == 42, "double");
    ensure!(t.get_i64("len").map_err(fail)? == 3, "len");
    ensure!(
        t.get_str("second").map_err(fail)? == "y",
        "arrays are 1-based in Lua"
    );
    Ok(())
}

fn sync_program_snapshots() -> TestResult {
    let p = TestPool::new("zcpsync", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let name = format!("{}@zcp", p.ds("fs"));
    let mut args = NvList::new().map_err(fail)?;
    args.add_string("snap", &name).map_err(fail)?;
    let out = ok(lzc::channel_program(
        &pool_name(&p)?,
        r#"local a = ... ; return zfs.sync.snapshot(a["snap"])"#,
        ProgramLimits::default(),
        Some(&args),
    ))?;
    ensure!(
        matches!(out.return_value(), Some(Value::I64(0))),
        "returned {:?}",
        out.return_value()
    );
    ensure!(cli_exists(&name), "snapshot not created");
    Ok(())
}

/// `zfs.sync.clone` exists in channel programs from OpenZFS 2.4 on; before, the program fails
/// calling a nil field. The lab builds each flavour against its own headers, so `zfs_2_4` is on
/// exactly when the kernel is 2.4.
fn sync_clone_exists_from_2_4() -> TestResult {
    let p = TestPool::new("zcpclone", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let snap = format!("{}@origin", p.ds("fs"));
    mksnap(&[&snap])?;
    let clone = p.ds("clone");
    let mut args = NvList::new().map_err(fail)?;
    args.add_string("snap", &snap).map_err(fail)?;
    args.add_string("clone", &clone).map_err(fail)?;
    let program = r#"local a = ... ; return zfs.sync.clone(a["snap"], a["clone"])"#;
    let res = lzc::channel_program(
        &pool_name(&p)?,
        program,
        ProgramLimits::default(),
        Some(&args),
    );
    if cfg!(zfs_2_4) {
        let out = ok(res)?;
        ensure!(
            matches!(out.return_value(), Some(Value::I64(0))),
            "returned {:?}",
            out.return_value()
        );
        ensure!(cli_exists(&clone), "clone not created");
        ensure!(
            prop(&clone, "origin")? == snap,
            "the clone's origin is not {snap}"
        );
    } else {
        let e = expect_err(res, ErrorKind::ChannelProgramFailed)?;
        ensure!(
            e.detail().is_some_and(|d| d.contains("clone")),
            "the Lua message does not name the missing function: {e}"
        );
        ensure!(!cli_exists(&clone), "a clone appeared before 2.4");
    }
    Ok(())
}

fn nosync_cannot_modify() -> TestResult {
    let p = TestPool::new("zcpnosyncmod", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let name = format!("{}@zcp", p.ds("fs"));
    let program = format!(r#"return zfs.sync.snapshot("{name}")"#);
    let e = match lzc::channel_program_nosync(
        &pool_name(&p)?,
        &program,
        ProgramLimits::default(),
        None,
    ) {
        Ok(out) => return Err(fail(format!("nosync program modified the pool: {out:?}"))),
        Err(e) => e,
    };
    ensure!(
        matches!(
            e.kind(),
            ErrorKind::ChannelProgramFailed | ErrorKind::PermissionDenied
        ),
        "kind {:?}: {e}",
        e.kind()
    );
    ensure!(!cli_exists(&name), "snapshot created by a nosync program");
    Ok(())
}

fn syntax_error() -> TestResult {
    let p = TestPool::new("zcpsyntax", 128)?;
    let e = expect_err(
        lzc::channel_program_nosync(
            &pool_name(&p)?,
            "return (((",
            ProgramLimits::default(),
            None,
        ),
        ErrorKind::ChannelProgramSyntax,
    )?;
    ensure!(
        e.detail().is_some_and(|d| !d.is_empty()),
        "no Lua message: {e}"
    );
    ensure!(e.errno() == Some(libc::EINVAL), "errno {:?}", e.errno());
    Ok(())
}

fn runtime_error() -> TestResult {
    let p = TestPool::new("zcpruntime", 128)?;
    let e = expect_err(
        lzc::channel_program_nosync(
            &pool_name(&p)?,
            r#"error("boom from lua")"#,
            ProgramLimits::default(),
            None,
        ),
        ErrorKind::ChannelProgramFailed,
    )?;
    ensure!(
        e.detail().is_some_and(|d| d.contains("boom from lua")),
        "message lost: {e}"
    );
    ensure!(e.errno() == Some(libc::ECHRNG), "errno {:?}", e.errno());
    Ok(())
}

fn instruction_limit() -> TestResult {
    let p = TestPool::new("zcptimeout", 128)?;
    let e = expect_err(
        lzc::channel_program_nosync(
            &pool_name(&p)?,
            "while true do end",
            ProgramLimits::new(10_000, 10 << 20),
            None,
        ),
        ErrorKind::ChannelProgramLimit,
    )?;
    ensure!(e.errno() == Some(libc::ETIME), "errno {:?}", e.errno());
    Ok(())
}

fn memory_limit() -> TestResult {
    let p = TestPool::new("zcpmem", 128)?;
    let e = expect_err(
        lzc::channel_program_nosync(
            &pool_name(&p)?,
            "local t = {} ; for i = 1, 10000000 do t[i] = i end ; return 0",
            ProgramLimits::new(100_000_000, 1 << 20),
            None,
        ),
        ErrorKind::ChannelProgramLimit,
    )?;
    ensure!(
        matches!(e.errno(), Some(libc::ENOSPC) | Some(libc::ENOMEM)),
        "errno {:?}",
        e.errno()
    );
    Ok(())
}

fn output_too_large() -> TestResult {
    let p = TestPool::new("zcpbigout", 128)?;
    // Lua shares one 1 KiB string between 5000 table slots (~100 KiB of program memory), but
    // the returned nvlist holds 5000 copies (~5 MiB): more than the 2 MiB reply buffer.
    let r = lzc::channel_program_nosync(
        &pool_name(&p)?,
        r#"local s = string.rep("x", 1024) ; local t = {} ; for i = 1, 5000 do t[i] = s end ; return t"#,
        ProgramLimits::new(10_000_000, 2 << 20),
        None,
    );
    let e = match r {
        Ok(_) => return Err(fail("a 5 MiB return value fitted in a 2 MiB reply")),
        Err(e) => e,
    };
    // The kernel "smushes" an oversized reply into {N_MORE_ERRORS: 1} and succeeds; the
    // library must not pass that off as the program's result.
    ensure!(
        e.kind() == ErrorKind::ChannelProgramLimit,
        "kind {:?}: {e}",
        e.kind()
    );
    ensure!(
        e.detail().is_some_and(|d| d.contains("does not fit")),
        "detail: {e}"
    );
    Ok(())
}

fn invalid_limits() -> TestResult {
    let p = TestPool::new("zcplimits", 128)?;
    // Above the kernel's maxima (zfs_lua_max_instrlimit 100M, zfs_lua_max_memlimit 100 MiB).
    let e = expect_err(
        lzc::channel_program_nosync(
            &pool_name(&p)?,
            "return 1",
            ProgramLimits::new(1_000_000_000, 10 << 20),
            None,
        ),
        ErrorKind::InvalidArgument,
    )?;
    ensure!(
        e.detail().is_none(),
        "a limit error carries no Lua message: {e}"
    );
    expect_err(
        lzc::channel_program_nosync(
            &pool_name(&p)?,
            "return 1",
            ProgramLimits::new(1000, 200 << 20),
            None,
        ),
        ErrorKind::InvalidArgument,
    )?;
    Ok(())
}

fn missing_pool() -> TestResult {
    let _p = TestPool::new("zcpnopool", 128)?;
    let pool = flocker_core::name::PoolName::new("nosuchpoolflocker").map_err(fail)?;
    expect_err(
        lzc::channel_program_nosync(&pool, "return 1", ProgramLimits::default(), None),
        ErrorKind::NotFound,
    )?;
    Ok(())
}

fn nul_in_program() -> TestResult {
    let p = TestPool::new("zcpnul", 128)?;
    let e = expect_err(
        lzc::channel_program_nosync(
            &pool_name(&p)?,
            "return 1\0",
            ProgramLimits::default(),
            None,
        ),
        ErrorKind::InvalidArgument,
    )?;
    ensure!(e.errno().is_none(), "reached the kernel: {e}");
    Ok(())
}

fn limit_leaves_sync_work_done() -> TestResult {
    let p = TestPool::new("zcppartial", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let name = format!("{}@before_loop", p.ds("fs"));
    let program = format!(r#"zfs.sync.snapshot("{name}") ; while true do end"#);
    expect_err(
        lzc::channel_program(
            &pool_name(&p)?,
            &program,
            ProgramLimits::new(10_000, 10 << 20),
            None,
        ),
        ErrorKind::ChannelProgramLimit,
    )?;
    // zfs-program(8): a program stopped by a limit is left partially executed.
    ensure!(
        cli_exists(&name),
        "the work done before the limit was undone"
    );
    Ok(())
}

fn concurrent_programs() -> TestResult {
    let p = TestPool::new("zcpthreads", 128)?;
    mkfs(&[&p.ds("fs")])?;
    for i in 0..5 {
        mksnap(&[&format!("{}@s{i}", p.ds("fs"))])?;
    }
    let fs = ds(&p.ds("fs"))?;
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let fs = fs.clone();
            std::thread::spawn(move || -> Result<(), String> {
                for _ in 0..10 {
                    let list = Snapshot::list(&fs).map_err(|e| e.to_string())?;
                    if list.len() != 5 {
                        return Err(format!("listed {} snapshots", list.len()));
                    }
                    if !lzc::exists(&fs).map_err(|e| e.to_string())? {
                        return Err("filesystem vanished".into());
                    }
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| fail("thread panicked"))?
            .map_err(fail)?;
    }
    Ok(())
}

fn main() {
    run(vec![
        zfs_test(
            "lzc_channel_program::nosync_returns_table",
            nosync_returns_table,
        ),
        zfs_test(
            "lzc_channel_program::arguments",
            arguments_reach_the_program,
        ),
        zfs_test(
            "lzc_channel_program::sync_snapshots",
            sync_program_snapshots,
        ),
        zfs_test(
            "lzc_channel_program::nosync_cannot_modify",
            nosync_cannot_modify,
        ),
        zfs_test(
            "lzc_channel_program::sync_clone_exists_from_2_4",
            sync_clone_exists_from_2_4,
        ),
        zfs_test("lzc_channel_program::syntax_error", syntax_error),
        zfs_test("lzc_channel_program::runtime_error", runtime_error),
        zfs_test("lzc_channel_program::instruction_limit", instruction_limit),
        zfs_test("lzc_channel_program::memory_limit", memory_limit),
        zfs_test("lzc_channel_program::output_too_large", output_too_large),
        zfs_test("lzc_channel_program::invalid_limits", invalid_limits),
        zfs_test("lzc_channel_program::missing_pool", missing_pool),
        zfs_test("lzc_channel_program::nul_in_program", nul_in_program),
        zfs_test(
            "lzc_channel_program::limit_leaves_work_done",
            limit_leaves_sync_work_done,
        ),
        zfs_test("lzc_channel_program::concurrent", concurrent_programs),
    ])
}
