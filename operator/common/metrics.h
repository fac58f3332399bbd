#pragma once

// A small Prometheus registry: counters, gauges and histograms with labels, rendered in the
// text exposition format (version 0.0.4) for a /metrics endpoint. Thread-safe; metric
// handles stay valid for the registry's lifetime, so callers look a metric up once and keep
// the reference.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace kubegrant::metrics {

// Label values in the order of the family's label names.
using LabelValues = std::vector<std::string>;

class Counter {
 public:
  void inc(double v = 1.0);
  double value() const;

 private:
  mutable std::mutex mu_;
  double value_ = 0;
};

class Gauge {
 public:
  void set(double v);
  void add(double v);
  double value() const;

 private:
  mutable std::mutex mu_;
  double value_ = 0;
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), last = +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Default latency buckets in seconds (5 ms .. 30 s).
std::vector<double> defaultBuckets();

template <typename M>
class Family {
 public:
  Family(std::vector<std::string> labelNames, std::function<std::unique_ptr<M>()> make)
      : labelNames_(std::move(labelNames)), make_(std::move(make)) {}
  // The metric for these label values, created on first use.
  M& with(const LabelValues& values = {}) {
    std::lock_guard<std::mutex> g(mu_);
    auto& slot = children_[values];
    if (!slot) slot = make_();
    return *slot;
  }
  const std::vector<std::string>& labelNames() const { return labelNames_; }
  template <typename F>
  void forEach(F&& f) const {
    std::lock_guard<std::mutex> g(mu_);
    for (const auto& [values, m] : children_) f(values, *m);
  }

 private:
  std::vector<std::string> labelNames_;
  std::function<std::unique_ptr<M>()> make_;
  mutable std::mutex mu_;
  std::map<LabelValues, std::unique_ptr<M>> children_;
};

class Registry {
 public:
  // Registering the same name twice returns the first family (label names must agree).
  Family<Counter>& counter(const std::string& name, const std::string& help,
                           std::vector<std::string> labelNames = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help,
                       std::vector<std::string> labelNames = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help,
                               std::vector<std::string> labelNames = {},
                               std::vector<double> bounds = defaultBuckets());
  // Called at the start of every render(), e.g. to refresh gauges from another component.
  void addCollector(std::function<void()> collect);

  // Text exposition format, families sorted by name.
  std::string render() const;

 private:
  struct Entry {
    std::string help;
    std::string type;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::vector<std::function<void()>> collectors_;
};

// Escapes a label value for the text format (backslash, double quote, newline).
std::string escapeLabelValue(const std::string& v);

}  // namespace kubegrant::metrics
