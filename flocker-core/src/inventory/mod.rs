//! Listing datasets, snapshots, bookmarks, holds and properties without the CLI (in progress).
