#pragma once

#include <sys/types.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "evidence/head_file.h"
#include "evidence/minisign.h"
#include "evidence/record.h"
#include "evidence/store_fs.h"

namespace drift::evidence {

class FsyncPool;
class HeadWriter;

// Store layout (docs/evidence.md, "Store"):
//   <dir>/records/YYYY/MM/DD/<seq>-<kind>.json and .json.minisig   the records
//   <dir>/keys/<KEY ID>.pub                                         every public key used
//   <dir>/head-<seq>                                                signed pointer to the tail
//   <dir>/writer.lock                                               the writer's lock and pid
inline constexpr std::string_view kRecordsDir = "records";
inline constexpr std::string_view kKeysDir = "keys";
inline constexpr std::string_view kLockFile = "writer.lock";
inline constexpr std::size_t kMaxRecordBytes = 1 << 20;
inline constexpr mode_t kDirMode = 0750;
inline constexpr mode_t kFileMode = 0640;

// Where the store ended when it was (re)opened.
struct TailState {
  std::uint64_t seq = 0;  // 0: the store holds no record yet
  ChainValue chain = GenesisChain();
  std::string kind;
  WallTime time{};
  std::string folder;           // "YYYY/MM/DD" of the last record
  std::optional<KeyId> key_id;  // of the last record's signature, when it has one
};

// What Recover found and did.
struct RecoveryReport {
  TailState tail;
  std::vector<std::string> removed;       // leftovers of an interrupted write, relative to records/
  std::optional<std::uint64_t> head_seq;  // the head file's seq, when it could be read
  bool clean = false;  // the last record is a `stop` (or the store is empty) and nothing was torn
};

struct Published {
  std::uint64_t seq = 0;
  std::string kind;
  std::optional<std::string> check;
  std::string id;    // "<seq, 20 digits>-<kind>", the record's file name without ".json"
  std::string path;  // relative to <dir>: records/YYYY/MM/DD/<id>.json
  WallTime time{};
};

struct PublishOutcome {
  std::vector<Published> published;  // in order; fewer than asked when `error` is set
  std::optional<Error> error;
  FsOp failed_op = FsOp::kWrite;  // meaningful with `error`
};

struct PruneReport {
  std::vector<std::string> folders;  // removed, "YYYY/MM/DD"
  std::uint64_t records_removed = 0;
  std::optional<Published> record;  // the prune record, when anything held records
};

// One writer per store: an exclusive flock(2) on <dir>/writer.lock, held while this object lives.
// The kernel drops it when its holder dies, even by kill -9, so a crash never leaves a lock that
// refuses the next start (the file stays and is reused). The file holds the holder's pid (one
// line), for the message a second writer gets. Readers (verify, list, show, export) never take
// it: they work while the daemon writes. The descriptor is close-on-exec, so that a child
// process the exporter starts never holds the lock after it.
class StoreLock {
 public:
  // Takes the lock of `dir` without waiting, creating the lock file (mode 0640) when missing,
  // and writes this pid into it (best effort). When another open file (another process, or
  // another Store of this one) holds it: an error with sys_errno EWOULDBLOCK naming the lock
  // file and the holder's pid, having changed nothing. On a read-only directory an existing
  // lock file is locked read-only. Other failures (the file cannot be created or opened) keep
  // their errno.
  static Result<StoreLock> Acquire(const std::string& dir);
  StoreLock(StoreLock&& other) noexcept;
  StoreLock& operator=(StoreLock&& other) noexcept;
  ~StoreLock();

 private:
  explicit StoreLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

inline constexpr std::chrono::milliseconds kDefaultHeadInterval{100};

struct StoreOptions {
  // The longest the head may lag a publication while the store runs (docs/evidence.md, "Head"):
  // the head thread starts at most one write per interval, of the newest publication. Records
  // published inside the window can be cut from the end unseen, as after a crash. 0: a head
  // write after every publication, which the next Publish waits for.
  std::chrono::milliseconds head_interval = kDefaultHeadInterval;
  // Times the head interval. Not owned; outlives the store.
  const MonotonicClock* monotonic_clock = &SteadyClock::Get();
};

// The crash-safe, append-only evidence store. Single writer: one Store object per directory, in
// one process (StoreLock, held from Open until the Store is destroyed), used from one thread at a
// time (the Writer's). Never throws at run time.
class Store {
 public:
  // Checks `dir` (creating it and missing parents, mode 0750): it must be a directory owned by
  // the effective uid and not writable by group or others. Returns it without trailing slashes.
  // Errors name the directory and the fix.
  static Result<std::string> CheckDirectory(std::string dir);
  // CheckDirectory, then takes the directory's StoreLock before anything in it is read or
  // written: fails when another writer holds it (sys_errno EWOULDBLOCK, see StoreLock).
  static Result<std::unique_ptr<Store>> Open(std::string dir, std::string host, StoreFs& fs,
                                             const Clock& clock, StoreOptions options = {});
  ~Store();

  // Finds the tail (the highest seq with a record file), removes what an interrupted write left
  // (temporary files, a signature whose record was never renamed into place) and fsyncs the
  // folders it touched. Must succeed before Publish, and again after a failed Publish.
  Result<RecoveryReport> Recover();

  // Seals `records` in order (seq, time, host, previous chain value), signs each, then publishes
  // them crash-safely: temporary files (O_EXCL) written and fsynced by two helper threads while
  // this one verifies every signature, the signature renamed into place before its record
  // (RENAME_NOREPLACE), the folders fsynced; then hands the new head to the head thread, which
  // writes it within head_interval (a `stop` record's is written before returning). Does not
  // wait for a head write under way (with head_interval 0 it does, as each one follows a
  // publication). On the first failure it stops and says which operation failed; the store then
  // needs Recover(). A failed background head write is reported by the first Publish, Prune or
  // FinishHead that starts after it, before that writes anything.
  //
  // Records this process did not write (another writer despite the lock, e.g. an older binary,
  // or a file system without flock) fail it too, before it writes anything, with FsOp::kTailCheck:
  // a record or temporary file above the tail, or a record of a seq published since the last
  // check under another name, in the tail's day folder (listed whenever its mtime moved since
  // this store's own last change; docs/evidence.md, "One writer") or in a new day folder.
  // Nothing is overwritten; Recover() then adopts what is on disk.
  PublishOutcome Publish(std::span<const Record> records, const SecretKey& key);

  // Writes the head of the last publication now if the head thread has not yet (the coalescing
  // interval does not apply), and waits for it. Its failure, or a background head write's not
  // yet reported, is a failed publication: last_failed_op() says which operation, Recover() is
  // needed. Recover, Prune, a `stop` record's Publish and the destructor call it.
  Status FinishHead();

  // Removes day folders older than `cutoff_folder` ("YYYY/MM/DD"), never the newest one, after
  // publishing a signed `prune` record naming them and the chain value the first kept record
  // continues from. Empty folders go without a record.
  Result<PruneReport> Prune(const std::string& cutoff_folder, const SecretKey& key);

  const TailState& tail() const { return tail_; }
  bool needs_recovery() const { return needs_recovery_; }
  const std::string& dir() const { return dir_; }
  FsOp last_failed_op() const { return last_failed_op_; }

 private:
  Store(std::string dir, std::string host, StoreFs& fs, const Clock& clock, StoreOptions options,
        StoreLock lock);
  // Publish, step by step. Each step that fails has called Fail() (last_failed_op_ says which
  // operation) and may leave temporary files open, which CloseTemporaries closes.
  struct Sealed;
  // Serialises, chains and signs `record` as the one after `tail`, which it advances.
  Result<Sealed> Seal(const Record& record, const SecretKey& key, TailState& tail) const;
  // Before anything is written: a failed background head write, records of another writer, the
  // key file, the store's first head, the day folders `folders` (absolute) made.
  Status CheckBeforeWriting(const SecretKey& key, const std::vector<std::string>& folders);
  // Creates (O_EXCL) and writes each record's and signature's temporary file.
  Status WriteTemporaries(std::vector<Sealed>& sealed);
  // fsyncs the temporary files on the pool while verifying every signature and signing the
  // head of `next` into `head_text`.
  Status SyncAndSelfCheck(const std::vector<Sealed>& sealed, const SecretKey& key,
                          const TailState& next, std::string& head_text);
  // Closes the temporary files, renames each signature then its record into place, and fsyncs
  // the day folders.
  Status RenameIntoPlace(std::vector<Sealed>& sealed, const std::vector<std::string>& folders,
                         const std::string& tail_folder_path);
  void CloseTemporaries(std::vector<Sealed>& sealed);

  // Recover, step by step; each failure has called Fail().
  // Removes the temporary files among `names`, the listing of `rel` ("" for the store's top),
  // adding their paths to `removed`.
  Status RemoveTemporariesIn(const std::string& rel, const std::vector<std::string>& names,
                             std::vector<std::string>& removed);
  // The tail: the highest record file, in the newest day folder that holds one. Adds what an
  // interrupted publication left in the folders above and in it to `leftovers` (folder, name).
  Result<TailState> FindTail(std::vector<std::pair<std::string, std::string>>& leftovers);
  // The tail from the record `name` (seq `seq`) in day folder `folder`, or from its signed
  // comment when the record no longer parses.
  Result<TailState> ReadTail(const std::string& folder, const std::string& name, std::uint64_t seq);
  // Removes `leftovers` and fsyncs the folders they were in.
  Status RemoveLeftovers(const std::vector<std::pair<std::string, std::string>>& leftovers,
                         std::vector<std::string>& removed);
  // Of the head files in `top` (the store's listing), keeps the newest that parses (its name
  // returned, "" when none, its seq in `head_seq`) and removes the others.
  Result<std::string> KeepNewestHead(const std::vector<std::string>& top,
                                     std::optional<std::uint64_t>& head_seq);

  Status EnsureFolder(const std::string& folder);
  // The kTailCheck of Publish for the tail's folder; for a folder this publication starts
  // (`fresh`), that it holds nothing.
  Status CheckForForeignRecords(const std::string& folder_path, bool fresh);
  // Remembers the tail folder's mtime after this store changed it.
  void StampTailFolder(const std::string& folder_path);
  Status EnsureKeyFile(const PublicKey& key);
  // Records an I/O failure: the op for the metric, and that recovery is needed.
  Error Fail(FsOp op, Error error);

  StoreLock lock_;  // first: released last, after the head writer's last write
  std::string dir_;
  std::string host_;
  StoreFs& fs_;
  const Clock& clock_;
  StoreOptions options_;
  TailState tail_;
  bool needs_recovery_ = true;
  FsOp last_failed_op_ = FsOp::kWrite;
  std::vector<KeyId> keys_written_;
  // The foreign-record check: the tail folder's mtime after this store's last change to it
  // (nullopt: unknown, list it), the tail at the last check, and the record files this store
  // published since then.
  std::optional<timespec> tail_folder_mtime_;
  std::uint64_t checked_seq_ = 0;
  std::vector<std::string> published_since_check_;
  std::unique_ptr<FsyncPool> fsync_pool_;
  // Owns the head files between recoveries: which one is current, whether .head.tmp may exist.
  std::unique_ptr<HeadWriter> head_writer_;  // declared last: stopped first
};

// The temporary name a file is written under before its rename: "." + name + ".tmp".
std::string TempName(std::string_view name);

}  // namespace drift::evidence
