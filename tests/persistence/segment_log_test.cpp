#include "persistence/segment_log.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "persistence/journal_record.hpp"
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
  o.file_bytes = kLogHeaderPage + 3 * kLogFrameAlign;  // three small frames per file
  o.prepare_bytes_per_s = 0;                           // only released files become spares
  Read none;
  auto log = open_log(o, 0, none).value();
  std::uint64_t no = 1;
  for (; no <= 9; ++no) append(*log, no);
  EXPECT_EQ(log->files(), 3u);
  EXPECT_FALSE(log->releasable(2));
  EXPECT_TRUE(log->releasable(3));
  log->release_through(6);  // the files holding 1-3 and 4-6
  EXPECT_EQ(log->files(), 1u);
  // Both released files are spares now.
  std::vector<std::string> files;
  std::size_t spares = 0;
  for (const auto& name : names(o.directory)) {
    if (name.starts_with("spare-") && name.ends_with(".wlog")) ++spares;
    if (!name.starts_with("spare-")) files.push_back(name);
  }
  EXPECT_EQ(files, std::vector<std::string>{"00000000000000000007.wlog"});
  EXPECT_EQ(spares, 2u);
  for (; no <= 15; ++no) append(*log, no);  // 10-15 go into recycled files: their frames are old
  EXPECT_EQ(log->files(), 3u);
  log.reset();
  Read read;
  log = open_log(o, 6, read).value();
  EXPECT_EQ(read.numbers, range(7, 15));
  EXPECT_EQ(log->next(), 16u);
  append(*log, 16);
}

// A release keeps at most max_spares of the files it frees as spares and deletes the rest; the
// log then moves through the kept ones without growing a new file, and a reopen keeps no more.
TEST(SegmentLog, ReleasedFilesBeyondMaxSparesAreDeletedAndTheKeptOnesTakeFrames) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  o.file_bytes = kLogHeaderPage + 3 * kLogFrameAlign;  // three small frames per file
  o.prepare_bytes_per_s = 0;                           // only released files become spares
  o.max_spares = 3;
  auto count = [&] {
    std::pair<std::size_t, std::size_t> files_spares{0, 0};
    for (const auto& name : names(o.directory)) {
      (name.starts_with("spare-") ? files_spares.second : files_spares.first) += 1;
    }
    return files_spares;
  };
  Read none;
  auto log = open_log(o, 0, none).value();
  std::uint64_t no = 1;
  for (; no <= 16; ++no) append(*log, no);  // six files: 1-3, ..., 13-15, 16
  EXPECT_EQ(log->files(), 6u);
  log->release_through(15);  // five files freed: three kept, two deleted
  EXPECT_EQ(log->files(), 1u);
  EXPECT_EQ(log->spares(), 3u);
  EXPECT_EQ(count(), std::make_pair(std::size_t{1}, std::size_t{3}));
  // 16 stays alone in its file, which grew as it was written: the log moves to a spare once one
  // is ready. 17-25 go into the three spares, full-sized from the start; 26-27 into a new file.
  for (; no <= 27; ++no) append(*log, no);
  EXPECT_EQ(log->spares(), 0u);
  EXPECT_EQ(log->files(), 5u);
  for (std::uint64_t first : {17u, 20u, 23u}) {
    EXPECT_EQ(fs::file_size(log_file(o.directory, first)), o.file_bytes) << first;
  }
  log->release_through(22);  // 16 (not full-sized: deleted), 17 and 20 (spares again)
  EXPECT_EQ(log->spares(), 2u);
  EXPECT_EQ(count(), std::make_pair(std::size_t{2}, std::size_t{2}));
  log.reset();
  o.max_spares = 1;  // a reopen with a lower limit deletes the spare beyond it
  Read read;
  log = open_log(o, 22, read).value();
  EXPECT_EQ(read.numbers, range(23, 27));
  EXPECT_EQ(log->spares(), 1u);
  EXPECT_EQ(count(), std::make_pair(std::size_t{2}, std::size_t{1}));
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
  // Grows as written: the header page and one frame.
  EXPECT_EQ(fs::file_size(log_file(o.directory, 1)), kLogHeaderPage + kLogFrameAlign);
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
  o.file_bytes = kLogHeaderPage + 3 * kLogFrameAlign;
  o.prepare_bytes_per_s = 0;
  write_log(o, 6);  // files 1 and 4
  std::ofstream(o.directory + "/spare-2.wlog", std::ios::binary) << std::string(o.file_bytes, '\0');
  Read read;
  auto log = open_log(o, 0, read).value();
  EXPECT_EQ(log->spares(), 1u);
  log->release_through(3);  // file 1 becomes a second spare, under a name of its own
  std::size_t on_disk = 0;
  for (const auto& name : names(o.directory)) on_disk += name.starts_with("spare-") ? 1 : 0;
  EXPECT_EQ(log->spares(), 2u);
  EXPECT_EQ(on_disk, 2u);
  for (std::uint64_t no = 7; no <= 12; ++no) append(*log, no);  // both spares taken
  EXPECT_EQ(log->files(), 3u);
}

TEST(SegmentLog, ATornTailIsCutOffAndWrittenOver) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  write_log(o, 5, 3000);  // one 4 KiB frame each
  // The last write torn: its segment's bytes are not all there.
  flip_byte(log_file(o.directory, 1), kLogHeaderPage + 4 * kLogFrameAlign + 2000);
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
    f.seekp(static_cast<std::streamoff>(kLogHeaderPage + 6 * kLogFrameAlign));
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
  flip_byte(log_file(o.directory, 1), kLogHeaderPage + 2 * kLogFrameAlign + 40);  // segment 3
  Read read;
  auto r = open_log(o, 0, read);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  const std::string& m = r.error().message();
  EXPECT_NE(m.find(log_file(o.directory, 1)), std::string::npos) << m;
  // Segment 3's frame is the third after the header page.
  EXPECT_NE(m.find("byte 12288 (segment 3 checksum mismatch)"), std::string::npos) << m;
  EXPECT_NE(m.find("segment 4 follows intact at byte 16384"), std::string::npos) << m;
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
  o.file_bytes = kLogHeaderPage + 2 * kLogFrameAlign;
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

// A frame as it lies in a file: header, segment, padding.
std::string frame_bytes(std::uint64_t salt, std::uint64_t no, std::size_t payload = 100) {
  const std::string seg = segment(no, payload);
  std::string frame;
  encode_frame_header(frame, salt, no, static_cast<std::uint32_t>(seg.size()));
  frame += seg;
  frame.resize(frame_size(seg.size()), '\0');
  return frame;
}

void put_bytes_at(std::string& file, std::size_t at, std::string_view bytes) {
  if (file.size() < at + bytes.size()) file.resize(at + bytes.size(), '\0');
  file.replace(at, bytes.size(), bytes);
}

Result<FrameScan> scan(std::string_view file, std::uint64_t first,
                       std::vector<std::uint64_t>* seen = nullptr) {
  return scan_frames(file, first, "f", [&](std::uint64_t no, std::string_view) -> Result<void> {
    if (seen != nullptr) seen->push_back(no);
    return {};
  });
}

// A reused file: the frames written since end inside an old frame's bytes, which fail their
// header checksum under the new use's salt.
TEST(SegmentLog, AReusedFileEndsWhereItsNewFramesEnd) {
  std::string file;
  encode_log_header(file, 1, 0x1111);
  for (std::uint64_t no = 1; no <= 4; ++no) file += frame_bytes(0x1111, no, 5000);  // 8 KiB each
  std::string header;
  encode_log_header(header, 10, 0x2222);  // the file reused from segment 10
  put_bytes_at(file, 0, header);
  put_bytes_at(file, kLogHeaderPage, frame_bytes(0x2222, 10));  // one 4 KiB frame
  std::vector<std::uint64_t> seen;
  auto r = scan(file, 10, &seen);
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->header, FrameScan::Header::valid);
  EXPECT_EQ(seen, std::vector<std::uint64_t>{10});
  EXPECT_EQ(r->next, 11u);
  EXPECT_EQ(r->end, kLogHeaderPage + kLogFrameAlign);
  EXPECT_TRUE(r->stale);
  EXPECT_TRUE(r->torn.empty());
  // Under the old salt the same bytes would be frames: the salt is what tells them apart.
  put_bytes_at(file, kLogHeaderPage + kLogFrameAlign, frame_bytes(0x1111, 11));
  seen.clear();
  ASSERT_TRUE(scan(file, 10, &seen).has_value());
  EXPECT_EQ(seen, std::vector<std::uint64_t>{10});
}

// Without a header page naming the file's first segment, a file holds no frames, whatever
// follows: zeros (a spare taken, then a crash), the header of an earlier use, or a damaged one.
TEST(SegmentLog, AFileWithoutItsHeaderPageHoldsNoFrames) {
  std::string file;
  encode_log_header(file, 5, 0x3333);
  file += frame_bytes(0x3333, 5);
  file += frame_bytes(0x3333, 6);
  std::vector<std::uint64_t> seen;
  ASSERT_TRUE(scan(file, 5, &seen).has_value());
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{5, 6}));
  struct Case {
    std::string file;
    std::uint64_t first;
    FrameScan::Header header;
  };
  std::string zeros = file;
  std::fill_n(zeros.begin(), kLogHeaderPage, '\0');
  std::string damaged = file;
  damaged[20] ^= 0x01;  // in the salt
  const std::vector<Case> cases = {
      {zeros, 5, FrameScan::Header::missing},
      {"", 5, FrameScan::Header::missing},
      {file.substr(0, 20), 5, FrameScan::Header::damaged},
      {damaged, 5, FrameScan::Header::damaged},
      {file, 7, FrameScan::Header::other_first},
  };
  for (const auto& c : cases) {
    seen.clear();
    auto r = scan(c.file, c.first, &seen);
    ASSERT_TRUE(r.has_value()) << r.error().describe();
    EXPECT_EQ(r->header, c.header);
    EXPECT_TRUE(seen.empty());
    EXPECT_EQ(r->next, c.first);
    EXPECT_EQ(r->end, 0u);
  }
}

// A frame as the format before salts had it: header checksum over the 12 header bytes alone.
std::string unsalted_frame(std::uint64_t no) {
  const std::string seg = segment(no);
  std::string frame;
  for (int i = 0; i < 8; ++i) frame.push_back(static_cast<char>(no >> (8 * i)));
  for (int i = 0; i < 4; ++i) frame.push_back(static_cast<char>(seg.size() >> (8 * i)));
  const std::uint32_t crc = crc32c(0, frame);
  for (int i = 0; i < 4; ++i) frame.push_back(static_cast<char>(crc >> (8 * i)));
  frame += seg;
  return frame;
}

// The known gap of reused files: after a crash the reader reads on past the frames written
// since the file was taken into use, into its old bytes. Old bytes (user payloads) that form,
// at the next 4 KiB boundary, a frame with the next number and valid checksums, under the
// format before salts or under the salt of the file's earlier use, must not be replayed.
void check_planted_frames_are_not_replayed(bool under_old_salt) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  o.file_bytes = 8 * kLogFrameAlign;
  o.prepare_bytes_per_s = 0;  // only released files become spares
  Read none;
  auto log = open_log(o, 0, none).value();
  std::uint64_t no = 1;
  while (log->files() < 2) append(*log, no++);  // one-page frames: the first file fills exactly
  const std::uint64_t per_file = no - 2;
  log->release_through(per_file);
  ASSERT_EQ(log->spares(), 1u);
  std::string spare;
  for (const auto& name : names(o.directory)) {
    if (name.starts_with("spare-")) spare = o.directory + "/" + name;
  }
  // The spare's old bytes: a frame numbered after the one its next use will start with, at
  // every page after the header page, so one lies right after that first frame.
  const std::uint64_t reused_from = no;  // the growing second file gives way to the spare
  {
    std::fstream f(spare, std::ios::in | std::ios::out | std::ios::binary);
    char page[kLogHeaderPage];
    f.read(page, sizeof page);
    std::uint64_t old_salt = 0;
    for (int i = 0; i < 8; ++i) {
      old_salt |= static_cast<std::uint64_t>(static_cast<unsigned char>(page[20 + i])) << (8 * i);
    }
    const std::string forged =
        under_old_salt ? frame_bytes(old_salt, reused_from + 1) : unsalted_frame(reused_from + 1);
    for (std::size_t at = kLogHeaderPage; at < o.file_bytes; at += kLogFrameAlign) {
      f.seekp(static_cast<std::streamoff>(at));
      f.write(forged.data(), static_cast<std::streamsize>(forged.size()));
    }
  }
  append(*log, reused_from);
  ASSERT_EQ(log->files(), 2u);
  ASSERT_TRUE(fs::exists(log_file(o.directory, reused_from)));
  log.reset();  // a crash: nothing more is written
  Read read;
  log = open_log(o, per_file, read).value();
  EXPECT_EQ(read.numbers, range(per_file + 1, reused_from));
  EXPECT_EQ(log->next(), reused_from + 1);
  append(*log, reused_from + 1);  // written over the planted frame
  log.reset();
  Read again;
  log = open_log(o, per_file, again).value();
  EXPECT_EQ(again.numbers, range(per_file + 1, reused_from + 1));
  EXPECT_EQ(again.segments.back(), segment(reused_from + 1));
}

TEST(SegmentLog, OldBytesOfAReusedFileThatFormTheNextFrameAreNotReplayed) {
  check_planted_frames_are_not_replayed(false);
}

TEST(SegmentLog, FramesUnderTheSaltOfAFilesEarlierUseAreNotReplayed) {
  check_planted_frames_are_not_replayed(true);
}

// A crash between renaming a spare to the next file's name and writing its first frame: the
// file still holds its earlier use (header page and frames); it holds no frames of this one,
// and takes the next append.
TEST(SegmentLog, ASpareRenamedButNeverWrittenHoldsNoFramesAndTakesTheNext) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  o.file_bytes = kLogHeaderPage + 2 * kLogFrameAlign;
  o.prepare_bytes_per_s = 0;
  write_log(o, 4);  // files 1 (1-2) and 3 (3-4)
  // File 1, folded, taken as the spare for segment 5, as switch_file renames it.
  fs::rename(log_file(o.directory, 1), log_file(o.directory, 5));
  Read read;
  auto log = open_log(o, 2, read).value();
  EXPECT_EQ(read.numbers, range(3, 4));
  EXPECT_EQ(log->next(), 5u);
  EXPECT_EQ(log->files(), 2u);
  append(*log, 5);
  append(*log, 6);
  log.reset();
  EXPECT_EQ(fs::file_size(log_file(o.directory, 5)), o.file_bytes);  // written in place
  Read after;
  log = open_log(o, 2, after).value();
  EXPECT_EQ(after.numbers, range(3, 6));
  // The same with a zero-filled spare (the preparer's), renamed and never written.
  log.reset();
  std::ofstream(log_file(o.directory, 7), std::ios::binary) << std::string(o.file_bytes, '\0');
  Read zeros;
  log = open_log(o, 2, zeros).value();
  EXPECT_EQ(zeros.numbers, range(3, 6));
  EXPECT_EQ(log->next(), 7u);
  append(*log, 7);
  log.reset();
  Read last;
  log = open_log(o, 6, last).value();
  EXPECT_EQ(last.numbers, range(7, 7));
}

// Only the last file can have been taken into use with no frame written: a file before
// others without its header page is damage, named.
TEST(SegmentLog, AFileWithoutItsHeaderPageBeforeOthersIsCorruption) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  o.file_bytes = kLogHeaderPage + 2 * kLogFrameAlign;
  o.prepare_bytes_per_s = 0;
  write_log(o, 4);                          // files 1 and 3
  flip_byte(log_file(o.directory, 1), 14);  // in the first segment number
  Read read;
  auto r = open_log(o, 0, read);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  EXPECT_NE(r.error().message().find(log_file(o.directory, 1) +
                                     "' holds no frames (its header page is damaged), but "
                                     "later files follow"),
            std::string::npos)
      << r.error().message();
}

// A file of the format before header pages (frames from byte 0, checksums without salt) is
// not read, and not taken for empty either: its unfolded frames would be lost without a word.
TEST(SegmentLog, AFileOfTheFormatBeforeHeaderPagesIsNamedNotDropped) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  fs::create_directories(o.directory);
  {
    std::ofstream f(log_file(o.directory, 1), std::ios::binary);
    for (std::uint64_t no = 1; no <= 2; ++no) {
      std::string frame = unsalted_frame(no);
      frame.resize(frame_size(frame.size() - kLogFrameHeader), '\0');
      f << frame;
    }
  }
  Read read;
  auto r = open_log(o, 0, read);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  EXPECT_NE(r.error().message().find(log_file(o.directory, 1) + "' has no header page"),
            std::string::npos)
      << r.error().message();
  EXPECT_TRUE(read.numbers.empty());
  // Segment 2 not folded: still refused.
  ASSERT_FALSE(open_log(o, 1, read).has_value());
  EXPECT_TRUE(fs::exists(log_file(o.directory, 1)));
  // Everything in it folded, as when that build closed the journal: it goes, and the log
  // goes on in a file of the new format.
  auto log = open_log(o, 2, read);
  ASSERT_TRUE(log.has_value()) << log.error().describe();
  EXPECT_TRUE(read.numbers.empty());
  EXPECT_FALSE(fs::exists(log_file(o.directory, 1)));
  append(**log, 3);
  log->reset();
  Read after;
  auto again = open_log(o, 2, after);
  ASSERT_TRUE(again.has_value()) << again.error().describe();
  EXPECT_EQ(after.numbers, range(3, 3));
}

// A frame header of this use that fails its checksum, with an intact frame after it: damage in
// the middle, not the end of the file's frames.
TEST(SegmentLog, ADamagedFrameHeaderBeforeIntactFramesIsCorruption) {
  TempDir dir;
  SegmentLogOptions o{dir.sub("wlog")};
  write_log(o, 5);
  flip_byte(log_file(o.directory, 1), kLogHeaderPage + kLogFrameAlign + 3);  // segment 2's no
  Read read;
  auto r = open_log(o, 0, read);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  EXPECT_NE(r.error().message().find("damaged frame at byte 8192 (frame header checksum "
                                     "mismatch), but segment 3 follows intact at byte 12288"),
            std::string::npos)
      << r.error().message();
}

TEST(SegmentLog, ScanFramesNeverReadsPastTheBytes) {
  // Every prefix of a valid file ends cleanly or as a torn tail, never out of bounds.
  std::string file;
  encode_log_header(file, 1, 0x4444);
  for (std::uint64_t no = 1; no <= 3; ++no) file += frame_bytes(0x4444, no, 500);
  for (std::size_t n = 0; n <= file.size(); n += 7) {
    std::vector<std::uint64_t> seen;
    auto r = scan(std::string_view(file).substr(0, n), 1, &seen);
    ASSERT_TRUE(r.has_value()) << n << ": " << r.error().describe();
    EXPECT_EQ(r->next, 1 + seen.size());
    if (r->header == FrameScan::Header::valid) {
      EXPECT_EQ(r->end, kLogHeaderPage + seen.size() * kLogFrameAlign);
    } else {
      EXPECT_EQ(r->end, 0u);
      EXPECT_TRUE(seen.empty());
    }
  }
}

}  // namespace
}  // namespace weft::persistence
