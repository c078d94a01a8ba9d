// Load generator for posagent's ingest API (POST /v1/events): N keep-alive HTTP/1.1 connections
// (Boost.Beast, one io thread), each sending one request at a time with K sale events, as fast as
// possible or at a total event rate. Reports requests/s, events/s accepted, latency p50/p99,
// non-200 answers and, with --pid, the agent's RSS and CPU time over the measured window.
//
//   ingest_load --url 127.0.0.1:8411 --connections 32 --events-per-request 100 --duration 10
//               [--rate 0] [--warmup 1] [--store S07 --till T1] [--pid PID]
//
// --connections 0 only watches the process (idle CPU). The last output line is machine-readable:
// `RESULT key=value ...` (scripts/bench-ingest parses it). Not a ctest test.

#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "8411";
  std::size_t connections = 32;
  std::size_t events_per_request = 1;
  double duration_s = 10;
  double warmup_s = 1;
  double rate = 0;  // events/s in total; 0: as fast as possible
  std::string store = "S07";
  std::string till = "T1";
  long pid = 0;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "ingest_load: " << why
            << "\nusage: ingest_load --url HOST:PORT [--connections N] [--events-per-request K]"
               " [--duration S] [--warmup S] [--rate EVENTS_PER_S] [--store ID] [--till ID]"
               " [--pid PID]\n";
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) {
      usage("missing value for " + std::string(arg));
    }
    const std::string value = argv[++i];
    try {
      if (arg == "--url") {
        std::string url = value;
        if (url.starts_with("http://")) {
          url = url.substr(7);
        }
        const auto colon = url.rfind(':');
        if (colon == std::string::npos) {
          usage("--url must be host:port");
        }
        o.host = url.substr(0, colon);
        o.port = url.substr(colon + 1);
      } else if (arg == "--connections") {
        o.connections = std::stoul(value);
      } else if (arg == "--events-per-request") {
        o.events_per_request = std::stoul(value);
      } else if (arg == "--duration") {
        o.duration_s = std::stod(value);
      } else if (arg == "--warmup") {
        o.warmup_s = std::stod(value);
      } else if (arg == "--rate") {
        o.rate = std::stod(value);
      } else if (arg == "--store") {
        o.store = value;
      } else if (arg == "--till") {
        o.till = value;
      } else if (arg == "--pid") {
        o.pid = std::stol(value);
      } else {
        usage("unknown option " + std::string(arg));
      }
    } catch (const std::exception&) {
      usage("bad value for " + std::string(arg) + ": " + value);
    }
  }
  if (o.events_per_request == 0 || o.duration_s <= 0) {
    usage("K and duration must be > 0");
  }
  return o;
}

// --- the agent process, from /proc ---

struct ProcSample {
  long rss_kb = 0;
  long hwm_kb = 0;
  double cpu_s = 0;  // utime + stime
};

std::optional<ProcSample> sample_proc(long pid) {
  ProcSample s;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  if (!status) {
    return std::nullopt;
  }
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) {
      s.rss_kb = std::stol(line.substr(6));
    }
    if (line.starts_with("VmHWM:")) {
      s.hwm_kb = std::stol(line.substr(6));
    }
  }
  std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) {
    return std::nullopt;
  }
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int n = 3; fields >> field; ++n) {  // field 3 is the state
    if (n == 14) {
      utime = std::stoull(field);
    }
    if (n == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  s.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return s;
}

// --- requests ---

std::string random_run_id() {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return buf;
}

// A realistic sale with 2 or 3 lines; only pos_event_id differs between events.
void append_sale(std::string& out, std::string_view pos_event_id, std::uint64_t n) {
  out.append(R"({"type":"sale","pos_event_id":")");
  out.append(pos_event_id);
  out.append(R"(","occurred_at":"2026-11-22T10:15:03.120+07:00","currency":"IDR",)"
             R"("customer":{"id":")");
  out.append(n % 3 == 0 ? "C-000123" : "C-004711");
  out.append(R"(","type":"returning"},"lines":[)"
             R"({"sku":"TOP-LINEN-SHIRT-WHT-M","category":"tops","qty":1,)"
             R"("unit_price_minor":349000,"unit_cost_minor":140000,"discount_minor":0},)"
             R"({"sku":"BTM-CHINO-NVY-32","category":"bottoms","qty":2,)"
             R"("unit_price_minor":429000,"unit_cost_minor":171000,"discount_minor":42900})");
  if (n % 2 == 0) {
    out.append(R"(,{"sku":"ACC-BELT-LTHR-BRN","category":"accessories","qty":1,)"
               R"("unit_price_minor":189000,"unit_cost_minor":61000,"discount_minor":0})");
  }
  out.append(R"(],"payment":{"method":"qris"},"cashier_id":"K-17","register":"2"})");
}

struct Stats {
  std::uint64_t requests = 0;
  std::uint64_t events_accepted = 0;
  std::uint64_t events_duplicate = 0;
  std::uint64_t events_rejected = 0;
  std::uint64_t connect_errors = 0;
  std::map<int, std::uint64_t> non_200;
  std::vector<std::uint32_t> latency_us;
};

std::uint64_t json_count(std::string_view body, std::string_view key) {
  const auto at = body.find(key);
  if (at == std::string_view::npos) {
    return 0;
  }
  std::uint64_t n = 0;
  const char* first = body.data() + at + key.size();
  std::from_chars(first, body.data() + body.size(), n);
  return n;
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::io_context& io, const Options& options, const tcp::resolver::results_type& at,
             std::string id_prefix, Stats& stats, Clock::time_point measure_from,
             Clock::time_point stop_at, double request_interval_s)
      : m_stream(io),
        m_timer(io),
        m_options(options),
        m_endpoints(at),
        m_prefix(std::move(id_prefix)),
        m_stats(stats),
        m_measure_from(measure_from),
        m_stop_at(stop_at),
        m_interval(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(request_interval_s))) {}

  void start() {
    m_next_send = Clock::now();
    connect();
  }

 private:
  void connect() {
    if (Clock::now() >= m_stop_at) {
      return;
    }
    m_stream.expires_after(std::chrono::seconds(10));
    m_stream.async_connect(m_endpoints,
                           [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
                             if (ec) {
                               ++self->m_stats.connect_errors;
                               self->retry_later(std::chrono::milliseconds(100), true);
                               return;
                             }
                             self->m_stream.socket().set_option(tcp::no_delay(true));
                             self->schedule();
                           });
  }

  void retry_later(std::chrono::milliseconds delay, bool reconnect) {
    m_timer.expires_after(delay);
    m_timer.async_wait([self = shared_from_this(), reconnect](beast::error_code) {
      if (reconnect) {
        beast::error_code ignored;
        self->m_stream.socket().close(ignored);
        self->connect();
      } else {
        self->send();
      }
    });
  }

  void schedule() {
    if (m_interval.count() == 0) {
      send();
      return;
    }
    m_next_send += m_interval;
    const auto now = Clock::now();
    if (m_next_send < now - std::chrono::seconds(1)) {
      m_next_send = now;  // do not burst to catch up
    }
    m_timer.expires_at(m_next_send);
    m_timer.async_wait([self = shared_from_this()](beast::error_code) { self->send(); });
  }

  void send() {
    if (Clock::now() >= m_stop_at) {
      beast::error_code ignored;
      m_stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    m_request = {};
    m_request.method(http::verb::post);
    m_request.target("/v1/events");
    m_request.version(11);
    m_request.set(http::field::host, m_options.host);
    m_request.set(http::field::content_type, "application/json");
    std::string& body = m_request.body();
    body.reserve(m_options.events_per_request * 640);
    const bool array = m_options.events_per_request > 1;
    if (array) {
      body.push_back('[');
    }
    for (std::size_t i = 0; i < m_options.events_per_request; ++i) {
      if (i > 0) {
        body.push_back(',');
      }
      const std::uint64_t n = m_counter++;
      char id[96];
      const int len = std::snprintf(id, sizeof id, "%s-%llu", m_prefix.c_str(),
                                    static_cast<unsigned long long>(n));
      append_sale(body, std::string_view(id, static_cast<std::size_t>(len)), n);
    }
    if (array) {
      body.push_back(']');
    }
    m_request.keep_alive(true);
    m_request.prepare_payload();
    m_response = {};
    m_sent_at = Clock::now();
    m_stream.expires_after(std::chrono::seconds(30));
    http::async_write(m_stream, m_request,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) {
                          self->failed();
                          return;
                        }
                        http::async_read(self->m_stream, self->m_buffer, self->m_response,
                                         [self](beast::error_code ec2, std::size_t) {
                                           if (ec2) {
                                             self->failed();
                                             return;
                                           }
                                           self->received();
                                         });
                      });
  }

  void failed() {
    ++m_stats.connect_errors;
    retry_later(std::chrono::milliseconds(100), true);
  }

  void received() {
    const auto now = Clock::now();
    const int status = static_cast<int>(m_response.result_int());
    if (m_sent_at >= m_measure_from && now <= m_stop_at) {
      ++m_stats.requests;
      m_stats.latency_us.push_back(static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(now - m_sent_at).count()));
      if (status == 200) {
        const std::string_view body = m_response.body();
        m_stats.events_accepted += json_count(body, "\"accepted\":");
        m_stats.events_duplicate += json_count(body, "\"duplicates\":");
        m_stats.events_rejected += json_count(body, "\"rejected\":");
      } else {
        ++m_stats.non_200[status];
      }
    }
    if (!m_response.keep_alive()) {
      retry_later(std::chrono::milliseconds(0), true);
    } else if (status == 503) {
      retry_later(std::chrono::milliseconds(50), false);
    } else {
      schedule();
    }
  }

  beast::tcp_stream m_stream;
  asio::steady_timer m_timer;
  const Options& m_options;
  tcp::resolver::results_type m_endpoints;
  std::string m_prefix;
  Stats& m_stats;
  Clock::time_point m_measure_from;
  Clock::time_point m_stop_at;
  Clock::duration m_interval;
  Clock::time_point m_next_send;
  Clock::time_point m_sent_at;
  std::uint64_t m_counter = 0;
  beast::flat_buffer m_buffer;
  http::request<http::string_body> m_request;
  http::response<http::string_body> m_response;
};

double percentile_ms(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) {
    return 0;
  }
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  asio::io_context io(1);
  tcp::resolver resolver(io);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(options.host, options.port, ec);
  if (ec) {
    usage("cannot resolve " + options.host + ":" + options.port + ": " + ec.message());
  }

  const std::string run_id = random_run_id();
  const auto start = Clock::now();
  const auto measure_from = start + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(options.warmup_s));
  const auto stop_at = measure_from + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(options.duration_s));
  double interval_s = 0;
  if (options.rate > 0 && options.connections > 0) {
    interval_s =
        static_cast<double>(options.connections * options.events_per_request) / options.rate;
  }

  Stats stats;
  for (std::size_t c = 0; c < options.connections; ++c) {
    auto connection =
        std::make_shared<Connection>(io, options, endpoints, "L" + run_id + "-" + std::to_string(c),
                                     stats, measure_from, stop_at, interval_s);
    connection->start();
  }

  // Samples the agent's memory every 100 ms during the measured window.
  std::optional<ProcSample> first, last;
  long rss_max_kb = 0;
  double rss_sum_kb = 0;
  std::size_t rss_samples = 0;
  asio::steady_timer sampler(io);
  std::function<void()> sample = [&] {
    const auto now = Clock::now();
    if (options.pid > 0 && now >= measure_from) {
      if (auto s = sample_proc(options.pid)) {
        if (!first) {
          first = s;
        }
        last = s;
        rss_max_kb = std::max(rss_max_kb, s->rss_kb);
        rss_sum_kb += static_cast<double>(s->rss_kb);
        ++rss_samples;
      }
    }
    if (now >= stop_at) {
      return;
    }
    sampler.expires_after(std::chrono::milliseconds(100));
    sampler.async_wait([&](beast::error_code) { sample(); });
  };
  sample();
  io.run();

  const double window_s = options.duration_s;  // requests sent and answered inside it count
  const double rps = static_cast<double>(stats.requests) / window_s;
  const double eps = static_cast<double>(stats.events_accepted) / window_s;
  const double p50 = percentile_ms(stats.latency_us, 0.50);
  const double p99 = percentile_ms(stats.latency_us, 0.99);
  std::uint64_t non_200 = 0;
  std::string non_200_text;
  for (const auto& [status, count] : stats.non_200) {
    non_200 += count;
    non_200_text += " " + std::to_string(status) + ":" + std::to_string(count);
  }
  std::printf("run %s: %zu connections, %zu events/request, %.1f s (+%.1f s warm-up), rate %s\n",
              run_id.c_str(), options.connections, options.events_per_request, options.duration_s,
              options.warmup_s,
              options.rate > 0 ? std::to_string(static_cast<long>(options.rate)).c_str() : "max");
  std::printf("requests/s %.0f  events/s accepted %.0f  latency p50 %.2f ms p99 %.2f ms\n", rps,
              eps, p50, p99);
  std::printf("duplicates %llu  rejected %llu  non-200 %llu%s  connection errors %llu\n",
              static_cast<unsigned long long>(stats.events_duplicate),
              static_cast<unsigned long long>(stats.events_rejected),
              static_cast<unsigned long long>(non_200), non_200_text.c_str(),
              static_cast<unsigned long long>(stats.connect_errors));
  double cpu_pct = 0;
  long rss_avg_kb = 0;
  long hwm_kb = 0;
  if (first && last) {
    const double wall = std::chrono::duration<double>(Clock::now() - measure_from).count();
    cpu_pct = 100.0 * (last->cpu_s - first->cpu_s) / wall;
    rss_avg_kb = static_cast<long>(rss_sum_kb / static_cast<double>(rss_samples));
    hwm_kb = last->hwm_kb;
    std::printf("agent pid %ld: CPU %.1f%% of one core, RSS avg %.1f MB max %.1f MB, HWM %.1f MB\n",
                options.pid, cpu_pct, rss_avg_kb / 1024.0, rss_max_kb / 1024.0, hwm_kb / 1024.0);
  }
  std::printf(
      "RESULT conns=%zu k=%zu rps=%.0f eps=%.0f p50_ms=%.2f p99_ms=%.2f non200=%llu errors=%llu "
      "cpu_pct=%.2f rss_avg_mb=%.1f rss_max_mb=%.1f hwm_mb=%.1f\n",
      options.connections, options.events_per_request, rps, eps, p50, p99,
      static_cast<unsigned long long>(non_200),
      static_cast<unsigned long long>(stats.connect_errors), cpu_pct, rss_avg_kb / 1024.0,
      rss_max_kb / 1024.0, hwm_kb / 1024.0);
  return 0;
}
