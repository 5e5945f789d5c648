/* ResVR's per-neighbour chain, fused (the CPU fast path of core/models/vr_fast.py).
 *
 * For each query pixel: its 4 LR neighbours (wrapping across +-180 degrees, reflecting across
 * the poles with a 180 degree shift, exactly as VRModule._neighbours with wrap=True), the
 * shape phase h_p(s), and for each neighbour the Fourier basis
 *     basis = amp * [cos(arg), sin(arg)],  arg = pi * (h_p(s) + <freq, rel>)
 * written as bfloat16 straight into the first linear layer's input. The phase and its cos/sin
 * are float32 (a polynomial sin/cos on [-pi/4, pi/4] after a two-constant reduction, error
 * about 1e-7 for |arg| < 1e4), so no (N, 4, amp) float32 temporary ever goes to memory.
 * Also writes the bilinear weights and the bilinear skip colour (sum_k w_k rgb_k / 255).
 *
 * Plain C with OpenMP; built once per machine by vr_fast.build() (gcc -O3 -march=native) and
 * called through ctypes. Layout of one table row (2 * amp bf16 values, amp = 2 * a2):
 * [amplitudes (amp) | frequencies dy (a2) | frequencies dx (a2)].
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float bf2f(uint16_t v) {
    uint32_t u = ((uint32_t)v) << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t f2bf(float f) {   /* round to nearest even */
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

#define MAXA2 256

/* the 4 neighbours of LR point (x, y), as models.vr.neighbours(wrap=True); the one pole reflection here */
static inline void neighbours(float x, float y, int h, int w, int64_t *idx, float *wk, float *dy, float *dx)
{
    float fx = floorf(x - 0.5f), fy = floorf(y - 0.5f);
    float tx = x - 0.5f - fx, ty = y - 0.5f - fy;
    wk[0] = (1 - tx) * (1 - ty); wk[1] = tx * (1 - ty); wk[2] = (1 - tx) * ty; wk[3] = tx * ty;
    for (int k = 0; k < 4; k++) {
        int ix = (int)fx + (k & 1), iy = (int)fy + (k >> 1);
        if (iy < 0) { iy = -1 - iy; ix += w / 2; }
        else if (iy >= h) { iy = 2 * h - 1 - iy; ix += w / 2; }
        ix %= w;
        if (ix < 0) ix += w;
        if (iy < 0) iy = 0;
        if (iy >= h) iy = h - 1;
        idx[k] = (int64_t)iy * w + ix;
        dy[k] = (float)M_PI * (ty - (float)(k >> 1));
        dx[k] = (float)M_PI * (tx - (float)(k & 1));
    }
}

static void one_pixel(const uint16_t *restrict table, const uint8_t *restrict rgb, int h, int w, int a2,
                      const float *restrict x, const float *restrict y, const float *restrict shape,
                      const float *restrict wp, int p, uint16_t *restrict basis, float *restrict wts,
                      float *restrict skip)
{
    const int amp = 2 * a2, row = 2 * amp;
    float ph[MAXA2], cr[MAXA2], sr[MAXA2];
    {

        const float *s = shape + (int64_t)p * 10;
        for (int c = 0; c < a2; c++) {
            const float *wc = wp + c * 10;
            float acc = 0.f;
            for (int k = 0; k < 10; k++) acc += wc[k] * s[k];
            ph[c] = acc;
        }
        int64_t nidx[4];
        float wk[4], ndy[4], ndx[4];
        neighbours(x[p], y[p], h, w, nidx, wk, ndy, ndx);
        float sk[3] = {0.f, 0.f, 0.f};
        for (int k = 0; k < 4; k++) {
            const int64_t idx = nidx[k];
            const uint16_t *t = table + idx * row;
            const float dy = ndy[k], dx = ndx[k];
            /* the phase, reduced to [-pi/4, pi/4] by quadrant; sin/cos by minimax polynomials */
            #pragma omp simd
            for (int c = 0; c < a2; c++) {
                float a = ph[c] + bf2f(t[amp + c]) * dy + bf2f(t[amp + a2 + c]) * dx;
                float q = floorf(a * 0.63661977236758134f + 0.5f);
                float r = a - q * 1.5707963705062866f;
                r = r + q * 4.371139000186241e-08f;
                float r2 = r * r;
                float sn = r + r * r2 * (-1.6666654611e-1f + r2 * (8.3321608736e-3f + r2 * -1.9515295891e-4f));
                float cs = 1.0f + r2 * (-0.5f + r2 * (4.166664568298827e-2f + r2 * (-1.388731625493765e-3f
                                        + r2 * 2.443315711809948e-5f)));
                int qi = (int)q;
                float s1 = (qi & 1) ? cs : sn;
                float c1 = (qi & 1) ? sn : cs;
                sr[c] = (qi & 2) ? -s1 : s1;
                cr[c] = ((qi + 1) & 2) ? -c1 : c1;
            }
            uint16_t *o = basis + ((int64_t)p * 4 + k) * amp;
            for (int c = 0; c < a2; c++) {
                o[c] = f2bf(bf2f(t[c]) * cr[c]);
                o[a2 + c] = f2bf(bf2f(t[a2 + c]) * sr[c]);
            }
            const uint8_t *g = rgb + idx * 3;
            sk[0] += wk[k] * g[0];
            sk[1] += wk[k] * g[1];
            sk[2] += wk[k] * g[2];
            wts[(int64_t)p * 4 + k] = wk[k];
        }
        skip[(int64_t)p * 3 + 0] = sk[0] * (1.0f / 255.0f);
        skip[(int64_t)p * 3 + 1] = sk[1] * (1.0f / 255.0f);
        skip[(int64_t)p * 3 + 2] = sk[2] * (1.0f / 255.0f);
    }
}

void resvr_basis(const uint16_t *table, const uint8_t *rgb, int h, int w, int a2,
                 const float *x, const float *y, const float *shape, const float *wp, int n,
                 uint16_t *basis, float *wts, float *skip, int nthreads)
{
    #pragma omp parallel for schedule(static) num_threads(nthreads)
    for (int p = 0; p < n; p++)
        one_pixel(table, rgb, h, w, a2, x, y, shape, wp, p, basis, wts, skip);
}

/* ======================================================================== the whole view
 * resvr_view renders a viewport in one call: per band of viewport rows, one float64 back-map
 * of each pixel (a rolling window of three rows serves both the lookup coordinates and the
 * 9-point pixel shape), then blocks of 16 pixels through the per-neighbour chain (gather,
 * phase, sin/cos, amplitude -> bf16 basis in L1), the hidden layers as bf16 GEMMs in 32 x 32
 * output blocks (AMX tiles where the compiler targets AMX-BF16 and the process may use them,
 * else AVX512-BF16 dot products) with bias + ReLU in AVX-512, the blend sum_k w_k h_k of the last
 * hidden layer, the last layer and the bilinear skip. Nothing per neighbour leaves the L1/L2
 * cache and there is one OpenMP region per view. Built where the compiler targets AVX512-BF16;
 * resvr_view_isa() says which hidden-layer kernel runs (Linux arch_prctl for the tiles).
 */
#if defined(__AVX512F__) && defined(__AVX512BF16__)
#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
#define RESVR_AMX 1
#endif
#include <immintrin.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define XFEATURE_XTILEDATA 18
#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define HMAX 96            /* hidden width: at most 6 C tiles of 16 columns */
#define AMAX 256           /* amp */

/* Which hidden-layer kernel resvr_view runs here: 2 AMX tiles (this process may use them: Linux
 * arch_prctl), 1 AVX512-BF16 dot products (vdpbf16ps; e.g. AMD Zen 4/5, or AMX refused), 0 none. */
int resvr_view_isa(void)
{
#ifdef RESVR_AMX
    unsigned long bits = 0;
    if (!syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)
        && !syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bits) && ((bits >> XFEATURE_XTILEDATA) & 1))
        return 2;
#endif
    return 1;
}

typedef struct {
    uint8_t palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg_t;

#ifdef RESVR_AMX
static void tiles_on(void)
{
    tilecfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int i = 0; i < 8; i++) { cfg.colsb[i] = 64; cfg.rows[i] = 16; }
    _tile_loadconfig(&cfg);
}

/* One layer on the 64 rows of a block (4 neighbours x 16 pixels): A (64 x K bf16, row stride 2K
 * bytes) x B, B packed by vr_fast as [K/32][nt][16 rows][16 cols][2] (AMX's VNNI layout), nt
 * even, in output blocks of 32 x 32: tmm0-3 accumulate, tmm4-5 hold two A tiles (rows), tmm6-7
 * two B tiles (columns), so every tile loaded feeds two products. Each 32 x 32 block goes
 * through ``epi`` (bias, ReLU, ...) from a 4 KB scratch while it is in L1. */
#define AMX_LAYER(A, K, B, nt, ...)                                                           \
    for (int nb = 0; nb < (nt); nb += 2)                                                      \
        for (int mb = 0; mb < 64; mb += 32) {                                                 \
            const uint16_t *a_ = (A) + (int64_t)mb * (K);                                     \
            _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);                       \
            for (int kt = 0; kt < (K) / 32; kt++) {                                           \
                const uint16_t *b_ = (B) + ((int64_t)kt * (nt) + nb) * 512;                   \
                _tile_loadd(4, a_ + kt * 32, 2 * (K));                                        \
                _tile_loadd(6, b_, 64);                                                       \
                _tile_dpbf16ps(0, 4, 6);                                                      \
                _tile_loadd(5, a_ + 16 * (K) + kt * 32, 2 * (K));                             \
                _tile_dpbf16ps(2, 5, 6);                                                      \
                _tile_loadd(7, b_ + 512, 64);                                                 \
                _tile_dpbf16ps(1, 4, 7);                                                      \
                _tile_dpbf16ps(3, 5, 7);                                                      \
            }                                                                                 \
            _tile_stored(0, T, 128);                                                          \
            _tile_stored(1, T + 16, 128);                                                     \
            _tile_stored(2, T + 512, 128);                                                    \
            _tile_stored(3, T + 512 + 16, 128);                                               \
            __VA_ARGS__                                                                       \
        }

#endif /* RESVR_AMX */

/* The same 32 x 32 output blocks as AMX_LAYER, with AVX512-BF16 dot products: eight rows at a
 * time (16 accumulators: 8 rows x 2 column tiles), each k pair of A broadcast against the packed
 * B row of that pair (AMX's VNNI layout is vdpbf16ps's: 16 columns x 2), stored to the same T. */
#define AVX_LAYER(A, K, B, nt, ...)                                                           \
    for (int nb = 0; nb < (nt); nb += 2)                                                      \
        for (int mb = 0; mb < 64; mb += 32) {                                                 \
            for (int m8 = 0; m8 < 32; m8 += 8) {                                              \
                const uint16_t *a_ = (A) + (int64_t)(mb + m8) * (K);                          \
                __m512 c0[8], c1[8];                                                          \
                for (int i = 0; i < 8; i++) { c0[i] = _mm512_setzero_ps(); c1[i] = c0[i]; }   \
                for (int kp = 0; kp < (K) / 2; kp++) {                                        \
                    const uint16_t *b_ = (B) + ((int64_t)((kp >> 4) * (nt) + nb) * 16 + (kp & 15)) * 32; \
                    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b_);                     \
                    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b_ + 512);               \
                    for (int i = 0; i < 8; i++) {                                             \
                        int32_t pr;                                                           \
                        memcpy(&pr, a_ + (int64_t)i * (K) + 2 * kp, 4);                       \
                        const __m512bh av = (__m512bh)_mm512_set1_epi32(pr);                  \
                        c0[i] = _mm512_dpbf16_ps(c0[i], av, b0);                              \
                        c1[i] = _mm512_dpbf16_ps(c1[i], av, b1);                              \
                    }                                                                         \
                }                                                                             \
                for (int i = 0; i < 8; i++) {                                                 \
                    _mm512_store_ps(T + 32 * (m8 + i), c0[i]);                                \
                    _mm512_store_ps(T + 32 * (m8 + i) + 16, c1[i]);                           \
                }                                                                             \
            }                                                                                 \
            __VA_ARGS__                                                                       \
        }

#ifdef RESVR_AMX
#define LAYER(A, K, B, nt, ...) if (amx) { AMX_LAYER(A, K, B, nt, __VA_ARGS__) } \
                                else { AVX_LAYER(A, K, B, nt, __VA_ARGS__) }
#else
#define LAYER(A, K, B, nt, ...) { AVX_LAYER(A, K, B, nt, __VA_ARGS__) }
#endif

static inline __m512 ld_bf16(const uint16_t *p)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

static inline void st_bf16(uint16_t *p, __m512 v)
{
    __m256bh b = _mm512_cvtneps_pbh(v);
    _mm256_storeu_si256((__m256i *)p, (__m256i)b);
}

/* sin and cos of 16 float32 phases: quadrant reduction (pi/2 in two constants), minimax
 * polynomials on [-pi/4, pi/4] (the scalar kernel's, error about 1e-7 for |a| < 1e4) */
static inline void sincos16(__m512 a, __m512 *s, __m512 *c)
{
    __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(a, _mm512_set1_ps(0.63661977236758134f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(q, _mm512_set1_ps(1.5707963705062866f), a);
    r = _mm512_fmadd_ps(q, _mm512_set1_ps(4.371139000186241e-08f), r);
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 ps = _mm512_fmadd_ps(r2, _mm512_set1_ps(-1.9515295891e-4f), _mm512_set1_ps(8.3321608736e-3f));
    ps = _mm512_fmadd_ps(r2, ps, _mm512_set1_ps(-1.6666654611e-1f));
    __m512 sn = _mm512_fmadd_ps(_mm512_mul_ps(r, r2), ps, r);
    __m512 pc = _mm512_fmadd_ps(r2, _mm512_set1_ps(2.443315711809948e-5f), _mm512_set1_ps(-1.388731625493765e-3f));
    pc = _mm512_fmadd_ps(r2, pc, _mm512_set1_ps(4.166664568298827e-2f));
    pc = _mm512_fmadd_ps(r2, pc, _mm512_set1_ps(-0.5f));
    __m512 cs = _mm512_fmadd_ps(r2, pc, _mm512_set1_ps(1.0f));
    __m512i qi = _mm512_cvtps_epi32(q);
    __mmask16 odd = _mm512_test_epi32_mask(qi, _mm512_set1_epi32(1));
    __mmask16 sneg = _mm512_test_epi32_mask(qi, _mm512_set1_epi32(2));
    __mmask16 cneg = _mm512_test_epi32_mask(_mm512_add_epi32(qi, _mm512_set1_epi32(1)), _mm512_set1_epi32(2));
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    __m512i s1 = _mm512_castps_si512(_mm512_mask_blend_ps(odd, sn, cs));
    __m512i c1 = _mm512_castps_si512(_mm512_mask_blend_ps(odd, cs, sn));
    *s = _mm512_castsi512_ps(_mm512_mask_xor_epi32(s1, sneg, s1, sign));
    *c = _mm512_castsi512_ps(_mm512_mask_xor_epi32(c1, cneg, c1, sign));
}

/* the view: geo = {R (3x3, row-major, camera -> world), fx, fy, projection}; viewport vw x vh */
typedef struct {
    double R[9], fx, fy;
    int vw, vh, h, w, kind, proj;   /* proj: 0 rectilinear, 1 stereographic, 2 fisheye */
} view_t;

/* back-map viewport pixel (col, row) (continuous indices): lon, lat, sin lat, cos lat */
static inline void backmap(const view_t *v, double col, double row, double *g)
{
    double dx = (col + 0.5 - v->vw / 2.0) / v->fx, dy = -(row + 0.5 - v->vh / 2.0) / v->fy, dz = 1.0;
    if (v->proj) {                       /* geometry._curved_rays */
        const double rho = sqrt(dx * dx + dy * dy);
        const double theta = v->proj == 1 ? 2.0 * atan(rho / 2.0) : rho;
        const double k = rho > 1e-12 ? sin(theta) / rho : 1.0;
        dx *= k; dy *= k; dz = cos(theta);
    }
    const double X = v->R[0] * dx + v->R[1] * dy + v->R[2] * dz;
    const double Y = v->R[3] * dx + v->R[4] * dy + v->R[5] * dz;
    const double Z = v->R[6] * dx + v->R[7] * dy + v->R[8] * dz;
    double n = sqrt(X * X + Y * Y + Z * Z);
    if (n < 1e-30) n = 1e-30;
    double s = Y / n;
    if (s > 1.0) s = 1.0;
    if (s < -1.0) s = -1.0;
    g[0] = atan2(X, Z);
    g[1] = asin(s);
    g[2] = s;
    g[3] = sqrt(X * X + Z * Z) / n;
}

static inline double wrap_pi(double x)    /* torch.remainder(x + pi, 2 pi) - pi for |x| < 3 pi */
{
    double t = x + M_PI;
    if (t < 0) t += 2 * M_PI;
    else if (t >= 2 * M_PI) t -= 2 * M_PI;
    return t - M_PI;
}

/* D(a, b) of core/shape.py: ssr (on the sphere; cos of the mean latitude from the two points'
 * sin/cos by the half-angle identity) or 2d (on the ERP plane) */
static inline void dif(const double *a, const double *b, int kind, double *d)
{
    if (kind == 0) {
        double c2 = 0.5 * (1.0 + a[3] * b[3] - a[2] * b[2]);
        d[0] = a[1] - b[1];
        d[1] = wrap_pi(a[0] - b[0]) * sqrt(c2 > 0 ? c2 : 0);
    } else {
        d[0] = -(a[1] - b[1]);
        d[1] = wrap_pi(a[0]) - wrap_pi(b[0]);
    }
}

/* lookup coordinates (float32, as lonlat_to_erp(...).float()) and the 10 shape values of the
 * pixels of one viewport row from the back-maps of rows r-1, r, r+1 (each w+2 columns from -1) */
static void row_geometry(const view_t *v, const double *g0, const double *g1, const double *g2,
                         float *x, float *y, float *s)
{
    const double sc = v->h / M_PI;
    for (int c = 0; c < v->vw; c++) {
        const double *p1 = g0 + 4 * c, *p2 = p1 + 4, *p3 = p1 + 8;
        const double *p4 = g1 + 4 * c, *p5 = p4 + 4, *p6 = p4 + 8;
        const double *p7 = g2 + 4 * c, *p8 = p7 + 4, *p9 = p7 + 8;
        double a[2], b[2], o[10];
        dif(p6, p4, v->kind, a); o[0] = a[0]; o[1] = a[1];
        dif(p2, p8, v->kind, a); o[2] = a[0]; o[3] = a[1];
        dif(p6, p5, v->kind, a); dif(p5, p4, v->kind, b); o[4] = a[0] - b[0]; o[5] = a[1] - b[1];
        dif(p2, p5, v->kind, a); dif(p5, p8, v->kind, b); o[6] = a[0] - b[0]; o[7] = a[1] - b[1];
        dif(p3, p1, v->kind, a); dif(p9, p7, v->kind, b); o[8] = a[0] - b[0]; o[9] = a[1] - b[1];
        for (int k = 0; k < 10; k++) s[10 * c + k] = (float)(o[k] * sc);
        x[c] = (float)((wrap_pi(p5[0]) / (2 * M_PI) + 0.5) * v->w);
        y[c] = (float)((0.5 - p5[1] / M_PI) * v->h);
    }
}

static void backmap_row(const view_t *v, int r, double *g)
{
    for (int c = -1; c <= v->vw; c++)
        backmap(v, (double)c, (double)r, g + 4 * (c + 1));
}

/* the geometry alone (for the tests): lookup coordinates x, y and shapes s (10 per pixel) of
 * viewport rows [r0, r1), each row as resvr_view computes it */
void resvr_view_geometry(const double *geo, int vw, int vh, int h, int w, int kind, int r0, int r1,
                         float *x, float *y, float *s)
{
    view_t v;
    memcpy(v.R, geo, 9 * sizeof(double));
    v.fx = geo[9]; v.fy = geo[10]; v.proj = (int)geo[11]; v.vw = vw; v.vh = vh; v.h = h; v.w = w; v.kind = kind;
    double *g = malloc(sizeof(double) * 12 * (vw + 2));
    for (int r = r0; r < r1; r++) {
        for (int i = 0; i < 3; i++)
            backmap_row(&v, r - 1 + i, g + 4 * i * (vw + 2));
        const int64_t o = (int64_t)(r - r0) * vw;
        row_geometry(&v, g, g + 4 * (vw + 2), g + 8 * (vw + 2), x + o, y + o, s + 10 * o);
    }
    free(g);
}


/* marks the tiles of tile row ty that hold the LR columns [c0, c1] (unwrapped, c0 <= c1) */
static void mark_cols(uint8_t *need, int ty, int c0, int c1, int w, int TC, int ntx)
{
    uint8_t *row = need + (int64_t)ty * ntx;
    if (c1 - c0 + 1 >= w) {
        memset(row, 1, ntx);
        return;
    }
    const int a = ((c0 % w) + w) % w, b = a + (c1 - c0);
    for (int t = a / TC; t <= (b < w ? b : w - 1) / TC; t++)
        row[t] = 1;
    for (int t = 0; b >= w && t <= (b - w) / TC; t++)
        row[t] = 1;
}

/* Marks the table tiles (TR x TC LR pixels, ntx per tile row) that a view's neighbours may touch:
 * a superset of those of VRModule._neighbours, from one back-map per TB x TB block of pixels
 * instead of one per pixel. Every projection maps the image plane ((col + 1/2 - vw/2) / fx,
 * -(row + 1/2 - vh/2) / fy) onto the sphere with a scale of at most 1 (rectilinear: the ray is
 * p/|p| with |p| >= 1; stereographic and fisheye: d theta/d rho <= 1 and sin theta / rho <= 1),
 * so every ray of a block lies within the angle a = (the block's largest plane offset from its
 * centre) of the centre's ray: its lookup is in that spherical cap, whose latitudes are
 * lat +- a and longitudes lon +- asin(sin a / cos lat) (all of them when the cap holds a pole).
 * The cap's LR box, widened by TILE_EPS for float32 rounding, gives the neighbour rows and
 * columns (reflected across the poles as neighbours() does). */
#define TB 8
#define TILE_EPS 0.01
void resvr_view_tiles(const double *geo, int vw, int vh, int h, int w, int kind, int TR, int TC, int ntx,
                      uint8_t *need, int nthreads)
{
    view_t v;
    memcpy(v.R, geo, 9 * sizeof(double));
    v.fx = geo[9]; v.fy = geo[10]; v.proj = (int)geo[11]; v.vw = vw; v.vh = vh; v.h = h; v.w = w; v.kind = kind;
    const int nbr = (vh + TB - 1) / TB, nbc = (vw + TB - 1) / TB;
    #pragma omp parallel for schedule(dynamic, 4) num_threads(nthreads)
    for (int b = 0; b < nbr * nbc; b++) {
        const int r0 = b / nbc * TB, c0 = b % nbc * TB;
        const int r1 = r0 + TB < vh ? r0 + TB : vh, c1 = c0 + TB < vw ? c0 + TB : vw;
        const double rc = 0.5 * (r0 + r1 - 1), cc = 0.5 * (c0 + c1 - 1);
        double g[4];
        backmap(&v, cc, rc, g);
        const double ox = (c1 - 1 - cc) / fabs(v.fx), oy = (r1 - 1 - rc) / fabs(v.fy);
        const double a = sqrt(ox * ox + oy * oy) * (1.0 + 1e-9) + 1e-12;
        /* rows: y = (1/2 - lat/pi) h, neighbours floor(y - 1/2) and the next */
        const double ylo = (0.5 - (g[1] + a) / M_PI) * h, yhi = (0.5 - (g[1] - a) / M_PI) * h;
        const int iy0 = (int)floor(ylo - 0.5 - TILE_EPS), iy1 = (int)floor(yhi - 0.5 + TILE_EPS) + 1;
        /* columns: x = (lon / 2 pi + 1/2) w, unwrapped; all of them when the cap holds a pole */
        int ix0 = 0, ix1 = w;
        if (fabs(g[1]) + a < M_PI / 2 && sin(a) < g[3]) {
            const double dl = asin(sin(a) / g[3]);
            ix0 = (int)floor((g[0] - dl) / (2 * M_PI) * w + 0.5 * w - 0.5 - TILE_EPS);
            ix1 = (int)floor((g[0] + dl) / (2 * M_PI) * w + 0.5 * w - 0.5 + TILE_EPS) + 1;
        }
        for (int iy = iy0; iy <= iy1; iy++) {
            int ry = iy, shift = 0;
            if (ry < 0) { ry = -1 - ry; shift = w / 2; }
            else if (ry >= h) { ry = 2 * h - 1 - ry; shift = w / 2; }
            if (ry < 0) ry = 0;
            if (ry >= h) ry = h - 1;
            mark_cols(need, ry / TR, ix0 + shift, ix1 + shift, w, TC, ntx);
        }
    }
}

/* Render rows of a view. table (h*w, 2*amp) bf16 [amp | dy | dx]; rgb (h*w, 3) uint8;
 * wpT (10, amp/2) float32 = (pi * h_p.weight)^T; nl hidden layers of width hid, packed
 * (vr_fast.pack_amx) one after another in Bp, biases (nl, hid) float32; W3 (3, hid), b3 (3)
 * float32; out (vh, vw, 3) float32 in [0, 1]. Returns 0, or -1 for an unsupported shape. */
int resvr_view(const double *geo, int vw, int vh, int kind, const uint16_t *table, const uint8_t *rgb,
               int h, int w, int amp, const float *wpT, int nl, int hid, const uint16_t *Bp,
               const float *bias, const float *W3, const float *b3, float *out, int band, int nthreads, int isa)
{
    if (amp % 32 || amp > AMAX || hid % 32 || hid > HMAX || nl < 1 || isa < 1 || isa > 2)
        return -1;
#ifdef RESVR_AMX
    const int amx = isa == 2;
#else
    if (isa == 2)
        return -1;
#endif
    view_t v;
    memcpy(v.R, geo, 9 * sizeof(double));
    v.fx = geo[9]; v.fy = geo[10]; v.proj = (int)geo[11]; v.vw = vw; v.vh = vh; v.h = h; v.w = w; v.kind = kind;
    const int a2 = amp / 2, nt = hid / 16, row = 2 * amp;
    const int nbands = (vh + band - 1) / band;
    #pragma omp parallel num_threads(nthreads)
    {
#ifdef RESVR_AMX
        if (amx)
            tiles_on();
#endif
        double *G = malloc(sizeof(double) * 3 * 4 * (vw + 2));
        float *X = malloc(sizeof(float) * 12 * (vw + 16));
        float *Yc = X + (vw + 16), *S = X + 2 * (vw + 16);
        uint16_t *A = aligned_alloc(64, 4 * 16 * AMAX * 2);             /* basis of 4 neighbours x 16 px */
        uint16_t *H = aligned_alloc(64, 64 * HMAX * 2);                 /* bf16 activations */
        float *T = aligned_alloc(64, 32 * 32 * 4);                      /* a 32 x 32 block of a GEMM */
        float *Bl = aligned_alloc(64, 16 * HMAX * 4);                   /* blended last hidden layer */
        float PH[16][AMAX / 2] __attribute__((aligned(64)));
        float WK[16][4], SK[16][3];
        #pragma omp for schedule(dynamic, 1)
        for (int bi = 0; bi < nbands; bi++) {
            const int r0 = bi * band, r1 = r0 + band < vh ? r0 + band : vh;
            double *g[3] = {G, G + 4 * (vw + 2), G + 8 * (vw + 2)};
            backmap_row(&v, r0 - 1, g[0]);
            backmap_row(&v, r0, g[1]);
            for (int r = r0; r < r1; r++) {
                backmap_row(&v, r + 1, g[2]);
                row_geometry(&v, g[0], g[1], g[2], X, Yc, S);
                double *t = g[0]; g[0] = g[1]; g[1] = g[2]; g[2] = t;
                for (int c0 = 0; c0 < vw; c0 += 16) {
                    const int np = vw - c0 < 16 ? vw - c0 : 16;
                    /* the phase h_p(s) of each pixel, float32 */
                    for (int p = 0; p < np; p++) {
                        const float *s = S + 10 * (c0 + p);
                        for (int cb = 0; cb < a2; cb += 16) {
                            __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(wpT + cb), _mm512_set1_ps(s[0]));
                            for (int k = 1; k < 10; k++)
                                acc = _mm512_fmadd_ps(_mm512_loadu_ps(wpT + k * a2 + cb), _mm512_set1_ps(s[k]), acc);
                            _mm512_store_ps(&PH[p][cb], acc);
                        }
                    }
                    /* the basis of each neighbour, bf16, straight into the first GEMM's input */
                    for (int p = 0; p < np; p++) {
                        int64_t idx[4];
                        float dy[4], dx[4];
                        neighbours(X[c0 + p], Yc[c0 + p], h, w, idx, WK[p], dy, dx);
                        float sk[3] = {0.f, 0.f, 0.f};
                        for (int k = 0; k < 4; k++) {
                            const uint16_t *tr = table + idx[k] * row;
                            uint16_t *o = A + (k * 16 + p) * amp;
                            const __m512 vy = _mm512_set1_ps(dy[k]), vx = _mm512_set1_ps(dx[k]);
                            for (int cb = 0; cb < a2; cb += 16) {
                                __m512 ar = _mm512_fmadd_ps(ld_bf16(tr + amp + cb), vy, _mm512_load_ps(&PH[p][cb]));
                                ar = _mm512_fmadd_ps(ld_bf16(tr + amp + a2 + cb), vx, ar);
                                __m512 sn, cs;
                                sincos16(ar, &sn, &cs);
                                st_bf16(o + cb, _mm512_mul_ps(ld_bf16(tr + cb), cs));
                                st_bf16(o + a2 + cb, _mm512_mul_ps(ld_bf16(tr + a2 + cb), sn));
                            }
                            const uint8_t *gc = rgb + idx[k] * 3;
                            sk[0] += WK[p][k] * gc[0]; sk[1] += WK[p][k] * gc[1]; sk[2] += WK[p][k] * gc[2];
                        }
                        for (int j = 0; j < 3; j++) SK[p][j] = sk[j] * (1.0f / 255.0f);
                    }
                    for (int p = np; p < 16; p++)      /* a partial block: zero rows, never written out */
                        for (int k = 0; k < 4; k++) {
                            memset(A + (k * 16 + p) * amp, 0, 2 * amp);
                            WK[p][k] = 0.f;
                        }
                    /* the MLP on the 64 rows (4 neighbours x 16 pixels); the blend of the last hidden layer */
                    {
                        const uint16_t *in = A, *B = Bp;
                        int K = amp;
                        const __m512 zero = _mm512_setzero_ps();
                        for (int l = 0; l < nl; l++) {
                            const float *bl = bias + l * hid;
                            if (l + 1 < nl) {
                                LAYER(in, K, B, nt, {
                                    const __m512 b0 = _mm512_loadu_ps(bl + nb * 16), b1 = _mm512_loadu_ps(bl + nb * 16 + 16);
                                    for (int q = 0; q < 32; q++) {
                                        uint16_t *hq = H + (mb + q) * hid + nb * 16;
                                        st_bf16(hq, _mm512_max_ps(_mm512_add_ps(_mm512_load_ps(T + 32 * q), b0), zero));
                                        st_bf16(hq + 16, _mm512_max_ps(_mm512_add_ps(_mm512_load_ps(T + 32 * q + 16), b1), zero));
                                    }
                                })
                            } else {
                                LAYER(in, K, B, nt, {
                                    const __m512 b0 = _mm512_loadu_ps(bl + nb * 16), b1 = _mm512_loadu_ps(bl + nb * 16 + 16);
                                    for (int p = 0; p < 16; p++) {
                                        const int k0 = mb / 16;     /* rows q = p and 16 + p: neighbours k0, k0 + 1 */
                                        const __m512 w0 = _mm512_set1_ps(WK[p][k0]), w1 = _mm512_set1_ps(WK[p][k0 + 1]);
                                        float *bp = Bl + p * hid + nb * 16;
                                        __m512 z0 = _mm512_mul_ps(_mm512_max_ps(_mm512_add_ps(_mm512_load_ps(T + 32 * p), b0), zero), w0);
                                        __m512 z1 = _mm512_mul_ps(_mm512_max_ps(_mm512_add_ps(_mm512_load_ps(T + 32 * p + 16), b1), zero), w0);
                                        z0 = _mm512_fmadd_ps(_mm512_max_ps(_mm512_add_ps(_mm512_load_ps(T + 32 * (p + 16)), b0), zero), w1, z0);
                                        z1 = _mm512_fmadd_ps(_mm512_max_ps(_mm512_add_ps(_mm512_load_ps(T + 32 * (p + 16) + 16), b1), zero), w1, z1);
                                        if (mb) { z0 = _mm512_add_ps(z0, _mm512_load_ps(bp)); z1 = _mm512_add_ps(z1, _mm512_load_ps(bp + 16)); }
                                        _mm512_store_ps(bp, z0);
                                        _mm512_store_ps(bp + 16, z1);
                                    }
                                })
                            }
                            B += (int64_t)K * hid;
                            K = hid;
                            in = H;
                        }
                    }
                    /* the last layer on the blend, the skip, clamp */
                    float *o = out + ((int64_t)r * vw + c0) * 3;
                    for (int p = 0; p < np; p++)
                        for (int j = 0; j < 3; j++) {
                            __m512 acc = _mm512_setzero_ps();
                            for (int q = 0; q < hid; q += 16)
                                acc = _mm512_fmadd_ps(_mm512_loadu_ps(W3 + j * hid + q), _mm512_load_ps(Bl + p * hid + q), acc);
                            float z = _mm512_reduce_add_ps(acc) + b3[j] + SK[p][j];
                            o[3 * p + j] = z < 0.f ? 0.f : (z > 1.f ? 1.f : z);
                        }
                }
            }
        }
#ifdef RESVR_AMX
        if (amx)
            _tile_release();
#endif
        free(G); free(X); free(A); free(H); free(T); free(Bl);
    }
    return 0;
}
#else
int resvr_view_isa(void) { return 0; }
int resvr_view(void) { return -1; }
void resvr_view_geometry(void) {}
void resvr_view_tiles(void) {}
#endif
