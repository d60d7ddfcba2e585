// Stateless one-input operators. A user function that throws sends its record to the dead
// letters (with the exception's text) and the stream goes on.
#pragma once

#include <exception>
#include <string>
#include <utility>

#include "weft/stream/operator.hpp"

namespace weft::stream {

/// What flat_map and process functions emit into.
template <class T>
class Collector {
 public:
  virtual ~Collector() = default;
  virtual void collect(T value) = 0;
};

namespace detail {

inline std::string describe_current_exception() {
  try {
    throw;
  } catch (const std::exception& e) {
    return std::string("user function threw: ") + e.what();
  } catch (...) {
    return "user function threw a non-standard exception";
  }
}

template <class In, class Out, class F>
class MapOp final : public OperatorBase, public Output<In> {
 public:
  MapOp(F f, Output<Out>* out) : f_(std::move(f)), out_(out) {}
  void emit(In&& value, Timestamp ts) override {
    try {
      out_->emit(f_(std::move(value)), ts);
    } catch (...) {
      ctx().dead_letter({{}, describe_current_exception(), {}, ts});
    }
  }
  void watermark(Timestamp wm) override { out_->watermark(wm); }
  void finish() override { out_->finish(); }

 private:
  F f_;
  Output<Out>* out_;
};

template <class T, class F>
class FilterOp final : public OperatorBase, public Output<T> {
 public:
  FilterOp(F f, Output<T>* out) : f_(std::move(f)), out_(out) {}
  void emit(T&& value, Timestamp ts) override {
    bool keep = false;
    try {
      keep = f_(static_cast<const T&>(value));
    } catch (...) {
      ctx().dead_letter({{}, describe_current_exception(), {}, ts});
      return;
    }
    if (keep) out_->emit(std::move(value), ts);
  }
  void watermark(Timestamp wm) override { out_->watermark(wm); }
  void finish() override { out_->finish(); }

 private:
  F f_;
  Output<T>* out_;
};

template <class In, class Out, class F>
class FlatMapOp final : public OperatorBase, public Output<In>, private Collector<Out> {
 public:
  FlatMapOp(F f, Output<Out>* out) : f_(std::move(f)), out_(out) {}
  void emit(In&& value, Timestamp ts) override {
    ts_ = ts;
    try {
      f_(std::move(value), static_cast<Collector<Out>&>(*this));
    } catch (...) {
      ctx().dead_letter({{}, describe_current_exception(), {}, ts});
    }
  }
  void watermark(Timestamp wm) override { out_->watermark(wm); }
  void finish() override { out_->finish(); }

 private:
  void collect(Out value) override { out_->emit(std::move(value), ts_); }
  F f_;
  Output<Out>* out_;
  Timestamp ts_ = min_timestamp;
};

/// The head of a union: passes records through (the task merges the inputs' watermarks).
template <class T>
class PassOp final : public OperatorBase, public Output<T> {
 public:
  explicit PassOp(Output<T>* out) : out_(out) {}
  void emit(T&& value, Timestamp ts) override { out_->emit(std::move(value), ts); }
  void watermark(Timestamp wm) override { out_->watermark(wm); }
  void finish() override { out_->finish(); }

 private:
  Output<T>* out_;
};

/// Re-stamps records (e.g. after a map that changed what event time means).
template <class T, class F>
class StampOp final : public OperatorBase, public Output<T> {
 public:
  StampOp(F f, Output<T>* out) : f_(std::move(f)), out_(out) {}
  void emit(T&& value, Timestamp) override {
    const Timestamp ts = f_(static_cast<const T&>(value));
    out_->emit(std::move(value), ts);
  }
  void watermark(Timestamp wm) override { out_->watermark(wm); }
  void finish() override { out_->finish(); }

 private:
  F f_;
  Output<T>* out_;
};

}  // namespace detail
}  // namespace weft::stream
