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
        float fx = floorf(x[p] - 0.5f), fy = floorf(y[p] - 0.5f);
        float tx = x[p] - 0.5f - fx, ty = y[p] - 0.5f - fy;
        float wk[4] = {(1 - tx) * (1 - ty), tx * (1 - ty), (1 - tx) * ty, tx * ty};
        float sk[3] = {0.f, 0.f, 0.f};
        for (int k = 0; k < 4; k++) {
            int ix = (int)fx + (k & 1), iy = (int)fy + (k >> 1);
            if (iy < 0) { iy = -1 - iy; ix += w / 2; }
            else if (iy >= h) { iy = 2 * h - 1 - iy; ix += w / 2; }
            ix %= w;
            if (ix < 0) ix += w;
            if (iy < 0) iy = 0;            /* a view cannot reach further than one row past a pole */
            if (iy >= h) iy = h - 1;
            const int64_t idx = (int64_t)iy * w + ix;
            const uint16_t *t = table + idx * row;
            const float dy = (float)M_PI * (ty - (float)(k >> 1));
            const float dx = (float)M_PI * (tx - (float)(k & 1));
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
