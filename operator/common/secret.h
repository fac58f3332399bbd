#pragma once

// A secret value (password, key) that cannot be formatted, streamed or logged by accident:
// it has no operator<< and no fmt formatter, so `fmt::format("{}", secret)` does not compile.
// Code that must hand the value on (a Secret's data, a libpq parameter) says so with reveal().

#include <string>
#include <utility>

namespace kubegrant {

class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string value) : value_(std::move(value)) {}
  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  bool operator==(const SecretString&) const = default;

 private:
  std::string value_;
};

}  // namespace kubegrant
