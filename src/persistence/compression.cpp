#include "weft/persistence/compression.hpp"

#include <zstd.h>

#include <algorithm>
#include <bit>
#include <memory>
#include <string>

namespace weft::persistence {

namespace {

struct DCtxDeleter {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};
struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

// zstd's own default cap on a frame's window (ZSTD_WINDOWLOG_LIMIT_DEFAULT, 128 MiB), which
// the stable API does not export.
constexpr int kDefaultWindowLogLimit = 27;

}  // namespace

Result<std::vector<std::byte>> zstd_compress(std::span<const std::byte> input, int level) {
  level = std::clamp(level, ZSTD_minCLevel(), ZSTD_maxCLevel());
  // One context per thread, reset per call: creating one costs more than a small snapshot.
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> ctx(ZSTD_createCCtx());
  if (!ctx) return fail(Errc::internal, "zstd: cannot create a compression context");
  ZSTD_CCtx_reset(ctx.get(), ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(ctx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(ctx.get(), ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setParameter(ctx.get(), ZSTD_c_contentSizeFlag, 1);
  std::vector<std::byte> out(ZSTD_compressBound(input.size()));
  std::size_t n = ZSTD_compress2(ctx.get(), out.data(), out.size(), input.data(), input.size());
  if (ZSTD_isError(n)) {
    return fail(Errc::internal, std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  }
  out.resize(n);
  return out;
}

Result<std::vector<std::byte>> zstd_decompress(std::span<const std::byte> input,
                                               std::size_t max_bytes) {
  auto too_large = [&](const std::string& what) {
    return fail(Errc::corrupted, "zstd data " + what + " more than the limit of " +
                                     std::to_string(max_bytes) + " bytes");
  };
  // Cheap refusal of a frame that declares too much, and a good first allocation otherwise.
  std::size_t reserve =
      std::min<std::size_t>(max_bytes, std::max<std::size_t>(input.size() * 4, 4096));
  auto declared = ZSTD_getFrameContentSize(input.data(), input.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) {
    return fail(Errc::corrupted, "not a zstd frame (bad magic or header)");
  }
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN) {
    if (declared > max_bytes) return too_large("declares " + std::to_string(declared) + " bytes,");
    reserve = static_cast<std::size_t>(declared);
  }

  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> ctx(ZSTD_createDCtx());
  if (!ctx) return fail(Errc::internal, "zstd: cannot create a decompression context");
  ZSTD_DCtx_reset(ctx.get(), ZSTD_reset_session_and_parameters);
  // The window buffer is the decoder's own allocation: never larger than the output may be.
  int window_log =
      std::clamp(static_cast<int>(std::bit_width(std::max<std::size_t>(max_bytes, 1) - 1)), 20,
                 kDefaultWindowLogLimit);
  ZSTD_DCtx_setParameter(ctx.get(), ZSTD_d_windowLogMax, window_log);

  std::vector<std::byte> out;
  out.resize(std::max<std::size_t>(reserve, 1));
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  std::size_t last = 1;
  while (true) {
    last = ZSTD_decompressStream(ctx.get(), &ob, &in);
    if (ZSTD_isError(last)) {
      return fail(Errc::corrupted,
                  std::string("zstd data does not decompress: ") + ZSTD_getErrorName(last));
    }
    if (in.pos == in.size && last == 0) break;  // every frame complete
    if (ob.pos < ob.size) {
      if (in.pos == in.size) {
        return fail(Errc::corrupted, "zstd data ends inside a frame (truncated)");
      }
      continue;
    }
    // Output full: grow, but never past the limit (one byte past it proves the overflow).
    if (out.size() > max_bytes) return too_large("decompresses to");
    std::size_t grown =
        std::min<std::size_t>(max_bytes + 1, std::max<std::size_t>(out.size() * 2, 4096));
    out.resize(grown);
    ob.dst = out.data();
    ob.size = out.size();
  }
  if (ob.pos > max_bytes) return too_large("decompresses to");
  out.resize(ob.pos);
  return out;
}

}  // namespace weft::persistence
