#include "pos/collector/file_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <system_error>

namespace pos::collector {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

std::string errno_text(int error) {
  return std::generic_category().message(error);
}

class Fd {
 public:
  explicit Fd(int fd) noexcept : m_fd(fd) {}
  ~Fd() {
    if (m_fd >= 0) ::close(m_fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const noexcept { return m_fd; }

 private:
  int m_fd;
};

std::string file_name(std::uint64_t counter) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &utc);
  return "events-" + std::string(stamp) + "-" + std::to_string(counter) + ".ndjson";
}

std::string encode_line(Destination destination, const OutMessage& message) {
  json::object attributes;
  for (const auto& [key, value] : message.attributes) attributes[key] = value;
  json::object line{{"destination", to_string(destination)},
                    {"ordering_key", message.ordering_key},
                    {"attributes", std::move(attributes)}};
  boost::system::error_code ec;
  json::value data = json::parse(message.data, ec);
  if (ec) {
    line["data"] = message.data;
  } else {
    line["data"] = std::move(data);
  }
  std::string out = json::serialize(line);
  out += '\n';
  return out;
}

}  // namespace

struct FileSink::File {
  File(std::filesystem::path p, int fd) : path(std::move(p)), fd(fd) {}
  std::filesystem::path path;
  Fd fd;
  std::uint64_t size = 0;
};

FileSink::FileSink(asio::any_io_executor executor, FileSinkConfig config)
    : m_executor(std::move(executor)), m_config(std::move(config)) {
  std::error_code ec;
  std::filesystem::create_directories(m_config.dir, ec);
  if (ec) {
    throw std::runtime_error("file sink: cannot create " + m_config.dir.string() + ": " +
                             ec.message());
  }
  if (m_config.max_file_bytes == 0) m_config.max_file_bytes = 1;
}

FileSink::~FileSink() = default;

Status FileSink::open_next() {
  m_file.reset();
  const std::filesystem::path path = m_config.dir / file_name(m_counter++);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return fail("file sink: open " + path.string() + ": " + errno_text(errno));
  m_file = std::make_unique<File>(path, fd);
  m_files.push_back(path);
  const Fd dir(::open(m_config.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || ::fsync(dir.get()) != 0) {
    return fail("file sink: fsync " + m_config.dir.string() + ": " + errno_text(errno));
  }
  return {};
}

Status FileSink::write_call(Destination destination, const std::vector<OutMessage>& messages) {
  for (const OutMessage& message : messages) {
    const std::string line = encode_line(destination, message);
    if (!m_file || (m_file->size > 0 && m_file->size + line.size() > m_config.max_file_bytes)) {
      if (m_file && ::fdatasync(m_file->fd.get()) != 0) {
        return fail("file sink: fdatasync " + m_file->path.string() + ": " + errno_text(errno));
      }
      if (auto opened = open_next(); !opened) return opened;
    }
    std::size_t done = 0;
    while (done < line.size()) {
      const ssize_t n = ::write(m_file->fd.get(), line.data() + done, line.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail("file sink: write " + m_file->path.string() + ": " + errno_text(errno));
      }
      done += static_cast<std::size_t>(n);
    }
    m_file->size += line.size();
  }
  if (m_file && ::fdatasync(m_file->fd.get()) != 0) {
    return fail("file sink: fdatasync " + m_file->path.string() + ": " + errno_text(errno));
  }
  return {};
}

void FileSink::publish(Destination destination, std::vector<OutMessage> messages, Done done) {
  Status status = m_stopped ? Status(fail("sink stopped")) : write_call(destination, messages);
  if (!m_stopped) m_healthy = status.has_value();
  if (!status) m_file.reset();
  asio::post(m_executor, [done = std::move(done), status = std::move(status)] { done(status); });
}

void FileSink::stop(std::chrono::milliseconds, std::function<void()> stopped) {
  m_stopped = true;
  m_file.reset();
  if (stopped) asio::post(m_executor, std::move(stopped));
}

}  // namespace pos::collector
