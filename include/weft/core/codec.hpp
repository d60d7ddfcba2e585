// Codec<T>: a stable binary encoding for every persisted or remoted type, with a manifest
// (stable type name) and a schema version. The wire format is docs/codec-format.md.
//
//   struct Reading { std::string device; std::int64_t ts; double temperature; };
//   WEFT_CODEC(Reading, "factory.Reading", 1, device, ts, temperature);
//
//   std::vector<std::byte> bytes = weft::encode(reading);
//   weft::Result<Reading> back = weft::decode<Reading>(bytes);
#pragma once

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "weft/core/codec_io.hpp"
#include "weft/core/result.hpp"

namespace weft {

/// Specialised per type. A specialisation provides:
///   static constexpr std::string_view manifest;  // stable type name, part of the format
///   static constexpr std::uint32_t version;      // schema version of this type
///   static constexpr std::size_t min_size;       // fewest bytes any value encodes to
///   static void encode(const T&, Writer&);
///   static Result<T> decode(Reader&);
/// Built-ins below; aggregates get one with WEFT_CODEC.
template <class T>
struct Codec;

template <class T>
concept Codable = requires(const T& value, Writer& w, Reader& r) {
  { Codec<T>::manifest } -> std::convertible_to<std::string_view>;
  { Codec<T>::version } -> std::convertible_to<std::uint32_t>;
  { Codec<T>::min_size } -> std::convertible_to<std::size_t>;
  Codec<T>::encode(value, w);
  { Codec<T>::decode(r) } -> std::same_as<Result<T>>;
};

namespace detail {

// Compile-time concatenation, so container manifests ("vector<f64>") are constants.
template <const std::string_view&... parts>
struct Joined {
  static constexpr auto storage = [] {
    std::array<char, (parts.size() + ... + 0) + 1> out{};
    std::size_t i = 0;
    (
        [&] {
          for (char c : parts) out[i++] = c;
        }(),
        ...);
    return out;
  }();
  static constexpr std::string_view value{storage.data(), storage.size() - 1};
};

template <std::size_t N>
struct Decimal {
  static constexpr auto storage = [] {
    std::array<char, 21> out{};
    std::size_t len = 0;
    std::size_t n = N;
    do {
      out[len++] = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n != 0);
    for (std::size_t i = 0; i < len / 2; ++i) std::swap(out[i], out[len - 1 - i]);
    return std::pair{out, len};
  }();
  static constexpr std::string_view value{storage.first.data(), storage.second};
};

inline constexpr std::string_view close_angle = ">";
inline constexpr std::string_view comma = ",";

// A comma-separated list of manifests, for variant/tuple.
template <class... Ts>
struct ManifestList;
template <class T>
struct ManifestList<T> {
  static constexpr std::string_view value = Codec<T>::manifest;
};
template <class T, class... Ts>
struct ManifestList<T, Ts...> {
  static constexpr std::string_view value =
      Joined<Codec<T>::manifest, comma, ManifestList<Ts...>::value>::value;
};

template <class T>
concept Integer = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char> &&
                  !std::same_as<T, wchar_t> && !std::same_as<T, char8_t> &&
                  !std::same_as<T, char16_t> && !std::same_as<T, char32_t>;

template <bool is_signed, std::size_t size>
constexpr std::string_view integer_manifest() {
  constexpr std::array<std::string_view, 4> s{"i8", "i16", "i32", "i64"};
  constexpr std::array<std::string_view, 4> u{"u8", "u16", "u32", "u64"};
  constexpr std::size_t i = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
  return is_signed ? s[i] : u[i];
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Scalars

template <>
struct Codec<bool> {
  static constexpr std::string_view manifest = "bool";
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = 1;
  static void encode(bool v, Writer& w) { w.put_byte(v ? std::byte{1} : std::byte{0}); }
  [[nodiscard]] static Result<bool> decode(Reader& r) {
    const std::size_t at = r.offset();
    auto b = r.byte();
    if (!b) return std::unexpected(std::move(b).error());
    if (*b == std::byte{0}) return false;
    if (*b == std::byte{1}) return true;
    return std::unexpected(
        r.error(Errc::malformed, at,
                "bool must be 0 or 1, got " + std::to_string(static_cast<std::uint8_t>(*b))));
  }
};

template <>
struct Codec<std::byte> {
  static constexpr std::string_view manifest = "byte";
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = 1;
  static void encode(std::byte v, Writer& w) { w.put_byte(v); }
  [[nodiscard]] static Result<std::byte> decode(Reader& r) { return r.byte(); }
};

/// Integers: LEB128 varints; signed ones zigzag-mapped first so small negatives stay short.
template <detail::Integer T>
struct Codec<T> {
  static constexpr std::string_view manifest =
      detail::integer_manifest<std::is_signed_v<T>, sizeof(T)>();
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = 1;

  static void encode(T v, Writer& w) {
    if constexpr (std::is_signed_v<T>) {
      const auto s = static_cast<std::int64_t>(v);
      w.put_varint((static_cast<std::uint64_t>(s) << 1) ^ static_cast<std::uint64_t>(s >> 63));
    } else {
      w.put_varint(static_cast<std::uint64_t>(v));
    }
  }

  [[nodiscard]] static Result<T> decode(Reader& r) {
    const std::size_t at = r.offset();
    auto raw = r.varint();
    if (!raw) return std::unexpected(std::move(raw).error());
    if constexpr (std::is_signed_v<T>) {
      const auto s = static_cast<std::int64_t>((*raw >> 1) ^ (~(*raw & 1) + 1));
      if (s < std::numeric_limits<T>::min() || s > std::numeric_limits<T>::max())
        return std::unexpected(r.error(Errc::malformed, at, out_of_range(std::to_string(s))));
      return static_cast<T>(s);
    } else {
      if (*raw > std::numeric_limits<T>::max())
        return std::unexpected(r.error(Errc::malformed, at, out_of_range(std::to_string(*raw))));
      return static_cast<T>(*raw);
    }
  }

 private:
  static std::string out_of_range(std::string value) {
    return "value " + value + " does not fit in " + std::string(manifest);
  }
};

/// Enums: as their underlying integer. Any value of that integer decodes; C++ cannot list
/// an enum's enumerators, so range checks belong to the type that holds the enum.
template <class T>
requires std::is_enum_v<T>
struct Codec<T> {
  using Underlying = std::underlying_type_t<T>;
  static constexpr std::string_view manifest = Codec<Underlying>::manifest;
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = Codec<Underlying>::min_size;
  static void encode(T v, Writer& w) { Codec<Underlying>::encode(static_cast<Underlying>(v), w); }
  [[nodiscard]] static Result<T> decode(Reader& r) {
    auto u = Codec<Underlying>::decode(r);
    if (!u) return std::unexpected(std::move(u).error());
    return static_cast<T>(*u);
  }
};

/// Floats: IEEE 754 bits, little-endian; every bit pattern (NaN payloads too) round-trips.
template <>
struct Codec<float> {
  static_assert(std::numeric_limits<float>::is_iec559 && sizeof(float) == 4);
  static constexpr std::string_view manifest = "f32";
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = 4;
  static void encode(float v, Writer& w) { w.put_fixed32(std::bit_cast<std::uint32_t>(v)); }
  [[nodiscard]] static Result<float> decode(Reader& r) {
    auto bits = r.fixed32();
    if (!bits) return std::unexpected(std::move(bits).error());
    return std::bit_cast<float>(*bits);
  }
};

template <>
struct Codec<double> {
  static_assert(std::numeric_limits<double>::is_iec559 && sizeof(double) == 8);
  static constexpr std::string_view manifest = "f64";
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = 8;
  static void encode(double v, Writer& w) { w.put_fixed64(std::bit_cast<std::uint64_t>(v)); }
  [[nodiscard]] static Result<double> decode(Reader& r) {
    auto bits = r.fixed64();
    if (!bits) return std::unexpected(std::move(bits).error());
    return std::bit_cast<double>(*bits);
  }
};

/// Encodes nothing; useful as a payload-free variant alternative.
template <>
struct Codec<std::monostate> {
  static constexpr std::string_view manifest = "unit";
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = 0;
  static void encode(std::monostate, Writer&) {}
  [[nodiscard]] static Result<std::monostate> decode(Reader&) { return std::monostate{}; }
};

/// Strings: varint byte length, then the bytes as they are (no UTF-8 check).
template <>
struct Codec<std::string> {
  static constexpr std::string_view manifest = "string";
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = 1;
  static void encode(const std::string& v, Writer& w) {
    w.put_varint(v.size());
    w.put_bytes(std::as_bytes(std::span(v)));
  }
  [[nodiscard]] static Result<std::string> decode(Reader& r) {
    auto n = r.count(1);
    if (!n) return std::unexpected(std::move(n).error());
    auto b = r.bytes(*n);
    if (!b) return std::unexpected(std::move(b).error());
    return std::string(reinterpret_cast<const char*>(b->data()), b->size());
  }
};

// ---------------------------------------------------------------------------------------
// Containers

/// Sequences: varint element count, then the elements.
template <class T, class A>
struct Codec<std::vector<T, A>> {
  static constexpr std::string_view open = "vector<";
  static constexpr std::string_view manifest =
      detail::Joined<open, Codec<T>::manifest, detail::close_angle>::value;
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = 1;

  static void encode(const std::vector<T, A>& v, Writer& w) {
    w.put_varint(v.size());
    if constexpr (std::is_same_v<T, std::byte>) {
      w.put_bytes(v);
    } else {
      for (const auto& e : v) Codec<T>::encode(e, w);
    }
  }

  [[nodiscard]] static Result<std::vector<T, A>> decode(Reader& r) {
    static_assert(Codec<T>::min_size > 0,
                  "a length prefix cannot be bounded for elements that encode to no bytes");
    auto n = r.count(Codec<T>::min_size);
    if (!n) return std::unexpected(std::move(n).error());
    if constexpr (std::is_same_v<T, std::byte>) {
      auto b = r.bytes(*n);
      if (!b) return std::unexpected(std::move(b).error());
      return std::vector<T, A>(b->begin(), b->end());
    } else {
      auto scope = r.enter();
      if (!scope) return std::unexpected(std::move(scope).error());
      std::vector<T, A> out;
      out.reserve(*n);  // bounded by count(): at most remaining() / min_size
      for (std::size_t i = 0; i < *n; ++i) {
        scope->index(i);
        auto e = Codec<T>::decode(r);
        if (!e) return std::unexpected(std::move(e).error());
        out.push_back(std::move(*e));
      }
      return out;
    }
  }
};

/// Fixed-size arrays: the N elements, no count.
template <class T, std::size_t N>
struct Codec<std::array<T, N>> {
  static constexpr std::string_view open = "array<";
  static constexpr std::string_view manifest =
      detail::Joined<open, Codec<T>::manifest, detail::comma, detail::Decimal<N>::value,
                     detail::close_angle>::value;
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = N * Codec<T>::min_size;

  static void encode(const std::array<T, N>& v, Writer& w) {
    for (const auto& e : v) Codec<T>::encode(e, w);
  }

  [[nodiscard]] static Result<std::array<T, N>> decode(Reader& r) {
    auto scope = r.enter();
    if (!scope) return std::unexpected(std::move(scope).error());
    std::array<T, N> out{};
    for (std::size_t i = 0; i < N; ++i) {
      scope->index(i);
      auto e = Codec<T>::decode(r);
      if (!e) return std::unexpected(std::move(e).error());
      out[i] = std::move(*e);
    }
    return out;
  }
};

/// Optionals: one tag byte, 0 = empty, 1 = a value follows.
template <class T>
struct Codec<std::optional<T>> {
  static constexpr std::string_view open = "optional<";
  static constexpr std::string_view manifest =
      detail::Joined<open, Codec<T>::manifest, detail::close_angle>::value;
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = 1;

  static void encode(const std::optional<T>& v, Writer& w) {
    w.put_byte(v ? std::byte{1} : std::byte{0});
    if (v) Codec<T>::encode(*v, w);
  }

  [[nodiscard]] static Result<std::optional<T>> decode(Reader& r) {
    const std::size_t at = r.offset();
    auto tag = r.byte();
    if (!tag) return std::unexpected(std::move(tag).error());
    if (*tag == std::byte{0}) return std::optional<T>();
    if (*tag != std::byte{1})
      return std::unexpected(r.error(
          Errc::malformed, at,
          "optional tag must be 0 or 1, got " + std::to_string(static_cast<std::uint8_t>(*tag))));
    auto v = Codec<T>::decode(r);
    if (!v) return std::unexpected(std::move(v).error());
    return std::optional<T>(std::move(*v));
  }
};

/// Variants: varint alternative index, then that alternative. Encoding a variant that is
/// valueless_by_exception throws std::bad_variant_access (a caller bug, not input).
template <class... Ts>
struct Codec<std::variant<Ts...>> {
  using Variant = std::variant<Ts...>;
  static constexpr std::string_view open = "variant<";
  static constexpr std::string_view manifest =
      detail::Joined<open, detail::ManifestList<Ts...>::value, detail::close_angle>::value;
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = 1;

  static void encode(const Variant& v, Writer& w) {
    w.put_varint(v.index());
    std::visit([&w]<class A>(const A& alt) { Codec<A>::encode(alt, w); }, v);
  }

  [[nodiscard]] static Result<Variant> decode(Reader& r) {
    const std::size_t at = r.offset();
    auto index = r.varint();
    if (!index) return std::unexpected(std::move(index).error());
    if (*index >= sizeof...(Ts))
      return std::unexpected(r.error(Errc::malformed, at,
                                     "variant index " + std::to_string(*index) +
                                         " out of range for " + std::string(manifest)));
    return decode_table(std::index_sequence_for<Ts...>{})[*index](r);
  }

 private:
  template <std::size_t I>
  static Result<Variant> decode_alternative(Reader& r) {
    auto v = Codec<std::variant_alternative_t<I, Variant>>::decode(r);
    if (!v) return std::unexpected(std::move(v).error());
    return Variant(std::in_place_index<I>, std::move(*v));
  }

  template <std::size_t... I>
  static constexpr auto decode_table(std::index_sequence<I...>) {
    return std::array<Result<Variant> (*)(Reader&), sizeof...(I)>{&decode_alternative<I>...};
  }
};

/// Pairs and tuples: the elements in order, nothing else.
template <class... Ts>
struct Codec<std::tuple<Ts...>> {
  static constexpr std::string_view open = "tuple<";
  static constexpr std::string_view manifest =
      detail::Joined<open, detail::ManifestList<Ts...>::value, detail::close_angle>::value;
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = (Codec<Ts>::min_size + ... + 0);

  static void encode(const std::tuple<Ts...>& v, Writer& w) {
    std::apply([&w](const Ts&... e) { (Codec<Ts>::encode(e, w), ...); }, v);
  }

  [[nodiscard]] static Result<std::tuple<Ts...>> decode(Reader& r) {
    std::tuple<Ts...> out{};
    Result<void> status;
    std::apply(
        [&](Ts&... e) {
          ([&](auto& slot) {
            using E = std::remove_reference_t<decltype(slot)>;
            auto v = Codec<E>::decode(r);
            if (!v) {
              status = std::unexpected(std::move(v).error());
              return false;
            }
            slot = std::move(*v);
            return true;
          }(e) &&
           ...);
        },
        out);
    if (!status) return std::unexpected(std::move(status).error());
    return out;
  }
};

template <class A, class B>
struct Codec<std::pair<A, B>> {
  static constexpr std::string_view open = "pair<";
  static constexpr std::string_view manifest =
      detail::Joined<open, detail::ManifestList<A, B>::value, detail::close_angle>::value;
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = Codec<A>::min_size + Codec<B>::min_size;

  static void encode(const std::pair<A, B>& v, Writer& w) {
    Codec<A>::encode(v.first, w);
    Codec<B>::encode(v.second, w);
  }

  [[nodiscard]] static Result<std::pair<A, B>> decode(Reader& r) {
    auto a = Codec<A>::decode(r);
    if (!a) return std::unexpected(std::move(a).error());
    auto b = Codec<B>::decode(r);
    if (!b) return std::unexpected(std::move(b).error());
    return std::pair<A, B>(std::move(*a), std::move(*b));
  }
};

/// Maps: varint entry count, then key/value pairs in strictly increasing key order.
/// Decoding rejects duplicate or unordered keys, so each map has exactly one encoding.
template <class K, class V, class Compare, class A>
struct Codec<std::map<K, V, Compare, A>> {
  using Map = std::map<K, V, Compare, A>;
  static constexpr std::string_view open = "map<";
  static constexpr std::string_view manifest =
      detail::Joined<open, detail::ManifestList<K, V>::value, detail::close_angle>::value;
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t min_size = 1;

  static void encode(const Map& m, Writer& w) {
    w.put_varint(m.size());
    for (const auto& [k, v] : m) {
      Codec<K>::encode(k, w);
      Codec<V>::encode(v, w);
    }
  }

  [[nodiscard]] static Result<Map> decode(Reader& r) {
    constexpr std::size_t entry_size = Codec<K>::min_size + Codec<V>::min_size;
    static_assert(entry_size > 0,
                  "a length prefix cannot be bounded for entries that encode to no bytes");
    auto n = r.count(entry_size);
    if (!n) return std::unexpected(std::move(n).error());
    auto scope = r.enter();
    if (!scope) return std::unexpected(std::move(scope).error());
    Map out;
    for (std::size_t i = 0; i < *n; ++i) {
      scope->index(i);
      const std::size_t at = r.offset();
      auto k = Codec<K>::decode(r);
      if (!k) return std::unexpected(std::move(k).error());
      if (!out.empty() && !out.key_comp()(std::prev(out.end())->first, *k))
        return std::unexpected(
            r.error(Errc::malformed, at, "map key not greater than the previous key"));
      auto v = Codec<V>::decode(r);
      if (!v) return std::unexpected(std::move(v).error());
      out.emplace_hint(out.end(), std::move(*k), std::move(*v));
    }
    return out;
  }
};

// ---------------------------------------------------------------------------------------
// Described aggregates (WEFT_CODEC)

namespace detail {

/// Argument of the ADL hook `weft_codec_describe`, which WEFT_CODEC defines next to the type.
template <class T>
struct CodecTag {};

template <class T, class M>
struct Field {
  using Member = M;
  const char* name;
  M T::*member;
};

template <class T, class M>
constexpr Field<T, M> field(const char* name, M T::*member) {
  return {name, member};
}

template <class T, class... Fs>
struct Description {
  const char* type_name;
  std::string_view manifest;
  std::uint32_t version;
  std::tuple<Fs...> fields;
};

template <class T, class... Fs>
constexpr Description<T, Fs...> describe(const char* type_name, std::string_view manifest,
                                         std::uint32_t version, Fs... fields) {
  return {type_name, manifest, version, std::tuple<Fs...>(fields...)};
}

template <class T>
concept Described = requires {
  weft_codec_describe(CodecTag<T>{});
};

}  // namespace detail

/// Fields in declaration order of the WEFT_CODEC list, no tags or names: adding, removing
/// or reordering fields is a new schema version.
template <detail::Described T>
struct Codec<T> {
  static constexpr auto description = weft_codec_describe(detail::CodecTag<T>{});
  static constexpr std::string_view manifest = description.manifest;
  static constexpr std::uint32_t version = description.version;
  static constexpr std::size_t min_size = std::apply(
      [](const auto&... f) {
        return (Codec<typename std::remove_cvref_t<decltype(f)>::Member>::min_size + ... + 0);
      },
      description.fields);

  static void encode(const T& v, Writer& w) {
    std::apply(
        [&](const auto&... f) {
          (Codec<typename std::remove_cvref_t<decltype(f)>::Member>::encode(v.*(f.member), w), ...);
        },
        description.fields);
  }

  [[nodiscard]] static Result<T> decode(Reader& r) {
    auto scope = r.enter(description.type_name);
    if (!scope) return std::unexpected(std::move(scope).error());
    T out{};
    Result<void> status;
    std::apply(
        [&](const auto&... f) {
          ([&](const auto& field) {
            using M = typename std::remove_cvref_t<decltype(field)>::Member;
            scope->field(field.name);
            auto v = Codec<M>::decode(r);
            if (!v) {
              status = std::unexpected(std::move(v).error());
              return false;
            }
            out.*(field.member) = std::move(*v);
            return true;
          }(f) &&
           ...);
        },
        description.fields);
    if (!status) return std::unexpected(std::move(status).error());
    return out;
  }
};

// ---------------------------------------------------------------------------------------
// Entry points

template <Codable T>
void encode(const T& value, Writer& w) {
  Codec<T>::encode(value, w);
}

template <Codable T>
[[nodiscard]] std::vector<std::byte> encode(const T& value) {
  std::vector<std::byte> out;
  Writer w(out);
  Codec<T>::encode(value, w);
  return out;
}

template <Codable T>
[[nodiscard]] Result<T> decode(Reader& r) {
  return Codec<T>::decode(r);
}

/// Decodes a whole buffer: bytes left over after the value are an error (malformed).
template <Codable T>
[[nodiscard]] Result<T> decode(std::span<const std::byte> bytes) {
  Reader r(bytes);
  auto v = Codec<T>::decode(r);
  if (v && r.remaining() != 0)
    return std::unexpected(r.error(Errc::malformed, r.offset(),
                                   std::to_string(r.remaining()) +
                                       " trailing bytes after a complete " +
                                       std::string(Codec<T>::manifest)));
  return v;
}

}  // namespace weft

// ---------------------------------------------------------------------------------------
// WEFT_CODEC(Type, "manifest", version, field...)
//
// Describes an aggregate so it gets a Codec. Put it at namespace scope in the namespace
// that declares Type (it defines an ADL hook there). Type must be default-constructible;
// fields are encoded in the order listed. Up to 64 fields.

#define WEFT_CODEC(Type, manifest_, version_, ...)                                      \
  [[maybe_unused]] constexpr auto weft_codec_describe(::weft::detail::CodecTag<Type>) { \
    return ::weft::detail::describe<Type>(                                              \
        #Type, manifest_,                                                               \
        version_ WEFT_DETAIL_FOR_EACH(WEFT_DETAIL_CODEC_FIELD, Type, __VA_ARGS__));     \
  }                                                                                     \
  static_assert(true, "WEFT_CODEC")

#define WEFT_DETAIL_CODEC_FIELD(Type, member) , ::weft::detail::field(#member, &Type::member)

// __VA_OPT__-based iteration; WEFT_DETAIL_EXPAND rescans enough for 64 fields (checked).
#define WEFT_DETAIL_PARENS ()
#define WEFT_DETAIL_EXPAND(...) \
  WEFT_DETAIL_EXPAND3(WEFT_DETAIL_EXPAND3(WEFT_DETAIL_EXPAND3(WEFT_DETAIL_EXPAND3(__VA_ARGS__))))
#define WEFT_DETAIL_EXPAND3(...) \
  WEFT_DETAIL_EXPAND2(WEFT_DETAIL_EXPAND2(WEFT_DETAIL_EXPAND2(WEFT_DETAIL_EXPAND2(__VA_ARGS__))))
#define WEFT_DETAIL_EXPAND2(...) \
  WEFT_DETAIL_EXPAND1(WEFT_DETAIL_EXPAND1(WEFT_DETAIL_EXPAND1(WEFT_DETAIL_EXPAND1(__VA_ARGS__))))
#define WEFT_DETAIL_EXPAND1(...) __VA_ARGS__
#define WEFT_DETAIL_FOR_EACH(macro, ctx, ...) \
  __VA_OPT__(WEFT_DETAIL_EXPAND(WEFT_DETAIL_FOR_EACH_STEP(macro, ctx, __VA_ARGS__)))
#define WEFT_DETAIL_FOR_EACH_STEP(macro, ctx, first, ...) \
  macro(ctx, first)                                       \
      __VA_OPT__(WEFT_DETAIL_FOR_EACH_AGAIN WEFT_DETAIL_PARENS(macro, ctx, __VA_ARGS__))
#define WEFT_DETAIL_FOR_EACH_AGAIN() WEFT_DETAIL_FOR_EACH_STEP

// ---------------------------------------------------------------------------------------
// Envelope: a value framed with its manifest and version, as persistence stores events.

namespace weft {

/// Readers compare manifest and version with what they expect and upcast older versions
/// (upcasters live with persistence); the payload is the value's own encoding.
struct Envelope {
  std::string manifest;
  std::uint32_t version = 0;
  std::vector<std::byte> payload;

  friend bool operator==(const Envelope&, const Envelope&) = default;
};

WEFT_CODEC(Envelope, "weft.Envelope", 1, manifest, version, payload);

template <Codable T>
[[nodiscard]] Envelope make_envelope(const T& value) {
  return Envelope{std::string(Codec<T>::manifest), Codec<T>::version, encode(value)};
}

/// Appends the same bytes as encode(make_envelope(value)) without building the payload
/// separately: the payload is encoded in place and its length prefix slid in front of it.
template <Codable T>
void encode_enveloped(const T& value, Writer& w) {
  w.put_varint(Codec<T>::manifest.size());
  w.put_bytes(std::as_bytes(std::span(Codec<T>::manifest)));
  Codec<std::uint32_t>::encode(Codec<T>::version, w);
  auto& buf = w.buffer();
  const std::size_t start = buf.size();
  Codec<T>::encode(value, w);
  const std::size_t length = buf.size() - start;
  std::array<std::byte, Writer::max_varint_size> prefix;
  const std::size_t n = Writer::varint_bytes(length, prefix);
  buf.insert(buf.begin() + static_cast<std::ptrdiff_t>(start), prefix.begin(),
             prefix.begin() + static_cast<std::ptrdiff_t>(n));
}

/// Decodes the payload as a T after checking the manifest (else unknown_manifest) and the
/// version (else unsupported_version, the cue to upcast).
template <Codable T>
[[nodiscard]] Result<T> open_envelope(const Envelope& e) {
  if (e.manifest != Codec<T>::manifest)
    return fail(Errc::unknown_manifest, "envelope holds '" + e.manifest + "', expected '" +
                                            std::string(Codec<T>::manifest) + "'");
  if (e.version != Codec<T>::version)
    return fail(Errc::unsupported_version,
                "envelope holds " + e.manifest + " version " + std::to_string(e.version) +
                    ", this build reads version " + std::to_string(Codec<T>::version));
  auto v = decode<T>(std::span<const std::byte>(e.payload));
  if (!v) return std::unexpected(v.error().with_context(e.manifest + " payload"));
  return v;
}

}  // namespace weft
