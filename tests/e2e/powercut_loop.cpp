#include "powercut_loop.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "e2e_harness.hpp"
#include "powercut/powercut_fs.hpp"
#include "support/mqtt_client.hpp"

namespace pos::test {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

std::string tail_of(const std::string& text, std::size_t bytes = 3000) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Milliseconds since the epoch of "2026-11-22T03:00:00.123Z"; nullopt for another form.
std::optional<std::int64_t> utc_ms(const std::string& text) {
  std::tm tm{};
  int millis = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis) != 7) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + millis;
}

std::string json_string(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// fsync of a file or directory; throws naming the path.
void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error("open " + path.string() + ": " + std::strerror(errno));
  }
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) {
    throw std::runtime_error("fsync " + path.string() + ": " + std::strerror(error));
  }
}

// Creates root/relative directory by directory and fsyncs each new directory's parent, so that
// the directories survive the next cut (the starting state of a till's disk).
fs::path durable_dirs(const fs::path& root, const fs::path& relative) {
  fs::path at = root;
  for (const auto& part : relative) {
    const auto next = at / part;
    if (!fs::exists(next)) {
      fs::create_directory(next);
      fsync_path(next);
      fsync_path(at);
    }
    at = next;
  }
  return at;
}

// PRAGMA integrity_check of a copy of `db` (with its -wal, without touching the original: the
// check of the copy replays the WAL as the program's next start would). Returns "ok" or what
// SQLite answered.
std::string integrity_of_copy(const fs::path& db, const fs::path& scratch) {
  fs::create_directories(scratch);
  const auto copy = scratch / db.filename();
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    fs::remove(fs::path(copy.string() + suffix));
  }
  for (const char* suffix : {"", "-wal", "-journal"}) {
    const fs::path from(db.string() + suffix);
    if (fs::exists(from)) {
      fs::copy_file(from, fs::path(copy.string() + suffix), fs::copy_options::overwrite_existing);
    }
  }
  sqlite3* handle = nullptr;
  if (sqlite3_open_v2(copy.c_str(), &handle, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::string error = handle ? sqlite3_errmsg(handle) : "out of memory";
    sqlite3_close(handle);
    return "cannot open: " + error;
  }
  std::string answer;
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(handle, "PRAGMA integrity_check", -1, &statement, nullptr) != SQLITE_OK) {
    answer = std::string("cannot check: ") + sqlite3_errmsg(handle);
  } else {
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
      const auto* text = sqlite3_column_text(statement, 0);
      answer += (answer.empty() ? "" : "; ") +
                std::string(text ? reinterpret_cast<const char*>(text) : "");
    }
    if (rc != SQLITE_DONE) {
      answer += std::string(answer.empty() ? "" : "; ") + "error: " + sqlite3_errmsg(handle);
    }
  }
  sqlite3_finalize(statement);
  sqlite3_close(handle);
  return answer;
}

// Every SQLite database (*.db) under `root`.
std::vector<fs::path> databases_under(const fs::path& root) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().extension() == ".db") {
      found.push_back(it->path());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

PowerCutFs::CutMode mode_of(std::uint64_t n) {
  switch (n % 3) {
    case 0:
      return PowerCutFs::CutMode::clean;
    case 1:
      return PowerCutFs::CutMode::torn;
    default:
      return PowerCutFs::CutMode::reorder;
  }
}

const char* mode_name(PowerCutFs::CutMode mode) {
  switch (mode) {
    case PowerCutFs::CutMode::clean:
      return "clean";
    case PowerCutFs::CutMode::torn:
      return "torn";
    case PowerCutFs::CutMode::reorder:
      return "reorder";
  }
  return "?";
}

// A cut; a reorder cut with the loop's seed, so that POS_POWERCUT_SEED replays its choices.
void cut_fs(PowerCutFs& fs, PowerCutFs::CutMode mode, std::uint64_t seed) {
  if (mode == PowerCutFs::CutMode::reorder) {
    fs.cut_reorder(seed);
  } else {
    fs.cut(mode);
  }
}

// --- The POS side ---------------------------------------------------------------------------

// One event the POS was told is safe.
struct Acked {
  std::string pos_event_id;
  std::string event_id;  // posagent's answer; empty for MQTT
  std::string status;    // accepted | duplicate | puback
  json::object event;
};

// How a till's requests reach the system. submit() gets the events not yet acknowledged of one
// request, appends what was acknowledged to `out` (in order) and returns whether the whole
// request was answered; it never throws.
class Submitter {
 public:
  virtual ~Submitter() = default;
  virtual bool submit(const std::vector<json::object>& events, std::vector<Acked>& out,
                      std::string& problem) = 0;
};

// POST /v1/events to posagent as a JSON array; `accepted`/`duplicate` per event.
class HttpSubmitter final : public Submitter {
 public:
  explicit HttpSubmitter(std::uint16_t port) : m_port(port) {}
  bool submit(const std::vector<json::object>& events, std::vector<Acked>& out,
              std::string& problem) override {
    json::array body;
    for (const auto& e : events) {
      body.push_back(e);
    }
    const auto reply =
        http_request(m_port, "POST", "/v1/events", "application/json", json::serialize(body), 3s);
    if (reply.status != 200) {
      return false;  // no answer, 503: the POS sends the same request again
    }
    boost::system::error_code ec;
    auto value = json::parse(reply.body, ec);
    const auto* results =
        !ec && value.is_object() ? value.as_object().if_contains("results") : nullptr;
    if (!results || !results->is_array() || results->as_array().size() != events.size()) {
      problem = "unreadable answer to a POST: " + reply.body.substr(0, 300);
      return false;
    }
    for (std::size_t i = 0; i < events.size(); ++i) {
      const auto& r = results->as_array()[i].as_object();
      const auto status = json_string(r, "status");
      if (status != "accepted" && status != "duplicate") {
        problem =
            "event " + json_string(events[i], "pos_event_id") + " answered " + json::serialize(r);
        return false;
      }
      out.push_back(
          {json_string(events[i], "pos_event_id"), json_string(r, "event_id"), status, events[i]});
    }
    return true;
  }

 private:
  std::uint16_t m_port;
};

// QoS 1 publish of each event to the local broker; PUBACK is the acknowledgement. A minimal
// MQTT 3.1.1 client on a blocking loopback socket (CONNECT, PUBLISH, wait for the PUBACK; 2 s
// timeouts), so that nothing but the broker decides when an event counts as acknowledged. A
// lost connection is made again at the next submit.
class MqttSubmitter final : public Submitter {
 public:
  MqttSubmitter(std::uint16_t port, std::string client_id, std::string topic)
      : m_port(port), m_client_id(std::move(client_id)), m_topic(std::move(topic)) {}
  ~MqttSubmitter() override { disconnect(); }
  bool submit(const std::vector<json::object>& events, std::vector<Acked>& out,
              std::string& /*problem*/) override {
    for (const auto& e : events) {
      if ((m_fd < 0 && !connect()) || !publish(json::serialize(e))) {
        disconnect();
        return false;
      }
      out.push_back({json_string(e, "pos_event_id"), "", "puback", e});
    }
    return true;
  }

 private:
  static void append_length(std::string& out, std::size_t n) {
    do {
      auto byte = static_cast<unsigned char>(n % 128);
      n /= 128;
      if (n > 0) {
        byte |= 0x80;
      }
      out.push_back(static_cast<char>(byte));
    } while (n > 0);
  }
  static void append_string(std::string& out, std::string_view text) {
    out.push_back(static_cast<char>(text.size() >> 8));
    out.push_back(static_cast<char>(text.size() & 0xff));
    out.append(text);
  }
  bool send_all(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const auto n = ::send(m_fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }
  bool read_exact(char* buffer, std::size_t size) {
    std::size_t got = 0;
    while (got < size) {
      const auto n = ::recv(m_fd, buffer + got, size - got, 0);
      if (n <= 0) {
        return false;
      }
      got += static_cast<std::size_t>(n);
    }
    return true;
  }
  // Reads one packet; returns its first byte and body, false on error or timeout.
  bool read_packet(unsigned char& type, std::string& body) {
    char byte = 0;
    if (!read_exact(&byte, 1)) {
      return false;
    }
    type = static_cast<unsigned char>(byte);
    std::size_t length = 0;
    for (int shift = 0; shift < 28; shift += 7) {
      if (!read_exact(&byte, 1)) {
        return false;
      }
      length |= static_cast<std::size_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        break;
      }
    }
    body.resize(length);
    return length == 0 || read_exact(body.data(), length);
  }
  bool connect() {
    m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m_fd < 0) {
      return false;
    }
    timeval timeout{2, 0};
    ::setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(m_fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(m_port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(m_fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      return false;
    }
    std::string body;
    append_string(body, "MQTT");
    body += std::string("\x04\x02\x00\x1e", 4);  // 3.1.1, clean session, keepalive 30 s
    append_string(body, m_client_id);
    std::string packet(1, '\x10');
    append_length(packet, body.size());
    packet += body;
    unsigned char type = 0;
    std::string answer;
    return send_all(packet) && read_packet(type, answer) && type == 0x20 && answer.size() == 2 &&
           answer[1] == 0;
  }
  bool publish(const std::string& payload) {
    m_packet_id = static_cast<std::uint16_t>(m_packet_id % 65535 + 1);
    std::string body;
    append_string(body, m_topic);
    body.push_back(static_cast<char>(m_packet_id >> 8));
    body.push_back(static_cast<char>(m_packet_id & 0xff));
    body += payload;
    std::string packet(1, '\x32');  // PUBLISH, QoS 1
    append_length(packet, body.size());
    packet += body;
    if (!send_all(packet)) {
      return false;
    }
    while (true) {
      unsigned char type = 0;
      std::string answer;
      if (!read_packet(type, answer)) {
        return false;
      }
      if ((type & 0xf0) == 0x40 && answer.size() == 2 &&
          ((static_cast<unsigned char>(answer[0]) << 8) | static_cast<unsigned char>(answer[1])) ==
              m_packet_id) {
        return true;
      }
    }
  }
  void disconnect() {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    m_fd = -1;
  }

  std::uint16_t m_port;
  std::string m_client_id;
  std::string m_topic;
  int m_fd = -1;
  std::uint16_t m_packet_id = 0;
};

// One till of the POS: a thread sending requests of 1-4 new events, one at a time, each one
// again and again (same pos_event_ids) until it is answered, like a real POS. Thread-safe.
class PosTill {
 public:
  PosTill(std::string store, std::string till, std::unique_ptr<Submitter> submitter,
          double events_per_s, std::uint64_t seed)
      : m_store(std::move(store)),
        m_till(std::move(till)),
        m_submitter(std::move(submitter)),
        m_events_per_s(events_per_s),
        m_rng(seed) {
    m_thread = std::thread([this] { run(); });
  }
  ~PosTill() { stop(0s); }
  PosTill(const PosTill&) = delete;
  PosTill& operator=(const PosTill&) = delete;

  // Stops after the request in hand is answered (or `patience` passed); joins the thread.
  void stop(std::chrono::milliseconds patience) {
    m_patience_deadline = Clock::now() + patience;
    m_stop = true;
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }
  std::vector<Acked> acked() const {
    std::lock_guard lock(m_mutex);
    return m_acked;
  }
  std::size_t acked_count() const {
    std::lock_guard lock(m_mutex);
    return m_acked.size();
  }
  std::vector<std::string> problems() const {
    std::lock_guard lock(m_mutex);
    return m_problems;
  }
  std::size_t unanswered() const { return m_unanswered; }
  const std::string& store() const { return m_store; }
  const std::string& till() const { return m_till; }

 private:
  void run() {
    std::uint64_t next = 1;
    while (!m_stop) {
      const auto count = 1 + m_rng() % 4;
      std::vector<json::object> events;
      for (std::uint64_t i = 0; i < count; ++i, ++next) {
        std::ostringstream id;
        id << m_store << '-' << m_till << "-P" << std::setw(7) << std::setfill('0') << next;
        events.push_back(
            json::parse(sale_event(id.str(), m_store, m_till, 1 + static_cast<int>(next % 3)))
                .as_object());
      }
      auto backoff = 50ms;
      while (true) {
        std::vector<Acked> out;
        std::string problem;
        const bool answered = m_submitter->submit(events, out, problem);
        {
          std::lock_guard lock(m_mutex);
          for (auto& a : out) {
            m_acked.push_back(std::move(a));
          }
          if (!problem.empty() && m_problems.size() < 20) {
            m_problems.push_back(problem);
          }
        }
        events.erase(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(out.size()));
        if (answered || events.empty()) {
          break;
        }
        if (m_stop && Clock::now() > m_patience_deadline.load()) {
          m_unanswered += events.size();
          return;
        }
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
      }
      std::this_thread::sleep_for(std::chrono::microseconds(
          static_cast<std::int64_t>(1e6 * static_cast<double>(count) / m_events_per_s)));
    }
  }

  std::string m_store;
  std::string m_till;
  std::unique_ptr<Submitter> m_submitter;
  double m_events_per_s;
  std::mt19937_64 m_rng;
  std::atomic<bool> m_stop{false};
  std::atomic<Clock::time_point> m_patience_deadline{Clock::time_point::max()};
  std::atomic<std::size_t> m_unanswered{0};
  mutable std::mutex m_mutex;
  std::vector<Acked> m_acked;
  std::vector<std::string> m_problems;
  std::thread m_thread;
};

// A POS that writes files into the agent's spool directory the way docs/agent.md asks: write
// `NAME.ndjson.tmp`, fsync it, rename it to `NAME.ndjson`, fsync the directory. Only then is the
// file finished. park() stops it between two system calls (with no file open, so that the cut
// kills nothing of the test); after unpark() it writes the unfinished file again from the start
// (same name, same events), as a POS that lost power would. Thread-safe.
class SpoolWriter {
 public:
  struct File {
    std::string name;
    std::vector<json::object> events;
  };

  SpoolWriter(fs::path dir, std::string store, std::string till, double events_per_s,
              std::uint64_t seed)
      : m_dir(std::move(dir)),
        m_store(std::move(store)),
        m_till(std::move(till)),
        m_events_per_s(events_per_s),
        m_rng(seed) {
    m_thread = std::thread([this] { run(); });
  }
  ~SpoolWriter() { stop(); }
  SpoolWriter(const SpoolWriter&) = delete;
  SpoolWriter& operator=(const SpoolWriter&) = delete;

  // Returns when the writer holds no file open on the spool's filesystem.
  void park() {
    std::unique_lock lock(m_mutex);
    m_park = true;
    m_cv.wait(lock, [&] { return m_parked || m_done; });
  }
  void unpark() {
    std::lock_guard lock(m_mutex);
    m_park = false;
    m_cv.notify_all();
  }
  // Finishes the file in hand, then stops and joins.
  void stop() {
    {
      std::lock_guard lock(m_mutex);
      m_stop = true;
      m_park = false;
      m_cv.notify_all();
    }
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }
  std::vector<File> finished() const {
    std::lock_guard lock(m_mutex);
    return m_finished;
  }
  std::vector<std::string> problems() const {
    std::lock_guard lock(m_mutex);
    return m_problems;
  }
  std::size_t interrupted() const { return m_interrupted; }

 private:
  // Between two steps: parks when asked. Returns false when the file must be started again.
  bool step(int& fd) {
    std::unique_lock lock(m_mutex);
    if (!m_park) {
      return true;
    }
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
    m_parked = true;
    m_cv.notify_all();
    m_cv.wait(lock, [&] { return !m_park; });
    m_parked = false;
    ++m_interrupted;
    return false;
  }

  void note(const std::string& what) {
    std::lock_guard lock(m_mutex);
    if (m_problems.size() < 20) {
      m_problems.push_back(what);
    }
  }

  // One attempt at writing `file`; true when finished.
  bool write_once(const File& file) {
    int fd = -1;
    const auto tmp = m_dir / (file.name + ".tmp");
    const auto target = m_dir / file.name;
    std::string text;
    for (const auto& e : file.events) {
      text += json::serialize(e) + "\n";
    }
    const auto fail = [&](const char* what) {
      note(std::string(what) + " " + file.name + ": " + std::strerror(errno));
      if (fd >= 0) {
        ::close(fd);
      }
      std::this_thread::sleep_for(100ms);
      return false;
    };
    if (!step(fd)) {
      return false;
    }
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      return fail("open");
    }
    // Two writes, so that a cut can fall between them.
    const auto half = text.size() / 2;
    if (::write(fd, text.data(), half) != static_cast<ssize_t>(half)) {
      return fail("write");
    }
    if (!step(fd)) {
      return false;
    }
    if (::write(fd, text.data() + half, text.size() - half) !=
        static_cast<ssize_t>(text.size() - half)) {
      return fail("write");
    }
    if (!step(fd)) {
      return false;
    }
    if (::fsync(fd) != 0) {
      return fail("fsync");
    }
    ::close(fd);
    fd = -1;
    if (!step(fd)) {
      return false;
    }
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
      return fail("rename");
    }
    if (!step(fd)) {
      return false;
    }
    fd = ::open(m_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      return fail("open dir");
    }
    if (::fsync(fd) != 0) {
      return fail("fsync dir");
    }
    ::close(fd);
    return true;
  }

  void run() {
    std::uint64_t number = 1;
    std::uint64_t next_event = 1;
    while (true) {
      {
        std::lock_guard lock(m_mutex);
        if (m_stop) {
          break;
        }
      }
      File file;
      std::ostringstream name;
      name << std::setw(7) << std::setfill('0') << number++ << ".ndjson";
      file.name = name.str();
      const auto count = 1 + m_rng() % 3;
      for (std::uint64_t i = 0; i < count; ++i, ++next_event) {
        std::ostringstream id;
        id << m_store << '-' << m_till << "-F" << std::setw(7) << std::setfill('0') << next_event;
        file.events.push_back(
            json::parse(sale_event(id.str(), m_store, m_till, 1 + static_cast<int>(i % 3)))
                .as_object());
      }
      while (!write_once(file)) {
      }
      {
        std::lock_guard lock(m_mutex);
        m_finished.push_back(std::move(file));
      }
      std::unique_lock lock(m_mutex);
      m_cv.wait_for(lock,
                    std::chrono::microseconds(static_cast<std::int64_t>(
                        1e6 * static_cast<double>(count) / m_events_per_s)),
                    [&] { return m_stop || m_park; });
    }
    std::lock_guard lock(m_mutex);
    m_done = true;
    m_cv.notify_all();
  }

  fs::path m_dir;
  std::string m_store;
  std::string m_till;
  double m_events_per_s;
  std::mt19937_64 m_rng;
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_park = false;
  bool m_parked = false;
  bool m_stop = false;
  bool m_done = false;
  std::size_t m_interrupted = 0;
  std::vector<File> m_finished;
  std::vector<std::string> m_problems;
  std::thread m_thread;
};

// --- posagent -------------------------------------------------------------------------------

struct TillPlan {
  std::string store;
  std::string till;
  bool spool = false;
};

const std::vector<TillPlan> posagent_tills = {{"S01", "T1"}, {"S01", "T2"}, {"S02", "T1", true}};

// The system with its files on two power-cut filesystems: the tills' (every agent's data_dir
// and spool) and the collector's. The broker and the Pub/Sub emulator are the centre's and stay
// up.
class PosagentRig {
 public:
  explicit PosagentRig(const PowerCutLoopOptions& options)
      : m_options(options),
        m_till_fs(m_dir.path() / "till-backing", m_dir.path() / "till-mnt"),
        m_collector_fs(m_dir.path() / "collector-backing", m_dir.path() / "collector-mnt") {
    std::vector<TillOptions> tills;
    for (const auto& plan : posagent_tills) {
      const auto name = plan.store + "-" + plan.till;
      TillOptions t{plan.store, plan.till};
      t.mqtt_via_proxy = true;
      t.data_dir = durable_dirs(m_till_fs.mount_dir(), name);
      if (plan.spool) {
        m_spool_dir = durable_dirs(m_till_fs.mount_dir(), fs::path(name + "-spool"));
        t.extra_ingest_toml = "spool_dir = \"" + m_spool_dir.string() +
                              "\"\nspool_poll_ms = 100\nspool_settle_ms = 300\n";
      }
      tills.push_back(std::move(t));
    }
    m_system = std::make_unique<E2eSystem>(
        SystemOptions{tills, false, durable_dirs(m_collector_fs.mount_dir(), "data")});
  }

  E2eSystem& system() { return *m_system; }
  PowerCutFs& till_fs() { return m_till_fs; }
  PowerCutFs& collector_fs() { return m_collector_fs; }
  const fs::path& spool_dir() const { return m_spool_dir; }
  const fs::path& scratch() const { return m_dir.path(); }

  // Starts the POS: an HTTP client per HTTP till, the spool writer.
  void start_load(std::uint64_t seed) {
    for (std::size_t i = 0; i < posagent_tills.size(); ++i) {
      const auto& plan = posagent_tills[i];
      if (plan.spool) {
        if (m_options.spool_writer) {
          m_spool = std::make_unique<SpoolWriter>(m_spool_dir, plan.store, plan.till,
                                                  m_options.events_per_s_per_till / 4, seed + 99);
        }
        continue;
      }
      m_pos.push_back(std::make_unique<PosTill>(
          plan.store, plan.till, std::make_unique<HttpSubmitter>(m_system->till(i).port()),
          m_options.events_per_s_per_till, seed + i));
    }
    m_load_started = Clock::now();
  }

  std::size_t acked_so_far() const {
    std::size_t n = 0;
    for (const auto& p : m_pos) {
      n += p->acked_count();
    }
    return n;
  }

  SpoolWriter* spool() { return m_spool.get(); }

  // Cuts (refuse) or restores the tills' links to the broker; a no-op when already so.
  void uplink(bool up) {
    if (up == !m_uplink_down) {
      return;
    }
    m_uplink_down = !up;
    for (std::size_t i = 0; i < m_system->till_count(); ++i) {
      auto* proxy = m_system->till(i).proxy();
      if (up) {
        proxy->restore();
      } else {
        proxy->cut(CutMode::refuse);
      }
    }
  }

  // kill -9 of every agent (or the collector), the cut, integrity checks of what the cut left.
  void cut_tills(PowerCutFs::CutMode mode, std::uint64_t seed, PowerCutLoopResult& r) {
    for (std::size_t i = 0; i < m_system->till_count(); ++i) {
      m_system->till(i).kill9();
    }
    cut_fs(m_till_fs, mode, seed);
    check_databases(m_till_fs.mount_dir(), r);
  }
  void cut_collector(PowerCutFs::CutMode mode, std::uint64_t seed, PowerCutLoopResult& r) {
    m_system->collector().kill9();
    cut_fs(m_collector_fs, mode, seed);
    check_databases(m_collector_fs.mount_dir(), r);
  }
  void check_databases(const fs::path& root, PowerCutLoopResult& r) {
    for (const auto& db : databases_under(root)) {
      ++r.databases_checked;
      const auto answer = integrity_of_copy(db, m_dir.path() / "integrity");
      if (answer != "ok") {
        ++r.integrity_failures;
        r.problems.push_back("integrity_check of " + db.filename().string() + " (" +
                             db.parent_path().filename().string() + "): " + answer);
      }
    }
  }

  // Starts what was killed; false (with the reason in `problems`) when a start failed.
  bool restart(bool tills, bool collector, PowerCutLoopResult& r) {
    try {
      if (collector) {
        m_system->collector().start(30s);
      }
      if (tills) {
        for (std::size_t i = 0; i < m_system->till_count(); ++i) {
          m_system->till(i).start(30s);
        }
      }
      return true;
    } catch (const std::exception& e) {
      ++r.operator_needed;
      r.problems.push_back(std::string("restart after a cut failed: ") + e.what());
      return false;
    }
  }

  // Stops the POS, drains and checks everything; fills `r`.
  void finish(PowerCutLoopResult& r) {
    uplink(true);
    for (auto& p : m_pos) {
      p->stop(60s);
    }
    if (m_spool) {
      m_spool->stop();
    }
    const auto load_s = std::chrono::duration<double>(Clock::now() - m_load_started).count();
    std::string state;
    const auto deadline = Clock::now() + 180s;
    bool drained = false;
    while (!(drained = m_system->drained(state)) && Clock::now() < deadline) {
      std::this_thread::sleep_for(500ms);
    }
    if (!drained) {
      r.problems.push_back("not drained in 180 s: " + state);
    }
    const auto drain_s = std::chrono::duration<double>(Clock::now() - deadline + 180s).count();
    std::cout << "[ powercut ] POS stopped, drained in " << std::fixed << std::setprecision(1)
              << drain_s << " s" << std::endl;
    m_messages = drain_subscription(m_system->emulator(), test_project, events_sub, 3s, 180s);
    const auto& messages = m_messages;

    // HTTP tills: the full check against what each POS till was answered.
    std::vector<AcceptedEvent> accepted;
    for (const auto& p : m_pos) {
      for (auto& a : p->acked()) {
        accepted.push_back({p->store(), p->till(), a.pos_event_id, a.event_id, a.status, a.event});
      }
      for (const auto& problem : p->problems()) {
        r.problems.push_back("POS: " + problem);
      }
      if (p->unanswered() > 0) {
        r.problems.push_back("POS " + p->store() + "/" + p->till() + ": " +
                             std::to_string(p->unanswered()) + " events never answered at the end");
      }
    }
    std::vector<PubSubMessage> http_messages;
    std::vector<PubSubMessage> spool_messages;
    std::string spool_till;
    for (const auto& plan : posagent_tills) {
      if (plan.spool) {
        spool_till = plan.store + "/" + plan.till;
      }
    }
    for (const auto& m : messages) {
      const auto store = m.attributes.find("store_id");
      const auto till = m.attributes.find("till_id");
      const auto key = (store == m.attributes.end() ? "?" : store->second) + "/" +
                       (till == m.attributes.end() ? "?" : till->second);
      (key == spool_till ? spool_messages : http_messages).push_back(m);
    }
    r.report = check_delivery(accepted, http_messages);
    r.acknowledged = r.report.accepted;
    r.lost = r.report.missing.count;
    r.reached_centre = r.acknowledged - r.lost;
    r.duplicates = r.report.duplicates;
    r.out_of_order = r.report.out_of_order.count;
    if (!r.report.ok(true)) {
      r.problems.push_back("delivery check:\n" + r.report.findings());
    }

    // The spool till: every event of a finished file is published; order and content as for
    // the HTTP tills (files in the order they were finished, events in file order).
    if (m_spool) {
      std::unordered_map<std::string, std::string> event_ids;  // pos_event_id -> event_id
      for (const auto& m : spool_messages) {
        boost::system::error_code ec;
        auto v = json::parse(m.data, ec);
        if (!ec && v.is_object()) {
          event_ids.emplace(json_string(v.as_object(), "pos_event_id"),
                            json_string(v.as_object(), "event_id"));
        }
      }
      std::vector<AcceptedEvent> spooled;
      std::unordered_set<std::string> seen;
      for (const auto& file : m_spool->finished()) {
        ++r.spool_files;
        for (const auto& e : file.events) {
          const auto id = json_string(e, "pos_event_id");
          if (!seen.insert(id).second) {
            continue;
          }
          ++r.spool_events;
          const auto it = event_ids.find(id);
          const auto event_id = it == event_ids.end() ? "never-published:" + id : it->second;
          spooled.push_back(
              {json_string(e, "store_id"), json_string(e, "till_id"), id, event_id, "accepted", e});
        }
      }
      const auto spool_report = check_delivery(spooled, spool_messages);
      r.spool_lost = spool_report.missing.count;
      r.duplicates += spool_report.duplicates;
      r.out_of_order += spool_report.out_of_order.count;
      if (!spool_report.ok(true)) {
        r.problems.push_back("spool delivery check:\n" + spool_report.findings());
      }
      for (const auto& problem : m_spool->problems()) {
        r.problems.push_back("spool: " + problem);
      }
    }
    for (const auto& dead :
         drain_subscription(m_system->emulator(), test_project, dlq_sub, 500ms, 10s)) {
      r.problems.push_back("dead letter: " + dead.data.substr(0, 200));
    }
    r.ingest_events_per_s =
        load_s > 0 ? static_cast<std::size_t>(static_cast<double>(r.acknowledged) / load_s) : 0;
    // A clean stop, then every database once more, as the programs left them.
    for (std::size_t i = 0; i < m_system->till_count(); ++i) {
      m_system->till(i).terminate();
    }
    m_system->collector().terminate();
    check_databases(m_till_fs.mount_dir(), r);
    check_databases(m_collector_fs.mount_dir(), r);
  }

  // Everything pulled from the events subscription by finish(), in delivery order.
  const std::vector<PubSubMessage>& messages() const { return m_messages; }

  std::string diagnostics() {
    std::ostringstream out;
    out << m_system->diagnostics();
    out << "--- powercutfs (tills)\n" << tail_of(m_till_fs.log_text(), 1500) << '\n';
    out << "--- powercutfs (collector)\n" << tail_of(m_collector_fs.log_text(), 1500) << '\n';
    return out.str();
  }

 private:
  PowerCutLoopOptions m_options;
  TempDir m_dir{"pos-powercut"};
  PowerCutFs m_till_fs;
  PowerCutFs m_collector_fs;
  fs::path m_spool_dir;
  std::unique_ptr<E2eSystem> m_system;
  std::vector<std::unique_ptr<PosTill>> m_pos;
  std::unique_ptr<SpoolWriter> m_spool;
  Clock::time_point m_load_started;
  std::vector<PubSubMessage> m_messages;
  bool m_uplink_down = false;
};

// --- the alternative: local mosquitto with persistence, bridged to a central one ------------

// A plain mosquitto (no TLS: the local one is on loopback, the centre is only a counter here)
// from a config text; output to `log`.
class PlainBroker {
 public:
  PlainBroker(fs::path config, fs::path log) : m_config(std::move(config)), m_log(std::move(log)) {}
  // Starts it and waits for its port; false when it exits or does not listen within 10 s.
  bool start(std::uint16_t port) {
    m_process.emplace(std::vector<std::string>{"mosquitto", "-c", m_config.string()}, m_log);
    const auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
      if (!m_process->running()) {
        return false;
      }
      if (wait_for_tcp(port, 100ms)) {
        return true;
      }
    }
    return false;
  }
  void kill9() {
    if (m_process) {
      m_process->kill9();
    }
  }
  void terminate() {
    if (m_process) {
      m_process->terminate(5s);
    }
  }

 private:
  fs::path m_config;
  fs::path m_log;
  std::optional<ChildProcess> m_process;
};

class MosquittoRig {
 public:
  explicit MosquittoRig(const PowerCutLoopOptions& options)
      : m_options(options),
        m_till_fs(m_dir.path() / "till-backing", m_dir.path() / "till-mnt"),
        m_central_port(free_tcp_port()),
        m_local_port(free_tcp_port()) {
    if (!find_executable("mosquitto")) {
      throw std::runtime_error("the mosquitto program is missing (install package mosquitto)");
    }
    const auto central_data = m_dir.path() / "central-data";
    fs::create_directories(central_data);
    {
      std::ofstream out(m_dir.path() / "central.conf");
      out << "user root\nlistener " << m_central_port << " 127.0.0.1\nallow_anonymous true\n"
          << "persistence true\npersistence_location " << central_data.string() << "/\n"
          << "max_queued_messages 0\nmax_inflight_messages 100\n";
    }
    m_central =
        std::make_unique<PlainBroker>(m_dir.path() / "central.conf", m_dir.path() / "central.log");
    if (!m_central->start(m_central_port)) {
      throw std::runtime_error("central mosquitto did not start:\n" +
                               read_text_file(m_dir.path() / "central.log"));
    }
    m_uplink = std::make_unique<TcpProxy>(m_central_port);
    m_local_data = durable_dirs(m_till_fs.mount_dir(), "mosquitto");
    {
      // The bridge: everything under pos/ goes to the centre with QoS 1, in a persistent session
      // on both sides. max_queued_messages 0 (no limit) so that the default limit of 1000 queued
      // messages never counts as a loss of the power cut.
      std::ofstream out(m_dir.path() / "local.conf");
      out << "user root\nlistener " << m_local_port << " 127.0.0.1\nallow_anonymous true\n"
          << "persistence true\npersistence_location " << m_local_data.string() << "/\n"
          << "max_queued_messages 0\n";
      if (options.target == PowerCutTarget::mosquitto_durable) {
        // Save the in-memory database after every change (its most durable setting).
        out << "autosave_interval 1\nautosave_on_changes true\n";
      }
      out << "connection centre\naddress 127.0.0.1:" << m_uplink->port() << "\n"
          << "topic pos/# out 1\ncleansession false\nclientid till-bridge\n"
          << "restart_timeout 1 2\nkeepalive_interval 10\n";
    }
    m_local =
        std::make_unique<PlainBroker>(m_dir.path() / "local.conf", m_dir.path() / "local.log");
    if (!m_local->start(m_local_port)) {
      throw std::runtime_error("local mosquitto did not start:\n" +
                               read_text_file(m_dir.path() / "local.log"));
    }
    m_centre = std::make_unique<TestMqttClient>(
        TestMqttClientOptions{"tcp://127.0.0.1:" + std::to_string(m_central_port),
                              "centre",
                              {},
                              std::nullopt,
                              false,
                              86400,
                              10s});
    m_centre->connect();
    m_centre->subscribe("pos/#", 1);
    m_collect = std::thread([this] { collect(); });
  }

  ~MosquittoRig() {
    m_stop_collect = true;
    if (m_collect.joinable()) {
      m_collect.join();
    }
    m_pos.clear();
  }

  void start_load(std::uint64_t seed) {
    for (std::size_t i = 0; i < posagent_tills.size(); ++i) {
      const auto& plan = posagent_tills[i];
      if (plan.spool) {
        continue;  // mosquitto has no spool directory
      }
      m_pos.push_back(std::make_unique<PosTill>(
          plan.store, plan.till,
          std::make_unique<MqttSubmitter>(m_local_port, "pos-" + plan.store + "-" + plan.till,
                                          "pos/v1/" + plan.store + "/" + plan.till + "/events"),
          m_options.events_per_s_per_till, seed + i));
    }
    m_load_started = Clock::now();
  }
  std::size_t acked_so_far() const {
    std::size_t n = 0;
    for (const auto& p : m_pos) {
      n += p->acked_count();
    }
    return n;
  }

  void uplink(bool up) {
    if (up == !m_uplink_down) {
      return;
    }
    m_uplink_down = !up;
    if (up) {
      m_uplink->restore();
    } else {
      m_uplink->cut(CutMode::refuse);
    }
  }

  void cut(PowerCutFs::CutMode mode, std::uint64_t seed, PowerCutLoopResult& r) {
    m_local->kill9();
    cut_fs(m_till_fs, mode, seed);
    if (m_local->start(m_local_port)) {
      return;
    }
    // The broker does not come back by itself: an operator would remove its persistence file.
    ++r.operator_needed;
    r.problems.push_back("local mosquitto did not restart after a cut:\n" +
                         tail_of(read_text_file(m_dir.path() / "local.log"), 800));
    fs::remove(m_local_data / "mosquitto.db");
    fsync_path(m_local_data);
    if (!m_local->start(m_local_port)) {
      throw std::runtime_error("local mosquitto does not start even without its database");
    }
  }

  void finish(PowerCutLoopResult& r) {
    uplink(true);
    for (auto& p : m_pos) {
      p->stop(60s);
    }
    const auto load_s = std::chrono::duration<double>(Clock::now() - m_load_started).count();
    // Drained when nothing new arrived at the centre for 5 s (the bridge reconnects within 2 s).
    std::size_t last = 0;
    auto last_change = Clock::now();
    const auto deadline = Clock::now() + 120s;
    while (Clock::now() < deadline && Clock::now() - last_change < 5s) {
      std::this_thread::sleep_for(250ms);
      std::lock_guard lock(m_mutex);
      if (m_arrivals != last) {
        last = m_arrivals;
        last_change = Clock::now();
      }
    }
    std::lock_guard lock(m_mutex);
    for (const auto& p : m_pos) {
      for (const auto& a : p->acked()) {
        ++r.acknowledged;
        if (m_arrived.count(a.pos_event_id) != 0) {
          ++r.reached_centre;
        }
      }
      for (const auto& problem : p->problems()) {
        r.problems.push_back("POS: " + problem);
      }
    }
    r.lost = r.acknowledged - r.reached_centre;
    r.duplicates = m_arrivals - m_arrived.size();
    r.out_of_order = m_out_of_order;
    r.ingest_events_per_s =
        load_s > 0 ? static_cast<std::size_t>(static_cast<double>(r.acknowledged) / load_s) : 0;
  }

  const std::string& last_cut_answer() const { return m_till_fs.last_cut_answer(); }

  std::string diagnostics() const {
    return "--- local mosquitto\n" + tail_of(read_text_file(m_dir.path() / "local.log"), 2000) +
           "\n--- powercutfs\n" + tail_of(m_till_fs.log_text(), 1500) + "\n";
  }

 private:
  // Takes the centre's messages as they come: per event id the arrivals, per till the order.
  void collect() {
    while (!m_stop_collect) {
      auto batch = m_centre->wait_for_messages("pos/#", 1, 200ms);
      std::lock_guard lock(m_mutex);
      for (const auto& m : batch) {
        boost::system::error_code ec;
        auto v = json::parse(m.payload, ec);
        if (ec || !v.is_object()) {
          continue;
        }
        const auto id = json_string(v.as_object(), "pos_event_id");
        ++m_arrivals;
        if (!m_arrived.insert(id).second) {
          continue;
        }
        // "S01-T1-P0000123": till and number.
        const auto dash = id.rfind("-P");
        if (dash == std::string::npos) {
          continue;
        }
        const std::uint64_t number = std::stoull(id.substr(dash + 2));
        std::uint64_t& highest = m_highest[id.substr(0, dash)];
        if (number < highest) {
          ++m_out_of_order;
        }
        highest = std::max(highest, number);
      }
    }
  }

  PowerCutLoopOptions m_options;
  TempDir m_dir{"pos-powercut-mosquitto"};
  PowerCutFs m_till_fs;
  std::uint16_t m_central_port;
  std::uint16_t m_local_port;
  fs::path m_local_data;
  std::unique_ptr<PlainBroker> m_central;
  std::unique_ptr<TcpProxy> m_uplink;
  std::unique_ptr<PlainBroker> m_local;
  std::unique_ptr<TestMqttClient> m_centre;
  std::vector<std::unique_ptr<PosTill>> m_pos;
  Clock::time_point m_load_started;
  std::atomic<bool> m_stop_collect{false};
  mutable std::mutex m_mutex;
  std::unordered_set<std::string> m_arrived;
  std::size_t m_arrivals = 0;
  std::map<std::string, std::uint64_t> m_highest;
  std::size_t m_out_of_order = 0;
  bool m_uplink_down = false;
  std::thread m_collect;
};

std::int64_t status_number(Till& till, const char* key) {
  const auto status = till.status();
  const auto* v = status ? status->if_contains(key) : nullptr;
  return v && v->is_int64() ? v->as_int64() : -1;
}

}  // namespace

std::string target_name(PowerCutTarget target) {
  switch (target) {
    case PowerCutTarget::posagent:
      return "posagent";
    case PowerCutTarget::mosquitto_default:
      return "mosquitto bridge (default persistence)";
    case PowerCutTarget::mosquitto_durable:
      return "mosquitto bridge (save on every change)";
  }
  return "?";
}

std::string PowerCutLoopResult::summary() const {
  std::ostringstream out;
  out << target << ": seed " << seed << ", cuts " << cuts << " (tills " << till_cuts
      << ", collector " << collector_cuts << "; clean "
      << (cut_modes.count("clean") ? cut_modes.at("clean") : 0) << ", torn "
      << (cut_modes.count("torn") ? cut_modes.at("torn") : 0) << ", reorder "
      << (cut_modes.count("reorder") ? cut_modes.at("reorder") : 0) << "), uplink outages "
      << uplink_outages << "; acknowledged " << acknowledged << ", reached the centre "
      << reached_centre << ", lost " << lost << ", duplicates " << duplicates << ", out of order "
      << out_of_order << "; spool files " << spool_files << " (" << spool_events << " events, lost "
      << spool_lost << "); integrity checks " << databases_checked << ", failed "
      << integrity_failures << "; operator needed " << operator_needed << "; "
      << ingest_events_per_s << " events/s acknowledged; wall " << static_cast<int>(seconds)
      << " s";
  return out.str();
}

std::string CollectorWindowResult::summary() const {
  std::ostringstream out;
  out << "collector cut between publish and commit: " << loop.cuts << " rounds; published while "
      << "held";
  for (const auto n : published_while_held) {
    out << ' ' << n;
  }
  out << "; window (unacked events at the cut)";
  for (const auto n : window) {
    out << ' ' << n;
  }
  out << "; acknowledged " << loop.acknowledged << ", lost " << loop.lost << ", duplicates "
      << loop.duplicates << " (in the window " << duplicates_in_window << ", outside "
      << duplicates_outside << "), integrity failures " << loop.integrity_failures;
  return out.str();
}

CollectorWindowResult run_collector_window_scenario(int rounds, std::uint64_t seed) {
  const auto started = Clock::now();
  CollectorWindowResult w;
  auto& r = w.loop;
  r.target = "posagent";
  r.seed = seed;
  PowerCutLoopOptions options;
  options.spool_writer = false;
  options.uplink_outages = false;
  PosagentRig rig(options);
  auto& system = rig.system();
  rig.start_load(seed);
  struct Round {
    std::map<std::string, std::int64_t> acked_at_hold;  // store/till -> acked_through
    std::map<std::string, std::int64_t> last_seq_at_cut;
    std::int64_t cut_ms = 0;
  };
  std::vector<Round> done;
  for (int round = 1; round <= rounds; ++round) {
    std::this_thread::sleep_for(2s);
    Round k;
    // Events Pub/Sub accepted (counted at the publish's completion, before the mark commit;
    // poscollector_events_published_total counts at the commit).
    const auto published = [&] {
      return metric_value(system.collector_metrics(), "poscollector_end_to_end_seconds_count")
          .value_or(-1);
    };
    const double before = published();
    rig.collector_fs().hold_fsync(true);
    for (std::size_t i = 0; i < system.till_count(); ++i) {
      k.acked_at_hold[system.till(i).name()] = status_number(system.till(i), "acked_through");
    }
    // The collector goes on publishing; its mark commits (and so its acks) wait in fsync.
    const auto deadline = Clock::now() + 10s;
    while (published() < before + 30 && Clock::now() < deadline) {
      std::this_thread::sleep_for(50ms);
    }
    const double held = published() - before;
    k.cut_ms = now_unix_ms();
    // kill -9 first: the collector is blocked in fsync and dies as soon as that returns; the cut
    // then drops what the held fsync was to make durable.
    ::kill(-system.collector().pid(), SIGKILL);
    // The tills' last seqs are read after the kill: the load goes on, so a seq read before it
    // could be passed by events the collector still published (not committed) before it died.
    std::size_t window = 0;
    for (std::size_t i = 0; i < system.till_count(); ++i) {
      const auto name = system.till(i).name();
      k.last_seq_at_cut[name] = status_number(system.till(i), "last_seq");
      window += static_cast<std::size_t>(
          std::max<std::int64_t>(0, k.last_seq_at_cut[name] - k.acked_at_hold[name]));
    }
    rig.collector_fs().cut(PowerCutFs::CutMode::clean);
    rig.collector_fs().hold_fsync(false);
    system.collector().kill9();  // reaps it
    ++r.cuts;
    ++r.collector_cuts;
    ++r.cut_modes["clean"];
    rig.check_databases(rig.collector_fs().mount_dir(), r);
    w.published_while_held.push_back(held > 0 ? static_cast<std::size_t>(held) : 0);
    w.window.push_back(window);
    done.push_back(std::move(k));
    std::cout << "[ powercut ] collector round " << round << ": published while held " << held
              << ", unacked window " << window << std::endl;
    if (!rig.restart(false, true, r)) {
      break;
    }
    // Recovered: every till's events up to the cut acknowledged again (the agents resend after
    // their ack timeout), so that each round starts from a working system.
    const auto recovered_by = Clock::now() + 60s;
    for (std::size_t i = 0; i < system.till_count(); ++i) {
      const auto name = system.till(i).name();
      while (status_number(system.till(i), "acked_through") < done.back().last_seq_at_cut[name] &&
             Clock::now() < recovered_by) {
        std::this_thread::sleep_for(100ms);
      }
    }
    if (Clock::now() >= recovered_by) {
      r.problems.push_back("round " + std::to_string(round) +
                           ": the tills' events were not acknowledged within 60 s of the restart");
    }
  }
  std::this_thread::sleep_for(2s);
  rig.finish(r);
  // Every duplicate must be an event the collector had published but not committed when it
  // died: its seq above the till's acked_through when the hold began, at most the till's last seq
  // at the cut, and first published before the cut.
  std::unordered_map<std::string, std::vector<const PubSubMessage*>> by_event;
  std::unordered_set<std::string> message_ids;
  for (const auto& m : rig.messages()) {
    if (!message_ids.insert(m.message_id).second) {
      continue;  // a redelivery
    }
    const auto it = m.attributes.find("event_id");
    if (it != m.attributes.end()) {
      by_event[it->second].push_back(&m);
    }
  }
  for (const auto& [event_id, copies] : by_event) {
    if (copies.size() < 2) {
      continue;
    }
    boost::system::error_code ec;
    auto first = json::parse(copies.front()->data, ec);
    if (ec || !first.is_object()) {
      continue;
    }
    const auto& data = first.as_object();
    const auto till = json_string(data, "store_id") + "/" + json_string(data, "till_id");
    const auto* seq_value = data.if_contains("seq");
    const std::int64_t seq = seq_value && seq_value->is_int64() ? seq_value->as_int64() : -1;
    const auto first_ms = utc_ms(json_string(data, "collected_at")).value_or(-1);
    bool inside = false;
    for (const auto& k : done) {
      const auto a = k.acked_at_hold.find(till);
      const auto l = k.last_seq_at_cut.find(till);
      if (a != k.acked_at_hold.end() && l != k.last_seq_at_cut.end() && seq > a->second &&
          seq <= l->second && first_ms >= 0 && first_ms <= k.cut_ms) {
        inside = true;
      }
    }
    const auto extra = copies.size() - 1;
    if (inside) {
      w.duplicates_in_window += extra;
    } else {
      w.duplicates_outside += extra;
      if (w.outside.size() < 8) {
        w.outside.push_back(event_id + " (first collected_at " + json_string(data, "collected_at") +
                            ")");
      }
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (!r.problems.empty()) {
    r.problems.push_back(rig.diagnostics());
  }
  std::cout << "[ powercut ] " << w.summary() << std::endl;
  return w;
}

std::uint64_t power_cut_seed() {
  if (const char* text = std::getenv("POS_POWERCUT_SEED"); text && *text) {
    try {
      return std::stoull(text);
    } catch (const std::exception&) {
      throw std::runtime_error(std::string("POS_POWERCUT_SEED: not a number: ") + text);
    }
  }
  return std::random_device{}() % 1'000'000'000;
}

int env_int(const char* name, int fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) {
    return fallback;
  }
  try {
    std::size_t used = 0;
    const int value = std::stoi(text, &used);
    if (used != std::strlen(text)) {
      throw std::invalid_argument(text);
    }
    return value;
  } catch (const std::exception&) {
    throw std::runtime_error(std::string(name) + ": not a whole number: " + text);
  }
}

PowerCutLoopResult run_power_cut_loop(const PowerCutLoopOptions& options) {
  const auto started = Clock::now();
  PowerCutLoopResult r;
  r.target = target_name(options.target);
  r.seed = options.seed;
  std::cout << "[ powercut ] " << r.target << ": seed " << options.seed
            << " (POS_POWERCUT_SEED=" << options.seed << " repeats the choices), " << options.cuts
            << " cuts" << std::endl;
  std::mt19937_64 rng(options.seed);
  const auto run_ms = [&] {
    const auto span = options.max_run.count() - options.min_run.count();
    return std::chrono::milliseconds(options.min_run.count() +
                                     (span > 0 ? static_cast<std::int64_t>(rng() % span) : 0));
  };
  const bool posagent = options.target == PowerCutTarget::posagent;
  std::unique_ptr<PosagentRig> agent_rig;
  std::unique_ptr<MosquittoRig> mosquitto_rig;
  if (posagent) {
    agent_rig = std::make_unique<PosagentRig>(options);
    agent_rig->start_load(options.seed);
  } else {
    mosquitto_rig = std::make_unique<MosquittoRig>(options);
    mosquitto_rig->start_load(options.seed);
  }
  const auto uplink = [&](bool up) {
    if (agent_rig) {
      agent_rig->uplink(up);
    }
    if (mosquitto_rig) {
      mosquitto_rig->uplink(up);
    }
  };
  bool aborted = false;
  for (int cut = 1; cut <= options.cuts && !aborted; ++cut) {
    const bool outage = options.uplink_outages && rng() % 3 == 0;
    const auto run = run_ms();
    // What this power cut hits: the tills (a shop), the collector (the centre) or both.
    const auto what = rng() % 10;
    const bool tills = !posagent || !options.cut_collector || what < 8;
    const bool collector = posagent && options.cut_collector && what >= 5;
    const auto mode = mode_of(rng());
    // Not drawn from rng, so that adding it kept the choices of earlier seeds.
    const std::uint64_t reorder_seed = options.seed * 1'000'003 + static_cast<std::uint64_t>(cut);
    const auto moment = rng() % 1000;  // where in the run the uplink drops
    if (outage) {
      std::this_thread::sleep_for(run * static_cast<std::int64_t>(moment) / 1000);
      uplink(false);
      std::this_thread::sleep_for(run - run * static_cast<std::int64_t>(moment) / 1000);
    } else {
      std::this_thread::sleep_for(run);
    }
    const std::size_t acked_before =
        agent_rig ? agent_rig->acked_so_far() : mosquitto_rig->acked_so_far();
    std::string last_answer;
    try {
      if (agent_rig) {
        if (agent_rig->spool()) {
          agent_rig->spool()->park();
        }
        if (tills) {
          agent_rig->cut_tills(mode, reorder_seed, r);
        }
        if (collector) {
          agent_rig->cut_collector(mode, reorder_seed + 1, r);
        }
        last_answer = tills ? agent_rig->till_fs().last_cut_answer() : "";
        if (collector) {
          last_answer += (tills ? " / " : "") + agent_rig->collector_fs().last_cut_answer();
        }
        if (!agent_rig->restart(tills, collector, r)) {
          aborted = true;
        }
        if (agent_rig->spool()) {
          agent_rig->spool()->unpark();
        }
      } else {
        mosquitto_rig->cut(mode, reorder_seed, r);
        last_answer = mosquitto_rig->last_cut_answer();
      }
    } catch (const std::exception& e) {
      r.problems.push_back("cut " + std::to_string(cut) + ": " + e.what());
      aborted = true;
    }
    if (outage) {
      uplink(true);
      ++r.uplink_outages;
    }
    ++r.cuts;
    r.till_cuts += tills ? 1 : 0;
    r.collector_cuts += collector ? 1 : 0;
    ++r.cut_modes[mode_name(mode)];
    std::cout << "[ powercut ] cut " << cut << "/" << options.cuts << " after " << run.count()
              << " ms: " << (tills ? "tills" : "") << (tills && collector ? "+" : "")
              << (collector ? "collector" : "") << ", " << mode_name(mode)
              << (outage ? ", uplink down" : "") << "; acknowledged so far " << acked_before
              << "; powercutfs: " << last_answer << std::endl;
  }
  if (agent_rig) {
    if (!aborted) {
      std::this_thread::sleep_for(run_ms());
    }
    agent_rig->finish(r);
    if (!r.problems.empty()) {
      r.problems.push_back(agent_rig->diagnostics());
    }
  } else {
    std::this_thread::sleep_for(run_ms());
    mosquitto_rig->finish(r);
    if (!r.problems.empty() && r.operator_needed == 0) {
      r.problems.push_back(mosquitto_rig->diagnostics());
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::cout << "[ powercut ] " << r.summary() << std::endl;
  return r;
}

}  // namespace pos::test
