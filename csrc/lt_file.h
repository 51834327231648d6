/* lt_file.h: opening files for the loaders (images, safetensors, IDX) without ever blocking
 * on a FIFO or a device, and reading them whole. No Lua here.
 *
 *   int64_t size; char err[512];
 *   int fd = lt_file_open(path, &size, err, sizeof err);   // a regular file, or -1
 *   if (fd < 0) { ... err: "cannot open 'p': No such file or directory" ... }
 *   size_t got;
 *   lt_status st = lt_file_read(fd, buf, (size_t)size, &got, path, err, sizeof err);
 *   close(fd);
 *
 * Anything but a regular file (directory, FIFO, socket, character or block device) is
 * refused by name before it is opened for reading ("cannot open 'p': it is a FIFO (named
 * pipe), not a regular file"), so a loader handed /dev/stdin or a named pipe returns an
 * error at once instead of blocking forever.
 */
#ifndef LT_FILE_H
#define LT_FILE_H

#include <stddef.h>
#include <stdint.h>
#include "lt_core.h"

/* Opens path read-only (close-on-exec) after checking that it names a regular file; the
 * descriptor is then checked again with fstat (the path may change in between). Returns the
 * descriptor and the file size, or -1 with a message in err. */
int lt_file_open(const char *path, int64_t *size, char *err, size_t errlen);

/* Reads up to n bytes from the current position into buf, retrying short reads and EINTR;
 * *got receives the count (less than n only at end of file). */
lt_status lt_file_read(int fd, void *buf, size_t n, size_t *got, const char *path, char *err,
                       size_t errlen);

#endif
