//! DataVault's snapshot names (`dv-YYYYMMDDTHHMMSSZ`) and their times: the library's
//! [`flocker_core::vault::scheme`], re-exported for the binaries.

pub use flocker_core::vault::scheme::*;
