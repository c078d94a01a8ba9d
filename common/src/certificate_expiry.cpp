#include "pos/common/certificate_expiry.hpp"

#include <openssl/pem.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "pos/common/openssl_handles.hpp"

namespace pos::common {

Result<std::int64_t> certificate_not_after_ms(const std::filesystem::path& path) {
  ERR_clear_error();
  ossl::Bio bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    const int error = errno;
    ERR_clear_error();
    return fail(path.string() + ": cannot read: " + std::strerror(error));
  }
  const ossl::Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return fail(path.string() + ": not a PEM certificate");
  }
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) {
    ERR_clear_error();
    return fail(path.string() + ": the certificate's notAfter cannot be read");
  }
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

FileChangeWatch::FileChangeWatch(std::vector<std::filesystem::path> paths)
    : m_paths(std::move(paths)) {
  for (const auto& path : m_paths) {
    m_seen.push_back(look(path));
  }
}

FileChangeWatch::Seen FileChangeWatch::look(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return {};
  }
  return {static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<std::int64_t>(st.st_size)};
}

bool FileChangeWatch::poll() {
  bool changed = false;
  for (std::size_t i = 0; i < m_paths.size(); ++i) {
    const Seen now = look(m_paths[i]);
    if (!(now == m_seen[i])) {
      m_seen[i] = now;
      changed = true;
    }
  }
  return changed;
}

}  // namespace pos::common
