#include "weft/persistence/compression.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <zstd.h>

namespace weft::persistence {
namespace {

std::vector<std::byte> bytes_of(const std::vector<std::uint8_t>& v) {
  std::vector<std::byte> out;
  for (auto b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

RC_GTEST_PROP(Compression, RoundTrips, (const std::vector<std::uint8_t>& input, int level)) {
  auto in = bytes_of(input);
  auto packed = zstd_compress(in, level % 20).value();
  RC_ASSERT(zstd_decompress(packed, in.size()).value() == in);
}

TEST(Compression, CompressesRepetitiveData) {
  std::vector<std::byte> in(1 << 20, std::byte{'x'});
  auto packed = zstd_compress(in).value();
  EXPECT_LT(packed.size(), 1000u);
  EXPECT_EQ(zstd_decompress(packed).value(), in);
}

TEST(Compression, BombDeclaringAHugeSizeIsRefusedByTheLimit) {
  // 32 MiB of zeros compress to a few KiB; a 1 MiB limit must refuse it from the header.
  std::vector<std::byte> big(32u << 20);
  auto bomb = zstd_compress(big).value();
  ASSERT_LT(bomb.size(), 16u * 1024);
  auto r = zstd_decompress(bomb, 1u << 20);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  EXPECT_NE(r.error().message().find("limit"), std::string::npos) << r.error().message();
}

TEST(Compression, BombWithoutDeclaredSizeIsCutOffAtTheLimit) {
  // A streamed frame does not carry its content size: only the streaming cap stops it.
  std::vector<std::byte> big(16u << 20);
  std::vector<std::byte> frame(ZSTD_compressBound(big.size()));
  auto* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  ZSTD_inBuffer in{big.data(), big.size(), 0};
  ZSTD_outBuffer out{frame.data(), frame.size(), 0};
  ASSERT_EQ(ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_end), 0u);
  ZSTD_freeCCtx(cctx);
  frame.resize(out.pos);
  ASSERT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  auto r = zstd_decompress(frame, 1u << 20);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  EXPECT_EQ(zstd_decompress(frame, big.size()).value(), big);
}

TEST(Compression, GarbageTruncatedAndTamperedAreCorrupted) {
  std::vector<std::byte> in(4000);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<std::byte>(i * 7 % 251);
  auto packed = zstd_compress(in).value();
  for (std::size_t n = 0; n < packed.size(); ++n) {
    auto r = zstd_decompress(std::span(packed).first(n));
    ASSERT_FALSE(r) << "truncated to " << n;
    EXPECT_EQ(r.error().code(), Errc::corrupted);
  }
  for (std::size_t i = 0; i < packed.size(); ++i) {
    auto t = packed;
    t[i] ^= std::byte{0x40};
    auto r = zstd_decompress(t);
    // The content checksum catches what the format does not.
    if (r)
      EXPECT_EQ(*r, in) << "flipped byte " << i;
    else
      EXPECT_EQ(r.error().code(), Errc::corrupted);
  }
  std::vector<std::byte> garbage(100, std::byte{0x5a});
  EXPECT_FALSE(zstd_decompress(garbage));
}

TEST(Compression, EmptyInputRoundTrips) {
  auto packed = zstd_compress({}).value();
  EXPECT_TRUE(zstd_decompress(packed, 0).value().empty());
}

}  // namespace
}  // namespace weft::persistence
