#include "common/secret_file.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/regular_file.h"

namespace drift {
namespace {

// The mode that fixes a file its group or others may use: the owner's bits alone, with at least
// read (a secret nobody may read is no better).
unsigned SuggestedMode(mode_t mode) { return static_cast<unsigned>((mode & 0700) | 0400); }

}  // namespace

Result<std::string> ReadSecretFile(const std::string& path, const SecretFileOptions& options) {
  const std::string file = options.what.empty() ? path : fmt::format("{} {}", options.what, path);
  RegularFileOptions read;
  read.follow_symlinks = options.follow_symlinks;
  read.wipe = true;
  read.check = [&](const struct stat& st) -> Status {
    const mode_t refused = options.private_to_owner ? 077 : 044;
    if ((st.st_mode & refused) != 0) {
      return Err("{} is {} its group or others (mode {:04o}); run `chmod {:o} {}`", file,
                 options.private_to_owner ? "accessible to" : "readable by",
                 static_cast<unsigned>(st.st_mode & 07777), SuggestedMode(st.st_mode), path);
    }
    if (options.check_owner && st.st_uid != ::geteuid()) {
      return Err("{} is owned by uid {}, not by uid {} that runs drift_exporter", file, st.st_uid,
                 ::geteuid());
    }
    return {};
  };
  Result<std::string> text = ReadRegularFile(path, options.max_bytes, read);
  if (text.ok()) return text;
  Error e = text.error();
  if (e.sys_errno == ELOOP && !options.follow_symlinks) {
    e.message = fmt::format("{} is a symbolic link; name the file itself", file);
  } else if (e.sys_errno == EFBIG) {
    e.message = fmt::format("{} is {}", file, e.message);
  } else if (e.sys_errno != 0 || e.message.starts_with("not a regular file")) {
    e.message = fmt::format("cannot read {}: {}", file, e.message);
  }
  return e;
}

void WipeSecret(std::string& secret) {
  ::explicit_bzero(secret.data(), secret.size());
  secret.clear();
}

}  // namespace drift
