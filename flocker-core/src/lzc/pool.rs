//! Pools and vdevs: sync, reopen, checkpoints, initialize, trim, wait, boot environment,
//! encryption keys, and the 2.2/2.3 additions.

use std::ffi::c_int;

use libzfs_core_sys as sys;

use super::translate::Family;
use super::{Ctx, boolean};
use crate::error::Result;
#[cfg(doc)]
use crate::error::{Error, ErrorKind};
use crate::name::{DatasetName, PoolName};
use crate::nvlist::NvList;

/// Forces all of `pool`'s dirty data to disk (`zpool sync`); with `force`, also when nothing
/// is dirty.
///
/// Errors: [`ErrorKind::NotFound`] (no such pool).
///
/// Corresponds to `lzc_sync`.
#[doc(alias = "lzc_sync")]
pub fn sync(pool: &PoolName, force: bool) -> Result<()> {
    let ctx = Ctx::new("lzc_sync", Family::Pool).name(pool.as_str());
    let mut args = NvList::new()?;
    args.add_boolean_value("force", force)?;
    // SAFETY: the name is NUL-terminated; `args` is a valid list lzc only reads; the unused
    // out-parameter may be NULL.
    ctx.call(|| unsafe {
        sys::lzc_sync(
            pool.as_c_str().as_ptr(),
            args.as_ptr(),
            std::ptr::null_mut(),
        )
    })
}

/// Reopens all of `pool`'s vdevs (`zpool reopen`); `scrub_restart` restarts an in-progress
/// scrub.
///
/// Corresponds to `lzc_reopen`.
#[doc(alias = "lzc_reopen")]
pub fn reopen(pool: &PoolName, scrub_restart: bool) -> Result<()> {
    let ctx = Ctx::new("lzc_reopen", Family::Pool).name(pool.as_str());
    // SAFETY: the name is NUL-terminated.
    ctx.call(|| unsafe { sys::lzc_reopen(pool.as_c_str().as_ptr(), boolean(scrub_restart)) })
}

/// Creates `pool`'s checkpoint (`zpool checkpoint`).
///
/// Errors: [`ErrorKind::Zfs`] with `CheckpointExists`, `DiscardingCheckpoint`,
/// `DevrmInProgress` or `VdevTooBig`; [`ErrorKind::NotFound`].
///
/// Corresponds to `lzc_pool_checkpoint`.
#[doc(alias = "lzc_pool_checkpoint")]
pub fn pool_checkpoint(pool: &PoolName) -> Result<()> {
    let ctx = Ctx::new("lzc_pool_checkpoint", Family::Pool).name(pool.as_str());
    // SAFETY: the name is NUL-terminated.
    ctx.call(|| unsafe { sys::lzc_pool_checkpoint(pool.as_c_str().as_ptr()) })
}

/// Discards `pool`'s checkpoint (`zpool checkpoint -d`); the discard completes in the
/// background (see [`wait`] with [`PoolWaitActivity::CheckpointDiscard`]).
///
/// Errors: [`ErrorKind::Zfs`] with `NoCheckpoint` or `DiscardingCheckpoint`.
///
/// Corresponds to `lzc_pool_checkpoint_discard`.
#[doc(alias = "lzc_pool_checkpoint_discard")]
pub fn pool_checkpoint_discard(pool: &PoolName) -> Result<()> {
    let ctx = Ctx::new("lzc_pool_checkpoint_discard", Family::Pool).name(pool.as_str());
    // SAFETY: the name is NUL-terminated.
    ctx.call(|| unsafe { sys::lzc_pool_checkpoint_discard(pool.as_c_str().as_ptr()) })
}

/// What [`initialize`] does (`pool_initialize_func_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InitializeCommand {
    /// Start (or resume) writing the initialisation pattern (`POOL_INITIALIZE_START`).
    Start,
    /// Cancel (`POOL_INITIALIZE_CANCEL`).
    Cancel,
    /// Suspend (`POOL_INITIALIZE_SUSPEND`).
    Suspend,
}

/// What [`trim`] does (`pool_trim_func_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrimCommand {
    /// Start (`POOL_TRIM_START`).
    Start,
    /// Cancel (`POOL_TRIM_CANCEL`).
    Cancel,
    /// Suspend (`POOL_TRIM_SUSPEND`).
    Suspend,
}

/// A vdev batch call (`lzc_initialize`, `lzc_trim`): per-vdev errors come back as
/// `{ errkey: { guid: int64 errno } }` (`errkey` is `initialize_vdevs` or `trim_vdevs`).
fn vdev_call(
    ctx: Ctx<'_>,
    errkey: &str,
    guids: &[u64],
    f: impl FnOnce(*mut sys::nvlist_t, *mut *mut sys::nvlist_t) -> c_int,
) -> Result<()> {
    let mut vdevs = NvList::new()?;
    for g in guids {
        // The key is ignored by the kernel; the value is the vdev GUID.
        vdevs.add_u64(&g.to_string(), *g)?;
    }
    let items = ctx.call_batch_under(Some(errkey), &[], |out| f(vdevs.as_ptr(), out));
    // The first vdev's error says more than the call's.
    items
        .map(drop)
        .map_err(|err| match err.items().first().map(|i| i.kind()) {
            Some(k) => err.set_kind(k),
            None => err,
        })
}

/// Starts, cancels or suspends writing the initialisation pattern on the leaf vdevs `guids`
/// of `pool` (`zpool initialize`).
///
/// Errors (per vdev in [`Error::items`], named by GUID): [`ErrorKind::NotFound`] (`ENODEV`:
/// no such vdev; `ESRCH`: not being initialised), [`ErrorKind::Busy`] (already being
/// initialised or trimmed), [`ErrorKind::InvalidArgument`] (not a leaf), [`ErrorKind::ReadOnly`].
///
/// Corresponds to `lzc_initialize`.
#[doc(alias = "lzc_initialize")]
pub fn initialize(pool: &PoolName, cmd: InitializeCommand, guids: &[u64]) -> Result<()> {
    let ctx = Ctx::new("lzc_initialize", Family::Vdev).name(pool.as_str());
    let cmd = match cmd {
        InitializeCommand::Start => sys::POOL_INITIALIZE_START,
        InitializeCommand::Cancel => sys::POOL_INITIALIZE_CANCEL,
        InitializeCommand::Suspend => sys::POOL_INITIALIZE_SUSPEND,
    };
    vdev_call(ctx, "initialize_vdevs", guids, |vdevs, out| {
        // SAFETY: the name is NUL-terminated; `vdevs` is a valid list lzc only reads; `out`
        // is a valid out-pointer.
        unsafe { sys::lzc_initialize(pool.as_c_str().as_ptr(), cmd, vdevs, out) }
    })
}

/// Starts, cancels or suspends TRIM of the leaf vdevs `guids` of `pool` (`zpool trim`), at
/// `rate` bytes per second per vdev (0: as fast as possible), optionally as secure TRIM.
///
/// Errors as for [`initialize`], plus [`ErrorKind::NotSupported`] (the device cannot TRIM).
///
/// Corresponds to `lzc_trim`.
#[doc(alias = "lzc_trim")]
pub fn trim(
    pool: &PoolName,
    cmd: TrimCommand,
    rate: u64,
    secure: bool,
    guids: &[u64],
) -> Result<()> {
    let ctx = Ctx::new("lzc_trim", Family::Vdev).name(pool.as_str());
    let cmd = match cmd {
        TrimCommand::Start => sys::POOL_TRIM_START,
        TrimCommand::Cancel => sys::POOL_TRIM_CANCEL,
        TrimCommand::Suspend => sys::POOL_TRIM_SUSPEND,
    };
    vdev_call(ctx, "trim_vdevs", guids, |vdevs, out| {
        // SAFETY: as in `initialize`.
        unsafe {
            sys::lzc_trim(
                pool.as_c_str().as_ptr(),
                cmd,
                rate,
                boolean(secure),
                vdevs,
                out,
            )
        }
    })
}

/// Pool activities [`wait`] can wait for (`zpool_wait_activity_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PoolWaitActivity {
    /// A checkpoint discard.
    CheckpointDiscard,
    /// Freeing of destroyed datasets.
    Free,
    /// Vdev initialisation.
    Initialize,
    /// A device replacement.
    Replace,
    /// A device removal.
    Remove,
    /// A resilver.
    Resilver,
    /// A scrub.
    Scrub,
    /// A TRIM.
    Trim,
}

impl PoolWaitActivity {
    fn raw(self) -> sys::zpool_wait_activity_t {
        match self {
            PoolWaitActivity::CheckpointDiscard => sys::ZPOOL_WAIT_CKPT_DISCARD,
            PoolWaitActivity::Free => sys::ZPOOL_WAIT_FREE,
            PoolWaitActivity::Initialize => sys::ZPOOL_WAIT_INITIALIZE,
            PoolWaitActivity::Replace => sys::ZPOOL_WAIT_REPLACE,
            PoolWaitActivity::Remove => sys::ZPOOL_WAIT_REMOVE,
            PoolWaitActivity::Resilver => sys::ZPOOL_WAIT_RESILVER,
            PoolWaitActivity::Scrub => sys::ZPOOL_WAIT_SCRUB,
            PoolWaitActivity::Trim => sys::ZPOOL_WAIT_TRIM,
        }
    }
}

/// Filesystem activities [`wait_fs`] can wait for (`zfs_wait_activity_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FsWaitActivity {
    /// The delete queue (files unlinked while open) to drain.
    DeleteQueue,
}

/// Blocks until no `activity` is in progress on `pool`; returns whether it had to wait.
///
/// Errors: [`ErrorKind::Interrupted`] (a signal arrived), [`ErrorKind::NotFound`].
///
/// Corresponds to `lzc_wait`.
#[doc(alias = "lzc_wait")]
pub fn wait(pool: &PoolName, activity: PoolWaitActivity) -> Result<bool> {
    let ctx = Ctx::new("lzc_wait", Family::Pool).name(pool.as_str());
    let mut waited = sys::B_FALSE;
    // SAFETY: the name is NUL-terminated; `waited` is a valid out-pointer.
    ctx.call(|| unsafe {
        sys::lzc_wait(pool.as_c_str().as_ptr(), activity.raw(), &raw mut waited)
    })?;
    Ok(waited != sys::B_FALSE)
}

/// Like [`wait`], for the activity identified by `tag` (a vdev GUID for
/// [`PoolWaitActivity::Initialize`], [`PoolWaitActivity::Trim`] and
/// [`PoolWaitActivity::Replace`]).
///
/// Corresponds to `lzc_wait_tag`.
#[doc(alias = "lzc_wait_tag")]
pub fn wait_tag(pool: &PoolName, activity: PoolWaitActivity, tag: u64) -> Result<bool> {
    let ctx = Ctx::new("lzc_wait_tag", Family::Pool).name(pool.as_str());
    let mut waited = sys::B_FALSE;
    // SAFETY: as in `wait`.
    ctx.call(|| unsafe {
        sys::lzc_wait_tag(
            pool.as_c_str().as_ptr(),
            activity.raw(),
            tag,
            &raw mut waited,
        )
    })?;
    Ok(waited != sys::B_FALSE)
}

/// Blocks until no `activity` is in progress on the filesystem `fs`; returns whether it had to
/// wait.
///
/// Corresponds to `lzc_wait_fs`.
#[doc(alias = "lzc_wait_fs")]
pub fn wait_fs(fs: &DatasetName, activity: FsWaitActivity) -> Result<bool> {
    let ctx = Ctx::new("lzc_wait_fs", Family::Pool).name(fs.as_str());
    let raw = match activity {
        FsWaitActivity::DeleteQueue => sys::ZFS_WAIT_DELETEQ,
    };
    let mut waited = sys::B_FALSE;
    // SAFETY: as in `wait`.
    ctx.call(|| unsafe { sys::lzc_wait_fs(fs.as_c_str().as_ptr(), raw, &raw mut waited) })?;
    Ok(waited != sys::B_FALSE)
}

/// Stores a boot environment nvlist in `pool`'s vdev labels (`zpool set-bootenv`-style, as
/// libzfsbootenv does).
///
/// Corresponds to `lzc_set_bootenv`.
#[doc(alias = "lzc_set_bootenv")]
pub fn set_bootenv(pool: &PoolName, env: &NvList) -> Result<()> {
    let ctx = Ctx::new("lzc_set_bootenv", Family::Pool).name(pool.as_str());
    // SAFETY: the name is NUL-terminated; `env` is a valid list lzc only reads.
    ctx.call(|| unsafe { sys::lzc_set_bootenv(pool.as_c_str().as_ptr(), env.as_ptr()) })
}

/// Reads the boot environment nvlist from `pool`'s vdev labels.
///
/// Corresponds to `lzc_get_bootenv`.
#[doc(alias = "lzc_get_bootenv")]
pub fn get_bootenv(pool: &PoolName) -> Result<NvList> {
    let ctx = Ctx::new("lzc_get_bootenv", Family::Pool).name(pool.as_str());
    // SAFETY: the name is NUL-terminated; the out-parameter is handled by `call_out`.
    let out = ctx.call_out(|out| unsafe { sys::lzc_get_bootenv(pool.as_c_str().as_ptr(), out) })?;
    match out {
        Some(l) => Ok(l),
        None => Ok(NvList::new()?),
    }
}

// ---------------------------------------------------------------------------------------------
// Encryption keys.

/// How [`change_key`] changes a dataset's key (`dcp_cmd_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyCommand {
    /// Rewrap with a new wrapping key, making the dataset an encryption root if it was not
    /// (`DCP_CMD_NEW_KEY`, plain `zfs change-key`). `props` must give the new key's
    /// `keyformat` (and may give `keylocation`, `pbkdf2iters`), and the key is required.
    NewKey,
    /// Inherit the parent's wrapping key (`DCP_CMD_INHERIT`, `zfs change-key -i`).
    Inherit,
    /// Become an encryption root without rewrapping (`DCP_CMD_FORCE_NEW_KEY`).
    ForceNewKey,
    /// Inherit the parent's key without rewrapping (`DCP_CMD_FORCE_INHERIT`).
    ForceInherit,
}

impl KeyCommand {
    fn raw(self) -> u64 {
        // Values of `dcp_cmd_t` in OpenZFS include/sys/dsl_crypt.h (not installed, stable).
        match self {
            KeyCommand::NewKey => 2,
            KeyCommand::Inherit => 3,
            KeyCommand::ForceNewKey => 4,
            KeyCommand::ForceInherit => 5,
        }
    }
}

/// Loads the wrapping key of the encryption root `fs` (`key`: the raw 32-byte wrapping key,
/// already derived from a passphrase if need be). With `noop`, only checks it.
///
/// Errors: [`ErrorKind::KeyInvalid`] (wrong key), [`ErrorKind::KeyAlreadyLoaded`],
/// [`ErrorKind::NotFound`], [`ErrorKind::InvalidArgument`] (not encrypted).
///
/// Corresponds to `lzc_load_key`.
#[doc(alias = "lzc_load_key")]
pub fn load_key(fs: &DatasetName, noop: bool, key: &[u8]) -> Result<()> {
    let ctx = Ctx::new("lzc_load_key", Family::LoadKey).name(fs.as_str());
    let (kptr, klen) = super::dataset::key_parts("lzc_load_key", Some(key))?;
    // SAFETY: the name is NUL-terminated; the key points to `klen` readable bytes that lzc
    // copies without writing.
    ctx.call(|| unsafe { sys::lzc_load_key(fs.as_c_str().as_ptr(), boolean(noop), kptr, klen) })
}

/// Unloads the key of the encryption root `fs` (its datasets must be unmounted).
///
/// Errors: [`ErrorKind::KeyNotLoaded`], [`ErrorKind::Busy`], [`ErrorKind::NotFound`].
///
/// Corresponds to `lzc_unload_key`.
#[doc(alias = "lzc_unload_key")]
pub fn unload_key(fs: &DatasetName) -> Result<()> {
    let ctx = Ctx::new("lzc_unload_key", Family::UnloadKey).name(fs.as_str());
    // SAFETY: the name is NUL-terminated.
    ctx.call(|| unsafe { sys::lzc_unload_key(fs.as_c_str().as_ptr()) })
}

/// Changes the wrapping key or the encryption root of `fs` (see [`KeyCommand`] for what
/// `props` and `wkey` each command needs).
///
/// Errors: [`ErrorKind::KeyNotLoaded`], [`ErrorKind::NotFound`],
/// [`ErrorKind::InvalidArgument`] (not encrypted, a clone, missing `keyformat` or key, or
/// parameters the command does not take).
///
/// Corresponds to `lzc_change_key`.
#[doc(alias = "lzc_change_key")]
pub fn change_key(
    fs: &DatasetName,
    cmd: KeyCommand,
    props: Option<&NvList>,
    wkey: Option<&[u8]>,
) -> Result<()> {
    let ctx = Ctx::new("lzc_change_key", Family::ChangeKey).name(fs.as_str());
    let (kptr, klen) = super::dataset::key_parts("lzc_change_key", wkey)?;
    // SAFETY: the name is NUL-terminated; `props` is NULL or a valid list lzc only reads; the
    // key is NULL or `klen` readable bytes that lzc copies.
    ctx.call(|| unsafe {
        sys::lzc_change_key(
            fs.as_c_str().as_ptr(),
            cmd.raw(),
            super::opt_ptr(props),
            kptr,
            klen,
        )
    })
}

// ---------------------------------------------------------------------------------------------
// OpenZFS 2.2 additions.

/// What [`scrub`] scans (`pool_scan_func_t`).
#[cfg(zfs_2_2)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrubType {
    /// Stop the current scan (`POOL_SCAN_NONE`, `zpool scrub -s`).
    Stop,
    /// A scrub (`POOL_SCAN_SCRUB`).
    Scrub,
    /// A resilver (`POOL_SCAN_RESILVER`).
    Resilver,
    /// An error scrub of the blocks in the error log (`POOL_SCAN_ERRORSCRUB`, `zpool scrub -e`).
    ErrorScrub,
}

/// How [`scrub`] acts (`pool_scrub_cmd_t`).
#[cfg(zfs_2_2)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrubCommand {
    /// Start or resume (`POOL_SCRUB_NORMAL`).
    Normal,
    /// Pause (`POOL_SCRUB_PAUSE`, `zpool scrub -p`).
    Pause,
    /// Scrub only blocks written since the last scrub (`POOL_SCRUB_FROM_LAST_TXG`, 2.3+).
    FromLastTxg,
}

/// Starts, pauses or stops a scrub of `pool` (`zpool scrub`). Starting a paused scrub resumes
/// it (`Ok`).
///
/// Errors: [`ErrorKind::Busy`] (a resilver is running), [`ErrorKind::NotFound`].
///
/// Corresponds to `lzc_scrub` (with `ZFS_IOC_POOL_SCRUB`).
#[cfg(zfs_2_2)]
#[doc(alias = "lzc_scrub")]
pub fn scrub(pool: &PoolName, kind: ScrubType, cmd: ScrubCommand) -> Result<()> {
    let ctx = Ctx::new("lzc_scrub", Family::Pool).name(pool.as_str());
    // Values of pool_scan_func_t / pool_scrub_cmd_t (append-only enums in sys/fs/zfs.h).
    let scan_type: u64 = match kind {
        ScrubType::Stop => 0,
        ScrubType::Scrub => 1,
        ScrubType::Resilver => 2,
        ScrubType::ErrorScrub => 3,
    };
    let scan_cmd: u64 = match cmd {
        ScrubCommand::Normal => 0,
        ScrubCommand::Pause => 1,
        ScrubCommand::FromLastTxg => 2,
    };
    let mut args = NvList::new()?;
    args.add_u64("scan_type", scan_type)?;
    args.add_u64("scan_command", scan_cmd)?;
    let r = ctx.call_out(|out| {
        // SAFETY: the name is NUL-terminated; `args` is a valid list lzc only reads; `out` is
        // handled by `call_out`.
        unsafe {
            sys::lzc_scrub(
                sys::ZFS_IOC_POOL_SCRUB,
                pool.as_c_str().as_ptr(),
                args.as_ptr(),
                out,
            )
        }
    });
    match r {
        Ok(_) => Ok(()),
        // The kernel answers ECANCELED when starting a scrub resumed a paused one: success
        // (libzfs's `zpool_scan` treats it the same way).
        Err(e)
            if e.errno() == Some(libc::ECANCELED)
                && matches!(cmd, ScrubCommand::Normal)
                && matches!(kind, ScrubType::Scrub | ScrubType::ErrorScrub) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Properties of the vdev `guid` of `pool`, as an nvlist `{ name → { "value" → v, "source" →
/// s } }`. Name the properties you want: with an empty `props` the kernel returns only the
/// text properties stored for the vdev (user properties and `comment`), and a user property
/// that was never set is simply absent.
///
/// Corresponds to `lzc_get_vdev_prop`.
#[cfg(zfs_2_2)]
#[doc(alias = "lzc_get_vdev_prop")]
pub fn get_vdev_prop(pool: &PoolName, guid: u64, props: &[&str]) -> Result<NvList> {
    let ctx = Ctx::new("lzc_get_vdev_prop", Family::Vdev).name(pool.as_str());
    let mut args = NvList::new()?;
    args.add_u64("vdevprops_get_vdev", guid)?;
    if !props.is_empty() {
        let wanted = super::name_set(props.iter().copied())?;
        args.add_nvlist("vdevprops_get_props", &wanted.as_ref())?;
    }
    // SAFETY: the name is NUL-terminated; `args` is a valid list lzc only reads.
    let out = ctx.call_out(|out| unsafe {
        sys::lzc_get_vdev_prop(pool.as_c_str().as_ptr(), args.as_ptr(), out)
    })?;
    match out {
        Some(l) => Ok(l),
        None => Ok(NvList::new()?),
    }
}

/// Sets properties (`props`: name → value) of the vdev `guid` of `pool`.
///
/// Corresponds to `lzc_set_vdev_prop`.
#[cfg(zfs_2_2)]
#[doc(alias = "lzc_set_vdev_prop")]
pub fn set_vdev_prop(pool: &PoolName, guid: u64, props: &NvList) -> Result<()> {
    let ctx = Ctx::new("lzc_set_vdev_prop", Family::Vdev).name(pool.as_str());
    let mut args = NvList::new()?;
    args.add_u64("vdevprops_set_vdev", guid)?;
    args.add_nvlist("vdevprops_set_props", &props.as_ref())?;
    // SAFETY: the name is NUL-terminated; `args` is a valid list lzc only reads.
    ctx.call_batch(&[], |out| unsafe {
        sys::lzc_set_vdev_prop(pool.as_c_str().as_ptr(), args.as_ptr(), out)
    })
    .map(drop)
}

// ---------------------------------------------------------------------------------------------
// OpenZFS 2.3 additions.

/// All properties of `pool` (`zpool get all`), as an nvlist
/// `{ name → { "value" → v, "source" → s } }`.
///
/// Corresponds to `lzc_get_props`.
#[cfg(zfs_2_3)]
#[doc(alias = "lzc_get_props")]
pub fn get_props(pool: &PoolName) -> Result<NvList> {
    let ctx = Ctx::new("lzc_get_props", Family::Pool).name(pool.as_str());
    // SAFETY: the name is NUL-terminated; the out-parameter is handled by `call_out`.
    let out = ctx.call_out(|out| unsafe { sys::lzc_get_props(pool.as_c_str().as_ptr(), out) })?;
    match out {
        Some(l) => Ok(l),
        None => Ok(NvList::new()?),
    }
}

/// What [`pool_prefetch`] loads (`zpool_prefetch_type_t`).
#[cfg(zfs_2_3)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PrefetchType {
    /// The deduplication table (`ZPOOL_PREFETCH_DDT`).
    Ddt,
    /// The block-cloning reference table (`ZPOOL_PREFETCH_BRT`), OpenZFS 2.4 and later.
    #[cfg(zfs_2_4)]
    Brt,
}

/// Loads `kind` of metadata of `pool` into the ARC (`zpool prefetch`).
///
/// Corresponds to `lzc_pool_prefetch`.
#[cfg(zfs_2_3)]
#[doc(alias = "lzc_pool_prefetch")]
pub fn pool_prefetch(pool: &PoolName, kind: PrefetchType) -> Result<()> {
    let ctx = Ctx::new("lzc_pool_prefetch", Family::Pool).name(pool.as_str());
    let raw = match kind {
        PrefetchType::Ddt => sys::ZPOOL_PREFETCH_DDT,
        #[cfg(zfs_2_4)]
        PrefetchType::Brt => sys::ZPOOL_PREFETCH_BRT,
    };
    // SAFETY: the name is NUL-terminated.
    ctx.call(|| unsafe { sys::lzc_pool_prefetch(pool.as_c_str().as_ptr(), raw) })
}

/// The unit of [`ddt_prune`]'s amount (`zpool_ddt_prune_unit_t`).
#[cfg(zfs_2_3)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DdtPruneUnit {
    /// Prune unique entries older than this many seconds.
    Age,
    /// Prune this percentage (1–100) of unique entries.
    Percentage,
}

/// Prunes unique entries from `pool`'s deduplication table (`zpool ddtprune`).
///
/// `amount` is in seconds for [`DdtPruneUnit::Age`] (`zpool ddtprune -d` takes days) and in
/// percent for [`DdtPruneUnit::Percentage`]. Only entries already in the table are pruned:
/// entries written recently that still wait in the dedup log (the `fast_dedup` feature) are
/// skipped until the log is flushed into the table (an export does that), as with the CLI.
/// A pool without `fast_dedup` enabled gives [`ErrorKind::NotSupported`].
///
/// Corresponds to `lzc_ddt_prune`.
#[cfg(zfs_2_3)]
#[doc(alias = "lzc_ddt_prune")]
pub fn ddt_prune(pool: &PoolName, unit: DdtPruneUnit, amount: u64) -> Result<()> {
    let ctx = Ctx::new("lzc_ddt_prune", Family::Pool).name(pool.as_str());
    let raw = match unit {
        DdtPruneUnit::Age => sys::ZPOOL_DDT_PRUNE_AGE,
        DdtPruneUnit::Percentage => sys::ZPOOL_DDT_PRUNE_PERCENTAGE,
    };
    // SAFETY: the name is NUL-terminated.
    ctx.call(|| unsafe { sys::lzc_ddt_prune(pool.as_c_str().as_ptr(), raw, amount) })
}
