//! Raw bindings to OpenZFS `libzfs_core` and `libnvpair` (filled in by the bindings issue).
