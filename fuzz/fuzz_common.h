/* fuzz/fuzz_common.h: what the libFuzzer harnesses share. The loaders read paths, so each
 * input is written to one temporary file per process (removed at exit). */
#ifndef LT_FUZZ_COMMON_H
#define LT_FUZZ_COMMON_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir[64], fuzz_path[96];
static int fuzz_fd = -1;

static void fuzz_cleanup(void) {
    if (fuzz_fd >= 0) {
        close(fuzz_fd);
        unlink(fuzz_path);
        rmdir(fuzz_dir);
    }
}

/* The path of a regular file holding exactly data[0..n), named file<suffix> in a private
 * temporary directory. Aborts (a harness failure, not a finding) if it cannot be written. */
static const char *fuzz_write_file(const uint8_t *data, size_t n, const char *suffix) {
    if (fuzz_fd < 0) {
        /* in memory when /dev/shm exists: on ext4, truncating a file to 0 flushes it */
        snprintf(fuzz_dir, sizeof fuzz_dir, "/dev/shm/lunet_fuzz_XXXXXX");
        if (!mkdtemp(fuzz_dir)) {
            snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/lunet_fuzz_XXXXXX");
            if (!mkdtemp(fuzz_dir)) { perror("mkdtemp"); abort(); }
        }
        snprintf(fuzz_path, sizeof fuzz_path, "%s/file%s", fuzz_dir, suffix);
        fuzz_fd = open(fuzz_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fuzz_fd < 0) { perror("open"); abort(); }
        atexit(fuzz_cleanup);
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(fuzz_fd, data + done, n - done, (off_t)done);
        if (w <= 0) { perror("pwrite"); abort(); }
        done += (size_t)w;
    }
    if (ftruncate(fuzz_fd, (off_t)n) != 0) { perror("ftruncate"); abort(); }
    return fuzz_path;
}

#endif
