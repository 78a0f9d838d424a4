#include "evidence/store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "evidence/fsync_pool.h"
#include "evidence/head_writer.h"

namespace drift::evidence {
namespace {

using std::chrono::milliseconds;

std::string Join(std::string_view a, std::string_view b) {
  std::string out(a);
  out += '/';
  out += b;
  return out;
}

// The sorted names in `dir` that are day-folder parts of `level` (YYYY, MM or DD).
Result<std::vector<std::string>> ListParts(StoreFs& fs, const std::string& dir, int level) {
  Result<std::vector<std::string>> names = fs.List(dir);
  if (!names.ok()) return names.error();
  std::vector<std::string> parts;
  for (std::string& n : *names) {
    if (IsDayFolderPart(n, level)) parts.push_back(std::move(n));
  }
  std::sort(parts.begin(), parts.end());
  return parts;
}

// Every day folder under records/, oldest first ("YYYY/MM/DD").
Result<std::vector<std::string>> ListDayFolders(StoreFs& fs, const std::string& records) {
  std::vector<std::string> out;
  Result<std::vector<std::string>> years = ListParts(fs, records, 0);
  if (!years.ok()) return years.error();
  for (const std::string& y : *years) {
    Result<std::vector<std::string>> months = ListParts(fs, Join(records, y), 1);
    if (!months.ok()) return months.error();
    for (const std::string& m : *months) {
      Result<std::vector<std::string>> days = ListParts(fs, Join(Join(records, y), m), 2);
      if (!days.ok()) return days.error();
      for (const std::string& d : *days) out.push_back(y + "/" + m + "/" + d);
    }
  }
  return out;
}

bool IsTempName(std::string_view name) { return name.starts_with('.') && name.ends_with(".tmp"); }

}  // namespace

std::string TempName(std::string_view name) {
  std::string out = ".";
  out += name;
  out += ".tmp";
  return out;
}

Result<StoreLock> StoreLock::Acquire(const std::string& dir) {
  const std::string path = Join(dir, kLockFile);
  // No O_TRUNC: the file may name the current holder, which a refused writer reports.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, kFileMode);
  const bool writable = fd >= 0;
  if (!writable) {
    int err = errno;
    // A store that cannot be written at start-up still gets its one writer, which starts
    // unhealthy and recovers once it can write (flock needs no write access).
    if (err == EROFS || err == EACCES) fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return SysErr("evidence store lock " + path, err);
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string holder;
    if (err == EWOULDBLOCK) {
      if (Result<std::string> text = ReadSmallFile(path, 64); text.ok()) holder = *text;
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    }
    ::close(fd);
    if (err != EWOULDBLOCK) return SysErr("evidence store lock " + path, err);
    const bool pid_ok =
        !holder.empty() && holder.size() <= 10 &&
        std::all_of(holder.begin(), holder.end(), [](char c) { return c >= '0' && c <= '9'; });
    Error e =
        Err("evidence directory {} is in use by another writer: {} holds {}. One writer per store: "
            "stop it, or give this instance its own evidence.directory",
            dir, pid_ok ? "pid " + holder : "a process that has not written its pid", path);
    e.sys_errno = EWOULDBLOCK;
    return e;
  }
  // Ours now: the pid replaces whatever an earlier holder (perhaps killed) left. Only for the
  // message a refused writer gets, so a full disk does not stop the start (the file is then
  // empty, and the message says the pid is unknown).
  if (writable && ::ftruncate(fd, 0) == 0) {
    const std::string pid = std::to_string(::getpid()) + "\n";
    ssize_t written = ::pwrite(fd, pid.data(), pid.size(), 0);
    (void)written;
  }
  return StoreLock(fd);
}

StoreLock::StoreLock(StoreLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

StoreLock& StoreLock::operator=(StoreLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

// Closing the descriptor releases the lock. The file stays (with this pid in it): removing it
// would race with a writer that has just opened it.
StoreLock::~StoreLock() {
  if (fd_ >= 0) ::close(fd_);
}

Store::Store(std::string dir, std::string host, StoreFs& fs, const Clock& clock,
             StoreOptions options, StoreLock lock)
    : lock_(std::move(lock)),
      dir_(std::move(dir)),
      host_(std::move(host)),
      fs_(fs),
      clock_(clock),
      options_(options),
      fsync_pool_(std::make_unique<FsyncPool>(fs)),
      head_writer_(std::make_unique<HeadWriter>(fs, dir_, options.head_interval,
                                                *options.monotonic_clock)) {}

// The last publication's head is written before the store goes (a failure is left for the next
// Recover, which removes what it left, to mend).
Store::~Store() { (void)FinishHead(); }

Status Store::FinishHead() {
  std::optional<HeadOutcome> failure = head_writer_->Flush();
  if (!failure) return {};
  return Fail(failure->op, failure->status.error());
}

Result<std::string> Store::CheckDirectory(std::string dir) {
  if (dir.empty()) return Err("evidence directory: empty path");
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  // Missing parents are created too (mode 0750 each), as `mkdir -p` would.
  for (std::size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    std::string part = dir.substr(0, slash);
    if (::mkdir(part.c_str(), kDirMode) != 0 && errno != EEXIST) {
      return SysErr("evidence directory " + part, errno);
    }
    if (slash == std::string::npos) break;
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return SysErr("evidence directory " + dir, errno);
  if (!S_ISDIR(st.st_mode)) return Err("evidence directory {}: not a directory", dir);
  if (st.st_uid != ::geteuid()) {
    return Err(
        "evidence directory {} is owned by uid {}, not by uid {} that runs drift_exporter; "
        "chown it to the exporter's user",
        dir, st.st_uid, ::geteuid());
  }
  if ((st.st_mode & 022) != 0) {
    return Err(
        "evidence directory {} has mode {:04o}; it must not be writable by group or others "
        "(chmod 0750 {})",
        dir, st.st_mode & 07777, dir);
  }
  return dir;
}

Result<std::unique_ptr<Store>> Store::Open(std::string dir, std::string host, StoreFs& fs,
                                           const Clock& clock, StoreOptions options) {
  Result<std::string> checked = CheckDirectory(std::move(dir));
  if (!checked.ok()) return checked.error();
  // Before anything in the store is read for writing: a second writer stops here.
  Result<StoreLock> lock = StoreLock::Acquire(*checked);
  if (!lock.ok()) return lock.error();
  if (options.head_interval.count() < 0) options.head_interval = milliseconds(0);
  if (options.monotonic_clock == nullptr) options.monotonic_clock = &SteadyClock::Get();
  return std::unique_ptr<Store>(
      new Store(std::move(*checked), std::move(host), fs, clock, options, std::move(*lock)));
}

Error Store::Fail(FsOp op, Error error) {
  last_failed_op_ = op;
  needs_recovery_ = true;
  return error;
}

Status Store::RemoveTemporariesIn(const std::string& rel, const std::vector<std::string>& names,
                                  std::vector<std::string>& removed) {
  const std::string folder = rel.empty() ? dir_ : Join(dir_, rel);
  for (const std::string& name : names) {
    if (!IsTempName(name)) continue;
    if (Status s = fs_.Remove(Join(folder, name)); !s.ok()) return Fail(FsOp::kUnlink, s.error());
    removed.push_back(rel.empty() ? name : Join(rel, name));
  }
  return {};
}

namespace {

// The highest record file in a day folder's listing, and what an interrupted publication left
// in it: temporary files, and signatures above that record.
struct FolderScan {
  std::uint64_t top_seq = 0;  // 0: no record file
  std::string top_name;
  std::vector<std::string> leftovers;
};

FolderScan ScanDayFolder(const std::vector<std::string>& names) {
  FolderScan scan;
  for (const std::string& n : names) {
    auto parsed = ParseRecordFileName(n);
    if (parsed && !parsed->signature && parsed->seq > scan.top_seq) {
      scan.top_seq = parsed->seq;
      scan.top_name = n;
    }
  }
  for (const std::string& n : names) {
    auto parsed = ParseRecordFileName(n);
    if (IsTempName(n) || (parsed && parsed->signature && parsed->seq > scan.top_seq)) {
      scan.leftovers.push_back(n);
    }
  }
  return scan;
}

}  // namespace

Result<TailState> Store::ReadTail(const std::string& folder, const std::string& name,
                                  std::uint64_t seq) {
  const std::string folder_path = Join(Join(dir_, kRecordsDir), folder);
  Result<std::string> bytes = fs_.Read(Join(folder_path, name), kMaxRecordBytes);
  if (!bytes.ok()) return Fail(FsOp::kRead, bytes.error());
  Result<std::string> sig_text = fs_.Read(Join(folder_path, name + ".minisig"), kMaxRecordBytes);
  std::optional<Signature> sig;
  if (sig_text.ok()) {
    if (Result<Signature> s = ParseSignatureFile(*sig_text); s.ok()) sig = *s;
  }
  TailState tail;
  tail.seq = seq;
  tail.folder = folder;
  Result<ParsedRecord> rec = ParseRecord(*bytes);
  auto unreadable = [&] {
    return Fail(FsOp::kRead,
                Err("cannot read the last record {}/{}: {}; run `drift_exporter evidence verify`",
                    folder, name, rec.error().message));
  };
  if (rec.ok()) {
    tail.kind = rec->record.kind;
    tail.time = rec->header.time;
    tail.chain = NextChain(rec->header.prev_chain, seq, Sha256Of(*bytes));
  } else if (sig) {
    // The record no longer parses; its signed comment still says where the chain stands.
    Result<TrustedComment> c = ParseTrustedComment(sig->trusted_comment);
    Result<WallTime> t = c.ok() ? ParseRecordTime(c->time) : Result<WallTime>(c.error());
    if (!c.ok() || !t.ok() || c->seq != seq) return unreadable();
    tail.kind = c->kind;
    tail.time = *t;
    tail.chain = c->chain;
  } else {
    return unreadable();
  }
  if (sig) tail.key_id = sig->key_id;
  return tail;
}

Result<TailState> Store::FindTail(std::vector<std::pair<std::string, std::string>>& leftovers) {
  Result<std::vector<std::string>> folders = ListDayFolders(fs_, Join(dir_, kRecordsDir));
  if (!folders.ok()) return Fail(FsOp::kList, folders.error());
  // Newest folder first, down to the one holding the highest record file. Everything in between
  // that is not a record is what an interrupted publication left behind.
  for (auto it = folders->rbegin(); it != folders->rend(); ++it) {
    Result<std::vector<std::string>> names = fs_.List(Join(Join(dir_, kRecordsDir), *it));
    if (!names.ok()) return Fail(FsOp::kList, names.error());
    FolderScan scan = ScanDayFolder(*names);
    for (std::string& n : scan.leftovers) leftovers.emplace_back(*it, std::move(n));
    if (scan.top_seq != 0) return ReadTail(*it, scan.top_name, scan.top_seq);
  }
  return TailState{};
}

Status Store::RemoveLeftovers(const std::vector<std::pair<std::string, std::string>>& leftovers,
                              std::vector<std::string>& removed) {
  const std::string records = Join(dir_, kRecordsDir);
  std::set<std::string> touched;
  for (const auto& [folder, name] : leftovers) {
    if (Status s = fs_.Remove(Join(Join(records, folder), name)); !s.ok()) {
      return Fail(FsOp::kUnlink, s.error());
    }
    removed.push_back(folder + "/" + name);
    touched.insert(folder);
  }
  for (const std::string& folder : touched) {
    if (Status s = fs_.SyncDir(Join(records, folder)); !s.ok()) {
      return Fail(FsOp::kFsyncDir, s.error());
    }
  }
  return {};
}

Result<std::string> Store::KeepNewestHead(const std::vector<std::string>& top,
                                          std::optional<std::uint64_t>& head_seq) {
  // The newest head that parses counts; older ones are what an interrupted update left.
  std::string head_name;
  std::vector<std::string> heads;
  for (const std::string& name : top) {
    if (ParseHeadFileName(name)) heads.push_back(name);
  }
  std::sort(heads.rbegin(), heads.rend());
  for (const std::string& name : heads) {
    Result<std::string> text = fs_.Read(Join(dir_, name), 4096);
    Result<Head> h = text.ok() ? ParseHead(*text) : Result<Head>(text.error());
    if (h.ok() && head_name.empty() && h->seq == *ParseHeadFileName(name)) {
      head_seq = h->seq;
      head_name = name;
      continue;
    }
    if (Status s = fs_.Remove(Join(dir_, name)); !s.ok()) return Fail(FsOp::kUnlink, s.error());
  }
  return head_name;
}

Result<RecoveryReport> Store::Recover() {
  (void)FinishHead();  // a failure is mended below like any interrupted head update
  needs_recovery_ = true;
  keys_written_.clear();
  const std::string keys = Join(dir_, kKeysDir);
  for (const std::string& d : {Join(dir_, kRecordsDir), keys}) {
    if (Status s = fs_.MakeDir(d, kDirMode); !s.ok()) return Fail(FsOp::kMkdir, s.error());
  }
  RecoveryReport report;
  // The head's and the key files' temporaries first, then the records'.
  Result<std::vector<std::string>> top = fs_.List(dir_);
  if (!top.ok()) return Fail(FsOp::kList, top.error());
  if (Status s = RemoveTemporariesIn("", *top, report.removed); !s.ok()) return s.error();
  Result<std::vector<std::string>> key_files = fs_.List(keys);
  if (!key_files.ok()) return Fail(FsOp::kList, key_files.error());
  if (Status s = RemoveTemporariesIn(std::string(kKeysDir), *key_files, report.removed); !s.ok()) {
    return s.error();
  }
  const std::size_t removed_outside_records = report.removed.size();
  std::vector<std::pair<std::string, std::string>> leftovers;  // folder, name
  Result<TailState> tail = FindTail(leftovers);
  if (!tail.ok()) return tail.error();
  if (Status s = RemoveLeftovers(leftovers, report.removed); !s.ok()) return s.error();
  if (removed_outside_records > 0) {  // the head's or a key's temporary file was removed
    for (const std::string& d : {dir_, keys}) {
      if (Status s = fs_.SyncDir(d); !s.ok()) return Fail(FsOp::kFsyncDir, s.error());
    }
  }
  Result<std::string> head_name = KeepNewestHead(*top, report.head_seq);
  if (!head_name.ok()) return head_name.error();
  head_writer_->Reset(std::move(*head_name), false);  // .head.tmp was removed above
  report.tail = *tail;
  report.clean = (tail->seq == 0 || tail->kind == kinds::kStop) && report.removed.empty();
  // What is on disk now is the store: the next publication lists the tail folder afresh.
  tail_folder_mtime_.reset();
  checked_seq_ = tail->seq;
  published_since_check_.clear();
  tail_ = std::move(*tail);
  needs_recovery_ = false;
  return report;
}

Status Store::CheckForForeignRecords(const std::string& folder_path, bool fresh) {
  if (!fresh) {
    struct stat st {};
    if (::stat(folder_path.c_str(), &st) != 0) {
      return SysErr("the folder of the last record " + folder_path, errno);
    }
    // Unchanged since this store's own last change: nobody else wrote in it (but see
    // docs/evidence.md, "One writer", for a change within the same clock tick).
    if (tail_folder_mtime_ && st.st_mtim.tv_sec == tail_folder_mtime_->tv_sec &&
        st.st_mtim.tv_nsec == tail_folder_mtime_->tv_nsec) {
      checked_seq_ = tail_.seq;
      published_since_check_.clear();
      return {};
    }
  }
  Result<std::vector<std::string>> names = fs_.List(folder_path);
  if (!names.ok()) return names.error();
  std::vector<std::string> foreign;
  for (const std::string& n : *names) {
    if (IsTempName(n)) {
      foreign.push_back(n);  // this store leaves none between publications
      continue;
    }
    std::optional<RecordFileName> parsed = ParseRecordFileName(n);
    if (!parsed) continue;  // not a record: the verifier's orphan_file, not a second writer
    if (fresh || parsed->seq > tail_.seq) {
      foreign.push_back(n);
      continue;
    }
    if (parsed->seq <= checked_seq_) continue;
    std::string_view record_name = n;
    if (parsed->signature) record_name.remove_suffix(std::string_view(".minisig").size());
    if (std::find(published_since_check_.begin(), published_since_check_.end(), record_name) ==
        published_since_check_.end()) {
      foreign.push_back(n);
    }
  }
  if (!foreign.empty()) {
    std::sort(foreign.begin(), foreign.end());
    const std::size_t shown = std::min<std::size_t>(foreign.size(), 4);
    std::string list;
    for (std::size_t i = 0; i < shown; ++i) list += (i ? ", " : "") + foreign[i];
    if (foreign.size() > shown) list += fmt::format(" and {} more", foreign.size() - shown);
    return Err(
        "records this process did not write are in {}: {} (its last record is seq {}); another "
        "process writes this evidence store. Nothing was written or overwritten",
        folder_path, list, tail_.seq);
  }
  checked_seq_ = tail_.seq;
  published_since_check_.clear();
  return {};
}

void Store::StampTailFolder(const std::string& folder_path) {
  struct stat st {};
  if (::stat(folder_path.c_str(), &st) == 0) {
    tail_folder_mtime_ = st.st_mtim;
  } else {
    tail_folder_mtime_.reset();  // the next publication lists the folder
  }
}

Status Store::EnsureFolder(const std::string& folder) {
  // records/YYYY, records/YYYY/MM, records/YYYY/MM/DD; each new entry made durable in its parent.
  std::string parent = Join(dir_, kRecordsDir);
  std::string path = parent;
  std::size_t start = 0;
  for (int level = 0; level < 3; ++level) {
    std::size_t slash = folder.find('/', start);
    path = Join(parent, folder.substr(start, slash - start));
    if (Status s = fs_.MakeDir(path, kDirMode); !s.ok()) return Fail(FsOp::kMkdir, s.error());
    if (Status s = fs_.SyncDir(parent); !s.ok()) return Fail(FsOp::kFsyncDir, s.error());
    parent = path;
    start = slash + 1;
  }
  return {};
}

Status Store::EnsureKeyFile(const PublicKey& key) {
  if (std::find(keys_written_.begin(), keys_written_.end(), key.id) != keys_written_.end()) {
    return {};
  }
  const std::string keys = Join(dir_, kKeysDir);
  const std::string name = FormatKeyId(key.id) + ".pub";
  std::string text = FormatPublicKeyFile(key);
  if (Result<std::string> existing = fs_.Read(Join(keys, name), 4096);
      !existing.ok() || *existing != text) {
    const std::string tmp = Join(keys, TempName(name));
    (void)fs_.Remove(tmp);
    Result<int> fd = fs_.CreateExclusive(tmp, 0644);
    if (!fd.ok()) return Fail(FsOp::kOpen, fd.error());
    Status s = fs_.Write(*fd, text);
    FsOp op = FsOp::kWrite;
    if (s.ok()) op = FsOp::kFsync, s = fs_.Sync(*fd);
    Status c = fs_.Close(*fd);
    if (s.ok() && !c.ok()) op = FsOp::kClose, s = c;
    if (!s.ok()) return Fail(op, s.error());
    if (Status r = fs_.Rename(tmp, Join(keys, name), false); !r.ok()) {
      return Fail(FsOp::kRename, r.error());
    }
    if (Status d = fs_.SyncDir(keys); !d.ok()) return Fail(FsOp::kFsyncDir, d.error());
  }
  keys_written_.push_back(key.id);
  return {};
}

// One record on its way to disk: its bytes, where they go, and the temporary files (open
// while they are written and fsynced).
struct Store::Sealed {
  Published pub;
  std::string json;
  std::string sig;
  std::string folder_path;  // <dir>/records/YYYY/MM/DD
  std::string json_name;    // <id>.json
  int json_fd = -1;
  int sig_fd = -1;
  Signature signature;
};

Result<Store::Sealed> Store::Seal(const Record& record, const SecretKey& key,
                                  TailState& tail) const {
  RecordHeader header;
  header.seq = tail.seq + 1;
  header.time = std::chrono::floor<milliseconds>(clock_.Now());
  header.host = host_;
  header.prev_chain = tail.chain;
  Result<std::string> json = SerializeRecord(record, header);
  if (!json.ok()) return json.error();
  Sha256Digest hash = Sha256Of(*json);
  ChainValue chain = NextChain(tail.chain, header.seq, hash);
  std::string time = FormatRecordTime(header.time);
  std::string comment = FormatTrustedComment({header.seq, time, record.kind, hash, chain});
  Result<Signature> sig =
      Sign(key, *json, comment,
           fmt::format("drift_exporter evidence record {} of host {}", header.seq, host_));
  if (!sig.ok()) return sig.error();
  Sealed s;
  s.signature = *sig;
  std::string folder = std::max(DayFolder(header.time), tail.folder);
  s.pub = {header.seq,
           record.kind,
           record.check,
           RecordStem(header.seq, record.kind),
           Join(Join(kRecordsDir, folder), RecordStem(header.seq, record.kind) + ".json"),
           header.time};
  s.json = std::move(*json);
  s.sig = FormatSignatureFile(*sig);
  s.folder_path = Join(Join(dir_, kRecordsDir), folder);
  s.json_name = s.pub.id + ".json";
  tail.seq = header.seq;
  tail.chain = chain;
  tail.kind = record.kind;
  tail.time = header.time;
  tail.folder = folder;
  tail.key_id = key.id();
  return s;
}

Status Store::CheckBeforeWriting(const SecretKey& key, const std::vector<std::string>& folders) {
  // A failed background head write stops this publication before it writes anything. Not
  // waited for otherwise: the head thread coalesces (head_interval 0: each publication's head is
  // written before the next one, waited for only now, so that it overlapped the sealing).
  if (std::optional<HeadOutcome> h = options_.head_interval.count() == 0
                                         ? head_writer_->Flush()
                                         : head_writer_->TakeFailure()) {
    return Fail(h->op, h->status.error());
  }
  const std::string records_dir = Join(dir_, kRecordsDir);
  if (!tail_.folder.empty()) {
    if (Status s = CheckForForeignRecords(Join(records_dir, tail_.folder), false); !s.ok()) {
      return Fail(FsOp::kTailCheck, s.error());
    }
  }
  if (Status s = EnsureKeyFile(key.public_key()); !s.ok()) return s;
  // A store always has a head once it has records: a new store gets one (seq 0, or the tail it
  // lost it at) before its first record, so that a crash right after that record leaves a head
  // that lags rather than none.
  if (head_writer_->current().empty()) {
    head_writer_->Submit(tail_.seq,
                         FormatHead(key, tail_.seq, tail_.chain, FormatRecordTime(tail_.time)));
    if (Status h = FinishHead(); !h.ok()) return h;
  }
  for (const std::string& f : folders) {
    if (f == Join(records_dir, tail_.folder)) continue;  // exists: the last record is in it
    if (Status s = EnsureFolder(f.substr(records_dir.size() + 1)); !s.ok()) return s;
    // A folder after the tail's holds nothing of ours (Recover removed what a failed
    // publication left), so anything in it is another writer's.
    if (Status s = CheckForForeignRecords(f, true); !s.ok()) {
      return Fail(FsOp::kTailCheck, s.error());
    }
  }
  return {};
}

Status Store::WriteTemporaries(std::vector<Sealed>& sealed) {
  for (Sealed& s : sealed) {
    for (auto [name, text, fd] : {std::tuple{s.json_name + ".minisig", &s.sig, &s.sig_fd},
                                  std::tuple{s.json_name, &s.json, &s.json_fd}}) {
      Result<int> opened = fs_.CreateExclusive(Join(s.folder_path, TempName(name)), kFileMode);
      if (!opened.ok()) return Fail(FsOp::kOpen, opened.error());
      *fd = *opened;
      if (Status w = fs_.Write(*fd, *text); !w.ok()) return Fail(FsOp::kWrite, w.error());
    }
  }
  return {};
}

Status Store::SyncAndSelfCheck(const std::vector<Sealed>& sealed, const SecretKey& key,
                               const TailState& next, std::string& head_text) {
  std::vector<int> fds;
  fds.reserve(2 * sealed.size());
  for (const Sealed& s : sealed) fds.insert(fds.end(), {s.sig_fd, s.json_fd});
  // While the helpers fsync: verify every signature (as minisign does after signing, a record
  // that would not verify is never published; it is checked before any rename) and sign the
  // head that will follow.
  bool self_check_failed = false;
  Status synced = fsync_pool_->SyncAll(fds, [&]() -> Status {
    for (const Sealed& s : sealed) {
      if (Status v = VerifySignature(key.public_key(), s.json, s.signature); !v.ok()) {
        self_check_failed = true;
        return Err("signature self-check failed: {}", v.error().message);
      }
    }
    head_text = FormatHead(key, next.seq, next.chain, FormatRecordTime(next.time));
    return {};
  });
  if (!synced.ok()) return Fail(self_check_failed ? FsOp::kSign : FsOp::kFsync, synced.error());
  return {};
}

Status Store::RenameIntoPlace(std::vector<Sealed>& sealed, const std::vector<std::string>& folders,
                              const std::string& tail_folder_path) {
  for (Sealed& s : sealed) {
    for (int* fd : {&s.sig_fd, &s.json_fd}) {
      Status c = fs_.Close(*fd);
      *fd = -1;
      if (!c.ok()) return Fail(FsOp::kClose, c.error());
    }
  }
  // The signature first: a record file in place always has its signature beside it.
  for (Sealed& s : sealed) {
    for (const std::string& name : {s.json_name + ".minisig", s.json_name}) {
      if (Status r =
              fs_.Rename(Join(s.folder_path, TempName(name)), Join(s.folder_path, name), true);
          !r.ok()) {
        return Fail(FsOp::kRename, r.error());
      }
    }
    published_since_check_.push_back(s.json_name);
  }
  // At once after the last rename, so that a change by anyone else from now on moves the mtime.
  StampTailFolder(tail_folder_path);
  for (const std::string& f : folders) {
    if (Status d = fs_.SyncDir(f); !d.ok()) return Fail(FsOp::kFsyncDir, d.error());
  }
  return {};
}

void Store::CloseTemporaries(std::vector<Sealed>& sealed) {
  for (Sealed& s : sealed) {
    if (s.sig_fd >= 0) (void)fs_.Close(s.sig_fd);
    if (s.json_fd >= 0) (void)fs_.Close(s.json_fd);
    s.sig_fd = s.json_fd = -1;
  }
}

PublishOutcome Store::Publish(std::span<const Record> records, const SecretKey& key) {
  PublishOutcome out;
  if (needs_recovery_) {
    out.error = Err("the evidence store needs recovery before it can publish");
    out.failed_op = last_failed_op_;
    return out;
  }
  std::vector<Sealed> sealed;
  sealed.reserve(records.size());
  TailState next = tail_;
  for (const Record& record : records) {
    Result<Sealed> s = Seal(record, key, next);
    if (!s.ok()) {
      out.error = s.error();
      out.failed_op = FsOp::kSign;
      return out;  // nothing written: the store stays usable
    }
    sealed.push_back(std::move(*s));
  }
  if (sealed.empty()) return out;

  std::vector<std::string> folders;  // the day folders written, each once, in order
  for (const Sealed& s : sealed) {
    if (folders.empty() || folders.back() != s.folder_path) folders.push_back(s.folder_path);
  }
  // Each step has called Fail() when it fails: last_failed_op_ says which operation.
  std::string head_text;
  Status s = CheckBeforeWriting(key, folders);
  if (s.ok()) s = WriteTemporaries(sealed);
  if (s.ok()) s = SyncAndSelfCheck(sealed, key, next, head_text);
  if (s.ok()) s = RenameIntoPlace(sealed, folders, Join(Join(dir_, kRecordsDir), next.folder));
  if (!s.ok()) {
    CloseTemporaries(sealed);
    out.error = s.error();
    out.failed_op = last_failed_op_;
    return out;
  }
  tail_ = next;
  for (Sealed& sealed_record : sealed) out.published.push_back(std::move(sealed_record.pub));
  head_writer_->Submit(next.seq, std::move(head_text));
  // After a `stop` nothing may follow for a long time (or ever): its head is written now.
  if (next.kind == kinds::kStop) {
    if (Status h = FinishHead(); !h.ok()) {
      out.error = h.error();
      out.failed_op = last_failed_op_;
    }
  }
  return out;
}

Result<PruneReport> Store::Prune(const std::string& cutoff_folder, const SecretKey& key) {
  PruneReport report;
  if (Status h = FinishHead(); !h.ok()) return h.error();
  if (needs_recovery_) return Err("the evidence store needs recovery before it can prune");
  const std::string records = Join(dir_, kRecordsDir);
  Result<std::vector<std::string>> folders = ListDayFolders(fs_, records);
  if (!folders.ok()) return Fail(FsOp::kList, folders.error());
  if (folders->size() < 2) return report;
  // Never the newest folder: the tail (and the prune record) live there.
  std::vector<std::string> old;
  for (std::size_t i = 0; i + 1 < folders->size(); ++i) {
    if ((*folders)[i] < cutoff_folder && (*folders)[i] < tail_.folder) old.push_back((*folders)[i]);
  }
  if (old.empty()) return report;

  std::map<std::string, std::vector<std::string>> names;
  std::uint64_t first_removed = 0;
  std::uint64_t last_removed = 0;
  std::uint64_t count = 0;
  for (const std::string& f : old) {
    Result<std::vector<std::string>> n = fs_.List(Join(records, f));
    if (!n.ok()) return Fail(FsOp::kList, n.error());
    for (const std::string& name : *n) {
      if (auto p = ParseRecordFileName(name); p && !p->signature) {
        ++count;
        if (first_removed == 0 || p->seq < first_removed) first_removed = p->seq;
        last_removed = std::max(last_removed, p->seq);
      }
    }
    names[f] = std::move(*n);
  }
  if (count > 0) {
    // The first kept record: the lowest seq above the removed ones; its prev_chain is the anchor
    // the verifier starts from once the older records are gone.
    std::uint64_t first_kept = last_removed + 1;
    std::optional<ChainValue> anchor;
    for (std::size_t i = old.size(); i < folders->size() && !anchor; ++i) {
      const std::string folder = Join(records, (*folders)[i]);
      Result<std::vector<std::string>> n = fs_.List(folder);
      if (!n.ok()) return Fail(FsOp::kList, n.error());
      for (const std::string& name : *n) {
        auto p = ParseRecordFileName(name);
        if (!p || p->signature || p->seq != first_kept) continue;
        Result<std::string> bytes = fs_.Read(Join(folder, name), kMaxRecordBytes);
        if (!bytes.ok()) return Fail(FsOp::kRead, bytes.error());
        Result<ParsedRecord> rec = ParseRecord(*bytes);
        if (!rec.ok())
          return Err("cannot prune: record {} does not parse: {}", name, rec.error().message);
        anchor = rec->header.prev_chain;
      }
    }
    if (!anchor) return Err("cannot prune: record {} (the first to keep) not found", first_kept);
    nlohmann::json listed = nlohmann::json::array();
    for (const std::string& f : old) listed.push_back(f);
    Record prune;
    prune.kind = std::string(kinds::kPrune);
    prune.payload = {{"cutoff_folder", cutoff_folder},     {"folders", listed},
                     {"first_removed_seq", first_removed}, {"last_removed_seq", last_removed},
                     {"records_removed", count},           {"first_kept_seq", first_kept},
                     {"anchor_chain", ToHex(*anchor)}};
    PublishOutcome published = Publish(std::span<const Record>(&prune, 1), key);
    if (published.error) return *published.error;
    // The prune record's head in place before any file goes.
    if (Status h = FinishHead(); !h.ok()) return h.error();
    report.record = published.published.front();
  }
  // Oldest first, each folder's records in seq order, the record before its signature: an
  // interruption leaves a contiguous newer part, which the next prune finishes.
  for (const std::string& f : old) {
    std::vector<std::string>& n = names[f];
    std::sort(n.begin(), n.end());
    const std::string folder = Join(records, f);
    for (const std::string& name : n) {
      if (Status s = fs_.Remove(Join(folder, name)); !s.ok()) return Fail(FsOp::kUnlink, s.error());
      if (ParseRecordFileName(name) && !ParseRecordFileName(name)->signature) {
        ++report.records_removed;
      }
    }
    if (Status s = fs_.RemoveDir(folder); !s.ok()) return Fail(FsOp::kUnlink, s.error());
    report.folders.push_back(f);
    // Month and year folders go when they are empty.
    std::string month = Join(records, f.substr(0, 7));
    std::string year = Join(records, f.substr(0, 4));
    if (Result<std::vector<std::string>> left = fs_.List(month); left.ok() && left->empty()) {
      (void)fs_.RemoveDir(month);
      if (Result<std::vector<std::string>> y = fs_.List(year); y.ok() && y->empty()) {
        (void)fs_.RemoveDir(year);
      }
    }
  }
  if (Status s = fs_.SyncDir(records); !s.ok()) return Fail(FsOp::kFsyncDir, s.error());
  return report;
}

}  // namespace drift::evidence
