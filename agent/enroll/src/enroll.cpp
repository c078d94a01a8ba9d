#include "pos/agent/enroll.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>

#include "pos/agent/config.hpp"
#include "pos/common/files.hpp"
#include "pos/common/openssl_handles.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::agent {
namespace {

namespace fs = std::filesystem;
namespace ossl = common::ossl;
using Enrolled = Result<std::string, EnrollError>;

Enrolled usage_error(std::string message) {
  return Enrolled::failure(EnrollError{true, std::move(message)});
}
Enrolled io_error(std::string message) {
  return Enrolled::failure(EnrollError{false, std::move(message)});
}
std::string ssl_error(std::string_view what) {
  const auto queue = ossl::error_queue();
  return std::string(what) + (queue.empty() ? "" : ": " + queue);
}

std::string key_exists(const fs::path& path) {
  return path.string() +
         " already exists; refusing to overwrite a key (--force replaces it, and the certificate "
         "for the old key stops working)";
}

// Puts `data` at `path` with `mode`: never overwriting (common::files::write_new) or, with
// `replace`, renamed over the old file.
Result<bool, EnrollError> install(const fs::path& path, std::string_view data, mode_t mode,
                                  bool replace) {
  using Installed = Result<bool, EnrollError>;
  if (replace) {
    if (auto s = common::files::replace(path, data, mode); !s) {
      return Installed::failure(EnrollError{false, s.error().message});
    }
    return true;
  }
  if (auto s = common::files::write_new(path, data, mode); !s) {
    std::error_code ec;
    if (fs::symlink_status(path, ec).type() != fs::file_type::not_found) {
      return Installed::failure(EnrollError{true, key_exists(path)});
    }
    return Installed::failure(EnrollError{false, s.error().message});
  }
  return true;
}

Result<ossl::Pkey> generate_key() {
  ossl::Pkey key(EVP_EC_gen("P-256"));
  if (!key) {
    return fail(ssl_error("generating an EC P-256 key"));
  }
  return key;
}

template <class Write>
Result<std::string> to_pem(std::string_view what, Write write) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) {
    return fail(ssl_error(what));
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);  // NOLINT(google-runtime-int)
  if (len <= 0 || data == nullptr) {
    return fail(ssl_error(what));
  }
  return std::string(data, static_cast<std::size_t>(len));
}

Result<std::string> make_csr(const EnrollRequest& request, EVP_PKEY* key) {
  ossl::Req req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1) {
    return fail(ssl_error("X509_REQ_new"));
  }
  const std::string cn = request.store_id + "/" + request.till_id;
  const auto* bytes = reinterpret_cast<const unsigned char*>(cn.c_str());
  if (X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8, bytes,
                                 -1, -1, 0) != 1) {
    return fail(ssl_error("CSR subject CN \"" + cn + "\""));
  }
  if (X509_REQ_set_pubkey(req.get(), key) != 1) {
    return fail(ssl_error("X509_REQ_set_pubkey"));
  }
  const std::string san = "URI:urn:fastyle:pos:till:" + request.store_id + ":" + request.till_id;
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  if (ext == nullptr) {
    return fail(ssl_error("CSR subjectAltName"));
  }
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  const bool pushed = exts != nullptr && sk_X509_EXTENSION_push(exts, ext) > 0;
  if (!pushed) {
    X509_EXTENSION_free(ext);
  }
  const bool added = pushed && X509_REQ_add_extensions(req.get(), exts) == 1;
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  if (!added) {
    return fail(ssl_error("CSR extension request"));
  }
  if (X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0) {
    return fail(ssl_error("X509_REQ_sign"));
  }
  return to_pem("writing the CSR",
                [&](BIO* bio) { return PEM_write_bio_X509_REQ(bio, req.get()); });
}

}  // namespace

Result<std::string, EnrollError> enroll_till(const EnrollRequest& request) {
  if (auto s = protocol::check_id("store_id", request.store_id); !s) {
    return usage_error(s.error().message);
  }
  if (auto s = protocol::check_id("till_id", request.till_id); !s) {
    return usage_error(s.error().message);
  }
  for (const auto& path : {request.key_file, request.csr_file}) {
    const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    std::error_code ec;
    if (path.filename().empty() || !fs::is_directory(dir, ec)) {
      return usage_error(path.string() + ": the directory " + dir.string() +
                         " does not exist (create it first, e.g. mkdir -m 0700)");
    }
  }
  std::error_code ec;
  if (!request.force &&
      fs::symlink_status(request.key_file, ec).type() != fs::file_type::not_found) {
    return usage_error(key_exists(request.key_file));
  }
  auto key = generate_key();
  if (!key) {
    return io_error(key.error().message);
  }
  auto key_pem = to_pem("writing the key", [&](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key->get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  if (!key_pem) {
    return io_error(key_pem.error().message);
  }
  auto csr = make_csr(request, key->get());
  if (!csr) {
    return io_error(csr.error().message);
  }
  if (auto s = install(request.key_file, *key_pem, 0600, request.force); !s) {
    return Enrolled::failure(s.error());
  }
  if (auto s = install(request.csr_file, *csr, 0644, true); !s) {
    if (!request.force) {
      ::unlink(request.key_file.c_str());
    }
    return Enrolled::failure(s.error());
  }
  return std::move(*csr);
}

int enroll(const std::string& config_path, const std::string& csr_out, bool force,
           std::ostream& out, std::ostream& err) {
  constexpr int exit_failure = 1;
  constexpr int exit_usage = 2;
  const auto loaded = load_agent_config_for_command(config_path, err);
  if (!loaded) {
    return exit_usage;
  }
  const AgentConfig& config = *loaded;
  if (config.mqtt.key_file.empty() || config.mqtt.cert_file.empty()) {
    err << "posagent: " << config_path
        << ": mqtt.cert_file and mqtt.key_file must be set (where the certificate will go and "
           "where enroll creates the key)\n";
    return exit_usage;
  }
  EnrollRequest request;
  request.store_id = config.store_id;
  request.till_id = config.till_id;
  request.key_file = config.mqtt.key_file;
  request.csr_file = csr_out.empty() ? fs::path(config.mqtt.cert_file + ".csr") : fs::path(csr_out);
  request.force = force;
  auto csr = enroll_till(request);
  if (!csr) {
    err << "posagent: " << csr.error().message << "\n";
    return csr.error().usage ? exit_usage : exit_failure;
  }
  out << "created key " << request.key_file.string()
      << " (EC P-256, mode 0600; it stays on this till)\n"
      << "wrote CSR " << request.csr_file.string() << " for CN \"" << request.store_id << "/"
      << request.till_id << "\"\n"
      << "next: copy only the CSR to the CA machine and run\n"
      << "  posctl pki sign --dir CA_DIR --csr " << request.csr_file.filename().string()
      << " --store " << request.store_id << " --till " << request.till_id << " --out "
      << protocol::till_key(request.store_id, request.till_id) << ".crt\n"
      << "then copy the certificate back to " << config.mqtt.cert_file
      << " (and the CA's ca.crt to "
      << (config.mqtt.ca_file.empty() ? std::string("mqtt.ca_file") : config.mqtt.ca_file)
      << ") and check with: posagent check-config --config " << config_path << "\n";
  return 0;
}

}  // namespace pos::agent
