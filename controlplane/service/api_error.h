// The control plane's one error type: every service call returns a result or an ApiError
// whose code lbctl maps to its exit status and whose message an operator can act on.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace fulcrum::cp {

enum class ErrorCode {
  InvalidArgument,   // the request itself is wrong (bad weight, ambiguous backend)
  NotFound,          // no such VIP or backend
  Refused,           // understood but not done (reload with [dataplane] changes, invalid config)
  Unavailable,       // the control plane cannot do it now (state not writable, publish failed)
  PermissionDenied,  // the caller may read but not change
  Internal,
};

const char* code_name(ErrorCode code);   // "not_found", ...

struct ApiError {
  ErrorCode code;
  std::string message;
};

// A value or an ApiError (std::expected is C++23; this is the part we need).
template <typename T>
class Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}                 // NOLINT: implicit by design
  Expected(ApiError error) : v_(std::move(error)) {}          // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  const ApiError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

inline ApiError not_found(std::string m) { return {ErrorCode::NotFound, std::move(m)}; }
inline ApiError invalid(std::string m) { return {ErrorCode::InvalidArgument, std::move(m)}; }
inline ApiError refused(std::string m) { return {ErrorCode::Refused, std::move(m)}; }
inline ApiError unavailable(std::string m) { return {ErrorCode::Unavailable, std::move(m)}; }

}  // namespace fulcrum::cp
