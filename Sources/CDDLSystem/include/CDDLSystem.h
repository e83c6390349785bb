#ifndef CDDL_SYSTEM_H
#define CDDL_SYSTEM_H

/// Asks the kernel to start writing the dirty pages of `fd` in [offset, offset + count) to
/// disk without waiting for them (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`), so that a
/// later `fsync` has little left to do. Returns 0, or -1 with `errno` set. Elsewhere it does
/// nothing and returns 0.
int cddl_start_writeback(int fd, long long offset, long long count);

#endif
