// Batch normalization over NCHW float32 for MindSpore's CPU backend, as AOT Custom operators.
//
// MindSpore 2.10's CPU BatchNorm runs oneDNN's plain-layout `ncsp_bnorm`, which is slow, most of all on small
// feature maps (a 32x224x3x3 forward took 40-50 ms on 2 cores: benchmarks/RESULTS.md).  These loops are two
// passes over the data per direction, parallel over channels, with double accumulators.
//
//   ZooBatchNormTrain(x, gamma, beta, moving_mean, moving_var, cfg) -> (y, batch_mean, batch_var)
//       batch_var is biased (1/M); moving_mean and moving_var are updated in place (the operator has MindSpore's
//       side_effect_mem, as its BatchNorm): moving = moving * (1 - momentum) + batch * momentum, the variance
//       unbiased (M / (M - 1)).  cfg: float32 [eps, momentum, 1 - momentum].
//   ZooBatchNormGrad(dy, x, gamma, batch_mean, batch_var, eps) -> (dx, dgamma, dbeta)
//   ZooBatchNormInfer(x, gamma, beta, mean, var, eps) -> y
// and the same followed by a ReLU, in the same passes over the data (a batch norm whose output only feeds a ReLU:
// model_zoo/engine/kernels/fastconv.py, fuse()); the gradient takes the forward's output y for the ReLU's mask:
//   ZooBatchNormReluTrain(x, gamma, beta, moving_mean, moving_var, cfg) -> (y, batch_mean, batch_var)
//   ZooBatchNormReluGrad(dy, x, gamma, batch_mean, batch_var, eps, y) -> (dx, dgamma, dbeta)
//   ZooBatchNormReluInfer(x, gamma, beta, mean, var, eps) -> y
// x: (N, C, H, W); gamma, beta, means, variances: (C,); eps: float32, the first element of its tensor (cfg).
// M = N * H * W.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "pool.h"

namespace {

struct Dims {
  int64_t n, c, hw;
};

bool Float32(int nparam, const char **dtypes) {
  for (int p = 0; p < nparam; ++p)
    if (std::strcmp(dtypes[p], "float32") != 0 && std::strcmp(dtypes[p], "float") != 0) return false;
  return true;
}

bool ReadDims(int ndims, const int64_t *shape, Dims *d) {
  if (ndims != 4) return false;
  d->n = shape[0];
  d->c = shape[1];
  d->hw = shape[2] * shape[3];
  return true;
}

// y = x * scale + shift (then max(y, 0) with RELU) over one channel of every image.
template <bool RELU>
void ScaleShift(const float *x, float *y, const Dims &d, int64_t c, float scale, float shift) {
  for (int64_t n = 0; n < d.n; ++n) {
    const float *p = x + (n * d.c + c) * d.hw;
    float *q = y + (n * d.c + c) * d.hw;
    if (RELU) {
#pragma omp simd
      for (int64_t i = 0; i < d.hw; ++i) q[i] = std::max(p[i] * scale + shift, 0.0f);
    } else {
#pragma omp simd
      for (int64_t i = 0; i < d.hw; ++i) q[i] = p[i] * scale + shift;
    }
  }
}

// The ReLU's gradient: g where the forward output y is positive, else exactly 0 (even for an inf or NaN g, as
// MindSpore's ReluGrad); a bit mask, so that the loops around it vectorise.
inline float Masked(float g, float y) {
  uint32_t bits;
  std::memcpy(&bits, &g, sizeof(bits));
  bits &= -static_cast<uint32_t>(y > 0.0f);
  float out;
  std::memcpy(&out, &bits, sizeof(out));
  return out;
}

// An operator's tensors in MindSpore's order (inputs, then outputs): `count` float32 tensors, the first (N, C, H, W).
struct Args {
  void **params;
  Dims d;
  bool ok;
  Args(int nparam, int count, void **p, const int *ndims, int64_t **shapes, const char **dtypes)
      : params(p), d{0, 0, 0}, ok(nparam == count && Float32(nparam, dtypes) && ReadDims(ndims[0], shapes[0], &d)) {}
  const float *in(int i) const { return static_cast<const float *>(params[i]); }
  float *out(int i) const { return static_cast<float *>(params[i]); }
};

// Run fn(c) for every channel, split over the pool (inline when the tensor is small).
template <typename F>
void ForChannels(const Dims &d, F fn) {
  zoo::ParallelRange(d.c, d.n * d.c * d.hw, fn);
}

// The operator's arguments checked (`count` float32 tensors, the first NCHW), then body(args, c) for every channel.
template <typename F>
int PerChannel(int nparam, int count, void **params, const int *ndims, int64_t **shapes, const char **dtypes, F body) {
  const Args a(nparam, count, params, ndims, shapes, dtypes);
  if (!a.ok) return 1;
  ForChannels(a.d, [&](int64_t c) { body(a, c); });
  return 0;
}

template <bool RELU>
int Train(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  return PerChannel(nparam, 9, params, ndims, shapes, dtypes, [](const Args &a, int64_t c) {
    const Dims &d = a.d;
    const float *x = a.in(0), *gamma = a.in(1), *beta = a.in(2), *cfg = a.in(5);
    const double eps = cfg[0], count = static_cast<double>(d.n * d.hw);
    float *moving_mean = a.out(3), *moving_var = a.out(4);  // inputs updated in place
    float *y = a.out(6), *mean_out = a.out(7), *var_out = a.out(8);
    double sum = 0.0;
    for (int64_t n = 0; n < d.n; ++n) {
      const float *p = x + (n * d.c + c) * d.hw;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < d.hw; ++i) sum += p[i];
    }
    const double mean = sum / count;
    double sq = 0.0;
    for (int64_t n = 0; n < d.n; ++n) {
      const float *p = x + (n * d.c + c) * d.hw;
#pragma omp simd reduction(+ : sq)
      for (int64_t i = 0; i < d.hw; ++i) {
        const double v = p[i] - mean;
        sq += v * v;
      }
    }
    const double var = sq / count;
    const double scale = gamma[c] / std::sqrt(var + eps);
    ScaleShift<RELU>(x, y, d, c, static_cast<float>(scale), static_cast<float>(beta[c] - mean * scale));
    mean_out[c] = static_cast<float>(mean);
    var_out[c] = static_cast<float>(var);
    const float unbiased = var_out[c] * static_cast<float>(count / std::max(count - 1.0, 1.0));
    moving_mean[c] = moving_mean[c] * cfg[2] + mean_out[c] * cfg[1];
    moving_var[c] = moving_var[c] * cfg[2] + unbiased * cfg[1];
  });
}

// With RELU, dy is first masked by the forward's output (params[6]): the ReLU's gradient.
template <bool RELU>
int Grad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  return PerChannel(nparam, RELU ? 10 : 9, params, ndims, shapes, dtypes, [](const Args &a, int64_t c) {
    const Dims &d = a.d;
    const float *dy = a.in(0), *x = a.in(1), *gamma = a.in(2), *mean_in = a.in(3), *var_in = a.in(4);
    const float *y = RELU ? a.in(6) : nullptr;
    const int out = RELU ? 7 : 6;
    const double eps = *a.in(5), count = static_cast<double>(d.n * d.hw);
    float *dx = a.out(out), *dgamma = a.out(out + 1), *dbeta = a.out(out + 2);
    const double mean = mean_in[c];
    const double invstd = 1.0 / std::sqrt(static_cast<double>(var_in[c]) + eps);
    double sum_dy = 0.0, sum_dy_xc = 0.0;
    for (int64_t n = 0; n < d.n; ++n) {
      const int64_t at = (n * d.c + c) * d.hw;
      const float *g = dy + at, *p = x + at;
      if (RELU) {
        const float *o = y + at;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xc)
        for (int64_t i = 0; i < d.hw; ++i) {
          const float gi = Masked(g[i], o[i]);
          sum_dy += gi;
          sum_dy_xc += gi * (p[i] - mean);
        }
      } else {
#pragma omp simd reduction(+ : sum_dy, sum_dy_xc)
        for (int64_t i = 0; i < d.hw; ++i) {
          sum_dy += g[i];
          sum_dy_xc += g[i] * (p[i] - mean);
        }
      }
    }
    const double dg = sum_dy_xc * invstd;
    // dx = gamma * invstd * (dy - sum_dy / M - xhat * dgamma / M), xhat = (x - mean) * invstd
    const double k = gamma[c] * invstd;
    const float scale_dy = static_cast<float>(k);
    const float scale_xc = static_cast<float>(-k * dg * invstd / count);
    const float shift = static_cast<float>(-k * sum_dy / count);
    const float m = static_cast<float>(mean);
    for (int64_t n = 0; n < d.n; ++n) {
      const int64_t at = (n * d.c + c) * d.hw;
      const float *g = dy + at, *p = x + at;
      float *q = dx + at;
      if (RELU) {
        const float *o = y + at;
#pragma omp simd
        for (int64_t i = 0; i < d.hw; ++i)
          q[i] = scale_dy * Masked(g[i], o[i]) + scale_xc * (p[i] - m) + shift;
      } else {
#pragma omp simd
        for (int64_t i = 0; i < d.hw; ++i) q[i] = scale_dy * g[i] + scale_xc * (p[i] - m) + shift;
      }
    }
    dgamma[c] = static_cast<float>(dg);
    dbeta[c] = static_cast<float>(sum_dy);
  });
}

template <bool RELU>
int Infer(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  return PerChannel(nparam, 7, params, ndims, shapes, dtypes, [](const Args &a, int64_t c) {
    const float *x = a.in(0), *gamma = a.in(1), *beta = a.in(2), *mean = a.in(3), *var = a.in(4);
    const double scale = gamma[c] / std::sqrt(static_cast<double>(var[c]) + *a.in(5));
    ScaleShift<RELU>(x, a.out(6), a.d, c, static_cast<float>(scale), static_cast<float>(beta[c] - mean[c] * scale));
  });
}

}  // namespace

extern "C" {

#define ZOO_BN_OPERATOR(name, impl, relu)                                                                        \
  int name(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {     \
    return impl<relu>(nparam, params, ndims, shapes, dtypes);                                                  \
  }
ZOO_BN_OPERATOR(ZooBatchNormTrain, Train, false)
ZOO_BN_OPERATOR(ZooBatchNormGrad, Grad, false)
ZOO_BN_OPERATOR(ZooBatchNormInfer, Infer, false)
ZOO_BN_OPERATOR(ZooBatchNormReluTrain, Train, true)
ZOO_BN_OPERATOR(ZooBatchNormReluGrad, Grad, true)
ZOO_BN_OPERATOR(ZooBatchNormReluInfer, Infer, true)
}
