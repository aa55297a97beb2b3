/* Header handed to bindgen by build.rs: everything libzfs-core-sys binds. */
#include <libzfs_core.h>
#include <libnvpair.h>
#include <sys/fs/zfs.h>
