//! Channel programs (Lua run by the kernel, see zfs-program(8)).

use libzfs_core_sys as sys;

use super::translate::Family;
use super::{Ctx, c_string};
use crate::error::{Error, ErrorKind, Result};
use crate::name::PoolName;
use crate::nvlist::{NvList, NvListRef, Value};

/// Instruction and memory limits of a channel program.
///
/// The defaults are the CLI's (10 million instructions, 10 MiB); the kernel refuses more than
/// its tunables `zfs_lua_max_instrlimit` (100 million) and `zfs_lua_max_memlimit` (100 MiB) with
/// [`ErrorKind::InvalidArgument`]. The memory limit also bounds the size of the returned
/// nvlist: libzfs_core allocates a reply buffer of that size in the calling process (an absurd
/// limit fails there with `ENOMEM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramLimits {
    instructions: u64,
    memory: u64,
}

impl Default for ProgramLimits {
    fn default() -> Self {
        ProgramLimits {
            instructions: 10_000_000,
            memory: 10 << 20,
        }
    }
}

impl ProgramLimits {
    /// Limits of `instructions` Lua instructions and `memory` bytes.
    pub fn new(instructions: u64, memory: u64) -> Self {
        ProgramLimits {
            instructions,
            memory,
        }
    }

    /// The instruction limit.
    pub fn instructions(&self) -> u64 {
        self.instructions
    }

    /// The memory limit in bytes.
    pub fn memory(&self) -> u64 {
        self.memory
    }
}

/// What a channel program returned: the nvlist libzfs_core hands back, whose `"return"` pair
/// is the program's return value converted from Lua (tables → nvlists, numbers → `int64`,
/// strings → strings, booleans → `boolean_value`).
#[derive(Debug)]
pub struct ProgramOutput {
    out: Option<NvList>,
}

impl ProgramOutput {
    /// The whole reply.
    pub fn nvlist(&self) -> Option<NvListRef<'_>> {
        self.out.as_ref().map(NvList::as_ref)
    }

    /// The program's return value (`None` if it returned nothing).
    pub fn return_value(&self) -> Option<Value<'_>> {
        self.out.as_ref()?.as_ref().get("return")
    }

    /// The return value when it is a table (an nvlist).
    pub fn return_table(&self) -> Option<NvListRef<'_>> {
        match self.return_value()? {
            Value::NvList(l) => Some(l),
            _ => None,
        }
    }
}

type RawProgramFn = unsafe extern "C" fn(
    *const std::ffi::c_char,
    *const std::ffi::c_char,
    u64,
    u64,
    *mut sys::nvlist_t,
    *mut *mut sys::nvlist_t,
) -> std::ffi::c_int;

fn run(
    op: &'static str,
    f: RawProgramFn,
    pool: &PoolName,
    program: &str,
    limits: ProgramLimits,
    args: Option<&NvList>,
) -> Result<ProgramOutput> {
    let program_c = c_string(op, "channel program", program)?;
    let empty;
    let args = match args {
        Some(a) => a,
        None => {
            empty = NvList::new()?;
            &empty
        }
    };
    let ctx = Ctx::new(op, Family::ChannelProgram).name(pool.as_str());
    // SAFETY: pool name and program are NUL-terminated; `args` is a valid list lzc only reads
    // (it must not be NULL); `out` is a valid out-pointer handled by the choke point.
    let out = ctx.call_out_with_message(
        |out| unsafe {
            f(
                pool.as_c_str().as_ptr(),
                program_c.as_ptr(),
                limits.instructions,
                limits.memory,
                args.as_ptr(),
                out,
            )
        },
        |l| match l.get("error") {
            Some(Value::String(s)) => Some(s.to_string_lossy().into_owned()),
            Some(other) => Some(format!("{other:?}")),
            None => None,
        },
    )?;
    // A reply larger than the buffer is "smushed" by the kernel into `{N_MORE_ERRORS: n}`
    // and the call still succeeds: the return value is lost.
    if let Some(l) = &out {
        let l = l.as_ref();
        if !l.contains("return") && l.contains(super::N_MORE_ERRORS) {
            return Err(Error::new(ErrorKind::ChannelProgramLimit, op)
                .with_name(pool.as_str())
                .with_detail(format!(
                    "the return value does not fit in the {}-byte reply buffer (the memory \
                     limit); the kernel dropped it",
                    limits.memory
                )));
        }
    }
    Ok(ProgramOutput { out })
}

/// Runs a channel program on `pool` in syncing context: it may change the pool through
/// `zfs.sync.*`, atomically with respect to other administrative operations, and the call
/// returns after the transaction group is synced. `args` (default: empty) is the program's
/// argument table (`args = ...` in Lua).
///
/// Errors: [`ErrorKind::ChannelProgramSyntax`] and [`ErrorKind::ChannelProgramFailed`] with
/// Lua's message in [`Error::detail`](crate::error::Error::detail);
/// [`ErrorKind::ChannelProgramLimit`] (instruction limit, memory limit, or output too large:
/// the program may have partly run; a return value too large for the reply buffer is
/// dropped by the kernel, which this function reports as this kind too);
/// [`ErrorKind::InvalidArgument`] (limits out of range);
/// [`ErrorKind::NotFound`] (no such pool); [`ErrorKind::PermissionDenied`];
/// [`ErrorKind::ReadOnly`] (channel programs do not run on read-only pools, not even
/// read-only ones).
///
/// [`ErrorKind::ChannelProgramSyntax`]: crate::error::ErrorKind::ChannelProgramSyntax
/// [`ErrorKind::ChannelProgramFailed`]: crate::error::ErrorKind::ChannelProgramFailed
/// [`ErrorKind::ChannelProgramLimit`]: crate::error::ErrorKind::ChannelProgramLimit
/// [`ErrorKind::InvalidArgument`]: crate::error::ErrorKind::InvalidArgument
/// [`ErrorKind::NotFound`]: crate::error::ErrorKind::NotFound
/// [`ErrorKind::PermissionDenied`]: crate::error::ErrorKind::PermissionDenied
/// [`ErrorKind::ReadOnly`]: crate::error::ErrorKind::ReadOnly
///
/// Corresponds to `lzc_channel_program`.
///
/// # Example
///
/// ```no_run
/// use flocker_core::lzc::{self, ProgramLimits};
/// use flocker_core::name::PoolName;
/// use flocker_core::nvlist::NvList;
///
/// // Destroys every snapshot of args.fs whose name starts with "tmp-", in one txg.
/// const PROGRAM: &str = r#"
/// local args = ...
/// for snap in zfs.list.snapshots(args["fs"]) do
///     if string.find(snap, "@tmp%-") then zfs.sync.destroy(snap) end
/// end
/// "#;
/// let mut args = NvList::new()?;
/// args.add_string("fs", "tank/home")?;
/// let pool = PoolName::new("tank")?;
/// lzc::channel_program(&pool, PROGRAM, ProgramLimits::default(), Some(&args))?;
/// # Ok::<(), flocker_core::Error>(())
/// ```
#[doc(alias = "lzc_channel_program")]
pub fn channel_program(
    pool: &PoolName,
    program: &str,
    limits: ProgramLimits,
    args: Option<&NvList>,
) -> Result<ProgramOutput> {
    run(
        "lzc_channel_program",
        sys::lzc_channel_program,
        pool,
        program,
        limits,
        args,
    )
}

/// Runs a read-only channel program on `pool` in open context: faster, no txg sync, and
/// `zfs.sync.*` is unavailable. The way to list snapshots and read properties without the
/// CLI (`zfs.list.snapshots`, `zfs.get_prop`, ...). Errors as for [`channel_program`].
///
/// Corresponds to `lzc_channel_program_nosync`.
///
/// # Example
///
/// ```no_run
/// use flocker_core::lzc::{self, ProgramLimits};
/// use flocker_core::name::PoolName;
/// use flocker_core::nvlist::Value;
///
/// let program = r#"return zfs.get_prop("tank/home", "used")"#;
/// let pool = PoolName::new("tank")?;
/// let out = lzc::channel_program_nosync(&pool, program, ProgramLimits::default(), None)?;
/// if let Some(Value::I64(used)) = out.return_value() {
///     println!("tank/home uses {used} bytes");
/// }
/// # Ok::<(), flocker_core::Error>(())
/// ```
#[doc(alias = "lzc_channel_program_nosync")]
pub fn channel_program_nosync(
    pool: &PoolName,
    program: &str,
    limits: ProgramLimits,
    args: Option<&NvList>,
) -> Result<ProgramOutput> {
    run(
        "lzc_channel_program_nosync",
        sys::lzc_channel_program_nosync,
        pool,
        program,
        limits,
        args,
    )
}
