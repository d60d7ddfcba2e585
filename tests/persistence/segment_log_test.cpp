#include "persistence/segment_log.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "persistence/journal_segment.hpp"
#include "temp_dir.hpp"

namespace weft::persistence {
namespace {

namespace fs = std::filesystem;
using weft::test::TempDir;

// A real segment (its trailing checksum is what the log checks) whose one entry names `no`.
std::string segment(std::uint64_t no, std::size_t payload = 100) {
  std::string entries;
  put_segment_entry(entries, "pid-" + std::to_string(no), no, std::string(payload, 'x'));
  std::string out;
  encode_segment(out, no, 1, entries);
  return out;
}

struct Read {
  std::vector<std::uint64_t> numbers;
  std::vector<std::string> segments;
};

Result<std::unique_ptr<SegmentLog>> open_log(const SegmentLogOptions& o, std::uint64_t folded,
                                             Read& read) {
  return SegmentLog::open(o, folded, [&](std::uint64_t no, std::string_view seg) -> Result<void> {
    read.numbers.push_back(no);
    read.segments.emplace_back(seg);
    return {};
  });
}

std::vector<std::uint64_t> range(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t i = from; i <= to; ++i) v.push_back(i);
  return v;
}

void append(SegmentLog& log, std::uint64_t no, std::size_t payload = 100) {
  const std::string seg = segment(no, payload);
  const std::string_view parts[] = {std::string_view(seg).substr(0, 5),
                                    std::string_view(seg).substr(5)};
  auto r = log.append(no, parts);
  ASSERT_TRUE(r.has_value()) << r.error().describe();
}

// A closed log holding frames 1..count.
void write_log(const SegmentLogOptions& o, std::uint64_t count, std::size_t payload = 100) {
  Read none;
  auto log = open_log(o, 0, none).value();
  for (std::uint64_t no = 1; no <= count; ++no) append(*log, no, payload);
}

std::vector<std::string> names(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string log_file(const std::string& dir, std::uint64_t first) {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.wlog", static_cast<unsigned long long>(first));
  return dir + "/" + name;
}

void flip_byte(const std::string& path, std::size_t at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(at));
  f.put(static_cast<char>(c ^ 0x40));
}

TEST(SegmentLog, FramesAreReadBackInOrderAfterReopenAndFoldedOnesSkipped) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  {
    Read none;
    auto log = open_log(o, 0, none).value();
    EXPECT_TRUE(none.numbers.empty());
    EXPECT_EQ(log->next(), 0u);
    for (std::uint64_t no = 1; no <= 20; ++no) append(*log, no, 50 * no);
    EXPECT_EQ(log->next(), 21u);
  }
  Read all;
  {
    auto log = open_log(o, 0, all).value();
    EXPECT_EQ(log->next(), 21u);
    append(*log, 21);
  }
  EXPECT_EQ(all.numbers, range(1, 20));
  for (std::uint64_t no = 1; no <= 20; ++no) EXPECT_EQ(all.segments[no - 1], segment(no, 50 * no));
  Read after;
  auto log = open_log(o, 15, after).value();
  EXPECT_EQ(after.numbers, range(16, 21));
  auto frames = SegmentLog::read(o.directory, 15,
                                 [](std::uint64_t, std::string_view) { return Result<void>(); });
  EXPECT_EQ(frames.value(), 6u);
}

// Small files: the log moves from file to file; released files come back as spares, whose
// old frames a reader must stop at.
TEST(SegmentLog, FilesRollOverAndReleasedOnesAreReusedWithoutTheirOldFramesShowing) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  o.file_bytes = 4 * kLogFrameAlign;  // four small frames per file
  o.prepare_bytes_per_s = 0;          // only released files become spares
  Read none;
  auto log = open_log(o, 0, none).value();
  std::uint64_t no = 1;
  for (; no <= 12; ++no) append(*log, no);
  EXPECT_EQ(log->files(), 3u);
  EXPECT_FALSE(log->releasable(3));
  EXPECT_TRUE(log->releasable(4));
  log->release_through(8);  // the files holding 1-4 and 5-8
  EXPECT_EQ(log->files(), 1u);
  // Both released files are spares now.
  std::vector<std::string> files;
  std::size_t spares = 0;
  for (const auto& name : names(o.directory)) {
    if (name.starts_with("spare-") && name.ends_with(".wlog")) ++spares;
    if (!name.starts_with("spare-")) files.push_back(name);
  }
  EXPECT_EQ(files, std::vector<std::string>{"00000000000000000009.wlog"});
  EXPECT_EQ(spares, 2u);
  for (; no <= 18; ++no) append(*log, no);  // 13-16 go into a recycled file: its frames are old
  log.reset();
  Read read;
  log = open_log(o, 8, read).value();
  EXPECT_EQ(read.numbers, range(9, 18));
  EXPECT_EQ(log->next(), 19u);
  append(*log, 19);
}

// With spare_at_open a spare is written full of zeros at once, and the log moves to it from
// the file that grows as it is written.
TEST(SegmentLog, ASpareMadeAtOpenReplacesTheGrowingFile) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  o.file_bytes = 256u << 10;
  o.spare_at_open = true;
  Read none;
  auto log = open_log(o, 0, none).value();
  append(*log, 1);
  EXPECT_EQ(fs::file_size(log_file(o.directory, 1)), kLogFrameAlign);  // grows as written
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (log->spares() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll: no event to wait on
  }
  ASSERT_EQ(log->spares(), 1u);
  append(*log, 2);
  EXPECT_EQ(log->files(), 2u);
  EXPECT_EQ(fs::file_size(log_file(o.directory, 2)), o.file_bytes);  // the spare, renamed
  append(*log, 3);
  log.reset();
  Read read;
  log = open_log(o, 0, read).value();
  EXPECT_EQ(read.numbers, range(1, 3));
}

// A spare kept from an earlier run must not have its name taken by a new one (whose rename would
// replace the kept file, leaving two entries for one file and a failed append later).
TEST(SegmentLog, NewSparesDoNotTakeTheNamesOfKeptOnes) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  o.file_bytes = 4 * kLogFrameAlign;
  o.prepare_bytes_per_s = 0;
  write_log(o, 8);  // files 1 and 5
  std::ofstream(o.directory + "/spare-2.wlog", std::ios::binary) << std::string(o.file_bytes, '\0');
  Read read;
  auto log = open_log(o, 0, read).value();
  EXPECT_EQ(log->spares(), 1u);
  log->release_through(4);  // file 1 becomes a second spare, under a name of its own
  std::size_t on_disk = 0;
  for (const auto& name : names(o.directory)) on_disk += name.starts_with("spare-") ? 1 : 0;
  EXPECT_EQ(log->spares(), 2u);
  EXPECT_EQ(on_disk, 2u);
  for (std::uint64_t no = 9; no <= 16; ++no) append(*log, no);  // both spares taken
  EXPECT_EQ(log->files(), 3u);
}

TEST(SegmentLog, ATornTailIsCutOffAndWrittenOver) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  write_log(o, 5, 3000);  // one 4 KiB frame each
  // The last write torn: its segment's bytes are not all there.
  flip_byte(log_file(o.directory, 1), 4 * kLogFrameAlign + 2000);
  {
    Read read;
    auto log = open_log(o, 0, read).value();
    EXPECT_EQ(read.numbers, range(1, 4));
    EXPECT_EQ(log->next(), 5u);
    append(*log, 5, 10);
    append(*log, 6, 10);
  }
  // A torn header, after a crash right at the start of a write.
  {
    std::fstream f(log_file(o.directory, 1), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(6 * kLogFrameAlign));
    f.write("\x07\x00\x00\x00\x00\x00", 6);
  }
  Read read;
  auto log = open_log(o, 0, read).value();
  EXPECT_EQ(read.numbers, range(1, 6));
  EXPECT_EQ(read.segments[4], segment(5, 10));
}

TEST(SegmentLog, DamageBeforeIntactFramesStopsTheOpenNamingFileAndByte) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  write_log(o, 5);
  flip_byte(log_file(o.directory, 1), 2 * kLogFrameAlign + 40);  // inside segment 3
  Read read;
  auto r = open_log(o, 0, read);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  const std::string& m = r.error().message();
  EXPECT_NE(m.find(log_file(o.directory, 1)), std::string::npos) << m;
  EXPECT_NE(m.find("byte 8192"), std::string::npos) << m;
  EXPECT_NE(m.find("segment 4 follows intact at byte 12288"), std::string::npos) << m;
  auto verify = SegmentLog::read(o.directory, 0,
                                 [](std::uint64_t, std::string_view) { return Result<void>(); });
  EXPECT_FALSE(verify.has_value());
  // Folded frames are no reason to stop: with 3 folded the damage is in the past.
  Read after;
  EXPECT_TRUE(open_log(o, 3, after).has_value());
  EXPECT_EQ(after.numbers, range(4, 5));
}

TEST(SegmentLog, AMissingFileIsCorruptionNamingTheGap) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  o.file_bytes = 2 * kLogFrameAlign;
  o.prepare_bytes_per_s = 0;  // no early move to a spare: two frames per file
  write_log(o, 6);
  fs::remove(log_file(o.directory, 3));
  Read read;
  auto r = open_log(o, 0, read);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  EXPECT_NE(r.error().message().find("starts at segment 5, but the file before it ends at "
                                     "segment 2"),
            std::string::npos)
      << r.error().message();
  // Unfolded segments before the first file are missing too.
  fs::remove(log_file(o.directory, 1));
  r = open_log(o, 0, read);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("segments from 1 on are not folded"), std::string::npos)
      << r.error().message();
  // Once 4 is folded, the first file left is where the log begins.
  Read after;
  EXPECT_EQ(open_log(o, 4, after).value()->next(), 7u);
  EXPECT_EQ(after.numbers, range(5, 6));
}

TEST(SegmentLog, AnErrorFromTheReaderStopsTheOpen) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  write_log(o, 2);
  auto r = SegmentLog::open(o, 0, [](std::uint64_t no, std::string_view) -> Result<void> {
    if (no == 2) return fail(Errc::corrupted, "segment 2 is no good");
    return {};
  });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "segment 2 is no good");
}

// A reused file: the frames written since end inside an old frame's bytes; the old frames
// after it mark the rest as left over, not as damage in the middle.
TEST(SegmentLog, AReusedFileEndsWhereItsNewFramesEnd) {
  auto put_frame = [](std::string& file, std::size_t at, std::uint64_t no, std::size_t payload) {
    const std::string seg = segment(no, payload);
    std::string frame;
    encode_frame_header(frame, no, static_cast<std::uint32_t>(seg.size()));
    frame += seg;
    frame.resize(frame_size(seg.size()), '\0');
    if (file.size() < at + frame.size()) file.resize(at + frame.size(), '\0');
    file.replace(at, frame.size(), frame);
    return frame.size();
  };
  std::string file;
  std::size_t at = 0;
  for (std::uint64_t no = 1; no <= 4; ++no) at += put_frame(file, at, no, 5000);  // 8 KiB each
  put_frame(file, 0, 10, 100);  // the file reused from segment 10: one 4 KiB frame
  std::vector<std::uint64_t> seen;
  auto scan = scan_frames(file, 10, "f", [&](std::uint64_t no, std::string_view) -> Result<void> {
    seen.push_back(no);
    return {};
  });
  ASSERT_TRUE(scan.has_value()) << scan.error().describe();
  EXPECT_EQ(seen, std::vector<std::uint64_t>{10});
  EXPECT_EQ(scan->end, kLogFrameAlign);
  EXPECT_FALSE(scan->torn.empty());
  EXPECT_TRUE(scan->reused);
}

TEST(SegmentLog, ScanFramesNeverReadsPastTheBytes) {
  // Every prefix of a valid file ends cleanly or as a torn tail, never out of bounds.
  std::string file;
  for (std::uint64_t no = 1; no <= 3; ++no) {
    const std::string seg = segment(no, 500);
    encode_frame_header(file, no, static_cast<std::uint32_t>(seg.size()));
    file += seg;
    file.resize(frame_size(seg.size()) * no, '\0');
  }
  for (std::size_t n = 0; n <= file.size(); n += 7) {
    std::uint64_t frames = 0;
    auto scan = scan_frames(std::string_view(file).substr(0, n), 1, "f",
                            [&](std::uint64_t, std::string_view) -> Result<void> {
                              ++frames;
                              return {};
                            });
    ASSERT_TRUE(scan.has_value()) << n << ": " << scan.error().describe();
    EXPECT_EQ(scan->next, 1 + frames);
    EXPECT_EQ(scan->end, frames * kLogFrameAlign);
  }
}

}  // namespace
}  // namespace weft::persistence
