#include "journal_cmd.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "weft/core/progress.hpp"
#include "weft/persistence/integrity_journal.hpp"
#include "weft/persistence/key_store.hpp"
#include "weft/persistence/rocksdb_journal.hpp"

namespace weft::app {

namespace {

using persistence::EventRecord;
using persistence::IntegrityJournal;
using persistence::JournalOptions;
using persistence::RocksDbJournal;

int report(const Error& e) {
  fmt::print(stderr, "weft journal: {}\n", e.describe());
  return 1;
}

std::string hex(const std::vector<std::byte>& bytes, std::size_t max) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < max; ++i) {
    out += fmt::format("{:02x}", static_cast<unsigned>(bytes[i]));
  }
  if (bytes.size() > max) out += "…";
  return out;
}

Result<std::shared_ptr<RocksDbJournal>> open_journal(const JournalCliOptions& o) {
  if (o.directory.empty()) return fail(Errc::invalid_argument, "no journal directory (--dir)");
  JournalOptions jo;
  jo.directory = o.directory;
  jo.create_if_missing = false;
  auto j = RocksDbJournal::open(jo);
  if (!j) return std::unexpected(j.error());
  return std::shared_ptr<RocksDbJournal>(std::move(*j));
}

std::optional<Result<persistence::Key>> master_key(const JournalCliOptions& o) {
  if (!o.key_file.empty()) return persistence::Key::load_file(o.key_file);
  if (!o.key_env.empty() && std::getenv(o.key_env.c_str()) != nullptr) {
    return persistence::Key::from_env(o.key_env);
  }
  return std::nullopt;
}

std::string keys_directory(const JournalCliOptions& o) {
  if (!o.keys_directory.empty()) return o.keys_directory;
  return (std::filesystem::path(o.directory).parent_path() / "keys").string();
}

nlohmann::json to_json(const EventRecord& e) {
  nlohmann::json j;
  j["persistence_id"] = e.persistence_id;
  j["sequence_nr"] = e.sequence_nr;
  j["timestamp_ms"] = e.timestamp_ms;
  j["manifest"] = e.manifest;
  j["version"] = e.version;
  j["writer_epoch"] = e.writer_epoch;
  j["tags"] = e.tags;
  j["payload_hex"] = hex(e.payload, SIZE_MAX);
  if (!e.mac.empty()) j["mac_hex"] = hex(e.mac, SIZE_MAX);
  return j;
}

int cmd_ls(RocksDbJournal& j, const JournalCliOptions& o) {
  auto ids = j.persistence_ids().get();
  if (!ids) return report(ids.error());
  if (!o.json) fmt::print("{:<40} {:>12}\n", "PERSISTENCE ID", "HIGHEST");
  for (const auto& pid : *ids) {
    auto h = j.highest_sequence_nr(pid).get();
    if (!h) return report(h.error());
    if (o.json) {
      fmt::print("{}\n",
                 nlohmann::json{{"persistence_id", pid}, {"highest_sequence_nr", *h}}.dump());
    } else {
      fmt::print("{:<40} {:>12}\n", pid, *h);
    }
  }
  return 0;
}

int cmd_events(RocksDbJournal& j, const JournalCliOptions& o) {
  std::uint64_t from = o.from;
  std::uint64_t shown = 0;
  for (;;) {
    auto page = j.read(o.persistence_id, from, o.to, 1024).get();
    if (!page) return report(page.error());
    for (const auto& e : *page) {
      if (o.json) {
        fmt::print("{}\n", to_json(e).dump());
      } else {
        fmt::print("{:>10}  {}  {} v{}  epoch {}  tags [{}]  {} bytes  {}\n", e.sequence_nr,
                   e.timestamp_ms, e.manifest, e.version, e.writer_epoch, fmt::join(e.tags, ","),
                   e.payload.size(), hex(e.payload, 24));
      }
      if (++shown == o.limit) return 0;
    }
    if (page->size() < 1024) break;
    from = page->back().sequence_nr + 1;
  }
  if (shown == 0 && !o.json) {
    fmt::print(stderr, "no events of '{}' between {} and {}\n", o.persistence_id, o.from, o.to);
  }
  return 0;
}

int cmd_stats(RocksDbJournal& j, const JournalCliOptions& o) {
  auto s = j.stats();
  if (!s) return report(s.error());
  nlohmann::json out{{"directory", o.directory},
                     {"persistence_ids", s->persistence_ids},
                     {"events", s->events},
                     {"highest_tag_offset", s->highest_offset},
                     {"unfolded_log_bytes", s->log_bytes},
                     {"table_file_bytes", s->sst_bytes},
                     {"snapshots", s->snapshots}};
  if (o.json) {
    fmt::print("{}\n", out.dump());
  } else {
    for (auto& [k, v] : out.items()) fmt::print("{:<20} {}\n", k, v.dump());
  }
  return 0;
}

int cmd_verify(const std::shared_ptr<RocksDbJournal>& j, const JournalCliOptions& o) {
  std::uint64_t problems = 0;
  {
    Progress bar("checksums", 0);
    auto r = j->verify(o.persistence_id,
                       [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); });
    bar.finish();
    if (!r) return report(r.error());
    for (const auto& p : r->problems) fmt::print("DAMAGED: {}\n", p.describe());
    problems += r->problems.size();
    fmt::print(
        "checked {} persistence ids, {} events, {} tag entries, {} unfolded log segments: "
        "{} problems\n",
        r->persistence_ids, r->events, r->tag_entries, r->log_segments, r->problems.size());
  }
  // The hash chains need the master key; without one only checksums are checked.
  if (auto key = master_key(o)) {
    if (!*key) return report(key->error());
    auto integrity = IntegrityJournal::open(j, **key);
    if (!integrity) return report(integrity.error());
    std::vector<std::string> ids;
    if (o.persistence_id.empty()) {
      auto all = j->persistence_ids().get();
      if (!all) return report(all.error());
      ids = std::move(*all);
    } else {
      ids.push_back(o.persistence_id);
    }
    Progress bar("hash chains", ids.size());
    std::uint64_t done = 0;
    for (const auto& pid : ids) {
      auto r = (*integrity)->verify(pid);
      if (!r) return report(r.error());
      if (r->first_break) {
        fmt::print("BROKEN CHAIN: {}\n", r->first_break->describe());
        ++problems;
      }
      bar.update(++done);
    }
    bar.finish();
  } else {
    fmt::print("hash chains not checked: give the master key (--key-file or ${})\n", o.key_env);
  }
  return problems == 0 ? 0 : 3;
}

int cmd_forget(const std::shared_ptr<RocksDbJournal>& j, const JournalCliOptions& o) {
  auto key = master_key(o);
  if (!key) {
    return report(Error(Errc::invalid_argument,
                        "forget needs the master key (--key-file or $" + o.key_env + ")"));
  }
  if (!*key) return report(key->error());
  auto store = persistence::RocksDbKeyStore::open(keys_directory(o), **key);
  if (!store) return report(store.error());
  persistence::IntegrityOptions io;
  io.key_store = std::move(*store);
  auto integrity = IntegrityJournal::open(j, **key, std::move(io));
  if (!integrity) return report(integrity.error());
  auto n = (*integrity)->forget(o.persistence_id).get();
  if (!n) return report(n.error());
  fmt::print("forgot '{}': its data key is destroyed and {} events deleted\n", o.persistence_id,
             *n);
  return 0;
}

int cmd_compact(RocksDbJournal& j) {
  Progress bar("compact", 0);
  auto r = j.compact([&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); });
  bar.finish();
  if (!r) return report(r.error());
  return 0;
}

}  // namespace

void add_journal_command(CLI::App& app, JournalCliOptions& o) {
  auto* journal = app.add_subcommand("journal", "Inspect and maintain a journal");
  journal->require_subcommand(1);
  journal->add_option("--dir", o.directory, "The journal's directory")->required();
  journal->add_option("--key-file", o.key_file,
                      "Master key file (32 bytes raw or 64 hex characters, mode 0600)");
  journal->add_option("--key-env", o.key_env, "Environment variable holding the master key (hex)")
      ->capture_default_str();
  journal->add_option("--keys", o.keys_directory,
                      "Key store directory (default: 'keys' beside the journal directory)");
  journal->add_flag("--json", o.json, "One JSON object per line");

  auto* ls = journal->add_subcommand("ls", "Persistence ids and their highest sequence numbers");
  auto* events = journal->add_subcommand("events", "Events of one persistence id");
  events->add_option("pid", o.persistence_id, "Persistence id")->required();
  events->add_option("--from", o.from, "First sequence number")->capture_default_str();
  events->add_option("--to", o.to, "Last sequence number");
  events->add_option("--limit", o.limit, "At most this many events");
  auto* verify = journal->add_subcommand(
      "verify", "Check checksums, sequence continuity and (with the key) hash chains");
  verify->add_option("pid", o.persistence_id, "Only this persistence id");
  auto* stats = journal->add_subcommand("stats", "Counts and sizes");
  auto* forget = journal->add_subcommand(
      "forget", "GDPR erasure: destroy a persistence id's data key and delete its events");
  forget->add_option("pid", o.persistence_id, "Persistence id")->required();
  auto* compact = journal->add_subcommand("compact", "Fold the log and compact the database");

  for (auto [sub, cmd] : std::initializer_list<std::pair<CLI::App*, JournalCommand>>{
           {ls, JournalCommand::ls},
           {events, JournalCommand::events},
           {verify, JournalCommand::verify},
           {stats, JournalCommand::stats},
           {forget, JournalCommand::forget},
           {compact, JournalCommand::compact}}) {
    sub->callback([&o, cmd = cmd] { o.command = cmd; });
  }
}

int run_journal_command(const JournalCliOptions& o) {
  auto j = open_journal(o);
  if (!j) return report(j.error());
  switch (o.command) {
    case JournalCommand::ls:
      return cmd_ls(**j, o);
    case JournalCommand::events:
      return cmd_events(**j, o);
    case JournalCommand::verify:
      return cmd_verify(*j, o);
    case JournalCommand::stats:
      return cmd_stats(**j, o);
    case JournalCommand::forget:
      return cmd_forget(*j, o);
    case JournalCommand::compact:
      return cmd_compact(**j);
    case JournalCommand::none:
      break;
  }
  return 2;
}

}  // namespace weft::app
