/* lt_slic.c: SLIC superpixels as scikit-image 0.19 computes them (normalisation, CIELAB,
 * Gaussian smoothing, regular seeding, localised k-means, connectivity enforcement), and the
 * scipy-style Gaussian filter shared with Felzenszwalb's segmentation. */
#include "lt_slic.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

lt_slic_opts lt_slic_defaults(void) {
    lt_slic_opts o = {100, 10.0, 10, 0.0, 1, 1, -1, 0.5, 3.0};
    return o;
}

/* ---- Gaussian filter (scipy.ndimage.gaussian_filter1d, mode "reflect") ---- */

/* Index i (any integer) reflected into [0, n) as scipy's "reflect" (d c b a | a b c d). */
static int64_t reflect_index(int64_t i, int64_t n) {
    if (n == 1) return 0;
    int64_t p = 2 * n;
    i %= p;
    if (i < 0) i += p;
    return i < n ? i : p - 1 - i;
}

/* Filters n values at stride st (each value has c interleaved channels handled by the
 * caller via ch offset) with the symmetric weights w[0..r]. line: scratch of n + 2r. */
static void filter_line(double *x, int64_t n, int64_t st, const double *wt, int64_t r,
                        double *line) {
    for (int64_t i = -r; i < n + r; i++) line[i + r] = x[reflect_index(i, n) * st];
    const double *l = line + r;
    for (int64_t i = 0; i < n; i++) {
        double acc = l[i] * wt[0];
        for (int64_t j = 1; j <= r; j++) acc += (l[i + j] + l[i - j]) * wt[j];
        x[i * st] = acc;
    }
}

static double *gauss_weights(double sigma, int64_t *radius) {
    int64_t r = (int64_t)(4.0 * sigma + 0.5);
    double *wt = malloc((size_t)(r + 1) * sizeof *wt);
    if (!wt) return NULL;
    /* scipy: phi = exp(-0.5 / sigma^2 * x^2) over -r..r, divided by its sum */
    double s2 = sigma * sigma, sum = 0;
    for (int64_t j = 0; j <= r; j++) wt[j] = exp(-0.5 / s2 * (double)(j * j));
    for (int64_t j = -r; j <= r; j++) sum += wt[j < 0 ? -j : j];
    for (int64_t j = 0; j <= r; j++) wt[j] /= sum;
    *radius = r;
    return wt;
}

/* The same filter when the radius reaches the line length (huge sigma): "reflect" repeats
 * with period 2n, so the weights fold onto 2n residues f[t] and each output is a sum over
 * the n inputs: O(n^2) per line instead of O(n r). fold: 2n doubles, line: n doubles. */
static void filter_line_folded(double *x, int64_t n, int64_t st, const double *fold, double *line) {
    int64_t p = 2 * n;
    for (int64_t q = 0; q < n; q++) line[q] = x[q * st];
    for (int64_t i = 0; i < n; i++) {
        double acc = 0;
        for (int64_t q = 0; q < n; q++) {
            int64_t a = ((q - i) % p + p) % p, b = ((p - 1 - q - i) % p + p) % p;
            acc += line[q] * (fold[a] + fold[b]);
        }
        x[i * st] = acc;
    }
}

lt_status lt_gaussian_hwc(double *img, int64_t h, int64_t w, int64_t c, double sy, double sx) {
    for (int axis = 0; axis < 2; axis++) {
        double sigma = axis == 0 ? sy : sx;
        if (!(sigma > 0)) continue;
        int64_t r;
        double *wt = gauss_weights(sigma, &r);
        int64_t n = axis == 0 ? h : w, lines = axis == 0 ? w * c : h * c;
        int folded = r >= n;
        double *line = wt ? malloc((size_t)(folded ? 3 * n : n + 2 * r) * sizeof *line) : NULL;
        if (!line) {
            free(wt);
            return LT_ENOMEM;
        }
        double *fold = line + n;
        if (folded) {
            for (int64_t t = 0; t < 2 * n; t++) fold[t] = 0;
            for (int64_t j = -r; j <= r; j++) fold[((j % (2 * n)) + 2 * n) % (2 * n)] += wt[j < 0 ? -j : j];
        }
        for (int64_t li = 0; li < lines; li++) {
            /* axis 0: line li = (x, ch) runs down the rows; axis 1: (y, ch) along a row */
            double *x0 = axis == 0 ? img + li : img + (li / c) * w * c + li % c;
            if (folded) filter_line_folded(x0, n, axis == 0 ? w * c : c, fold, line);
            else filter_line(x0, n, axis == 0 ? w * c : c, wt, r, line);
        }
        free(line);
        free(wt);
    }
    return LT_OK;
}

/* ---- preparation: float image, normalised to [0, 1], optionally CIELAB, smoothed ---- */

static void rgb_to_lab(double *p) {
    static const double m[3][3] = {{0.412453, 0.357580, 0.180423},
                                   {0.212671, 0.715160, 0.072169},
                                   {0.019334, 0.119193, 0.950227}};
    static const double white[3] = {0.95047, 1.0, 1.08883};
    double lin[3], f[3];
    for (int i = 0; i < 3; i++)
        lin[i] = p[i] > 0.04045 ? pow((p[i] + 0.055) / 1.055, 2.4) : p[i] / 12.92;
    for (int i = 0; i < 3; i++) {
        double v = (lin[0] * m[i][0] + lin[1] * m[i][1] + lin[2] * m[i][2]) / white[i];
        f[i] = v > 0.008856 ? cbrt(v) : 7.787 * v + 16.0 / 116.0;
    }
    p[0] = 116.0 * f[1] - 16.0;
    p[1] = 500.0 * (f[0] - f[1]);
    p[2] = 200.0 * (f[1] - f[2]);
}

/* (H, W, C) doubles from img (C, H, W) or (H, W); NULL when out of memory. */
static double *prepare(const lt_tensor *img, const lt_slic_opts *o, int64_t *ph, int64_t *pw,
                       int64_t *pc, lt_status *st) {
    int64_t c = img->ndim == 3 ? img->size[0] : 1;
    int64_t h = img->size[img->ndim - 2], w = img->size[img->ndim - 1], n = h * w;
    *ph = h; *pw = w; *pc = c;
    if (o->convert2lab == 1 && c != 3) {
        *st = LT_EARG;
        return NULL;
    }
    double *x = malloc((size_t)(n * c) * sizeof *x);
    if (!x) {
        *st = LT_ENOMEM;
        return NULL;
    }
    if (img->dtype == LT_UINT8) {
        const uint8_t *s = lt_u8(img);
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < n; i++) x[i * c + ch] = s[ch * n + i] / 255.0;
    } else {
        const float *s = lt_f32(img);
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < n; i++) x[i * c + ch] = (double)s[ch * n + i];
    }
    double lo = x[0], hi;
    for (int64_t i = 1; i < n * c; i++) lo = x[i] < lo ? x[i] : lo;
    for (int64_t i = 0; i < n * c; i++) x[i] -= lo;
    hi = x[0];
    for (int64_t i = 1; i < n * c; i++) hi = x[i] > hi ? x[i] : hi;
    if (hi != 0)
        for (int64_t i = 0; i < n * c; i++) x[i] /= hi;
    if (c == 3 && o->convert2lab != 0)
        for (int64_t i = 0; i < n; i++) rgb_to_lab(x + 3 * i);
    if (o->sigma > 0 && (*st = lt_gaussian_hwc(x, h, w, c, o->sigma, o->sigma)) != LT_OK) {
        free(x);
        return NULL;
    }
    double ratio = 1.0 / o->compactness;
    for (int64_t i = 0; i < n * c; i++) x[i] *= ratio;
    *st = LT_OK;
    return x;
}

/* skimage.util.regular_grid for the shape (1, h, w): start and step per axis (z, y, x). */
static void regular_grid(int64_t h, int64_t w, int64_t npts, int64_t start[3], int64_t step[3],
                         double fstep[3]) {
    double shape[3] = {1.0, (double)h, (double)w};
    for (int i = 0; i < 3; i++) start[i] = 0, step[i] = 1, fstep[i] = 1.0;
    double space = (double)h * (double)w;
    if (space <= (double)npts) return;
    /* sort the dims ascending (stable) and remember where each came from */
    int ord[3] = {0, 1, 2};
    for (int i = 1; i < 3; i++)
        for (int j = i; j > 0 && shape[ord[j - 1]] > shape[ord[j]]; j--) {
            int t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t;
        }
    double sd[3], ss[3];
    for (int i = 0; i < 3; i++) sd[i] = shape[ord[i]];
    double v = pow(space / (double)npts, 1.0 / 3.0);
    for (int i = 0; i < 3; i++) ss[i] = v;
    if (sd[0] < ss[0] || sd[1] < ss[1] || sd[2] < ss[2]) {
        for (int d = 0; d < 3; d++) {
            ss[d] = sd[d];
            double sp = 1.0;
            for (int k = d + 1; k < 3; k++) sp *= sd[k];
            for (int k = d + 1; k < 3; k++) ss[k] = pow(sp / (double)npts, 1.0 / (double)(3 - d - 1));
            if (sd[0] >= ss[0] && sd[1] >= ss[1] && sd[2] >= ss[2]) break;
        }
    }
    for (int i = 0; i < 3; i++) {
        int64_t s0 = (int64_t)floor(ss[i] / 2.0);
        double rs = nearbyint(ss[i]);   /* numpy round: half to even (default rounding mode) */
        start[ord[i]] = s0;
        step[ord[i]] = (int64_t)rs;
        fstep[ord[i]] = (double)(int64_t)rs;
    }
}

/* State of one run: nf = 3 + C features per centre (z, y, x, colour...). */
typedef struct {
    int64_t h, w, c, nf, nseg;
    int64_t step_y, step_x;
    double spatial_weight;
    double *img;      /* (H, W, C) */
    double *planar;   /* (C, H, W): the same values, for the row-vectorised assignment */
    double *seg;      /* (nseg, nf) */
    int64_t *near;    /* (H, W) k + start_label, or start_label - 1 */
    double *dist;     /* (H, W) */
    int64_t *count;   /* (nseg) */
} slic_state;

static void centre_window(const slic_state *s, int64_t k, int64_t *y0, int64_t *y1, int64_t *x0,
                          int64_t *x1) {
    double cy = s->seg[k * s->nf + 1], cx = s->seg[k * s->nf + 2];
    /* Cython's max/min of a double and an integer, then truncation toward zero */
    double a = cy - 2.0 * (double)s->step_y, b = cy + 2.0 * (double)s->step_y + 1.0;
    double e = cx - 2.0 * (double)s->step_x, f = cx + 2.0 * (double)s->step_x + 1.0;
    *y0 = (int64_t)(a > 0 ? a : 0.0);
    *y1 = (int64_t)(b < (double)s->h ? b : (double)s->h);
    *x0 = (int64_t)(e > 0 ? e : 0.0);
    *x1 = (int64_t)(f < (double)s->w ? f : (double)s->w);
}

/* Distance of pixel (y, x) to centre k, in scikit-image's operation order. */
static inline double centre_dist(const slic_state *s, int64_t k, int64_t y, int64_t x) {
    const double *sg = s->seg + k * s->nf;
    double dz = 1.0 * (sg[0] - 0.0), dy = 1.0 * (sg[1] - (double)y), dx = 1.0 * (sg[2] - (double)x);
    dz *= dz;
    dy *= dy;
    dx *= dx;
    double d = (dz + dy + dx) * s->spatial_weight, dc = 0;
    const double *p = s->img + (y * s->w + x) * s->c;
    for (int64_t ch = 0; ch < s->c; ch++) {
        double t = p[ch] - sg[3 + ch];
        dc += t * t;
    }
    return d + dc;
}

static int alive(const slic_state *s, int64_t k) { return s->seg[k * s->nf + 1] == s->seg[k * s->nf + 1]; }

/* One assignment step centre by centre (scikit-image's order). Returns 1 if any pixel was
 * assigned. */
static int assign_naive(slic_state *s, int start_label) {
    int change = 0;
    for (int64_t i = 0; i < s->h * s->w; i++) s->dist[i] = DBL_MAX;
    for (int64_t k = 0; k < s->nseg; k++) {
        if (!alive(s, k)) continue;
        int64_t y0, y1, x0, x1;
        centre_window(s, k, &y0, &y1, &x0, &x1);
        for (int64_t y = y0; y < y1; y++)
            for (int64_t x = x0; x < x1; x++) {
                double d = centre_dist(s, k, y, x);
                if (s->dist[y * s->w + x] > d) {
                    s->near[y * s->w + x] = k + start_label;
                    s->dist[y * s->w + x] = d;
                    change = 1;
                }
            }
    }
    return change;
}

/* One centre over the pixels x0..x1-1 of a row: the operations of centre_dist in the same
 * order (so bitwise the same distances), branch-free so that the compiler vectorises along
 * the row. row: the row's first pixel in the planar (C, H, W) image, plane: H * W. */
static void assign_span(double *dist, int64_t *near, const double *row, int64_t plane, int64_t c,
                        const double *sg, double dzy, double sw, double cx, int64_t lab, int64_t x0,
                        int64_t x1) {
    for (int64_t x = x0; x < x1; x++) {
        double dx = 1.0 * (cx - (double)x);
        dx *= dx;
        double d = (dzy + dx) * sw, dc = 0;
        for (int64_t ch = 0; ch < c; ch++) {
            double t = row[ch * plane + x] - sg[3 + ch];
            dc += t * t;
        }
        d += dc;
        int better = dist[x] > d;
        dist[x] = better ? d : dist[x];
        near[x] = better ? lab : near[x];
    }
}

static void assign_span3(double *restrict dist, int64_t *restrict near, const double *row,
                         int64_t plane, const double *sg, double dzy, double sw, double cx,
                         int64_t lab, int64_t x0, int64_t x1) {
    const double *p0 = row, *p1 = row + plane, *p2 = row + 2 * plane;
    double s0 = sg[3], s1 = sg[4], s2 = sg[5];
    for (int64_t x = x0; x < x1; x++) {
        double dx = 1.0 * (cx - (double)x);
        dx *= dx;
        double d = (dzy + dx) * sw;
        double t0 = p0[x] - s0, t1 = p1[x] - s1, t2 = p2[x] - s2;
        double dc = 0;
        dc += t0 * t0;
        dc += t1 * t1;
        dc += t2 * t2;
        d += dc;
        int better = dist[x] > d;
        dist[x] = better ? d : dist[x];
        near[x] = better ? lab : near[x];
    }
}

/* The same step row by row on the context's threads: each row visits the centres whose
 * window covers it in increasing k, so every pixel sees the same comparisons in the same
 * order as assign_naive. rows/list: per-row centre lists (CSR). */
static int assign_rows(lt_context *ctx, slic_state *s, int start_label, int64_t *rowptr,
                       int64_t *list, int64_t *win) {
    int64_t h = s->h;
    memset(rowptr, 0, (size_t)(h + 1) * sizeof *rowptr);
    for (int64_t k = 0; k < s->nseg; k++) {
        int64_t *wk = win + 4 * k;
        if (!alive(s, k)) {
            wk[0] = wk[1] = 0;
            continue;
        }
        centre_window(s, k, &wk[0], &wk[1], &wk[2], &wk[3]);
        for (int64_t y = wk[0]; y < wk[1]; y++) rowptr[y + 1]++;
    }
    for (int64_t y = 0; y < h; y++) rowptr[y + 1] += rowptr[y];
    int64_t *fill = rowptr + h + 1;   /* h extra slots after rowptr: fill cursors */
    memcpy(fill, rowptr, (size_t)h * sizeof *fill);
    for (int64_t k = 0; k < s->nseg; k++)
        for (int64_t y = win[4 * k]; y < win[4 * k + 1]; y++) list[fill[y]++] = k;
    int change = 0;
    int nt = lt_ctx_num_threads(ctx);
    char *rowchange = (char *)(fill + h);   /* h bytes */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
    for (int64_t y = 0; y < h; y++) {
        double *dist = s->dist + y * s->w;
        int64_t *near = s->near + y * s->w;
        char ch = 0;
        for (int64_t x = 0; x < s->w; x++) dist[x] = DBL_MAX;
        for (int64_t e = rowptr[y]; e < rowptr[y + 1]; e++) {
            int64_t k = list[e], x0 = win[4 * k + 2], x1 = win[4 * k + 3];
            const double *sg = s->seg + k * s->nf;
            /* the operations of centre_dist in the same order, vectorised along the row on
             * the planar copy of the image: bitwise the same distances */
            double dz = 1.0 * (sg[0] - 0.0), dy = 1.0 * (sg[1] - (double)y);
            dz *= dz;
            dy *= dy;
            double dzy = dz + dy, sw = s->spatial_weight, cx = sg[2];
            int64_t lab = k + start_label;
            if (s->c == 3)
                assign_span3(dist, near, s->planar + y * s->w, s->h * s->w, sg, dzy, sw, cx, lab, x0, x1);
            else
                assign_span(dist, near, s->planar + y * s->w, s->h * s->w, s->c, sg, dzy, sw, cx, lab, x0, x1);
        }
        /* scikit-image's change flag: some pixel got a (finite) distance */
        for (int64_t x = 0; x < s->w && !ch; x++) ch = dist[x] < DBL_MAX;
        rowchange[y] = ch;
    }
    for (int64_t y = 0; y < h; y++) change |= rowchange[y];
    return change;
}

/* Centres = means of their pixels (raster order sums, as scikit-image); a centre without
 * pixels becomes NaN and takes no part any more (scikit-image divides 0 by 0). */
static void update_centres(slic_state *s, int start_label) {
    memset(s->seg, 0, (size_t)(s->nseg * s->nf) * sizeof *s->seg);
    memset(s->count, 0, (size_t)s->nseg * sizeof *s->count);
    for (int64_t y = 0; y < s->h; y++)
        for (int64_t x = 0; x < s->w; x++) {
            int64_t k = s->near[y * s->w + x] - start_label;
            if (k < 0) continue;
            double *sg = s->seg + k * s->nf;
            const double *p = s->img + (y * s->w + x) * s->c;
            s->count[k]++;
            sg[1] += (double)y;
            sg[2] += (double)x;
            for (int64_t ch = 0; ch < s->c; ch++) sg[3 + ch] += p[ch];
        }
    for (int64_t k = 0; k < s->nseg; k++)
        for (int64_t f = 0; f < s->nf; f++) s->seg[k * s->nf + f] /= (double)s->count[k];
}

/* scikit-image's _enforce_label_connectivity_cython in 2-D (4-neighbours), including its
 * flood fill cap at max_size. out (H*W) int32. */
static lt_status enforce_connectivity(int32_t *out, const int64_t *seg, int64_t h, int64_t w,
                                      int64_t min_size, int64_t max_size, int start_label) {
    static const int ddx[4] = {1, -1, 0, 0}, ddy[4] = {0, 0, 1, -1};
    int64_t mask_label = start_label - 1, cap = max_size > 1 ? max_size : 1;
    int64_t *conn = malloc((size_t)(h * w) * sizeof *conn);
    int64_t *coord = malloc((size_t)cap * 2 * sizeof *coord);
    if (!conn || !coord) {
        free(conn);
        free(coord);
        return LT_ENOMEM;
    }
    for (int64_t i = 0; i < h * w; i++) conn[i] = mask_label;
    int64_t cur = start_label;
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            if (seg[y * w + x] == mask_label || conn[y * w + x] > mask_label) continue;
            int64_t adjacent = cur, label = seg[y * w + x], size = 1, visited = 0;
            conn[y * w + x] = cur;
            coord[0] = y;
            coord[1] = x;
            while (visited < size && size < max_size) {
                for (int i = 0; i < 4; i++) {
                    int64_t yy = coord[2 * visited] + ddy[i], xx = coord[2 * visited + 1] + ddx[i];
                    if (xx < 0 || xx >= w || yy < 0 || yy >= h) continue;
                    int64_t q = yy * w + xx;
                    if (seg[q] == label && conn[q] == mask_label) {
                        conn[q] = cur;
                        coord[2 * size] = yy;
                        coord[2 * size + 1] = xx;
                        size++;
                        if (size >= max_size) break;
                    } else if (conn[q] > mask_label && conn[q] != cur) {
                        adjacent = conn[q];
                    }
                }
                visited++;
            }
            if (size < min_size) {
                for (int64_t i = 0; i < size; i++) conn[coord[2 * i] * w + coord[2 * i + 1]] = adjacent;
            } else {
                cur++;
            }
        }
    for (int64_t i = 0; i < h * w; i++) out[i] = (int32_t)conn[i];
    free(conn);
    free(coord);
    return LT_OK;
}

static lt_status slic_run(lt_context *ctx, lt_tensor *labels, const lt_tensor *img,
                          const lt_slic_opts *o, int naive) {
    if (o->n_segments < 1 || !(o->compactness > 0) || o->max_num_iter < 0 || !(o->sigma >= 0) ||
        (o->start_label != 0 && o->start_label != 1) || labels->dtype != LT_INT32 ||
        (img->dtype != LT_UINT8 && img->dtype != LT_FLOAT32) || (img->ndim != 2 && img->ndim != 3))
        return LT_EARG;
    int64_t h, w, c, n;
    lt_status st;
    if (lt_mul_ovf(img->size[img->ndim - 2], img->size[img->ndim - 1], &n)) return LT_EOVERFLOW;
    if (n == 0) return LT_OK;
    double *x = prepare(img, o, &h, &w, &c, &st);
    if (!x) return st;
    int64_t start[3], stp[3];
    double fstep[3];
    regular_grid(h, w, o->n_segments, start, stp, fstep);
    int64_t ny = start[1] < h ? (h - start[1] + stp[1] - 1) / stp[1] : 0;
    int64_t nx = start[2] < w ? (w - start[2] + stp[2] - 1) / stp[2] : 0;
    slic_state s = {0};
    s.h = h; s.w = w; s.c = c; s.nf = 3 + c; s.img = x;
    s.nseg = ny * nx;   /* start[0] is 0 for the depth-1 axis: one z plane */
    double step = fstep[0] > fstep[1] ? fstep[0] : fstep[1];
    step = step > fstep[2] ? step : fstep[2];
    step = (double)(float)step;   /* scikit-image passes it as a C float */
    s.spatial_weight = 1.0 / (step * step);
    int64_t st2[3], sp2[3];
    double f2[3];
    regular_grid(h, w, s.nseg, st2, sp2, f2);
    s.step_y = sp2[1];
    s.step_x = sp2[2];
    s.seg = calloc((size_t)(s.nseg * s.nf), sizeof *s.seg);
    s.near = malloc((size_t)n * sizeof *s.near);
    s.dist = malloc((size_t)n * sizeof *s.dist);
    s.count = malloc((size_t)s.nseg * sizeof *s.count);
    int64_t *rowptr = NULL, *list = NULL, *win = NULL;
    if (!naive) {
        s.planar = malloc((size_t)(n * c) * sizeof *s.planar);
        rowptr = malloc((size_t)(3 * h + 2) * sizeof *rowptr);
        win = malloc((size_t)(4 * s.nseg) * sizeof *win);
        /* every centre's window spans at most 4 step_y + 2 rows */
        list = malloc((size_t)(s.nseg * (4 * s.step_y + 2)) * sizeof *list);
    }
    st = LT_OK;
    if (!s.seg || !s.near || !s.dist || !s.count || (!naive && (!rowptr || !win || !list || !s.planar))) {
        st = LT_ENOMEM;
        goto done;
    }
    for (int64_t iy = 0, k = 0; iy < ny; iy++)
        for (int64_t ix = 0; ix < nx; ix++, k++) {
            s.seg[k * s.nf + 1] = (double)(start[1] + iy * stp[1]);
            s.seg[k * s.nf + 2] = (double)(start[2] + ix * stp[2]);
        }
    for (int64_t i = 0; i < n; i++) s.near[i] = o->start_label - 1;
    if (s.planar)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < n; i++) s.planar[ch * n + i] = x[i * c + ch];
    for (int64_t it = 0; it < o->max_num_iter; it++) {
        int change = naive ? assign_naive(&s, o->start_label)
                           : assign_rows(ctx, &s, o->start_label, rowptr, list, win);
        if (!change) break;
        update_centres(&s, o->start_label);
    }
    if (o->enforce_connectivity) {
        double seg_size = (double)n / (double)s.nseg;
        st = enforce_connectivity(lt_i32(labels), s.near, h, w,
                                  (int64_t)(o->min_size_factor * seg_size),
                                  (int64_t)(o->max_size_factor * seg_size), o->start_label);
    } else {
        int32_t *out = lt_i32(labels);
        for (int64_t i = 0; i < n; i++) out[i] = (int32_t)s.near[i];
    }
done:
    free(x);
    free(s.seg);
    free(s.near);
    free(s.dist);
    free(s.count);
    free(s.planar);
    free(rowptr);
    free(list);
    free(win);
    return st;
}

lt_status lt_slic(lt_context *ctx, lt_tensor *labels, const lt_tensor *img, const lt_slic_opts *o) {
    return slic_run(ctx, labels, img, o, 0);
}

lt_status lt_slic_naive(lt_context *ctx, lt_tensor *labels, const lt_tensor *img,
                        const lt_slic_opts *o) {
    return slic_run(ctx, labels, img, o, 1);
}
