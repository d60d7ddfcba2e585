// Byte-level Writer and Reader that every Codec<T> is written against.
// The wire format is described in docs/codec-format.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "weft/core/result.hpp"

namespace weft {

/// Appends encoded bytes to a caller-owned buffer, so a hot path can reuse one buffer
/// (and its capacity) for many values. Never clears what is already in the buffer.
class Writer {
 public:
  static constexpr std::size_t max_varint_size = 10;

  explicit Writer(std::vector<std::byte>& out) noexcept : out_(&out) {}

  /// LEB128: 7 bits per byte, least significant group first, high bit = "more follows".
  /// Writes into `out` and returns the number of bytes used.
  static std::size_t varint_bytes(std::uint64_t v,
                                  std::array<std::byte, max_varint_size>& out) noexcept {
    std::size_t n = 0;
    while (v >= 0x80) {
      out[n++] = static_cast<std::byte>(v | 0x80);
      v >>= 7;
    }
    out[n++] = static_cast<std::byte>(v);
    return n;
  }

  void put_byte(std::byte b) { out_->push_back(b); }

  void put_varint(std::uint64_t v) {
    std::array<std::byte, max_varint_size> tmp;
    const std::size_t n = varint_bytes(v, tmp);
    out_->insert(out_->end(), tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(n));
  }

  void put_fixed32(std::uint32_t v) { put_fixed<4>(v); }
  void put_fixed64(std::uint64_t v) { put_fixed<8>(v); }

  void put_bytes(std::span<const std::byte> bytes) {
    out_->insert(out_->end(), bytes.begin(), bytes.end());
  }

  [[nodiscard]] std::vector<std::byte>& buffer() noexcept { return *out_; }
  [[nodiscard]] std::size_t size() const noexcept { return out_->size(); }

 private:
  // Shifts rather than memcpy so the output is little-endian on any host; compilers
  // turn this into one store on little-endian machines.
  template <std::size_t N>
  void put_fixed(std::uint64_t v) {
    std::array<std::byte, N> tmp;
    for (std::size_t i = 0; i < N; ++i) tmp[i] = static_cast<std::byte>(v >> (8 * i));
    out_->insert(out_->end(), tmp.begin(), tmp.end());
  }

  std::vector<std::byte>* out_;
};

/// Reads untrusted bytes. Every read is bounds-checked and returns an error that names the
/// byte offset and, when codecs have entered scopes, the field path ("Batch.readings[3].ts").
/// Not copyable: scopes point into it.
class Reader {
 public:
  /// Nesting levels (structs, sequences, maps) a decode may open; bounds recursion on
  /// hostile input for self-referential types.
  static constexpr std::size_t max_depth = 64;

  /// One open nesting level; closes itself when destroyed. Codecs label it with the
  /// field or element being decoded so errors can say where they happened.
  class Scope {
   public:
    Scope(Scope&& other) noexcept
        : reader_(std::exchange(other.reader_, nullptr)), level_(other.level_) {}
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    Scope& operator=(Scope&&) = delete;
    ~Scope() {
      if (reader_ != nullptr) --reader_->depth_;
    }

    void field(const char* name) noexcept { reader_->frames_[level_].label = name; }
    void index(std::size_t i) noexcept { reader_->frames_[level_].index = i; }

   private:
    friend class Reader;
    Scope(Reader* reader, std::size_t level) noexcept : reader_(reader), level_(level) {}

    Reader* reader_;
    std::size_t level_;
  };

  explicit Reader(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - pos_; }
  [[nodiscard]] std::size_t offset() const noexcept { return pos_; }

  [[nodiscard]] Result<std::byte> byte() {
    if (pos_ >= bytes_.size()) return std::unexpected(need(1));
    return bytes_[pos_++];
  }

  /// Rejects varints longer than 10 bytes, above 2^64-1, or with redundant trailing zero
  /// groups, so every value has exactly one encoding.
  [[nodiscard]] Result<std::uint64_t> varint() {
    const std::size_t start = pos_;
    std::uint64_t value = 0;
    for (unsigned i = 0; i < 10; ++i) {
      if (pos_ >= bytes_.size()) return std::unexpected(truncated_varint(start));
      const auto b = static_cast<std::uint8_t>(bytes_[pos_++]);
      if (i == 9 && b > 1)
        return std::unexpected(bad_varint(start, "longer than 10 bytes or above 2^64-1"));
      value |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) {
        if (b == 0 && i > 0) return std::unexpected(bad_varint(start, "has a redundant zero byte"));
        return value;
      }
    }
    return std::unexpected(bad_varint(start, "longer than 10 bytes or above 2^64-1"));
  }

  [[nodiscard]] Result<std::uint32_t> fixed32() {
    auto b = bytes(4);
    if (!b) return std::unexpected(std::move(b).error());
    return static_cast<std::uint32_t>(load_le(*b));
  }

  [[nodiscard]] Result<std::uint64_t> fixed64() {
    auto b = bytes(8);
    if (!b) return std::unexpected(std::move(b).error());
    return load_le(*b);
  }

  /// The next `n` bytes, borrowed from the input.
  [[nodiscard]] Result<std::span<const std::byte>> bytes(std::size_t n) {
    if (n > remaining()) return std::unexpected(need(n));
    auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

  /// Reads a length prefix and refuses it unless `count * min_element_size` bytes remain,
  /// so a hostile prefix can never make a decoder allocate more than the input could hold.
  [[nodiscard]] Result<std::size_t> count(std::size_t min_element_size) {
    const std::size_t start = pos_;
    auto n = varint();
    if (!n) return std::unexpected(std::move(n).error());
    if (min_element_size != 0 && *n > remaining() / min_element_size)
      return std::unexpected(too_long(start, *n, min_element_size));
    return static_cast<std::size_t>(*n);
  }

  /// Opens a nesting level; fails (malformed) beyond max_depth. `type_name` is shown at
  /// the start of an error path ("Reading.ts") and may be null.
  [[nodiscard]] Result<Scope> enter(const char* type_name = nullptr) {
    if (depth_ == max_depth) return std::unexpected(too_deep());
    frames_[depth_] = Frame{type_name, nullptr, no_index};
    return Scope(this, depth_++);
  }

  /// An error at byte `at`, prefixed by the current field path: for codecs to report
  /// values they reject (a bool of 2, an unknown variant index).
  [[nodiscard]] Error error(Errc code, std::size_t at, std::string_view detail) const;

 private:
  static constexpr std::size_t no_index = static_cast<std::size_t>(-1);

  // Plain pointers, not string_views, so the frame array needs no initialisation:
  // a Reader is built per decoded value.
  struct Frame {
    const char* type;
    const char* label;
    std::size_t index;
  };

  static std::uint64_t load_le(std::span<const std::byte> b) noexcept {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < b.size(); ++i) v |= static_cast<std::uint64_t>(b[i]) << (8 * i);
    return v;
  }

  // Cold paths, out of line in codec.cpp.
  [[nodiscard]] Error need(std::size_t n) const;
  [[nodiscard]] Error truncated_varint(std::size_t start) const;
  [[nodiscard]] Error bad_varint(std::size_t start, std::string_view why) const;
  [[nodiscard]] Error too_long(std::size_t start, std::uint64_t n, std::size_t min_size) const;
  [[nodiscard]] Error too_deep() const;

  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
  std::size_t depth_ = 0;
  std::array<Frame, max_depth> frames_;
};

}  // namespace weft
