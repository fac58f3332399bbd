#include "operator/common/metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <sstream>

namespace kubegrant::metrics {

void Counter::inc(double v) {
  std::lock_guard<std::mutex> g(mu_);
  value_ += v;
}
double Counter::value() const {
  std::lock_guard<std::mutex> g(mu_);
  return value_;
}

void Gauge::set(double v) {
  std::lock_guard<std::mutex> g(mu_);
  value_ = v;
}
void Gauge::add(double v) {
  std::lock_guard<std::mutex> g(mu_);
  value_ += v;
}
double Gauge::value() const {
  std::lock_guard<std::mutex> g(mu_);
  return value_;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  std::lock_guard<std::mutex> g(mu_);
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

Histogram::Snapshot Histogram::snapshot() const {
  std::lock_guard<std::mutex> g(mu_);
  Snapshot s;
  s.bounds = bounds_;
  uint64_t acc = 0;
  for (uint64_t c : counts_) {
    acc += c;
    s.cumulative.push_back(acc);
  }
  s.sum = sum_;
  s.count = count_;
  return s;
}

std::vector<double> defaultBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

std::string escapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

std::string labels(const std::vector<std::string>& names, const LabelValues& values,
                   const std::string& extraName = {}, const std::string& extraValue = {}) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (!out.empty()) out += ",";
    out += names[i] + "=\"" + escapeLabelValue(values[i]) + "\"";
  }
  if (!extraName.empty()) {
    if (!out.empty()) out += ",";
    out += extraName + "=\"" + escapeLabelValue(extraValue) + "\"";
  }
  return out.empty() ? out : "{" + out + "}";
}

}  // namespace

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> labelNames) {
  std::lock_guard<std::mutex> g(mu_);
  auto& e = entries_[name];
  if (!e.counter) {
    e.help = help;
    e.type = "counter";
    e.counter = std::make_unique<Family<Counter>>(std::move(labelNames),
                                                  [] { return std::make_unique<Counter>(); });
  }
  return *e.counter;
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help,
                               std::vector<std::string> labelNames) {
  std::lock_guard<std::mutex> g(mu_);
  auto& e = entries_[name];
  if (!e.gauge) {
    e.help = help;
    e.type = "gauge";
    e.gauge = std::make_unique<Family<Gauge>>(std::move(labelNames),
                                              [] { return std::make_unique<Gauge>(); });
  }
  return *e.gauge;
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help,
                                       std::vector<std::string> labelNames,
                                       std::vector<double> bounds) {
  std::lock_guard<std::mutex> g(mu_);
  auto& e = entries_[name];
  if (!e.histogram) {
    e.help = help;
    e.type = "histogram";
    e.histogram = std::make_unique<Family<Histogram>>(
        std::move(labelNames), [bounds] { return std::make_unique<Histogram>(bounds); });
  }
  return *e.histogram;
}

void Registry::addCollector(std::function<void()> collect) {
  std::lock_guard<std::mutex> g(mu_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::render() const {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard<std::mutex> g(mu_);
    collectors = collectors_;
  }
  for (auto& c : collectors) c();
  std::ostringstream out;
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& [name, e] : entries_) {
    out << "# HELP " << name << " " << e.help << "\n";
    out << "# TYPE " << name << " " << e.type << "\n";
    if (e.counter) {
      e.counter->forEach([&](const LabelValues& v, const Counter& c) {
        out << name << labels(e.counter->labelNames(), v) << " " << number(c.value()) << "\n";
      });
    } else if (e.gauge) {
      e.gauge->forEach([&](const LabelValues& v, const Gauge& m) {
        out << name << labels(e.gauge->labelNames(), v) << " " << number(m.value()) << "\n";
      });
    } else if (e.histogram) {
      const auto& names = e.histogram->labelNames();
      e.histogram->forEach([&](const LabelValues& v, const Histogram& h) {
        auto s = h.snapshot();
        for (size_t i = 0; i < s.bounds.size(); ++i) {
          out << name << "_bucket" << labels(names, v, "le", number(s.bounds[i])) << " "
              << s.cumulative[i] << "\n";
        }
        out << name << "_bucket" << labels(names, v, "le", "+Inf") << " " << s.cumulative.back()
            << "\n";
        out << name << "_sum" << labels(names, v) << " " << number(s.sum) << "\n";
        out << name << "_count" << labels(names, v) << " " << s.count << "\n";
      });
    }
  }
  return out.str();
}

}  // namespace kubegrant::metrics
