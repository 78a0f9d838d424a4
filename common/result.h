#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace drift {

// Why an operation failed, in words an operator can act on. Callers prepend context.
struct Error {
  std::string message;
  int sys_errno = 0;  // the errno behind it, when a system call failed (ENOENT: "not there")
};

// Whether `e` says the thing is not there (ENOENT: no such file, a program not installed), the
// one failure that means "absent" rather than "could not look".
inline bool IsNotFound(const Error& e) { return e.sys_errno == ENOENT; }

// An Error for a failed system call on `what`: "<what>: <strerror>", keeping errno.
Error SysErr(std::string_view what, int err);

// Builds an Error from a fmt format string.
template <typename... Args>
Error Err(fmt::format_string<Args...> format, Args&&... args) {
  return Error{fmt::format(format, std::forward<Args>(args)...)};
}

// A value or an Error. Run-time code returns these instead of throwing (exceptions are for
// start-up only). Accessing value() of an error, or error() of a value, is a programming error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Success or an Error, for operations with nothing to return.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Error SysErr(std::string_view what, int err) {
  return Error{fmt::format("{}: {}", what, std::strerror(err)), err};
}

}  // namespace drift
