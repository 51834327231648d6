/* lt_file.c: regular-file opening for the loaders (stat, then open with O_NONBLOCK so a FIFO
 * or device swapped in meanwhile cannot block, then fstat again) and whole-file reads. */
#include "lt_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind_name(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO (named pipe)";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "a special file";
}

int lt_file_open(const char *path, int64_t *size, char *err, size_t errlen) {
    struct stat sb;
    *size = 0;
    if (stat(path, &sb) != 0) {
        if (err && errlen) snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        if (err && errlen)
            snprintf(err, errlen, "cannot open '%s': it is %s, not a regular file", path,
                     kind_name(sb.st_mode));
        return -1;
    }
    int fd;
    do {
        fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (err && errlen) snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) != 0) {
        if (err && errlen) snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {   /* replaced between stat and open */
        if (err && errlen)
            snprintf(err, errlen, "cannot open '%s': it is %s, not a regular file", path,
                     kind_name(sb.st_mode));
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl != -1) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *size = (int64_t)sb.st_size;
    return fd;
}

lt_status lt_file_read(int fd, void *buf, size_t n, size_t *got, const char *path, char *err,
                       size_t errlen) {
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done > ((size_t)1 << 30) ? ((size_t)1 << 30) : n - done;
        ssize_t r = read(fd, (char *)buf + done, chunk);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (err && errlen) snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
            *got = done;
            return LT_EARG;
        }
        if (r == 0) break;
        done += (size_t)r;
    }
    *got = done;
    return LT_OK;
}
