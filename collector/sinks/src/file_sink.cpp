// FileSink design: publish() (on the executor's thread) moves the call into a queue and returns.
// A flush job on the sink's WorkerThread takes every queued call at once, encodes and writes their
// lines in call order (one write() per call, files rotated in between with an fdatasync of the
// finished file), then fdatasyncs once and posts every call's `done`. A failed write or sync fails
// every call of the group (at-least-once: the agent resends) and the next group starts a new file.
// Each queued call holds a work-tracking executor so that the io_context does not run out of work
// while the disk is busy.

#include "pos/collector/file_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <iterator>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>

#include "pos/common/unique_fd.hpp"
#include "pos/common/worker_thread.hpp"
#include "pos/protocol/event.hpp"

namespace pos::collector {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

std::string errno_text(int error) {
  return std::generic_category().message(error);
}

std::string file_name(std::uint64_t counter) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &utc);
  return "events-" + std::string(stamp) + "-" + std::to_string(counter) + ".ndjson";
}

// Accepts exactly what json::parse(text) with default options accepts, building nothing.
struct NullHandler {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();
  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t, json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

bool is_one_json_text(std::string_view text) {
  json::basic_parser<NullHandler> parser(json::parse_options{});
  json::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  return !ec && used == text.size();
}

// Appends the line of one message (with its newline). Attributes keep their first position and
// take the last value of a repeated key, as a json::object built by assignment does.
void append_line(std::string& out, Destination destination, const OutMessage& message) {
  out.append("{\"destination\":");
  protocol::append_json_string(out, to_string(destination));
  out.append(",\"ordering_key\":");
  protocol::append_json_string(out, message.ordering_key);
  out.append(",\"attributes\":{");
  const auto& attributes = message.attributes;
  bool first = true;
  for (std::size_t i = 0; i < attributes.size(); ++i) {
    const std::string& key = attributes[i].first;
    bool seen = false;
    for (std::size_t j = 0; j < i && !seen; ++j) {
      seen = attributes[j].first == key;
    }
    if (seen) {
      continue;
    }
    const std::string* value = &attributes[i].second;
    for (std::size_t j = i + 1; j < attributes.size(); ++j) {
      if (attributes[j].first == key) {
        value = &attributes[j].second;
      }
    }
    if (!first) {
      out.push_back(',');
    }
    first = false;
    protocol::append_json_string(out, key);
    out.push_back(':');
    protocol::append_json_string(out, *value);
  }
  out.append("},\"data\":");
  const std::string_view data = message.data;
  const bool one_line = std::memchr(data.data(), '\n', data.size()) == nullptr &&
                        std::memchr(data.data(), '\r', data.size()) == nullptr;
  if (one_line && is_one_json_text(data)) {
    out.append(data);
  } else {
    boost::system::error_code ec;
    const json::value parsed = json::parse(data, ec);
    if (ec) {
      protocol::append_json_string(out, data);
    } else {
      out.append(json::serialize(parsed));
    }
  }
  out.append("}\n");
}

std::size_t data_bytes(const std::vector<OutMessage>& messages) {
  std::size_t bytes = 0;
  for (const auto& message : messages) {
    bytes += message.data.size();
  }
  return bytes;
}

struct Call {
  Destination destination = Destination::events;
  std::vector<OutMessage> messages;
  Sink::Done done;
  std::size_t bytes = 0;
  asio::any_io_executor work;  ///< tracks outstanding work until `done` is posted
};

}  // namespace

struct FileSink::Impl {
  Impl(asio::any_io_executor exec, FileSinkConfig conf)
      : executor(std::move(exec)), config(std::move(conf)) {}

  /// The worker's job: writes every queued call, then completes them.
  void flush();
  Status write_group(std::vector<Call>& group);
  Status write_out(std::string_view bytes);
  Status sync_file();
  Status open_next();

  const asio::any_io_executor executor;
  FileSinkConfig config;

  // The worker's only.
  std::optional<common::UniqueFd> fd;
  std::filesystem::path path;
  std::uint64_t size = 0;
  std::uint64_t counter = 0;
  std::string buffer;  ///< one call's lines, reused

  mutable std::mutex files_mutex;
  std::vector<std::filesystem::path> files;

  std::mutex mutex;
  std::deque<Call> queue;
  bool flush_queued = false;  ///< a flush job waits in the worker: it will take the queue

  bool stop_called = false;  ///< executor's thread only
  std::atomic<std::size_t> pending_bytes{0};
  std::atomic<bool> healthy{true};
  /// Last: destroyed (its jobs run, its thread joined) before the state they use.
  std::unique_ptr<common::WorkerThread> worker;
};

FileSink::FileSink(asio::any_io_executor executor, FileSinkConfig config)
    : m_impl(std::make_unique<Impl>(std::move(executor), std::move(config))) {
  std::error_code ec;
  std::filesystem::create_directories(m_impl->config.dir, ec);
  if (ec) {
    throw std::runtime_error("file sink: cannot create " + m_impl->config.dir.string() + ": " +
                             ec.message());
  }
  if (m_impl->config.max_file_bytes == 0) {
    m_impl->config.max_file_bytes = 1;
  }
  // At most a flush and the stop's completion wait at a time.
  m_impl->worker = std::make_unique<common::WorkerThread>("file sink", 4);
}

FileSink::~FileSink() {
  m_impl->worker->stop();  // runs the flush still queued
  m_impl->fd.reset();
}

void FileSink::Impl::flush() {
  std::vector<Call> group;
  {
    std::lock_guard lock(mutex);
    flush_queued = false;
    group.assign(std::make_move_iterator(queue.begin()), std::make_move_iterator(queue.end()));
    queue.clear();
  }
  const Status status = write_group(group);
  healthy = status.has_value();
  if (!status) {
    fd.reset();
  }
  for (auto& call : group) {
    pending_bytes -= call.bytes;
    asio::post(call.work, [done = std::move(call.done), status] { done(status); });
    call.work = {};
  }
}

Status FileSink::Impl::write_group(std::vector<Call>& group) {
  for (const Call& call : group) {
    buffer.clear();
    for (const OutMessage& message : call.messages) {
      const std::size_t line_start = buffer.size();
      append_line(buffer, call.destination, message);
      const std::size_t line_size = buffer.size() - line_start;
      const std::uint64_t file_size = size + line_start;
      if (!fd || (file_size > 0 && file_size + line_size > config.max_file_bytes)) {
        if (auto written = write_out(std::string_view(buffer).substr(0, line_start)); !written) {
          return written;
        }
        buffer.erase(0, line_start);
        if (fd) {
          if (auto synced = sync_file(); !synced) {
            return synced;
          }
        }
        if (auto opened = open_next(); !opened) {
          return opened;
        }
      }
    }
    if (auto written = write_out(buffer); !written) {
      return written;
    }
  }
  if (fd) {
    return sync_file();
  }
  return {};
}

Status FileSink::Impl::write_out(std::string_view bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd->get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail("file sink: write " + path.string() + ": " + errno_text(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  size += bytes.size();
  return {};
}

Status FileSink::Impl::sync_file() {
  if (::fdatasync(fd->get()) != 0) {
    return fail("file sink: fdatasync " + path.string() + ": " + errno_text(errno));
  }
  return {};
}

Status FileSink::Impl::open_next() {
  fd.reset();
  size = 0;
  path = config.dir / file_name(counter++);
  const int opened = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (opened < 0) {
    return fail("file sink: open " + path.string() + ": " + errno_text(errno));
  }
  fd.emplace(opened);
  {
    std::lock_guard lock(files_mutex);
    files.push_back(path);
  }
  const common::UniqueFd dir(::open(config.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || ::fsync(dir.get()) != 0) {
    return fail("file sink: fsync " + config.dir.string() + ": " + errno_text(errno));
  }
  return {};
}

void FileSink::publish(Destination destination, std::vector<OutMessage> messages, Done done) {
  Impl& impl = *m_impl;
  if (impl.stop_called) {
    asio::post(impl.executor, [done = std::move(done)] { done(fail("sink stopped")); });
    return;
  }
  Call call{destination, std::move(messages), std::move(done), 0,
            asio::prefer(impl.executor, asio::execution::outstanding_work.tracked)};
  call.bytes = data_bytes(call.messages);
  impl.pending_bytes += call.bytes;
  std::lock_guard lock(impl.mutex);
  impl.queue.push_back(std::move(call));
  if (!impl.flush_queued) {
    impl.flush_queued = impl.worker->post([&impl] { impl.flush(); });
  }
}

std::size_t FileSink::pending_bytes() const {
  return m_impl->pending_bytes.load();
}

bool FileSink::healthy() const {
  return m_impl->healthy.load();
}

void FileSink::stop(std::chrono::milliseconds, std::function<void()> stopped) {
  Impl& impl = *m_impl;
  const bool again = std::exchange(impl.stop_called, true);
  if (again) {
    if (stopped) {
      asio::post(impl.executor, std::move(stopped));
    }
    return;
  }
  if (stopped) {
    // After the flush of every call published so far (the worker runs jobs in order).
    impl.worker->post(
        [stopped = std::move(stopped),
         work = asio::prefer(impl.executor, asio::execution::outstanding_work.tracked)]() mutable {
          asio::post(work, std::move(stopped));
        });
  }
}

std::vector<std::filesystem::path> FileSink::files() const {
  std::lock_guard lock(m_impl->files_mutex);
  return m_impl->files;
}

}  // namespace pos::collector
