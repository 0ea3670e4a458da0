// oneDNN convolutions for MindSpore's CPU backend, as AOT Custom operators (ops.Custom(func_type="aot")).
//
// MindSpore 2.10's own CPU Conv2D gives oneDNN fixed plain NCHW memory descriptors, so oneDNN can only pick its
// GEMM convolution (or, on AVX-512 CPUs, its reference kernel).  These operators ask oneDNN for the `any` format
// instead, as PyTorch does: oneDNN then picks its direct JIT convolutions on blocked layouts (nChw16c on AVX-512),
// and the operator reorders NCHW <-> blocked around them.  Tensors stay NCHW between operators, so every other
// MindSpore kernel, the autodiff and the checkpoints see the same tensors as with the native operator.
//
// Operators (the AOT signature: int f(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
// void *stream, void *extra)); cfg is an int32 tensor [stride_h, stride_w, pad_top, pad_bottom, pad_left,
// pad_right, dilation_h, dilation_w, groups, same, layout] (same = 1: MindSpore's pad_mode 'same', pads from the
// sizes; layout = 1: keep the activations NCHW, oneDNN's ncsp kernels, no reorders; 0: the layout oneDNN prefers):
//   ZooConvForward(x, w, cfg) -> y
//   ZooConvBackward(dy, x, w, cfg) -> (dx, dw)     backward data and backward weights, sharing the dy reorder
//   ZooConvBackwardData(dy, x, w, cfg) -> dx       (x only gives the shape)
//   ZooConvBackwardWeights(dy, x, w, cfg) -> dw    (w only gives the shape)
//
// One convolution runs at a time (a mutex): they use every core through one thread pool and share one arena.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "dnnl_api.h"
#include "pool.h"

namespace {

// ------------------------------------------------------------------------------------------------------------
// state shared by all operators
// ------------------------------------------------------------------------------------------------------------

struct Arena {
  char *base = nullptr;
  size_t size = 0;
  bool Reserve(size_t bytes) {
    if (bytes <= size) return true;
    std::free(base);
    size_t want = (bytes + 4095) / 4096 * 4096;
    base = static_cast<char *>(std::aligned_alloc(4096, want));
    size = base ? want : 0;
    return base != nullptr;
  }
};

// One tensor the primitive(s) read or write: the user's NCHW buffer (param) and, when oneDNN wants another
// layout, an internal buffer in the arena plus the reorder between the two.
struct Binding {
  int param = -1;
  bool output = false;
  dnnl_memory_desc_t user_md = nullptr;  // owned
  const_dnnl_memory_desc_t md = nullptr;  // owned by the primitive descriptor that asked for it
  dnnl_memory_t user_mem = nullptr;       // handle = the user's buffer (only when a reorder is needed)
  dnnl_memory_t mem = nullptr;            // what the primitive uses
  dnnl_primitive_t reorder = nullptr;     // user -> internal (inputs) or internal -> user (outputs)
  size_t offset = 0;                      // of the internal buffer in the arena
  bool direct = true;
};

struct Step {
  dnnl_primitive_desc_t pd = nullptr;
  dnnl_primitive_t prim = nullptr;
  std::vector<std::pair<int, int>> args;  // (oneDNN arg, binding index)
  dnnl_memory_t scratch = nullptr;
  std::string impl;
};

struct Plan {
  std::vector<Binding> bindings;
  std::vector<Step> steps;
  size_t arena_bytes = 0;
  size_t scratch_offset = 0;
};

struct State {
  std::mutex mu;
  bool ready = false;
  std::string error;
  int nthreads = 1;
  dnnl_engine_t engine = nullptr;
  dnnl_stream_t stream = nullptr;
  dnnl_primitive_attr_t attr = nullptr;  // user scratchpad
  Arena arena;
  std::unordered_map<std::string, std::unique_ptr<Plan>> plans;
};

State &G() {
  static State *state = new State();  // never destroyed: MindSpore may call in during interpreter shutdown
  return *state;
}

bool Ok(dnnl_status_t status, const char *what) {
  if (status == dnnl_success) return true;
  G().error = std::string(what) + " failed (oneDNN status " + std::to_string(status) + ")";
  return false;
}

// This library runs a private copy of oneDNN: the ISA cap the zoo sets for MindSpore's own kernels
// (ONEDNN_MAX_CPU_ISA) is lifted for it, before anything reads it.  MODEL_ZOO_FAST_CONV_ISA=keep keeps the cap.
__attribute__((constructor)) void LiftIsaCap() {
  const char *keep = std::getenv("MODEL_ZOO_FAST_CONV_ISA");
  if (!(keep && std::strcmp(keep, "keep") == 0)) dnnl_set_max_cpu_isa(dnnl_cpu_isa_default);
}

bool Init() {
  State &g = G();
  if (g.ready) return true;
  g.nthreads = zoo::SharedPool().get_num_threads();
  if (!Ok(dnnl_engine_create(&g.engine, dnnl_cpu, 0), "engine")) return false;
  if (!Ok(dnnl_threadpool_interop_stream_create(&g.stream, g.engine,
                                                 static_cast<zoo::ThreadpoolIface *>(&zoo::SharedPool())),
          "stream"))
    return false;
  if (!Ok(dnnl_primitive_attr_create(&g.attr), "attr")) return false;
  if (!Ok(dnnl_primitive_attr_set_scratchpad_mode(g.attr, dnnl_scratchpad_mode_user), "scratchpad mode"))
    return false;
  g.ready = true;
  return true;
}

struct ConvCfg {
  dnnl_dims_t strides{}, dilates{}, pad_l{}, pad_r{};
  int groups = 1;
  bool plain = false;  // activations in NCHW (oneDNN's ncsp kernels) instead of the layout oneDNN prefers
};

// MindSpore's pad_mode 'same': out = ceil(in / stride), the extra row/column of padding goes to the end.
void SamePads(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, dnnl_dim_t *begin, dnnl_dim_t *end) {
  int64_t out = (in + stride - 1) / stride;
  int64_t needed = (out - 1) * stride + (kernel - 1) * dilation + 1 - in;
  if (needed < 0) needed = 0;
  *begin = needed / 2;
  *end = needed - needed / 2;
}

bool ReadCfg(const void *ptr, int64_t count, const int64_t *x_shape, const int64_t *w_shape, ConvCfg *cfg) {
  if (count < 10) return false;
  const int32_t *v = static_cast<const int32_t *>(ptr);
  cfg->strides[0] = v[0];
  cfg->strides[1] = v[1];
  cfg->pad_l[0] = v[2];
  cfg->pad_r[0] = v[3];
  cfg->pad_l[1] = v[4];
  cfg->pad_r[1] = v[5];
  cfg->dilates[0] = v[6] - 1;  // oneDNN counts the gaps
  cfg->dilates[1] = v[7] - 1;
  cfg->groups = v[8] < 1 ? 1 : v[8];
  cfg->plain = count > 10 && v[10] == 1;
  if (v[9]) {
    SamePads(x_shape[2], w_shape[2], v[0], v[6], &cfg->pad_l[0], &cfg->pad_r[0]);
    SamePads(x_shape[3], w_shape[3], v[1], v[7], &cfg->pad_l[1], &cfg->pad_r[1]);
  }
  return true;
}

dnnl_memory_desc_t PlainMd(const int64_t *shape, int ndims, int groups, bool weights) {
  dnnl_dims_t dims{};
  int nd = ndims;
  int tag = dnnl_abcd;
  if (weights && groups > 1) {  // (O, I/g, kh, kw) -> (g, O/g, I/g, kh, kw): the same bytes
    dims[0] = groups;
    dims[1] = shape[0] / groups;
    for (int i = 1; i < ndims; ++i) dims[i + 1] = shape[i];
    nd = ndims + 1;
    tag = dnnl_abcde;
  } else {
    for (int i = 0; i < ndims; ++i) dims[i] = shape[i];
  }
  dnnl_memory_desc_t md = nullptr;
  if (dnnl_memory_desc_create_with_tag(&md, nd, dims, dnnl_f32, tag) != dnnl_success) return nullptr;
  return md;
}

dnnl_memory_desc_t AnyMd(const int64_t *shape, int ndims, int groups, bool weights, bool plain = false) {
  if (plain) return PlainMd(shape, ndims, groups, weights);
  dnnl_dims_t dims{};
  int nd = ndims;
  if (weights && groups > 1) {
    dims[0] = groups;
    dims[1] = shape[0] / groups;
    for (int i = 1; i < ndims; ++i) dims[i + 1] = shape[i];
    nd = ndims + 1;
  } else {
    for (int i = 0; i < ndims; ++i) dims[i] = shape[i];
  }
  dnnl_memory_desc_t md = nullptr;
  if (dnnl_memory_desc_create_with_tag(&md, nd, dims, dnnl_f32, dnnl_format_tag_any) != dnnl_success) return nullptr;
  return md;
}

size_t Align(size_t bytes) { return (bytes + 63) / 64 * 64; }

// Bind a user tensor to what the step's primitive descriptor wants for `arg`; reuses an earlier binding of the
// same tensor in the same layout (the backward's dy, read by both primitives, is reordered once).
bool Bind(Plan *plan, Step *step, int arg, int param, bool output, const int64_t *shape, int ndims, int groups,
          bool weights) {
  State &g = G();
  const_dnnl_memory_desc_t want = dnnl_primitive_desc_query_md(step->pd, dnnl_query_exec_arg_md, arg);
  if (!want) {
    g.error = "primitive has no memory for argument " + std::to_string(arg);
    return false;
  }
  for (size_t i = 0; i < plan->bindings.size(); ++i) {
    Binding &b = plan->bindings[i];
    if (b.param == param && b.output == output && dnnl_memory_desc_equal(b.md, want)) {
      step->args.emplace_back(arg, static_cast<int>(i));
      return true;
    }
  }
  Binding b;
  b.param = param;
  b.output = output;
  b.user_md = PlainMd(shape, ndims, groups, weights);
  if (!b.user_md) {
    g.error = "memory descriptor";
    return false;
  }
  b.md = want;
  b.direct = dnnl_memory_desc_equal(b.user_md, want);
  if (!Ok(dnnl_memory_create(&b.mem, want, g.engine, DNNL_MEMORY_NONE), "memory")) return false;
  if (!b.direct) {
    if (!Ok(dnnl_memory_create(&b.user_mem, b.user_md, g.engine, DNNL_MEMORY_NONE), "memory")) return false;
    dnnl_primitive_desc_t rpd = nullptr;
    if (!Ok(output ? dnnl_reorder_primitive_desc_create(&rpd, want, g.engine, b.user_md, g.engine, nullptr)
                   : dnnl_reorder_primitive_desc_create(&rpd, b.user_md, g.engine, want, g.engine, nullptr),
            "reorder descriptor"))
      return false;
    bool created = Ok(dnnl_primitive_create(&b.reorder, rpd), "reorder");
    dnnl_primitive_desc_destroy(rpd);
    if (!created) return false;
    b.offset = plan->arena_bytes;
    plan->arena_bytes += Align(dnnl_memory_desc_get_size(want));
  }
  plan->bindings.push_back(b);
  step->args.emplace_back(arg, static_cast<int>(plan->bindings.size() - 1));
  return true;
}

bool FinishStep(Step *step) {
  State &g = G();
  if (!Ok(dnnl_primitive_create(&step->prim, step->pd), "primitive")) return false;
  const char *impl = nullptr;
  if (dnnl_primitive_desc_query(step->pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
    step->impl = impl;
  const_dnnl_memory_desc_t smd = dnnl_primitive_desc_query_md(step->pd, dnnl_query_exec_arg_md, DNNL_ARG_SCRATCHPAD);
  if (smd && dnnl_memory_desc_get_size(smd) > 0) {
    if (!Ok(dnnl_memory_create(&step->scratch, smd, g.engine, DNNL_MEMORY_NONE), "scratchpad")) return false;
  }
  return true;
}

size_t ScratchBytes(const Step &step) {
  const_dnnl_memory_desc_t smd = dnnl_primitive_desc_query_md(step.pd, dnnl_query_exec_arg_md, DNNL_ARG_SCRATCHPAD);
  return smd ? Align(dnnl_memory_desc_get_size(smd)) : 0;
}

void FinishPlan(Plan *plan) {
  plan->scratch_offset = plan->arena_bytes;
  size_t scratch = 0;
  for (auto &s : plan->steps) scratch = std::max(scratch, ScratchBytes(s));
  plan->arena_bytes += scratch;
}

bool Run(Plan *plan, void **params) {
  State &g = G();
  if (!g.arena.Reserve(plan->arena_bytes)) {
    g.error = "out of memory for the convolution's blocked buffers";
    return false;
  }
  for (auto &b : plan->bindings) {
    if (b.direct) {
      dnnl_memory_set_data_handle(b.mem, params[b.param]);
    } else {
      dnnl_memory_set_data_handle(b.mem, g.arena.base + b.offset);
      dnnl_memory_set_data_handle(b.user_mem, params[b.param]);
    }
  }
  for (auto &b : plan->bindings) {  // inputs into oneDNN's layouts
    if (b.direct || b.output) continue;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, b.user_mem}, {DNNL_ARG_TO, b.mem}};
    if (!Ok(dnnl_primitive_execute(b.reorder, g.stream, 2, args), "reorder")) return false;
  }
  for (auto &s : plan->steps) {
    std::vector<dnnl_exec_arg_t> args;
    for (auto &a : s.args) args.push_back({a.first, plan->bindings[a.second].mem});
    if (s.scratch) {
      dnnl_memory_set_data_handle(s.scratch, g.arena.base + plan->scratch_offset);
      args.push_back({DNNL_ARG_SCRATCHPAD, s.scratch});
    }
    if (!Ok(dnnl_primitive_execute(s.prim, g.stream, static_cast<int>(args.size()), args.data()), "convolution"))
      return false;
  }
  for (auto &b : plan->bindings) {  // outputs back to NCHW
    if (b.direct || !b.output) continue;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, b.mem}, {DNNL_ARG_TO, b.user_mem}};
    if (!Ok(dnnl_primitive_execute(b.reorder, g.stream, 2, args), "reorder")) return false;
  }
  dnnl_stream_wait(g.stream);
  return true;
}

std::string Key(char kind, int nparam, int *ndims, int64_t **shapes, const ConvCfg &cfg) {
  std::string key(1, kind);
  auto put = [&key](int64_t v) { key.append(reinterpret_cast<const char *>(&v), sizeof(v)); };
  for (int p = 0; p < nparam; ++p) {
    put(ndims[p]);
    for (int d = 0; d < ndims[p]; ++d) put(shapes[p][d]);
  }
  for (int i = 0; i < 2; ++i) {
    put(cfg.strides[i]);
    put(cfg.dilates[i]);
    put(cfg.pad_l[i]);
    put(cfg.pad_r[i]);
  }
  put(cfg.groups);
  put(cfg.plain);
  return key;
}

bool Float32(int nparam, const char **dtypes, int skip) {
  for (int p = 0; p < nparam; ++p) {
    if (p == skip) continue;
    if (std::strcmp(dtypes[p], "float32") != 0 && std::strcmp(dtypes[p], "float") != 0) return false;
  }
  return true;
}

Plan *ForwardPlan(int *ndims, int64_t **shapes, const ConvCfg &cfg, int prop) {
  State &g = G();
  std::unique_ptr<Plan> plan(new Plan());
  dnnl_memory_desc_t src = AnyMd(shapes[0], ndims[0], 1, false, cfg.plain);
  dnnl_memory_desc_t wei = AnyMd(shapes[1], ndims[1], cfg.groups, true);
  dnnl_memory_desc_t dst = AnyMd(shapes[3], ndims[3], 1, false, cfg.plain);
  Step step;
  bool ok = Ok(dnnl_convolution_forward_primitive_desc_create(&step.pd, g.engine, prop, dnnl_convolution_direct, src,
                                                               wei, nullptr, dst, cfg.strides, cfg.dilates, cfg.pad_l,
                                                               cfg.pad_r, g.attr),
               "convolution forward descriptor");
  dnnl_memory_desc_destroy(src);
  dnnl_memory_desc_destroy(wei);
  dnnl_memory_desc_destroy(dst);
  if (!ok) return nullptr;
  plan->steps.push_back(step);
  Step *s = &plan->steps.back();
  if (!Bind(plan.get(), s, DNNL_ARG_SRC, 0, false, shapes[0], ndims[0], 1, false) ||
      !Bind(plan.get(), s, DNNL_ARG_WEIGHTS, 1, false, shapes[1], ndims[1], cfg.groups, true) ||
      !Bind(plan.get(), s, DNNL_ARG_DST, 3, true, shapes[3], ndims[3], 1, false) || !FinishStep(s))
    return nullptr;
  FinishPlan(plan.get());
  return plan.release();
}

// params: dy(0), x(1), w(2), cfg(3), then the outputs: dx and dw ('b'), dx ('d') or dw ('w').
Plan *BackwardPlan(char kind, int *ndims, int64_t **shapes, const ConvCfg &cfg) {
  State &g = G();
  std::unique_ptr<Plan> plan(new Plan());
  const bool want_data = kind != 'w', want_weights = kind != 'd';
  const int dx_param = 4, dw_param = kind == 'b' ? 5 : 4;
  dnnl_memory_desc_t dy = AnyMd(shapes[0], ndims[0], 1, false, cfg.plain);
  dnnl_memory_desc_t x = AnyMd(shapes[1], ndims[1], 1, false, cfg.plain);
  dnnl_memory_desc_t w = AnyMd(shapes[2], ndims[2], cfg.groups, true);
  dnnl_primitive_desc_t hint = nullptr;
  Step data, weights;
  bool ok = Ok(dnnl_convolution_forward_primitive_desc_create(&hint, g.engine, dnnl_forward_training,
                                                               dnnl_convolution_direct, x, w, nullptr, dy, cfg.strides,
                                                               cfg.dilates, cfg.pad_l, cfg.pad_r, g.attr),
               "convolution forward descriptor");
  if (ok && want_data)
    ok = Ok(dnnl_convolution_backward_data_primitive_desc_create(&data.pd, g.engine, dnnl_convolution_direct, x, w,
                                                                  dy, cfg.strides, cfg.dilates, cfg.pad_l, cfg.pad_r,
                                                                  hint, g.attr),
            "convolution backward-data descriptor");
  if (ok && want_weights)
    ok = Ok(dnnl_convolution_backward_weights_primitive_desc_create(&weights.pd, g.engine, dnnl_convolution_direct,
                                                                     x, w, nullptr, dy, cfg.strides, cfg.dilates,
                                                                     cfg.pad_l, cfg.pad_r, hint, g.attr),
            "convolution backward-weights descriptor");
  dnnl_memory_desc_destroy(dy);
  dnnl_memory_desc_destroy(x);
  dnnl_memory_desc_destroy(w);
  if (hint) dnnl_primitive_desc_destroy(hint);
  if (!ok) return nullptr;
  plan->steps.reserve(2);
  if (want_data) {
    plan->steps.push_back(data);
    Step *sd = &plan->steps.back();
    if (!Bind(plan.get(), sd, DNNL_ARG_DIFF_DST, 0, false, shapes[0], ndims[0], 1, false) ||
        !Bind(plan.get(), sd, DNNL_ARG_WEIGHTS, 2, false, shapes[2], ndims[2], cfg.groups, true) ||
        !Bind(plan.get(), sd, DNNL_ARG_DIFF_SRC, dx_param, true, shapes[dx_param], ndims[dx_param], 1, false) ||
        !FinishStep(sd))
      return nullptr;
  }
  if (want_weights) {
    plan->steps.push_back(weights);
    Step *sw = &plan->steps.back();
    if (!Bind(plan.get(), sw, DNNL_ARG_SRC, 1, false, shapes[1], ndims[1], 1, false) ||
        !Bind(plan.get(), sw, DNNL_ARG_DIFF_DST, 0, false, shapes[0], ndims[0], 1, false) ||
        !Bind(plan.get(), sw, DNNL_ARG_DIFF_WEIGHTS, dw_param, true, shapes[dw_param], ndims[dw_param], cfg.groups,
              true) ||
        !FinishStep(sw))
      return nullptr;
  }
  FinishPlan(plan.get());
  return plan.release();
}

int Fail(const char *op) {
  std::fprintf(stderr, "model_zoo fast convolution %s: %s\n", op, G().error.c_str());
  return 1;
}

int Execute(char kind, int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, int cfg_index,
            int prop) {
  State &g = G();
  const bool backward = kind == 'b' || kind == 'd' || kind == 'w';
  const char *op = backward ? "backward" : "forward";
  std::lock_guard<std::mutex> lock(g.mu);
  if (!Init()) return Fail(op);
  if (!Float32(nparam, dtypes, cfg_index)) {
    g.error = "only float32 is supported";
    return Fail(op);
  }
  ConvCfg cfg;
  const int x_index = backward ? 1 : 0;
  if (ndims[cfg_index] != 1 || ndims[x_index] != 4 || ndims[x_index + 1] != 4 ||
      !ReadCfg(params[cfg_index], shapes[cfg_index][0], shapes[x_index], shapes[x_index + 1], &cfg)) {
    g.error = "bad configuration tensor";
    return Fail(op);
  }
  dnnl_threadpool_interop_set_max_concurrency(g.nthreads);
  std::string key = Key(kind, nparam, ndims, shapes, cfg);
  auto it = g.plans.find(key);
  Plan *plan;
  if (it == g.plans.end()) {
    plan = backward ? BackwardPlan(kind, ndims, shapes, cfg) : ForwardPlan(ndims, shapes, cfg, prop);
    if (!plan) return Fail(op);
    g.plans.emplace(key, std::unique_ptr<Plan>(plan));
  } else {
    plan = it->second.get();
  }
  if (!Run(plan, params)) return Fail(op);
  return 0;
}

}  // namespace

extern "C" {

int ZooConvForward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 4) return 1;
  return Execute('f', nparam, params, ndims, shapes, dtypes, 2, dnnl_forward_training);
}

int ZooConvInference(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 4) return 1;
  return Execute('i', nparam, params, ndims, shapes, dtypes, 2, dnnl_forward_inference);
}

int ZooConvBackward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 6) return 1;
  return Execute('b', nparam, params, ndims, shapes, dtypes, 3, dnnl_backward_data);
}

int ZooConvBackwardData(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                        void *) {
  if (nparam != 5) return 1;
  return Execute('d', nparam, params, ndims, shapes, dtypes, 3, dnnl_backward_data);
}

int ZooConvBackwardWeights(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                           void *) {
  if (nparam != 5) return 1;
  return Execute('w', nparam, params, ndims, shapes, dtypes, 3, dnnl_backward_weights);
}

// For the Python side: which oneDNN this library runs, the last error, and the implementations it picked.
const char *ZooConvInfo() {
  static std::string info;
  const dnnl_version_t *v = dnnl_version();
  info = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
         " isa " + std::to_string(dnnl_get_effective_cpu_isa());
  return info.c_str();
}

const char *ZooConvLastError() { return G().error.c_str(); }

const char *ZooConvImplementations() {
  static std::string out;
  State &g = G();
  std::lock_guard<std::mutex> lock(g.mu);
  out.clear();
  for (auto &kv : g.plans)
    for (auto &s : kv.second->steps) out += s.impl + "\n";
  return out.c_str();
}
}
