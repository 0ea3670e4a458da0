// The thread pool the zoo's CPU kernels run their parallel loops on: oneDNN's threadpool runtime (the one
// MindSpore's bundled oneDNN is built with) runs its parallel regions on it, and so do the batch-norm loops.
#ifndef MODEL_ZOO_POOL_H_
#define MODEL_ZOO_POOL_H_

#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace zoo {

// Same virtual layout as dnnl::threadpool_interop::threadpool_iface (dnnl_threadpool_iface.hpp).
struct ThreadpoolIface {
  virtual int get_num_threads() const = 0;
  virtual bool get_in_parallel() const = 0;
  virtual void parallel_for(int n, const std::function<void(int, int)> &fn) = 0;
  virtual uint64_t get_flags() const = 0;
  virtual ~ThreadpoolIface() = default;
};

inline thread_local bool t_in_pool = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class Pool final : public ThreadpoolIface {
 public:
  explicit Pool(int nthreads, int spin) : nthreads_(nthreads < 1 ? 1 : nthreads), spin_(spin) {
    for (int i = 1; i < nthreads_; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~Pool() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      gen_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto &t : workers_) t.join();
  }
  int get_num_threads() const override { return nthreads_; }
  bool get_in_parallel() const override { return t_in_pool; }
  uint64_t get_flags() const override { return 0; }

  void parallel_for(int n, const std::function<void(int, int)> &fn) override {
    if (n <= 0) return;
    if (n == 1 || workers_.empty() || t_in_pool) {
      for (int i = 0; i < n; ++i) fn(i, n);
      return;
    }
    // MindSpore runs independent kernels on several threads at once: one parallel region at a time
    std::lock_guard<std::mutex> region(region_mu_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (busy_.load() != 0) cpu_relax();  // stragglers of the previous region leave before it is reused
      fn_ = &fn;
      n_ = n;
      next_.store(0);
      pending_.store(n);
      gen_.fetch_add(1);
    }
    cv_.notify_all();
    t_in_pool = true;
    RunTasks(&fn, n);
    t_in_pool = false;
    int spins = 0;
    while (pending_.load() != 0 || busy_.load() != 0) {
      if (++spins < 4096) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  void RunTasks(const std::function<void(int, int)> *fn, int n) {
    for (int i = next_.fetch_add(1); i < n; i = next_.fetch_add(1)) {
      (*fn)(i, n);
      pending_.fetch_sub(1);
    }
  }

  void Work() {
    t_in_pool = true;
    uint64_t seen = gen_.load();
    for (;;) {
      for (int s = 0; s < spin_ && gen_.load() == seen; ++s) cpu_relax();
      const std::function<void(int, int)> *fn;
      int n;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return gen_.load() != seen; });
        if (stop_) return;
        seen = gen_.load();
        busy_.fetch_add(1);
        fn = fn_;
        n = n_;
      }
      RunTasks(fn, n);
      busy_.fetch_sub(1);
    }
  }

  int nthreads_;
  int spin_;
  std::vector<std::thread> workers_;
  std::mutex region_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void(int, int)> *fn_ = nullptr;
  int n_ = 0;
  std::atomic<int> next_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> busy_{0};
  std::atomic<uint64_t> gen_{0};
  bool stop_ = false;
};

inline int UsableCores() {
  const char *env = std::getenv("MODEL_ZOO_FAST_CONV_THREADS");
  if (env && std::atoi(env) > 0) return std::atoi(env);
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

// One pool for the whole library (never destroyed: MindSpore may call in during interpreter shutdown).
inline Pool &SharedPool() {
  static Pool *pool = new Pool(UsableCores(), [] {
    const char *spin = std::getenv("MODEL_ZOO_FAST_CONV_SPIN");
    return spin ? std::atoi(spin) : 20000;
  }());
  return *pool;
}

// fn(i) for every i in [0, count), split over the shared pool in contiguous ranges; inline when the work (elements
// touched) is small or there is one thing to do.
template <typename F>
void ParallelRange(int64_t count, int64_t work, F fn) {
  Pool &pool = SharedPool();
  const int nthr = work < 32768 ? 1 : static_cast<int>(count < pool.get_num_threads() ? count : pool.get_num_threads());
  if (nthr <= 1) {
    for (int64_t i = 0; i < count; ++i) fn(i);
    return;
  }
  pool.parallel_for(nthr, [&](int ithr, int n) {
    const int64_t begin = count * ithr / n, end = count * (ithr + 1) / n;
    for (int64_t i = begin; i < end; ++i) fn(i);
  });
}

}  // namespace zoo

#endif  // MODEL_ZOO_POOL_H_
