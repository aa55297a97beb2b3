//! Safe nvlists over libnvpair.
//!
//! libzfs_core takes and returns its arguments as nvlists (name → typed value maps, from
//! `libnvpair`). This module wraps them with an owned/borrowed pair in the style of openssl's
//! foreign-types and git2:
//!
//! - [`NvList`] owns an `nvlist_t` and frees it on drop (`nvlist_free`);
//! - [`NvListRef<'a>`] borrows one (the whole list, or a list nested inside another) and cannot
//!   outlive its owner; all readers live here, [`NvList::as_ref`] gives one.
//!
//! Every builder returns `Result<(), NvListError>`: a name or string with an interior NUL byte is
//! [`NvListError::InteriorNul`], never a panic. Readers never assume UTF-8: names are `&CStr`,
//! [`NvListRef::get_str`] reports [`NvListError::NotUtf8`], and a pair of a type this module does
//! not know is [`Value::Other`] with its raw type code.
//!
//! We do not use the `nvpair` crate (0.5): it panics on strings with an interior NUL and on
//! non-UTF-8 names while iterating, has no arrays, maps the C enum `data_type_t` to a Rust enum
//! (undefined behaviour for a type code it does not know) and brings a second, incompatible set
//! of libnvpair bindings next to `libzfs-core-sys`.
//!
//! ```
//! use flocker_core::nvlist::{NvList, Value};
//!
//! # fn main() -> Result<(), flocker_core::nvlist::NvListError> {
//! let mut props = NvList::new()?;
//! props.add_string("user:note", "before upgrade")?;
//! props.add_u64("answer", 42)?;
//! let view = props.as_ref();
//! assert_eq!(view.get_u64("answer")?, 42);
//! assert_eq!(view.get_str("user:note")?, "before upgrade");
//! assert!(matches!(view.get("answer"), Some(Value::U64(42))));
//! assert_eq!(view.len(), 2);
//! # Ok(())
//! # }
//! ```

use std::ffi::{CStr, CString, c_char, c_int};
use std::fmt;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use libzfs_core_sys as sys;
pub use sys::nvlist_t;

/// Errors from building or reading an nvlist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NvListError {
    /// A name or string value contains a NUL byte, which C strings cannot hold.
    #[error("nvlist name or string contains an interior NUL byte")]
    InteriorNul,
    /// An array has more elements than libnvpair can count (`u32::MAX`).
    #[error(
        "nvlist array of {len} elements is too large (at most {} elements)",
        u32::MAX
    )]
    TooLarge {
        /// Number of elements given.
        len: usize,
    },
    /// A libnvpair call failed with this errno (`ENOMEM`, `EINVAL`, ...).
    #[error("{op} failed: {}", std::io::Error::from_raw_os_error(*errno))]
    Errno {
        /// The libnvpair function that failed.
        op: &'static str,
        /// Its return value (an errno).
        errno: i32,
    },
    /// No pair has this name.
    #[error("nvlist has no pair named {name:?}")]
    NotFound {
        /// The name looked up (lossily converted to UTF-8).
        name: String,
    },
    /// The pair exists but holds another type.
    #[error("nvlist pair {name:?} is {found}, expected {expected}")]
    WrongType {
        /// The name looked up.
        name: String,
        /// The type asked for.
        expected: &'static str,
        /// The type found (see [`Value::type_name`]).
        found: &'static str,
    },
    /// The pair's string value is not UTF-8 (use [`NvListRef::get_cstr`] to read it anyway).
    #[error("nvlist string pair {name:?} is not valid UTF-8")]
    NotUtf8 {
        /// The name looked up.
        name: String,
    },
}

/// Turns a libnvpair return value into a `Result`.
fn check(op: &'static str, rc: c_int) -> Result<(), NvListError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(NvListError::Errno { op, errno: rc })
    }
}

/// A C copy of `s`, or [`NvListError::InteriorNul`].
fn c_string(s: &str) -> Result<CString, NvListError> {
    CString::new(s).map_err(|_| NvListError::InteriorNul)
}

/// An array length as libnvpair's `uint_t`.
fn c_len(len: usize) -> Result<sys::uint_t, NvListError> {
    sys::uint_t::try_from(len).map_err(|_| NvListError::TooLarge { len })
}

/// An owned nvlist (`nvlist_t *`), freed on drop.
///
/// Lists made by [`NvList::new`] have unique names (`NV_UNIQUE_NAME`): adding a name that
/// exists replaces the old pair, whatever its type. Reading goes through [`NvList::as_ref`].
pub struct NvList {
    ptr: NonNull<nvlist_t>,
}

// SAFETY: an nvlist is plain heap memory allocated with malloc by libnvpair; it has no thread
// affinity, no thread-local state and no interior reference counting, so it may be moved to and
// freed on another thread.
unsafe impl Send for NvList {}
// SAFETY: every method taking `&self` only reads the list (libnvpair's lookups and iteration do
// not modify it, not even lazily); all mutation takes `&mut self`, so shared references may be
// used from several threads at once.
unsafe impl Sync for NvList {}

impl NvList {
    /// A new, empty list with unique names (`nvlist_alloc(&nvl, NV_UNIQUE_NAME, 0)`).
    ///
    /// Allocation failure is reported as [`NvListError::Errno`] (`ENOMEM`), not an abort.
    #[doc(alias = "nvlist_alloc")]
    pub fn new() -> Result<NvList, NvListError> {
        let mut raw: *mut nvlist_t = ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer; NV_UNIQUE_NAME is a valid flag and 0 the
        // userland allocation flag.
        let rc = unsafe { sys::nvlist_alloc(&raw mut raw, sys::NV_UNIQUE_NAME, 0) };
        check("nvlist_alloc", rc)?;
        NonNull::new(raw)
            .map(|ptr| NvList { ptr })
            .ok_or(NvListError::Errno {
                op: "nvlist_alloc",
                errno: libc::ENOMEM,
            })
    }

    /// Takes ownership of `ptr`; it is freed when the `NvList` is dropped.
    ///
    /// # Safety
    ///
    /// `ptr` must be non-null, point to a valid nvlist allocated by libnvpair, and not be owned
    /// or freed by anyone else (for example an nvlist returned through an out-parameter by an
    /// `lzc_*` function).
    pub unsafe fn from_raw(ptr: *mut nvlist_t) -> NvList {
        debug_assert!(!ptr.is_null(), "NvList::from_raw(NULL)");
        // SAFETY: the caller promises `ptr` is non-null.
        NvList {
            ptr: unsafe { NonNull::new_unchecked(ptr) },
        }
    }

    /// Like [`NvList::from_raw`], but `None` for a null pointer (lzc leaves many out-parameters
    /// NULL on failure).
    ///
    /// # Safety
    ///
    /// If non-null, `ptr` must satisfy the requirements of [`NvList::from_raw`].
    pub unsafe fn from_raw_opt(ptr: *mut nvlist_t) -> Option<NvList> {
        NonNull::new(ptr).map(|ptr| NvList { ptr })
    }

    /// Gives up ownership: the caller must free the list (`nvlist_free`) or hand it to a
    /// function that does.
    pub fn into_raw(self) -> *mut nvlist_t {
        let ptr = self.ptr.as_ptr();
        std::mem::forget(self);
        ptr
    }

    /// The raw pointer, still owned by `self`, for passing to C functions that take an input
    /// nvlist. libnvpair and libzfs_core use `nvlist_t *` even for inputs they only read; the
    /// pointer must not be used to modify the list while any [`NvListRef`] to it exists.
    pub fn as_ptr(&self) -> *mut nvlist_t {
        self.ptr.as_ptr()
    }

    /// A borrowed view, for reading.
    #[allow(clippy::should_implement_trait)]
    pub fn as_ref(&self) -> NvListRef<'_> {
        NvListRef {
            ptr: self.ptr,
            _owner: PhantomData,
        }
    }

    /// The list packed in libnvpair's native encoding (`nvlist_pack`), as the legacy ioctls
    /// take their input lists.
    #[doc(alias = "nvlist_pack")]
    pub fn pack(&self) -> Result<Vec<u8>, NvListError> {
        let mut buf: *mut c_char = ptr::null_mut();
        let mut len: usize = 0;
        // SAFETY: a valid list; with *buf == NULL nvlist_pack allocates the buffer with malloc
        // and stores its pointer and length; it is copied and freed below.
        let rc = unsafe { sys::nvlist_pack(self.as_ptr(), &raw mut buf, &raw mut len, 0, 0) };
        check("nvlist_pack", rc)?;
        if buf.is_null() {
            return Err(NvListError::Errno {
                op: "nvlist_pack",
                errno: libc::ENOMEM,
            });
        }
        // SAFETY: nvlist_pack wrote `len` bytes at `buf`.
        let v = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) }.to_vec();
        // SAFETY: allocated by nvlist_pack with malloc, freed exactly once.
        unsafe { libc::free(buf.cast()) };
        Ok(v)
    }

    /// A list unpacked from `packed` (`nvlist_unpack`), e.g. what an ioctl wrote.
    ///
    /// Errors: [`NvListError::Errno`] (`EINVAL` when `packed` is not a packed list).
    #[doc(alias = "nvlist_unpack")]
    pub fn unpack(packed: &[u8]) -> Result<NvList, NvListError> {
        let mut raw: *mut nvlist_t = ptr::null_mut();
        // SAFETY: nvlist_unpack only reads `packed.len()` bytes (it takes a non-const pointer
        // for historical reasons) and stores a new list that we own in `raw`.
        let rc = unsafe {
            sys::nvlist_unpack(
                packed.as_ptr().cast_mut().cast(),
                packed.len(),
                &raw mut raw,
                0,
            )
        };
        check("nvlist_unpack", rc)?;
        // SAFETY: on success `raw` is a new list owned by nobody else.
        unsafe { NvList::from_raw_opt(raw) }.ok_or(NvListError::Errno {
            op: "nvlist_unpack",
            errno: libc::EINVAL,
        })
    }

    /// A deep copy (`nvlist_dup`).
    #[doc(alias = "nvlist_dup")]
    pub fn try_clone(&self) -> Result<NvList, NvListError> {
        self.as_ref().to_owned()
    }

    /// Adds a pair with no value (`DATA_TYPE_BOOLEAN`: presence is the value, as in lzc's
    /// `"force"`-style flags).
    #[doc(alias = "nvlist_add_boolean")]
    pub fn add_boolean(&mut self, name: &str) -> Result<(), NvListError> {
        let name = c_string(name)?;
        // SAFETY: `self.ptr` is a valid nvlist we own mutably; `name` is a NUL-terminated
        // string that outlives the call (libnvpair copies it).
        let rc = unsafe { sys::nvlist_add_boolean(self.ptr.as_ptr(), name.as_ptr()) };
        check("nvlist_add_boolean", rc)
    }

    /// Adds a `boolean_t` pair (`DATA_TYPE_BOOLEAN_VALUE`).
    #[doc(alias = "nvlist_add_boolean_value")]
    pub fn add_boolean_value(&mut self, name: &str, value: bool) -> Result<(), NvListError> {
        let name = c_string(name)?;
        let value = if value { sys::B_TRUE } else { sys::B_FALSE };
        // SAFETY: as in `add_boolean`; the value is passed by value.
        let rc = unsafe { sys::nvlist_add_boolean_value(self.ptr.as_ptr(), name.as_ptr(), value) };
        check("nvlist_add_boolean_value", rc)
    }

    /// Adds a string pair. Use [`NvList::add_cstr`] for byte strings that are not UTF-8.
    #[doc(alias = "nvlist_add_string")]
    pub fn add_string(&mut self, name: &str, value: &str) -> Result<(), NvListError> {
        let value = c_string(value)?;
        self.add_cstr(name, &value)
    }

    /// Adds a string pair from a C string (any bytes but NUL).
    #[doc(alias = "nvlist_add_string")]
    pub fn add_cstr(&mut self, name: &str, value: &CStr) -> Result<(), NvListError> {
        let name = c_string(name)?;
        // SAFETY: valid list owned mutably; both strings are NUL-terminated and outlive the
        // call (libnvpair copies them).
        let rc =
            unsafe { sys::nvlist_add_string(self.ptr.as_ptr(), name.as_ptr(), value.as_ptr()) };
        check("nvlist_add_string", rc)
    }

    /// Adds a copy of `value` as a nested list (`nvlist_add_nvlist` copies it; later changes
    /// to `value` are not seen here).
    #[doc(alias = "nvlist_add_nvlist")]
    pub fn add_nvlist(&mut self, name: &str, value: &NvListRef<'_>) -> Result<(), NvListError> {
        let name = c_string(name)?;
        // SAFETY: valid list owned mutably; `value` points to a valid list that libnvpair only
        // reads and copies (the `*mut` in older headers is not a mutation). A list cannot be
        // added to itself: that would need `&mut self` and a view of `self` at once.
        let rc =
            unsafe { sys::nvlist_add_nvlist(self.ptr.as_ptr(), name.as_ptr(), value.ptr.as_ptr()) };
        check("nvlist_add_nvlist", rc)
    }

    /// Adds an array of strings.
    #[doc(alias = "nvlist_add_string_array")]
    pub fn add_string_array<S: AsRef<str>>(
        &mut self,
        name: &str,
        values: &[S],
    ) -> Result<(), NvListError> {
        let owned = values
            .iter()
            .map(|s| c_string(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&CStr> = owned.iter().map(CString::as_c_str).collect();
        self.add_cstr_array(name, &refs)
    }

    /// Adds an array of C strings.
    #[doc(alias = "nvlist_add_string_array")]
    pub fn add_cstr_array(&mut self, name: &str, values: &[&CStr]) -> Result<(), NvListError> {
        let name = c_string(name)?;
        let len = c_len(values.len())?;
        let ptrs: Vec<*const c_char> = values.iter().map(|s| s.as_ptr()).collect();
        // SAFETY: valid list owned mutably; `ptrs` holds `len` pointers to NUL-terminated
        // strings, all alive for the call; libnvpair copies them and does not write through the
        // array (its older prototype lacks the `const`).
        let rc = unsafe {
            sys::nvlist_add_string_array(self.ptr.as_ptr(), name.as_ptr(), ptrs.as_ptr() as _, len)
        };
        check("nvlist_add_string_array", rc)
    }

    /// Adds an array of nested lists (each is copied).
    #[doc(alias = "nvlist_add_nvlist_array")]
    pub fn add_nvlist_array(
        &mut self,
        name: &str,
        values: &[NvListRef<'_>],
    ) -> Result<(), NvListError> {
        let name = c_string(name)?;
        let len = c_len(values.len())?;
        let ptrs: Vec<*mut nvlist_t> = values.iter().map(|l| l.ptr.as_ptr()).collect();
        // SAFETY: valid list owned mutably; `ptrs` holds `len` pointers to valid lists that
        // libnvpair only reads and copies.
        let rc = unsafe {
            sys::nvlist_add_nvlist_array(self.ptr.as_ptr(), name.as_ptr(), ptrs.as_ptr() as _, len)
        };
        check("nvlist_add_nvlist_array", rc)
    }

    /// Adds an array of `boolean_t`.
    #[doc(alias = "nvlist_add_boolean_array")]
    pub fn add_boolean_array(&mut self, name: &str, values: &[bool]) -> Result<(), NvListError> {
        let name = c_string(name)?;
        let len = c_len(values.len())?;
        let mut raw: Vec<sys::boolean_t> = values
            .iter()
            .map(|&b| if b { sys::B_TRUE } else { sys::B_FALSE })
            .collect();
        // SAFETY: valid list owned mutably; `raw` holds `len` elements alive for the call,
        // which libnvpair copies.
        let rc = unsafe {
            sys::nvlist_add_boolean_array(self.ptr.as_ptr(), name.as_ptr(), raw.as_mut_ptr(), len)
        };
        check("nvlist_add_boolean_array", rc)
    }

    /// Removes every pair named `name`; `Ok(false)` if there was none.
    #[doc(alias = "nvlist_remove_all")]
    pub fn remove(&mut self, name: &str) -> Result<bool, NvListError> {
        let name = c_string(name)?;
        // SAFETY: valid list owned mutably; `name` is NUL-terminated. No `NvListRef` can be
        // alive (it would borrow `self`), so nothing points into the removed pairs.
        let rc = unsafe { sys::nvlist_remove_all(self.ptr.as_ptr(), name.as_ptr()) };
        match rc {
            0 => Ok(true),
            libc::ENOENT => Ok(false),
            rc => Err(NvListError::Errno {
                op: "nvlist_remove_all",
                errno: rc,
            }),
        }
    }
}

/// Scalar adders: `nvlist_add_<c>(nvl, name, value)`.
macro_rules! scalar_adders {
    ($($(#[$doc:meta])* $fn:ident($t:ty) => $c:ident;)*) => {
        impl NvList {
            $(
                $(#[$doc])*
                pub fn $fn(&mut self, name: &str, value: $t) -> Result<(), NvListError> {
                    let name = c_string(name)?;
                    // SAFETY: `self.ptr` is a valid nvlist we own mutably; `name` is a
                    // NUL-terminated string alive for the call (libnvpair copies it); the
                    // value is passed by value.
                    let rc = unsafe { sys::$c(self.ptr.as_ptr(), name.as_ptr(), value) };
                    check(stringify!($c), rc)
                }
            )*
        }
    };
}

scalar_adders! {
    /// Adds a byte (`DATA_TYPE_BYTE`, an unsigned char distinct from `uint8`).
    #[doc(alias = "nvlist_add_byte")]
    add_byte(u8) => nvlist_add_byte;
    /// Adds an `int8`.
    #[doc(alias = "nvlist_add_int8")]
    add_i8(i8) => nvlist_add_int8;
    /// Adds a `uint8`.
    #[doc(alias = "nvlist_add_uint8")]
    add_u8(u8) => nvlist_add_uint8;
    /// Adds an `int16`.
    #[doc(alias = "nvlist_add_int16")]
    add_i16(i16) => nvlist_add_int16;
    /// Adds a `uint16`.
    #[doc(alias = "nvlist_add_uint16")]
    add_u16(u16) => nvlist_add_uint16;
    /// Adds an `int32` (the type of lzc's errlist values).
    #[doc(alias = "nvlist_add_int32")]
    add_i32(i32) => nvlist_add_int32;
    /// Adds a `uint32`.
    #[doc(alias = "nvlist_add_uint32")]
    add_u32(u32) => nvlist_add_uint32;
    /// Adds an `int64`.
    #[doc(alias = "nvlist_add_int64")]
    add_i64(i64) => nvlist_add_int64;
    /// Adds a `uint64` (the type of most ZFS numeric properties).
    #[doc(alias = "nvlist_add_uint64")]
    add_u64(u64) => nvlist_add_uint64;
    /// Adds a `double`.
    #[doc(alias = "nvlist_add_double")]
    add_double(f64) => nvlist_add_double;
    /// Adds an `hrtime_t` (nanoseconds, signed 64 bits).
    #[doc(alias = "nvlist_add_hrtime")]
    add_hrtime(i64) => nvlist_add_hrtime;
}

/// Array adders: `nvlist_add_<c>_array(nvl, name, ptr, len)`.
macro_rules! array_adders {
    ($($(#[$doc:meta])* $fn:ident($t:ty) => $c:ident;)*) => {
        impl NvList {
            $(
                $(#[$doc])*
                pub fn $fn(&mut self, name: &str, values: &[$t]) -> Result<(), NvListError> {
                    let name = c_string(name)?;
                    let len = c_len(values.len())?;
                    // SAFETY: `self.ptr` is a valid nvlist we own mutably; `values` holds
                    // `len` elements alive for the call; libnvpair copies them and never writes
                    // through the pointer (older prototypes lack the `const`).
                    let rc = unsafe {
                        sys::$c(self.ptr.as_ptr(), name.as_ptr(), values.as_ptr().cast_mut(), len)
                    };
                    check(stringify!($c), rc)
                }
            )*
        }
    };
}

array_adders! {
    /// Adds an array of bytes (`DATA_TYPE_BYTE_ARRAY`).
    #[doc(alias = "nvlist_add_byte_array")]
    add_byte_array(u8) => nvlist_add_byte_array;
    /// Adds an array of `int8`.
    #[doc(alias = "nvlist_add_int8_array")]
    add_i8_array(i8) => nvlist_add_int8_array;
    /// Adds an array of `uint8`.
    #[doc(alias = "nvlist_add_uint8_array")]
    add_u8_array(u8) => nvlist_add_uint8_array;
    /// Adds an array of `int16`.
    #[doc(alias = "nvlist_add_int16_array")]
    add_i16_array(i16) => nvlist_add_int16_array;
    /// Adds an array of `uint16`.
    #[doc(alias = "nvlist_add_uint16_array")]
    add_u16_array(u16) => nvlist_add_uint16_array;
    /// Adds an array of `int32`.
    #[doc(alias = "nvlist_add_int32_array")]
    add_i32_array(i32) => nvlist_add_int32_array;
    /// Adds an array of `uint32`.
    #[doc(alias = "nvlist_add_uint32_array")]
    add_u32_array(u32) => nvlist_add_uint32_array;
    /// Adds an array of `int64`.
    #[doc(alias = "nvlist_add_int64_array")]
    add_i64_array(i64) => nvlist_add_int64_array;
    /// Adds an array of `uint64`.
    #[doc(alias = "nvlist_add_uint64_array")]
    add_u64_array(u64) => nvlist_add_uint64_array;
}

impl Drop for NvList {
    fn drop(&mut self) {
        // SAFETY: we own the list (from `nvlist_alloc`, `nvlist_dup` or `from_raw`'s contract)
        // and no borrow of it can outlive `self`.
        unsafe { sys::nvlist_free(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for NvList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.as_ref(), f)
    }
}

impl<'a> IntoIterator for &'a NvList {
    type Item = (&'a CStr, Value<'a>);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.as_ref().iter()
    }
}

/// A borrowed nvlist: a whole [`NvList`], a list nested in another, or a list owned by C code.
/// It cannot outlive what it borrows from (`'a`). Cheap to copy.
#[derive(Clone, Copy)]
pub struct NvListRef<'a> {
    ptr: NonNull<nvlist_t>,
    _owner: PhantomData<&'a nvlist_t>,
}

// SAFETY: a view only reads the list (see `Sync for NvList`); the owner cannot be mutated or
// freed while the view is alive because the view borrows it for `'a`.
unsafe impl Send for NvListRef<'_> {}
// SAFETY: as above: shared read-only access from several threads is safe.
unsafe impl Sync for NvListRef<'_> {}

impl<'a> NvListRef<'a> {
    /// A view of a list owned elsewhere.
    ///
    /// # Safety
    ///
    /// `ptr` must be non-null and point to a valid nvlist that stays alive and unmodified for
    /// `'a`.
    pub unsafe fn from_ptr(ptr: *const nvlist_t) -> NvListRef<'a> {
        debug_assert!(!ptr.is_null(), "NvListRef::from_ptr(NULL)");
        NvListRef {
            // SAFETY: the caller promises `ptr` is non-null.
            ptr: unsafe { NonNull::new_unchecked(ptr.cast_mut()) },
            _owner: PhantomData,
        }
    }

    /// The raw pointer, for C functions that only read the list (many are declared with a
    /// non-const `nvlist_t *`); it must not be used to modify the list.
    pub fn as_ptr(&self) -> *mut nvlist_t {
        self.ptr.as_ptr()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs().count()
    }

    /// True if there are no pairs.
    #[doc(alias = "nvlist_empty")]
    pub fn is_empty(&self) -> bool {
        self.pairs().next().is_none()
    }

    /// True if a pair named `name` exists (of any type). A name with a NUL byte never exists.
    #[doc(alias = "nvlist_exists")]
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// The value of the first pair named `name`, if any.
    pub fn get(&self, name: &str) -> Option<Value<'a>> {
        self.find(name).map(decode)
    }

    /// The `uint64` value of `name`.
    #[doc(alias = "nvlist_lookup_uint64")]
    pub fn get_u64(&self, name: &str) -> Result<u64, NvListError> {
        match self.require(name)? {
            Value::U64(v) => Ok(v),
            other => Err(wrong_type(name, "uint64", &other)),
        }
    }

    /// The `int64` value of `name`.
    #[doc(alias = "nvlist_lookup_int64")]
    pub fn get_i64(&self, name: &str) -> Result<i64, NvListError> {
        match self.require(name)? {
            Value::I64(v) => Ok(v),
            other => Err(wrong_type(name, "int64", &other)),
        }
    }

    /// The `uint32` value of `name`.
    #[doc(alias = "nvlist_lookup_uint32")]
    pub fn get_u32(&self, name: &str) -> Result<u32, NvListError> {
        match self.require(name)? {
            Value::U32(v) => Ok(v),
            other => Err(wrong_type(name, "uint32", &other)),
        }
    }

    /// The `int32` value of `name` (lzc's errlist values are `int32` errnos).
    #[doc(alias = "nvlist_lookup_int32")]
    pub fn get_i32(&self, name: &str) -> Result<i32, NvListError> {
        match self.require(name)? {
            Value::I32(v) => Ok(v),
            other => Err(wrong_type(name, "int32", &other)),
        }
    }

    /// The `boolean_t` value of `name` (`DATA_TYPE_BOOLEAN_VALUE`; for a valueless
    /// `DATA_TYPE_BOOLEAN` flag use [`NvListRef::contains`]).
    #[doc(alias = "nvlist_lookup_boolean_value")]
    pub fn get_bool(&self, name: &str) -> Result<bool, NvListError> {
        match self.require(name)? {
            Value::BooleanValue(v) => Ok(v),
            other => Err(wrong_type(name, "boolean_value", &other)),
        }
    }

    /// The string value of `name`, as bytes without the NUL.
    #[doc(alias = "nvlist_lookup_string")]
    pub fn get_cstr(&self, name: &str) -> Result<&'a CStr, NvListError> {
        match self.require(name)? {
            Value::String(v) => Ok(v),
            other => Err(wrong_type(name, "string", &other)),
        }
    }

    /// The string value of `name` as UTF-8; [`NvListError::NotUtf8`] if it is not.
    #[doc(alias = "nvlist_lookup_string")]
    pub fn get_str(&self, name: &str) -> Result<&'a str, NvListError> {
        self.get_cstr(name)?
            .to_str()
            .map_err(|_| NvListError::NotUtf8 { name: name.into() })
    }

    /// The nested list `name`.
    #[doc(alias = "nvlist_lookup_nvlist")]
    pub fn get_nvlist(&self, name: &str) -> Result<NvListRef<'a>, NvListError> {
        match self.require(name)? {
            Value::NvList(v) => Ok(v),
            other => Err(wrong_type(name, "nvlist", &other)),
        }
    }

    /// The pairs in list order (insertion order, except that re-adding a name in a
    /// unique-name list moves it to the end).
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            list: self.ptr,
            prev: ptr::null_mut(),
            _owner: PhantomData,
        }
    }

    /// A deep, owned copy (`nvlist_dup`).
    #[doc(alias = "nvlist_dup")]
    #[allow(clippy::wrong_self_convention, clippy::should_implement_trait)]
    pub fn to_owned(&self) -> Result<NvList, NvListError> {
        let mut raw: *mut nvlist_t = ptr::null_mut();
        // SAFETY: `self.ptr` is a valid list that nvlist_dup only reads; `raw` is a valid
        // out-pointer; 0 is the userland allocation flag.
        let rc = unsafe { sys::nvlist_dup(self.ptr.as_ptr(), &raw mut raw, 0) };
        check("nvlist_dup", rc)?;
        // SAFETY: on success nvlist_dup stores a new list that we now own.
        unsafe { NvList::from_raw_opt(raw) }.ok_or(NvListError::Errno {
            op: "nvlist_dup",
            errno: libc::ENOMEM,
        })
    }

    /// Iterates over the raw pairs.
    fn pairs(&self) -> RawPairs<'a> {
        RawPairs {
            list: self.ptr,
            prev: ptr::null_mut(),
            _owner: PhantomData,
        }
    }

    /// The first pair named `name`, compared byte for byte. A linear scan: it works on any
    /// list, unique names or not, and never allocates.
    fn find(&self, name: &str) -> Option<NonNull<sys::nvpair_t>> {
        let name = name.as_bytes();
        if name.contains(&0) {
            return None;
        }
        self.pairs().find(|&p| pair_name(p).to_bytes() == name)
    }

    fn require(&self, name: &str) -> Result<Value<'a>, NvListError> {
        if name.as_bytes().contains(&0) {
            return Err(NvListError::InteriorNul);
        }
        self.get(name)
            .ok_or_else(|| NvListError::NotFound { name: name.into() })
    }
}

fn wrong_type(name: &str, expected: &'static str, found: &Value<'_>) -> NvListError {
    NvListError::WrongType {
        name: name.into(),
        expected,
        found: found.type_name(),
    }
}

impl fmt::Debug for NvListRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for NvListRef<'a> {
    type Item = (&'a CStr, Value<'a>);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Walks `nvlist_next_nvpair`.
struct RawPairs<'a> {
    list: NonNull<nvlist_t>,
    prev: *mut sys::nvpair_t,
    _owner: PhantomData<&'a nvlist_t>,
}

impl Iterator for RawPairs<'_> {
    type Item = NonNull<sys::nvpair_t>;
    fn next(&mut self) -> Option<Self::Item> {
        // SAFETY: `list` is valid for `'a` and not modified meanwhile (it is borrowed);
        // `prev` is null or a pair of this list returned by the previous call.
        let next = unsafe { sys::nvlist_next_nvpair(self.list.as_ptr(), self.prev) };
        let next = NonNull::new(next)?;
        self.prev = next.as_ptr();
        Some(next)
    }
}

/// Iterator over `(name, value)` pairs of an nvlist, in list order. Made by
/// [`NvListRef::iter`].
pub struct Iter<'a> {
    list: NonNull<nvlist_t>,
    prev: *mut sys::nvpair_t,
    _owner: PhantomData<&'a nvlist_t>,
}

// SAFETY: the iterator only reads a list that is borrowed for `'a` (see `Sync for NvList`).
unsafe impl Send for Iter<'_> {}
// SAFETY: `&Iter` gives no access to the list at all.
unsafe impl Sync for Iter<'_> {}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a CStr, Value<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        let mut raw = RawPairs {
            list: self.list,
            prev: self.prev,
            _owner: PhantomData::<&'a nvlist_t>,
        };
        let pair = raw.next()?;
        self.prev = raw.prev;
        Some((pair_name(pair), decode(pair)))
    }
}

impl fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

/// The value of one nvpair. Borrowed values live as long as the list they come from.
///
/// `Value` is `#[non_exhaustive]`: match with a `_` arm.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// `DATA_TYPE_BOOLEAN`: a flag with no value (its presence is the value).
    Boolean,
    /// `DATA_TYPE_BOOLEAN_VALUE`.
    BooleanValue(bool),
    /// `DATA_TYPE_BYTE`.
    Byte(u8),
    /// `DATA_TYPE_INT8`.
    I8(i8),
    /// `DATA_TYPE_UINT8`.
    U8(u8),
    /// `DATA_TYPE_INT16`.
    I16(i16),
    /// `DATA_TYPE_UINT16`.
    U16(u16),
    /// `DATA_TYPE_INT32`.
    I32(i32),
    /// `DATA_TYPE_UINT32`.
    U32(u32),
    /// `DATA_TYPE_INT64`.
    I64(i64),
    /// `DATA_TYPE_UINT64`.
    U64(u64),
    /// `DATA_TYPE_DOUBLE`.
    Double(f64),
    /// `DATA_TYPE_HRTIME` (nanoseconds).
    HrTime(i64),
    /// `DATA_TYPE_STRING`: any bytes but NUL; use [`CStr::to_str`] for UTF-8.
    String(&'a CStr),
    /// `DATA_TYPE_NVLIST`.
    NvList(NvListRef<'a>),
    /// `DATA_TYPE_BOOLEAN_ARRAY`.
    BooleanArray(Vec<bool>),
    /// `DATA_TYPE_BYTE_ARRAY`.
    ByteArray(&'a [u8]),
    /// `DATA_TYPE_INT8_ARRAY`.
    I8Array(&'a [i8]),
    /// `DATA_TYPE_UINT8_ARRAY`.
    U8Array(&'a [u8]),
    /// `DATA_TYPE_INT16_ARRAY`.
    I16Array(&'a [i16]),
    /// `DATA_TYPE_UINT16_ARRAY`.
    U16Array(&'a [u16]),
    /// `DATA_TYPE_INT32_ARRAY`.
    I32Array(&'a [i32]),
    /// `DATA_TYPE_UINT32_ARRAY`.
    U32Array(&'a [u32]),
    /// `DATA_TYPE_INT64_ARRAY`.
    I64Array(&'a [i64]),
    /// `DATA_TYPE_UINT64_ARRAY`.
    U64Array(&'a [u64]),
    /// `DATA_TYPE_STRING_ARRAY`.
    StringArray(Vec<&'a CStr>),
    /// `DATA_TYPE_NVLIST_ARRAY`.
    NvListArray(Vec<NvListRef<'a>>),
    /// A pair of another type (its raw `data_type_t` code), or one whose value could not be
    /// read.
    Other(i32),
}

impl PartialEq for NvListRef<'_> {
    /// Lists compare equal when they hold the same pairs in the same order.
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Value<'_> {
    /// libnvpair's name for the type (`"uint64"`, `"string"`, `"nvlist"`, ...), as used in
    /// [`NvListError::WrongType`].
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Boolean => "boolean",
            Value::BooleanValue(_) => "boolean_value",
            Value::Byte(_) => "byte",
            Value::I8(_) => "int8",
            Value::U8(_) => "uint8",
            Value::I16(_) => "int16",
            Value::U16(_) => "uint16",
            Value::I32(_) => "int32",
            Value::U32(_) => "uint32",
            Value::I64(_) => "int64",
            Value::U64(_) => "uint64",
            Value::Double(_) => "double",
            Value::HrTime(_) => "hrtime",
            Value::String(_) => "string",
            Value::NvList(_) => "nvlist",
            Value::BooleanArray(_) => "boolean_array",
            Value::ByteArray(_) => "byte_array",
            Value::I8Array(_) => "int8_array",
            Value::U8Array(_) => "uint8_array",
            Value::I16Array(_) => "int16_array",
            Value::U16Array(_) => "uint16_array",
            Value::I32Array(_) => "int32_array",
            Value::U32Array(_) => "uint32_array",
            Value::I64Array(_) => "int64_array",
            Value::U64Array(_) => "uint64_array",
            Value::StringArray(_) => "string_array",
            Value::NvListArray(_) => "nvlist_array",
            Value::Other(_) => "unknown",
        }
    }
}

/// The name of a pair.
fn pair_name<'a>(pair: NonNull<sys::nvpair_t>) -> &'a CStr {
    // SAFETY: `pair` is a valid pair of a list borrowed for `'a`; nvpair_name returns its
    // NUL-terminated name, stored inside the pair, which lives as long as the list is neither
    // freed nor modified (both need the owner, which `'a` borrows).
    unsafe {
        let name: *const c_char = sys::nvpair_name(pair.as_ptr());
        if name.is_null() {
            c""
        } else {
            CStr::from_ptr(name)
        }
    }
}

/// Reads one scalar with `nvpair_value_<c>`.
macro_rules! scalar {
    ($pair:expr, $code:expr, $c:ident, $t:ty, $variant:expr) => {{
        let mut v: $t = Default::default();
        // SAFETY: `$pair` is a valid pair whose type was just checked to match `$c`; `v` is
        // a valid out-pointer of the C type.
        let rc = unsafe { sys::$c($pair.as_ptr(), &raw mut v) };
        if rc == 0 {
            $variant(v)
        } else {
            Value::Other($code)
        }
    }};
}

/// Reads one numeric array with `nvpair_value_<c>` as a slice into the pair.
macro_rules! array {
    ($pair:expr, $code:expr, $c:ident, $t:ty, $variant:expr) => {{
        let mut data: *mut $t = ptr::null_mut();
        let mut len: sys::uint_t = 0;
        // SAFETY: valid pair of the matching type; valid out-pointers.
        let rc = unsafe { sys::$c($pair.as_ptr(), &raw mut data, &raw mut len) };
        if rc != 0 {
            Value::Other($code)
        } else {
            // SAFETY: on success `data` points to `len` initialized, aligned elements stored
            // in the pair, alive and unmodified for the list's borrow `'a`.
            $variant(unsafe { slice_or_empty(data, len) })
        }
    }};
}

/// `len` elements at `data`, or an empty slice when libnvpair returns NULL for an empty array.
///
/// # Safety
///
/// If `data` is non-null and `len > 0`, it must point to `len` initialized elements valid for
/// `'a`.
unsafe fn slice_or_empty<'a, T>(data: *const T, len: sys::uint_t) -> &'a [T] {
    if data.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller; a `uint_t` always fits in `usize` here.
        unsafe { std::slice::from_raw_parts(data, len as usize) }
    }
}

/// Decodes the value of a pair of a list borrowed for `'a`.
fn decode<'a>(pair: NonNull<sys::nvpair_t>) -> Value<'a> {
    // SAFETY: `pair` is a valid pair.
    let code = unsafe { sys::nvpair_type(pair.as_ptr()) };
    match code {
        sys::DATA_TYPE_BOOLEAN => Value::Boolean,
        sys::DATA_TYPE_BOOLEAN_VALUE => {
            scalar!(
                pair,
                code,
                nvpair_value_boolean_value,
                sys::boolean_t,
                |b| { Value::BooleanValue(b != sys::B_FALSE) }
            )
        }
        sys::DATA_TYPE_BYTE => scalar!(pair, code, nvpair_value_byte, u8, Value::Byte),
        sys::DATA_TYPE_INT8 => scalar!(pair, code, nvpair_value_int8, i8, Value::I8),
        sys::DATA_TYPE_UINT8 => scalar!(pair, code, nvpair_value_uint8, u8, Value::U8),
        sys::DATA_TYPE_INT16 => scalar!(pair, code, nvpair_value_int16, i16, Value::I16),
        sys::DATA_TYPE_UINT16 => scalar!(pair, code, nvpair_value_uint16, u16, Value::U16),
        sys::DATA_TYPE_INT32 => scalar!(pair, code, nvpair_value_int32, i32, Value::I32),
        sys::DATA_TYPE_UINT32 => scalar!(pair, code, nvpair_value_uint32, u32, Value::U32),
        sys::DATA_TYPE_INT64 => scalar!(pair, code, nvpair_value_int64, i64, Value::I64),
        sys::DATA_TYPE_UINT64 => scalar!(pair, code, nvpair_value_uint64, u64, Value::U64),
        sys::DATA_TYPE_DOUBLE => scalar!(pair, code, nvpair_value_double, f64, Value::Double),
        sys::DATA_TYPE_HRTIME => scalar!(pair, code, nvpair_value_hrtime, i64, Value::HrTime),
        sys::DATA_TYPE_STRING => decode_string(pair, code),
        sys::DATA_TYPE_NVLIST => decode_nvlist(pair, code),
        other => decode_array(pair, other),
    }
}

/// Decodes the value of an array pair (`code`: its type) of a list borrowed for `'a`;
/// [`Value::Other`] for a type that is not an array this module knows.
fn decode_array<'a>(pair: NonNull<sys::nvpair_t>, code: sys::data_type_t) -> Value<'a> {
    match code {
        sys::DATA_TYPE_BOOLEAN_ARRAY => decode_boolean_array(pair, code),
        sys::DATA_TYPE_BYTE_ARRAY => {
            array!(pair, code, nvpair_value_byte_array, u8, Value::ByteArray)
        }
        sys::DATA_TYPE_INT8_ARRAY => {
            array!(pair, code, nvpair_value_int8_array, i8, Value::I8Array)
        }
        sys::DATA_TYPE_UINT8_ARRAY => {
            array!(pair, code, nvpair_value_uint8_array, u8, Value::U8Array)
        }
        sys::DATA_TYPE_INT16_ARRAY => {
            array!(pair, code, nvpair_value_int16_array, i16, Value::I16Array)
        }
        sys::DATA_TYPE_UINT16_ARRAY => {
            array!(pair, code, nvpair_value_uint16_array, u16, Value::U16Array)
        }
        sys::DATA_TYPE_INT32_ARRAY => {
            array!(pair, code, nvpair_value_int32_array, i32, Value::I32Array)
        }
        sys::DATA_TYPE_UINT32_ARRAY => {
            array!(pair, code, nvpair_value_uint32_array, u32, Value::U32Array)
        }
        sys::DATA_TYPE_INT64_ARRAY => {
            array!(pair, code, nvpair_value_int64_array, i64, Value::I64Array)
        }
        sys::DATA_TYPE_UINT64_ARRAY => {
            array!(pair, code, nvpair_value_uint64_array, u64, Value::U64Array)
        }
        sys::DATA_TYPE_STRING_ARRAY => decode_string_array(pair, code),
        sys::DATA_TYPE_NVLIST_ARRAY => decode_nvlist_array(pair, code),
        other => Value::Other(other),
    }
}

/// A `DATA_TYPE_STRING` pair (`code`) of a list borrowed for `'a`.
fn decode_string<'a>(pair: NonNull<sys::nvpair_t>, code: sys::data_type_t) -> Value<'a> {
    let mut s: *const c_char = ptr::null();
    // SAFETY: valid pair of type string; `s` is a valid out-pointer (the C type is
    // `char **` or `const char **` depending on the OpenZFS version).
    let rc = unsafe { sys::nvpair_value_string(pair.as_ptr(), (&raw mut s).cast()) };
    if rc != 0 || s.is_null() {
        Value::Other(code)
    } else {
        // SAFETY: a NUL-terminated string stored in the pair, alive for `'a`.
        Value::String(unsafe { CStr::from_ptr(s) })
    }
}

/// A `DATA_TYPE_NVLIST` pair (`code`) of a list borrowed for `'a`.
fn decode_nvlist<'a>(pair: NonNull<sys::nvpair_t>, code: sys::data_type_t) -> Value<'a> {
    let mut l: *mut nvlist_t = ptr::null_mut();
    // SAFETY: valid pair of type nvlist; valid out-pointer.
    let rc = unsafe { sys::nvpair_value_nvlist(pair.as_ptr(), &raw mut l) };
    match NonNull::new(l) {
        Some(ptr) if rc == 0 => Value::NvList(NvListRef {
            ptr,
            _owner: PhantomData,
        }),
        _ => Value::Other(code),
    }
}

/// A `DATA_TYPE_BOOLEAN_ARRAY` pair (`code`) of a list borrowed for `'a`.
fn decode_boolean_array<'a>(pair: NonNull<sys::nvpair_t>, code: sys::data_type_t) -> Value<'a> {
    let mut data: *mut sys::boolean_t = ptr::null_mut();
    let mut len: sys::uint_t = 0;
    // SAFETY: valid pair of the matching type; valid out-pointers.
    let rc = unsafe { sys::nvpair_value_boolean_array(pair.as_ptr(), &raw mut data, &raw mut len) };
    if rc != 0 {
        Value::Other(code)
    } else {
        // SAFETY: on success, `len` elements stored in the pair.
        let raw = unsafe { slice_or_empty(data, len) };
        Value::BooleanArray(raw.iter().map(|&b| b != sys::B_FALSE).collect())
    }
}

/// A `DATA_TYPE_STRING_ARRAY` pair (`code`) of a list borrowed for `'a`.
fn decode_string_array<'a>(pair: NonNull<sys::nvpair_t>, code: sys::data_type_t) -> Value<'a> {
    let mut data: *mut *const c_char = ptr::null_mut();
    let mut len: sys::uint_t = 0;
    // SAFETY: valid pair of the matching type; valid out-pointers (`char ***` or
    // `const char ***` depending on the version).
    let rc = unsafe {
        sys::nvpair_value_string_array(pair.as_ptr(), (&raw mut data).cast(), &raw mut len)
    };
    if rc != 0 {
        return Value::Other(code);
    }
    // SAFETY: on success, `len` string pointers stored in the pair.
    let ptrs = unsafe { slice_or_empty(data, len) };
    let mut out = Vec::with_capacity(ptrs.len());
    for &p in ptrs {
        if p.is_null() {
            return Value::Other(code);
        }
        // SAFETY: each is a NUL-terminated string stored in the pair, alive for 'a.
        out.push(unsafe { CStr::from_ptr(p) });
    }
    Value::StringArray(out)
}

/// A `DATA_TYPE_NVLIST_ARRAY` pair (`code`) of a list borrowed for `'a`.
fn decode_nvlist_array<'a>(pair: NonNull<sys::nvpair_t>, code: sys::data_type_t) -> Value<'a> {
    let mut data: *mut *mut nvlist_t = ptr::null_mut();
    let mut len: sys::uint_t = 0;
    // SAFETY: valid pair of the matching type; valid out-pointers.
    let rc = unsafe { sys::nvpair_value_nvlist_array(pair.as_ptr(), &raw mut data, &raw mut len) };
    if rc != 0 {
        return Value::Other(code);
    }
    // SAFETY: on success, `len` list pointers stored in the pair.
    let ptrs = unsafe { slice_or_empty(data.cast_const(), len) };
    let mut out = Vec::with_capacity(ptrs.len());
    for &p in ptrs {
        let Some(ptr) = NonNull::new(p) else {
            return Value::Other(code);
        };
        out.push(NvListRef {
            ptr,
            _owner: PhantomData,
        });
    }
    Value::NvListArray(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn list() -> NvList {
        NvList::new().expect("nvlist_alloc")
    }

    #[test]
    fn new_list_is_empty() {
        let l = list();
        let r = l.as_ref();
        assert_eq!(r.len(), 0);
        assert!(r.is_empty());
        assert!(r.iter().next().is_none());
        assert!(!r.contains("a"));
        assert_eq!(r.get("a"), None);
        assert_eq!(format!("{l:?}"), "{}");
    }

    #[test]
    fn scalars_round_trip() {
        let mut l = list();
        l.add_boolean("flag").unwrap();
        l.add_boolean_value("yes", true).unwrap();
        l.add_boolean_value("no", false).unwrap();
        l.add_byte("byte", 0xAB).unwrap();
        l.add_i8("i8", -8).unwrap();
        l.add_u8("u8", 200).unwrap();
        l.add_i16("i16", -16_000).unwrap();
        l.add_u16("u16", 65_000).unwrap();
        l.add_i32("i32", i32::MIN).unwrap();
        l.add_u32("u32", u32::MAX).unwrap();
        l.add_i64("i64", i64::MIN).unwrap();
        l.add_u64("u64", u64::MAX).unwrap();
        l.add_double("double", 2.5).unwrap();
        l.add_hrtime("hrtime", 1_234_567_890_123).unwrap();
        l.add_string("string", "pool/fs@snap").unwrap();
        let r = l.as_ref();
        assert_eq!(r.get("flag"), Some(Value::Boolean));
        assert_eq!(r.get("yes"), Some(Value::BooleanValue(true)));
        assert_eq!(r.get("no"), Some(Value::BooleanValue(false)));
        assert_eq!(r.get("byte"), Some(Value::Byte(0xAB)));
        assert_eq!(r.get("i8"), Some(Value::I8(-8)));
        assert_eq!(r.get("u8"), Some(Value::U8(200)));
        assert_eq!(r.get("i16"), Some(Value::I16(-16_000)));
        assert_eq!(r.get("u16"), Some(Value::U16(65_000)));
        assert_eq!(r.get("i32"), Some(Value::I32(i32::MIN)));
        assert_eq!(r.get("u32"), Some(Value::U32(u32::MAX)));
        assert_eq!(r.get("i64"), Some(Value::I64(i64::MIN)));
        assert_eq!(r.get("u64"), Some(Value::U64(u64::MAX)));
        assert_eq!(r.get("double"), Some(Value::Double(2.5)));
        assert_eq!(r.get("hrtime"), Some(Value::HrTime(1_234_567_890_123)));
        assert_eq!(r.get("string"), Some(Value::String(c"pool/fs@snap")));
        assert_eq!(r.len(), 15);

        assert_eq!(r.get_bool("yes"), Ok(true));
        assert_eq!(r.get_bool("no"), Ok(false));
        assert_eq!(r.get_i32("i32"), Ok(i32::MIN));
        assert_eq!(r.get_u32("u32"), Ok(u32::MAX));
        assert_eq!(r.get_i64("i64"), Ok(i64::MIN));
        assert_eq!(r.get_u64("u64"), Ok(u64::MAX));
        assert_eq!(r.get_str("string"), Ok("pool/fs@snap"));
        assert_eq!(r.get_cstr("string"), Ok(c"pool/fs@snap"));
    }

    #[test]
    fn numeric_arrays_round_trip() {
        let mut l = list();
        l.add_boolean_array("bools", &[true, false, true]).unwrap();
        l.add_byte_array("bytes", &[0, 1, 255]).unwrap();
        l.add_i8_array("i8s", &[-1, 0, 1]).unwrap();
        l.add_u8_array("u8s", &[7, 8]).unwrap();
        l.add_i16_array("i16s", &[-300, 300]).unwrap();
        l.add_u16_array("u16s", &[1, 65_535]).unwrap();
        l.add_i32_array("i32s", &[i32::MIN, i32::MAX]).unwrap();
        l.add_u32_array("u32s", &[0, u32::MAX]).unwrap();
        l.add_i64_array("i64s", &[i64::MIN, -1, i64::MAX]).unwrap();
        l.add_u64_array("u64s", &[1, 2, 3, u64::MAX]).unwrap();
        l.add_u64_array("empty", &[]).unwrap();
        let r = l.as_ref();
        assert_eq!(
            r.get("bools"),
            Some(Value::BooleanArray(vec![true, false, true]))
        );
        assert_eq!(r.get("bytes"), Some(Value::ByteArray(&[0, 1, 255])));
        assert_eq!(r.get("i8s"), Some(Value::I8Array(&[-1, 0, 1])));
        assert_eq!(r.get("u8s"), Some(Value::U8Array(&[7, 8])));
        assert_eq!(r.get("i16s"), Some(Value::I16Array(&[-300, 300])));
        assert_eq!(r.get("u16s"), Some(Value::U16Array(&[1, 65_535])));
        assert_eq!(r.get("i32s"), Some(Value::I32Array(&[i32::MIN, i32::MAX])));
        assert_eq!(r.get("u32s"), Some(Value::U32Array(&[0, u32::MAX])));
        assert_eq!(
            r.get("i64s"),
            Some(Value::I64Array(&[i64::MIN, -1, i64::MAX]))
        );
        assert_eq!(r.get("u64s"), Some(Value::U64Array(&[1, 2, 3, u64::MAX])));
        assert_eq!(r.get("empty"), Some(Value::U64Array(&[])));
    }

    #[test]
    fn string_and_nvlist_arrays_round_trip() {
        let mut a = list();
        a.add_u64("n", 1).unwrap();
        let mut b = list();
        b.add_string("s", "two").unwrap();
        let mut l = list();
        l.add_string_array("names", &["pool/a@1", "pool/b@1", ""])
            .unwrap();
        l.add_cstr_array("raw", &[c"\xff\xfe", c"ok"]).unwrap();
        l.add_string_array::<&str>("none", &[]).unwrap();
        l.add_nvlist_array("lists", &[a.as_ref(), b.as_ref()])
            .unwrap();
        let r = l.as_ref();
        assert_eq!(
            r.get("names"),
            Some(Value::StringArray(vec![c"pool/a@1", c"pool/b@1", c""]))
        );
        assert_eq!(
            r.get("raw"),
            Some(Value::StringArray(vec![c"\xff\xfe", c"ok"]))
        );
        assert_eq!(r.get("none"), Some(Value::StringArray(vec![])));
        let Some(Value::NvListArray(lists)) = r.get("lists") else {
            panic!("expected an nvlist array, got {:?}", r.get("lists"));
        };
        assert_eq!(lists.len(), 2);
        assert_eq!(lists[0].get_u64("n"), Ok(1));
        assert_eq!(lists[1].get_str("s"), Ok("two"));
        assert_eq!(lists[0], a.as_ref());
    }

    #[test]
    fn nested_lists_are_copies() {
        let mut inner = list();
        inner.add_u64("value", 7).unwrap();
        let mut middle = list();
        middle.add_nvlist("inner", &inner.as_ref()).unwrap();
        let mut outer = list();
        outer.add_nvlist("middle", &middle.as_ref()).unwrap();
        // Changing or dropping the sources afterwards does not affect `outer`.
        inner.add_u64("value", 8).unwrap();
        drop(middle);
        let r = outer.as_ref();
        let got = r
            .get_nvlist("middle")
            .and_then(|m| m.get_nvlist("inner"))
            .and_then(|i| i.get_u64("value"));
        assert_eq!(got, Ok(7));
        assert_eq!(inner.as_ref().get_u64("value"), Ok(8));
        assert_eq!(
            format!("{outer:?}"),
            r#"{"middle": NvList({"inner": NvList({"value": U64(7)})})}"#
        );
    }

    #[test]
    fn interior_nul_is_an_error_not_a_panic() {
        let mut l = list();
        assert_eq!(l.add_u64("a\0b", 1), Err(NvListError::InteriorNul));
        assert_eq!(l.add_boolean("\0"), Err(NvListError::InteriorNul));
        assert_eq!(
            l.add_string("name", "va\0lue"),
            Err(NvListError::InteriorNul)
        );
        assert_eq!(
            l.add_string("na\0me", "value"),
            Err(NvListError::InteriorNul)
        );
        assert_eq!(
            l.add_string_array("names", &["ok", "b\0ad"]),
            Err(NvListError::InteriorNul)
        );
        assert_eq!(l.add_u64_array("x\0", &[1]), Err(NvListError::InteriorNul));
        let other = list();
        assert_eq!(
            l.add_nvlist("n\0", &other.as_ref()),
            Err(NvListError::InteriorNul)
        );
        assert_eq!(l.remove("a\0"), Err(NvListError::InteriorNul));
        assert!(l.as_ref().is_empty(), "nothing was added");
        l.add_u64("a", 1).unwrap();
        // Lookups: `a\0b` would be truncated to `a` by C; it must not match `a`.
        let r = l.as_ref();
        assert!(!r.contains("a\0b"));
        assert_eq!(r.get("a\0b"), None);
        assert_eq!(r.get_u64("a\0b"), Err(NvListError::InteriorNul));
    }

    /// Adds a pair with a name that is not UTF-8, through the raw API (the safe builders only
    /// take `&str` names).
    fn add_raw_u64(l: &mut NvList, name: &CStr, value: u64) {
        // SAFETY: valid list owned mutably; NUL-terminated name.
        let rc = unsafe { sys::nvlist_add_uint64(l.as_ptr(), name.as_ptr(), value) };
        assert_eq!(rc, 0);
    }

    #[test]
    fn non_utf8_names_and_values_do_not_panic() {
        let mut l = list();
        l.add_cstr("latin1", c"caf\xe9").unwrap();
        add_raw_u64(&mut l, c"\xff\xfe", 9);
        let r = l.as_ref();
        assert_eq!(
            r.get_str("latin1"),
            Err(NvListError::NotUtf8 {
                name: "latin1".into()
            })
        );
        assert_eq!(
            r.get_cstr("latin1").map(CStr::to_bytes),
            Ok(&b"caf\xe9"[..])
        );
        let pairs: Vec<_> = r.iter().collect();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[1], (c"\xff\xfe", Value::U64(9)));
        let debug = format!("{l:?}");
        assert!(debug.contains(r#""\xff\xfe": U64(9)"#), "{debug}");
    }

    #[test]
    fn iteration_follows_insertion_order_and_replacement_moves_to_end() {
        let mut l = list();
        for (i, name) in ["c", "a", "b", "d"].iter().enumerate() {
            l.add_u64(name, i as u64).unwrap();
        }
        let names = |l: &NvList| -> Vec<String> {
            l.as_ref()
                .iter()
                .map(|(n, _)| n.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(&l), ["c", "a", "b", "d"]);
        // NV_UNIQUE_NAME: re-adding "a", even with another type, replaces it at the end.
        l.add_string("a", "again").unwrap();
        assert_eq!(names(&l), ["c", "b", "d", "a"]);
        assert_eq!(l.as_ref().len(), 4);
        assert_eq!(l.as_ref().get("a"), Some(Value::String(c"again")));
        let via_into_iter: Vec<_> = (&l).into_iter().map(|(_, v)| v.type_name()).collect();
        assert_eq!(via_into_iter, ["uint64", "uint64", "uint64", "string"]);
    }

    #[test]
    fn typed_getters_report_missing_and_wrong_types() {
        let mut l = list();
        l.add_u64("n", 1).unwrap();
        l.add_boolean("flag").unwrap();
        let r = l.as_ref();
        assert_eq!(
            r.get_u64("missing"),
            Err(NvListError::NotFound {
                name: "missing".into()
            })
        );
        assert_eq!(
            r.get_str("n"),
            Err(NvListError::WrongType {
                name: "n".into(),
                expected: "string",
                found: "uint64"
            })
        );
        assert_eq!(
            r.get_i32("n"),
            Err(NvListError::WrongType {
                name: "n".into(),
                expected: "int32",
                found: "uint64"
            })
        );
        assert!(matches!(
            r.get_bool("flag"),
            Err(NvListError::WrongType {
                found: "boolean",
                ..
            })
        ));
        assert!(matches!(
            r.get_nvlist("n"),
            Err(NvListError::WrongType {
                expected: "nvlist",
                ..
            })
        ));
        assert!(r.contains("flag"));
    }

    #[test]
    fn remove_reports_whether_something_was_removed() {
        let mut l = list();
        l.add_u64("a", 1).unwrap();
        l.add_u64("b", 2).unwrap();
        assert_eq!(l.remove("a"), Ok(true));
        assert_eq!(l.remove("a"), Ok(false));
        assert!(!l.as_ref().contains("a"));
        assert_eq!(l.as_ref().len(), 1);
    }

    #[test]
    fn to_owned_is_a_deep_independent_copy() {
        let mut l = list();
        l.add_string("s", "x").unwrap();
        let mut inner = list();
        inner.add_i32("e", 17).unwrap();
        l.add_nvlist("inner", &inner.as_ref()).unwrap();
        let copy = l.as_ref().to_owned().unwrap();
        let clone = l.try_clone().unwrap();
        assert_eq!(copy.as_ref(), l.as_ref());
        l.add_u64("extra", 1).unwrap();
        drop(l);
        assert_eq!(copy.as_ref().len(), 2);
        assert_eq!(clone.as_ref().len(), 2);
        assert_eq!(
            copy.as_ref()
                .get_nvlist("inner")
                .and_then(|i| i.get_i32("e")),
            Ok(17)
        );
        assert_eq!(copy.as_ref().get_str("s"), Ok("x"));
        assert_ne!(copy.as_ptr(), clone.as_ptr());
    }

    #[test]
    fn raw_ownership_round_trip() {
        let mut l = list();
        l.add_u64("k", 5).unwrap();
        let raw = l.into_raw();
        // SAFETY: `raw` came from `into_raw` and is owned by nobody else.
        let back = unsafe { NvList::from_raw(raw) };
        assert_eq!(back.as_ptr(), raw);
        assert_eq!(back.as_ref().get_u64("k"), Ok(5));
        // SAFETY: null is allowed by from_raw_opt.
        assert!(unsafe { NvList::from_raw_opt(ptr::null_mut()) }.is_none());
        // SAFETY: a valid list that outlives the view.
        let view = unsafe { NvListRef::from_ptr(back.as_ptr()) };
        assert_eq!(view.get_u64("k"), Ok(5));
    }

    #[test]
    fn lists_without_unique_names_keep_duplicates_and_get_finds_the_first() {
        let mut raw: *mut nvlist_t = ptr::null_mut();
        // SAFETY: valid out-pointer; nvflag 0 = duplicate names allowed.
        assert_eq!(unsafe { sys::nvlist_alloc(&raw mut raw, 0, 0) }, 0);
        // SAFETY: freshly allocated, owned by nobody else.
        let mut l = unsafe { NvList::from_raw(raw) };
        l.add_u64("dup", 1).unwrap();
        l.add_u64("dup", 2).unwrap();
        assert_eq!(l.as_ref().len(), 2);
        assert_eq!(l.as_ref().get_u64("dup"), Ok(1));
        assert_eq!(l.remove("dup"), Ok(true));
        assert!(l.as_ref().is_empty());
    }

    #[test]
    fn too_large_arrays_are_rejected_before_calling_c() {
        assert_eq!(c_len(3), Ok(3));
        let big = u32::MAX as usize + 1;
        assert_eq!(c_len(big), Err(NvListError::TooLarge { len: big }));
    }

    #[test]
    fn errno_errors_display_the_function_and_reason() {
        let e = NvListError::Errno {
            op: "nvlist_add_uint64",
            errno: libc::ENOMEM,
        };
        let text = e.to_string();
        assert!(text.starts_with("nvlist_add_uint64 failed: "), "{text}");
        assert!(text.contains("memory"), "{text}");
    }

    #[test]
    fn shared_reads_from_several_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<NvList>();
        assert_send_sync::<NvListRef<'static>>();
        let mut l = list();
        for i in 0..100u64 {
            l.add_u64(&format!("k{i}"), i).unwrap();
        }
        let sums: Vec<u64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..100u64)
                            .map(|i| l.as_ref().get_u64(&format!("k{i}")).unwrap())
                            .sum()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(sums, vec![4950; 4]);
        // Moving ownership to another thread and freeing it there.
        let moved = std::thread::spawn(move || l.as_ref().len()).join().unwrap();
        assert_eq!(moved, 100);
    }

    proptest! {
        #[test]
        fn any_string_pair_is_ok_or_interior_nul(
            name in "[a-z/@:\\x00\u{e9}\u{1F600}]{0,20}",
            value in "[a-z \\x00\u{e9}]{0,40}",
        ) {
            let mut l = list();
            let res = l.add_string(&name, &value);
            if name.contains('\0') || value.contains('\0') {
                prop_assert_eq!(res, Err(NvListError::InteriorNul));
                prop_assert!(l.as_ref().is_empty());
            } else {
                prop_assert_eq!(res, Ok(()));
                prop_assert_eq!(l.as_ref().get_str(&name), Ok(value.as_str()));
                prop_assert_eq!(l.as_ref().len(), 1);
            }
        }

        #[test]
        fn u64_arrays_round_trip(values in proptest::collection::vec(any::<u64>(), 0..64)) {
            let mut l = list();
            l.add_u64_array("v", &values).unwrap();
            prop_assert_eq!(l.as_ref().get("v"), Some(Value::U64Array(&values)));
        }
    }
}
