// Max and average pooling, and zero padding, over NCHW float32 for MindSpore's CPU backend, as AOT Custom operators.
//
// MindSpore 2.10's CPU MaxPool / AvgPool (pad_mode 'valid' or 'same') run oneDNN's plain-layout `simple_nchw`
// kernels, which are slow: one 8x64x114x114 3x3/2 max pool took 72 ms of a 1.32 s training step, and a network's
// pools 0.47 s of a 4.0 s step (benchmarks/RESULTS.md).  These loops take each (image, channel)
// plane in turn, parallel over planes: a window's rows are reduced first (contiguous, vectorised), then its columns.
//
//   ZooPoolForward(x, cfg) -> y
//   ZooPoolBackward(dy, x, cfg) -> dx     max: the gradient goes to the first maximum of each window (row-major, as
//                                         oneDNN's); average: spread evenly over the window's elements
// cfg: int32 [kind (0 max, 1 average), kernel_h, kernel_w, stride_h, stride_w, same].  same = 1: MindSpore's
// pad_mode 'same' (out = ceil(in / stride), the extra padding at the end, padded elements never count); 0: 'valid'.
//
// MindSpore's CPU Pad (nn.Pad, mode CONSTANT) is slower still: 173 ms of that 1.32 s step for one
// 8x64x112x112 -> 114x114 zero pad.
//   ZooPadForward(x, cfg) -> y            cfg: int32 [top, bottom, left, right], zeros around each plane
//   ZooPadBackward(dy, x, cfg) -> dx      the interior of dy
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "pool.h"

namespace {

struct PoolCfg {
  int kind, kh, kw, sh, sw, same;
};

struct Geometry {
  int64_t planes, ih, iw, oh, ow, pad_top, pad_left;
};

int64_t OutSize(int64_t in, int kernel, int stride, bool same) {
  return same ? (in + stride - 1) / stride : (in - kernel) / stride + 1;
}

int64_t PadBegin(int64_t in, int64_t out, int kernel, int stride, bool same) {
  if (!same) return 0;
  const int64_t needed = std::max<int64_t>(0, (out - 1) * stride + kernel - in);
  return needed / 2;
}

bool Float32(const char *dtype) { return std::strcmp(dtype, "float32") == 0 || std::strcmp(dtype, "float") == 0; }

// x: the NCHW input's shape (ndims 4), cfg: the configuration tensor.
bool Read(int x_ndims, const int64_t *x_shape, const char *x_dtype, int cfg_ndims, const int64_t *cfg_shape,
          const void *cfg_ptr, PoolCfg *cfg, Geometry *g) {
  if (x_ndims != 4 || !Float32(x_dtype) || cfg_ndims != 1 || cfg_shape[0] < 6) return false;
  const int32_t *v = static_cast<const int32_t *>(cfg_ptr);
  *cfg = PoolCfg{v[0], v[1], v[2], v[3], v[4], v[5]};
  if (cfg->kh < 1 || cfg->kw < 1 || cfg->sh < 1 || cfg->sw < 1) return false;
  g->planes = x_shape[0] * x_shape[1];
  g->ih = x_shape[2];
  g->iw = x_shape[3];
  g->oh = OutSize(g->ih, cfg->kh, cfg->sh, cfg->same);
  g->ow = OutSize(g->iw, cfg->kw, cfg->sw, cfg->same);
  g->pad_top = PadBegin(g->ih, g->oh, cfg->kh, cfg->sh, cfg->same);
  g->pad_left = PadBegin(g->iw, g->ow, cfg->kw, cfg->sw, cfg->same);
  return g->oh > 0 && g->ow > 0;
}

// The input rows [begin, end) and columns of output (oh, ow), clipped to the input.
struct Window {
  int64_t h0, h1, w0, w1;
};

inline Window At(const PoolCfg &c, const Geometry &g, int64_t oh, int64_t ow) {
  const int64_t h = oh * c.sh - g.pad_top, w = ow * c.sw - g.pad_left;
  return Window{std::max<int64_t>(h, 0), std::min<int64_t>(h + c.kh, g.ih), std::max<int64_t>(w, 0),
                std::min<int64_t>(w + c.kw, g.iw)};
}

// fn(plane) for every (image, channel) plane, split over the shared pool.
template <typename F>
void ForPlanes(const Geometry &g, F fn) {
  zoo::ParallelRange(g.planes, g.planes * g.ih * g.iw, fn);
}

// The outputs of one axis that cover input index i: [lo[i], hi[i]) (for the backward's gathers).
struct Cover {
  std::vector<int64_t> lo, hi;
  Cover(int64_t in, int64_t out, int kernel, int stride, int64_t pad) : lo(in), hi(in) {
    for (int64_t i = 0; i < in; ++i) {
      const int64_t first = i + pad - kernel + 1;  // outputs o with o * stride - pad <= i < o * stride - pad + kernel
      lo[i] = std::min<int64_t>(out, std::max<int64_t>(0, first <= 0 ? 0 : (first + stride - 1) / stride));
      hi[i] = std::min<int64_t>(out, (i + pad) / stride + 1);
    }
  }
};

// One output row from the window rows reduced over every column (r): stride 1 vectorised over the interior.
void ReduceColumns(const PoolCfg &c, const Geometry &g, const float *r, float rows_in, float *out) {
  const bool is_max = c.kind == 0;
  auto one = [&](int64_t ow) {
    const Window win = At(c, g, 0, ow);
    float acc = r[win.w0];
    for (int64_t w = win.w0 + 1; w < win.w1; ++w) acc = is_max ? std::max(acc, r[w]) : acc + r[w];
    out[ow] = is_max ? acc : acc / (rows_in * static_cast<float>(win.w1 - win.w0));
  };
  // interior: outputs whose window lies inside the row
  int64_t lo = (g.pad_left + c.sw - 1) / c.sw, hi = lo;
  while (hi < g.ow && hi * c.sw - g.pad_left + c.kw <= g.iw) ++hi;
  if (c.sw != 1 || hi <= lo) {
    for (int64_t ow = 0; ow < g.ow; ++ow) one(ow);
    return;
  }
  for (int64_t ow = 0; ow < lo; ++ow) one(ow);
  const float *base = r + lo - g.pad_left;
  const float scale = 1.0f / (rows_in * static_cast<float>(c.kw));
  if (is_max) {
#pragma omp simd
    for (int64_t ow = lo; ow < hi; ++ow) out[ow] = base[ow - lo];
    for (int j = 1; j < c.kw; ++j) {
#pragma omp simd
      for (int64_t ow = lo; ow < hi; ++ow) out[ow] = std::max(out[ow], base[ow - lo + j]);
    }
  } else {
#pragma omp simd
    for (int64_t ow = lo; ow < hi; ++ow) out[ow] = base[ow - lo];
    for (int j = 1; j < c.kw; ++j) {
#pragma omp simd
      for (int64_t ow = lo; ow < hi; ++ow) out[ow] += base[ow - lo + j];
    }
#pragma omp simd
    for (int64_t ow = lo; ow < hi; ++ow) out[ow] *= scale;
  }
  for (int64_t ow = hi; ow < g.ow; ++ow) one(ow);
}

void ForwardPlane(const PoolCfg &c, const Geometry &g, const float *x, float *y, std::vector<float> *rows) {
  const bool is_max = c.kind == 0;
  rows->resize(g.iw);
  float *r = rows->data();
  for (int64_t oh = 0; oh < g.oh; ++oh) {
    const Window rw = At(c, g, oh, 0);
    // reduce the window's rows over every column
    std::memcpy(r, x + rw.h0 * g.iw, sizeof(float) * g.iw);
    for (int64_t h = rw.h0 + 1; h < rw.h1; ++h) {
      const float *p = x + h * g.iw;
      if (is_max) {
#pragma omp simd
        for (int64_t w = 0; w < g.iw; ++w) r[w] = std::max(r[w], p[w]);
      } else {
#pragma omp simd
        for (int64_t w = 0; w < g.iw; ++w) r[w] += p[w];
      }
    }
    ReduceColumns(c, g, r, static_cast<float>(rw.h1 - rw.h0), y + oh * g.ow);
  }
}

// Max: the gradient of each output goes to the first maximum of its window in row-major order (as oneDNN's).  The
// window's rows are reduced first for every column (the maximum and the first row holding it, vectorised), then
// each output picks among its columns the largest value, on ties the smaller row, then the smaller column.
void MaxBackwardPlane(const PoolCfg &c, const Geometry &g, const float *dy, const float *x, float *dx,
                      std::vector<float> *buffer) {
  buffer->resize(2 * g.iw);
  float *top = buffer->data();
  int32_t *row = reinterpret_cast<int32_t *>(top + g.iw);
  std::memset(dx, 0, sizeof(float) * g.ih * g.iw);
  for (int64_t oh = 0; oh < g.oh; ++oh) {
    const Window rw = At(c, g, oh, 0);
    std::memcpy(top, x + rw.h0 * g.iw, sizeof(float) * g.iw);
    const int32_t first = static_cast<int32_t>(rw.h0);
#pragma omp simd
    for (int64_t w = 0; w < g.iw; ++w) row[w] = first;
    for (int64_t h = rw.h0 + 1; h < rw.h1; ++h) {
      const float *p = x + h * g.iw;
      const int32_t hh = static_cast<int32_t>(h);
#pragma omp simd
      for (int64_t w = 0; w < g.iw; ++w) {
        const bool larger = p[w] > top[w];
        top[w] = larger ? p[w] : top[w];
        row[w] = larger ? hh : row[w];
      }
    }
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const Window win = At(c, g, oh, ow);
      int64_t best = win.w0;
      for (int64_t w = win.w0 + 1; w < win.w1; ++w)
        if (top[w] > top[best] || (top[w] == top[best] && row[w] < row[best])) best = w;
      dx[row[best] * g.iw + best] += dy[oh * g.ow + ow];
    }
  }
}

// Average: dx[h][w] = sum of dy[o] / count[o] over the outputs o whose window holds (h, w), gathered one axis at a
// time (t: each output row spread over the input columns; then the input rows sum the output rows covering them).
void AvgBackwardPlane(const PoolCfg &c, const Geometry &g, const Cover &rows, const Cover &cols, const float *dy,
                      float *dx, std::vector<float> *buffer) {
  buffer->resize(g.oh * g.iw + g.ow);
  float *t = buffer->data(), *share = t + g.oh * g.iw;
  for (int64_t oh = 0; oh < g.oh; ++oh) {
    const Window rw = At(c, g, oh, 0);
    const float rows_in = static_cast<float>(rw.h1 - rw.h0);
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const Window win = At(c, g, oh, ow);
      share[ow] = dy[oh * g.ow + ow] / (rows_in * static_cast<float>(win.w1 - win.w0));
    }
    float *trow = t + oh * g.iw;
    for (int64_t w = 0; w < g.iw; ++w) {
      float acc = 0.0f;
      for (int64_t o = cols.lo[w]; o < cols.hi[w]; ++o) acc += share[o];
      trow[w] = acc;
    }
  }
  for (int64_t h = 0; h < g.ih; ++h) {
    float *q = dx + h * g.iw;
    if (rows.lo[h] >= rows.hi[h]) {
      std::memset(q, 0, sizeof(float) * g.iw);
      continue;
    }
    std::memcpy(q, t + rows.lo[h] * g.iw, sizeof(float) * g.iw);
    for (int64_t o = rows.lo[h] + 1; o < rows.hi[h]; ++o) {
      const float *p = t + o * g.iw;
#pragma omp simd
      for (int64_t w = 0; w < g.iw; ++w) q[w] += p[w];
    }
  }
}

struct PadGeometry {
  int64_t planes, ih, iw, top, left, oh, ow;
};

bool ReadPad(int x_ndims, const int64_t *x_shape, const char *x_dtype, int cfg_ndims, const int64_t *cfg_shape,
             const void *cfg_ptr, PadGeometry *g) {
  if (x_ndims != 4 || !Float32(x_dtype) || cfg_ndims != 1 || cfg_shape[0] < 4) return false;
  const int32_t *v = static_cast<const int32_t *>(cfg_ptr);
  if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0) return false;
  *g = PadGeometry{x_shape[0] * x_shape[1], x_shape[2], x_shape[3], v[0], v[2], x_shape[2] + v[0] + v[1],
                   x_shape[3] + v[2] + v[3]};
  return true;
}

}  // namespace

extern "C" {

int ZooPadForward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  PadGeometry g;
  if (nparam != 3 || !ReadPad(ndims[0], shapes[0], dtypes[0], ndims[1], shapes[1], params[1], &g) ||
      !Float32(dtypes[2]))
    return 1;
  const float *x = static_cast<const float *>(params[0]);
  float *y = static_cast<float *>(params[2]);
  zoo::ParallelRange(g.planes, g.planes * g.oh * g.ow, [&](int64_t p) {
    const float *src = x + p * g.ih * g.iw;
    float *dst = y + p * g.oh * g.ow;
    std::memset(dst, 0, sizeof(float) * g.top * g.ow);
    for (int64_t h = 0; h < g.ih; ++h) {
      float *row = dst + (g.top + h) * g.ow;
      std::memset(row, 0, sizeof(float) * g.left);
      std::memcpy(row + g.left, src + h * g.iw, sizeof(float) * g.iw);
      std::memset(row + g.left + g.iw, 0, sizeof(float) * (g.ow - g.left - g.iw));
    }
    std::memset(dst + (g.top + g.ih) * g.ow, 0, sizeof(float) * (g.oh - g.top - g.ih) * g.ow);
  });
  return 0;
}

int ZooPadBackward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  PadGeometry g;
  if (nparam != 4 || !ReadPad(ndims[1], shapes[1], dtypes[1], ndims[2], shapes[2], params[2], &g) ||
      !Float32(dtypes[0]) || !Float32(dtypes[3]) || ndims[0] != 4 || shapes[0][2] != g.oh || shapes[0][3] != g.ow)
    return 1;
  const float *dy = static_cast<const float *>(params[0]);
  float *dx = static_cast<float *>(params[3]);
  zoo::ParallelRange(g.planes, g.planes * g.ih * g.iw, [&](int64_t p) {
    const float *src = dy + p * g.oh * g.ow + g.top * g.ow + g.left;
    float *dst = dx + p * g.ih * g.iw;
    for (int64_t h = 0; h < g.ih; ++h) std::memcpy(dst + h * g.iw, src + h * g.ow, sizeof(float) * g.iw);
  });
  return 0;
}

int ZooPoolForward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  PoolCfg c;
  Geometry g;
  if (nparam != 3 || !Read(ndims[0], shapes[0], dtypes[0], ndims[1], shapes[1], params[1], &c, &g) ||
      !Float32(dtypes[2]))
    return 1;
  const float *x = static_cast<const float *>(params[0]);
  float *y = static_cast<float *>(params[2]);
  ForPlanes(g, [&](int64_t p) {
    thread_local std::vector<float> rows;
    ForwardPlane(c, g, x + p * g.ih * g.iw, y + p * g.oh * g.ow, &rows);
  });
  return 0;
}

int ZooPoolBackward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  PoolCfg c;
  Geometry g;
  if (nparam != 4 || !Read(ndims[1], shapes[1], dtypes[1], ndims[2], shapes[2], params[2], &c, &g) ||
      !Float32(dtypes[0]) || !Float32(dtypes[3]) || ndims[0] != 4 || shapes[0][2] != g.oh || shapes[0][3] != g.ow)
    return 1;
  const float *dy = static_cast<const float *>(params[0]), *x = static_cast<const float *>(params[1]);
  float *dx = static_cast<float *>(params[3]);
  if (c.kind == 0) {
    ForPlanes(g, [&](int64_t p) {
      thread_local std::vector<float> buffer;
      MaxBackwardPlane(c, g, dy + p * g.oh * g.ow, x + p * g.ih * g.iw, dx + p * g.ih * g.iw, &buffer);
    });
    return 0;
  }
  const Cover rows(g.ih, g.oh, c.kh, c.sh, g.pad_top), cols(g.iw, g.ow, c.kw, c.sw, g.pad_left);
  ForPlanes(g, [&](int64_t p) {
    thread_local std::vector<float> buffer;
    AvgBackwardPlane(c, g, rows, cols, dy + p * g.oh * g.ow, dx + p * g.ih * g.iw, &buffer);
  });
  return 0;
}
}
