// oneDNN 2-D convolutions as XLA FFI handlers: forward, backward-data and backward-weights on NHWC activations and
// HWIO kernels (float32), the custom calls behind `cnnjax.functional.onednn`. Built by scripts/setup.sh.
//
// Each handler reads the shapes from its buffers and the geometry from its attributes (strides, padding low/high,
// dilations as lax counts them, i.e. 1 = dense, and feature groups). Activations stay NHWC (oneDNN's `nhwc`); the
// weights' format is left to oneDNN (format_tag::any) and the HWIO kernel is reordered to it (forward and
// backward-data) or from it (backward-weights) on every call. Primitive descriptors, primitives and reorders are
// built once per shape and geometry and cached (a map under a mutex); the scratchpad and the reordered weights live
// in per-thread buffers, so concurrent calls from XLA's threads share nothing mutable.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

extern "C" void omp_set_num_threads(int);  // GNU OpenMP, which libdnnl links

namespace ffi = xla::ffi;
using dnnl::memory;

namespace {

enum Kind : int64_t { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };

struct Geometry {
  int64_t n, h, w, c, oh, ow, o, kh, kw;
  int64_t sh, sw, pt, pb, pl, pr, dh, dw, groups;
  std::vector<int64_t> key(Kind kind) const {
    return {kind, n, h, w, c, oh, ow, o, kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, groups};
  }
};

struct Entry {
  dnnl::primitive primitive;
  memory::desc activations_in, activations_out;  // src/diff_dst and dst/diff_src (nhwc)
  memory::desc user_weights, weights;            // HWIO as the user holds it; the primitive's format
  bool reorder_weights = false;
  dnnl::reorder weights_reorder;                 // user -> primitive (fwd, bwd-data), primitive -> user (bwd-w)
  memory::desc scratchpad;
};

dnnl::engine& engine() {
  static dnnl::engine instance(dnnl::engine::kind::cpu, 0);
  return instance;
}

// A per-thread growing buffer, 64-byte aligned.
struct Buffer {
  void* data = nullptr;
  size_t size = 0;
  void* get(size_t bytes) {
    if (bytes > size) {
      std::free(data);
      size = (bytes + 63) / 64 * 64;
      data = std::aligned_alloc(64, size);
    }
    return data;
  }
  ~Buffer() { std::free(data); }
};

memory::desc nhwc(int64_t n, int64_t c, int64_t h, int64_t w) {
  return memory::desc({n, c, h, w}, memory::data_type::f32, memory::format_tag::nhwc);
}

// The HWIO kernel (kh, kw, c / groups, o) in oneDNN's logical order: (o, i, kh, kw), or (g, o / g, i, kh, kw) with
// groups, the output channels of group g being [g * o / g, (g + 1) * o / g) as in lax.
memory::desc hwio(const Geometry& g) {
  const int64_t i = g.c / g.groups, og = g.o / g.groups;
  if (g.groups == 1) {
    return memory::desc({g.o, i, g.kh, g.kw}, memory::data_type::f32, {1, g.o, g.kw * i * g.o, i * g.o});
  }
  return memory::desc({g.groups, og, i, g.kh, g.kw}, memory::data_type::f32,
                      {og, 1, g.groups * og, g.kw * i * g.o, i * g.o});
}

memory::desc any_weights(const Geometry& g) {
  const int64_t i = g.c / g.groups, og = g.o / g.groups;
  if (g.groups == 1) return memory::desc({g.o, i, g.kh, g.kw}, memory::data_type::f32, memory::format_tag::any);
  return memory::desc({g.groups, og, i, g.kh, g.kw}, memory::data_type::f32, memory::format_tag::any);
}

Entry build(Kind kind, const Geometry& g) {
  auto& eng = engine();
  const memory::dims strides = {g.sh, g.sw}, dilates = {g.dh - 1, g.dw - 1};
  const memory::dims padding_l = {g.pt, g.pl}, padding_r = {g.pb, g.pr};
  const auto src = nhwc(g.n, g.c, g.h, g.w), dst = nhwc(g.n, g.o, g.oh, g.ow);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  auto forward = dnnl::convolution_forward::primitive_desc(
      eng, dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src, any_weights(g), dst, strides,
      dilates, padding_l, padding_r, attr);
  Entry e;
  e.user_weights = hwio(g);
  if (kind == kForward) {
    e.primitive = dnnl::convolution_forward(forward);
    e.activations_in = src;
    e.activations_out = dst;
    e.weights = forward.weights_desc();
    e.scratchpad = forward.scratchpad_desc();
  } else if (kind == kBackwardData) {
    auto pd = dnnl::convolution_backward_data::primitive_desc(eng, dnnl::algorithm::convolution_direct, src,
                                                              any_weights(g), dst, strides, dilates, padding_l,
                                                              padding_r, forward, attr);
    e.primitive = dnnl::convolution_backward_data(pd);
    e.activations_in = dst;
    e.activations_out = src;
    e.weights = pd.weights_desc();
    e.scratchpad = pd.scratchpad_desc();
  } else {
    auto pd = dnnl::convolution_backward_weights::primitive_desc(eng, dnnl::algorithm::convolution_direct, src,
                                                                 any_weights(g), dst, strides, dilates, padding_l,
                                                                 padding_r, forward, attr);
    e.primitive = dnnl::convolution_backward_weights(pd);
    e.activations_in = src;
    e.activations_out = dst;
    e.weights = pd.diff_weights_desc();
    e.scratchpad = pd.scratchpad_desc();
  }
  e.reorder_weights = e.weights != e.user_weights;
  if (e.reorder_weights) {
    const bool out = kind == kBackwardWeights;
    e.weights_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, out ? e.weights : e.user_weights, eng,
                                                                    out ? e.user_weights : e.weights));
  }
  return e;
}

const Entry& lookup(Kind kind, const Geometry& g) {
  static std::mutex mutex;
  static std::map<std::vector<int64_t>, std::unique_ptr<Entry>> cache;
  auto key = g.key(kind);
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, std::make_unique<Entry>(build(kind, g))).first;
  return *it->second;
}

// Work shared by the calling thread and the tasks it schedules on XLA's intra-op pool: slices of the batch, claimed
// from a counter, so the caller never waits for a task that has not started (a task that starts after every slice
// is claimed returns at once; it holds the state through a shared_ptr).
struct Slices {
  int64_t count;
  std::function<void(int64_t)> run;
  std::atomic<int64_t> next{0};
  std::mutex mutex;
  std::condition_variable all_done;
  int64_t done = 0;
  std::string error;

  void work() {
    for (int64_t i; (i = next.fetch_add(1)) < count;) {
      std::string message;
      try {
        run(i);
      } catch (const dnnl::error& err) {
        message = err.what();
      }
      std::lock_guard<std::mutex> lock(mutex);
      if (!message.empty() && error.empty()) error = message;
      if (++done == count) all_done.notify_all();
    }
  }
};

// Runs run(0) ... run(count - 1) on the caller and up to count - 1 threads of `pool`; returns the first error.
std::string parallel(ffi::ThreadPool& pool, int64_t count, std::function<void(int64_t)> run) {
  auto slices = std::make_shared<Slices>();
  slices->count = count;
  slices->run = std::move(run);
  for (int64_t t = 1; t < count; ++t) pool.Schedule([slices] { slices->work(); });
  slices->work();
  std::unique_lock<std::mutex> lock(slices->mutex);
  slices->all_done.wait(lock, [&] { return slices->done == slices->count; });
  return slices->error;
}

// oneDNN runs single-threaded in each of XLA's threads (GNU OpenMP's own threads would compete with XLA's pool).
void single_threaded() {
  thread_local bool set = false;
  if (!set) {
    omp_set_num_threads(1);
    set = true;
  }
}

// `w`: the kernel (or its gradient) in the primitive's format, e.weights (the user's HWIO when no reorder is needed).
void execute(const Entry& e, Kind kind, float* x, void* w, float* y) {
  single_threaded();
  auto& eng = engine();
  thread_local dnnl::stream stream(eng);
  thread_local Buffer scratch_buffer;
  memory scratch(e.scratchpad, eng, scratch_buffer.get(std::max<size_t>(e.scratchpad.get_size(), 64)));
  memory weights(e.weights, eng, w);
  if (kind == kForward) {
    e.primitive.execute(stream, {{DNNL_ARG_SRC, memory(e.activations_in, eng, x)},
                                 {DNNL_ARG_WEIGHTS, weights},
                                 {DNNL_ARG_DST, memory(e.activations_out, eng, y)},
                                 {DNNL_ARG_SCRATCHPAD, scratch}});
  } else if (kind == kBackwardData) {
    e.primitive.execute(stream, {{DNNL_ARG_DIFF_DST, memory(e.activations_in, eng, y)},
                                 {DNNL_ARG_WEIGHTS, weights},
                                 {DNNL_ARG_DIFF_SRC, memory(e.activations_out, eng, x)},
                                 {DNNL_ARG_SCRATCHPAD, scratch}});
  } else {
    e.primitive.execute(stream, {{DNNL_ARG_SRC, memory(e.activations_in, eng, x)},
                                 {DNNL_ARG_DIFF_DST, memory(e.activations_out, eng, y)},
                                 {DNNL_ARG_DIFF_WEIGHTS, weights},
                                 {DNNL_ARG_SCRATCHPAD, scratch}});
  }
  stream.wait();
}

// x: (n, h, w, c), w: (kh, kw, c / groups, o), y: (n, oh, ow, o), whichever of them are the inputs and the output.
// The batch is cut into as many slices as XLA's pool has threads (at most n), one oneDNN call per slice; the
// kernel gradient sums the slices' partial gradients in slice order (deterministic for a given thread count).
ffi::Error Run(ffi::ThreadPool& pool, Kind kind, float* x, float* w, float* y, ffi::Span<const int64_t> xd,
               ffi::Span<const int64_t> wd, ffi::Span<const int64_t> yd, int64_t sh, int64_t sw, int64_t pt,
               int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw, int64_t groups) {
  if (xd.size() != 4 || wd.size() != 4 || yd.size() != 4) {
    return ffi::Error::InvalidArgument("onednn conv: expected rank-4 NHWC activations and an HWIO kernel");
  }
  Geometry g{xd[0], xd[1], xd[2], xd[3], yd[1], yd[2], yd[3], wd[0], wd[1], sh, sw, pt, pb, pl, pr, dh, dw, groups};
  if (groups < 1 || g.c != wd[2] * groups || g.o != wd[3] || g.o % groups || yd[0] != g.n) {
    return ffi::Error::InvalidArgument("onednn conv: inconsistent shapes");
  }
  // Before any primitive is created on this thread: oneDNN fixes a primitive's thread count (and with it how the
  // kernel gradient's reduction is split) when it creates it, so a primitive created under GNU OpenMP's default
  // team would give other bits than one created single-threaded, depending on which thread created it first.
  single_threaded();
  const int64_t count = std::max<int64_t>(1, std::min(pool.num_threads(), g.n));
  const int64_t base = g.n / count, extra = g.n % count;
  auto first = [&](int64_t i) { return i * base + std::min(i, extra); };
  auto size = [&](int64_t i) { return base + (i < extra ? 1 : 0); };
  const int64_t x_image = g.h * g.w * g.c, y_image = g.oh * g.ow * g.o;
  try {
    std::vector<const Entry*> entries(count);
    for (int64_t i = 0; i < count; ++i) {
      Geometry gi = g;
      gi.n = size(i);
      entries[i] = &lookup(kind, gi);
    }
    const Entry& e0 = *entries[0];
    auto& eng = engine();
    thread_local dnnl::stream stream(eng);
    thread_local Buffer weights_buffer;
    std::string error;
    if (kind != kBackwardWeights) {
      void* prim_w = w;
      if (e0.reorder_weights) {
        single_threaded();
        prim_w = weights_buffer.get(e0.weights.get_size());
        memory from(e0.user_weights, eng, w), to(e0.weights, eng, prim_w);
        e0.weights_reorder.execute(stream, from, to);
        stream.wait();
      }
      error = parallel(pool, count, [&](int64_t i) {
        execute(*entries[i], kind, x + first(i) * x_image, prim_w, y + first(i) * y_image);
      });
    } else {
      // Partial kernel gradients in the primitive's format, one per slice, then summed and reordered to HWIO.
      const size_t floats = e0.weights.get_size() / sizeof(float);
      thread_local Buffer partial_buffer;
      float* partials = static_cast<float*>(partial_buffer.get(count * floats * sizeof(float)));
      const bool direct = count == 1 && !e0.reorder_weights;
      error = parallel(pool, count, [&](int64_t i) {
        execute(*entries[i], kind, x + first(i) * x_image, direct ? static_cast<void*>(w) : partials + i * floats,
                y + first(i) * y_image);
      });
      if (error.empty() && !direct) {
        for (int64_t i = 1; i < count; ++i) {
          const float* p = partials + i * floats;
          for (size_t j = 0; j < floats; ++j) partials[j] += p[j];
        }
        if (e0.reorder_weights) {
          single_threaded();
          memory from(e0.weights, eng, partials), to(e0.user_weights, eng, w);
          e0.weights_reorder.execute(stream, from, to);
          stream.wait();
        } else {
          std::copy(partials, partials + floats, w);
        }
      }
    }
    if (!error.empty()) return ffi::Error::Internal("onednn conv: " + error);
  } catch (const dnnl::error& err) {
    return ffi::Error::Internal(std::string("onednn conv: ") + err.what());
  }
  return ffi::Error::Success();
}

#define GEOMETRY_ATTRS                                                                                          \
  .Attr<int64_t>("stride_h").Attr<int64_t>("stride_w").Attr<int64_t>("pad_top").Attr<int64_t>("pad_bottom")     \
      .Attr<int64_t>("pad_left").Attr<int64_t>("pad_right").Attr<int64_t>("dilation_h").Attr<int64_t>("dilation_w") \
      .Attr<int64_t>("groups")

ffi::Error Forward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w, ffi::ResultBuffer<ffi::F32> y, int64_t sh,
                   int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw, int64_t groups) {
  return Run(pool, kForward, x.typed_data(), w.typed_data(), y->typed_data(), x.dimensions(), w.dimensions(),
             y->dimensions(), sh, sw, pt, pb, pl, pr, dh, dw, groups);
}

ffi::Error BackwardData(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> dy, ffi::Buffer<ffi::F32> w, ffi::ResultBuffer<ffi::F32> dx, int64_t sh,
                        int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw,
                        int64_t groups) {
  return Run(pool, kBackwardData, dx->typed_data(), w.typed_data(), dy.typed_data(), dx->dimensions(), w.dimensions(),
             dy.dimensions(), sh, sw, pt, pb, pl, pr, dh, dw, groups);
}

ffi::Error BackwardWeights(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> dy, ffi::ResultBuffer<ffi::F32> dw,
                           int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh,
                           int64_t ddw, int64_t groups) {
  return Run(pool, kBackwardWeights, x.typed_data(), dw->typed_data(), dy.typed_data(), x.dimensions(), dw->dimensions(),
             dy.dimensions(), sh, sw, pt, pb, pl, pr, dh, ddw, groups);
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxOnednnConvForward, Forward,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>().Arg<ffi::Buffer<ffi::F32>>().Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>() GEOMETRY_ATTRS);
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxOnednnConvBackwardData, BackwardData,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>().Arg<ffi::Buffer<ffi::F32>>().Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>() GEOMETRY_ATTRS);
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxOnednnConvBackwardWeights, BackwardWeights,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>().Arg<ffi::Buffer<ffi::F32>>().Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>() GEOMETRY_ATTRS);

// The oneDNN version the extension was built against, for `cnnjax.backend.configuration()`.
extern "C" const char* cnnjax_onednn_version() {
  static std::string version = [] {
    const dnnl_version_t* v = dnnl_version();
    return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  }();
  return version.c_str();
}
