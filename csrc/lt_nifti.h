/* lt_nifti.h: NIfTI-1 volumes (.nii, .nii.gz) through the NIfTI C library (niftiio, znzlib).
 * No Lua here.
 *
 *   lt_nifti_header h; char err[512];
 *   if (lt_nifti_read_header(&h, path, 1 << 26, err, sizeof err) != LT_OK) { ... err ... }
 *   lt_dtype dt = lt_nifti_out_dtype(&h);              // uint8, int32 or float32
 *   void *vox = malloc((size_t)h.nvox * lt_dtype_size(dt));
 *   if (lt_nifti_read_data(vox, dt, &h, path, err, sizeof err) != LT_OK) { ... }
 *
 * Axis order: NIfTI stores voxel (i, j, k, t) with i fastest. The voxels are returned in the
 * file's order, so read row-major they form a (nt, nz, ny, nx) array: the tensor element
 * [k+1][j+1][i+1] (1-based, D x H x W) is voxel (i, j, k). dim[1] = nx is W, dim[2] = ny is
 * H, dim[3] = nz is D; pixdim[1..3] are the spacings of W, H and D.
 *
 * The header is validated here before the library sees it (the library prints to stderr on
 * bad headers): sizeof_hdr 348 in either byte order, magic "n+1" (single file), dim[0] 1..7,
 * every used dim >= 1, a supported datatype, vox_offset >= 352, an overflow-checked byte
 * count that the file (or, gzipped, what its size can expand to) can hold and a voxel count
 * within the caller's limit. Nothing prints, exits or aborts; errors return LT_EARG (bad
 * file), LT_EOVERFLOW, LT_ERANGE (write: a value that does not fit the file's datatype) or
 * LT_ENOMEM with a message in err.
 */
#ifndef LT_NIFTI_H
#define LT_NIFTI_H

#include <stddef.h>
#include <stdint.h>
#include "lt_core.h"

typedef struct lt_nifti_header {
    int ndim;               /* dim[0]: 1..7 */
    int64_t dim[8];         /* dim[1..ndim]: nx, ny, nz, nt, nu, nv, nw (unused ones are 1) */
    double pixdim[8];       /* pixdim[1..3]: voxel spacing of i, j, k; pixdim[0]: qfac */
    int datatype;           /* NIfTI DT_* code: 2 uint8, 4 int16, 8 int32, 16 float32,
                             * 64 float64, 256 int8, 512 uint16 */
    int nbyper;             /* bytes per stored voxel */
    int swapped;            /* the file's byte order is not this machine's */
    int gzip;               /* the file is gzip-compressed */
    int64_t vox_offset;     /* byte offset of the data in the (uncompressed) stream */
    int64_t nvox;           /* product of dim[1..ndim] */
    int scaled;             /* scl_slope is finite and nonzero: value = slope * stored + inter */
    double scl_slope, scl_inter;
    double cal_min, cal_max;
    int qform_code, sform_code;
    double qform[4][4];     /* (i, j, k, 1) -> (x, y, z, 1) by the quaternion (the library's
                             * qto_xyz); pixdim scaling when qform_code is 0 */
    double sform[4][4];     /* srow_x, srow_y, srow_z and (0, 0, 0, 1) */
    double quatern[3];      /* quatern_b, c, d */
    double qoffset[3];      /* qoffset_x, y, z */
    double qfac;            /* -1 or 1 */
    int xyz_units, time_units;
    int intent_code;
    double toffset;
    char descrip[81];
    char intent_name[17];
    unsigned char raw[348]; /* the header as read, to detect a file changed between phases */
} lt_nifti_header;

/* The name of a supported datatype code ("uint8", "int16", ...), or NULL. */
const char *lt_nifti_dtype_name(int datatype);
/* The datatype code of a name, or 0. */
int lt_nifti_dtype_code(const char *name);

/* Reads and validates the header of path. max_voxels < 0: no limit. */
lt_status lt_nifti_read_header(lt_nifti_header *h, const char *path, int64_t max_voxels,
                               char *err, size_t errlen);
/* The tensor dtype the voxels load as: float32 when scaled or stored as float32/float64,
 * else uint8 for uint8, int32 for int8/int16/uint16/int32. */
lt_dtype lt_nifti_out_dtype(const lt_nifti_header *h);
/* Reads the h->nvox voxels of path (which must still hold the header h was read from) into
 * out (dt from lt_nifti_out_dtype, or float32), applying scl_slope/scl_inter when scaled. */
lt_status lt_nifti_read_data(void *out, lt_dtype dt, const lt_nifti_header *h, const char *path,
                             char *err, size_t errlen);

/* Writes a NIfTI-1 single file (gzip when h->gzip): dims h->ndim/h->dim, pixdim, datatype,
 * qform (from h->quatern/qoffset/qfac, computed by the library from h->qform when
 * qform_code > 0), sform (h->sform), scl_slope/inter, units, descrip. src: h->nvox values of
 * dtype src_dt in the file's voxel order. Stored values are (v - inter) / slope when
 * h->scaled; an integer datatype takes only integral values in its range (LT_ERANGE names the
 * first flat index that does not fit, in lt_last_range_error(ctx)). On failure the partial file is removed. */
lt_status lt_nifti_write(lt_context *ctx, const char *path, const void *src, lt_dtype src_dt,
                         const lt_nifti_header *h, char *err, size_t errlen);

#endif
